//! A run as the report reads it from its directory: configuration, logged metrics and the
//! results of its evaluations.

use crate::checkpoint;
use crate::config::RunConfig;
use crate::eval::record::EvalRecord;
use crate::train::progress::MetricsLine;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One run, as read from its directory.
pub struct Run {
    /// Short unique name (the directory's name).
    pub name: String,
    /// The run directory.
    pub dir: PathBuf,
    /// Its resolved configuration.
    pub config: RunConfig,
    /// The configuration's text.
    pub config_text: String,
    /// Logged steps, in step order (a step logged twice, by a run resumed past it, keeps its
    /// last line).
    pub metrics: Vec<MetricsLine>,
    /// Downstream results: column name → value in percent, the last of each kind.
    pub results: BTreeMap<Column, f64>,
}

/// A column of the results table, ordered as shown.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Column {
    kind: u8,
    /// Thousandths of the label fraction, negated so that 100 % comes first.
    fraction: i64,
    /// Header text.
    pub title: String,
}

impl Column {
    fn new(kind: u8, label: &str, fraction: f64) -> Self {
        let title = if fraction < 1.0 {
            format!("{label} ({}% labels)", fraction * 100.0)
        } else {
            label.to_string()
        };
        Column {
            kind,
            fraction: -(fraction * 1000.0).round() as i64,
            title,
        }
    }
}

/// The results-table entries of one evaluation record: the top-1 of linear, kNN and
/// fine-tuning (per label fraction), retrieval's mAP, a task's metrics other than its loss.
fn columns(record: &EvalRecord) -> Vec<(Column, f64)> {
    let fraction = record.label_fraction();
    let (kind, label) = match record {
        EvalRecord::Linear { .. } => (0, "linear top-1"),
        EvalRecord::Knn { .. } => (1, "kNN top-1"),
        EvalRecord::Finetune { .. } => (2, "fine-tune top-1"),
        EvalRecord::Retrieval { .. } => (3, "retrieval mAP"),
        EvalRecord::Detection { .. } => (4, "detection"),
        EvalRecord::Segmentation { .. } => (5, "segmentation mIoU"),
        EvalRecord::Task { .. } => (6, "task"),
    };
    record
        .results()
        .into_iter()
        .filter_map(|(name, v)| match record {
            EvalRecord::Task { .. } if name == "loss" => None,
            EvalRecord::Task { .. } => {
                Some((Column::new(kind, &format!("task {name}"), 1.0), 100.0 * v))
            }
            EvalRecord::Retrieval { .. } if name != "map" => None,
            EvalRecord::Detection { .. } if name == "ap" || name == "ap50" => Some((
                Column::new(kind, &format!("detection {}", name.to_uppercase()), 1.0),
                100.0 * v,
            )),
            EvalRecord::Detection { .. } => None,
            EvalRecord::Segmentation { .. } if name != "miou" => None,
            _ => Some((Column::new(kind, label, fraction), 100.0 * v)),
        })
        .collect()
}

impl Run {
    /// Reads a run directory: `config.toml` and `metrics.jsonl` must be there;
    /// `eval.jsonl` is optional.
    pub fn open(dir: &Path) -> Result<Self> {
        let dir = checkpoint::run_dir(dir);
        let config_path = dir.join("config.toml");
        let config_text = std::fs::read_to_string(&config_path).with_context(|| {
            format!(
                "{} is not a run directory: cannot read {}",
                dir.display(),
                config_path.display()
            )
        })?;
        let config = RunConfig::from_toml(&config_text, &[], &config_path.display().to_string())?;
        let metrics_path = dir.join("metrics.jsonl");
        let text = std::fs::read_to_string(&metrics_path)
            .with_context(|| format!("cannot read {}", metrics_path.display()))?;
        let mut by_step = BTreeMap::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let parsed: MetricsLine = serde_json::from_str(line).with_context(|| {
                format!("{}:{}: not a metrics line", metrics_path.display(), i + 1)
            })?;
            by_step.insert(parsed.step, parsed);
        }
        let mut results = BTreeMap::new();
        for record in crate::eval::record::read(&dir)? {
            results.extend(columns(&record));
        }
        let name = dir
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Run {
            name,
            dir,
            config,
            config_text,
            metrics: by_step.into_values().collect(),
            results,
        })
    }

    /// The run's latest picture of its task, if it wrote any.
    pub(super) fn latest_picture(&self) -> Option<PathBuf> {
        crate::train::pictures::list(&self.dir)
            .pop()
            .map(|(_, path)| path)
    }
}

/// A file name made of the characters that are safe everywhere.
pub(super) fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_lines_become_ordered_columns() {
        let lines = [
            r#"{"eval":"knn","top1":0.8,"k":20,"temperature":0.1}"#,
            r#"{"eval":"linear","top1":0.7,"l2":0.1,"validation":[],"label_fraction":0.01}"#,
            r#"{"eval":"linear","top1":0.9,"l2":0.1,"validation":[],"label_fraction":1.0}"#,
            r#"{"eval":"retrieval","map":0.4,"precision":{"p@1":0.5},"queries":2,"gallery":3}"#,
            r#"{"eval":"finetune","top1":0.81,"test_loss":0.5,"train_images":10,"label_fraction":0.1,"label_seed":0,"from":null,"steps":3,"out":"ft","data":"d"}"#,
            r#"{"eval":"task","loss":1.0,"rotation_acc":0.5}"#,
            r#"{"eval":"unknown"}"#,
        ];
        let mut table = BTreeMap::new();
        // A kind this version does not know is no record (eval::record::read skips it).
        for record in lines.iter().filter_map(|l| serde_json::from_str(l).ok()) {
            table.extend(columns(&record));
        }
        let titles: Vec<&str> = table.keys().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "linear top-1",
                "linear top-1 (1% labels)",
                "kNN top-1",
                "fine-tune top-1 (10% labels)",
                "retrieval mAP",
                "task rotation_acc"
            ]
        );
        assert!((table.values().next().unwrap() - 90.0).abs() < 1e-9);
    }

    #[test]
    fn slugs_are_safe_file_names() {
        assert_eq!(slug("simclr run/2 é"), "simclr-run-2--");
    }
}

//! `pretext report`: one HTML page (plus its PNGs) that shows what one run, or several runs
//! side by side, did: loss and learning-rate curves, every logged metric over training (the
//! kNN probe, the collapse indicators, the pretext task's accuracy), the pictures of the task,
//! a t-SNE map of the encoder's test features coloured by class, and a table of every
//! downstream result recorded in the runs' `eval.jsonl` (linear, kNN, fine-tuning,
//! retrieval).
//!
//! The page reads only files: it opens offline in any browser, and the report can be rebuilt
//! at any time from the run directories.

pub mod chart;
pub mod map;
mod page;

use crate::checkpoint;
use crate::config::RunConfig;
use crate::eval::record::{EvalKind, EvalRecord};
use crate::train::progress::MetricsLine;
use anyhow::{Context, Result, ensure};
use chart::Series;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Test images in each t-SNE map (0 = no maps).
    pub map_points: usize,
    /// Device the encoders embed the map's images on.
    pub device: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            map_points: 1000,
            device: "flex".into(),
        }
    }
}

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
    let fraction = record
        .fields
        .get("label_fraction")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(1.0);
    let (kind, label) = match record.eval {
        EvalKind::Linear => (0, "linear top-1"),
        EvalKind::Knn => (1, "kNN top-1"),
        EvalKind::Finetune => (2, "fine-tune top-1"),
        EvalKind::Retrieval => (3, "retrieval mAP"),
        EvalKind::Task => (4, "task"),
    };
    record
        .results()
        .into_iter()
        .filter_map(|(name, v)| match record.eval {
            EvalKind::Task if name == "loss" => None,
            EvalKind::Task => Some((Column::new(kind, &format!("task {name}"), 1.0), 100.0 * v)),
            EvalKind::Retrieval if name != "map" => None,
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
    fn latest_picture(&self) -> Option<PathBuf> {
        let mut pictures: Vec<PathBuf> = std::fs::read_dir(self.dir.join("pictures"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        pictures.sort();
        pictures.pop()
    }
}

/// A file name made of the characters that are safe everywhere.
fn slug(name: &str) -> String {
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

/// A chart of the report: its PNG file name and title.
pub struct Figure {
    /// File name inside the report directory.
    pub file: String,
    /// Caption.
    pub title: String,
}

/// What the page shows for one run besides the shared charts.
pub struct RunFigures {
    /// The task picture, copied into the report.
    pub picture: Option<Figure>,
    /// The t-SNE map, or why there is none.
    pub map: std::result::Result<Figure, String>,
}

/// Writes `out/index.html` and its PNGs for `runs`; returns the page's path.
pub fn write(runs: &[PathBuf], out: &Path, options: &ReportOptions) -> Result<PathBuf> {
    ensure!(!runs.is_empty(), "name at least one run directory");
    let mut loaded = runs
        .iter()
        .map(|dir| Run::open(dir))
        .collect::<Result<Vec<_>>>()?;
    // Same directory names (e.g. runs/a/simclr, runs/b/simclr) get a number.
    let names: Vec<String> = loaded.iter().map(|r| r.name.clone()).collect();
    for (i, run) in loaded.iter_mut().enumerate() {
        if names.iter().filter(|n| **n == run.name).count() > 1 {
            run.name = format!("{}-{}", run.name, i + 1);
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let charts = training_charts(&loaded, out)?;
    let mut figures = Vec::with_capacity(loaded.len());
    for run in &loaded {
        let picture = match run.latest_picture() {
            Some(source) => {
                let file = format!("{}-picture.png", slug(&run.name));
                std::fs::copy(&source, out.join(&file))
                    .with_context(|| format!("cannot copy {}", source.display()))?;
                Some(Figure {
                    file,
                    title: format!("{} ({})", run.name, run.config.method.name),
                })
            }
            None => None,
        };
        let map = embedding_map(run, out, options)?;
        figures.push(RunFigures { picture, map });
    }
    let html = page::render(&loaded, &charts, &figures);
    let index = out.join("index.html");
    pretext_data::atomic::write(&index, html.as_bytes())?;
    Ok(index)
}

/// Loss, learning rate and one chart per other logged metric, every run a line.
fn training_charts(runs: &[Run], out: &Path) -> Result<Vec<Figure>> {
    let mut keys: Vec<(String, String)> = vec![
        ("loss".into(), "training loss".into()),
        ("lr".into(), "learning rate".into()),
    ];
    let mut extra: Vec<String> = runs
        .iter()
        .flat_map(|r| r.metrics.iter().flat_map(|m| m.extra.keys().cloned()))
        .collect();
    extra.sort();
    extra.dedup();
    keys.extend(extra.into_iter().map(|k| {
        let title = match k.as_str() {
            "knn_top1" => "kNN probe top-1 (test subset)".to_string(),
            "emb_std" => "collapse: embedding std (per dimension, l2-normalised)".to_string(),
            "eff_rank" => "collapse: effective rank (RankMe)".to_string(),
            other => other.replace('_', " "),
        };
        (k, title)
    }));
    let mut figures = Vec::new();
    for (key, title) in keys {
        let series: Vec<Series> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| Series {
                name: r.name.clone(),
                colour: i,
                points: r
                    .metrics
                    .iter()
                    .filter_map(|m| {
                        let y = match key.as_str() {
                            "loss" => Some(m.loss),
                            "lr" => Some(m.lr),
                            k => m.extra.get(k).copied(),
                        };
                        y.map(|y| (m.step as f64, y))
                    })
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        let file = format!("chart-{}.png", slug(&key));
        chart::line_chart(&out.join(&file), &title, &key, &series)?;
        figures.push(Figure { file, title });
    }
    Ok(figures)
}

/// The t-SNE map of `run`'s encoder on its dataset's test split (the train split when there
/// is none), or why it cannot be drawn.
fn embedding_map(
    run: &Run,
    out: &Path,
    options: &ReportOptions,
) -> Result<std::result::Result<Figure, String>> {
    if options.map_points == 0 {
        return Ok(Err("maps were turned off (--map-points 0)".into()));
    }
    let ckpt = run.dir.join(checkpoint::FILE_NAME);
    if !ckpt.exists() {
        return Ok(Err(format!("no checkpoint in {}", run.dir.display())));
    }
    let spec = &run.config.data.dataset;
    let source = [pretext_data::Split::Test, pretext_data::Split::Train]
        .into_iter()
        .find_map(|split| {
            crate::dataset::open_subset(spec, split, false, options.map_points, 0).ok()
        });
    let Some(source) = source else {
        return Ok(Err(format!("cannot open {spec}")));
    };
    let device = crate::device::parse(&options.device)?;
    let (header, encoder) = crate::checkpoint::load_encoder(&ckpt, &device)?;
    let features =
        crate::eval::features::extract(&encoder, &header.input, source.as_ref(), &device, 256)?;
    if features.len() < map::MIN_POINTS {
        return Ok(Err(format!(
            "{} has fewer than {} labelled images to map",
            source.origin(),
            map::MIN_POINTS
        )));
    }
    tracing::info!("t-SNE of {} features of {}", features.len(), run.name);
    let points = map::tsne(&features.data, features.dim, 0);
    let names: Vec<String> = source.classes().map(<[String]>::to_vec).unwrap_or_default();
    let file = format!("{}-tsne.png", slug(&run.name));
    let title = format!("{}: t-SNE of {} test features", run.name, features.len());
    chart::class_map(&out.join(&file), &title, &points, &features.labels, &names)?;
    Ok(Ok(Figure { file, title }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_lines_become_ordered_columns() {
        let lines = [
            r#"{"eval":"knn","top1":0.8}"#,
            r#"{"eval":"linear","top1":0.7,"label_fraction":0.01}"#,
            r#"{"eval":"linear","top1":0.9,"label_fraction":1.0}"#,
            r#"{"eval":"retrieval","map":0.4}"#,
            r#"{"eval":"finetune","top1":0.81,"label_fraction":0.1}"#,
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

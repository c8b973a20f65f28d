//! The evaluation record: one line of a run's `eval.jsonl`, written by every evaluation
//! command (and printed by `--json`), read by `pretext report`, and logged to the run's
//! TensorBoard files.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What an evaluation measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalKind {
    /// Linear probe on frozen features (`top1`).
    Linear,
    /// Weighted kNN on frozen features (`top1`).
    Knn,
    /// Fine-tuning on labels (`top1`).
    Finetune,
    /// Image retrieval (`map`, `precision.p@k`).
    Retrieval,
    /// The method's own pretext task (`loss` and the task's metrics).
    Task,
}

/// One evaluation: its kind and its fields (results and settings, as one flat JSON object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// What was measured.
    pub eval: EvalKind,
    /// Results and settings (`top1`, `data`, `encoder`, `label_fraction`, `k`, …).
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl EvalRecord {
    /// A record of `kind` with the fields of the JSON object `fields` (anything else is
    /// ignored).
    pub fn new(kind: EvalKind, fields: serde_json::Value) -> Self {
        let mut fields = match fields {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        fields.remove("eval");
        EvalRecord { eval: kind, fields }
    }

    /// The results, by name, as opposed to the settings: `top1` of linear, kNN and
    /// fine-tuning; `map` and each `p@k` of retrieval; every number of a task evaluation.
    pub fn results(&self) -> Vec<(String, f64)> {
        let number = |key: &str| self.fields.get(key).and_then(serde_json::Value::as_f64);
        let named = |keys: &[&str]| {
            keys.iter()
                .filter_map(|k| Some((k.to_string(), number(k)?)))
                .collect::<Vec<_>>()
        };
        match self.eval {
            EvalKind::Linear | EvalKind::Knn | EvalKind::Finetune => named(&["top1"]),
            EvalKind::Retrieval => {
                let mut results = named(&["map"]);
                if let Some(serde_json::Value::Object(precision)) = self.fields.get("precision") {
                    results.extend(
                        precision
                            .iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))),
                    );
                }
                results
            }
            EvalKind::Task => self
                .fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect(),
        }
    }

    /// The record as one JSON line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Appends the record to `run/eval.jsonl` and logs its results to the run's TensorBoard
    /// files as `eval/<kind>/<name>`, at the step of the run's checkpoint.
    ///
    /// # Errors
    /// When either file cannot be written, naming it.
    pub fn append_to(&self, run: &Path) -> Result<()> {
        use std::io::Write;
        let path = run.join(FILE_NAME);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{}", self.to_line()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        let step =
            crate::checkpoint::Checkpoint::load_encoder(&run.join(crate::checkpoint::FILE_NAME))
                .map_or(0, |(header, _)| header.step);
        let kind = serde_json::to_value(self.eval)?;
        let kind = kind.as_str().unwrap_or("eval");
        let tags: Vec<(String, f64)> = self
            .results()
            .into_iter()
            .map(|(name, v)| (format!("eval/{kind}/{name}"), v))
            .collect();
        crate::tensorboard::EventWriter::create(run, None)?
            .scalars(step, tags.iter().map(|(t, v)| (t.as_str(), *v)))
    }
}

/// File name of the evaluation records inside a run directory.
pub const FILE_NAME: &str = "eval.jsonl";

/// The records of `run/eval.jsonl` (none when the file does not exist). A JSON line of a
/// kind this version does not know is skipped with a warning.
///
/// # Errors
/// A line that is not JSON, naming the file and the line.
pub fn read(run: &Path) -> Result<Vec<EvalRecord>> {
    let path = run.join(FILE_NAME);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    let mut records = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let place = || format!("{}:{}", path.display(), i + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not a JSON line", place()))?;
        match serde_json::from_value(value) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!("{}: skipped, not an evaluation record: {e}", place()),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_the_measured_numbers_not_the_settings() {
        let record = |line: &str| serde_json::from_str::<EvalRecord>(line).unwrap();
        let knn = record(r#"{"eval":"knn","top1":0.8,"k":200,"label_fraction":1.0}"#);
        assert_eq!(knn.results(), [("top1".to_string(), 0.8)]);
        let retrieval =
            record(r#"{"eval":"retrieval","map":0.4,"precision":{"p@1":0.5},"queries":9}"#);
        assert_eq!(
            retrieval.results(),
            [("map".to_string(), 0.4), ("p@1".to_string(), 0.5)]
        );
        let task = record(r#"{"eval":"task","loss":1.0,"rotation_acc":0.5}"#);
        assert_eq!(task.results().len(), 2);
        // The line round-trips, flat as before.
        assert_eq!(record(&knn.to_line()), knn);
        assert!(knn.to_line().starts_with(r#"{"eval":"knn","#));
        assert!(serde_json::from_str::<EvalRecord>(r#"{"eval":"unknown"}"#).is_err());
    }
}

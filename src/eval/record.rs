//! The evaluation record: one line of a run's `eval.jsonl`, written by every evaluation
//! command (and printed by `--json`), read by `pretext report`, and logged to the run's
//! TensorBoard files.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The settings of an evaluation on frozen features (linear, kNN, retrieval).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrozenSetup {
    /// The dataset (`--data`).
    #[serde(default)]
    pub data: String,
    /// The encoder: a checkpoint's path, or `random-init ARCH`.
    #[serde(default)]
    pub encoder: String,
    /// Labelled training images the evaluation used (after `--limit` and
    /// `--label-fraction`).
    #[serde(default)]
    pub train_images: usize,
    /// Test images.
    #[serde(default)]
    pub test_images: usize,
    /// `--label-fraction`.
    #[serde(default = "one")]
    pub label_fraction: f64,
    /// Training images the batch-norm statistics were re-estimated on (`--precise-bn`;
    /// 0: the encoder's own running statistics).
    #[serde(default)]
    pub precise_bn: usize,
}

fn one() -> f64 {
    1.0
}

/// What a fine-tuning run reports ([`crate::finetune`]; also written to `finetune.json` in the run directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneResult {
    /// Top-1 accuracy on the test split, in `[0, 1]`.
    pub top1: f64,
    /// Mean cross-entropy on the test split.
    pub test_loss: f64,
    /// Labelled training images used.
    pub train_images: usize,
    /// `data.label_fraction`.
    pub label_fraction: f64,
    /// `data.label_seed`.
    pub label_seed: u64,
    /// The encoder fine-tuning started from (`None`: from scratch).
    pub from: Option<PathBuf>,
    /// Optimiser steps trained.
    pub steps: u64,
    /// The run directory (its checkpoint holds the fine-tuned encoder and classifier).
    pub out: PathBuf,
}

/// What a detection run reports ([`crate::detection`]; also written to `detection.json` in
/// the run directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionResult {
    /// COCO's box metrics on the test split.
    pub coco: crate::eval::box_ap::CocoMetrics,
    /// VOC07's AP50 (11-point), the mean over the categories that have objects.
    pub voc07_ap50: f64,
    /// Test images.
    pub test_images: usize,
    /// Detections written.
    pub detections: usize,
    /// The COCO results file.
    pub results: PathBuf,
    /// The encoder training started from (`None`: from scratch).
    pub from: Option<PathBuf>,
    /// Optimiser steps trained.
    pub steps: u64,
    /// The run directory.
    pub out: PathBuf,
}

/// What a segmentation run reports ([`crate::segmentation`]; also written to
/// `segmentation.json` in the run directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentationResult {
    /// Mean IoU over the classes (background included) that occur in the test split's
    /// truth or predictions.
    pub miou: f64,
    /// Fraction of (non-ignored) test pixels labelled right.
    pub pixel_accuracy: f64,
    /// Each class's IoU (`None`: the class occurs nowhere), background first.
    pub iou: Vec<(String, Option<f64>)>,
    /// Test images.
    pub test_images: usize,
    /// The encoder training started from (`None`: from scratch).
    pub from: Option<PathBuf>,
    /// Optimiser steps trained.
    pub steps: u64,
    /// The run directory.
    pub out: PathBuf,
}

/// One evaluation, as one line of `eval.jsonl`: `{"eval": KIND, ...its fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "eval", rename_all = "lowercase")]
pub enum EvalRecord {
    /// Linear probe on frozen features.
    Linear {
        /// Top-1 accuracy on the test split, in `[0, 1]`.
        top1: f64,
        /// The L2 penalty chosen on the validation split.
        l2: f64,
        /// Validation top-1 at each penalty tried, `(l2, top1)`.
        validation: Vec<(f64, f64)>,
        /// Data and encoder.
        #[serde(flatten)]
        setup: FrozenSetup,
    },
    /// Weighted kNN on frozen features.
    Knn {
        /// Top-1 accuracy on the test split, in `[0, 1]`.
        top1: f64,
        /// Neighbours.
        k: usize,
        /// Temperature of the vote.
        temperature: f64,
        /// Data and encoder.
        #[serde(flatten)]
        setup: FrozenSetup,
    },
    /// Fine-tuning on labels.
    Finetune {
        /// The run's result.
        #[serde(flatten)]
        result: FinetuneResult,
        /// The labelled dataset.
        data: String,
    },
    /// Image retrieval: test images query the training images.
    Retrieval {
        /// Mean average precision.
        map: f64,
        /// Precision at each cut-off, `p@k` → value.
        precision: BTreeMap<String, f64>,
        /// Queries.
        queries: usize,
        /// Gallery images.
        gallery: usize,
        /// Data and encoder.
        #[serde(flatten)]
        setup: FrozenSetup,
    },
    /// Object detection after training a detector on the encoder.
    Detection {
        /// The run's result.
        #[serde(flatten)]
        result: DetectionResult,
        /// The detection dataset.
        data: String,
    },
    /// Semantic segmentation after training a head on the encoder.
    Segmentation {
        /// The run's result.
        #[serde(flatten)]
        result: SegmentationResult,
        /// The dataset.
        data: String,
    },
    /// The method's own pretext task on a split.
    Task {
        /// The split scored.
        #[serde(default)]
        split: String,
        /// `loss` and the task's metrics, by name.
        #[serde(flatten)]
        metrics: BTreeMap<String, f64>,
    },
}

impl EvalRecord {
    /// The kind's name in `eval.jsonl` (`linear`, `knn`, `finetune`, `retrieval`,
    /// `detection`, `segmentation`, `task`).
    pub fn kind(&self) -> &'static str {
        match self {
            EvalRecord::Linear { .. } => "linear",
            EvalRecord::Knn { .. } => "knn",
            EvalRecord::Finetune { .. } => "finetune",
            EvalRecord::Retrieval { .. } => "retrieval",
            EvalRecord::Detection { .. } => "detection",
            EvalRecord::Segmentation { .. } => "segmentation",
            EvalRecord::Task { .. } => "task",
        }
    }

    /// The labels' share the evaluation trained on (1 for retrieval and the task).
    pub fn label_fraction(&self) -> f64 {
        match self {
            EvalRecord::Linear { setup, .. } | EvalRecord::Knn { setup, .. } => {
                setup.label_fraction
            }
            EvalRecord::Finetune { result, .. } => result.label_fraction,
            EvalRecord::Retrieval { .. }
            | EvalRecord::Detection { .. }
            | EvalRecord::Segmentation { .. }
            | EvalRecord::Task { .. } => 1.0,
        }
    }

    /// The results, by name, as opposed to the settings: `top1` of linear, kNN and
    /// fine-tuning; `map` and each `p@k` of retrieval; every number of a task evaluation.
    pub fn results(&self) -> Vec<(String, f64)> {
        match self {
            EvalRecord::Linear { top1, .. } | EvalRecord::Knn { top1, .. } => {
                vec![("top1".into(), *top1)]
            }
            EvalRecord::Finetune { result, .. } => vec![("top1".into(), result.top1)],
            EvalRecord::Retrieval { map, precision, .. } => std::iter::once(("map".into(), *map))
                .chain(precision.iter().map(|(k, v)| (k.clone(), *v)))
                .collect(),
            EvalRecord::Detection { result, .. } => vec![
                ("ap".into(), result.coco.ap),
                ("ap50".into(), result.coco.ap50),
                ("ap75".into(), result.coco.ap75),
                ("voc07_ap50".into(), result.voc07_ap50),
            ],
            EvalRecord::Segmentation { result, .. } => vec![
                ("miou".into(), result.miou),
                ("pixel_accuracy".into(), result.pixel_accuracy),
            ],
            EvalRecord::Task { metrics, .. } => {
                metrics.iter().map(|(k, v)| (k.clone(), *v)).collect()
            }
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
        let kind = self.kind();
        let tags: Vec<(String, f64)> = self
            .results()
            .into_iter()
            .map(|(name, v)| (format!("eval/{kind}/{name}"), v))
            .collect();
        crate::tensorboard::EventWriter::create(run, None)?
            .scalars(step, tags.iter().map(|(t, v)| (t.as_str(), *v)))
    }
}

/// The record as the one line a command prints for people.
impl std::fmt::Display for EvalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let images =
            |s: &FrozenSetup| format!("{} train / {} test images", s.train_images, s.test_images);
        match self {
            EvalRecord::Linear {
                top1, l2, setup, ..
            } => write!(
                f,
                "linear probe top-1: {:.2}% (λ = {l2:.0e}, {})",
                100.0 * top1,
                images(setup)
            ),
            EvalRecord::Knn {
                top1,
                k,
                temperature,
                setup,
            } => write!(
                f,
                "kNN top-1: {:.2}% (k = {k}, T = {temperature}, {})",
                100.0 * top1,
                images(setup)
            ),
            EvalRecord::Finetune { result, .. } => write!(
                f,
                "fine-tuning test top-1: {:.2}% ({} labelled images, {} steps, from {}); run directory {}",
                100.0 * result.top1,
                result.train_images,
                result.steps,
                result
                    .from
                    .as_ref()
                    .map_or("scratch".to_string(), |p| p.display().to_string()),
                result.out.display()
            ),
            EvalRecord::Retrieval {
                map,
                precision,
                queries,
                gallery,
                ..
            } => {
                let mut cut_offs: Vec<(usize, f64)> = precision
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix("p@")?.parse().ok()?, *v)))
                    .collect();
                cut_offs.sort_by_key(|&(k, _)| k);
                let text: Vec<String> = cut_offs
                    .iter()
                    .map(|(k, p)| format!("P@{k} {:.2}%", 100.0 * p))
                    .collect();
                write!(
                    f,
                    "retrieval: mAP {:.2}%, {} ({queries} queries, gallery of {gallery})",
                    100.0 * map,
                    text.join(", ")
                )
            }
            EvalRecord::Detection { result, data } => write!(
                f,
                "detection on {data}: AP {:.2}, AP50 {:.2}, AP75 {:.2}, VOC07 AP50 {:.2} ({} test \
                 images, {} steps, from {}); detections in {}",
                100.0 * result.coco.ap,
                100.0 * result.coco.ap50,
                100.0 * result.coco.ap75,
                100.0 * result.voc07_ap50,
                result.test_images,
                result.steps,
                result
                    .from
                    .as_ref()
                    .map_or("scratch".to_string(), |p| p.display().to_string()),
                result.results.display()
            ),
            EvalRecord::Segmentation { result, data } => write!(
                f,
                "segmentation on {data}: mIoU {:.2}, pixel accuracy {:.2} ({} test images, {} \
                 steps, from {}); run directory {}",
                100.0 * result.miou,
                100.0 * result.pixel_accuracy,
                result.test_images,
                result.steps,
                result
                    .from
                    .as_ref()
                    .map_or("scratch".to_string(), |p| p.display().to_string()),
                result.out.display()
            ),
            EvalRecord::Task { split, metrics } => {
                let text: Vec<String> =
                    metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                write!(f, "pretext task on {split} split: {}", text.join(", "))
            }
        }
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
        let knn = record(
            r#"{"eval":"knn","top1":0.8,"k":200,"temperature":0.1,"data":"d","encoder":"e","train_images":5,"label_fraction":1.0}"#,
        );
        assert_eq!(knn.results(), [("top1".to_string(), 0.8)]);
        let retrieval = record(
            r#"{"eval":"retrieval","map":0.4,"precision":{"p@1":0.5},"queries":9,"gallery":3,"data":"d","encoder":"e","train_images":3}"#,
        );
        assert_eq!(
            retrieval.results(),
            [("map".to_string(), 0.4), ("p@1".to_string(), 0.5)]
        );
        let task = record(r#"{"eval":"task","loss":1.0,"rotation_acc":0.5}"#);
        assert_eq!(task.results().len(), 2);
        // The line round-trips, flat as before.
        assert_eq!(record(&knn.to_line()), knn);
        assert_eq!(record(&task.to_line()), task);
        assert_eq!(record(&retrieval.to_line()), retrieval);
        assert!(knn.to_line().starts_with(r#"{"eval":"knn","#));
        assert!(serde_json::from_str::<EvalRecord>(r#"{"eval":"unknown"}"#).is_err());
    }

    #[test]
    fn the_printed_line_names_the_result_and_orders_cut_offs_by_k() {
        let setup = FrozenSetup {
            data: "d".into(),
            encoder: "e".into(),
            train_images: 20,
            test_images: 10,
            label_fraction: 0.1,
            precise_bn: 0,
        };
        let linear = EvalRecord::Linear {
            top1: 0.5,
            l2: 1e-3,
            validation: vec![(1e-3, 0.4)],
            setup: setup.clone(),
        };
        assert_eq!(
            linear.to_string(),
            "linear probe top-1: 50.00% (λ = 1e-3, 20 train / 10 test images)"
        );
        assert_eq!(linear.label_fraction(), 0.1);
        let precision = [("p@1", 0.5), ("p@10", 0.25), ("p@5", 0.3)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let retrieval = EvalRecord::Retrieval {
            map: 0.2,
            precision,
            queries: 10,
            gallery: 20,
            setup,
        };
        assert_eq!(
            retrieval.to_string(),
            "retrieval: mAP 20.00%, P@1 50.00%, P@5 30.00%, P@10 25.00% (10 queries, gallery of 20)"
        );
    }
}

//! Detection transfer (`pretext detect`): the lecture's downstream test. A pretrained encoder
//! (or a fresh one, the baseline) gets a Faster R-CNN with a feature pyramid and trains end
//! to end on a detection dataset ([`crate::method::detection`]); the trained detector then
//! finds the objects of the test split, written as a COCO results file anyone can score, and
//! scored here with COCO's AP and VOC07's AP50 ([`crate::eval::box_ap`]).
//!
//! A detection run is an ordinary run of the `detection` method, so it checkpoints, resumes,
//! logs and draws its detections like every run.

use crate::config::{Overrides, RunConfig};
use crate::eval::box_ap::{self, Detection};
use crate::eval::record::{DetectionResult, EvalRecord};
use crate::input::InputSpace;
use crate::train::{self, RunOptions};
use anyhow::{Result, bail};
use pretext_data::Split;
use std::path::{Path, PathBuf};

/// The fine-tuning schedule of detectron2's Faster R-CNN (`Base-RCNN-FPN.yaml`): SGD with
/// momentum 0.9, learning rate 0.02 for a batch of 16 (linear scaling: 0.32 × B/256),
/// weight decay 1e-4, a linear warm-up; trained 12 epochs of the scenes benchmark with a
/// cosine decay instead of the 1× schedule's steps (docs/deviations.md). The file is
/// `configs/scenes/detection.toml`; `--data` replaces its dataset.
pub const RECIPE: &str = include_str!("../configs/scenes/detection.toml");

/// Adds the encoder of `from` to a detection config: its architecture, weights and
/// normalisation; the image size stays the detection data's.
pub fn add_overrides_from(from: &Path, overrides: &mut Overrides) -> Result<()> {
    let pretrained = crate::finetune::pretrained(from)?;
    if pretrained.input.space != InputSpace::Native {
        bail!(
            "{}: an encoder that takes the lightness channel only (colorization) cannot \
             detect on colour images yet",
            from.display()
        );
    }
    crate::finetune::add_encoder_overrides(from, &pretrained.encoder, overrides)?;
    overrides
        .set("data.mean", &pretrained.input.mean)?
        .set("data.std", &pretrained.input.std)?;
    Ok(())
}

/// Trains (or resumes) the detection run `config` describes, then detects the objects of
/// the test split, writes them to `OUT/detections.json` (COCO's results format) and scores
/// them. Returns the record and the run directories it belongs in (the detection run's
/// and, when it started from one, the pretrained run's).
pub fn detect(config: RunConfig, options: RunOptions) -> Result<(EvalRecord, Vec<PathBuf>)> {
    let from = config.train.init_encoder.clone();
    let spec = config.data.dataset.clone();
    let summary = train::pretrain(config, options)?;
    let found = train::detect_objects(&summary.out, Split::Test, 0)?;
    let truth = pretext_data::annotations::open(&spec, Split::Test)?;
    let mut detections = Vec::new();
    for (image_id, objects) in &found {
        for d in objects {
            detections.push(Detection {
                image_id: *image_id,
                category_id: truth.categories[d.class].id,
                bbox: d.bbox,
                score: d.score,
            });
        }
    }
    let results = summary.out.join("detections.json");
    box_ap::write_results(&results, &detections)?;
    let coco = box_ap::coco_metrics(&truth, &detections);
    let per_category: Vec<f64> = box_ap::voc07_ap50(&truth, &detections)
        .into_iter()
        .flatten()
        .collect();
    let voc07_ap50 = per_category.iter().sum::<f64>() / per_category.len().max(1) as f64;
    let result = DetectionResult {
        coco,
        voc07_ap50,
        test_images: found.len(),
        detections: detections.len(),
        results,
        from,
        steps: summary.steps,
        out: summary.out.clone(),
    };
    let runs = crate::finetune::write_result(
        &summary.out,
        "detection.json",
        &result,
        result.from.as_deref(),
    )?;
    let data = spec.to_string();
    Ok((EvalRecord::Detection { result, data }, runs))
}

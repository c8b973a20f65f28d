//! Segmentation transfer (`pretext segment`): a semantic FPN head on a pretrained encoder (or
//! a fresh one, the baseline), trained end to end on the instance masks of a detection
//! dataset turned into per-pixel classes ([`crate::method::segmentation`]), then scored on
//! the test split by mean IoU and pixel accuracy.
//!
//! A segmentation run is an ordinary run of the `segmentation` method: it checkpoints,
//! resumes, logs and draws its label maps like every run.

use crate::eval::record::{EvalRecord, SegmentationResult};
use crate::train::{self, RunOptions};
use anyhow::Result;
use pretext_data::Split;
use std::path::PathBuf;

/// The built-in recipe, `configs/scenes/segmentation.toml` (detectron2's schedule, 12
/// epochs); `--data` replaces its dataset.
pub const RECIPE: &str = include_str!("../configs/scenes/segmentation.toml");

/// Trains (or resumes) the segmentation run `config` describes, then scores the per-pixel
/// classes of the test split. Returns the record and the run directories it belongs in.
pub fn segment(
    config: crate::config::RunConfig,
    options: RunOptions,
) -> Result<(EvalRecord, Vec<PathBuf>)> {
    let from = config.train.init_encoder.clone();
    let spec = config.data.dataset.clone();
    let summary = train::pretrain(config, options)?;
    let (confusion, test_images) = train::segment_pixels(&summary.out, Split::Test, 0)?;
    let truth = pretext_data::annotations::open(&spec, Split::Test)?;
    let names = std::iter::once("background".to_string())
        .chain(truth.categories.iter().map(|c| c.name.clone()));
    let result = SegmentationResult {
        miou: confusion.mean_iou(),
        pixel_accuracy: confusion.pixel_accuracy(),
        iou: names.zip(confusion.iou()).collect(),
        test_images,
        from,
        steps: summary.steps,
        out: summary.out.clone(),
    };
    let runs = crate::finetune::write_result(
        &summary.out,
        "segmentation.json",
        &result,
        result.from.as_deref(),
    )?;
    Ok((
        EvalRecord::Segmentation {
            result,
            data: spec.to_string(),
        },
        runs,
    ))
}

//! Fine-tuning: the transfer step of the lecture. The pretrained encoder is copied, a fresh
//! classifier is put on it, and both train end to end on a labelled dataset — often on a
//! small fraction of its labels, the semi-supervised setting where pretraining pays off.
//!
//! A fine-tuning run is an ordinary run of the [`supervised`](crate::method::supervised)
//! method, so it has everything a pretraining run has (atomic checkpoints, `--resume`,
//! metrics, pictures); this module builds its configuration from the encoder it starts from
//! and scores the result on the test split.

use crate::checkpoint::{self, Checkpoint};
use crate::config::RunConfig;
use crate::train::{self, RunOptions, RunSummary};
use anyhow::{Context, Result};
use pretext_data::Split;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The fine-tuning recipe of SimCLR's semi-supervised evaluation (Chen et al. 2020,
/// appendix B.5): SGD with Nesterov momentum 0.9, learning rate 0.05 × B/256, no weight
/// decay, no warm-up, random crops and flips only (the [`supervised`] method's views).
/// The batch of 64 instead of 4096 fits the small labelled subsets of a CPU run; the epoch
/// count (60 at 1 % of the labels, 30 above) is set by [`default_epochs`].
///
/// [`supervised`]: crate::method::supervised
pub const RECIPE: &str = r#"
[method]
name = "supervised"

[optim]
name = "sgd"
lr = 0.05
lr_scaling = "linear"
momentum = 0.9
nesterov = true
weight_decay = 0.0
warmup_epochs = 0.0

[train]
batch_size = 64
checkpoint_every = 0
log_every = 10

[probe]
enabled = false
"#;

/// SimCLR's fine-tuning length: 60 epochs on 1 % of the labels, 30 on 10 % (and more).
pub fn default_epochs(label_fraction: f64) -> u64 {
    if label_fraction <= 0.01 { 60 } else { 30 }
}

/// The settings `--from` contributes to a fine-tuning config: the encoder's architecture and
/// input contract (so that it sees the tensors it was trained on), the weights to start from
/// and, for a pretext checkpoint, the dataset it was pretrained on (`--data` overrides it).
pub fn overrides_from(from: &Path) -> Result<Vec<String>> {
    let file = checkpoint::resolve(from);
    let (encoder, input, dataset) = if checkpoint::is_checkpoint(&file) {
        let (header, _) = Checkpoint::load_encoder(&file)?;
        let pretrained = RunConfig::from_toml(&header.config, &[], &file.display().to_string())?;
        (
            header.encoder,
            header.input,
            Some(pretrained.data.dataset.to_string()),
        )
    } else {
        let info = crate::export::read_info(from)?.with_context(|| {
            format!(
                "{}: a safetensors file without pretext's metadata; start from scratch with \
                 --set train.init_encoder=FILE and the [encoder] it needs instead",
                from.display()
            )
        })?;
        (info.encoder, info.input, None)
    };
    let value = |v: toml::Value| v.to_string();
    let mut overrides = vec![
        format!(
            "encoder.arch={}",
            value(toml::Value::String(encoder.arch.name().into()))
        ),
        format!("encoder.width={:?}", encoder.width),
        format!("encoder.in_channels={}", encoder.in_channels),
        format!(
            "encoder.stem={}",
            value(toml::Value::try_from(encoder.stem)?)
        ),
        format!("data.image_size={}", input.image_size),
        format!("data.mean={}", value(toml::Value::try_from(&input.mean)?)),
        format!("data.std={}", value(toml::Value::try_from(&input.std)?)),
        format!(
            "method.input_space={}",
            value(toml::Value::try_from(input.space)?)
        ),
        format!(
            "train.init_encoder={}",
            value(toml::Value::String(from.display().to_string()))
        ),
    ];
    if let Some(dataset) = dataset {
        overrides.insert(
            0,
            format!("data.dataset={}", value(toml::Value::String(dataset))),
        );
    }
    Ok(overrides)
}

/// What a fine-tuning run reports (also written to `finetune.json` in the run directory).
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// Trains (or resumes) the supervised run `config` describes, then scores its checkpoint on
/// the test split with the deterministic view.
pub fn finetune(config: RunConfig, options: RunOptions) -> Result<(RunSummary, FinetuneResult)> {
    let fraction = config.data.label_fraction;
    let seed = config.data.label_seed;
    let from = config.train.init_encoder.clone();
    let summary = train::pretrain(config, options)?;
    let metrics = train::eval_task(&summary.out, &[], Split::Test, 0)?;
    let metric = |name: &str| {
        metrics
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .with_context(|| format!("the evaluation reported no `{name}`"))
    };
    let result = FinetuneResult {
        top1: metric("top1")?,
        test_loss: metric("loss")?,
        train_images: summary.train_images,
        label_fraction: fraction,
        label_seed: seed,
        from,
        steps: summary.steps,
        out: summary.out.clone(),
    };
    let json = serde_json::to_vec_pretty(&result)?;
    pretext_data::atomic::write(&summary.out.join("finetune.json"), &json)?;
    Ok((summary, result))
}

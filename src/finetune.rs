//! Fine-tuning: the transfer step of the lecture. The pretrained encoder is copied, a fresh
//! classifier is put on it, and both train end to end on a labelled dataset — often on a
//! small fraction of its labels, the semi-supervised setting where pretraining pays off.
//!
//! A fine-tuning run is an ordinary run of the [`supervised`](crate::method::supervised)
//! method, so it has everything a pretraining run has (atomic checkpoints, `--resume`,
//! metrics, pictures); this module builds its configuration from the encoder it starts from
//! and scores the result on the test split.

use crate::checkpoint::{self, Checkpoint};
use crate::config::Overrides;
use crate::config::RunConfig;
use crate::encoder::{Architecture, EncoderConfig};
use crate::eval::record::{EvalRecord, FinetuneResult};
use crate::input::InputSpec;
use crate::train::{self, RunOptions};
use anyhow::{Context, Result};
use pretext_data::Split;
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

/// The fine-tuning recipe of MAE for Vision Transformers (He et al. 2022, appendix A.3,
/// table 9): AdamW β = (0.9, 0.999), base learning rate 1e-3 × B/256, weight decay 0.05,
/// layer-wise learning-rate decay 0.75, drop-path 0.1, label smoothing 0.1, cosine schedule
/// after a warm-up; the classifier sits on the encoder's normed token without a batch norm.
/// Departures (docs/deviations.md): no mixup, CutMix, RandAugment or random erasing (the
/// [`supervised`] method's crops and flips), a batch of 64 and [`default_epochs`] instead of
/// 1024 and 100, and a 2-epoch warm-up (MAE's 5 of 100).
///
/// [`supervised`]: crate::method::supervised
pub const VIT_RECIPE: &str = r#"
[method]
name = "supervised"
head_norm = false
label_smoothing = 0.1

[encoder]
drop_path = 0.1

[optim]
name = "adamw"
lr = 1e-3
lr_scaling = "linear"
beta1 = 0.9
beta2 = 0.999
weight_decay = 0.05
layer_decay = 0.75
warmup_epochs = 2.0

[train]
batch_size = 64
checkpoint_every = 0
log_every = 10

[probe]
enabled = false
"#;

/// The built-in fine-tuning recipe for an encoder of `arch`: [`VIT_RECIPE`] for Vision
/// Transformers, [`RECIPE`] for the ConvNets.
pub fn recipe(arch: Architecture) -> &'static str {
    match arch.vit_size() {
        Some(_) => VIT_RECIPE,
        None => RECIPE,
    }
}

/// SimCLR's fine-tuning length: 60 epochs on 1 % of the labels, 30 on 10 % (and more).
pub fn default_epochs(label_fraction: f64) -> u64 {
    if label_fraction <= 0.01 { 60 } else { 30 }
}

/// What a pretrained encoder brings to a transfer run.
pub struct Pretrained {
    /// Its architecture.
    pub encoder: EncoderConfig,
    /// The tensors it was trained on.
    pub input: InputSpec,
    /// The dataset it was pretrained on, for a pretext checkpoint.
    pub dataset: Option<String>,
}

/// Reads what `from` (a run directory, checkpoint or exported safetensors file) says about
/// its encoder.
pub fn pretrained(from: &Path) -> Result<Pretrained> {
    let file = checkpoint::resolve(from);
    if checkpoint::is_checkpoint(&file) {
        let (header, _) = Checkpoint::load_encoder(&file)?;
        let config = RunConfig::from_toml(&header.config, &[], &file.display().to_string())?;
        return Ok(Pretrained {
            encoder: header.encoder,
            input: header.input,
            dataset: Some(config.data.dataset.to_string()),
        });
    }
    let info = crate::export::read_info(from)?.with_context(|| {
        format!(
            "{}: a safetensors file without pretext's metadata; start from scratch with \
             --set train.init_encoder=FILE and the [encoder] it needs instead",
            from.display()
        )
    })?;
    Ok(Pretrained {
        encoder: info.encoder,
        input: info.input,
        dataset: None,
    })
}

/// Adds the encoder of `from` to a transfer config: every `[encoder]` key of `encoder` but
/// `drop_path` (a training choice the recipe makes) and the weights to start from.
pub fn add_encoder_overrides(
    from: &Path,
    encoder: &EncoderConfig,
    overrides: &mut Overrides,
) -> Result<()> {
    for (key, value) in toml::Table::try_from(encoder)? {
        if key != "drop_path" {
            overrides.set(&format!("encoder.{key}"), value)?;
        }
    }
    overrides.set("train.init_encoder", from)?;
    Ok(())
}

/// Adds the settings `--from` contributes to a fine-tuning config: the encoder
/// ([`add_encoder_overrides`]) and its input contract (so that it sees the tensors it was
/// trained on) and, for a pretext checkpoint, the dataset it was pretrained on (`--data`,
/// set after, overrides it). Returns the architecture, which picks the [`recipe`].
pub fn add_overrides_from(from: &Path, overrides: &mut Overrides) -> Result<Architecture> {
    let Pretrained {
        encoder,
        input,
        dataset,
    } = pretrained(from)?;
    overrides.set_some("data.dataset", dataset)?;
    add_encoder_overrides(from, &encoder, overrides)?;
    overrides
        .set("data.image_size", input.image_size)?
        .set("data.mean", &input.mean)?
        .set("data.std", &input.std)?
        .set("method.input_space", input.space)?;
    Ok(encoder.arch)
}

/// Trains (or resumes) the supervised run `config` describes, then scores its checkpoint on
/// the test split with the deterministic view. Returns the evaluation record and the run
/// directories it belongs in: the fine-tuned run's and, when it started from one, the
/// pretrained run's (which so keeps a record of how its encoder transferred).
pub fn finetune(config: RunConfig, options: RunOptions) -> Result<(EvalRecord, Vec<PathBuf>)> {
    let fraction = config.data.label_fraction;
    let seed = config.data.label_seed;
    let from = config.train.init_encoder.clone();
    let data = config.data.dataset.to_string();
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
    let runs = write_result(
        &summary.out,
        "finetune.json",
        &result,
        result.from.as_deref(),
    )?;
    Ok((EvalRecord::Finetune { result, data }, runs))
}

/// Writes a transfer run's `result` to `out/file` and returns the run directories its record
/// belongs in: `out` and, when it started `from` a pretext checkpoint, the pretrained run
/// (which so keeps a record of how its encoder transferred).
pub fn write_result(
    out: &Path,
    file: &str,
    result: &impl serde::Serialize,
    from: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    let json = serde_json::to_vec_pretty(result)?;
    pretext_data::atomic::write(&out.join(file), &json)?;
    let mut runs = vec![out.to_path_buf()];
    if let Some(from) = from
        && checkpoint::is_checkpoint(&checkpoint::resolve(from))
    {
        runs.push(checkpoint::run_dir(from));
    }
    Ok(runs)
}

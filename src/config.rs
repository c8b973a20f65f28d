//! Run configuration: one TOML file per run, every key overridable on the command line.
//!
//! A run directory always holds the *resolved* configuration (`config.toml`: every default
//! filled in, data-dependent choices made), so `pretext pretrain --config RUN/config.toml`
//! repeats the run exactly.

use crate::encoder::EncoderConfig;
use anyhow::{Context, Result, bail};
use pretext_data::{DataSpec, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration of a pretraining run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Where the images come from.
    pub data: DataConfig,
    /// The encoder to train.
    #[serde(default)]
    pub encoder: EncoderConfig,
    /// The self-supervised method: `name` plus that method's own options.
    pub method: MethodConfig,
    /// Optimiser and learning-rate schedule.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Loop length, batch size, seed, checkpointing.
    #[serde(default)]
    pub train: TrainConfig,
    /// The kNN probe that watches the encoder while it trains.
    #[serde(default)]
    pub probe: ProbeConfig,
}

/// Data options.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Dataset as `kind:path`, e.g. `fashion-mnist:/usr/share/datasets/fashion-mnist`.
    pub dataset: DataSpec,
    /// Which split to train on (self-supervised methods never read its labels).
    #[serde(default = "default_split")]
    pub split: Split,
    /// Side of the square training images; 0 = the dataset's native size (96 for folders).
    #[serde(default)]
    pub image_size: usize,
    /// Per-channel normalisation mean; empty = the dataset's usual statistics.
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Per-channel normalisation standard deviation; empty = the dataset's usual statistics.
    #[serde(default)]
    pub std: Vec<f32>,
    /// Train on a seeded random subset of this many images (0 = all).
    #[serde(default)]
    pub limit: usize,
    /// Keep this fraction of the (labelled) training images, chosen per class with
    /// `label_seed`: the semi-supervised setting of fine-tuning (0.01 and 0.1 are the 1 %
    /// and 10 % of the papers). 1 = all.
    #[serde(default = "one")]
    pub label_fraction: f64,
    /// Seed of the `label_fraction` choice.
    #[serde(default)]
    pub label_seed: u64,
    /// Skip corrupt images (with a warning and a count) instead of failing.
    #[serde(default)]
    pub skip_corrupt: bool,
    /// Batches prepared ahead of the trainer.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
    /// 0: each epoch is one random permutation of all images. N > 0: the epoch is read as
    /// WebDataset streams tar shards: the shards in random order, their images through a
    /// shuffle buffer of N (HTTP shards are then read ahead in 8 MiB chunks instead of one
    /// request per image). For `shards:` data on slow or remote storage; as exact to resume.
    #[serde(default)]
    pub shuffle_buffer: usize,
}

fn default_split() -> Split {
    Split::Train
}

fn one() -> f64 {
    1.0
}

fn default_prefetch() -> usize {
    4
}

/// The method section: its `name` and a free table the method deserialises into its own
/// config type (which rejects unknown keys).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodConfig {
    /// Registered method name, e.g. `rotation`.
    pub name: String,
    /// The method's own options.
    #[serde(flatten)]
    pub options: toml::Table,
}

/// Which optimiser to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum, PyTorch semantics (no dampening, coupled L2 weight decay).
    Sgd,
    /// AdamW (Loshchilov & Hutter 2019), decoupled weight decay.
    Adamw,
    /// LARS (You et al. 2017) as BYOL, SimCLR and Barlow Twins use it: SGD with momentum whose
    /// step for each weight matrix is scaled by a trust ratio; biases and normalisation
    /// parameters take plain SGD without weight decay.
    Lars,
}

/// How the learning rate follows the batch size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrScaling {
    /// `optim.lr` is used as written.
    #[default]
    None,
    /// `lr × B / 256` with `B` the batch size times `train.accumulate` (Goyal et al. 2017;
    /// the BYOL, SimCLR, SimSiam, MoCo and VICReg recipes).
    Linear,
    /// `lr × √(B / 256)` (SimCLR's appendix B.1 for small batches).
    Sqrt,
}

impl LrScaling {
    /// The factor for an effective batch of `batch` images.
    pub fn factor(self, batch: usize) -> f64 {
        let ratio = batch as f64 / 256.0;
        match self {
            LrScaling::None => 1.0,
            LrScaling::Linear => ratio,
            LrScaling::Sqrt => ratio.sqrt(),
        }
    }
}

/// Optimiser and schedule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// `sgd`, `adamw` or `lars`.
    pub name: OptimizerKind,
    /// Peak learning rate (reached after warm-up), before `lr_scaling`.
    pub lr: f64,
    /// Scale `lr` with the batch size: `none`, `linear` (× B/256) or `sqrt`.
    pub lr_scaling: LrScaling,
    /// LARS trust coefficient η (BYOL and SimCLR: 0.001).
    pub trust_coefficient: f64,
    /// LARS: cap the trust ratio at the learning rate instead of multiplying it by the
    /// learning rate (solo-learn's `clip_lr`; see the trainer's `Lars`).
    pub clip_lr: bool,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (L2 for SGD, decoupled for AdamW).
    pub weight_decay: f64,
    /// When set, the weight decay follows a cosine from `weight_decay` at the first step to
    /// this at the last (DINO's `weight_decay_end`, I-JEPA's `final_weight_decay`: 0.04 →
    /// 0.4); AdamW and LARS only.
    pub weight_decay_end: Option<f64>,
    /// When positive, each parameter's gradient is scaled down to an L2 norm of at most this
    /// before the step (DINO's per-parameter `clip_grad`, 3.0 for ViTs); 0 = no clipping.
    pub clip_grad: f64,
    /// AdamW β₁.
    pub beta1: f64,
    /// AdamW β₂.
    pub beta2: f64,
    /// AdamW ε.
    pub eps: f64,
    /// Linear warm-up length in epochs (may be fractional).
    pub warmup_epochs: f64,
    /// Final learning rate of the cosine decay.
    pub min_lr: f64,
    /// The encoder's learning rate as a fraction of the head's (fine-tuning a pretrained
    /// encoder more gently than its fresh head; 1 = the same).
    pub encoder_lr_scale: f64,
    /// Layer-wise learning-rate decay of the encoder (MAE's fine-tuning: 0.75 for ViT-B,
    /// 0.65 for ViT-L): each layer below the top learns at this fraction of the rate of the
    /// one above it (see [`crate::train::optim::EncoderLr`]). 1 = off.
    pub layer_decay: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            name: OptimizerKind::Sgd,
            lr: 0.05,
            lr_scaling: LrScaling::None,
            trust_coefficient: 0.001,
            clip_lr: false,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 5e-4,
            weight_decay_end: None,
            clip_grad: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            warmup_epochs: 0.0,
            min_lr: 0.0,
            encoder_lr_scale: 1.0,
            layer_decay: 1.0,
        }
    }
}

/// Loop options.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Number of passes over the data.
    pub epochs: u64,
    /// Stop after this many optimiser steps (0 = run all epochs); the schedule still spans
    /// `epochs`, so a limited run is a prefix of the full one.
    pub max_steps: u64,
    /// Images per batch (before a method multiplies them into views).
    pub batch_size: usize,
    /// Gradient accumulation: each optimiser step sums the gradients of this many batches
    /// (the loss of each is divided by the count), so that the effective batch is
    /// `batch_size × accumulate`. Batch norm and in-batch negatives still see one batch.
    pub accumulate: usize,
    /// Seed of weights, data order and augmentations.
    pub seed: u64,
    /// Write a checkpoint every this many steps (0 = none by steps). Checkpoints are also
    /// written at the end of every epoch, at the end of the run, and after
    /// `checkpoint_minutes`; each keeps the one before it (`checkpoint.prev.ckpt`).
    pub checkpoint_every: u64,
    /// Write a checkpoint when this many minutes have passed since the last one (0 = never
    /// by time), so that a killed run loses at most this much work however long its epochs.
    pub checkpoint_minutes: f64,
    /// Append a metrics line every this many steps.
    pub log_every: u64,
    /// Run directory.
    pub out: PathBuf,
    /// Compute device: `flex` (CPU) or `cuda` / `cuda:N` (with the `cuda` feature). A
    /// comma-separated list trains data-parallel ([`crate::train::parallel`]); commands that
    /// run on one device use the first.
    pub device: String,
    /// Start the encoder from these weights instead of a random draw: a pretext run
    /// directory or checkpoint, or a `.safetensors` file under PyTorch's names (`pretext
    /// export`, or torchvision ResNet weights converted to safetensors; `fc.*` entries are
    /// ignored).
    pub init_encoder: Option<PathBuf>,
    /// Freeze the encoder's first this many stages (no gradient, batch norm in inference
    /// mode): the stem and `layer1`… of a ResNet, the convolution layers of the small
    /// ConvNet; 5 freezes the whole encoder. 0 = train everything.
    pub freeze_stages: usize,
    /// Number format of the convolutions' matrix products on the CPU (flex): `fp32`, or
    /// `bf16` — both operands of every convolution product (forward and both gradients)
    /// rounded to bfloat16, sums, weights, optimiser and every other operation in fp32, as
    /// PyTorch's CPU autocast runs convolutions — where the CPU has AVX512-BF16 (Zen 4,
    /// Cooper Lake, Sapphire Rapids and later). Elsewhere, and on CUDA, training warns and
    /// stays fp32 ([`crate::kernels::set_precision`]).
    pub precision: crate::kernels::Precision,
    /// Synchronised batch norm when training as several MPI ranks (PyTorch's
    /// `SyncBatchNorm`): every batch norm in training takes the statistics of the global
    /// batch, all ranks' images together, as one process training on it would (two small
    /// all-reduces per layer forward, one backward). Off, each rank normalises its own batch,
    /// as PyTorch's DDP does by default. CPU (flex) only.
    pub sync_bn: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            max_steps: 0,
            batch_size: 128,
            accumulate: 1,
            seed: 0,
            checkpoint_every: 500,
            checkpoint_minutes: 10.0,
            log_every: 10,
            out: PathBuf::from("runs/run"),
            device: "flex".into(),
            init_encoder: None,
            freeze_stages: 0,
            precision: crate::kernels::Precision::F32,
            sync_bn: false,
        }
    }
}

/// The kNN probe run during pretraining (when the data has labels): the encoder embeds a
/// seeded subset of the labelled train split and of the test split, and weighted kNN
/// (k = 200, T = 0.1, as `pretext eval knn`) classifies the second by the first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Run the probe (it is skipped, with a note, when the data has no labels or no test
    /// split).
    pub enabled: bool,
    /// Probe every this many steps; 0 = at every `train.checkpoint_every` step and at the end
    /// (not at the epoch-end or timed checkpoints).
    pub every: u64,
    /// Labelled train images that vote.
    pub bank: usize,
    /// Test images classified.
    pub queries: usize,
    /// Re-estimate the batch-norm statistics on this many of the bank's images before each
    /// probe (PreciseBN, as `pretext eval --precise-bn`); 0 reads the running statistics.
    pub precise_bn: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            enabled: true,
            every: 0,
            bank: 5000,
            queries: 1000,
            precise_bn: 0,
        }
    }
}

/// Configuration overrides as [`RunConfig::from_toml`] takes them (`KEY=VALUE`, the form of
/// `--set`), built from typed values: what the command-line flags and `--from` stand for.
/// Later entries win.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides(Vec<String>);

impl Overrides {
    /// Sets `key` to `value`: a number, string, path, list or any serialisable value.
    ///
    /// # Errors
    /// When `value` has no TOML form (a path that is not UTF-8), naming the key.
    pub fn set(&mut self, key: &str, value: impl Serialize) -> Result<&mut Self> {
        let value = toml::Value::try_from(value)
            .with_context(|| format!("{key}: the value has no TOML form"))?;
        self.0.push(format!("{key}={value}"));
        Ok(self)
    }

    /// Sets `key` to `value` when there is one.
    pub fn set_some(&mut self, key: &str, value: Option<impl Serialize>) -> Result<&mut Self> {
        match value {
            Some(value) => self.set(key, value),
            None => Ok(self),
        }
    }

    /// Appends `KEY=VALUE` lines as the user wrote them (`--set`).
    pub fn extend(&mut self, lines: impl IntoIterator<Item = String>) -> &mut Self {
        self.0.extend(lines);
        self
    }

    /// The `KEY=VALUE` lines, in order.
    pub fn lines(&self) -> &[String] {
        &self.0
    }
}

impl RunConfig {
    /// Parses a TOML document, applies `key=value` overrides (dotted keys, TOML values; a
    /// value that is not valid TOML is taken as a string) and validates the result.
    ///
    /// `origin` names the document in error messages.
    pub fn from_toml(text: &str, overrides: &[String], origin: &str) -> Result<Self> {
        let mut doc: toml::Table =
            toml::from_str(text).with_context(|| format!("{origin}: invalid TOML"))?;
        for item in overrides {
            apply_override(&mut doc, item)?;
        }
        let config: RunConfig =
            deserialize(toml::Value::Table(doc)).map_err(|(key, message)| {
                match overrides.iter().find(|item| sets(item, &key)) {
                    Some(item) => anyhow::anyhow!("{item} (command line): {message}"),
                    None => match line_of(text, &key) {
                        Some(line) => anyhow::anyhow!("{origin}:{line}: {key}: {message}"),
                        None => anyhow::anyhow!("{origin}: {key}: {message}"),
                    },
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config file and applies overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::from_toml(&text, overrides, &path.display().to_string())
    }

    /// The TOML text of this config.
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string(self)?)
    }

    fn validate(&self) -> Result<()> {
        let t = &self.train;
        if t.batch_size == 0 {
            bail!("train.batch_size must be at least 1");
        }
        if t.epochs == 0 {
            bail!("train.epochs must be at least 1");
        }
        if t.accumulate == 0 {
            bail!("train.accumulate must be at least 1");
        }
        if self.optim.trust_coefficient.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            bail!("optim.trust_coefficient must be positive");
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            bail!("optim.lr must be a positive number, got {}", self.optim.lr);
        }
        if t.freeze_stages > crate::encoder::STAGES {
            bail!(
                "train.freeze_stages = {}: encoders have {} stages",
                t.freeze_stages,
                crate::encoder::STAGES
            );
        }
        if let Some(end) = self.optim.weight_decay_end {
            if self.optim.name == OptimizerKind::Sgd {
                bail!(
                    "optim.weight_decay_end schedules AdamW's and LARS's weight decay; set optim.name to \"adamw\" or \"lars\", or remove it"
                );
            }
            if !(end.is_finite() && end >= 0.0) {
                bail!("optim.weight_decay_end must be a number ≥ 0, got {end}");
            }
        }
        let clip = self.optim.clip_grad;
        if !(clip.is_finite() && clip >= 0.0) {
            bail!("optim.clip_grad must be a number ≥ 0 (0 = no clipping), got {clip}");
        }
        let scale = self.optim.encoder_lr_scale;
        if !(scale.is_finite() && scale >= 0.0) {
            bail!("optim.encoder_lr_scale must be a number ≥ 0, got {scale}");
        }
        let decay = self.optim.layer_decay;
        if !(decay > 0.0 && decay <= 1.0) {
            bail!("optim.layer_decay must be in (0, 1] (1 = no decay), got {decay}");
        }
        let fraction = self.data.label_fraction;
        if !(fraction > 0.0 && fraction <= 1.0) {
            bail!("data.label_fraction must be in (0, 1], got {fraction}");
        }
        if self.data.mean.len() != self.data.std.len() {
            bail!("data.mean and data.std must have the same length");
        }
        if self.data.std.iter().any(|&s| s <= 0.0) {
            bail!("data.std values must be positive");
        }
        if self.encoder.in_channels != 0 {
            self.encoder.validate()?;
        }
        Ok(())
    }
}

/// Sets `key = value` in `doc`, where `key` is dotted (`optim.lr`). Keys that no section of
/// the config knows are rejected when the document is deserialised; sections and method keys
/// are created on demand.
fn apply_override(doc: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .with_context(|| format!("override `{item}` must be written KEY=VALUE"))?;
    let key = key.trim();
    let value = parse_value(raw.trim());
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else {
        bail!("override `{item}` has an empty key");
    };
    let mut table = doc;
    for part in parts {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .with_context(|| format!("override `{item}`: `{part}` is not a section"))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

/// `value` as a `T`, or the dotted key of the offending entry and what is wrong with it (in
/// words: "a whole number ≥ 0" rather than serde's `usize`); for an unknown key, that key.
pub fn deserialize<T: serde::de::DeserializeOwned>(
    value: toml::Value,
) -> std::result::Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut message = e.inner().message().to_owned();
        for (rust, words) in [
            ("usize", "a whole number ≥ 0"),
            ("u64", "a whole number ≥ 0"),
            ("u32", "a whole number ≥ 0"),
            ("u8", "a whole number from 0 to 255"),
            ("i64", "a whole number"),
            ("f64", "a number"),
            ("f32", "a number"),
        ] {
            message = message.replace(&format!("expected {rust}"), &format!("expected {words}"));
        }
        let key = match e.path().to_string() {
            root if root == "." => String::new(),
            path => path,
        };
        (key, message)
    })
}

/// Whether override `item` (`KEY=VALUE`) sets dotted key `key` or a table holding it.
fn sets(item: &str, key: &str) -> bool {
    let set = item.split_once('=').map_or(item, |(k, _)| k).trim();
    key == set || key.starts_with(&format!("{set}."))
}

/// The line (from 1) of TOML `text` that sets dotted key `key`, when it does.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut span = None;
    for part in key.split('.') {
        let (_, value) = table.iter().find(|(k, _)| k.get_ref() == part)?;
        span = Some(value.span());
        if let toml::de::DeValue::Table(inner) = value.get_ref() {
            table = inner;
        }
    }
    let start = span?.start;
    Some(text[..start.min(text.len())].matches('\n').count() + 1)
}

/// A TOML value from the command line: `0.1`, `true`, `[1, 2]`, or a bare string.
fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_overrides_become_the_values_they_hold() {
        let mut overrides = Overrides::default();
        overrides
            .set("method.name", "rotation")
            .unwrap()
            .set("data.dataset", "folder:/tmp/a \"b\"")
            .unwrap()
            .set("train.out", Path::new("runs/x"))
            .unwrap()
            .set("optim.lr", 0.5)
            .unwrap()
            .set("train.epochs", 3u64)
            .unwrap()
            .set_some("train.seed", None::<u64>)
            .unwrap()
            .set("data.mean", [0.25f32])
            .unwrap()
            .set("data.std", [0.5f32])
            .unwrap();
        overrides.extend(["train.batch_size=16".to_string()]);
        let config = RunConfig::from_toml("", overrides.lines(), "test").unwrap();
        assert_eq!(config.method.name, "rotation");
        assert_eq!(config.data.dataset.to_string(), "folder:/tmp/a \"b\"");
        assert_eq!(config.train.out, Path::new("runs/x"));
        assert_eq!((config.optim.lr, config.train.epochs), (0.5, 3));
        assert_eq!(config.train.batch_size, 16);
        assert_eq!(config.data.mean, [0.25]);
        assert_eq!(overrides.lines().len(), 8);
    }

    const BASE: &str = r#"
[data]
dataset = "fashion-mnist:/tmp/x"
[method]
name = "rotation"
"#;

    #[test]
    fn defaults_fill_in_and_overrides_win() {
        let c = RunConfig::from_toml(
            BASE,
            &[
                "optim.lr=0.3".into(),
                "train.out=runs/a".into(),
                "encoder.arch=resnet18".into(),
                "method.head_hidden=0".into(),
            ],
            "test",
        )
        .unwrap();
        assert_eq!(c.optim.lr, 0.3);
        assert_eq!(c.train.out, PathBuf::from("runs/a"));
        assert_eq!(c.encoder.arch, crate::encoder::Architecture::Resnet18);
        assert_eq!(c.train.batch_size, 128);
        assert_eq!(c.method.options["head_hidden"].as_integer(), Some(0));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err = RunConfig::from_toml(BASE, &["optim.learning_rate=0.3".into()], "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "optim.learning_rate=0.3 (command line): unknown field `learning_rate`"
            ),
            "{err}"
        );
        let err = RunConfig::from_toml(BASE, &["trian.epochs=3".into()], "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("trian"), "{err}");
        // In a file: the file, the line and the key.
        let text = format!("{BASE}[train]\nepochs = 2\nbatchsize = 3\n");
        let err = RunConfig::from_toml(&text, &[], "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cfg.toml:8: train.batchsize: unknown field `batchsize`"),
            "{err}"
        );
    }

    /// A value of the wrong type names its key and what the key wants, in words; in a file,
    /// also the line.
    #[test]
    fn wrong_types_name_the_key_and_the_line() {
        let err = RunConfig::from_toml(BASE, &["train.batch_size=x".into()], "cfg.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "train.batch_size=x (command line): invalid type: string \"x\", expected a whole number ≥ 0"
        );
        let text = format!("{BASE}[optim]\nlr = \"fast\"\n");
        let err = RunConfig::from_toml(&text, &[], "cfg.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cfg.toml:7: optim.lr: invalid type: string \"fast\", expected a number"
        );
        // A table set on the command line is named for the keys inside it.
        let err = RunConfig::from_toml(BASE, &["train={epochs=\"many\"}".into()], "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("train={epochs=\"many\"} (command line)"),
            "{err}"
        );
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = RunConfig::from_toml(BASE, &[], "test").unwrap();
        let again = RunConfig::from_toml(&c.to_toml().unwrap(), &[], "again").unwrap();
        assert_eq!(again.to_toml().unwrap(), c.to_toml().unwrap());
    }

    #[test]
    fn bad_values_are_rejected() {
        let err = RunConfig::from_toml(BASE, &["train.batch_size=0".into()], "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("batch_size"), "{err}");
        let err = RunConfig::from_toml(BASE, &["noequals".into()], "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
    }
}

//! The trainer: one explicit loop that drives any [`Method`].
//!
//! It opens the data, resolves the configuration, builds the network, and then repeats
//! *batch → method step → backward → optimiser step → method after-step*, logging metrics and
//! writing atomic checkpoints. `--resume` restores weights, optimiser state and the step
//! counter; the data order and every augmentation depend only on (seed, epoch, index), so a
//! resumed run continues exactly where the killed one stopped.

pub mod collapse;
pub mod lock;
pub mod optim;
pub mod parallel;
pub mod probe;
pub mod progress;
pub mod schedule;

use crate::checkpoint::{self, Checkpoint, Header};
use crate::config::RunConfig;
use crate::encoder::EncoderConfig;
use crate::input::InputSpec;
use crate::method::registry::{self, MethodJob};
use crate::method::{Method, MethodContext, Network, Progress};
use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::prelude::*;
use pretext_data::ImageSource;
use pretext_data::loader::{self, LoaderConfig};
use progress::{MetricsLine, Reporter};
use schedule::WarmupCosine;
use std::path::PathBuf;
use std::sync::Arc;

/// How to start a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Continue from the run directory's checkpoint.
    pub resume: bool,
    /// No progress bar or progress lines (metrics are still written).
    pub quiet: bool,
    /// Measure one half of a training step alone instead of training (nothing is written).
    pub measure: Option<Measure>,
}

/// What `--pipeline-only` and `--compute-only` measure: the two halves of the trainer, each
/// alone, so that a slow run can be blamed on the right one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Build this many batches with the method's augmentations (decode, augment, build the
    /// method's inputs) and train nothing.
    Pipeline(u64),
    /// Build one batch, then time this many optimiser steps on it (forward, backward,
    /// update, the method's after-step), after two untimed warm-up steps: the trainer's own
    /// step without the data pipeline.
    Compute(u64),
}

/// What a finished (or step-limited) run reports.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run directory.
    pub out: PathBuf,
    /// Steps completed.
    pub steps: u64,
    /// Loss of every step run in this invocation, in order.
    pub losses: Vec<f64>,
    /// Raw images per second over this invocation.
    pub images_per_sec: f64,
    /// Images in the training data (after `data.limit` and `data.label_fraction`).
    pub train_images: usize,
    /// With `--compute-only`: what each of pretext's kernels did in the timed steps (the
    /// rest of [`RunSummary::step_seconds`] is burn's own work). Empty otherwise.
    pub kernels: Vec<crate::kernels::profile::Total>,
    /// With `--compute-only`: the convolutions' time per layer geometry. Empty otherwise.
    pub layers: Vec<crate::kernels::profile::Layer>,
    /// With `--compute-only`: wall-clock seconds of the timed steps.
    pub step_seconds: f64,
}

/// Runs (or resumes) the pretraining `config` describes.
pub fn pretrain(config: RunConfig, options: RunOptions) -> Result<RunSummary> {
    let source = crate::dataset::open_training(&config.data, config.train.seed)?;
    let name = config.method.name.clone();
    registry::dispatch(
        &name,
        Pretrain {
            config,
            options,
            source,
        },
    )?
}

struct Pretrain {
    config: RunConfig,
    options: RunOptions,
    source: Arc<dyn ImageSource>,
}

/// A configuration with every default and data-dependent choice made, and the method built.
struct Resolved<M: Method> {
    config: RunConfig,
    /// The TOML text of `config`, written to the run directory and into checkpoints.
    text: String,
    method: Arc<M>,
    encoder: EncoderConfig,
    input: InputSpec,
    source: Arc<dyn ImageSource>,
}

impl MethodJob for Pretrain {
    type Output = Result<RunSummary>;

    fn run<M: Method>(self) -> Result<RunSummary> {
        let resolved = resolve::<M>(self.config, self.source)?;
        match self.options.measure {
            Some(Measure::Pipeline(batches)) => pipeline_throughput(&resolved, batches),
            Some(Measure::Compute(steps)) => compute_throughput(&resolved, steps),
            None => train(resolved, &self.options),
        }
    }
}

fn resolve<M: Method>(mut config: RunConfig, source: Arc<dyn ImageSource>) -> Result<Resolved<M>> {
    let data = &config.data;
    let image_size = match data.image_size {
        0 => crate::dataset::default_image_size(&data.dataset, source.as_ref())?,
        n => n,
    };
    let encoder_channels = match config.encoder.in_channels {
        0 => source.channels(),
        n => n,
    };
    let (mean, std) = if data.mean.is_empty() {
        InputSpec::default_stats(data.dataset.kind, encoder_channels)
    } else {
        (data.mean.clone(), data.std.clone())
    };
    ensure!(
        mean.len() == encoder_channels,
        "data.mean has {} values but the encoder takes {encoder_channels} channels",
        mean.len()
    );
    let data_input = InputSpec {
        space: crate::input::InputSpace::Native,
        channels: encoder_channels,
        image_size,
        mean,
        std,
    };
    // The options merge into the method's defaults table by table, so that
    // `method.projector.out=64` changes one width and keeps the default hidden layers.
    let mut options = toml::Table::try_from(M::Config::default())?;
    merge(&mut options, config.method.options.clone());
    let method_config: M::Config = crate::config::deserialize(toml::Value::Table(options))
        .map_err(|(key, message)| {
            anyhow::anyhow!(
                "method.{key} (an option of method `{}`): {message}",
                config.method.name
            )
        })?;
    let encoder = config
        .encoder
        .clone()
        .resolved(encoder_channels, image_size);
    let context = MethodContext {
        encoder: encoder.clone(),
        input: data_input.clone(),
        source: Arc::clone(&source),
    };
    let method = Arc::new(M::new(method_config, &context)?);
    apply_precision(&config.train);
    let input = method.input_spec(data_input);
    let encoder = EncoderConfig {
        in_channels: input.channels,
        ..encoder
    };
    encoder.validate()?;
    config.encoder = encoder.clone();
    config.data.image_size = image_size;
    config.data.mean = input.mean.clone();
    config.data.std = input.std.clone();
    config.method.options = toml::Table::try_from(method.config())?;
    Ok(Resolved {
        text: config.to_toml()?,
        config,
        method,
        encoder,
        input,
        source,
    })
}

/// Sets `train.precision` for the convolutions' products, with a warning where the CPU or the
/// device cannot run it (then fp32).
fn apply_precision(train: &crate::config::TrainConfig) {
    use crate::kernels::{Precision, set_precision};
    let wanted = match train.device.starts_with("flex") {
        true => train.precision,
        false if train.precision == Precision::Bf16 => {
            tracing::warn!(
                "train.precision = \"bf16\" is for the CPU (flex); {} trains in fp32",
                train.device
            );
            Precision::F32
        }
        false => Precision::F32,
    };
    if set_precision(wanted) != wanted {
        tracing::warn!(
            "train.precision = \"bf16\": this CPU has no AVX512-BF16 (bf16 dot products); training in fp32"
        );
    }
}

/// Overwrites `base` with `update`, descending into tables present in both.
fn merge(base: &mut toml::Table, update: toml::Table) {
    for (key, value) in update {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Batches in one epoch (the last partial batch is dropped, as SSL trainers do).
fn batches_per_epoch<M: Method>(r: &Resolved<M>) -> Result<u64> {
    let batch_size = r.config.train.batch_size;
    let batches = loader::steps_per_epoch(r.source.len(), batch_size, true) as u64;
    ensure!(
        batches > 0,
        "the dataset has {} images, fewer than one batch of {batch_size}",
        r.source.len()
    );
    Ok(batches)
}

/// The data loader of a run, starting at batch `position` of the whole run (epochs laid end
/// to end; an optimiser step consumes `train.accumulate` batches).
fn batches<M: Method>(r: &Resolved<M>, position: u64) -> Result<loader::Loader<Result<M::Sample>>> {
    let per_epoch = batches_per_epoch(r)?;
    let input = r.input.clone();
    let sampler = Arc::clone(&r.method);
    let labels = Arc::clone(&r.source);
    Ok(loader::spawn(
        Arc::clone(&r.source),
        LoaderConfig {
            batch_size: r.config.train.batch_size,
            seed: r.config.train.seed,
            shuffle: true,
            drop_last: true,
            prefetch: r.config.data.prefetch.max(1),
            start_epoch: position / per_epoch,
            start_step: (position % per_epoch) as usize,
            epochs: Some(r.config.train.epochs),
            skip_errors: r.config.data.skip_corrupt,
            threads: None,
        },
        move |image, rng, index| {
            sampler.sample(input.convert_channels(image), labels.label(index), rng)
        },
    ))
}

/// Images per second the data pipeline alone delivers (decode, augment, build the method's
/// inputs), over `count` batches.
fn pipeline_throughput<M: Method>(r: &Resolved<M>, count: u64) -> Result<RunSummary> {
    let started = std::time::Instant::now();
    let mut images = 0;
    for batch in batches(r, 0)?.take(count as usize) {
        for sample in batch?.samples {
            sample?;
            images += 1;
        }
    }
    Ok(RunSummary {
        out: r.config.train.out.clone(),
        steps: 0,
        losses: Vec::new(),
        images_per_sec: images as f64 / started.elapsed().as_secs_f64().max(1e-9),
        train_images: r.source.len(),
        kernels: Vec::new(),
        layers: Vec::new(),
        step_seconds: 0.0,
    })
}

/// Images per second of the trainer's step alone (forward, backward, optimiser update,
/// after-step), over `steps` steps on one batch built once, after two untimed warm-up steps.
fn compute_throughput<M: Method>(r: &Resolved<M>, steps: u64) -> Result<RunSummary> {
    const WARMUP: u64 = 2;
    let mut replicas = replicas(r, None)?;
    let batch = batches(r, 0)?
        .next()
        .context("the data loader delivered no batch")??;
    let samples = batch.samples.into_iter().collect::<Result<Vec<_>>>()?;
    let total = WARMUP + steps;
    let mut losses = Vec::new();
    let mut started = std::time::Instant::now();
    for step in 0..total {
        if step == WARMUP {
            started = std::time::Instant::now();
            crate::kernels::profile::reset();
        }
        let (loss, _) = replicas.forward_backward(r.method.as_ref(), &samples, 1)?;
        update(r, &mut replicas, r.config.optim.lr, step + 1, total);
        losses.push(loss);
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    Ok(RunSummary {
        out: r.config.train.out.clone(),
        steps,
        images_per_sec: (steps as usize * samples.len()) as f64 / elapsed,
        losses,
        train_images: r.source.len(),
        kernels: crate::kernels::profile::totals(),
        layers: crate::kernels::profile::layers(),
        step_seconds: elapsed,
    })
}

/// The run's network and optimiser on every device of `train.device` (weights and optimiser
/// state from `saved` when resuming).
fn replicas<M: Method>(
    r: &Resolved<M>,
    saved: Option<(&Checkpoint, &std::path::Path)>,
) -> Result<parallel::Replicas<M::Head>> {
    let devices: Vec<Device> = crate::device::parse_all(&r.config.train.device)?
        .into_iter()
        .map(Device::autodiff)
        .collect();
    let n = devices.len();
    ensure!(
        r.config.train.batch_size.is_multiple_of(n),
        "train.batch_size = {} does not split evenly over the {n} devices of train.device = \"{}\"",
        r.config.train.batch_size,
        r.config.train.device
    );
    let net = network(r, &devices[0], saved)?;
    let mut optimizer = optim::build(&r.config.optim);
    if let Some((saved, path)) = saved {
        optimizer = optimizer
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(saved.optimizer.clone()))
            .map_err(|e| anyhow::anyhow!("{}: optimizer state: {e:?}", path.display()))?;
    }
    let replicas = parallel::Replicas::new(net, optimizer, &devices)?;
    if n > 1 {
        tracing::info!(
            "data-parallel over {n} devices, {} images each per batch, gradients summed {:?}",
            r.config.train.batch_size / n,
            replicas.reduction()
        );
    }
    Ok(replicas)
}

/// The optimiser step at `lr` (the encoder at `lr × optim.encoder_lr_scale`), then the
/// method's after-step (e.g. BYOL's target update) for optimiser step `step` of `total`.
fn update<M: Method>(
    r: &Resolved<M>,
    replicas: &mut parallel::Replicas<M::Head>,
    lr: f64,
    step: u64,
    total: u64,
) {
    replicas.update(
        r.method.as_ref(),
        lr,
        r.config.optim.encoder_lr_scale,
        Progress {
            step,
            total_steps: total,
        },
    );
}

fn train<M: Method>(r: Resolved<M>, options: &RunOptions) -> Result<RunSummary> {
    let config = &r.config;
    let out = config.train.out.clone();
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create run directory {}", out.display()))?;
    let _lock = lock::RunLock::take(&out)?;
    pretext_data::atomic::remove_leftovers(&out)?;
    let previous = match options.resume {
        true => checkpoint::latest(&out)?,
        false => {
            let held = [checkpoint::FILE_NAME, checkpoint::PREVIOUS_FILE_NAME]
                .iter()
                .any(|name| out.join(name).exists());
            ensure!(
                !held,
                "{} already holds a run; pass --resume to continue it or choose another --out",
                out.display()
            );
            None
        }
    };
    match &previous {
        Some((saved, file)) => ensure!(
            saved.header.method == config.method.name && saved.header.encoder == r.encoder,
            "{}: the checkpoint was written by method `{}` with encoder {:?}, not by this config",
            file.display(),
            saved.header.method,
            saved.header.encoder
        ),
        None if options.resume => {
            tracing::info!("no checkpoint in {} yet: starting the run", out.display())
        }
        None => {}
    }
    pretext_data::atomic::write(&out.join("config.toml"), r.text.as_bytes())?;

    let mut replicas = replicas(&r, previous.as_ref().map(|(p, f)| (p, f.as_path())))?;
    let mut step = previous.map_or(0, |(p, _)| p.header.step);

    let accumulate = config.train.accumulate.max(1) as u64;
    let batches_per_epoch = batches_per_epoch(&r)?;
    let total = config.train.epochs * batches_per_epoch / accumulate;
    ensure!(
        total > 0,
        "train.accumulate = {accumulate} batches is more than the whole run holds"
    );
    let end = match config.train.max_steps {
        0 => total,
        n => n.min(total),
    };
    let scale = config
        .optim
        .lr_scaling
        .factor(config.train.batch_size * accumulate as usize);
    let schedule = WarmupCosine {
        base: config.optim.lr * scale,
        min: config.optim.min_lr,
        warmup: (config.optim.warmup_epochs * (batches_per_epoch / accumulate) as f64).round()
            as u64,
        total,
    };
    let mut summary = RunSummary {
        out: out.clone(),
        steps: step,
        losses: Vec::new(),
        images_per_sec: 0.0,
        train_images: r.source.len(),
        kernels: Vec::new(),
        layers: Vec::new(),
        step_seconds: 0.0,
    };
    if step >= end {
        return Ok(summary);
    }

    let probe = probe::Probe::open(config)?;
    remove_pictures_after(&out, step)?;
    let mut reporter = Reporter::new(&out.join("metrics.jsonl"), step, end, options.quiet)?;
    let started = std::time::Instant::now();
    let mut last_checkpoint = started;
    let log_every = config.train.log_every.max(1);
    let header = |step| Header {
        method: config.method.name.clone(),
        encoder: r.encoder.clone(),
        input: r.input.clone(),
        step,
        config: r.text.clone(),
    };
    let mut loader = batches(&r, step * accumulate)?;
    while step < end {
        // One optimiser step: the summed gradients of `accumulate` batches, each batch's loss
        // divided by the count so that the step equals one on the whole effective batch.
        let (mut loss, mut epoch) = (0.0, 0);
        let mut last = None;
        for _ in 0..accumulate {
            let waiting = std::time::Instant::now();
            let batch = loader
                .next()
                .context("the data loader stopped before the last step")??;
            reporter.add_wait(waiting.elapsed());
            let samples = batch.samples.into_iter().collect::<Result<Vec<_>>>()?;
            let (value, output) =
                replicas.forward_backward(r.method.as_ref(), &samples, accumulate)?;
            if !value.is_finite() {
                bail!(
                    "loss became {value} at step {step}; the last checkpoint in {} is intact (try a lower optim.lr)",
                    out.display()
                );
            }
            loss += value / accumulate as f64;
            epoch = batch.epoch;
            reporter.add_images(samples.len() as u64);
            last = Some((output, samples));
        }
        let Some((output, samples)) = last else {
            break;
        };
        let lr = schedule.at(step);
        step += 1;
        update(&r, &mut replicas, lr, step, total);
        summary.losses.push(loss);
        let every = config.train.checkpoint_every;
        let scheduled = step == end || (every > 0 && step % every == 0);
        let epoch_ended =
            step * accumulate / batches_per_epoch > (step - 1) * accumulate / batches_per_epoch;
        let minutes = config.train.checkpoint_minutes;
        let checkpoint_due = scheduled
            || epoch_ended
            || (minutes > 0.0 && last_checkpoint.elapsed().as_secs_f64() >= minutes * 60.0);
        let probe_due = probe.as_ref().is_some_and(|p| match p.every {
            0 => scheduled,
            n => step % n == 0 || step == end,
        });
        let mut line = (step % log_every == 0 || step == end || probe_due).then(|| {
            let mut extra: std::collections::BTreeMap<String, f64> = output
                .metrics
                .into_iter()
                .map(|(k, v)| (k.to_string(), f64::from(v.into_scalar::<f32>())))
                .collect();
            if let Some(embedding) = output.embedding {
                let indicators = collapse::indicators(embedding);
                extra.insert("emb_std".into(), indicators.std);
                extra.insert("eff_rank".into(), indicators.effective_rank);
            }
            MetricsLine {
                step,
                epoch,
                loss,
                lr,
                images_per_sec: 0.0,
                data_wait: 0.0,
                extra,
            }
        });
        if let (Some(probe), Some(line)) = (probe.as_ref().filter(|_| probe_due), line.as_mut()) {
            let top1 = probe.knn_top1(&replicas.net().encoder, &r.input, replicas.device())?;
            line.extra.insert("knn_top1".into(), top1);
        }
        reporter.step(step, line.as_mut())?;
        if checkpoint_due {
            let (net, device) = (replicas.net(), replicas.device());
            save_checkpoint(net, replicas.optimizer(), &out, header(step))?;
            last_checkpoint = std::time::Instant::now();
            // Pictures follow the step schedule (like the probe), so that they come evenly.
            if scheduled {
                save_picture(
                    r.method.as_ref(),
                    net,
                    &samples,
                    device,
                    &mut reporter,
                    step,
                )?;
            }
        }
    }
    reporter.finish();
    summary.steps = step;
    summary.images_per_sec = (summary.losses.len() * config.train.batch_size) as f64
        * accumulate as f64
        / started.elapsed().as_secs_f64().max(1e-9);
    Ok(summary)
}

/// Writes the method's picture of `samples` (if it draws one) to `pictures/step-N.png` of the
/// run directory and to its TensorBoard files, with the network in inference mode so that
/// drawing changes no batch-norm statistics.
fn save_picture<M: Method>(
    method: &M,
    net: &Network<M::Head>,
    samples: &[M::Sample],
    device: &Device,
    reporter: &mut Reporter,
    step: u64,
) -> Result<()> {
    let inference = device.clone().without_autodiff();
    if let Some(grid) = method.render(&net.valid(), samples, &inference) {
        let dir = reporter.run_dir().join("pictures");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join(format!("step-{step:06}.png"));
        let (png, size) = grid.encode_png(&file)?;
        pretext_data::atomic::write(&file, &png)?;
        reporter.picture(step, png, size)?;
    }
    Ok(())
}

/// Removes the pictures a killed run drew after step `step` (its checkpoint), which the
/// resumed run draws again, as it logs those steps again.
fn remove_pictures_after(out: &std::path::Path, step: u64) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out.join("pictures")) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let drawn_at = name.to_str().and_then(|n| {
            n.strip_prefix("step-")?
                .strip_suffix(".png")?
                .parse::<u64>()
                .ok()
        });
        if drawn_at.is_some_and(|s| s > step) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Draws `count` examples of the method's task with the network's answers into `png`:
/// the network of a checkpoint, or a freshly initialised one (`checkpoint = None`).
pub fn show(
    config: RunConfig,
    checkpoint: Option<&std::path::Path>,
    count: usize,
    png: &std::path::Path,
) -> Result<()> {
    let data = &config.data;
    let source = crate::dataset::open(&data.dataset, data.split, data.skip_corrupt)?;
    let name = config.method.name.clone();
    registry::dispatch(
        &name,
        Show {
            config,
            source,
            checkpoint: checkpoint.map(checkpoint::resolve),
            count,
            png: png.to_path_buf(),
        },
    )?
}

struct Show {
    config: RunConfig,
    source: Arc<dyn ImageSource>,
    checkpoint: Option<PathBuf>,
    count: usize,
    png: PathBuf,
}

impl MethodJob for Show {
    type Output = Result<()>;

    fn run<M: Method>(self) -> Result<()> {
        let Show {
            config,
            source,
            checkpoint,
            count,
            png,
        } = self;
        let count = count.clamp(1, source.len());
        let r = resolve::<M>(config, source)?;
        let device = crate::device::parse(&r.config.train.device)?;
        let saved = checkpoint.as_deref().map(Checkpoint::load).transpose()?;
        let net = network(&r, &device, saved.as_ref().zip(checkpoint.as_deref()))?;
        let order = loader::epoch_order(r.source.len(), r.config.train.seed, 0, true);
        let samples = order[..count]
            .iter()
            .map(|&i| {
                let image = r.input.convert_channels(r.source.get(i)?);
                let mut rng = pretext_data::rng::sample_rng(r.config.train.seed, 0, i as u64);
                r.method.sample(image, r.source.label(i), &mut rng)
            })
            .collect::<Result<Vec<_>>>()?;
        let grid = r
            .method
            .render(&net.valid(), &samples, &device)
            .with_context(|| format!("method `{}` draws no pictures", r.config.method.name))?;
        grid.save_png(&png)?;
        Ok(())
    }
}

/// Scores a checkpoint on its own pretext task over a split of a dataset (by default the
/// test split of its training data): the loss and the method's metrics (e.g. jigsaw or
/// rotation accuracy), averaged over every image, with the network in inference mode and
/// each image's task drawn reproducibly from the run's seed.
pub fn eval_task(
    checkpoint: &std::path::Path,
    overrides: &[String],
    split: pretext_data::Split,
    limit: usize,
) -> Result<Vec<(String, f64)>> {
    let file = checkpoint::resolve(checkpoint);
    let saved = Checkpoint::load(&file)?;
    let config =
        RunConfig::from_toml(&saved.header.config, overrides, &file.display().to_string())?;
    let data = &config.data;
    let source = crate::dataset::open_subset(&data.dataset, split, data.skip_corrupt, limit, 0)?;
    let name = config.method.name.clone();
    registry::dispatch(
        &name,
        TaskEval {
            config,
            source,
            saved,
            file,
        },
    )?
}

struct TaskEval {
    config: RunConfig,
    source: Arc<dyn ImageSource>,
    saved: Checkpoint,
    file: PathBuf,
}

impl MethodJob for TaskEval {
    type Output = Result<Vec<(String, f64)>>;

    fn run<M: Method>(self) -> Result<Vec<(String, f64)>> {
        let TaskEval {
            config,
            source,
            saved,
            file,
        } = self;
        let r = resolve::<M>(config, source)?;
        let device = crate::device::parse(&r.config.train.device)?;
        let net = network(&r, &device, Some((&saved, &file)))?.valid();
        let input = r.input.clone();
        let sampler = Arc::clone(&r.method);
        let labels = Arc::clone(&r.source);
        let batches = loader::spawn(
            Arc::clone(&r.source),
            LoaderConfig {
                batch_size: r.config.train.batch_size,
                seed: r.config.train.seed,
                shuffle: false,
                drop_last: false,
                prefetch: 2,
                epochs: Some(1),
                ..LoaderConfig::default()
            },
            move |image, rng, index| {
                sampler.sample_eval(input.convert_channels(image), labels.label(index), rng)
            },
        );
        let mut sums: Vec<(String, f64)> = Vec::new();
        let mut count = 0usize;
        for batch in batches {
            let samples = batch?.samples.into_iter().collect::<Result<Vec<_>>>()?;
            let output = r.method.step(&net, &samples, &device);
            let n = samples.len() as f64;
            let values = std::iter::once(("loss", output.loss))
                .chain(output.metrics)
                .map(|(k, v)| (k.to_string(), f64::from(v.into_scalar::<f32>()) * n));
            if sums.is_empty() {
                sums = values.collect();
            } else {
                sums.iter_mut().zip(values).for_each(|(s, (_, v))| s.1 += v);
            }
            count += samples.len();
        }
        ensure!(count > 0, "no images to evaluate the task on");
        Ok(sums
            .into_iter()
            .map(|(k, v)| (k, v / count as f64))
            .collect())
    }
}

/// The run's network on `device`: freshly initialised from the run's seed (with the encoder
/// weights of `train.init_encoder` when given), prepared by the method's `after_init` (a
/// target network starts as a copy), then given the weights of `saved` (read from `path`) if
/// any.
fn network<M: Method>(
    r: &Resolved<M>,
    device: &Device,
    saved: Option<(&Checkpoint, &std::path::Path)>,
) -> Result<Network<M::Head>> {
    let mut net = crate::device::seeded(device, r.config.train.seed, || Network {
        encoder: r.encoder.init(device),
        head: r.method.init_head(&r.encoder, device),
    });
    // A resumed run takes every weight from its own checkpoint.
    if let (Some(weights), None) = (&r.config.train.init_encoder, saved) {
        net.encoder = init_encoder(net.encoder, &r.encoder, weights)?;
    }
    let mut net = r.method.after_init(net);
    if let Some((saved, path)) = saved {
        net.encoder = checkpoint::load_record(net.encoder, saved.encoder.clone(), path)?;
        net.head = checkpoint::load_record(net.head, saved.head.clone(), path)?;
    }
    net.encoder = net.encoder.freeze_stages(r.config.train.freeze_stages);
    Ok(net)
}

/// `encoder` with the weights of `path`: a pretext run directory or checkpoint (whose
/// encoder must have the same configuration), or a safetensors file under PyTorch's names.
fn init_encoder(
    encoder: crate::encoder::Encoder,
    config: &EncoderConfig,
    path: &std::path::Path,
) -> Result<crate::encoder::Encoder> {
    let file = checkpoint::resolve(path);
    if !checkpoint::is_checkpoint(&file) {
        return crate::export::import(encoder, path);
    }
    let (header, bytes) = Checkpoint::load_encoder(&file)?;
    ensure!(
        &header.encoder == config,
        "{}: its encoder is {:?}, this run's is {:?} (set [encoder] to match)",
        file.display(),
        header.encoder,
        config
    );
    checkpoint::load_record(encoder, bytes, &file)
}

/// Writes the run's checkpoint into run directory `dir`, keeping the previous one
/// ([`Checkpoint::save_in`]).
fn save_checkpoint<H: Module>(
    net: &Network<H>,
    optimizer: &burn::optim::ModuleOptimizer,
    dir: &std::path::Path,
    header: Header,
) -> Result<()> {
    let optimizer = optimizer
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise optimizer state: {e:?}"))?
        .to_vec();
    Checkpoint {
        header,
        encoder: checkpoint::record_bytes(net.encoder.clone())?,
        head: checkpoint::record_bytes(net.head.clone())?,
        optimizer,
    }
    .save_in(dir)
}

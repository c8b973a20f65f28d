//! The trainer: one explicit loop that drives any [`Method`].
//!
//! It opens the data, resolves the configuration ([`resolve`]), builds the network, and then
//! repeats *batch → method step → backward → optimiser step → method after-step*, logging
//! metrics and writing atomic checkpoints on the run's [`schedule::Plan`]. `--resume`
//! restores weights, optimiser state and the step counter; the data order and every
//! augmentation depend only on (seed, epoch, index), so a resumed run continues exactly where
//! the killed one stopped.

pub mod collapse;
pub mod lock;
pub mod measure;
pub mod optim;
pub mod parallel;
pub mod pictures;
pub mod probe;
pub mod progress;
mod resolve;
mod run_dir;
pub mod schedule;
pub mod task;

use crate::checkpoint::{Checkpoint, Header};
use crate::config::RunConfig;
use crate::method::MethodJob;
use crate::method::{Method, Progress, StepOutput};
use anyhow::{Context, Result, bail};
pub use measure::{Measure, Throughput, measure};
use pretext_data::ImageSource;
use pretext_data::loader::Loader;
use progress::{MetricsLine, Reporter};
use resolve::{Resolved, resolve};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
pub use task::{detect_objects, eval_task, segment_pixels, show};

/// How to start a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Continue from the run directory's checkpoint (or start, when it has none yet).
    pub resume: bool,
    /// No progress bar or progress lines (metrics are still written).
    pub quiet: bool,
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
}

/// Runs (or resumes) the pretraining `config` describes.
pub fn pretrain(config: RunConfig, options: RunOptions) -> Result<RunSummary> {
    let source = crate::dataset::open_training(&config.data, config.train.seed)?;
    let name = config.method.name.clone();
    crate::method::dispatch(
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

impl MethodJob for Pretrain {
    type Output = Result<RunSummary>;

    fn run<M: Method>(self) -> Result<RunSummary> {
        train(resolve::<M>(self.config, self.source)?, &self.options)
    }
}

fn train<M: Method>(r: Resolved<M>, options: &RunOptions) -> Result<RunSummary> {
    let (config, out) = (&r.config, &r.config.train.out);
    let run_dir = run_dir::open(&r, options.resume)?;
    let previous = run_dir.previous.as_ref();
    let mut replicas = r.replicas(previous.map(|(p, f)| (p, f.as_path())))?;
    let mut step = previous.map_or(0, |(p, _)| p.header.step);
    let plan = schedule::Plan::new(config, r.batches_per_epoch()?, r.ranks.size)?;
    let mut summary = RunSummary {
        out: out.clone(),
        steps: step,
        losses: Vec::new(),
        images_per_sec: 0.0,
        train_images: r.source.len(),
    };
    if step >= plan.end {
        return Ok(summary);
    }
    // Rank 0 probes for all.
    let probe = match r.ranks.is_first() {
        true => probe::Probe::open(config)?,
        false => None,
    };
    let metrics = out.join("metrics.jsonl");
    let mut reporter = match r.ranks.is_first() {
        true => Reporter::new(&metrics, step, plan.end, options.quiet)?,
        false => Reporter::follower(&metrics, step, plan.end),
    };
    let started = Instant::now();
    let mut last_checkpoint = started;
    let mut loader = r.batches(step * plan.accumulate)?;
    while step < plan.end {
        let (loss, epoch, output, samples) =
            accumulated_step(&r, &mut replicas, &mut loader, &mut reporter, &plan, step)?;
        let (lr, weight_decay) = (plan.lr.at(step), plan.weight_decay.at(step));
        step += 1;
        r.update(&mut replicas, (lr, weight_decay), step, plan.total)?;
        summary.losses.push(loss);
        let due = plan
            .due(
                step,
                last_checkpoint.elapsed(),
                probe.as_ref().map(|p| p.every),
            )
            .for_rank(r.ranks);
        let mut line = due
            .log
            .then(|| MetricsLine::of_step(step, epoch, loss, lr, output));
        if let (Some(probe), Some(line)) = (probe.as_ref().filter(|_| due.probe), line.as_mut()) {
            let results = probe.run(&replicas.net().encoder, &r.input, replicas.device())?;
            line.extra
                .extend(results.map(|(key, value)| (key.to_string(), value)));
        }
        reporter.step(step, line.as_mut())?;
        if due.checkpoint {
            let (net, device) = (replicas.net(), replicas.device());
            let header = Header {
                method: config.method.name.clone(),
                encoder: r.encoder.clone(),
                input: r.input.clone(),
                step,
                config: r.text.clone(),
                transfer: None,
            };
            let transfer = r.method.transfer_encoder(net);
            Checkpoint::of(header, net, replicas.optimizer(), transfer)?.save_in(out)?;
            last_checkpoint = Instant::now();
            if due.scheduled {
                let method = r.method.as_ref();
                pictures::save(method, net, &samples, device, &mut reporter, step)?;
            }
        }
    }
    reporter.finish();
    summary.steps = step;
    let images =
        summary.losses.len() * config.train.batch_size * plan.accumulate as usize * r.ranks.size;
    summary.images_per_sec = images as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok(summary)
}

/// The forward and backward passes of optimiser step `step` (0-based): the summed gradients
/// of `plan.accumulate` batches, each batch's loss divided by the count so that the step
/// equals one on the whole effective batch. Returns the step's loss, the epoch of its last
/// batch, and that batch's output and samples (for the metrics and the task's picture).
fn accumulated_step<M: Method>(
    r: &Resolved<M>,
    replicas: &mut parallel::Replicas<M::Head>,
    loader: &mut Loader<Result<M::Sample>>,
    reporter: &mut Reporter,
    plan: &schedule::Plan,
    step: u64,
) -> Result<(f64, u64, StepOutput, Vec<M::Sample>)> {
    let parts = plan.accumulate;
    let mut loss = 0.0;
    let mut last = None;
    for _ in 0..parts {
        let waiting = Instant::now();
        let batch = loader
            .next()
            .context("the data loader stopped before the last step")??;
        reporter.add_wait(waiting.elapsed());
        let samples = batch.samples.into_iter().collect::<Result<Vec<_>>>()?;
        let progress = Progress {
            step: step + 1,
            total_steps: plan.total,
        };
        let (value, output) =
            replicas.forward_backward(r.method.as_ref(), &samples, parts, progress)?;
        if !value.is_finite() {
            bail!(
                "loss became {value} at step {step}; the last checkpoint in {} is intact (try a lower optim.lr)",
                r.config.train.out.display()
            );
        }
        loss += value / parts as f64;
        reporter.add_images((samples.len() * r.ranks.size) as u64);
        last = Some((batch.epoch, output, samples));
    }
    let (epoch, output, samples) = last.context("train.accumulate is 0")?;
    Ok((loss, epoch, output, samples))
}

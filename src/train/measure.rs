//! `--pipeline-only` and `--compute-only`: the two halves of the trainer, each timed alone,
//! so that a slow run can be blamed on the right one. Nothing is written.

use super::resolve::{Resolved, resolve};
use crate::config::RunConfig;
use crate::kernels::profile;
use crate::method::MethodJob;
use crate::method::{Method, Progress};
use anyhow::{Context, Result};
use pretext_data::ImageSource;
use std::sync::Arc;
use std::time::Instant;

/// What to measure.
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

/// What a measurement found.
#[derive(Clone, Debug, Default)]
pub struct Throughput {
    /// Images per second.
    pub images_per_sec: f64,
    /// Optimiser steps timed (0 for the pipeline).
    pub steps: u64,
    /// Loss of every step run, the warm-up steps first (empty for the pipeline).
    pub losses: Vec<f64>,
    /// What each of pretext's kernels did in the timed steps (the rest of
    /// [`Throughput::step_seconds`] is burn's own work). Empty for the pipeline.
    pub kernels: Vec<profile::Total>,
    /// The convolutions' time per layer geometry. Empty for the pipeline.
    pub layers: Vec<profile::Layer>,
    /// Wall-clock seconds of the timed steps (0 for the pipeline).
    pub step_seconds: f64,
}

/// Measures one half of the training step `config` describes.
pub fn measure(config: RunConfig, what: Measure) -> Result<Throughput> {
    let source = crate::dataset::open_training(&config.data, config.train.seed)?;
    let name = config.method.name.clone();
    crate::method::dispatch(
        &name,
        Job {
            config,
            source,
            what,
        },
    )?
}

struct Job {
    config: RunConfig,
    source: Arc<dyn ImageSource>,
    what: Measure,
}

impl MethodJob for Job {
    type Output = Result<Throughput>;

    fn run<M: Method>(self) -> Result<Throughput> {
        let r = resolve::<M>(self.config, self.source)?;
        match self.what {
            Measure::Pipeline(batches) => pipeline(&r, batches),
            Measure::Compute(steps) => compute(&r, steps),
        }
    }
}

/// Images per second the data pipeline alone delivers (decode, augment, build the method's
/// inputs), over `count` batches.
fn pipeline<M: Method>(r: &Resolved<M>, count: u64) -> Result<Throughput> {
    let started = Instant::now();
    let mut images = 0;
    for batch in r.batches(0)?.take(count as usize) {
        for sample in batch?.samples {
            sample?;
            images += 1;
        }
    }
    Ok(Throughput {
        images_per_sec: images as f64 / started.elapsed().as_secs_f64().max(1e-9),
        ..Throughput::default()
    })
}

/// Images per second of the trainer's step alone (forward, backward, optimiser update,
/// after-step), over `steps` steps on one batch built once, after two untimed warm-up steps.
fn compute<M: Method>(r: &Resolved<M>, steps: u64) -> Result<Throughput> {
    const WARMUP: u64 = 2;
    let mut replicas = r.replicas(None)?;
    let batch = r
        .batches(0)?
        .next()
        .context("the data loader delivered no batch")??;
    let samples = batch.samples.into_iter().collect::<Result<Vec<_>>>()?;
    let total = WARMUP + steps;
    let mut losses = Vec::new();
    let mut started = Instant::now();
    for step in 0..total {
        if step == WARMUP {
            started = Instant::now();
            profile::reset();
        }
        let progress = Progress {
            step: step + 1,
            total_steps: total,
        };
        let (loss, _) = replicas.forward_backward(r.method.as_ref(), &samples, 1, progress)?;
        let optim = &r.config.optim;
        r.update(
            &mut replicas,
            (optim.lr, optim.weight_decay),
            step + 1,
            total,
        )?;
        losses.push(loss);
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    Ok(Throughput {
        images_per_sec: (steps as usize * samples.len()) as f64 / elapsed,
        steps,
        losses,
        kernels: profile::totals(),
        layers: profile::layers(),
        step_seconds: elapsed,
    })
}

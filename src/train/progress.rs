//! Training progress for people (a progress bar, or plain lines when the output is not a
//! terminal) and for programs (`metrics.jsonl`, one JSON object per logged step).

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use crate::method::StepOutput;
use crate::tensorboard::EventWriter;
use std::collections::BTreeMap;

/// One logged step.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MetricsLine {
    /// Optimiser steps completed.
    pub step: u64,
    /// Epoch the step belongs to (0-based).
    pub epoch: u64,
    /// Loss of this step.
    pub loss: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Raw images per second over the last logging window.
    pub images_per_sec: f64,
    /// Share of the last logging window the trainer spent waiting for the data loader
    /// (0 when the pipeline keeps up).
    #[serde(default)]
    pub data_wait: f64,
    /// Method-specific metrics (e.g. the pretext task's accuracy).
    #[serde(flatten)]
    pub extra: BTreeMap<String, f64>,
}

/// Rewrites `metrics.jsonl` at `path` (if it exists) without the lines after step `step` and
/// without lines that do not parse (the half-written last line of a killed run).
fn keep_until(path: &Path, step: u64) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| {
            line.ends_with('\n')
                && serde_json::from_str::<serde_json::Value>(line)
                    .is_ok_and(|l| l["step"].as_u64().is_some_and(|s| s <= step))
        })
        .collect();
    if kept.len() < text.len() {
        pretext_data::atomic::write(path, kept.as_bytes())?;
    }
    Ok(())
}

impl MetricsLine {
    /// The line of optimiser step `step` (in `epoch`, at learning rate `lr`, of loss `loss`):
    /// the method's metrics and, for a method that reports its embeddings, the collapse
    /// indicators ([`super::collapse`]). The throughput fields are the reporter's to fill.
    pub fn of_step(step: u64, epoch: u64, loss: f64, lr: f64, output: StepOutput) -> Self {
        let mut extra: BTreeMap<String, f64> = output
            .metrics
            .into_iter()
            .map(|(k, v)| (k.to_string(), f64::from(v.into_scalar::<f32>())))
            .collect();
        if let Some(embedding) = output.embedding {
            let indicators = super::collapse::indicators(embedding);
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
    }

    /// Every number of the line by its `metrics.jsonl` name (what TensorBoard shows).
    pub fn scalars(&self) -> impl Iterator<Item = (&str, f64)> {
        [
            ("epoch", self.epoch as f64),
            ("loss", self.loss),
            ("lr", self.lr),
            ("images_per_sec", self.images_per_sec),
            ("data_wait", self.data_wait),
        ]
        .into_iter()
        .chain(self.extra.iter().map(|(k, v)| (k.as_str(), *v)))
    }
}

/// Reports progress on the terminal and appends metrics to the run directory (`metrics.jsonl`
/// and TensorBoard event files).
pub struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// `metrics.jsonl` and the TensorBoard events; `None` for a rank other than 0, which
    /// writes nothing.
    sink: Option<(std::fs::File, EventWriter)>,
    total: u64,
    window_start: Instant,
    window_images: u64,
    window_wait: std::time::Duration,
    started: Instant,
    start_step: u64,
    metrics_path: std::path::PathBuf,
}

impl Reporter {
    /// Starts reporting a run of `total` steps that resumes at `start_step`; metrics are
    /// appended to `metrics_path`.
    ///
    /// Lines a killed run logged after its checkpoint (and a line the kill cut short) are
    /// removed first: the resumed run logs those steps again, identically.
    pub fn new(metrics_path: &Path, start_step: u64, total: u64, quiet: bool) -> Result<Self> {
        keep_until(metrics_path, start_step)?;
        let dir = metrics_path.parent().unwrap_or(Path::new("."));
        let events = EventWriter::create(dir, (start_step > 0).then_some(start_step + 1))?;
        let metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(metrics_path)
            .with_context(|| format!("cannot open {}", metrics_path.display()))?;
        let mut reporter = Reporter::follower(metrics_path, start_step, total);
        reporter.sink = Some((metrics, events));
        reporter.quiet = quiet;
        reporter.bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(start_step);
            bar.reset_eta();
            bar
        });
        Ok(reporter)
    }

    /// A reporter for a rank other than 0 of a run several processes train together: it
    /// prints and writes nothing (rank 0 reports for all).
    pub fn follower(metrics_path: &Path, start_step: u64, total: u64) -> Self {
        Reporter {
            bar: None,
            quiet: true,
            sink: None,
            total,
            window_start: Instant::now(),
            window_images: 0,
            window_wait: std::time::Duration::ZERO,
            started: Instant::now(),
            start_step,
            metrics_path: metrics_path.to_path_buf(),
        }
    }

    /// The run directory (where `metrics.jsonl` is).
    pub fn run_dir(&self) -> &Path {
        self.metrics_path.parent().unwrap_or(Path::new("."))
    }

    /// Logs the task's picture of `step` (PNG, `width × height`) to TensorBoard.
    pub fn picture(&mut self, step: u64, png: Vec<u8>, size: [u32; 2]) -> Result<()> {
        match &mut self.sink {
            Some((_, events)) => events.image(step, "task", png, size),
            None => Ok(()),
        }
    }

    /// Counts the images of one finished step.
    pub fn add_images(&mut self, images: u64) {
        self.window_images += images;
    }

    /// Counts time the trainer spent waiting for the next batch.
    pub fn add_wait(&mut self, wait: std::time::Duration) {
        self.window_wait += wait;
    }

    /// Updates the bar for a finished step; `line` is given on logging steps and is written
    /// to `metrics.jsonl` (and printed when there is no bar).
    pub fn step(&mut self, step: u64, line: Option<&mut MetricsLine>) -> Result<()> {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
        }
        let (Some(line), Some((metrics, events))) = (line, &mut self.sink) else {
            return Ok(());
        };
        let elapsed = self.window_start.elapsed().as_secs_f64().max(1e-9);
        line.images_per_sec = self.window_images as f64 / elapsed;
        line.data_wait = (self.window_wait.as_secs_f64() / elapsed).min(1.0);
        self.window_start = Instant::now();
        self.window_images = 0;
        self.window_wait = std::time::Duration::ZERO;
        let mut text = serde_json::to_string(line)?;
        text.push('\n');
        metrics
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", self.metrics_path.display()))?;
        events.scalars(step, line.scalars())?;
        let extra: String = line
            .extra
            .iter()
            .map(|(k, v)| format!(" {k} {v:.4}"))
            .collect();
        let message = format!(
            "loss {:.4} lr {:.4} {:.0} img/s (data wait {:.0} %){extra}",
            line.loss,
            line.lr,
            line.images_per_sec,
            100.0 * line.data_wait
        );
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None if self.quiet => {}
            None => {
                let done = step.saturating_sub(self.start_step) as f64;
                let rate = done / self.started.elapsed().as_secs_f64().max(1e-9);
                let eta = (self.total.saturating_sub(step)) as f64 / rate.max(1e-9);
                eprintln!(
                    "step {step}/{} epoch {} {message} ETA {}",
                    self.total,
                    line.epoch,
                    format_secs(eta)
                );
            }
        }
        Ok(())
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `h:mm:ss` for a number of seconds.
pub fn format_secs(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

//! A run's plan by optimiser step: how many steps it has, the learning rate of each (linear
//! warm-up, then cosine decay: Loshchilov & Hutter 2017, without restarts), and at which
//! steps it logs, probes and writes checkpoints.

use crate::config::RunConfig;
use crate::distributed::Ranks;
use anyhow::{Result, ensure};
use std::time::Duration;

/// Linear warm-up over `warmup` steps to `base`, then half-cosine decay to `min` at `total`.
#[derive(Clone, Copy, Debug)]
pub struct WarmupCosine {
    /// Peak learning rate.
    pub base: f64,
    /// Final learning rate.
    pub min: f64,
    /// Warm-up steps.
    pub warmup: u64,
    /// Total steps of the run.
    pub total: u64,
}

impl WarmupCosine {
    /// The learning rate of step `step` (0-based).
    ///
    /// Warm-up: `base · (step + 1) / warmup`. Decay: `min + (base − min) · ½ (1 + cos(π t))`
    /// with `t = (step − warmup) / (total − warmup)`.
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        self.min + (self.base - self.min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// What a run does at each optimiser step, from its configuration.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Batches whose gradients one optimiser step sums (`train.accumulate`).
    pub accumulate: u64,
    /// Batches in one epoch.
    pub batches_per_epoch: u64,
    /// Optimiser steps of the whole run (`train.epochs`), the schedule's length.
    pub total: u64,
    /// The step this invocation stops at (`train.max_steps`, at most `total`).
    pub end: u64,
    /// The learning rate (scaled by `optim.lr_scaling` for the effective batch).
    pub lr: WarmupCosine,
    /// The weight decay: `optim.weight_decay`, or a cosine from it to
    /// `optim.weight_decay_end` over the run (no warm-up).
    pub weight_decay: WarmupCosine,
    checkpoint_every: u64,
    checkpoint_minutes: f64,
    log_every: u64,
}

/// What is due after an optimiser step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// A line goes to `metrics.jsonl`.
    pub log: bool,
    /// A checkpoint is written.
    pub checkpoint: bool,
    /// A step-scheduled checkpoint (`train.checkpoint_every`, or the last step): the ones
    /// that also draw the task's picture, so that pictures come evenly.
    pub scheduled: bool,
    /// The kNN probe runs.
    pub probe: bool,
}

impl Due {
    /// What of `self` falls to the process `ranks` names: everything to rank 0, nothing to the
    /// others, which train and leave logging, probing, checkpoints and pictures to rank 0.
    pub fn for_rank(self, ranks: Ranks) -> Due {
        match ranks.is_first() {
            true => self,
            false => Due {
                log: false,
                checkpoint: false,
                scheduled: false,
                probe: false,
            },
        }
    }
}

impl Plan {
    /// The plan of `config` for data of `batches_per_epoch` batches, trained by `ranks`
    /// processes together (each batch holds `ranks × train.batch_size` images).
    pub fn new(config: &RunConfig, batches_per_epoch: u64, ranks: usize) -> Result<Plan> {
        let (train, optim) = (&config.train, &config.optim);
        let accumulate = train.accumulate.max(1) as u64;
        let total = train.epochs * batches_per_epoch / accumulate;
        ensure!(
            total > 0,
            "train.accumulate = {accumulate} batches is more than the whole run holds"
        );
        let scale = optim
            .lr_scaling
            .factor(train.batch_size * ranks * accumulate as usize);
        let warmup = optim.warmup_epochs * (batches_per_epoch / accumulate) as f64;
        Ok(Plan {
            accumulate,
            batches_per_epoch,
            total,
            end: match train.max_steps {
                0 => total,
                n => n.min(total),
            },
            lr: WarmupCosine {
                base: optim.lr * scale,
                min: optim.min_lr,
                warmup: warmup.round() as u64,
                total,
            },
            weight_decay: WarmupCosine {
                base: optim.weight_decay,
                min: optim.weight_decay_end.unwrap_or(optim.weight_decay),
                warmup: 0,
                total,
            },
            checkpoint_every: train.checkpoint_every,
            checkpoint_minutes: train.checkpoint_minutes,
            log_every: train.log_every.max(1),
        })
    }

    /// What is due once optimiser step `step` (1-based) is done, `since_checkpoint` after
    /// the last checkpoint, with a probe every `probe_every` steps (`Some(0)`: at the
    /// scheduled checkpoints; `None`: no probe). Checkpoints come at the scheduled steps, at
    /// every epoch's end and every `train.checkpoint_minutes`.
    pub fn due(&self, step: u64, since_checkpoint: Duration, probe_every: Option<u64>) -> Due {
        let every = self.checkpoint_every;
        let scheduled = step == self.end || (every > 0 && step.is_multiple_of(every));
        let epoch = |s: u64| s * self.accumulate / self.batches_per_epoch;
        let epoch_ended = epoch(step) > epoch(step - 1);
        let minutes = self.checkpoint_minutes;
        let timed = minutes > 0.0 && since_checkpoint.as_secs_f64() >= minutes * 60.0;
        let probe = probe_every.is_some_and(|n| match n {
            0 => scheduled,
            n => step.is_multiple_of(n) || step == self.end,
        });
        Due {
            log: step.is_multiple_of(self.log_every) || step == self.end || probe,
            checkpoint: scheduled || epoch_ended || timed,
            scheduled,
            probe,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = WarmupCosine {
            base: 1.0,
            min: 0.0,
            warmup: 4,
            total: 14,
        };
        assert_eq!(s.at(0), 0.25);
        assert_eq!(s.at(3), 1.0);
        assert_eq!(s.at(4), 1.0);
        assert!((s.at(9) - 0.5).abs() < 1e-12); // halfway through the decay
        assert!(s.at(13) < 0.03 && s.at(13) > 0.0);
        let no_warmup = WarmupCosine { warmup: 0, ..s };
        assert_eq!(no_warmup.at(0), 1.0);
    }

    #[test]
    fn checkpoints_come_at_steps_epoch_ends_and_minutes() {
        let config = |accumulate: u64| {
            let overrides = [
                "method.name=\"rotation\"".to_string(),
                "data.dataset=\"folder:images\"".into(),
                "train.epochs=2".into(),
                format!("train.accumulate={accumulate}"),
                "train.checkpoint_every=4".into(),
                "train.checkpoint_minutes=10.0".into(),
                "train.log_every=3".into(),
            ];
            RunConfig::from_toml("", &overrides, "test").unwrap()
        };
        // 10 batches an epoch, 2 per step: 5 steps an epoch, 10 in the run.
        let plan = Plan::new(&config(2), 10, 1).unwrap();
        assert_eq!((plan.total, plan.end), (10, 10));
        let now = Duration::ZERO;
        let checkpoints: Vec<u64> = (1..=10)
            .filter(|&s| plan.due(s, now, None).checkpoint)
            .collect();
        assert_eq!(checkpoints, [4, 5, 8, 10]);
        assert!(plan.due(1, Duration::from_secs(600), None).checkpoint);
        assert!(
            !plan.due(5, now, None).scheduled,
            "an epoch end draws no picture"
        );
        let logged: Vec<u64> = (1..=10).filter(|&s| plan.due(s, now, None).log).collect();
        assert_eq!(logged, [3, 6, 9, 10]);
        let probed: Vec<u64> = (1..=10)
            .filter(|&s| plan.due(s, now, Some(0)).probe)
            .collect();
        assert_eq!(probed, [4, 8, 10]);
        assert!(plan.due(4, now, Some(0)).log, "a probed step is logged");
        assert!(Plan::new(&config(40), 10, 1).is_err());
    }

    /// DINO's weight-decay schedule: a cosine from `optim.weight_decay` at the first step to
    /// `optim.weight_decay_end` at the last, without warm-up; constant when the end is unset.
    #[test]
    fn weight_decay_follows_a_cosine_to_its_end() {
        let plan = |extra: &[&str]| {
            let mut overrides = vec![
                "method.name=\"rotation\"".to_string(),
                "data.dataset=\"folder:images\"".into(),
                "optim.name=\"adamw\"".into(),
                "optim.weight_decay=0.04".into(),
                "optim.warmup_epochs=1.0".into(),
            ];
            overrides.extend(extra.iter().map(|s| s.to_string()));
            Plan::new(
                &RunConfig::from_toml("", &overrides, "test").unwrap(),
                10,
                1,
            )
            .unwrap()
        };
        let scheduled = plan(&["optim.weight_decay_end=0.4"]);
        let total = scheduled.total;
        assert!((scheduled.weight_decay.at(0) - 0.04).abs() < 1e-12);
        assert!((scheduled.weight_decay.at(total / 2) - 0.22).abs() < 1e-12);
        assert!((scheduled.weight_decay.at(total) - 0.4).abs() < 1e-12);
        let constant = plan(&[]);
        assert!((0..=total).all(|s| constant.weight_decay.at(s) == 0.04));
        // SGD's decay is burn's, fixed: the key is refused with its name.
        let err = RunConfig::from_toml(
            "",
            &[
                "method.name=\"rotation\"".into(),
                "data.dataset=\"folder:images\"".into(),
                "optim.weight_decay_end=0.4".into(),
            ],
            "test",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("optim.weight_decay_end"),
            "{err:#}"
        );
    }
}

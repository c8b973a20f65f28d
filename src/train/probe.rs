//! The kNN probe that watches an encoder during pretraining (see
//! [`crate::config::ProbeConfig`]): how well the current features classify held-out images,
//! logged as `knn_top1` beside the loss, with the collapse indicators of those features.

use super::collapse;
use crate::config::RunConfig;
use crate::encoder::Encoder;
use crate::eval::features::extract;
use crate::eval::knn::{KnnConfig, knn_top1};
use crate::eval::precise_bn::reestimate;
use crate::input::InputSpec;
use anyhow::Result;
use burn::prelude::*;
use pretext_data::{ImageSource, Split};
use std::sync::Arc;

/// Labelled images to probe with.
pub struct Probe {
    /// Probe every this many steps (0 = at checkpoints and the end).
    pub every: u64,
    precise_bn: usize,
    bank: Arc<dyn ImageSource>,
    queries: Arc<dyn ImageSource>,
}

impl Probe {
    /// The probe a run asks for, or `None` (with a note in the log) when it is disabled or
    /// the data has no labelled train and test splits.
    pub fn open(config: &RunConfig) -> Result<Option<Probe>> {
        let p = &config.probe;
        if !p.enabled {
            return Ok(None);
        }
        let data = &config.data;
        let open = |split, count| {
            crate::dataset::open_subset(
                &data.dataset,
                split,
                data.skip_corrupt,
                count,
                config.train.seed,
            )
        };
        let (bank, queries) = match (open(Split::Train, p.bank), open(Split::Test, p.queries)) {
            (Ok(bank), Ok(queries)) => (bank, queries),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("no kNN probe during training: {e:#}");
                return Ok(None);
            }
        };
        if bank.label(0).is_none() || queries.label(0).is_none() {
            tracing::warn!(
                "no kNN probe during training: {} has no labels",
                data.dataset
            );
            return Ok(None);
        }
        Ok(Some(Probe {
            every: p.every,
            precise_bn: p.precise_bn,
            bank,
            queries,
        }))
    }

    /// The probe of `encoder` on `device`'s inner (non-autodiff) backend, in inference mode
    /// (after re-estimating its batch-norm statistics on the bank when the config asks):
    /// `knn_top1`, the kNN top-1 accuracy (k = 200, T = 0.1) of the queries, and the collapse
    /// indicators of the bank's and queries' features, `feat_std` and `rankme`
    /// ([`collapse`]), as `metrics.jsonl` names them.
    pub fn run(
        &self,
        encoder: &Encoder,
        input: &InputSpec,
        device: &Device,
    ) -> Result<[(&'static str, f64); 3]> {
        let device = device.clone().without_autodiff();
        let bank = self.bank.as_ref();
        let reestimated;
        let encoder = match self.precise_bn {
            0 => encoder,
            n => {
                reestimated = reestimate(encoder, input, bank, n, 256, &device)?;
                &reestimated
            }
        };
        let bank = extract(encoder, input, bank, &device, 256)?;
        let queries = extract(encoder, input, self.queries.as_ref(), &device, 256)?;
        let top1 = knn_top1(&bank, &queries, &KnnConfig::default(), &device)?;
        let rows = bank.len() + queries.len();
        let features = collapse::of_rows([bank.data, queries.data].concat(), rows, bank.dim);
        Ok([
            ("knn_top1", top1),
            ("feat_std", features.std),
            ("rankme", features.effective_rank),
        ])
    }
}

//! The kNN probe that watches an encoder during pretraining (see
//! [`crate::config::ProbeConfig`]): how well the current features classify held-out images,
//! logged as `knn_top1` beside the loss.

use crate::config::RunConfig;
use crate::encoder::Encoder;
use crate::eval::features::extract;
use crate::eval::knn::{KnnConfig, knn_top1};
use crate::input::InputSpec;
use anyhow::Result;
use burn::prelude::*;
use pretext_data::{ImageSource, Split};
use std::sync::Arc;

/// Labelled images to probe with.
pub struct Probe {
    /// Probe every this many steps (0 = at checkpoints and the end).
    pub every: u64,
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
            bank,
            queries,
        }))
    }

    /// kNN top-1 accuracy (k = 200, T = 0.1) of the queries with `encoder`'s features, the
    /// encoder in inference mode on `device`'s inner (non-autodiff) backend.
    pub fn knn_top1(&self, encoder: &Encoder, input: &InputSpec, device: &Device) -> Result<f64> {
        let device = device.clone().without_autodiff();
        let bank = extract(encoder, input, self.bank.as_ref(), &device, 256)?;
        let queries = extract(encoder, input, self.queries.as_ref(), &device, 256)?;
        knn_top1(&bank, &queries, &KnnConfig::default(), &device)
    }
}

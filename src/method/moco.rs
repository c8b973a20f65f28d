//! MoCo v2: "Momentum Contrast for Unsupervised Visual Representation Learning" (He et al.,
//! CVPR 2020) with the improvements of "Improved Baselines with Momentum Contrastive
//! Learning" (Chen et al., 2020): an MLP projection head, blur in the augmentations, T = 0.2.
//!
//! A query view goes through the online encoder and head; a key view of the same image goes
//! through a momentum copy, updated as `θ_k ← m θ_k + (1 − m) θ_q`. The query must pick its
//! key out of a queue of the keys of earlier batches: InfoNCE (eq. 1)
//!
//! ```text
//! L_q = −log  exp(q·k₊/T) / (exp(q·k₊/T) + Σ_{k₋ ∈ queue} exp(q·k₋/T))
//! ```
//!
//! After each step the batch's keys (every rank's, over MPI) enter the queue and the oldest leave
//! it. The queue starts as random unit vectors; `queue_real`, logged at every step, is the share of
//! it that holds real keys. A queue larger than the keys a run produces (steps × batch, twice that
//! with the symmetric loss) is never filled, and one as large as the dataset holds several keys of
//! the same image: both get a warning when the run starts.

use super::embedding::l2_normalize;
use super::gather;
use super::views::{self, Sampler, Views};
use super::{Method, MethodContext, Network, Progress, StepOutput, accuracy, cross_entropy};
use super::target::{self, TargetHead};
use crate::ema::Target;
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::{Mlp, MlpConfig};
use burn::module::RunningState;
use burn::prelude::*;
use burn::tensor::Distribution;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of MoCo v2 (defaults: the paper's: queue 65536, m = 0.999, T = 0.2, head
/// 2048 → 128 without batch norm, MoCo v2's views).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocoConfig {
    /// Query view's augmentations; `size` 0 = the run's image size.
    pub view1: ViewConfig,
    /// Key view's augmentations.
    pub view2: ViewConfig,
    /// Projection head (paper: 2048 hidden with ReLU, 128 out, no batch norm).
    pub projector: MlpConfig,
    /// Number of negative keys kept (paper: 65536).
    pub queue_size: usize,
    /// Softmax temperature T (paper: 0.2).
    pub temperature: f64,
    /// Momentum m of the key encoder at the first step (paper: 0.999, constant).
    pub tau_base: f64,
    /// Momentum at the last step, reached on BYOL's cosine schedule (paper: equal to
    /// `tau_base`; MoCo v2+ and v3 use 0.99 → 1).
    pub tau_end: f64,
    /// Also use the second view as query and the first as key (MoCo v2+, v3); the paper's
    /// loss is asymmetric.
    pub symmetric: bool,
    /// The key batch goes through the momentum encoder in this many groups, each with its own
    /// batch-norm statistics: the single-device form of the paper's shuffling BN (§3.3), so
    /// that a query and its key never share batch statistics.
    pub key_groups: usize,
}

impl Default for MocoConfig {
    fn default() -> Self {
        MocoConfig {
            view1: ViewConfig::moco_v2(0),
            view2: ViewConfig::moco_v2(0),
            projector: MlpConfig {
                batch_norm: false,
                ..MlpConfig::new(&[2048], 128)
            },
            queue_size: 65536,
            temperature: 0.2,
            tau_base: 0.999,
            tau_end: 0.999,
            symmetric: false,
            key_groups: 2,
        }
    }
}

/// MoCo v2.
pub struct Moco {
    config: MocoConfig,
    views: Sampler,
}

/// The online head, the momentum encoder and head, and the queue of negative keys.
#[derive(Module, Debug)]
pub struct MocoHead {
    /// Online projection head.
    pub projector: Mlp,
    /// Momentum ("key") encoder and head.
    pub key: Target<Mlp>,
    /// `[queue_size, D]` unit-norm keys of earlier batches, newest first.
    pub queue: RunningState<Tensor<2>>,
    /// `[1]`: how many rows of the queue hold real keys (the rest are the random start).
    pub filled: RunningState<Tensor<1>>,
}

impl TargetHead for MocoHead {
    type Online = Mlp;

    fn map_target(
        self,
        f: impl FnOnce(Target<Mlp>, &Mlp) -> Target<Mlp>,
    ) -> Self {
        let key = f(self.key, &self.projector);
        MocoHead { key, ..self }
    }
}

/// InfoNCE of queries `q` against their keys `k` (positives, row by row) and the rows of
/// `queue` (negatives), with the accuracy of ranking the positive first. `q` and `k` are
/// normalised here; `queue` must hold unit vectors; no gradient reaches `k`.
pub fn info_nce(
    q: Tensor<2>,
    k: Tensor<2>,
    queue: Tensor<2>,
    temperature: f64,
) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = q.dims();
    let q = l2_normalize(q);
    let positive = (q.clone() * l2_normalize(k.detach())).sum_dim(1);
    let negative = q.matmul(queue.transpose());
    let logits = Tensor::cat(vec![positive, negative], 1).div_scalar(temperature);
    let labels = Tensor::<1, Int>::zeros([n], &logits.device());
    (
        cross_entropy(logits.clone(), labels.clone()),
        accuracy(logits, labels),
    )
}

impl Moco {
    /// Key projections of `x`, computed group by group (see [`MocoConfig::key_groups`]).
    fn keys(&self, key: &Target<Mlp>, x: Tensor<4>) -> Tensor<2> {
        let groups = self.config.key_groups.clamp(1, x.dims()[0].max(1));
        let outputs = x
            .chunk(groups, 0)
            .into_iter()
            .map(|x| key.head.forward(key.encoder.forward(x)))
            .collect();
        l2_normalize(Tensor::cat(outputs, 0)).detach()
    }
}

impl Method for Moco {
    type Config = MocoConfig;
    type Head = MocoHead;
    type Sample = Views;

    fn new(mut config: MocoConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let views = Sampler::resolved([&mut config.view1, &mut config.view2], &context.input)?;
        config.projector.validate("projector")?;
        anyhow::ensure!(config.queue_size > 0, "method.queue_size must be positive");
        anyhow::ensure!(
            config.temperature > 0.0,
            "method.temperature must be positive"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&config.tau_base) && (0.0..=1.0).contains(&config.tau_end),
            "method.tau_base and method.tau_end must be in [0, 1]"
        );
        let keys = context.run.images() * if config.symmetric { 2 } else { 1 };
        let size = config.queue_size as u64;
        if keys > 0 && size > keys {
            tracing::warn!(
                "method.queue_size ({size}) is more than the {keys} keys this run produces: at \
                 the end {:.0} % of the negatives are still the random initial queue; a queue \
                 of at most half the keys is full by mid-run",
                100.0 * (size - keys) as f64 / size as f64
            );
        }
        let images = context.source.len() as u64;
        if images > 0 && size >= images {
            tracing::warn!(
                "method.queue_size ({size}) is at least the dataset's {images} images: the \
                 queue holds older keys of the very images it contrasts against"
            );
        }
        Ok(Moco { config, views })
    }

    fn config(&self) -> &MocoConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, online: &Encoder, device: &Device) -> MocoHead {
        let c = &self.config;
        let projector = c.projector.init(encoder.feature_dim(), device);
        let queue = Tensor::random(
            [c.queue_size, c.projector.out],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        MocoHead {
            key: Target::copy_of(online, &projector),
            projector,
            queue: RunningState::new(l2_normalize(queue)),
            filled: RunningState::new(Tensor::zeros([1], device)),
        }
    }

        fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<Views> {
        self.views.sample(&image, rng)
    }

    fn step(
        &self,
        net: &Network<MocoHead>,
        batch: &[Views],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let head = &net.head;
        let online = |x| head.projector.forward(net.encoder.forward(x));
        // Query view 1 against key view 2; the symmetric loss adds the swapped pair.
        let (queries, keys) = match self.config.symmetric {
            true => (0..2, 0..2),
            false => (0..1, 1..2),
        };
        let q = views::forward(batch, queries, device, online);
        let k = views::forward(batch, keys, device, |x| self.keys(&head.key, x));
        let queue = head.queue.value_sync();
        let t = self.config.temperature;
        let k2 = k[k.len() - 1].clone();
        let (mut loss, mut acc) = info_nce(q[0].clone(), k2.clone(), queue.clone(), t);
        // Every rank's keys enter the queue (MoCo's `concat_all_gather`).
        let mut new_keys = vec![gather::across_ranks(k2)];
        if let Some(q2) = q.get(1) {
            let (l2, a2) = info_nce(q2.clone(), k[0].clone(), queue.clone(), t);
            loss = (loss + l2).mul_scalar(0.5);
            acc = (acc + a2).mul_scalar(0.5);
            new_keys.push(gather::across_ranks(k[0].clone()));
        }
        let pushed: usize = new_keys.iter().map(|k| k.dims()[0]).sum();
        new_keys.push(queue);
        let size = self.config.queue_size;
        let updated = Tensor::cat(new_keys, 0).narrow(0, 0, size);
        head.queue.update(updated.detach());
        let filled = head.filled.value_sync();
        head.filled
            .update(filled.clone().add_scalar(pushed as f64).clamp_max(size as f64));
        StepOutput {
            loss,
            metrics: vec![
                ("contrast_acc", acc),
                ("queue_real", filled.div_scalar(size as f64)),
            ],
            embedding: Some(q[0].clone().detach()),
        }
    }

    fn after_step(&self, net: Network<MocoHead>, progress: Progress) -> Network<MocoHead> {
        target::follow(net, self.config.tau_base, self.config.tau_end, progress)
    }

    fn render(&self, net: &Network<MocoHead>, batch: &[Views], device: &Device) -> Option<Grid> {
        views::render(batch, device, |x| {
            net.head.projector.forward(net.encoder.forward(x))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One query along e₁ with its key along e₁ (similarity 1) and a queue of e₂ and −e₁
    /// (similarities 0 and −1): `L = −log(e^{1/T} / (e^{1/T} + e^0 + e^{−1/T}))`.
    #[test]
    fn info_nce_matches_the_formula_and_stops_the_key_gradient() {
        let device = Device::flex().autodiff();
        let q = Tensor::<2>::from_floats([[2.0, 0.0]], &device).require_grad();
        let k = Tensor::<2>::from_floats([[0.5, 0.0]], &device).require_grad();
        let queue = Tensor::<2>::from_floats([[0.0, 1.0], [-1.0, 0.0]], &device);
        let t = 0.2f64;
        let (loss, acc) = info_nce(q.clone(), k.clone(), queue, t);
        let e = |x: f64| (x / t).exp();
        let want = -(e(1.0) / (e(1.0) + e(0.0) + e(-1.0))).ln();
        let got: f32 = loss.clone().into_scalar();
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
        assert_eq!(acc.into_scalar::<f32>(), 1.0);
        let grads = loss.backward();
        assert!(q.grad(&grads).is_some());
        assert!(k.grad(&grads).is_none());
    }
}

//! BYOL, "Bootstrap Your Own Latent" (Grill et al., NeurIPS 2020).
//!
//! Two augmented views of each image go through an *online* network (encoder → projector →
//! predictor) and a *target* network (encoder → projector). The online prediction of one
//! view regresses the target projection of the other: the normalised MSE
//! `2 − 2·cos(p, sg(z′))` (eq. 2), symmetrised over the two views (eq. 4). The target
//! receives no gradient; after every step it moves toward the online weights,
//! ξ ← τ ξ + (1 − τ) θ, with τ rising from `tau_base` to 1 on a cosine schedule (§3.2).

use super::{Method, MethodContext, Network, StepOutput, stack_images};
use crate::ema::{cosine_tau, frozen_copy, update};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::Mlp;
use crate::input::InputSpec;
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of BYOL (defaults: the paper's §3.3 and appendix C).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolConfig {
    /// First view's augmentations (paper: T); `size` 0 = the run's image size.
    pub view1: ViewConfig,
    /// Second view's augmentations (paper: T′).
    pub view2: ViewConfig,
    /// Hidden widths of the projector (paper: [4096]).
    pub projector_hidden: Vec<usize>,
    /// Output width of projector and predictor (paper: 256).
    pub projection_dim: usize,
    /// Hidden widths of the predictor (paper: [4096]).
    pub predictor_hidden: Vec<usize>,
    /// Starting target decay rate τ_base (paper: 0.996).
    pub tau_base: f64,
}

impl Default for ByolConfig {
    fn default() -> Self {
        ByolConfig {
            view1: ViewConfig::byol_view1(0),
            view2: ViewConfig::byol_view2(0),
            projector_hidden: vec![4096],
            projection_dim: 256,
            predictor_hidden: vec![4096],
            tau_base: 0.996,
        }
    }
}

/// BYOL.
pub struct Byol {
    config: ByolConfig,
    input: InputSpec,
}

/// The two normalised views of one image.
pub struct TwoViews {
    first: Vec<f32>,
    second: Vec<f32>,
    shape: [usize; 3],
}

/// Online projector and predictor, and the target network (encoder and projector), which is
/// only ever updated as a moving average of the online one.
#[derive(Module, Debug)]
pub struct ByolHead {
    /// Online projector g_θ.
    pub projector: Mlp,
    /// Online predictor q_θ.
    pub predictor: Mlp,
    /// Target encoder f_ξ.
    pub target_encoder: Encoder,
    /// Target projector g_ξ.
    pub target_projector: Mlp,
}

/// `2 − 2·cos(p, z)` per row, averaged: BYOL's normalised MSE (eq. 2).
pub fn normalized_mse(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    let norm = |t: Tensor<2>| {
        let n = t.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        t / n
    };
    let cos = (norm(p) * norm(z)).sum_dim(1);
    cos.mul_scalar(-2.0).add_scalar(2.0).mean().reshape([1])
}

impl Method for Byol {
    type Config = ByolConfig;
    type Head = ByolHead;
    type Sample = TwoViews;

    fn new(mut config: ByolConfig, context: &MethodContext) -> anyhow::Result<Self> {
        for view in [&mut config.view1, &mut config.view2] {
            if view.size == 0 {
                view.size = context.input.image_size;
            }
            view.validate()?;
        }
        anyhow::ensure!(
            (0.0..=1.0).contains(&config.tau_base),
            "method.tau_base must be in [0, 1]"
        );
        Ok(Byol {
            config,
            input: context.input.clone(),
        })
    }

    fn config(&self) -> &ByolConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, device: &Device) -> ByolHead {
        let c = &self.config;
        let projector = Mlp::new(
            encoder.feature_dim(),
            &c.projector_hidden,
            c.projection_dim,
            device,
        );
        ByolHead {
            predictor: Mlp::new(
                c.projection_dim,
                &c.predictor_hidden,
                c.projection_dim,
                device,
            ),
            target_encoder: frozen_copy(&encoder.init(device)),
            target_projector: frozen_copy(&projector),
            projector,
        }
    }

    /// The target starts as a copy of the online network (paper §3.1).
    fn after_init(&self, net: Network<ByolHead>) -> Network<ByolHead> {
        let head = ByolHead {
            target_encoder: frozen_copy(&net.encoder),
            target_projector: frozen_copy(&net.head.projector),
            ..net.head
        };
        Network {
            encoder: net.encoder,
            head,
        }
    }

    fn sample(&self, image: Image, rng: &mut SampleRng) -> anyhow::Result<TwoViews> {
        let first = self.input.normalize(self.config.view1.apply(&image, rng));
        let second = self.input.normalize(self.config.view2.apply(&image, rng));
        Ok(TwoViews {
            shape: [first.channels, first.height, first.width],
            first: first.data,
            second: second.data,
        })
    }

    fn step(&self, net: &Network<ByolHead>, batch: &[TwoViews], device: &Device) -> StepOutput {
        let shape = batch.first().map_or([0; 3], |s| s.shape);
        let n = batch.len();
        let views = stack_images(
            batch
                .iter()
                .map(|s| s.first.as_slice())
                .chain(batch.iter().map(|s| s.second.as_slice())),
            shape,
            device,
        );
        let head = &net.head;
        let online = head
            .predictor
            .forward(head.projector.forward(net.encoder.forward(views.clone())));
        let target = head
            .target_projector
            .forward(head.target_encoder.forward(views))
            .detach();
        let [_, d] = online.dims();
        let (p1, p2) = (
            online.clone().slice([0..n, 0..d]),
            online.slice([n..2 * n, 0..d]),
        );
        let (z1, z2) = (
            target.clone().slice([0..n, 0..d]),
            target.slice([n..2 * n, 0..d]),
        );
        // Symmetrised (eq. 4): each view's prediction regresses the other view's target.
        let loss = normalized_mse(p1, z2) + normalized_mse(p2, z1);
        StepOutput {
            metrics: vec![],
            loss,
        }
    }

    fn after_step(&self, net: Network<ByolHead>, progress: super::Progress) -> Network<ByolHead> {
        let tau = cosine_tau(self.config.tau_base, progress.step, progress.total_steps);
        let Network { encoder, head } = net;
        let head = ByolHead {
            target_encoder: update(head.target_encoder, &encoder, tau),
            target_projector: update(head.target_projector, &head.projector, tau),
            ..head
        };
        Network { encoder, head }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_mse_matches_hand_computed_values() {
        let device = Device::flex();
        let p = Tensor::<2>::from_floats([[1.0, 0.0], [3.0, 4.0]], &device);
        let z = Tensor::<2>::from_floats([[0.0, 2.0], [6.0, 8.0]], &device);
        // Row 1: orthogonal, 2 − 0 = 2; row 2: parallel, 2 − 2 = 0; mean 1.
        let v: f32 = normalized_mse(p, z).into_scalar();
        assert!((v - 1.0).abs() < 1e-6, "{v}");
    }
}

//! BYOL, "Bootstrap Your Own Latent" (Grill et al., NeurIPS 2020).
//!
//! Two augmented views of each image go through an *online* network (encoder → projector →
//! predictor) and a *target* network (encoder → projector). The online prediction of one
//! view regresses the target projection of the other: the normalised MSE
//! `2 − 2·cos(p, sg(z′))` (eq. 2), symmetrised over the two views (eq. 4). The target
//! receives no gradient; after every step it moves toward the online weights,
//! ξ ← τ ξ + (1 − τ) θ, with τ rising from `tau_base` to 1 on a cosine schedule (§3.2).

use super::embedding::l2_normalize;
use super::views::{self, Sampler, Views};
use super::{Method, MethodContext, Network, Progress, StepOutput};
use super::target::{self, TargetHead};
use crate::ema::Target;
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::{Mlp, MlpConfig};
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of BYOL (defaults: the paper's §3.3 and appendix C).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolConfig {
    /// First view's augmentations (paper: T); `size` 0 = the run's image size (and, below
    /// 64 px, the small-image variant without blur).
    pub view1: ViewConfig,
    /// Second view's augmentations (paper: T′).
    pub view2: ViewConfig,
    /// Projector g (paper: 4096 hidden with batch norm, 256 out).
    pub projector: MlpConfig,
    /// Predictor q (paper: 4096 hidden, 256 out). Its output width must equal the
    /// projector's.
    pub predictor: MlpConfig,
    /// Use the predictor. Without it (and with the target equal to the online network) BYOL
    /// collapses (paper §5, table 5b): an ablation, not a recipe.
    pub use_predictor: bool,
    /// Target decay rate τ at the first step (paper: 0.996).
    pub tau_base: f64,
    /// Target decay rate τ at the last step (paper: 1). `tau_base = tau_end = 0` makes the
    /// target a copy of the online network at every step.
    pub tau_end: f64,
}

impl Default for ByolConfig {
    fn default() -> Self {
        ByolConfig {
            view1: ViewConfig::byol_view1(0),
            view2: ViewConfig::byol_view2(0),
            projector: MlpConfig::new(&[4096], 256),
            predictor: MlpConfig::new(&[4096], 256),
            use_predictor: true,
            tau_base: 0.996,
            tau_end: 1.0,
        }
    }
}

/// BYOL.
pub struct Byol {
    config: ByolConfig,
    views: Sampler,
}

/// Online projector and predictor, and the target network (encoder and projector), which is
/// only ever updated as a moving average of the online one.
#[derive(Module, Debug)]
pub struct ByolHead {
    /// Online projector g_θ.
    pub projector: Mlp,
    /// Online predictor q_θ.
    pub predictor: Mlp,
    /// Target encoder f_ξ and projector g_ξ.
    pub target: Target<Mlp>,
}

impl TargetHead for ByolHead {
    type Online = Mlp;

    fn map_target(
        self,
        f: impl FnOnce(Target<Mlp>, &Mlp) -> Target<Mlp>,
    ) -> Self {
        let target = f(self.target, &self.projector);
        ByolHead { target, ..self }
    }
}

/// `2 − 2·cos(p, z)` per row, averaged: BYOL's normalised MSE (eq. 2).
pub fn normalized_mse(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    let cos = (l2_normalize(p) * l2_normalize(z)).sum_dim(1);
    cos.mul_scalar(-2.0).add_scalar(2.0).mean().reshape([1])
}

impl Method for Byol {
    type Config = ByolConfig;
    type Head = ByolHead;
    type Sample = Views;

    fn new(mut config: ByolConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let views = Sampler::resolved([&mut config.view1, &mut config.view2], &context.input)?;
        config.projector.validate("projector")?;
        config.predictor.validate("predictor")?;
        anyhow::ensure!(
            config.predictor.out == config.projector.out,
            "method.predictor.out ({}) must equal method.projector.out ({})",
            config.predictor.out,
            config.projector.out
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&config.tau_base) && (0.0..=1.0).contains(&config.tau_end),
            "method.tau_base and method.tau_end must be in [0, 1]"
        );
        Ok(Byol { config, views })
    }

    fn config(&self) -> &ByolConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, online: &Encoder, device: &Device) -> ByolHead {
        let c = &self.config;
        let projector = c.projector.init(encoder.feature_dim(), device);
        ByolHead {
            predictor: c.predictor.init(c.projector.out, device),
            target: Target::copy_of(online, &projector),
            projector,
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
        net: &Network<ByolHead>,
        batch: &[Views],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let head = &net.head;
        let z = views::forward(batch, 0..2, device, |x| {
            head.projector.forward(net.encoder.forward(x))
        });
        let p: Vec<Tensor<2>> = match self.config.use_predictor {
            true => z
                .iter()
                .map(|z| head.predictor.forward(z.clone()))
                .collect(),
            false => z.clone(),
        };
        let target = views::forward(batch, 0..2, device, |x| {
            head.target
                .head
                .forward(head.target.encoder.forward(x))
                .detach()
        });
        // Symmetrised (eq. 4): each view's prediction regresses the other view's target.
        let loss = normalized_mse(p[0].clone(), target[1].clone())
            + normalized_mse(p[1].clone(), target[0].clone());
        StepOutput {
            loss,
            metrics: vec![],
            embedding: Some(z[0].clone().detach()),
        }
    }

    fn after_step(&self, net: Network<ByolHead>, progress: Progress) -> Network<ByolHead> {
        target::follow(net, self.config.tau_base, self.config.tau_end, progress)
    }

    fn render(&self, net: &Network<ByolHead>, batch: &[Views], device: &Device) -> Option<Grid> {
        views::render(batch, device, |x| {
            net.head.projector.forward(net.encoder.forward(x))
        })
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

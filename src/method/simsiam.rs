//! SimSiam, "Exploring Simple Siamese Representation Learning" (Chen & He, CVPR 2021).
//!
//! One network (encoder → projector → predictor) sees both views; the prediction of one view
//! regresses the projection of the other, whose gradient is stopped. No negatives and no
//! moving-average target: the stop-gradient alone prevents collapse (paper §4.1). Loss
//! (eq. 3–4): `L = ½ D(p₁, sg(z₂)) + ½ D(p₂, sg(z₁))` with `D(p, z) = −cos(p, z)`.

use super::embedding::row_cosine;
use super::views::{self, Sampler, Views};
use super::{Method, MethodContext, Network, Progress, StepOutput};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::{Mlp, MlpConfig};
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of SimSiam (defaults: the paper's §3 and appendix A for CIFAR-10: a two-layer
/// projector of width 2048 with batch norm on every layer including the output, a
/// 2048 → 512 → 2048 bottleneck predictor, MoCo v2's views).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimsiamConfig {
    /// First view's augmentations; `size` 0 = the run's image size.
    pub view1: ViewConfig,
    /// Second view's augmentations.
    pub view2: ViewConfig,
    /// Projector f's MLP (paper, CIFAR: 2048 hidden, 2048 out, batch norm on the output,
    /// without learnable scale and shift as in the reference code).
    pub projector: MlpConfig,
    /// Predictor h (paper: 512 hidden, 2048 out, no batch norm on the output).
    pub predictor: MlpConfig,
}

impl Default for SimsiamConfig {
    fn default() -> Self {
        SimsiamConfig {
            view1: ViewConfig::moco_v2(0),
            view2: ViewConfig::moco_v2(0),
            projector: MlpConfig {
                out_batch_norm: true,
                out_affine: false,
                ..MlpConfig::new(&[2048], 2048)
            },
            predictor: MlpConfig::new(&[512], 2048),
        }
    }
}

/// SimSiam.
pub struct Simsiam {
    config: SimsiamConfig,
    views: Sampler,
}

/// The projector and the predictor.
#[derive(Module, Debug)]
pub struct SimsiamHead {
    /// Projection MLP.
    pub projector: Mlp,
    /// Prediction MLP.
    pub predictor: Mlp,
}

/// `D(p, sg(z)) = −cos(p, z)` averaged over rows, with the gradient stopped at `z`.
pub fn negative_cosine(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    row_cosine(p, z.detach()).mean().neg().reshape([1])
}

impl Method for Simsiam {
    type Config = SimsiamConfig;
    type Head = SimsiamHead;
    type Sample = Views;

    fn new(mut config: SimsiamConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let views = Sampler::resolved([&mut config.view1, &mut config.view2], &context.input)?;
        config.projector.validate("projector")?;
        config.predictor.validate("predictor")?;
        anyhow::ensure!(
            config.predictor.out == config.projector.out,
            "method.predictor.out ({}) must equal method.projector.out ({})",
            config.predictor.out,
            config.projector.out
        );
        Ok(Simsiam { config, views })
    }

    fn config(&self) -> &SimsiamConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> SimsiamHead {
        let c = &self.config;
        SimsiamHead {
            projector: c.projector.init(encoder.feature_dim(), device),
            predictor: c.predictor.init(c.projector.out, device),
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
        net: &Network<SimsiamHead>,
        batch: &[Views],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let head = &net.head;
        let z = views::forward(batch, 0..2, device, |x| {
            head.projector.forward(net.encoder.forward(x))
        });
        let p: Vec<Tensor<2>> = z
            .iter()
            .map(|z| head.predictor.forward(z.clone()))
            .collect();
        let loss = (negative_cosine(p[0].clone(), z[1].clone())
            + negative_cosine(p[1].clone(), z[0].clone()))
        .mul_scalar(0.5);
        StepOutput {
            loss,
            metrics: vec![],
            embedding: Some(z[0].clone().detach()),
        }
    }

    fn render(&self, net: &Network<SimsiamHead>, batch: &[Views], device: &Device) -> Option<Grid> {
        views::render(batch, device, |x| {
            net.head.projector.forward(net.encoder.forward(x))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_cosine_by_hand_and_no_gradient_to_the_target() {
        let device = Device::flex().autodiff();
        let p = Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 1.0]], &device).require_grad();
        let z = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let loss = negative_cosine(p.clone(), z.clone());
        // Row 1: cos 1; row 2: cos 1/√2; D = −(1 + 0.7071)/2.
        let v: f32 = loss.clone().into_scalar();
        assert!(
            (v + (1.0 + std::f32::consts::FRAC_1_SQRT_2) / 2.0).abs() < 1e-6,
            "{v}"
        );
        let grads = loss.backward();
        assert!(p.grad(&grads).is_some());
        assert!(z.grad(&grads).is_none(), "the stop-gradient must hold");
    }
}

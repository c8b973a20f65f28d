//! Inpainting with context encoders (Pathak, Krähenbühl, Donahue, Darrell & Efros, "Context
//! Encoders: Feature Learning by Inpainting", CVPR 2016).
//!
//! A region of the image is removed (a central square, random blocks or a random region);
//! the encoder sees what is left and a decoder of up-convolutions paints the whole image. The
//! reconstruction loss is an L2 on the hole, with a ten times heavier weight on a thin band
//! of context around it (the paper's overlap, §3.3 and its reference code); optionally an
//! adversarial loss from a small discriminator sharpens the result, weighted 0.999 / 0.001
//! as in the paper.

use super::{Method, MethodContext, Network, Progress, StepOutput, stack_images};
use crate::decoder::{Decoder, upsamplings};
use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use crate::kernels::batch_norm_layer;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, log_sigmoid};
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::masks::{MaskConfig, MaskKind, apply};
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of inpainting.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InpaintingConfig {
    /// Which region is removed, and the overlap weighting of the loss (default: random
    /// regions, which the paper found "significantly outperform" the central square for
    /// feature learning and used for all its feature experiments, §3.3 and table 1).
    pub mask: MaskConfig,
    /// Augmentation before masking; `size` 0 = the run's image size.
    pub view: ViewConfig,
    /// Add the adversarial loss with a discriminator.
    pub adversarial: bool,
    /// Weight of the adversarial loss; the reconstruction gets 1 − this (paper: 0.001).
    pub adversarial_weight: f32,
}

impl Default for InpaintingConfig {
    fn default() -> Self {
        InpaintingConfig {
            mask: MaskConfig {
                kind: MaskKind::RandomRegion,
                ..MaskConfig::default()
            },
            view: ViewConfig::simple(0),
            adversarial: false,
            adversarial_weight: 0.001,
        }
    }
}

/// Inpainting.
pub struct Inpainting {
    config: InpaintingConfig,
    input: InputSpec,
}

/// One example: the masked input, the full image and the per-pixel loss weights (all
/// normalised, planar).
pub struct MaskedImage {
    masked: Vec<f32>,
    target: Vec<f32>,
    weights: Vec<f32>,
    hole: Vec<bool>,
    shape: [usize; 3],
}

/// A DCGAN-style discriminator: two strided convolutions with leaky ReLU, global average
/// pooling and a linear real/fake score.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// First convolution (4×4, stride 2).
    pub conv1: Conv2d,
    /// Second convolution (4×4, stride 2).
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm,
    /// Real/fake score.
    pub score: Linear,
}

impl Discriminator {
    fn new(channels: usize, device: &Device) -> Self {
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Discriminator {
            conv1: conv(channels, 32),
            conv2: conv(32, 64),
            bn2: BatchNormConfig::new(64).init(device),
            score: LinearConfig::new(64, 1).init(device),
        }
    }

    /// Real-vs-fake logits, `[N, 1]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = leaky_relu(self.conv1.forward(x), 0.2);
        let x = leaky_relu(batch_norm_layer(&self.bn2, self.conv2.forward(x), false), 0.2);
        self.score.forward(crate::encoder::global_avg_pool(x))
    }
}

/// The decoder and the optional discriminator.
#[derive(Module, Debug)]
pub struct InpaintHead {
    /// Feature map → image.
    pub decoder: Decoder,
    /// Adversary (when `adversarial` is on).
    pub discriminator: Option<Discriminator>,
}

impl Inpainting {
    fn paint(
        &self,
        net: &Network<InpaintHead>,
        batch: &[MaskedImage],
        device: &Device,
    ) -> Tensor<4> {
        let shape = batch.first().map_or([0; 3], |s| s.shape);
        let input = stack_images(batch.iter().map(|s| s.masked.as_slice()), shape, device);
        net.head
            .decoder
            .forward(net.encoder.forward_map(input), [shape[1], shape[2]])
    }
}

impl Method for Inpainting {
    type Config = InpaintingConfig;
    type Head = InpaintHead;
    type Sample = MaskedImage;

    fn new(mut config: InpaintingConfig, context: &MethodContext) -> anyhow::Result<Self> {
        if config.view.size == 0 {
            config.view.size = context.input.image_size;
        }
        config.mask.validate()?;
        anyhow::ensure!(
            (0.0..1.0).contains(&config.adversarial_weight),
            "method.adversarial_weight must be in [0, 1)"
        );
        Ok(Inpainting {
            config,
            input: context.input.clone(),
        })
    }

    fn config(&self) -> &InpaintingConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> InpaintHead {
        let size = self.config.view.size;
        InpaintHead {
            decoder: Decoder::new(
                encoder.feature_dim(),
                encoder.in_channels,
                upsamplings(encoder.reduction(), size, size),
                device,
            ),
            discriminator: self
                .config
                .adversarial
                .then(|| Discriminator::new(encoder.in_channels, device)),
        }
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<MaskedImage> {
        let view = self.input.normalize(self.config.view.apply(&image, rng));
        let mask = self.config.mask.sample(view.height, view.width, rng);
        // The hole is filled with the dataset mean: 0 after normalisation.
        let masked = apply(&view, &mask, &vec![0.0; view.channels]);
        let weights = self.config.mask.loss_weights(&mask);
        Ok(MaskedImage {
            shape: [view.channels, view.height, view.width],
            masked: masked.data,
            target: view.data,
            weights,
            hole: mask.hole,
        })
    }

    fn step(
        &self,
        net: &Network<InpaintHead>,
        batch: &[MaskedImage],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let [c, h, w] = batch.first().map_or([0; 3], |s| s.shape);
        let painted = self.paint(net, batch, device);
        let target = stack_images(batch.iter().map(|s| s.target.as_slice()), [c, h, w], device);
        let weights = stack_images(
            batch.iter().map(|s| s.weights.as_slice()),
            [1, h, w],
            device,
        );
        let total_weight = weights.clone().sum().mul_scalar(c as f32).add_scalar(1e-6);
        let squared = (painted.clone() - target.clone()).powi_scalar(2) * weights;
        let reconstruction = (squared.sum() / total_weight).reshape([1]);
        let mut metrics = vec![("hole_mse", reconstruction.clone().detach())];
        let loss = match &net.head.discriminator {
            None => reconstruction,
            Some(discriminator) => {
                // The discriminator learns real vs painted (painted detached: no gradient to
                // the painter); the painter is scored by a frozen copy of the discriminator
                // (no gradient to it). One step updates both, on the same batch.
                let real = discriminator.forward(target);
                let fake = discriminator.forward(painted.clone().detach());
                let d_loss = (log_sigmoid(real).neg() + log_sigmoid(fake.neg()).neg()).mean();
                let judge = discriminator.clone().no_grad();
                let g_adv = log_sigmoid(judge.forward(painted)).neg().mean();
                let lambda = self.config.adversarial_weight;
                metrics.push(("d_loss", d_loss.clone().detach().reshape([1])));
                (reconstruction.mul_scalar(1.0 - lambda) + g_adv.mul_scalar(lambda).reshape([1]))
                    + d_loss.reshape([1])
            }
        };
        StepOutput {
            loss,
            metrics,
            embedding: None,
        }
    }

    fn render(
        &self,
        net: &Network<InpaintHead>,
        batch: &[MaskedImage],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(6)];
        let [c, h, w] = shown.first()?.shape;
        let painted: Vec<f32> = self
            .paint(net, shown, device)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .ok()?;
        let mut grid = Grid::new(3, 96);
        let n = c * h * w;
        let denormalize = |data: &[f32]| self.input.denormalize(data, [c, h, w]);
        for (i, sample) in shown.iter().enumerate() {
            // The painting pasted into the hole; the context is kept as it was.
            let composed: Vec<f32> = (0..n)
                .map(|p| {
                    if sample.hole[p % (h * w)] {
                        painted[i * n + p]
                    } else {
                        sample.target[p]
                    }
                })
                .collect();
            grid.push(&denormalize(&sample.masked), "masked input");
            grid.push(&denormalize(&composed), "inpainted");
            grid.push(&denormalize(&sample.target), "original");
        }
        Some(grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feature learning removes random regions by default (the paper's choice for it), and a
    /// run config can still ask for the central square of its inpainting figures.
    #[test]
    fn random_regions_are_the_default_and_the_central_square_an_option() {
        assert_eq!(
            InpaintingConfig::default().mask.kind,
            MaskKind::RandomRegion
        );
        let chosen: InpaintingConfig =
            toml::from_str("mask = { kind = \"central-square\" }").unwrap();
        assert_eq!(chosen.mask.kind, MaskKind::CentralSquare);
        assert_eq!(chosen.mask.overlap_weight, 10.0);
    }
}

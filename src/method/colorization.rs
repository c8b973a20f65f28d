//! Colorization: predict an image's colours from its lightness.
//!
//! The encoder sees the CIE L* channel only and a decoder predicts the a*b* channels. Two
//! losses: the lecture's L2 on ab, and the classification of Zhang, Isola & Efros ("Colorful
//! Image Colorization", ECCV 2016): ab is quantised into the in-gamut bins of a grid of side
//! 10 (Q = 313 in the paper), targets are soft-encoded over the 5 nearest bins (σ = 5), rare
//! colours are up-weighted by class rebalancing (λ = ½, eq. 4) and colours are decoded with
//! the annealed mean (T = 0.38, eq. 5). Plain L2 regresses to the mean colour and gives
//! desaturated images; the classification keeps them vivid.
//!
//! Transfer: the encoder takes one channel, L*/100 normalised with mean ½ and std ½; pretext
//! converts any downstream image, gray or colour, to it ([`InputSpace::Lightness`]).

use super::{Method, MethodContext, Network, Progress, StepOutput, stack_images};
use crate::decoder::{Decoder, upsamplings};
use crate::encoder::{Encoder, EncoderConfig};
use crate::input::{InputSpace, InputSpec};
use anyhow::ensure;
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::{ViewConfig, resize};
use pretext_data::grid::Grid;
use pretext_data::lab::{AbBins, image_to_lab, lab_to_image};
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Which colorization loss to train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColorLoss {
    /// Mean squared error on a*b* (scaled by 1/110), the lecture's formulation.
    L2,
    /// Zhang et al.'s rebalanced classification over quantised ab bins.
    Classification,
}

/// Options of colorization.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColorizationConfig {
    /// The loss.
    pub loss: ColorLoss,
    /// Augmentation of the colour image before splitting it into L and ab; `size` 0 = the
    /// run's image size.
    pub view: ViewConfig,
    /// Colours are predicted at 1/`output_stride` of the input resolution (paper: 4).
    pub output_stride: usize,
    /// Use the paper's published 313 ab bins; otherwise the bins of a grid of side `grid`
    /// whose cells touch the sRGB gamut (262 at side 10).
    pub paper_bins: bool,
    /// Side of the ab quantisation grid when `paper_bins` is off.
    pub grid: f32,
    /// Soft-encoding neighbours (paper: 5).
    pub neighbours: usize,
    /// Soft-encoding and prior-smoothing kernel width (paper: 5).
    pub sigma: f32,
    /// Rebalancing mix with the uniform distribution (paper: 0.5).
    pub lambda: f32,
    /// Annealed-mean temperature (paper: 0.38).
    pub temperature: f32,
    /// Training images used to estimate the colour distribution for rebalancing.
    pub prior_images: usize,
}

impl Default for ColorizationConfig {
    fn default() -> Self {
        ColorizationConfig {
            loss: ColorLoss::Classification,
            view: ViewConfig::simple(0),
            output_stride: 4,
            paper_bins: true,
            grid: 10.0,
            neighbours: 5,
            sigma: 5.0,
            lambda: 0.5,
            temperature: 0.38,
            prior_images: 500,
        }
    }
}

/// Colorization.
pub struct Colorization {
    config: ColorizationConfig,
    bins: AbBins,
    weights: Vec<f32>,
    output: usize,
    input: InputSpec,
}

/// One example: the normalised lightness, the ab target at the output resolution (planar a
/// then b, divided by 110), and for the classification its soft labels and pixel weights.
pub struct ColorSample {
    lightness: Vec<f32>,
    ab: Vec<f32>,
    soft: Vec<[(u16, f32); 5]>,
    pixel_weights: Vec<f32>,
    side: usize,
    /// The colour view, for pictures.
    original: Image,
}

/// Scale of a*b* targets for the L2 loss (ab ∈ about [−110, 110]).
const AB_SCALE: f32 = 110.0;

/// The decoder predicting ab (2 channels) or bin logits (Q channels).
#[derive(Module, Debug)]
pub struct ColorHead {
    /// Feature map → colours.
    pub decoder: Decoder,
}

impl Colorization {
    fn classes(&self) -> usize {
        match self.config.loss {
            ColorLoss::L2 => 2,
            ColorLoss::Classification => self.bins.centers.len(),
        }
    }

    fn forward(
        &self,
        net: &Network<ColorHead>,
        batch: &[ColorSample],
        device: &Device,
    ) -> Tensor<4> {
        let side = self.input.image_size;
        let input = stack_images(
            batch.iter().map(|s| s.lightness.as_slice()),
            [1, side, side],
            device,
        );
        net.head
            .decoder
            .forward(net.encoder.forward_map(input), [self.output, self.output])
    }

    /// Predicted ab (`[N, 2, h, w]`, in Lab units) from the decoder's output.
    fn decode(&self, out: Tensor<4>) -> Tensor<4> {
        match self.config.loss {
            ColorLoss::L2 => out.mul_scalar(AB_SCALE),
            ColorLoss::Classification => {
                // Annealed mean: softmax(logits / T) gives f_T of the predicted distribution.
                let [n, q, h, w] = out.dims();
                let probs =
                    burn::tensor::activation::softmax(out.div_scalar(self.config.temperature), 1);
                let centers: Vec<f32> = self
                    .bins
                    .centers
                    .iter()
                    .flat_map(|c| [c[0], c[1]])
                    .collect();
                let centers =
                    Tensor::<2>::from_data(TensorData::new(centers, [q, 2]), &probs.device());
                probs
                    .permute([0, 2, 3, 1])
                    .reshape([n * h * w, q])
                    .matmul(centers)
                    .reshape([n, h, w, 2])
                    .permute([0, 3, 1, 2])
            }
        }
    }
}

impl Method for Colorization {
    type Config = ColorizationConfig;
    type Head = ColorHead;
    type Sample = ColorSample;

    fn new(mut config: ColorizationConfig, context: &MethodContext) -> anyhow::Result<Self> {
        ensure!(
            context.source.channels() == 3,
            "colorization needs colour images; {} holds gray ones",
            context.source.origin()
        );
        ensure!(
            config.neighbours == 5,
            "method.neighbours: only 5 (the paper's) is supported"
        );
        ensure!(
            config.output_stride >= 1,
            "method.output_stride must be at least 1"
        );
        let size = context.input.image_size;
        if config.view.size == 0 {
            config.view.size = size;
        }
        let output = (size / config.output_stride).max(1);
        let bins = if config.paper_bins {
            AbBins::zhang2016()
        } else {
            AbBins::in_gamut(config.grid)
        };
        // Colour prior of the training images (paper §2.1: the empirical distribution of
        // ImageNet's ab), from up to `prior_images` evenly spaced images at low resolution.
        let n = context.source.len();
        let step = (n / config.prior_images.max(1)).max(1);
        let mut ab = Vec::new();
        for i in (0..n).step_by(step).take(config.prior_images) {
            let image = context.source.get(i)?.to_channels(3);
            let small = resize(&image, 32, 32);
            let lab = image_to_lab(&small);
            let plane = 32 * 32;
            ab.extend((0..plane).map(|p| [lab.data[plane + p], lab.data[2 * plane + p]]));
        }
        let empirical = bins.histogram(ab.into_iter());
        let weights = bins.rebalancing_weights(&empirical, config.lambda, config.sigma);
        Ok(Colorization {
            config,
            bins,
            weights,
            output,
            input: context.input.clone(),
        })
    }

    fn config(&self) -> &ColorizationConfig {
        &self.config
    }

    fn input_spec(&self, data: InputSpec) -> InputSpec {
        InputSpec {
            space: InputSpace::Lightness,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.5],
            ..data
        }
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> ColorHead {
        let ups = upsamplings(encoder.reduction(), self.input.image_size, self.output);
        ColorHead {
            decoder: Decoder::new(encoder.feature_dim(), self.classes(), ups, device),
        }
    }

    fn sample(
        &self,
        image: Image,
        _label: Option<u32>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<ColorSample> {
        let view = self.config.view.apply(&image.to_channels(3), rng);
        let side = view.height;
        let lab = image_to_lab(&view);
        let plane = side * side;
        let lightness: Vec<f32> = lab.data[..plane]
            .iter()
            .map(|l| (l / 100.0 - 0.5) / 0.5)
            .collect();
        let small = if self.output == side {
            lab
        } else {
            resize(&lab, self.output, self.output)
        };
        let out_plane = self.output * self.output;
        let ab: Vec<f32> = small.data[out_plane..]
            .iter()
            .map(|v| v / AB_SCALE)
            .collect();
        let (soft, pixel_weights) = match self.config.loss {
            ColorLoss::L2 => (Vec::new(), Vec::new()),
            ColorLoss::Classification => (0..out_plane)
                .map(|p| {
                    let value = [small.data[out_plane + p], small.data[2 * out_plane + p]];
                    let encoded = self.bins.soft_encode(value, 5, self.config.sigma);
                    let mut fixed = [(0u16, 0f32); 5];
                    fixed.iter_mut().zip(&encoded).for_each(|(f, e)| *f = *e);
                    (fixed, self.weights[self.bins.nearest(value)])
                })
                .unzip(),
        };
        Ok(ColorSample {
            lightness,
            ab,
            soft,
            pixel_weights,
            side,
            original: view,
        })
    }

    fn step(
        &self,
        net: &Network<ColorHead>,
        batch: &[ColorSample],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let out = self.forward(net, batch, device);
        let [n, q, h, w] = out.dims();
        match self.config.loss {
            ColorLoss::L2 => {
                let target = stack_images(batch.iter().map(|s| s.ab.as_slice()), [2, h, w], device);
                let loss = (out - target).powi_scalar(2).mean().reshape([1]);
                StepOutput {
                    metrics: vec![("ab_rmse", loss.clone().detach().sqrt().mul_scalar(AB_SCALE))],
                    loss,
                    embedding: None,
                }
            }
            ColorLoss::Classification => {
                let plane = h * w;
                let mut target = vec![0f32; n * q * plane];
                let mut weights = Vec::with_capacity(n * plane);
                for (i, s) in batch.iter().enumerate() {
                    for (p, soft) in s.soft.iter().enumerate() {
                        for &(bin, weight) in soft {
                            target[(i * q + bin as usize) * plane + p] += weight;
                        }
                    }
                    weights.extend_from_slice(&s.pixel_weights);
                }
                let target = Tensor::<4>::from_data(TensorData::new(target, [n, q, h, w]), device);
                let weights =
                    Tensor::<4>::from_data(TensorData::new(weights, [n, 1, h, w]), device);
                let log_p = burn::tensor::activation::log_softmax(out.clone(), 1);
                let per_pixel = (log_p * target.clone()).sum_dim(1).neg() * weights;
                let loss = per_pixel.mean().reshape([1]);
                let hits = out
                    .clone()
                    .detach()
                    .argmax(1)
                    .equal(target.argmax(1))
                    .float()
                    .mean()
                    .reshape([1]);
                // The colour error of the decoded (annealed-mean) prediction, in Lab units.
                let truth = stack_images(batch.iter().map(|s| s.ab.as_slice()), [2, h, w], device);
                let decoded = self.decode(out.detach());
                let rmse = (decoded - truth.mul_scalar(AB_SCALE))
                    .powi_scalar(2)
                    .mean()
                    .sqrt()
                    .reshape([1]);
                StepOutput {
                    loss,
                    metrics: vec![("bin_acc", hits), ("ab_rmse", rmse)],
                    embedding: None,
                }
            }
        }
    }

    fn render(
        &self,
        net: &Network<ColorHead>,
        batch: &[ColorSample],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(6)];
        let ab = self.decode(self.forward(net, shown, device));
        let side = shown.first()?.side;
        let ab = burn::tensor::module::interpolate(
            ab,
            burn::tensor::ops::InterpolateOptions::new(
                burn::tensor::ops::InterpolateMode::Bilinear,
            )
            .with_output_size([side, side]),
        );
        let ab: Vec<f32> = ab.into_data().convert::<f32>().try_into_vec().ok()?;
        let mut grid = Grid::new(3, 96);
        let plane = side * side;
        for (i, sample) in shown.iter().enumerate() {
            let gray: Vec<f32> = sample.lightness.iter().map(|v| v * 0.5 + 0.5).collect();
            let mut lab = Vec::with_capacity(3 * plane);
            lab.extend(gray.iter().map(|v| v * 100.0));
            lab.extend_from_slice(&ab[i * 2 * plane..(i + 1) * 2 * plane]);
            let predicted = lab_to_image(&Image {
                channels: 3,
                height: side,
                width: side,
                data: lab,
            });
            grid.push(
                &Image {
                    channels: 1,
                    height: side,
                    width: side,
                    data: gray,
                },
                "gray input",
            );
            grid.push(&predicted, "predicted colour");
            grid.push(&sample.original, "ground truth");
        }
        Some(grid)
    }
}

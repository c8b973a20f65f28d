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
//!
//! Scores (every step, and on held-out images with `pretext eval task`, which crops the
//! centre instead of a random view), each beside the answer "no colour" (a = b = 0) under
//! the `gray_` prefix: `ab_rmse`, the root mean square of the distance in the ab plane
//! between the decoded prediction and the truth; and Zhang et al.'s raw accuracy (§3.1,
//! table 1): the share of pixels whose ab lies within a threshold of the truth, swept over
//! thresholds 0–150 and integrated, `auc` = mean over pixels of max(0, 1 − d/150), and
//! `auc_rebal`, the same with each pixel weighted by the inverse frequency of its true ab bin
//! among the batch's pixels (the mean of the per-colour-class AuC), so that rare saturated
//! colours count as much as the common desaturated ones.

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
/// then b, divided by 110) with each pixel's nearest ab bin, and for the classification its
/// soft labels and pixel weights.
pub struct ColorSample {
    lightness: Vec<f32>,
    ab: Vec<f32>,
    bins: Vec<u16>,
    soft: Vec<[(u16, f32); 5]>,
    pixel_weights: Vec<f32>,
    side: usize,
    /// The colour view, for pictures.
    original: Image,
}

/// Scale of a*b* targets for the L2 loss (ab ∈ about [−110, 110]).
const AB_SCALE: f32 = 110.0;

/// The largest ab distance of Zhang et al.'s accuracy curve (§3.1: thresholds 0 to 150).
const AUC_RANGE: f32 = 150.0;

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

impl Colorization {
    /// The colour scores of predicted ab (`[N, 2, h, w]`, Lab units) against the batch's
    /// truth, and of the gray answer a = b = 0 (see the module docs).
    fn scores(
        &self,
        predicted: Tensor<4>,
        batch: &[ColorSample],
        device: &Device,
    ) -> Vec<(&'static str, Tensor<1>)> {
        let [n, _, h, w] = predicted.dims();
        let pixels = n * h * w;
        let truth = stack_images(batch.iter().map(|s| s.ab.as_slice()), [2, h, w], device)
            .mul_scalar(AB_SCALE);
        let balance = class_balance(batch.iter().flat_map(|s| s.bins.iter().copied()));
        let squared = (predicted - truth).powi_scalar(2).sum_dim(1).reshape([pixels]);
        let accuracy = squared
            .clone()
            .sqrt()
            .div_scalar(AUC_RANGE)
            .neg()
            .add_scalar(1.0)
            .clamp_min(0.0);
        let rebalanced = accuracy.clone()
            * Tensor::<1>::from_data(TensorData::new(balance.clone(), [pixels]), device);
        // Gray: the distance of each pixel's colour from the ab origin.
        let gray: Vec<f32> = batch
            .iter()
            .flat_map(|s| {
                let (a, b) = s.ab.split_at(s.ab.len() / 2);
                a.iter().zip(b).map(|(a, b)| a.hypot(*b) * AB_SCALE)
            })
            .collect();
        let gray_accuracy = |d: &f32| (1.0 - d / AUC_RANGE).max(0.0);
        let scalar = |v: f32| Tensor::<1>::from_data(TensorData::new(vec![v], [1]), device);
        let count = gray.len().max(1) as f32;
        vec![
            ("ab_rmse", squared.mean().sqrt().reshape([1])),
            ("auc", accuracy.mean().reshape([1])),
            ("auc_rebal", rebalanced.sum().reshape([1])),
            (
                "gray_rmse",
                scalar((gray.iter().map(|d| d * d).sum::<f32>() / count).sqrt()),
            ),
            (
                "gray_auc",
                scalar(gray.iter().map(gray_accuracy).sum::<f32>() / count),
            ),
            (
                "gray_auc_rebal",
                scalar(
                    gray.iter()
                        .zip(&balance)
                        .map(|(d, w)| gray_accuracy(d) * w)
                        .sum(),
                ),
            ),
        ]
    }

    /// The example of a colour view: its lightness in, its colours (and their classes) out.
    fn example(&self, view: Image) -> ColorSample {
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
        let values: Vec<[f32; 2]> = (0..out_plane)
            .map(|p| [small.data[out_plane + p], small.data[2 * out_plane + p]])
            .collect();
        let bins: Vec<u16> = values
            .iter()
            .map(|&v| self.bins.nearest(v) as u16)
            .collect();
        let (soft, pixel_weights) = match self.config.loss {
            ColorLoss::L2 => (Vec::new(), Vec::new()),
            ColorLoss::Classification => values
                .iter()
                .zip(&bins)
                .map(|(&value, &bin)| {
                    let encoded = self.bins.soft_encode(value, 5, self.config.sigma);
                    let mut fixed = [(0u16, 0f32); 5];
                    fixed.iter_mut().zip(&encoded).for_each(|(f, e)| *f = *e);
                    (fixed, self.weights[usize::from(bin)])
                })
                .unzip(),
        };
        ColorSample {
            lightness,
            ab,
            bins,
            soft,
            pixel_weights,
            side,
            original: view,
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
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<ColorSample> {
        Ok(self.example(self.config.view.apply(&image.to_channels(3), rng)))
    }

    /// Held-out images are scored on their centre crop at the training size.
    fn sample_eval(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<ColorSample> {
        let view = ViewConfig::eval(self.config.view.size);
        Ok(self.example(view.apply(&image.to_channels(3), rng)))
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
        let scores = self.scores(self.decode(out.clone().detach()), batch, device);
        match self.config.loss {
            ColorLoss::L2 => {
                let target = stack_images(batch.iter().map(|s| s.ab.as_slice()), [2, h, w], device);
                StepOutput {
                    loss: (out - target).powi_scalar(2).mean().reshape([1]),
                    metrics: scores,
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
                let hits = out
                    .detach()
                    .argmax(1)
                    .equal(target.argmax(1))
                    .float()
                    .mean()
                    .reshape([1]);
                StepOutput {
                    loss: per_pixel.mean().reshape([1]),
                    metrics: std::iter::once(("bin_acc", hits)).chain(scores).collect(),
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

/// Pixel weights of the class-rebalanced accuracy: each pixel weighs the inverse of the
/// number of pixels sharing its ab bin, scaled so the weights sum to 1 — a weighted mean with
/// them is the mean over the colour classes present of each class's mean.
fn class_balance(bins: impl Iterator<Item = u16> + Clone) -> Vec<f32> {
    let mut counts = std::collections::HashMap::<u16, usize>::new();
    bins.clone().for_each(|b| *counts.entry(b).or_default() += 1);
    let classes = counts.len() as f32;
    bins.map(|b| 1.0 / (counts[&b] as f32 * classes)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_balance_averages_over_the_classes_present() {
        let w = class_balance([7u16, 3, 3, 9].into_iter());
        assert_eq!(w, [1.0 / 3.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 3.0]);
    }

    /// Four pixels by hand: truth (30, 40), (0, 0), (0, 0), (−90, 120); predicted (30, 40),
    /// (3, 4), (0, 0), (0, 0): distances 0, 5, 0, 150 (gray: 50, 0, 0, 150); classes 7, 3, 3, 9.
    #[test]
    fn scores_match_a_hand_computed_example() {
        let colour = Image::filled(3, 8, 8, 0.5);
        let source = pretext_data::source::InMemory::new(vec![colour.clone()], vec![]);
        let context = super::super::test_context(std::sync::Arc::new(source), 0.5, 0.5);
        let method = Colorization::new(ColorizationConfig::default(), &context).unwrap();
        let device = Device::flex();
        let truth = [30.0f32, 0.0, 0.0, -90.0, 40.0, 0.0, 0.0, 120.0];
        let sample = ColorSample {
            lightness: vec![0.0; 64],
            ab: truth.iter().map(|v| v / AB_SCALE).collect(),
            bins: vec![7, 3, 3, 9],
            soft: Vec::new(),
            pixel_weights: Vec::new(),
            side: 8,
            original: colour,
        };
        let predicted = [30.0f32, 3.0, 0.0, 0.0, 40.0, 4.0, 0.0, 0.0];
        let predicted = Tensor::<4>::from_data(TensorData::new(predicted.to_vec(), [1, 2, 2, 2]), &device);
        let scores: Vec<(&str, f32)> = method
            .scores(predicted, &[sample], &device)
            .into_iter()
            .map(|(k, v)| (k, v.into_scalar::<f32>()))
            .collect();
        let near = 5.0 / 150.0;
        let want = [
            ("ab_rmse", (22525.0f32 / 4.0).sqrt()),
            ("auc", (3.0 - near) / 4.0),
            ("auc_rebal", 1.0 / 3.0 + (1.0 - near) / 6.0 + 1.0 / 6.0),
            ("gray_rmse", (25000.0f32 / 4.0).sqrt()),
            ("gray_auc", (2.0 / 3.0 + 2.0) / 4.0),
            ("gray_auc_rebal", 2.0 / 9.0 + 1.0 / 3.0),
        ];
        assert_eq!(scores.len(), want.len());
        for ((name, got), (want_name, want)) in scores.iter().zip(want) {
            assert_eq!(*name, want_name);
            assert!((got - want).abs() < 1e-4, "{name}: {got} against {want}");
        }
    }
}

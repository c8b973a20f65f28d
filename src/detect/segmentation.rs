//! Semantic segmentation on a pretrained encoder: the semantic branch of panoptic FPN
//! (Kirillov et al. 2019, §3) — every level of the feature pyramid through a 3×3 convolution
//! and ReLU, upsampled to the finest level and summed, a 1×1 convolution to per-pixel class
//! logits (background first), upsampled bilinearly to the image — and the confusion matrix
//! its scores (mean IoU, pixel accuracy) come from.

use super::pyramid::{Pyramid, PyramidPlan, conv, forward};
use anyhow::Result;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

/// The label of pixels no loss or score counts (crowd regions), as in VOC and COCO-stuff.
pub const IGNORE: u8 = 255;

/// The segmentation head's trainable layers.
#[derive(Module, Debug)]
pub struct SemanticHead {
    /// The feature pyramid.
    pub pyramid: Pyramid,
    /// One 3×3 convolution per level.
    pub convs: Vec<Conv2d>,
    /// 1×1 convolution to the class logits.
    pub classifier: Conv2d,
}

impl SemanticHead {
    /// A head with `channels`-wide pyramid `levels` over an encoder with `stages`, scoring
    /// `classes` classes (background included).
    pub fn new(
        levels: &[usize],
        channels: usize,
        classes: usize,
        stages: &[(usize, usize)],
        device: &Device,
    ) -> Result<Self> {
        let plan = PyramidPlan::new(levels, stages)?;
        Ok(SemanticHead {
            pyramid: Pyramid::new(&plan, stages, channels, device),
            convs: levels
                .iter()
                .map(|_| conv(channels, channels, 3, 1, device))
                .collect(),
            classifier: conv(channels, classes, 1, 1, device),
        })
    }

    /// `[N, classes, H, W]` logits for `[H, W]` images whose encoder `stages` are given.
    pub fn forward(
        &self,
        plan: &PyramidPlan,
        stages: Vec<Tensor<4>>,
        size: [usize; 2],
    ) -> Tensor<4> {
        let levels = self.pyramid.forward(plan, stages);
        let [_, _, h, w] = levels[0].dims();
        let resize = |x: Tensor<4>, to: [usize; 2]| {
            interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size(to),
            )
        };
        let mut sum: Option<Tensor<4>> = None;
        for (map, conv) in levels.into_iter().zip(&self.convs) {
            let mut x = relu(forward(conv, map));
            if x.dims()[2..] != [h, w] {
                x = resize(x, [h, w]);
            }
            sum = Some(match sum {
                Some(s) => s + x,
                None => x,
            });
        }
        let logits = forward(&self.classifier, sum.expect("a pyramid has a level"));
        resize(logits, size)
    }
}

/// Mean per-pixel cross-entropy of `logits` (`[N, K, H, W]`) against `labels` (`N·H·W`
/// class indices, row-major), pixels labelled [`IGNORE`] left out.
pub fn pixel_cross_entropy(logits: Tensor<4>, labels: &[u8]) -> Tensor<1> {
    let [n, k, h, w] = logits.dims();
    let device = logits.device();
    let valid: Vec<f32> = labels
        .iter()
        .map(|&l| f32::from(u8::from(l != IGNORE)))
        .collect();
    let index: Vec<i64> = labels
        .iter()
        .map(|&l| if l == IGNORE { 0 } else { i64::from(l) })
        .collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n * h * w]), &device)
        .reshape([n, 1, h, w]);
    let weight = Tensor::<1>::from_floats(valid.as_slice(), &device).reshape([n, 1, h, w]);
    let count = valid.iter().sum::<f32>().max(1.0);
    let picked = log_softmax(logits, 1).gather(1, index.clamp(0, k as i64 - 1));
    (picked * weight).sum().neg().div_scalar(count)
}

/// Counts of (true class, predicted class) pixels, from which segmentation is scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Confusion {
    classes: usize,
    /// `counts[t · classes + p]`.
    counts: Vec<u64>,
}

impl Confusion {
    /// An empty matrix over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Confusion {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Adds the pixels of one or more images (true and predicted labels, [`IGNORE`]d truth
    /// left out).
    pub fn add(&mut self, truth: &[u8], predicted: &[u8]) {
        for (&t, &p) in truth.iter().zip(predicted) {
            if t != IGNORE && (t as usize) < self.classes && (p as usize) < self.classes {
                self.counts[t as usize * self.classes + p as usize] += 1;
            }
        }
    }

    /// Adds another matrix of the same classes.
    pub fn merge(&mut self, other: &Confusion) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Each class's IoU `TP / (TP + FP + FN)`, `None` for a class neither true nor predicted
    /// anywhere.
    pub fn iou(&self) -> Vec<Option<f64>> {
        let k = self.classes;
        (0..k)
            .map(|c| {
                let tp = self.counts[c * k + c];
                let truth: u64 = self.counts[c * k..(c + 1) * k].iter().sum();
                let predicted: u64 = (0..k).map(|t| self.counts[t * k + c]).sum();
                let union = truth + predicted - tp;
                (union > 0).then(|| tp as f64 / union as f64)
            })
            .collect()
    }

    /// Mean IoU over the classes that occur (the PASCAL VOC and Cityscapes score).
    pub fn mean_iou(&self) -> f64 {
        let present: Vec<f64> = self.iou().into_iter().flatten().collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    /// The fraction of counted pixels labelled right.
    pub fn pixel_accuracy(&self) -> f64 {
        let k = self.classes;
        let right: u64 = (0..k).map(|c| self.counts[c * k + c]).sum();
        right as f64 / self.counts.iter().sum::<u64>().max(1) as f64
    }
}

/// The arg-max class of every pixel of `logits` (`[N, K, H, W]`), row-major per image.
pub fn predicted_labels(logits: Tensor<4>) -> Vec<u8> {
    let [n, _, h, w] = logits.dims();
    logits
        .argmax(1)
        .reshape([n * h * w])
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes, 6 pixels: truth 0 0 0 1 1 ·, prediction 0 0 1 1 0 1 (last ignored).
    /// Class 0: TP 2, FP 1, FN 1 → IoU 1/2; class 1: TP 1, FP 1, FN 1 → 1/3.
    #[test]
    fn scores_by_hand() {
        let mut c = Confusion::new(3);
        c.add(&[0, 0, 0, 1, 1, IGNORE], &[0, 0, 1, 1, 0, 1]);
        assert_eq!(c.iou(), vec![Some(0.5), Some(1.0 / 3.0), None]);
        assert!((c.mean_iou() - (0.5 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((c.pixel_accuracy() - 3.0 / 5.0).abs() < 1e-12);
        let mut d = Confusion::new(3);
        d.add(&[2], &[2]);
        d.merge(&c);
        assert_eq!(d.iou()[2], Some(1.0));
    }

    /// With logits that are one-hot (×20) on the true class the loss is ≈ 0, on a wrong one
    /// ≈ 20; ignored pixels do not count.
    #[test]
    fn pixel_loss_ignores_and_picks_the_true_class() {
        let device = Device::flex();
        // One image, 2 classes, 1 × 2 pixels: logits favour class 1 at both pixels.
        let logits =
            Tensor::<1>::from_floats([0.0, 0.0, 20.0, 20.0], &device).reshape([1, 2, 1, 2]);
        let right: f32 = pixel_cross_entropy(logits.clone(), &[1, IGNORE]).into_scalar();
        let wrong: f32 = pixel_cross_entropy(logits.clone(), &[0, IGNORE]).into_scalar();
        assert!(
            right < 1e-6 && (wrong - 20.0).abs() < 1e-3,
            "{right} {wrong}"
        );
        assert_eq!(predicted_labels(logits), vec![1, 1]);
    }

    #[test]
    fn logits_have_the_image_size() {
        let device = Device::flex();
        let stages = [(1, 3), (2, 4), (4, 5)];
        let plan = PyramidPlan::new(&[4, 8], &stages).unwrap();
        let head = SemanticHead::new(&[4, 8], 8, 3, &stages, &device).unwrap();
        let maps = stages
            .iter()
            .map(|&(s, c)| Tensor::<4>::ones([2, c, 32 / s, 32 / s], &device))
            .collect();
        assert_eq!(head.forward(&plan, maps, [32, 32]).dims(), [2, 3, 32, 32]);
    }
}

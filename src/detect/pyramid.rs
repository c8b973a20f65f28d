//! The feature pyramid of a detector (FPN, Lin et al. 2017, §3): 1×1 lateral convolutions
//! on the encoder's stages, a top-down path that adds each coarser merged map, upsampled ×2
//! by nearest neighbour, to the next finer lateral, and a 3×3 convolution on every merged
//! map. Levels the encoder has no stage for are made as the ViT and RetinaNet detectors
//! make them: finer ones by 2×2 stride-2 transposed convolutions of the finest merged map
//! (ViTDet's simple feature pyramid, Li et al. 2022, §3), coarser ones by 3×3 stride-2
//! convolutions of the ReLU of the level below (RetinaNet's P6/P7, Lin et al. 2017b).

use crate::kernels::conv2d;
use anyhow::{Result, bail, ensure};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

/// Which encoder stages feed which pyramid levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyramidPlan {
    /// Indices of the encoder stages whose strides are levels, finest first.
    pub inputs: Vec<usize>,
    /// Levels finer than the finest input, made by transposed convolutions.
    pub finer: usize,
    /// Levels coarser than the coarsest input, made by strided convolutions.
    pub coarser: usize,
}

impl PyramidPlan {
    /// The plan for pyramid `levels` (strides, finest first, each twice the one before) over
    /// encoder `stages` (`(stride, channels)`, finest first).
    pub fn new(levels: &[usize], stages: &[(usize, usize)]) -> Result<PyramidPlan> {
        ensure!(!levels.is_empty(), "detector.levels is empty");
        if let Some(w) = levels.windows(2).find(|w| w[1] != 2 * w[0]) {
            bail!(
                "detector.levels {levels:?}: each stride must be twice the one before ({} → {})",
                w[0],
                w[1]
            );
        }
        let inputs: Vec<usize> = (0..stages.len())
            .filter(|&i| levels.contains(&stages[i].0))
            .collect();
        let (Some(&first), Some(&last)) = (inputs.first(), inputs.last()) else {
            bail!(
                "detector.levels {levels:?}: the encoder has no stage at any of these strides \
                 (its stages: {:?})",
                stages.iter().map(|s| s.0).collect::<Vec<_>>()
            );
        };
        let finer = levels.iter().filter(|&&s| s < stages[first].0).count();
        let coarser = levels.iter().filter(|&&s| s > stages[last].0).count();
        Ok(PyramidPlan {
            inputs,
            finer,
            coarser,
        })
    }
}

/// A 3×3 (or `k`×`k`) convolution with bias, `stride`, "same" padding, initialised as
/// detectron2 initialises FPN and RPN convolutions (Kaiming uniform with `a = 1`, bias 0).
pub(super) fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
        .with_initializer(Initializer::KaimingUniform {
            gain: 1.0,
            fan_out_only: false,
        })
        .init(device)
}

/// `conv.forward(x)` through pretext's convolution kernel, with the bias added after.
pub(super) fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let PaddingConfig2d::Explicit(p, q, _, _) = conv.padding else {
        return conv.forward(x);
    };
    let y = conv2d(x, conv.weight.val(), conv.stride, [p, q]);
    match &conv.bias {
        Some(bias) => {
            let c = bias.dims()[0];
            y + bias.val().reshape([1, c, 1, 1])
        }
        None => y,
    }
}

/// The pyramid's trainable layers.
#[derive(Module, Debug)]
pub struct Pyramid {
    /// 1×1 lateral convolutions, one per input stage, finest first.
    pub laterals: Vec<Conv2d>,
    /// 3×3 output convolutions: one per input stage, then one per finer level.
    pub outputs: Vec<Conv2d>,
    /// The transposed convolutions of the finer levels, from coarse to fine.
    pub finer: Vec<ConvTranspose2d>,
    /// The strided convolutions of the coarser levels, from fine to coarse.
    pub coarser: Vec<Conv2d>,
}

impl Pyramid {
    /// A pyramid of `channels` maps over the encoder `stages` as `plan` says.
    pub fn new(
        plan: &PyramidPlan,
        stages: &[(usize, usize)],
        channels: usize,
        device: &Device,
    ) -> Self {
        let laterals = plan
            .inputs
            .iter()
            .map(|&i| conv(stages[i].1, channels, 1, 1, device))
            .collect();
        let outputs = (0..plan.inputs.len() + plan.finer)
            .map(|_| conv(channels, channels, 3, 1, device))
            .collect();
        let finer = (0..plan.finer)
            .map(|_| {
                ConvTranspose2dConfig::new([channels, channels], [2, 2])
                    .with_stride([2, 2])
                    .init(device)
            })
            .collect();
        let coarser = (0..plan.coarser)
            .map(|_| conv(channels, channels, 3, 2, device))
            .collect();
        Pyramid {
            laterals,
            outputs,
            finer,
            coarser,
        }
    }

    /// The pyramid's maps, finest level first, from the encoder's `stages`.
    pub fn forward(&self, plan: &PyramidPlan, stages: Vec<Tensor<4>>) -> Vec<Tensor<4>> {
        let mut stages: Vec<Option<Tensor<4>>> = stages.into_iter().map(Some).collect();
        let laterals: Vec<Tensor<4>> = plan
            .inputs
            .iter()
            .zip(&self.laterals)
            .map(|(&i, lateral)| {
                let stage = stages[i].take().expect("each stage feeds one lateral");
                forward(lateral, stage)
            })
            .collect();
        // Top-down: merged[i] = lateral[i] + up(merged[i + 1]).
        let mut merged: Vec<Tensor<4>> = Vec::with_capacity(laterals.len());
        for lateral in laterals.into_iter().rev() {
            let next = match merged.last() {
                Some(coarser) => {
                    let [_, _, h, w] = lateral.dims();
                    let up = interpolate(
                        coarser.clone(),
                        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
                    );
                    lateral + up
                }
                None => lateral,
            };
            merged.push(next);
        }
        merged.reverse();
        let mut finer = Vec::with_capacity(self.finer.len());
        let mut x = merged[0].clone();
        for up in &self.finer {
            x = up.forward(x);
            finer.push(x.clone());
        }
        finer.reverse();
        // The input levels use the first `inputs.len()` output convolutions, finer ones the rest.
        let mut levels: Vec<Tensor<4>> = finer
            .into_iter()
            .chain(merged)
            .zip(
                self.outputs
                    .iter()
                    .skip(plan.inputs.len())
                    .chain(&self.outputs),
            )
            .map(|(map, out)| forward(out, map))
            .collect();
        for down in &self.coarser {
            let top = levels.last().expect("a pyramid has a level").clone();
            levels.push(forward(down, relu(top)));
        }
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_use_the_stages_at_level_strides_and_make_the_rest() {
        let resnet = [(4, 64), (8, 128), (16, 256), (32, 512)];
        let plan = PyramidPlan::new(&[4, 8, 16], &resnet).unwrap();
        assert_eq!(
            plan,
            PyramidPlan {
                inputs: vec![0, 1, 2],
                finer: 0,
                coarser: 0
            }
        );
        let convnet = [(1, 32), (2, 64), (4, 128)];
        let plan = PyramidPlan::new(&[4, 8, 16], &convnet).unwrap();
        assert_eq!(
            plan,
            PyramidPlan {
                inputs: vec![2],
                finer: 0,
                coarser: 2
            }
        );
        let vit = [(8, 192)];
        let plan = PyramidPlan::new(&[4, 8, 16], &vit).unwrap();
        assert_eq!(
            plan,
            PyramidPlan {
                inputs: vec![0],
                finer: 1,
                coarser: 1
            }
        );
        let err = PyramidPlan::new(&[4, 12], &resnet).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
        let err = PyramidPlan::new(&[64, 128], &resnet)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no stage"), "{err}");
    }

    #[test]
    fn every_level_has_its_stride_and_the_pyramid_width() {
        let device = Device::flex();
        for stages in [
            vec![(1, 3), (2, 5), (4, 6)],
            vec![(8, 4)],
            vec![(4, 3), (8, 5), (16, 6), (32, 7)],
        ] {
            let plan = PyramidPlan::new(&[4, 8, 16], &stages).unwrap();
            let pyramid = Pyramid::new(&plan, &stages, 8, &device);
            let maps = stages
                .iter()
                .map(|&(s, c)| Tensor::<4>::ones([2, c, 64 / s, 64 / s], &device))
                .collect();
            let levels = pyramid.forward(&plan, maps);
            let dims: Vec<[usize; 4]> = levels.iter().map(|l| l.dims()).collect();
            assert_eq!(
                dims,
                [[2, 8, 16, 16], [2, 8, 8, 8], [2, 8, 4, 4]],
                "{stages:?}"
            );
        }
    }
}

//! An upsampling decoder that turns an encoder's feature map back into an image-shaped output
//! (colours for colorization, pixels for inpainting).

use crate::kernels::batch_norm_layer;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

/// One ×2 upsampling step: 4×4 transposed convolution with stride 2, batch norm, ReLU — the
/// "up-convolution" of Pathak et al. 2016 (§3.1) and of DCGAN's generator.
#[derive(Module, Debug)]
pub struct UpBlock {
    /// The transposed convolution.
    pub conv: ConvTranspose2d,
    /// Its batch norm.
    pub bn: BatchNorm,
}

/// `upsamplings` up-convolutions halving the channels (at least 16), then a 3×3 convolution
/// to `out_channels`; the result is resized bilinearly to the exact requested size when the
/// encoder's rounding left it a few pixels off.
#[derive(Module, Debug)]
pub struct Decoder {
    /// Upsampling steps.
    pub ups: Vec<UpBlock>,
    /// Final projection to the output channels.
    pub out: Conv2d,
}

impl Decoder {
    /// A decoder from `in_channels` feature maps to `out_channels` outputs, upsampling by
    /// `2^upsamplings`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        upsamplings: usize,
        device: &Device,
    ) -> Self {
        let mut c = in_channels;
        let ups = (0..upsamplings)
            .map(|_| {
                let next = (c / 2).max(16);
                let block = UpBlock {
                    conv: ConvTranspose2dConfig::new([c, next], [4, 4])
                        .with_stride([2, 2])
                        .with_padding([1, 1])
                        .init(device),
                    bn: BatchNormConfig::new(next).init(device),
                };
                c = next;
                block
            })
            .collect();
        Decoder {
            ups,
            out: Conv2dConfig::new([c, out_channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
        }
    }

    /// Decodes `map` (`[N, C, h, w]`) to `[N, out_channels, size[0], size[1]]`.
    pub fn forward(&self, mut map: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
        for up in &self.ups {
            map = batch_norm_layer(&up.bn, up.conv.forward(map), true);
        }
        let out = self.out.forward(map);
        let [_, _, h, w] = out.dims();
        if [h, w] == size {
            out
        } else {
            interpolate(
                out,
                InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size(size),
            )
        }
    }
}

/// Number of ×2 steps that bring a map of an encoder with total stride `reduction` from an
/// input of side `input` to an output of side `output` (rounded up).
pub fn upsamplings(reduction: usize, input: usize, output: usize) -> usize {
    let map = input.div_ceil(reduction).max(1);
    let mut steps = 0;
    while map << steps < output {
        steps += 1;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_to_the_requested_size() {
        let device = Device::flex();
        assert_eq!(upsamplings(4, 28, 28), 2);
        assert_eq!(upsamplings(8, 32, 32), 3);
        assert_eq!(upsamplings(4, 64, 16), 0);
        let decoder = Decoder::new(8, 2, 2, &device);
        let out = decoder.forward(Tensor::zeros([3, 8, 7, 7], &device), [28, 28]);
        assert_eq!(out.dims(), [3, 2, 28, 28]);
        let out = decoder.forward(Tensor::zeros([1, 8, 4, 4], &device), [14, 14]);
        assert_eq!(out.dims(), [1, 2, 14, 14]);
    }
}

//! A small VGG-style ConvNet that trains in minutes on two CPU cores.

use super::{EncoderConfig, global_avg_pool, kaiming_fan_out};
use crate::kernels::{batch_norm_layer, conv2d_layer};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

/// 3×3 convolution, batch norm, ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    /// The convolution (no bias: batch norm follows).
    pub conv: Conv2d,
    /// Its batch norm.
    pub bn: BatchNorm,
}

impl ConvBnRelu {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        ConvBnRelu {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .with_initializer(kaiming_fan_out())
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_layer(&self.bn, conv2d_layer(&self.conv, x), true)
    }
}

/// Five 3×3 conv-BN-ReLU layers (widths 32, 32, 64, 64, 128 times the width multiplier) with
/// 2×2 max-pooling after the second and fourth, then global average pooling.
///
/// On 28×28 inputs this costs about 22 M multiply-adds per image, roughly 1/25 of a CIFAR
/// ResNet-18, which is what makes CPU pretraining in minutes possible.
#[derive(Module, Debug)]
pub struct ConvNetSmall {
    /// The convolution layers, in order.
    pub layers: Vec<ConvBnRelu>,
    /// The 2×2 max-pool applied after layers 1 and 3 (0-based).
    pub pool: MaxPool2d,
}

impl ConvNetSmall {
    /// Builds the network for `config` (input channels and width multiplier).
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let widths = [32, 32, 64, 64, 128].map(|w| config.scaled(w));
        let mut c_in = config.in_channels;
        let layers = widths
            .iter()
            .map(|&c_out| {
                let layer = ConvBnRelu::new(c_in, c_out, device);
                c_in = c_out;
                layer
            })
            .collect();
        ConvNetSmall {
            layers,
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// The last layer's feature map, `[N, D, h, w]`.
    pub fn forward_map(&self, mut x: Tensor<4>) -> Tensor<4> {
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i == 1 || i == 3 {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// Globally average-pooled features, `[N, D]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        global_avg_pool(self.forward_map(x))
    }

    /// The maps before each pooling and the last one: strides 1, 2 and 4.
    pub fn forward_stages(&self, mut x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut stages = Vec::with_capacity(3);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i == 1 || i == 3 {
                stages.push(x.clone());
                x = self.pool.forward(x);
            }
        }
        stages.push(x);
        stages
    }
}

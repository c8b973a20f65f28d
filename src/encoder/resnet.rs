//! ResNet-18 and ResNet-50 (He, Zhang, Ren, Sun, "Deep Residual Learning for Image
//! Recognition", CVPR 2016), laid out like torchvision's `resnet18` / `resnet50` without the
//! final `fc`, with the optional CIFAR stem and a width multiplier.

use super::{EncoderConfig, Stem, global_avg_pool, kaiming_fan_out};
use crate::kernels::{batch_norm_layer, conv2d_layer};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Block type and counts of the two depths pretext builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResNetDepth {
    /// Basic blocks, [2, 2, 2, 2].
    Resnet18,
    /// Bottleneck blocks (expansion 4), [3, 4, 6, 3].
    Resnet50,
}

/// A `k×k` convolution without bias (batch norm follows), torchvision's initialisation.
fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(kaiming_fan_out())
        .init(device)
}

fn bn(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// The 1×1 convolution + batch norm that matches the shortcut's shape to the block output
/// (torchvision's `downsample.0` and `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1×1 strided convolution (`downsample.0`).
    pub conv: Conv2d,
    /// Batch norm (`downsample.1`).
    pub bn: BatchNorm,
}

impl Downsample {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_layer(&self.bn, conv2d_layer(&self.conv, x), false)
    }
}

/// A residual block: basic (two 3×3 convs) or bottleneck (1×1, 3×3, 1×1 with 4× expansion).
#[derive(Module, Debug)]
pub struct Block {
    /// First convolution.
    pub conv1: Conv2d,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm,
    /// Second convolution (3×3, carries the stride).
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm,
    /// Third convolution (bottleneck only).
    pub conv3: Option<Conv2d>,
    /// Batch norm after `conv3` (bottleneck only).
    pub bn3: Option<BatchNorm>,
    /// Projection shortcut where the shape changes.
    pub downsample: Option<Downsample>,
}

impl Block {
    fn basic(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        Block {
            conv1: conv(c_in, c_out, 3, stride, device),
            bn1: bn(c_out, device),
            conv2: conv(c_out, c_out, 3, 1, device),
            bn2: bn(c_out, device),
            conv3: None,
            bn3: None,
            downsample: (stride != 1 || c_in != c_out).then(|| Downsample {
                conv: conv(c_in, c_out, 1, stride, device),
                bn: bn(c_out, device),
            }),
        }
    }

    /// torchvision's Bottleneck (v1.5: the stride sits on the 3×3 convolution).
    fn bottleneck(c_in: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let c_out = planes * 4;
        Block {
            conv1: conv(c_in, planes, 1, 1, device),
            bn1: bn(planes, device),
            conv2: conv(planes, planes, 3, stride, device),
            bn2: bn(planes, device),
            conv3: Some(conv(planes, c_out, 1, 1, device)),
            bn3: Some(bn(c_out, device)),
            downsample: (stride != 1 || c_in != c_out).then(|| Downsample {
                conv: conv(c_in, c_out, 1, stride, device),
                bn: bn(c_out, device),
            }),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = batch_norm_layer(&self.bn1, conv2d_layer(&self.conv1, x), true);
        let out = match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => {
                let out = batch_norm_layer(&self.bn2, conv2d_layer(&self.conv2, out), true);
                batch_norm_layer(bn3, conv2d_layer(conv3, out), false)
            }
            _ => batch_norm_layer(&self.bn2, conv2d_layer(&self.conv2, out), false),
        };
        relu(out + identity)
    }
}

/// A ResNet encoder without its classification layer.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem convolution: 7×7/2 (ImageNet) or 3×3/1 (CIFAR).
    pub conv1: Conv2d,
    /// Stem batch norm.
    pub bn1: BatchNorm,
    /// 3×3/2 max-pool of the ImageNet stem; absent with the CIFAR stem.
    pub maxpool: Option<MaxPool2d>,
    /// Stage 1 (stride 1).
    pub layer1: Vec<Block>,
    /// Stage 2 (stride 2).
    pub layer2: Vec<Block>,
    /// Stage 3 (stride 2).
    pub layer3: Vec<Block>,
    /// Stage 4 (stride 2).
    pub layer4: Vec<Block>,
}

impl ResNet {
    /// Builds a ResNet of `depth` for `config` (width, input channels, stem).
    pub fn new(config: &EncoderConfig, depth: ResNetDepth, device: &Device) -> Self {
        let base = config.scaled(64);
        let (conv1, maxpool) = match config.stem {
            Stem::Cifar => (conv(config.in_channels, base, 3, 1, device), None),
            Stem::Imagenet | Stem::Auto => (
                conv(config.in_channels, base, 7, 2, device),
                Some(
                    MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                ),
            ),
        };
        let counts = match depth {
            ResNetDepth::Resnet18 => [2, 2, 2, 2],
            ResNetDepth::Resnet50 => [3, 4, 6, 3],
        };
        let mut c_in = base;
        let mut stages: Vec<Vec<Block>> = Vec::with_capacity(4);
        for (stage, &count) in counts.iter().enumerate() {
            let planes = config.scaled(64 << stage);
            let mut blocks = Vec::with_capacity(count);
            for i in 0..count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = match depth {
                    ResNetDepth::Resnet18 => Block::basic(c_in, planes, stride, device),
                    ResNetDepth::Resnet50 => Block::bottleneck(c_in, planes, stride, device),
                };
                c_in = match depth {
                    ResNetDepth::Resnet18 => planes,
                    ResNetDepth::Resnet50 => planes * 4,
                };
                blocks.push(block);
            }
            stages.push(blocks);
        }
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();
        ResNet {
            conv1,
            bn1: bn(base, device),
            maxpool,
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
        }
    }

    /// The last stage's feature map, `[N, D, h, w]`.
    pub fn forward_map(&self, x: Tensor<4>) -> Tensor<4> {
        let mut stages = self.forward_stages(x);
        stages.pop().expect("a ResNet has four stages")
    }

    /// The output of each of the four stages (`layer1`…`layer4`, torchvision's `C2`…`C5`).
    pub fn forward_stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = batch_norm_layer(&self.bn1, conv2d_layer(&self.conv1, x), true);
        if let Some(pool) = &self.maxpool {
            x = pool.forward(x);
        }
        let mut stages = Vec::with_capacity(4);
        for stage in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
            for block in stage {
                x = block.forward(x);
            }
            stages.push(x.clone());
        }
        stages
    }

    /// Globally average-pooled features, `[N, D]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        global_avg_pool(self.forward_map(x))
    }

    /// Every batch norm, in forward order: the stem's, then each block's (`bn1`, `bn2`,
    /// `bn3`, the shortcut's).
    pub fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let mut all = vec![&mut self.bn1];
        let blocks = self
            .layer1
            .iter_mut()
            .chain(&mut self.layer2)
            .chain(&mut self.layer3)
            .chain(&mut self.layer4);
        for block in blocks {
            all.extend([&mut block.bn1, &mut block.bn2]);
            all.extend(block.bn3.as_mut());
            all.extend(block.downsample.as_mut().map(|d| &mut d.bn));
        }
        all
    }
}

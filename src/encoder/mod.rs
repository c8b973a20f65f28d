//! Encoders: the transferable backbones that self-supervised methods train.
//!
//! Every encoder maps `[N, C, H, W]` images to `[N, D]` features (global average pooled, or
//! a ViT's CLS token) and reports `D` through [`EncoderConfig::feature_dim`]. Parameter names
//! of the ResNets follow torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, …,
//! `layer1.0.downsample.0`), those of the ViTs timm's (`patch_embed.proj`, `blocks.0.attn.qkv`,
//! …), so weights can be exported under the names those libraries load.

mod convnet;
mod resnet;
pub mod vit;

pub use convnet::ConvNetSmall;
pub use resnet::{ResNet, ResNetDepth};
pub use vit::{VisionTransformer, sincos_pos_embed};

use burn::module::{ParamId, list_param_ids};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The encoder architectures pretext builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// A five-convolution network (widths 32-32-64-64-128 at width 1) that trains quickly on
    /// two CPU cores; 128-d features at width 1.
    ConvnetSmall,
    /// ResNet-18 (He et al. 2016), basic blocks [2, 2, 2, 2], 512-d features at width 1.
    Resnet18,
    /// ResNet-50 (He et al. 2016), bottleneck blocks [3, 4, 6, 3], 2048-d features at width 1.
    Resnet50,
    /// ViT-Tiny (DeiT): 192-d tokens, 12 blocks, 3 heads.
    VitTiny,
    /// ViT-Small (DeiT): 384-d tokens, 12 blocks, 6 heads.
    VitSmall,
    /// ViT-Base (Dosovitskiy et al. 2021): 768-d tokens, 12 blocks, 12 heads.
    VitBase,
}

impl Architecture {
    /// Command-line names of all architectures.
    pub const NAMES: [(Architecture, &'static str); 6] = [
        (Architecture::ConvnetSmall, "convnet-small"),
        (Architecture::Resnet18, "resnet18"),
        (Architecture::Resnet50, "resnet50"),
        (Architecture::VitTiny, "vit-tiny"),
        (Architecture::VitSmall, "vit-small"),
        (Architecture::VitBase, "vit-base"),
    ];

    /// A ViT size's published (token width, depth, heads); `None` for the ConvNets.
    pub fn vit_size(self) -> Option<(usize, usize, usize)> {
        match self {
            Architecture::VitTiny => Some((192, 12, 3)),
            Architecture::VitSmall => Some((384, 12, 6)),
            Architecture::VitBase => Some((768, 12, 12)),
            _ => None,
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("?", |(_, n)| n)
    }
}

impl std::str::FromStr for Architecture {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(a, _)| *a)
            .ok_or_else(|| {
                let names: Vec<_> = Self::NAMES.iter().map(|(_, n)| *n).collect();
                anyhow::anyhow!(
                    "unknown encoder `{s}`; known encoders: {}",
                    names.join(", ")
                )
            })
    }
}

/// The first layers of a ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// Pick `cifar` for inputs of at most 64 pixels, `imagenet` otherwise.
    Auto,
    /// 7×7 stride-2 convolution and 3×3 stride-2 max-pool (He et al. 2016, ImageNet).
    Imagenet,
    /// 3×3 stride-1 convolution, no max-pool: the variant used for 32×32 CIFAR images by
    /// SimCLR, solo-learn and lightly.
    Cifar,
}

/// A ViT's position embeddings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PosEmbed {
    /// Learned, initialised `N(0, 0.02)` (ViT, DeiT, DINO; timm's default).
    #[default]
    Learned,
    /// The fixed 2-D sine-cosine table (MAE, I-JEPA), never trained.
    Sincos,
}

/// What a ViT's feature vector is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// The CLS token after the final norm (ViT, DINO; timm's `global_pool="token"`).
    #[default]
    Cls,
    /// The mean of the patch tokens after the final norm (timm's `global_pool="avg"` with
    /// `fc_norm=False`).
    Mean,
}

/// Everything needed to build an encoder; stored in every run's config and checkpoint. The
/// ViT keys (`image_size` … `pool`) are written only for ViTs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// Architecture name.
    pub arch: Architecture,
    /// Width multiplier (1.0 = the published widths; a ViT's token width is rounded to a
    /// multiple of its heads).
    pub width: f64,
    /// Input channels (1 for gray images, 3 for RGB). `0` means "take it from the data".
    pub in_channels: usize,
    /// ResNet stem; ignored by the small ConvNet and the ViTs.
    pub stem: Stem,
    /// ViT: the image side its position embeddings are laid out for (other sides interpolate
    /// them). `0` = the data's.
    #[serde(skip_serializing_if = "is_zero")]
    pub image_size: usize,
    /// ViT: patch side in pixels. `0` = the largest of 16, 8, 4 and 2 that leaves at least 7
    /// patches per side (16 at 224 px, 4 at 28–32 px).
    #[serde(skip_serializing_if = "is_zero")]
    pub patch_size: usize,
    /// ViT: number of blocks. `0` = the size's (12).
    #[serde(skip_serializing_if = "is_zero")]
    pub depth: usize,
    /// ViT: attention heads. `0` = the size's.
    #[serde(skip_serializing_if = "is_zero")]
    pub heads: usize,
    /// ViT: learned or fixed sine-cosine position embeddings.
    #[serde(skip_serializing_if = "is_default")]
    pub pos_embed: PosEmbed,
    /// ViT: stochastic-depth rate of the last block, rising linearly from 0 at the first
    /// (timm's `drop_path_rate`).
    #[serde(skip_serializing_if = "is_default")]
    pub drop_path: f64,
    /// ViT: LayerScale's initial value (CaiT; DINOv2 uses 1e-5). `0` = no LayerScale.
    #[serde(skip_serializing_if = "is_default")]
    pub layer_scale: f64,
    /// ViT: features from the CLS token or the mean of the patch tokens.
    #[serde(skip_serializing_if = "is_default")]
    pub pool: Pool,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            arch: Architecture::ConvnetSmall,
            width: 1.0,
            in_channels: 0,
            stem: Stem::Auto,
            image_size: 0,
            patch_size: 0,
            depth: 0,
            heads: 0,
            pos_embed: PosEmbed::Learned,
            drop_path: 0.0,
            layer_scale: 0.0,
            pool: Pool::Cls,
        }
    }
}

/// The shape of a resolved ViT: token width, blocks, heads and patch side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VitShape {
    /// Token width `D`.
    pub dim: usize,
    /// Number of blocks.
    pub depth: usize,
    /// Attention heads.
    pub heads: usize,
    /// Patch side in pixels.
    pub patch: usize,
}

impl EncoderConfig {
    /// Resolves the data-dependent choices (`in_channels = 0`, `stem = auto`, and a ViT's
    /// zeros: image size, patch size, depth, heads) for images with `channels` channels and
    /// side `image_size`.
    pub fn resolved(mut self, channels: usize, image_size: usize) -> Self {
        if self.in_channels == 0 {
            self.in_channels = channels;
        }
        if let Some((_, depth, heads)) = self.arch.vit_size() {
            if self.image_size == 0 {
                self.image_size = image_size;
            }
            if self.patch_size == 0 {
                self.patch_size = [16, 8, 4, 2]
                    .into_iter()
                    .find(|p| self.image_size / p >= 7)
                    .unwrap_or(1);
            }
            if self.depth == 0 {
                self.depth = depth;
            }
            if self.heads == 0 {
                self.heads = heads;
            }
        }
        if self.stem == Stem::Auto {
            self.stem = if image_size <= 64 {
                Stem::Cifar
            } else {
                Stem::Imagenet
            };
        }
        self
    }

    /// Checks that the config describes a buildable network.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.width > 0.0 && self.width.is_finite(),
            "encoder width must be a positive number, got {}",
            self.width
        );
        anyhow::ensure!(
            matches!(self.in_channels, 1 | 3),
            "encoder in_channels must be 1 or 3, got {}",
            self.in_channels
        );
        if self.arch.vit_size().is_none() {
            return Ok(());
        }
        let shape = self.vit_shape();
        let unresolved = self.patch_size == 0 || self.image_size == 0;
        anyhow::ensure!(
            unresolved || self.image_size >= shape.patch,
            "encoder.patch_size ({}) must be between 1 and the image size ({})",
            shape.patch,
            self.image_size
        );
        anyhow::ensure!(
            shape.depth > 0 && shape.heads > 0,
            "encoder.depth and encoder.heads must be positive"
        );
        anyhow::ensure!(
            self.pos_embed != PosEmbed::Sincos || shape.dim.is_multiple_of(4),
            "encoder.pos_embed = \"sincos\" needs a token width divisible by 4; {} at width {} is not",
            shape.dim,
            self.width
        );
        anyhow::ensure!(
            (0.0..1.0).contains(&self.drop_path),
            "encoder.drop_path must be in [0, 1), got {}",
            self.drop_path
        );
        anyhow::ensure!(
            self.layer_scale >= 0.0 && self.layer_scale.is_finite(),
            "encoder.layer_scale must be 0 (off) or positive, got {}",
            self.layer_scale
        );
        Ok(())
    }

    /// Whether an encoder built from `other` has the same parameters as one built from this
    /// config, so that weights move between them: every key but the training-time
    /// `drop_path` and the feature's `pool` must agree.
    pub fn same_weights(&self, other: &EncoderConfig) -> bool {
        let weights = |config: &EncoderConfig| EncoderConfig {
            drop_path: 0.0,
            pool: Pool::Cls,
            ..config.clone()
        };
        weights(self) == weights(other)
    }

    /// An error naming `encoder.arch` unless this is a Vision Transformer: the check of the
    /// methods that work on patch tokens (`method` names the one asking).
    pub fn ensure_vit(&self, method: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.arch.vit_size().is_some(),
            "method {method} needs a Vision Transformer: set encoder.arch to vit-tiny, vit-small or vit-base (got {})",
            self.arch.name()
        );
        Ok(())
    }

    /// A ViT's shape after the width multiplier and overrides (token width rounded to a
    /// multiple of the heads). Meaningful for resolved ViT configs only.
    pub fn vit_shape(&self) -> VitShape {
        let (dim, depth, heads) = self.arch.vit_size().unwrap_or((192, 12, 3));
        let heads = if self.heads > 0 { self.heads } else { heads };
        let dim = self.scaled(dim);
        VitShape {
            dim: ((dim + heads / 2) / heads).max(1) * heads,
            depth: if self.depth > 0 { self.depth } else { depth },
            heads,
            patch: self.patch_size,
        }
    }

    /// Scales a published channel count by the width multiplier (at least 1).
    pub(crate) fn scaled(&self, channels: usize) -> usize {
        ((channels as f64 * self.width).round() as usize).max(1)
    }

    /// Builds the encoder with fresh (random) weights on `device`.
    pub fn init(&self, device: &Device) -> Encoder {
        match self.arch {
            Architecture::ConvnetSmall => Encoder::ConvNet(ConvNetSmall::new(self, device)),
            Architecture::Resnet18 => {
                Encoder::ResNet(ResNet::new(self, ResNetDepth::Resnet18, device))
            }
            Architecture::Resnet50 => {
                Encoder::ResNet(ResNet::new(self, ResNetDepth::Resnet50, device))
            }
            Architecture::VitTiny | Architecture::VitSmall | Architecture::VitBase => {
                Encoder::Vit(VisionTransformer::new(self, device))
            }
        }
    }

    /// Total stride: how many input pixels one cell of the feature map spans.
    pub fn reduction(&self) -> usize {
        match (self.arch, self.stem) {
            (Architecture::ConvnetSmall, _) => 4,
            (Architecture::VitTiny | Architecture::VitSmall | Architecture::VitBase, _) => {
                self.patch_size
            }
            (_, Stem::Cifar) => 8,
            _ => 32,
        }
    }

    /// The `(stride, channels)` of each map [`Encoder::forward_stages`] returns, finest
    /// first: the small ConvNet's maps before its pools and its last (strides 1, 2, 4); a
    /// ResNet's four stages (strides 4–32, or 1–8 with the CIFAR stem); a ViT's patch grid.
    pub fn stages(&self) -> Vec<(usize, usize)> {
        match self.arch {
            Architecture::ConvnetSmall => vec![
                (1, self.scaled(32)),
                (2, self.scaled(64)),
                (4, self.scaled(128)),
            ],
            Architecture::Resnet18 | Architecture::Resnet50 => {
                let expansion = if self.arch == Architecture::Resnet50 {
                    4
                } else {
                    1
                };
                let first = self.reduction() / 8;
                (0..4)
                    .map(|s| (first << s, self.scaled(64 << s) * expansion))
                    .collect()
            }
            Architecture::VitTiny | Architecture::VitSmall | Architecture::VitBase => {
                vec![(self.patch_size, self.vit_shape().dim)]
            }
        }
    }

    /// Output feature dimension of the encoder this config builds.
    pub fn feature_dim(&self) -> usize {
        match self.arch {
            Architecture::ConvnetSmall => self.scaled(128),
            Architecture::Resnet18 => self.scaled(512),
            Architecture::Resnet50 => self.scaled(512) * 4,
            Architecture::VitTiny | Architecture::VitSmall | Architecture::VitBase => {
                self.vit_shape().dim
            }
        }
    }
}

/// A backbone network: images in, pooled feature vectors out.
// burn's Module derive does not support boxed fields; the size difference is only the
// handles of a few parameters and an encoder is moved a handful of times per step.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Encoder {
    /// The small CPU ConvNet.
    ConvNet(ConvNetSmall),
    /// A ResNet-18/50.
    ResNet(ResNet),
    /// A Vision Transformer.
    Vit(VisionTransformer),
}

impl Encoder {
    /// Features of `images` (`[N, C, H, W]` → `[N, D]`).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Encoder::ConvNet(net) => net.forward(images),
            Encoder::ResNet(net) => net.forward(images),
            Encoder::Vit(net) => net.forward(images),
        }
    }

    /// The Vision Transformer, for methods that work on its tokens (MAE, I-JEPA).
    pub fn as_vit(&self) -> Option<&VisionTransformer> {
        match self {
            Encoder::Vit(net) => Some(net),
            _ => None,
        }
    }

    /// Spatial feature map before pooling (`[N, D, h, w]`), for dense heads such as decoders.
    pub fn forward_map(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            Encoder::ConvNet(net) => net.forward_map(images),
            Encoder::ResNet(net) => net.forward_map(images),
            Encoder::Vit(net) => net.forward_map(images),
        }
    }

    /// The feature maps of the encoder's stages, finest first, as
    /// [`EncoderConfig::stages`] lists them: the multi-scale input of a feature pyramid.
    pub fn forward_stages(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        match self {
            Encoder::ConvNet(net) => net.forward_stages(images),
            Encoder::ResNet(net) => net.forward_stages(images),
            Encoder::Vit(net) => vec![net.forward_map(images)],
        }
    }

    /// Every batch norm of the network, in forward order (for re-estimating their running
    /// statistics before a frozen evaluation: PreciseBN in `eval`).
    pub fn batch_norms_mut(&mut self) -> Vec<&mut burn::nn::BatchNorm> {
        match self {
            Encoder::ConvNet(net) => net.layers.iter_mut().map(|l| &mut l.bn).collect(),
            Encoder::ResNet(net) => net.batch_norms_mut(),
            Encoder::Vit(_) => Vec::new(),
        }
    }

    /// Freezes the first `count` of the encoder's [`STAGES`] stages (burn's
    /// [`Module::freeze`]: no gradient, batch norm in inference mode), as mmselfsup's and
    /// VISSL's `frozen_stages` do when fine-tuning. A ResNet's stages are the stem
    /// (`conv1`, `bn1`) and `layer1`…`layer4`; the small ConvNet's are its five
    /// convolution layers; a ViT's the embeddings and four near-equal groups of blocks.
    pub fn freeze_stages(self, count: usize) -> Self {
        match self {
            Encoder::ConvNet(mut net) => {
                net.layers = net
                    .layers
                    .into_iter()
                    .enumerate()
                    .map(|(i, layer)| if i < count { layer.freeze() } else { layer })
                    .collect();
                Encoder::ConvNet(net)
            }
            Encoder::ResNet(mut net) => {
                if count > 0 {
                    net.conv1 = net.conv1.freeze();
                    net.bn1 = net.bn1.freeze();
                }
                let stages = [
                    &mut net.layer1,
                    &mut net.layer2,
                    &mut net.layer3,
                    &mut net.layer4,
                ];
                for stage in stages.into_iter().take(count.saturating_sub(1)) {
                    *stage = std::mem::take(stage).freeze();
                }
                Encoder::ResNet(net)
            }
            Encoder::Vit(net) => Encoder::Vit(net.freeze_stages(count)),
        }
    }
}

impl Encoder {
    /// The parameter ids of the encoder's layers, from the input up, for layer-wise
    /// learning-rate decay (BEiT, Bao et al. 2022; MAE's fine-tuning, He et al. 2022): a ViT's
    /// embeddings (patch projection, CLS token, position embeddings), then each block; a
    /// ResNet's stem (`conv1`, `bn1`), then each residual block; the small ConvNet's five
    /// convolution layers. Parameters in no layer (a ViT's final norm) rank with the head,
    /// as in MAE's `param_groups_lrd` and timm's layer grouping.
    pub fn layers(&self) -> Vec<Vec<ParamId>> {
        match self {
            Encoder::ConvNet(net) => net.layers.iter().map(list_param_ids).collect(),
            Encoder::ResNet(net) => {
                let mut stem = list_param_ids(&net.conv1);
                stem.extend(list_param_ids(&net.bn1));
                let blocks = [&net.layer1, &net.layer2, &net.layer3, &net.layer4]
                    .into_iter()
                    .flatten()
                    .map(list_param_ids);
                std::iter::once(stem).chain(blocks).collect()
            }
            Encoder::Vit(net) => {
                let mut embed = list_param_ids(&net.patch_embed);
                embed.extend([net.cls_token.id, net.pos_embed.id]);
                std::iter::once(embed)
                    .chain(net.blocks.iter().map(list_param_ids))
                    .collect()
            }
        }
    }
}

/// Number of stages every encoder has, for [`Encoder::freeze_stages`].
pub const STAGES: usize = 5;

/// Global average pooling `[N, D, h, w]` → `[N, D]`.
pub(crate) fn global_avg_pool(map: Tensor<4>) -> Tensor<2> {
    let [n, d, h, w] = map.dims();
    map.reshape([n, d, h * w]).mean_dim(2).reshape([n, d])
}

/// He (Kaiming) normal initialisation in fan-out mode for ReLU networks, as torchvision's
/// ResNet uses: `N(0, 2 / fan_out)`.
pub(crate) fn kaiming_fan_out() -> burn::nn::Initializer {
    burn::nn::Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(arch: Architecture, in_channels: usize, size: usize, width: f64) {
        let device = Device::flex();
        let config = EncoderConfig {
            arch,
            width,
            in_channels,
            stem: Stem::Auto,
            ..Default::default()
        }
        .resolved(in_channels, size);
        let encoder = config.init(&device);
        let x = Tensor::<4>::zeros([2, in_channels, size, size], &device);
        let y = encoder.forward(x.clone());
        assert_eq!(y.dims(), [2, config.feature_dim()], "{arch:?}");
        let stages = encoder.forward_stages(x);
        let expected = config.stages();
        assert_eq!(stages.len(), expected.len(), "{arch:?}");
        for (map, (stride, channels)) in stages.iter().zip(expected) {
            let side = size.div_ceil(stride);
            assert_eq!(
                map.dims(),
                [2, channels, side, side],
                "{arch:?} stride {stride}"
            );
        }
        assert_eq!(
            config.stages().last().map(|s| s.1),
            Some(config.feature_dim())
        );
    }

    #[test]
    fn feature_dims_match_the_reported_dimension() {
        check(Architecture::ConvnetSmall, 1, 28, 1.0);
        check(Architecture::ConvnetSmall, 3, 32, 0.5);
        check(Architecture::Resnet18, 3, 32, 0.25);
        check(Architecture::Resnet18, 1, 96, 0.25);
        check(Architecture::Resnet50, 3, 32, 0.125);
        check(Architecture::VitTiny, 3, 32, 0.25);
    }

    #[test]
    fn resnet18_has_the_published_parameter_count() {
        // torchvision resnet18 has 11,689,512 parameters, of which the fc layer has
        // 512 * 1000 + 1000 = 513,000: the encoder without fc has 11,176,512. burn also counts
        // the batch norms' running mean and variance: 2 * 4,800 BN channels.
        let config = EncoderConfig {
            arch: Architecture::Resnet18,
            width: 1.0,
            in_channels: 3,
            stem: Stem::Imagenet,
            ..Default::default()
        };
        assert_eq!(
            config.init(&Device::flex()).num_params(),
            11_176_512 + 2 * 4_800
        );
    }

    #[test]
    fn resnet50_has_the_published_parameter_count() {
        // torchvision resnet50: 25,557,032 parameters; fc = 2048 * 1000 + 1000; plus running
        // statistics of 26,560 BN channels.
        let config = EncoderConfig {
            arch: Architecture::Resnet50,
            width: 1.0,
            in_channels: 3,
            stem: Stem::Imagenet,
            ..Default::default()
        };
        assert_eq!(
            config.init(&Device::flex()).num_params(),
            25_557_032 - 2_049_000 + 2 * 26_560
        );
    }

    /// For each trainable parameter tensor of `encoder`: whether a backward pass from its
    /// summed features reaches it.
    fn trained(encoder: &Encoder, size: usize) -> Vec<bool> {
        use burn::module::{ModuleVisitor, Param};
        use burn::optim::GradientsParams;
        struct Reached<'a>(&'a GradientsParams, Vec<bool>);
        impl ModuleVisitor for Reached<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if param.is_require_grad() {
                    self.1.push(self.0.get::<D>(param.id).is_some());
                }
            }
        }
        let device = encoder.devices()[0].clone();
        let x = Tensor::<4>::ones([2, 1, size, size], &device);
        let grads = encoder.forward(x).sum().backward();
        let params = GradientsParams::from_grads(grads, encoder);
        let mut reached = Reached(&params, Vec::new());
        encoder.visit(&mut reached);
        reached.1
    }

    #[test]
    fn frozen_stages_take_no_gradient_and_keep_their_batch_norm_statistics() {
        let device = Device::flex().autodiff();
        let config = EncoderConfig {
            arch: Architecture::Resnet18,
            width: 0.125,
            in_channels: 1,
            stem: Stem::Cifar,
            ..Default::default()
        };
        let all = trained(&config.init(&device), 8);
        assert!(
            all.iter().all(|&g| g),
            "an unfrozen encoder trains everything"
        );
        let frozen = config.init(&device).freeze_stages(2);
        // The stem (conv1 weight, bn1 γ β) and layer1 (2 blocks × 6 tensors) are frozen.
        let trainable = trained(&frozen, 8);
        assert_eq!(trainable.len(), all.len() - 3 - 12);
        assert!(trainable.iter().all(|&g| g));
        // A forward pass on the training device leaves frozen batch norms' statistics alone
        // and updates the others.
        let Encoder::ResNet(before) = frozen else {
            unreachable!()
        };
        let stats = |net: &ResNet| {
            let mean = |bn: &burn::nn::BatchNorm| -> Vec<f32> {
                bn.running_mean.value().into_data().try_to_vec().unwrap()
            };
            (mean(&net.bn1), mean(&net.layer2[0].bn1))
        };
        let (stem, layer2) = stats(&before);
        let x = Tensor::<4>::random([4, 1, 8, 8], burn::tensor::Distribution::Default, &device);
        let _ = before.forward(x);
        let (stem_after, layer2_after) = stats(&before);
        assert_eq!(stem, stem_after);
        assert_ne!(layer2, layer2_after);

        let convnet = EncoderConfig {
            arch: Architecture::ConvnetSmall,
            ..config
        };
        let all = trained(&convnet.init(&device), 8).len();
        let frozen = trained(&convnet.init(&device).freeze_stages(STAGES - 1), 8);
        assert!(all == 15 && frozen.len() == 3, "{all} {}", frozen.len());
    }

    #[test]
    fn a_vit_trains_every_parameter_and_freezes_embeddings_then_block_groups() {
        let device = Device::flex().autodiff();
        let config = EncoderConfig {
            arch: Architecture::VitTiny,
            width: 0.25,
            depth: 4,
            in_channels: 1,
            ..Default::default()
        }
        .resolved(1, 28);
        let all = trained(&config.init(&device), 28);
        assert_eq!(all.len(), 4 + 4 * 12 + 2);
        assert!(all.iter().all(|&g| g), "every tensor is reached: {all:?}");
        // Stage 0: patch projection (weight, bias), CLS token, position embeddings; stage 1:
        // the first of four groups of blocks (one block, 12 tensors).
        let frozen = trained(&config.init(&device).freeze_stages(2), 28);
        assert_eq!(frozen.len(), all.len() - 4 - 12);
        assert!(frozen.iter().all(|&g| g));
        // The fixed sine-cosine table is never trained.
        let fixed = EncoderConfig {
            pos_embed: PosEmbed::Sincos,
            ..config
        };
        let reached = trained(&fixed.init(&device), 28);
        assert_eq!(reached.iter().filter(|&&g| !g).count(), 1);
    }

    #[test]
    fn unknown_names_are_rejected_with_the_list() {
        let err = "resnet19".parse::<Architecture>().unwrap_err().to_string();
        assert!(
            err.contains("resnet19") && err.contains("resnet50"),
            "{err}"
        );
    }
}

//! SimMIM (Xie, Zhang, Cao, Lin, Bao, Yao, Dai & Hu, "SimMIM: A Simple Framework for Masked
//! Image Modeling", CVPR 2022).
//!
//! A random 60 % of the image's mask patches (squares of `mask_patch` pixels, larger than
//! the model's patches: the paper's 32 px on ViT-B/16) are hidden. On a ViT the hidden
//! patches' embeddings are replaced by one learned mask token before the position
//! embeddings are added, and the encoder sees every token; on a ConvNet or ResNet the hidden
//! pixels are replaced by a learned value per channel (the mask on the input). A one-layer
//! prediction head — a 1×1 convolution from the encoder's last feature map to
//! `stride²·C` channels and a pixel shuffle (the paper's "linear head") — regresses the raw
//! (normalised) pixels, and the loss is their ℓ1 error on the hidden pixels only:
//!
//! ```text
//! L = Σ_{n,c,y,x} M_{n,y,x} · |ŷ_{n,c,y,x} − x_{n,c,y,x}| / (Σ M + 1e-5) / C
//! ```
//!
//! The augmentation is the paper's: random resized crop (scale 0.67–1, ratio 3/4–4/3) and
//! horizontal flip.

use super::{Method, MethodContext, Network, Progress, StepOutput, stack_images};
use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{PixelShuffle, PixelShuffleConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Options of SimMIM (defaults: the paper's, with the mask patch sized to the image).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimMimConfig {
    /// Share of the mask patches hidden (paper: 0.6).
    pub mask_ratio: f64,
    /// Side of a mask patch in pixels; must divide the image side and, on a ViT, be a
    /// multiple of its patch. `0` = twice the encoder's stride (its patch on a ViT) where that
    /// divides the image side, else the stride, else the largest divisor of the side below it.
    pub mask_patch: usize,
    /// Augmentation (paper: random resized crop 0.67–1, flip); `size` 0 = the run's size.
    pub view: ViewConfig,
}

impl Default for SimMimConfig {
    fn default() -> Self {
        SimMimConfig {
            mask_ratio: 0.6,
            mask_patch: 0,
            view: ViewConfig {
                crop_scale: (0.67, 1.0),
                ..ViewConfig::simple(0)
            },
        }
    }
}

/// SimMIM.
pub struct SimMim {
    config: SimMimConfig,
    input: InputSpec,
    stride: usize,
    vit: bool,
}

/// One example: the normalised view (planar) and its hidden mask patches (row-major over the
/// `side / mask_patch` grid).
pub struct HiddenPatches {
    image: Vec<f32>,
    shape: [usize; 3],
    hidden: Vec<bool>,
}

/// The mask token and the prediction head.
#[derive(Module, Debug)]
pub struct SimMimHead {
    /// The learned stand-in of a hidden patch: a token of the ViT's width, or one value per
    /// input channel for the ConvNets.
    pub mask_token: Param<Tensor<1>>,
    /// 1×1 convolution from the feature map to `stride²·C` channels.
    pub decoder: Conv2d,
    /// Rearranges those channels into `stride × stride` pixels.
    pub shuffle: PixelShuffle,
}

/// Hides `⌈cells · ratio⌉` of `cells` mask patches, chosen uniformly (SimMIM's
/// `MaskGenerator`).
pub fn hide(cells: usize, ratio: f64, rng: &mut SampleRng) -> Vec<bool> {
    let hidden = ((cells as f64 * ratio).ceil() as usize).min(cells);
    let mut order: Vec<usize> = (0..cells).collect();
    order.shuffle(rng);
    let mut mask = vec![false; cells];
    for &cell in &order[..hidden] {
        mask[cell] = true;
    }
    mask
}

/// A `[N, 1, side·scale, side·scale]` 0/1 tensor of the hidden cells of `side × side` grids,
/// each cell repeated `scale × scale` times.
fn upsample(masks: &[&[bool]], side: usize, scale: usize, device: &Device) -> Tensor<4> {
    let full = side * scale;
    let data: Vec<f32> = masks
        .iter()
        .flat_map(|mask| {
            (0..full * full).map(move |p| {
                let (y, x) = (p / full / scale, p % full / scale);
                f32::from(u8::from(mask[y * side + x]))
            })
        })
        .collect();
    Tensor::from_data(TensorData::new(data, [masks.len(), 1, full, full]), device)
}

/// The ℓ1 error on hidden pixels: `Σ M·|pred − target| / (Σ M + 1e-5) / C`, with `hidden`
/// `[N, 1, H, W]` broadcast over the channels.
pub fn hidden_l1(pred: Tensor<4>, target: Tensor<4>, hidden: Tensor<4>) -> Tensor<1> {
    let channels = pred.dims()[1] as f64;
    let error = ((pred - target).abs() * hidden.clone()).sum();
    (error / (hidden.sum() + 1e-5) / channels).reshape([1])
}

impl SimMim {
    /// The reconstruction `[N, C, H, W]`, the input images and the hidden-pixel mask
    /// `[N, 1, H, W]`.
    fn reconstruct(
        &self,
        net: &Network<SimMimHead>,
        batch: &[HiddenPatches],
        device: &Device,
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let [c, height, width] = batch.first().map_or([0; 3], |s| s.shape);
        let images = stack_images(batch.iter().map(|s| s.image.as_slice()), [c, height, width], device);
        let patch = self.config.mask_patch;
        let side = height / patch;
        let masks: Vec<&[bool]> = batch.iter().map(|s| s.hidden.as_slice()).collect();
        let pixels = upsample(&masks, side, patch, device);
        let token = net.head.mask_token.val();
        let map = match net.encoder.as_vit() {
            Some(vit) => {
                let (tokens, grid) = vit.patch_embed.forward(images.clone());
                let [n, t, dim] = tokens.dims();
                let hidden = upsample(&masks, side, patch / self.stride, device).reshape([n, t, 1]);
                let tokens = tokens * (hidden.clone().neg() + 1.0)
                    + token.reshape([1, 1, dim]) * hidden;
                let (patches, cls) = vit.add_positions(tokens, grid);
                let out = vit.encode(Tensor::cat(vec![cls, patches], 1));
                out.slice(s![.., 1.., ..])
                    .swap_dims(1, 2)
                    .reshape([n, dim, grid[0], grid[1]])
            }
            None => {
                let masked = images.clone() * (pixels.clone().neg() + 1.0)
                    + token.reshape([1, c, 1, 1]) * pixels.clone();
                net.encoder.forward_map(masked)
            }
        };
        let pred = net
            .head
            .shuffle
            .forward(net.head.decoder.forward(map))
            .slice(s![.., .., 0..height, 0..width]);
        (pred, images, pixels)
    }
}

impl Method for SimMim {
    type Config = SimMimConfig;
    type Head = SimMimHead;
    type Sample = HiddenPatches;

    fn new(mut config: SimMimConfig, context: &MethodContext) -> anyhow::Result<Self> {
        if config.view.size == 0 {
            config.view.size = context.input.image_size;
        }
        let (size, stride) = (config.view.size, context.encoder.reduction());
        let vit = context.encoder.arch.vit_size().is_some();
        if config.mask_patch == 0 {
            config.mask_patch = [2 * stride, stride]
                .into_iter()
                .find(|p| size.is_multiple_of(*p))
                .or_else(|| (1..=stride).rev().find(|p| size.is_multiple_of(*p)))
                .unwrap_or(1);
        }
        anyhow::ensure!(
            vit || context.encoder.arch != crate::encoder::Architecture::ConvnetSmall
                || size.is_multiple_of(stride),
            "SimMIM on the small ConvNet needs an image side divisible by {stride}, got {size}"
        );
        let patch = config.mask_patch;
        anyhow::ensure!(
            patch > 0 && size.is_multiple_of(patch) && (!vit || patch.is_multiple_of(stride)),
            "method.mask_patch ({patch}) must divide the image side ({size}){}",
            if vit {
                format!(" and be a multiple of encoder.patch_size ({stride})")
            } else {
                String::new()
            }
        );
        anyhow::ensure!(
            config.mask_ratio > 0.0 && config.mask_ratio < 1.0,
            "method.mask_ratio must be between 0 and 1 (exclusive), got {}",
            config.mask_ratio
        );
        Ok(SimMim {
            config,
            input: context.input.clone(),
            stride,
            vit,
        })
    }

    fn config(&self) -> &SimMimConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> SimMimHead {
        let token = match self.vit {
            true => encoder.feature_dim(),
            false => encoder.in_channels,
        };
        let out = self.stride * self.stride * encoder.in_channels;
        SimMimHead {
            mask_token: Param::from_tensor(Tensor::random(
                [token],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            decoder: Conv2dConfig::new([encoder.feature_dim(), out], [1, 1]).init(device),
            shuffle: PixelShuffleConfig::new(self.stride).init(),
        }
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<HiddenPatches> {
        let view = self.input.normalize(self.config.view.apply(&image, rng));
        let side = view.height / self.config.mask_patch;
        Ok(HiddenPatches {
            shape: [view.channels, view.height, view.width],
            image: view.data,
            hidden: hide(side * side, self.config.mask_ratio, rng),
        })
    }

    fn step(
        &self,
        net: &Network<SimMimHead>,
        batch: &[HiddenPatches],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let (pred, images, hidden) = self.reconstruct(net, batch, device);
        StepOutput::loss(hidden_l1(pred, images, hidden))
    }

    fn render(
        &self,
        net: &Network<SimMimHead>,
        batch: &[HiddenPatches],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(6)];
        let [c, height, width] = shown.first()?.shape;
        let (pred, images, hidden) = self.reconstruct(net, shown, device);
        let keep = hidden.clone().neg() + 1.0;
        let vectors = |t: Tensor<4>| -> Option<Vec<f32>> { t.into_data().convert::<f32>().try_into_vec().ok() };
        let masked = vectors(images.clone() * keep.clone())?;
        let pasted = vectors(pred * hidden + images * keep)?;
        let picture = |data: &[f32]| self.input.denormalize(data, [c, height, width]);
        let mut grid = Grid::new(3, 96);
        let n = c * height * width;
        for (i, sample) in shown.iter().enumerate() {
            grid.push(&picture(&sample.image), "original");
            grid.push(&picture(&masked[i * n..(i + 1) * n]), "masked");
            grid.push(&picture(&pasted[i * n..(i + 1) * n]), "prediction + visible");
        }
        Some(grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hiding_takes_the_ceiling_of_the_share_and_upsampling_covers_whole_cells() {
        let mut rng = SampleRng::seed_from_u64(1);
        for (cells, ratio, hidden) in [(49, 0.6, 30), (36, 0.6, 22), (4, 0.5, 2)] {
            let mask = hide(cells, ratio, &mut rng);
            assert_eq!(mask.iter().filter(|&&h| h).count(), hidden);
        }
        // A 2×2 grid with cell (0, 1) hidden, each cell 2×2 pixels.
        let mask = [false, true, false, false];
        let pixels: Vec<f32> = upsample(&[&mask], 2, 2, &Device::flex())
            .into_data()
            .try_to_vec()
            .unwrap();
        let expected = [0., 0., 1., 1., 0., 0., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0.];
        assert_eq!(pixels, expected);
    }

    #[test]
    fn the_loss_is_the_hand_computed_l1_on_hidden_pixels_per_channel() {
        let device = Device::flex();
        // Two channels of 1×2 pixels; the second pixel hidden. Errors there: |1 − 4| = 3
        // and |0 − 2| = 2 → (3 + 2) / (1 + 1e-5) / 2.
        let pred = Tensor::<4>::from_data(TensorData::new(vec![9.0f32, 1.0, 9.0, 0.0], [1, 2, 1, 2]), &device);
        let target = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 4.0, 0.0, 2.0], [1, 2, 1, 2]), &device);
        let hidden = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 1, 1, 2]), &device);
        let loss: f32 = hidden_l1(pred, target, hidden).into_scalar();
        assert!((loss - 2.5 / (1.0 + 1e-5)).abs() < 1e-6, "{loss}");
    }
}

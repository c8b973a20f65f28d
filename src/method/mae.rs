//! Masked autoencoders (He, Chen, Xie, Li, Dollár & Girshick, "Masked Autoencoders Are
//! Scalable Vision Learners", CVPR 2022).
//!
//! Each image loses a random 75 % of its patches (per sample: the patches are shuffled by
//! random noise and the first 25 % kept, their order restored after encoding, §3 "Masking").
//! The ViT encoder sees the visible patches only (with their position embeddings, and the CLS
//! token); a lightweight decoder of its own width and depth embeds them, appends a shared
//! learned mask token for every removed patch, puts all tokens back in place, adds its own
//! fixed sine-cosine position embeddings and predicts every patch's pixels. The loss is the
//! mean squared error on the removed patches only, against per-patch normalised pixels
//! (`norm_pix_loss`: each target patch minus its mean, over its standard deviation):
//!
//! ```text
//! L = Σ_{n,i} m_{n,i} · ‖ŷ_{n,i} − (y_{n,i} − μ_{n,i}) / √(σ²_{n,i} + 1e-6)‖² / P  /  Σ m_{n,i}
//! ```
//!
//! with `m = 1` on removed patches and `P = p²·C` values per patch (ordered row, column,
//! channel, as MAE's `patchify`). The augmentation is MAE's: random resized crop (scale
//! 0.2–1) and horizontal flip. Its picture is the paper's figure 2: the image, the masked
//! input, and the reconstruction with the visible patches pasted back.

use super::{Method, MethodContext, Network, Progress, StepOutput, stack_images};
use crate::encoder::vit::{Block, layer_norm, linear, mask_token, select_tokens};
use crate::encoder::{Encoder, EncoderConfig, sincos_pos_embed};
use crate::input::InputSpec;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Options of MAE (defaults: the paper's).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaeConfig {
    /// Share of each image's patches removed (paper: 0.75).
    pub mask_ratio: f64,
    /// Regress per-patch normalised pixels (paper: on, its better variant, table 1d).
    pub norm_pix_loss: bool,
    /// Decoder token width (paper: 512).
    pub decoder_dim: usize,
    /// Decoder blocks (paper: 8).
    pub decoder_depth: usize,
    /// Decoder attention heads (paper: 16).
    pub decoder_heads: usize,
    /// Augmentation (paper: random resized crop of scale 0.2–1, flip); `size` 0 = the run's
    /// image size.
    pub view: ViewConfig,
}

impl Default for MaeConfig {
    fn default() -> Self {
        MaeConfig {
            mask_ratio: 0.75,
            norm_pix_loss: true,
            decoder_dim: 512,
            decoder_depth: 8,
            decoder_heads: 16,
            view: ViewConfig::simple(0),
        }
    }
}

/// MAE.
pub struct Mae {
    config: MaeConfig,
    input: InputSpec,
    patch: usize,
}

/// One example: the normalised view (planar) and its mask.
pub struct MaskedView {
    image: Vec<f32>,
    shape: [usize; 3],
    mask: PatchMask,
}

/// A per-sample random mask over `tokens` patches: which are kept, in the random order the
/// encoder sees them, and where each patch sits in that order followed by the removed ones
/// (MAE's `ids_keep` and `ids_restore`).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchMask {
    /// Indices of the visible patches (random order).
    pub keep: Vec<usize>,
    /// For each patch, its position in `keep ++ removed`.
    pub restore: Vec<usize>,
}

impl PatchMask {
    /// Keeps `⌊tokens · (1 − ratio)⌋` patches (at least one), chosen uniformly: a random
    /// permutation of the patches (MAE's argsort of uniform noise), cut after the kept ones.
    pub fn random(tokens: usize, ratio: f64, rng: &mut SampleRng) -> Self {
        let kept = ((tokens as f64 * (1.0 - ratio)) as usize).clamp(1, tokens);
        let mut shuffle: Vec<usize> = (0..tokens).collect();
        shuffle.shuffle(rng);
        let mut restore = vec![0; tokens];
        for (position, &patch) in shuffle.iter().enumerate() {
            restore[patch] = position;
        }
        shuffle.truncate(kept);
        PatchMask {
            keep: shuffle,
            restore,
        }
    }

    /// Whether patch `i` is removed.
    pub fn removed(&self, i: usize) -> bool {
        self.restore[i] >= self.keep.len()
    }
}

/// MAE's decoder, under the reference implementation's names.
#[derive(Module, Debug)]
pub struct MaeDecoder {
    /// Encoder width → decoder width.
    pub decoder_embed: Linear,
    /// The learned token that stands for every removed patch, `[1, 1, D_dec]`.
    pub mask_token: Param<Tensor<3>>,
    /// Transformer blocks of the decoder's width.
    pub decoder_blocks: Vec<Block>,
    /// Final norm.
    pub decoder_norm: LayerNorm,
    /// Decoder width → `p²·C` pixel values per patch.
    pub decoder_pred: Linear,
}

/// Patches of `images` (`[N, C, h·p, w·p]`) as rows of `p²·C` values ordered (row, column,
/// channel), `[N, h·w, p²·C]` (MAE's `patchify`).
pub fn patchify(images: Tensor<4>, patch: usize) -> Tensor<3> {
    let [n, c, height, width] = images.dims();
    let (h, w) = (height / patch, width / patch);
    images
        .slice(s![.., .., 0..h * patch, 0..w * patch])
        .reshape([n, c, h, patch, w, patch])
        .permute([0, 2, 4, 3, 5, 1])
        .reshape([n, h * w, patch * patch * c])
}

/// The images of patches made by [`patchify`]: `[N, h·w, p²·C]` → `[N, C, h·p, w·p]`.
pub fn unpatchify(patches: Tensor<3>, [h, w]: [usize; 2], patch: usize) -> Tensor<4> {
    let [n, _, values] = patches.dims();
    let c = values / (patch * patch);
    patches
        .reshape([n, h, w, patch, patch, c])
        .permute([0, 5, 1, 3, 2, 4])
        .reshape([n, c, h * patch, w * patch])
}

/// Each patch's mean and `√(unbiased variance + 1e-6)`, `[N, T, 1]` each.
fn patch_stats(patches: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let [_, _, values] = patches.dims();
    let mean = patches.clone().mean_dim(2);
    let var = (patches - mean.clone()).powi_scalar(2).sum_dim(2) / (values as f64 - 1.0).max(1.0);
    (mean, (var + 1e-6).sqrt())
}

/// MAE's pixel targets: each patch minus its mean, over `√(unbiased variance + 1e-6)`.
pub fn normalize_patches(patches: Tensor<3>) -> Tensor<3> {
    let (mean, spread) = patch_stats(patches.clone());
    (patches - mean) / spread
}

/// The loss on removed patches only: `Σ m · mean_P((pred − target)²) / Σ m`, with `removed`
/// `[N, T]` (1 = removed).
pub fn masked_patch_loss(pred: Tensor<3>, target: Tensor<3>, removed: Tensor<2>) -> Tensor<1> {
    let [n, t, _] = pred.dims();
    let per_patch = (pred - target).powi_scalar(2).mean_dim(2).reshape([n, t]);
    ((per_patch * removed.clone()).sum() / removed.sum()).reshape([1])
}

impl Mae {
    /// Predicted patches `[N, T, p²·C]` (normalised when `norm_pix_loss`), the images'
    /// patches and the removed-patch mask `[N, T]`.
    fn predict(
        &self,
        net: &Network<MaeDecoder>,
        batch: &[MaskedView],
        device: &Device,
    ) -> (Tensor<3>, Tensor<3>, Tensor<2>) {
        let shape = batch.first().map_or([0; 3], |s| s.shape);
        let images = stack_images(batch.iter().map(|s| s.image.as_slice()), shape, device);
        let vit = net
            .encoder
            .as_vit()
            .expect("Mae::new accepts ViT encoders only");
        let (patches, cls, grid) = vit.embed(images.clone());
        let [n, t, _] = patches.dims();
        let kept = batch.first().map_or(0, |s| s.mask.keep.len());
        let keep: Vec<&[usize]> = batch.iter().map(|s| s.mask.keep.as_slice()).collect();
        let visible = select_tokens(patches, &keep);
        let latent = vit.encode(Tensor::cat(vec![cls, visible], 1));

        let head = &net.head;
        let x = head.decoder_embed.forward(latent);
        let [_, _, width] = x.dims();
        let cls = x.clone().slice(s![.., 0..1, ..]);
        let masks = head.mask_token.val().expand([n, t - kept, width]);
        let shuffled = Tensor::cat(vec![x.slice(s![.., 1.., ..]), masks], 1);
        let restore: Vec<&[usize]> = batch.iter().map(|s| s.mask.restore.as_slice()).collect();
        let tokens = select_tokens(shuffled, &restore);
        let mut x = Tensor::cat(vec![cls, tokens], 1) + sincos_pos_embed(width, grid, device);
        for block in &head.decoder_blocks {
            x = block.forward(x);
        }
        let pred = head
            .decoder_pred
            .forward(head.decoder_norm.forward(x))
            .slice(s![.., 1.., ..]);
        let removed: Vec<f32> = batch
            .iter()
            .flat_map(|s| (0..t).map(|i| f32::from(u8::from(s.mask.removed(i)))))
            .collect();
        let removed = Tensor::from_data(TensorData::new(removed, [n, t]), device);
        (pred, patchify(images, self.patch), removed)
    }
}

impl Method for Mae {
    type Config = MaeConfig;
    type Head = MaeDecoder;
    type Sample = MaskedView;

    fn new(mut config: MaeConfig, context: &MethodContext) -> anyhow::Result<Self> {
        context.encoder.ensure_vit("mae")?;
        anyhow::ensure!(
            config.mask_ratio > 0.0 && config.mask_ratio < 1.0,
            "method.mask_ratio must be between 0 and 1 (exclusive), got {}",
            config.mask_ratio
        );
        anyhow::ensure!(
            config.decoder_depth > 0
                && config.decoder_heads > 0
                && config.decoder_dim.is_multiple_of(config.decoder_heads)
                && config.decoder_dim.is_multiple_of(4),
            "method.decoder_dim ({}) must be a positive multiple of 4 and of method.decoder_heads ({}), with method.decoder_depth > 0",
            config.decoder_dim,
            config.decoder_heads
        );
        if config.view.size == 0 {
            config.view.size = context.input.image_size;
        }
        Ok(Mae {
            patch: context.encoder.patch_size,
            config,
            input: context.input.clone(),
        })
    }

    fn config(&self) -> &MaeConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> MaeDecoder {
        let (dim, width) = (encoder.vit_shape().dim, self.config.decoder_dim);
        let pixels = self.patch * self.patch * encoder.in_channels;
        MaeDecoder {
            decoder_embed: linear(dim, width, device),
            mask_token: mask_token(width, device),
            decoder_blocks: (0..self.config.decoder_depth)
                .map(|_| Block::new(width, self.config.decoder_heads, 0.0, 0.0, device))
                .collect(),
            decoder_norm: layer_norm(width, device),
            decoder_pred: linear(width, pixels, device),
        }
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<MaskedView> {
        let view = self.input.normalize(self.config.view.apply(&image, rng));
        let tokens = (view.height / self.patch) * (view.width / self.patch);
        Ok(MaskedView {
            shape: [view.channels, view.height, view.width],
            image: view.data,
            mask: PatchMask::random(tokens, self.config.mask_ratio, rng),
        })
    }

    fn step(
        &self,
        net: &Network<MaeDecoder>,
        batch: &[MaskedView],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let (pred, patches, removed) = self.predict(net, batch, device);
        let target = match self.config.norm_pix_loss {
            true => normalize_patches(patches),
            false => patches,
        };
        StepOutput::loss(masked_patch_loss(pred, target, removed))
    }

    fn render(
        &self,
        net: &Network<MaeDecoder>,
        batch: &[MaskedView],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(6)];
        let [c, height, width] = shown.first()?.shape;
        let (pred, patches, removed) = self.predict(net, shown, device);
        // Predictions of normalised patches are drawn with each patch's own mean and spread,
        // as MAE's visualisation does.
        let pred = match self.config.norm_pix_loss {
            true => {
                let (mean, spread) = patch_stats(patches.clone());
                pred * spread + mean
            }
            false => pred,
        };
        let [n, t, values] = patches.dims();
        let removed = removed.reshape([n, t, 1]).expand([n, t, values]);
        let kept = removed.clone().neg() + 1.0;
        let grid_side = [height / self.patch, width / self.patch];
        let shape = [c, grid_side[0] * self.patch, grid_side[1] * self.patch];
        let pictures = [
            patches.clone(),
            patches.clone() * kept.clone(),
            pred * removed + patches * kept,
        ]
        .map(|p| {
            unpatchify(p, grid_side, self.patch)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .ok()
        });
        let [Some(original), Some(masked), Some(pasted)] = pictures else {
            return None;
        };
        let per_image = shape.iter().product::<usize>();
        let mut grid = Grid::new(3, 96);
        for i in 0..n {
            let range = i * per_image..(i + 1) * per_image;
            for (data, caption) in [
                (&original, "original"),
                (&masked, "masked"),
                (&pasted, "reconstruction + visible"),
            ] {
                grid.push(&self.input.denormalize(&data[range.clone()], shape), caption);
            }
        }
        Some(grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn masking_keeps_the_requested_share_and_restores_the_order() {
        let mut rng = SampleRng::seed_from_u64(3);
        for (tokens, ratio, kept) in [(49, 0.75, 12), (64, 0.75, 16), (196, 0.75, 49), (4, 0.9, 1)] {
            let mask = PatchMask::random(tokens, ratio, &mut rng);
            assert_eq!(mask.keep.len(), kept);
            assert_eq!((0..tokens).filter(|&i| mask.removed(i)).count(), tokens - kept);
            // `restore` is a permutation whose first `kept` positions are the kept patches.
            let mut seen = vec![false; tokens];
            for &position in &mask.restore {
                seen[position] = true;
            }
            assert!(seen.iter().all(|&s| s));
            for (position, &patch) in mask.keep.iter().enumerate() {
                assert_eq!(mask.restore[patch], position);
            }
        }
        // Different samples get different masks.
        let a = PatchMask::random(49, 0.75, &mut rng);
        let b = PatchMask::random(49, 0.75, &mut rng);
        assert_ne!(a.keep, b.keep);
    }

    #[test]
    fn patchify_orders_rows_columns_then_channels() {
        // A 2-channel 4×4 image, patch 2: value = 100·channel + 10·row + column.
        let data: Vec<f32> = (0..2)
            .flat_map(|c| (0..4).flat_map(move |y| (0..4).map(move |x| (100 * c + 10 * y + x) as f32)))
            .collect();
        let device = Device::flex();
        let images = Tensor::<4>::from_data(TensorData::new(data, [1, 2, 4, 4]), &device);
        let patches: Vec<f32> = patchify(images.clone(), 2).into_data().try_to_vec().unwrap();
        // Patch 1 (row 0, column 1) covers rows 0–1, columns 2–3.
        assert_eq!(
            &patches[8..16],
            &[2.0, 102.0, 3.0, 103.0, 12.0, 112.0, 13.0, 113.0]
        );
        // unpatchify undoes it.
        let back = unpatchify(patchify(images.clone(), 2), [2, 2], 2);
        let (back, original): (Vec<f32>, Vec<f32>) = (
            back.into_data().try_to_vec().unwrap(),
            images.into_data().try_to_vec().unwrap(),
        );
        assert_eq!(back, original);
    }

    #[test]
    fn the_loss_is_the_hand_computed_mean_over_removed_patches() {
        let device = Device::flex();
        // Two patches of two values; normalised targets of [1, 3] are [-1, 1]/√(2 + 1e-6).
        let patches = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 3.0, 5.0, 5.0], [1, 2, 2]), &device);
        let target: Vec<f32> = normalize_patches(patches.clone()).into_data().try_to_vec().unwrap();
        let s = (2.0f32 + 1e-6).sqrt();
        assert!((target[0] + 1.0 / s).abs() < 1e-6 && (target[1] - 1.0 / s).abs() < 1e-6);
        assert!(target[2].abs() < 1e-6 && target[3].abs() < 1e-6, "{target:?}");
        // Prediction 0 everywhere: patch 0's error is 1/(2 + 1e-6), patch 1's is 0. Only
        // patch 0 removed → loss = 1/(2 + 1e-6); both removed → half that.
        let pred = Tensor::<3>::zeros([1, 2, 2], &device);
        let target = normalize_patches(patches);
        let loss = |removed: [f32; 2]| -> f32 {
            let removed = Tensor::<2>::from_data(TensorData::new(removed.to_vec(), [1, 2]), &device);
            masked_patch_loss(pred.clone(), target.clone(), removed).into_scalar()
        };
        assert!((loss([1.0, 0.0]) - 1.0 / (2.0 + 1e-6)).abs() < 1e-6);
        assert!((loss([1.0, 1.0]) - 0.5 / (2.0 + 1e-6)).abs() < 1e-6);
    }
}

//! I-JEPA (Assran, Duval, Misra, Bojanowski, Vincent, Rabbat, LeCun & Ballas, "Self-Supervised
//! Learning from Images with a Joint-Embedding Predictive Architecture", CVPR 2023).
//!
//! Predict the representation of what is hidden from the representation of what is visible —
//! the lecture's context encoders, in representation space. From each image's patch grid
//! (§3, figure 4):
//!
//! - `M = 4` **target blocks**, each of a share of the patches drawn from 0.15–0.2 and an
//!   aspect ratio (height / width) from 0.75–1.5, anywhere in the grid (they may overlap);
//! - one **context block** of share 0.85–1 and aspect 1, minus every target patch, so the
//!   context never shows what it must predict.
//!
//! The block *sizes* are drawn once per batch and the positions per image, as the reference's
//! mask collator does, so the blocks of a batch stack; contexts are cut to the shortest of the
//! batch (their first patches in row-major order, as the reference keeps them).
//!
//! The context encoder `f_θ` (the trained ViT) sees the context patches only, with their
//! position embeddings; the target encoder `f_θ̄` — an exponential moving average of `f_θ`,
//! `θ̄ ← τθ̄ + (1 − τ)θ` with τ rising linearly from 0.996 to 1 — sees the whole image, and
//! its output patch features, layer-normalised (no affine), are the targets `s_y`. A narrow
//! ViT predictor `g_φ` (its own width, depth and fixed sine-cosine position embeddings) takes
//! the context's features and, for each target block, one learned mask token per target patch
//! at that patch's position, and predicts their features `ŝ_y`. The loss is the mean squared
//! error over the target patches of all `M` blocks (eq. 1, up to the constant `1/D`):
//!
//! ```text
//! L = 1/M Σ_i Σ_{j ∈ B_i} ‖ŝ_{y_j} − s_{y_j}‖² / (|B_i| · D)
//! ```
//!
//! The augmentation is the paper's: a random resized crop of scale 0.3–1, no flip and no
//! colour. The evaluated and exported encoder is the target encoder, as the paper evaluates
//! (`--online` reads the context encoder).

use super::{Method, MethodContext, Network, Progress, StepOutput, stack_images};
use crate::ema::{frozen_copy, linear_tau, update};
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
use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Options of I-JEPA (defaults: the paper's and its reference code's ImageNet settings, with
/// the predictor of its ViT-B/16).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IjepaConfig {
    /// Target blocks per image (paper: 4).
    pub targets: usize,
    /// Range of a target block's share of the patches (paper: 0.15–0.2).
    pub target_scale: (f64, f64),
    /// Range of a target block's aspect ratio, height / width (paper: 0.75–1.5).
    pub target_aspect: (f64, f64),
    /// Range of the context block's share of the patches, before the targets are removed
    /// (paper: 0.85–1; its aspect ratio is 1).
    pub context_scale: (f64, f64),
    /// Fewest context patches an image keeps; positions are redrawn until it does (the
    /// reference's `min_keep`, 10).
    pub min_context: usize,
    /// Predictor token width (paper: 384).
    pub predictor_dim: usize,
    /// Predictor blocks (paper: 6 for ViT-B/16, 12 for ViT-L and ViT-H).
    pub predictor_depth: usize,
    /// Predictor attention heads; 0 = the encoder's (the paper keeps the encoder's).
    pub predictor_heads: usize,
    /// Target-encoder decay rate τ at the first step (paper: 0.996).
    pub tau_base: f64,
    /// Target-encoder decay rate τ at the last step (paper: 1; linear in between).
    pub tau_end: f64,
    /// Augmentation (paper: random resized crop of scale 0.3–1, nothing else); `size` 0 = the
    /// run's image size.
    pub view: ViewConfig,
}

impl Default for IjepaConfig {
    fn default() -> Self {
        IjepaConfig {
            targets: 4,
            target_scale: (0.15, 0.2),
            target_aspect: (0.75, 1.5),
            context_scale: (0.85, 1.0),
            min_context: 10,
            predictor_dim: 384,
            predictor_depth: 6,
            predictor_heads: 0,
            tau_base: 0.996,
            tau_end: 1.0,
            view: ViewConfig {
                crop_scale: (0.3, 1.0),
                flip_prob: 0.0,
                ..ViewConfig::simple(0)
            },
        }
    }
}

/// I-JEPA.
pub struct Ijepa {
    config: IjepaConfig,
    input: InputSpec,
    patch: usize,
    heads: usize,
}

/// One example: the normalised view (planar) and the seed its blocks are drawn from (in the
/// training step, since their sizes are shared by the batch).
pub struct JepaView {
    image: Vec<f32>,
    shape: [usize; 3],
    seed: u64,
}

/// A rectangle of patches of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchBlock {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl PatchBlock {
    /// A block of `[height, width]` at a uniformly drawn position inside a `[rows, columns]`
    /// grid.
    pub fn place([height, width]: [usize; 2], [rows, columns]: [usize; 2], rng: &mut impl Rng) -> Self {
        PatchBlock {
            top: rng.random_range(0..=rows - height),
            left: rng.random_range(0..=columns - width),
            height,
            width,
        }
    }

    /// Whether patch `index` of a grid `columns` wide lies in the block.
    pub fn contains(&self, index: usize, columns: usize) -> bool {
        let (row, column) = (index / columns, index % columns);
        (self.top..self.top + self.height).contains(&row)
            && (self.left..self.left + self.width).contains(&column)
    }

    /// The block's patches in row-major order, as indices into a grid `columns` wide.
    pub fn patches(&self, columns: usize) -> Vec<usize> {
        (self.top..self.top + self.height)
            .flat_map(|row| (self.left..self.left + self.width).map(move |c| row * columns + c))
            .collect()
    }
}

/// The size of a block whose share of a `[rows, columns]` grid is drawn from `scale` and whose
/// aspect ratio (height / width) from `aspect`: `h = round(√(s·T·a))`, `w = round(√(s·T/a))`,
/// each at least 1 and smaller than the grid's side (the reference's `_sample_block_size`,
/// with scale and aspect drawn independently).
pub fn block_size(
    scale: (f64, f64),
    aspect: (f64, f64),
    [rows, columns]: [usize; 2],
    rng: &mut impl Rng,
) -> [usize; 2] {
    let uniform = |rng: &mut dyn RngCore, (lo, hi): (f64, f64)| lo + (hi - lo) * rng.random::<f64>();
    let area = uniform(rng, scale) * (rows * columns) as f64;
    let ratio = uniform(rng, aspect);
    let side = |length: f64, limit: usize| (length.round() as usize).clamp(1, limit.saturating_sub(1).max(1));
    [side((area * ratio).sqrt(), rows), side((area / ratio).sqrt(), columns)]
}

/// The block sizes of one batch: every image's target blocks, and its context block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSizes {
    /// Size of each target block, `[height, width]`.
    pub target: [usize; 2],
    /// Size of the context block.
    pub context: [usize; 2],
}

impl BlockSizes {
    /// Draws the sizes of a batch for a `grid` of patches.
    pub fn draw(config: &IjepaConfig, grid: [usize; 2], rng: &mut impl Rng) -> Self {
        BlockSizes {
            target: block_size(config.target_scale, config.target_aspect, grid, rng),
            context: block_size(config.context_scale, (1.0, 1.0), grid, rng),
        }
    }
}

/// One image's blocks: the context patches and each target block's patches (indices into the
/// grid, row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct JepaMasks {
    /// Context patches: the context block minus every target patch.
    pub context: Vec<usize>,
    /// Patches of each target block.
    pub targets: Vec<Vec<usize>>,
}

impl JepaMasks {
    /// Places `count` target blocks and a context block of `sizes` in a `grid`, keeping the
    /// context's patches outside every target. Like the reference, the context is redrawn
    /// (20 times) until it keeps `min_context` patches, and here then the targets too (20
    /// times); failing that, the largest context drawn, or when that is empty, every patch
    /// outside the targets. The context never overlaps a target.
    pub fn draw(
        sizes: BlockSizes,
        count: usize,
        min_context: usize,
        grid: [usize; 2],
        rng: &mut impl Rng,
    ) -> Self {
        let columns = grid[1];
        let mut best = JepaMasks {
            context: Vec::new(),
            targets: Vec::new(),
        };
        for _ in 0..20 {
            let blocks: Vec<PatchBlock> = (0..count)
                .map(|_| PatchBlock::place(sizes.target, grid, rng))
                .collect();
            let outside = |p: &usize| !blocks.iter().any(|b| b.contains(*p, columns));
            for _ in 0..20 {
                let context: Vec<usize> = PatchBlock::place(sizes.context, grid, rng)
                    .patches(columns)
                    .into_iter()
                    .filter(outside)
                    .collect();
                if best.targets.is_empty() || context.len() > best.context.len() {
                    best = JepaMasks {
                        context,
                        targets: blocks.iter().map(|b| b.patches(columns)).collect(),
                    };
                }
                if best.context.len() >= min_context {
                    return best;
                }
            }
        }
        let mut masks = best;
        if masks.context.is_empty() {
            masks.context = (0..grid[0] * columns)
                .filter(|p| !masks.targets.iter().any(|t| t.contains(p)))
                .collect();
        }
        masks
    }
}

/// Draws the blocks of a batch: the sizes from the first example's seed, each image's
/// positions from its own; contexts cut to the batch's shortest.
fn batch_masks(config: &IjepaConfig, batch: &[JepaView], grid: [usize; 2]) -> Vec<JepaMasks> {
    let mut shared = SampleRng::seed_from_u64(batch.first().map_or(0, |s| s.seed) ^ 0x5eed_b10c);
    let sizes = BlockSizes::draw(config, grid, &mut shared);
    let mut masks: Vec<JepaMasks> = batch
        .iter()
        .map(|s| {
            let mut rng = SampleRng::seed_from_u64(s.seed);
            JepaMasks::draw(sizes, config.targets, config.min_context, grid, &mut rng)
        })
        .collect();
    let shortest = masks.iter().map(|m| m.context.len()).min().unwrap_or(0);
    masks.iter_mut().for_each(|m| m.context.truncate(shortest));
    masks
}

/// Layer normalisation over the last axis without affine parameters (ε 1e-5, PyTorch's
/// `F.layer_norm` that the reference applies to the targets).
pub fn plain_layer_norm(x: Tensor<3>) -> Tensor<3> {
    let mean = x.clone().mean_dim(2);
    let centred = x - mean;
    let var = centred.clone().powi_scalar(2).mean_dim(2);
    centred / (var + 1e-5).sqrt()
}

/// The predictor `g_φ` and the target encoder `f_θ̄`, under the reference's names.
#[derive(Module, Debug)]
pub struct IjepaHead {
    /// Encoder width → predictor width.
    pub predictor_embed: Linear,
    /// The learned token that stands for every target patch, `[1, 1, D_pred]`.
    pub mask_token: Param<Tensor<3>>,
    /// Transformer blocks of the predictor's width.
    pub predictor_blocks: Vec<Block>,
    /// Final norm.
    pub predictor_norm: LayerNorm,
    /// Predictor width → encoder width.
    pub predictor_proj: Linear,
    /// The target encoder: a moving average of the context encoder, never trained.
    pub target: Encoder,
}

impl Ijepa {
    /// Predicted and target features of every target patch, `[M·N, K, D]` each (block-major,
    /// as the reference stacks them), the context encoder's mean feature per image `[N, D]`,
    /// and the batch's masks.
    fn predict(
        &self,
        net: &Network<IjepaHead>,
        batch: &[JepaView],
        device: &Device,
    ) -> (Tensor<3>, Tensor<3>, Tensor<2>, Vec<JepaMasks>) {
        let shape = batch.first().map_or([0; 3], |s| s.shape);
        let images = stack_images(batch.iter().map(|s| s.image.as_slice()), shape, device);
        let vit = net
            .encoder
            .as_vit()
            .expect("Ijepa::new accepts ViT encoders only");
        let target_vit = net.head.target.as_vit().expect("the target copies the ViT");
        let (patches, cls, grid) = vit.embed(images.clone());
        let masks = batch_masks(&self.config, batch, grid);
        let n = batch.len();
        let blocks = self.config.targets;

        // Targets: the target encoder's patch features of the whole image, layer-normalised.
        let (all, _) = target_vit.forward_tokens(images);
        let features = plain_layer_norm(all.slice(s![.., 1.., ..])).detach();
        let target_rows: Vec<&[usize]> = (0..blocks)
            .flat_map(|b| masks.iter().map(move |m| m.targets[b].as_slice()))
            .collect();
        let target = select_tokens(features, &target_rows);

        // Context: the context encoder on the context patches (and the CLS token).
        let context_rows: Vec<&[usize]> = masks.iter().map(|m| m.context.as_slice()).collect();
        let visible = select_tokens(patches, &context_rows);
        let encoded = vit.encode(Tensor::cat(vec![cls, visible], 1));
        let context = encoded.slice(s![.., 1.., ..]);
        let [_, kept, dim] = context.dims();
        let pooled = context.clone().mean_dim(1).reshape([n, dim]).detach();

        // Predictor: the context's tokens, then one mask token per target patch, each at its
        // position; one sequence per (block, image).
        let head = &net.head;
        let x = head.predictor_embed.forward(context);
        let [_, _, width] = x.dims();
        // One table for every sequence: each list reads "sample" 0 of it.
        let positions = sincos_pos_embed(width, grid, device).slice(s![.., 1.., ..]);
        let x = x + select_tokens(positions.clone(), &context_rows);
        let x = x.repeat_dim(0, blocks);
        let [_, size, _] = target.dims();
        let queries = head.mask_token.val().expand([n * blocks, size, width])
            + select_tokens(positions, &target_rows);
        let mut x = Tensor::cat(vec![x, queries], 1);
        for block in &head.predictor_blocks {
            x = block.forward(x);
        }
        let predicted = head
            .predictor_proj
            .forward(head.predictor_norm.forward(x).slice(s![.., kept.., ..]));
        (predicted, target, pooled, masks)
    }
}

impl Method for Ijepa {
    type Config = IjepaConfig;
    type Head = IjepaHead;
    type Sample = JepaView;

    fn new(mut config: IjepaConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let encoder = &context.encoder;
        encoder.ensure_vit("ijepa")?;
        let valid = |(lo, hi): (f64, f64), max: f64| lo > 0.0 && lo <= hi && hi <= max;
        anyhow::ensure!(
            valid(config.target_scale, 1.0) && valid(config.context_scale, 1.0),
            "method.target_scale and method.context_scale must be ranges (lo, hi) with 0 < lo ≤ hi ≤ 1, got {:?} and {:?}",
            config.target_scale,
            config.context_scale
        );
        anyhow::ensure!(
            valid(config.target_aspect, f64::INFINITY),
            "method.target_aspect must be a range (lo, hi) with 0 < lo ≤ hi, got {:?}",
            config.target_aspect
        );
        let heads = match config.predictor_heads {
            0 => encoder.vit_shape().heads,
            h => h,
        };
        anyhow::ensure!(
            config.targets > 0
                && config.predictor_depth > 0
                && config.predictor_dim.is_multiple_of(heads)
                && config.predictor_dim.is_multiple_of(4)
                && config.predictor_dim > 0,
            "method.targets and method.predictor_depth must be positive, and method.predictor_dim ({}) a positive multiple of 4 and of the predictor's heads ({heads})",
            config.predictor_dim
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&config.tau_base) && (0.0..=1.0).contains(&config.tau_end),
            "method.tau_base and method.tau_end must be in [0, 1]"
        );
        if config.view.size == 0 {
            config.view.size = context.input.image_size;
        }
        let patch = encoder.patch_size;
        let side = config.view.size / patch;
        anyhow::ensure!(
            side >= 4 && config.targets as f64 * config.target_scale.1 <= 1.0,
            "method ijepa: {} target blocks of up to {:.0} % of a {side}×{side} patch grid (encoder.patch_size {patch} on {}-px views) leave no room for a context; use at least 4×4 patches and targets × target_scale ≤ 1",
            config.targets,
            100.0 * config.target_scale.1,
            config.view.size
        );
        Ok(Ijepa {
            config,
            input: context.input.clone(),
            patch,
            heads,
        })
    }

    fn config(&self) -> &IjepaConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, online: &Encoder, device: &Device) -> IjepaHead {
        let (dim, width) = (encoder.vit_shape().dim, self.config.predictor_dim);
        IjepaHead {
            predictor_embed: linear(dim, width, device),
            mask_token: mask_token(width, device),
            predictor_blocks: (0..self.config.predictor_depth)
                .map(|_| Block::new(width, self.heads, 0.0, 0.0, device))
                .collect(),
            predictor_norm: layer_norm(width, device),
            predictor_proj: linear(width, dim, device),
            target: frozen_copy(online),
        }
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<JepaView> {
        let view = self.input.normalize(self.config.view.apply(&image, rng));
        Ok(JepaView {
            shape: [view.channels, view.height, view.width],
            image: view.data,
            seed: rng.next_u64(),
        })
    }

    fn step(
        &self,
        net: &Network<IjepaHead>,
        batch: &[JepaView],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let (predicted, target, pooled, _) = self.predict(net, batch, device);
        let loss = (predicted - target).powi_scalar(2).mean().reshape([1]);
        StepOutput {
            loss,
            metrics: Vec::new(),
            embedding: Some(pooled),
        }
    }

    fn transfer_encoder<'a>(
        &self,
        net: &'a Network<IjepaHead>,
    ) -> Option<(&'static str, &'a Encoder)> {
        Some(("target", &net.head.target))
    }

    fn after_step(&self, net: Network<IjepaHead>, progress: Progress) -> Network<IjepaHead> {
        let tau = linear_tau(
            self.config.tau_base,
            self.config.tau_end,
            progress.step,
            progress.total_steps,
        );
        let Network { encoder, mut head } = net;
        head.target = update(head.target, &encoder, tau);
        Network { encoder, head }
    }

    fn render(
        &self,
        net: &Network<IjepaHead>,
        batch: &[JepaView],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(6)];
        let shape @ [_, height, width] = shown.first()?.shape;
        let (_, _, _, masks) = self.predict(net, shown, device);
        let columns = width / self.patch;
        // Pixels outside the kept patches become 0, the data's mean after denormalisation.
        let only = |image: &[f32], patches: &[usize]| -> Vec<f32> {
            let plane = height * width;
            (0..image.len())
                .map(|i| {
                    let (y, x) = ((i % plane) / width, i % width);
                    let patch = (y / self.patch) * columns + x / self.patch;
                    match patches.contains(&patch) {
                        true => image[i],
                        false => 0.0,
                    }
                })
                .collect()
        };
        let mut grid = Grid::new(3, 96);
        for (sample, mask) in shown.iter().zip(&masks) {
            let targets: Vec<usize> = mask.targets.concat();
            grid.push(&self.input.denormalize(&sample.image, shape), "original");
            grid.push(
                &self.input.denormalize(&only(&sample.image, &mask.context), shape),
                "context",
            );
            grid.push(
                &self.input.denormalize(&only(&sample.image, &targets), shape),
                "targets",
            );
        }
        Some(grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_follow_the_scale_and_aspect_ranges() {
        let mut rng = SampleRng::seed_from_u64(1);
        let config = IjepaConfig::default();
        // The paper's 14×14 grid (ViT/16 at 224 px).
        let (mut areas, mut ratios) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let sizes = BlockSizes::draw(&config, [14, 14], &mut rng);
            let [h, w] = sizes.target;
            // Rounding each side moves it by at most half a patch.
            let (area, ratio) = ((h * w) as f64 / 196.0, h as f64 / w as f64);
            assert!((0.15 * 0.8..=0.2 * 1.2).contains(&area), "{h}×{w}");
            assert!((0.75 / 1.3..=1.5 * 1.3).contains(&ratio), "{h}×{w}");
            areas.push(area);
            ratios.push(ratio);
            // The context block: aspect 1, 0.85–1 of the grid, cut below the side (13).
            let [ch, cw] = sizes.context;
            assert!(ch == cw && (13..=13).contains(&ch), "{ch}×{cw}");
        }
        let spread = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            (lo, hi)
        };
        // The draws cover the ranges, not one size.
        let (lo, hi) = spread(&areas);
        assert!(lo < 0.16 && hi > 0.19, "{lo} {hi}");
        let (lo, hi) = spread(&ratios);
        assert!(lo < 0.85 && hi > 1.3, "{lo} {hi}");
    }

    #[test]
    fn targets_never_overlap_the_context_and_fill_their_blocks() {
        let mut rng = SampleRng::seed_from_u64(2);
        let config = IjepaConfig::default();
        for grid in [[14, 14], [7, 7], [8, 8]] {
            for _ in 0..300 {
                let sizes = BlockSizes::draw(&config, grid, &mut rng);
                let masks = JepaMasks::draw(sizes, 4, config.min_context, grid, &mut rng);
                assert_eq!(masks.targets.len(), 4);
                for target in &masks.targets {
                    assert_eq!(target.len(), sizes.target[0] * sizes.target[1]);
                    assert!(target.iter().all(|p| !masks.context.contains(p)), "{masks:?}");
                    assert!(target.iter().all(|&p| p < grid[0] * grid[1]));
                }
                assert!(!masks.context.is_empty());
                assert!(masks.context.windows(2).all(|w| w[0] < w[1]), "row-major, no repeats");
            }
        }
        // On the paper's grid the context keeps its minimum.
        let sizes = BlockSizes::draw(&config, [14, 14], &mut rng);
        let masks = JepaMasks::draw(sizes, 4, config.min_context, [14, 14], &mut rng);
        assert!(masks.context.len() >= config.min_context);
    }

    #[test]
    fn a_batch_shares_block_sizes_and_context_length() {
        let views: Vec<JepaView> = (0..5)
            .map(|i| JepaView {
                image: Vec::new(),
                shape: [1, 28, 28],
                seed: 100 + i,
            })
            .collect();
        let masks = batch_masks(&IjepaConfig::default(), &views, [7, 7]);
        let first = &masks[0];
        for m in &masks {
            assert_eq!(m.context.len(), first.context.len());
            assert_eq!(m.targets[0].len(), first.targets[0].len());
        }
        // Positions differ between images; the same seeds give the same blocks.
        assert!(masks.iter().any(|m| m.targets != first.targets));
        assert_eq!(masks, batch_masks(&IjepaConfig::default(), &views, [7, 7]));
    }

    /// The target encoder starts as the context encoder, takes no gradient from the loss, and
    /// is what transfers; the context encoder and the predictor are trained.
    #[test]
    fn the_target_starts_as_a_copy_takes_no_gradient_and_transfers() {
        use crate::encoder::Architecture;
        use burn::optim::GradientsParams;
        let device = Device::flex().autodiff();
        let encoder = EncoderConfig {
            arch: Architecture::VitTiny,
            width: 0.25,
            depth: 2,
            in_channels: 1,
            ..Default::default()
        }
        .resolved(1, 28);
        let mut context = crate::method::test_context(
            std::sync::Arc::new(pretext_data::source::InMemory::new(vec![], vec![])),
            0.5,
            0.5,
        );
        context.encoder = encoder.clone();
        context.input.image_size = 28;
        let config = IjepaConfig {
            predictor_dim: 24,
            predictor_depth: 1,
            ..Default::default()
        };
        let method = Ijepa::new(config, &context).unwrap();
        // Drawn under the seeding lock, so that tests in other threads keep their draws.
        let net = crate::device::seeded(&device, 0, || {
            let online = encoder.init(&device);
            Network {
                head: method.init_head(&encoder, &online, &device),
                encoder: online,
            }
        });
        let x = Tensor::<4>::ones([2, 1, 28, 28], &device);
        let features = |e: &Encoder| -> Vec<f32> { e.forward(x.clone()).into_data().try_to_vec().unwrap() };
        assert_eq!(features(&net.encoder), features(&net.head.target));
        let image = Image {
            channels: 1,
            height: 28,
            width: 28,
            data: (0..784).map(|i| (i % 29) as f32 / 29.0).collect(),
        };
        let batch: Vec<JepaView> = (0..3)
            .map(|i| {
                let mut rng = pretext_data::rng::sample_rng(0, 0, i);
                method.sample(image.clone(), Default::default(), &mut rng).unwrap()
            })
            .collect();
        let progress = Progress {
            step: 1,
            total_steps: 10,
        };
        let output = method.step(&net, &batch, &device, progress);
        assert!(output.loss.clone().into_scalar::<f32>().is_finite());
        let mut grads = output.loss.backward();
        assert!(GradientsParams::from_module(&mut grads, &net.head.target).is_empty());
        assert!(!GradientsParams::from_module(&mut grads, &net.encoder).is_empty());
        assert!(!GradientsParams::from_module(&mut grads, &net.head.predictor_blocks).is_empty());
        let (name, transferred) = method.transfer_encoder(&net).unwrap();
        assert_eq!(name, "target");
        assert_eq!(features(transferred), features(&net.head.target));
    }

    #[test]
    fn plain_layer_norm_matches_hand_computed_values() {
        let device = Device::flex();
        // [1, 3]: mean 2, biased variance 1 → [−1, 1]/√(1 + 1e-5).
        let x = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 3.0], [1, 1, 2]), &device);
        let y: Vec<f32> = plain_layer_norm(x).into_data().try_to_vec().unwrap();
        let s = (1.0f32 + 1e-5).sqrt();
        assert!((y[0] + 1.0 / s).abs() < 1e-6 && (y[1] - 1.0 / s).abs() < 1e-6, "{y:?}");
    }
}

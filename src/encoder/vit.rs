//! The Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers
//! for Image Recognition at Scale", ICLR 2021) in DeiT's sizes (Touvron et al., "Training
//! data-efficient image transformers", ICML 2021), laid out like timm's `VisionTransformer`
//! without its classifier: `patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.N.{norm1,
//! attn.qkv, attn.proj, ls1, norm2, mlp.fc1, mlp.fc2, ls2}` and `norm`.
//!
//! A block is pre-norm (Xiong et al. 2020), as in every ViT the peers train:
//!
//! ```text
//! x ← x + DropPath(LayerScale₁(Attention(LayerNorm₁(x))))
//! x ← x + DropPath(LayerScale₂(MLP(LayerNorm₂(x))))
//! ```
//!
//! with multi-head self-attention `softmax(QKᵀ/√d_head)·V` over the CLS token and the patch
//! tokens, an MLP of ratio 4 with exact GELU, LayerNorm ε = 1e-6, stochastic depth (Huang et
//! al. 2016; `drop_path`, rising linearly over the blocks as in DeiT) and optional LayerScale
//! (Touvron et al., CaiT, 2021). Features are the CLS token or the mean of the patch tokens
//! after the final norm (timm's `global_pool="token"` / `"avg"` with `fc_norm=False`).
//!
//! Position embeddings are learned (ViT, DeiT, DINO) or the fixed 2-D sine-cosine table of
//! MAE and I-JEPA; at an image size other than the one the encoder was built for (DINO's
//! local crops, evaluation at another resolution) the learned table is resampled bicubically
//! (DINO's `interpolate_pos_encoding`, timm's `resample_abs_pos_embed`) and the fixed one is
//! recomputed for the new grid.

use super::{EncoderConfig, Pool, PosEmbed};
use burn::module::{Flag, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::gelu;
use burn::tensor::module::{attention, interpolate};
use burn::tensor::ops::{AttentionModuleOptions, InterpolateMode, InterpolateOptions};

/// LayerNorm's ε in timm's and the papers' ViTs.
const LN_EPS: f64 = 1e-6;

/// timm's initialisation of a ViT's linear layers: weights `N(0, 0.02)` (its truncated normal
/// cuts at ±2, a hundred standard deviations out), biases zero.
pub(crate) fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(device);
    layer.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    layer
}

/// LayerNorm over `dim` channels with the ViTs' ε.
pub(crate) fn layer_norm(dim: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device)
}

/// The patch embedding: a `p×p` convolution of stride `p` (timm's `patch_embed.proj`), each
/// patch becoming one token.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// `[D, C, p, p]` weight and `[D]` bias.
    pub proj: Conv2d,
}

impl PatchEmbed {
    /// Tokens `[N, h·w, D]` (row-major over the patch grid) and the grid `[h, w]`.
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<3>, [usize; 2]) {
        let map = self.proj.forward(images);
        let [n, d, h, w] = map.dims();
        (map.reshape([n, d, h * w]).swap_dims(1, 2), [h, w])
    }
}

/// Multi-head self-attention with a fused `qkv` projection, as timm's `Attention`.
#[derive(Module, Debug)]
pub struct Attention {
    /// `D → 3D` projection to queries, keys and values (with bias).
    pub qkv: Linear,
    /// `D → D` output projection.
    pub proj: Linear,
    /// Number of heads.
    pub heads: usize,
}

impl Attention {
    /// Queries, keys and values `[N, heads, T, D/heads]` of tokens `[N, T, D]`.
    fn qkv(&self, x: Tensor<3>) -> [Tensor<4>; 3] {
        let [n, t, d] = x.dims();
        let qkv = self
            .qkv
            .forward(x)
            .reshape([n, t, 3, self.heads, d / self.heads])
            .permute([2, 0, 3, 1, 4]);
        [0, 1, 2].map(|i| {
            qkv.clone()
                .slice(s![i..i + 1])
                .reshape([n, self.heads, t, d / self.heads])
        })
    }

    /// `proj(concat_heads(softmax(QKᵀ/√d_head)·V))` for tokens `[N, T, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, t, d] = x.dims();
        let [q, k, v] = self.qkv(x);
        let out = attention(q, k, v, None, None, AttentionModuleOptions::default());
        self.proj.forward(out.swap_dims(1, 2).reshape([n, t, d]))
    }

    /// The attention weights `softmax(QKᵀ/√d_head)`, `[N, heads, T, T]` (what DINO's figure 1
    /// draws for the CLS token's row).
    pub fn weights(&self, x: Tensor<3>) -> Tensor<4> {
        let [q, k, _] = self.qkv(x);
        let scale = (q.dims()[3] as f64).powf(-0.5);
        burn::tensor::activation::softmax(q.matmul(k.swap_dims(2, 3)) * scale, 3)
    }
}

/// The transformer's MLP: `fc2(GELU(fc1(x)))`, hidden width 4D.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `D → 4D`.
    pub fc1: Linear,
    /// `4D → D`.
    pub fc2: Linear,
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(x)))
    }
}

/// LayerScale (Touvron et al., "Going deeper with Image Transformers", ICCV 2021): a learned
/// per-channel scale of a residual branch, initialised small.
#[derive(Module, Debug)]
pub struct LayerScale {
    /// `[D]` scales.
    pub gamma: Param<Tensor<1>>,
}

/// Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016): in
/// training, each sample's residual branch is dropped with probability `prob` and the kept ones
/// scaled by `1 / (1 − prob)`; the identity otherwise.
#[derive(Module, Debug)]
pub struct DropPath {
    /// Drop probability.
    pub prob: f64,
    /// Whether the layer trains (cleared by [`Module::freeze`], like burn's `Dropout`).
    pub training: Param<Flag>,
}

impl DropPath {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if self.prob == 0.0 || !self.training.is_enabled() || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let [n, _, _] = x.dims();
        let mask = Tensor::<3>::random([n, 1, 1], Distribution::Bernoulli(keep), &x.device());
        x * mask / keep
    }
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block {
    /// Norm before attention.
    pub norm1: LayerNorm,
    /// Multi-head self-attention.
    pub attn: Attention,
    /// LayerScale of the attention branch (absent unless `encoder.layer_scale > 0`).
    pub ls1: Option<LayerScale>,
    /// Norm before the MLP.
    pub norm2: LayerNorm,
    /// The MLP.
    pub mlp: Mlp,
    /// LayerScale of the MLP branch.
    pub ls2: Option<LayerScale>,
    /// Stochastic depth of both branches.
    pub drop_path: DropPath,
}

impl Block {
    /// A block of width `dim` with timm's initialisation.
    pub fn new(
        dim: usize,
        heads: usize,
        drop_path: f64,
        layer_scale: f64,
        device: &Device,
    ) -> Self {
        let scale = || {
            (layer_scale > 0.0).then(|| LayerScale {
                gamma: Param::from_tensor(Tensor::full([dim], layer_scale, device)),
            })
        };
        Block {
            norm1: layer_norm(dim, device),
            attn: Attention {
                qkv: linear(dim, 3 * dim, device),
                proj: linear(dim, dim, device),
                heads,
            },
            ls1: scale(),
            norm2: layer_norm(dim, device),
            mlp: Mlp {
                fc1: linear(dim, 4 * dim, device),
                fc2: linear(4 * dim, dim, device),
            },
            ls2: scale(),
            drop_path: DropPath {
                prob: drop_path,
                training: Param::from_bool(true),
            },
        }
    }

    /// The block on tokens `[N, T, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let scaled = |ls: &Option<LayerScale>, y: Tensor<3>| match ls {
            Some(ls) => y * ls.gamma.val().unsqueeze::<3>(),
            None => y,
        };
        let y = scaled(&self.ls1, self.attn.forward(self.norm1.forward(x.clone())));
        let x = x + self.drop_path.forward(y);
        let y = scaled(&self.ls2, self.mlp.forward(self.norm2.forward(x.clone())));
        x + self.drop_path.forward(y)
    }
}

/// A Vision Transformer encoder without its classifier.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// Patches to tokens.
    pub patch_embed: PatchEmbed,
    /// The CLS token, `[1, 1, D]`.
    pub cls_token: Param<Tensor<3>>,
    /// Position embeddings of the CLS token and the patch grid the encoder was built for,
    /// `[1, 1 + g·g, D]`; the fixed sine-cosine table when `pos_embed = "sincos"` (stored, as
    /// MAE and timm store it, and never trained).
    pub pos_embed: Param<Tensor<3>>,
    /// The transformer blocks.
    pub blocks: Vec<Block>,
    /// The final LayerNorm.
    pub norm: LayerNorm,
    /// Whether the position embedding is the fixed sine-cosine table.
    pub fixed_pos_embed: bool,
    /// Whether features are the mean of the patch tokens (else the CLS token).
    pub mean_pool: bool,
}

impl VisionTransformer {
    /// Builds the ViT a resolved `config` describes (see [`EncoderConfig::vit_shape`]).
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let shape = config.vit_shape();
        let (dim, patch) = (shape.dim, shape.patch);
        let grid = config.image_size / patch;
        let pos_embed = match config.pos_embed {
            PosEmbed::Learned => Tensor::random(
                [1, 1 + grid * grid, dim],
                Distribution::Normal(0.0, 0.02),
                device,
            ),
            PosEmbed::Sincos => sincos_pos_embed(dim, [grid, grid], device),
        };
        let rates = (0..shape.depth).map(|i| match shape.depth {
            1 => 0.0,
            depth => config.drop_path * i as f64 / (depth - 1) as f64,
        });
        VisionTransformer {
            patch_embed: PatchEmbed {
                proj: Conv2dConfig::new([config.in_channels, dim], [patch, patch])
                    .with_stride([patch, patch])
                    .init(device),
            },
            cls_token: Param::from_tensor(Tensor::random(
                [1, 1, dim],
                Distribution::Normal(0.0, 1e-6),
                device,
            )),
            pos_embed: Param::from_tensor(pos_embed),
            blocks: rates
                .map(|rate| Block::new(dim, shape.heads, rate, config.layer_scale, device))
                .collect(),
            norm: layer_norm(dim, device),
            fixed_pos_embed: config.pos_embed == PosEmbed::Sincos,
            mean_pool: config.pool == Pool::Mean,
        }
    }

    /// Position embeddings `[1, 1 + h·w, D]` for a patch grid of `[h, w]`: the stored table, or
    /// for another grid the learned one resampled bicubically (`align_corners = false`) and the
    /// fixed one recomputed.
    pub fn pos_embed_for(&self, grid: [usize; 2]) -> Tensor<3> {
        let table = self.pos_embed.val();
        let [_, tokens, dim] = table.dims();
        let side = ((tokens - 1) as f64).sqrt().round() as usize;
        if grid == [side, side] {
            return match self.fixed_pos_embed {
                true => table.detach(),
                false => table,
            };
        }
        if self.fixed_pos_embed {
            return sincos_pos_embed(dim, grid, &table.device());
        }
        let cls = table.clone().slice(s![.., 0..1, ..]);
        let patches = table
            .slice(s![.., 1.., ..])
            .reshape([1, side, side, dim])
            .permute([0, 3, 1, 2]);
        let patches = interpolate(
            patches,
            InterpolateOptions::new(InterpolateMode::Bicubic).with_output_size(grid),
        )
        .permute([0, 2, 3, 1])
        .reshape([1, grid[0] * grid[1], dim]);
        Tensor::cat(vec![cls, patches], 1)
    }

    /// Patch tokens with their position embeddings, `[N, h·w, D]`, the CLS token with its own,
    /// `[N, 1, D]`, and the grid (MAE and I-JEPA select among the patch tokens before the
    /// blocks).
    pub fn embed(&self, images: Tensor<4>) -> (Tensor<3>, Tensor<3>, [usize; 2]) {
        let (tokens, grid) = self.patch_embed.forward(images);
        let (patches, cls) = self.add_positions(tokens, grid);
        (patches, cls, grid)
    }

    /// Patch tokens `[N, h·w, D]` of a `[h, w]` grid (from [`PatchEmbed::forward`], possibly
    /// edited, as SimMIM replaces masked ones) with their position embeddings, and the CLS
    /// token with its own, `[N, 1, D]`.
    pub fn add_positions(&self, tokens: Tensor<3>, grid: [usize; 2]) -> (Tensor<3>, Tensor<3>) {
        let [n, _, dim] = tokens.dims();
        let pos = self.pos_embed_for(grid);
        let cls = (self.cls_token.val() + pos.clone().slice(s![.., 0..1, ..])).expand([n, 1, dim]);
        (tokens + pos.slice(s![.., 1.., ..]), cls)
    }

    /// The blocks and the final norm over a token sequence `[N, T, D]`.
    pub fn encode(&self, mut tokens: Tensor<3>) -> Tensor<3> {
        for block in &self.blocks {
            tokens = block.forward(tokens);
        }
        self.norm.forward(tokens)
    }

    /// All output tokens, `[N, 1 + h·w, D]` (CLS first), and the patch grid.
    pub fn forward_tokens(&self, images: Tensor<4>) -> (Tensor<3>, [usize; 2]) {
        let (patches, cls, grid) = self.embed(images);
        (self.encode(Tensor::cat(vec![cls, patches], 1)), grid)
    }

    /// How the CLS token attends to the patches in the last block, per head, `[N, heads, h·w]`,
    /// and the patch grid: the maps of DINO's figure 1.
    pub fn cls_attention(&self, images: Tensor<4>) -> (Tensor<3>, [usize; 2]) {
        let (patches, cls, grid) = self.embed(images);
        let mut x = Tensor::cat(vec![cls, patches], 1);
        let Some((last, before)) = self.blocks.split_last() else {
            let [n, t, _] = x.dims();
            return (Tensor::zeros([n, 1, t - 1], &x.device()), grid);
        };
        for block in before {
            x = block.forward(x);
        }
        let weights = last.attn.weights(last.norm1.forward(x));
        let [n, heads, t, _] = weights.dims();
        let maps = weights
            .slice(s![.., .., 0..1, 1..])
            .reshape([n, heads, t - 1]);
        (maps, grid)
    }

    /// The patch tokens as a feature map, `[N, D, h, w]`.
    pub fn forward_map(&self, images: Tensor<4>) -> Tensor<4> {
        let (tokens, [h, w]) = self.forward_tokens(images);
        let [n, _, dim] = tokens.dims();
        tokens
            .slice(s![.., 1.., ..])
            .swap_dims(1, 2)
            .reshape([n, dim, h, w])
    }

    /// Features `[N, D]`: the CLS token, or the mean of the patch tokens.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let (tokens, _) = self.forward_tokens(images);
        let [n, _, dim] = tokens.dims();
        match self.mean_pool {
            true => tokens.slice(s![.., 1.., ..]).mean_dim(1).reshape([n, dim]),
            false => tokens.slice(s![.., 0..1, ..]).reshape([n, dim]),
        }
    }

    /// Freezes the first `count` of five stages: the embeddings (patch projection, CLS token,
    /// position embeddings), then the blocks in four near-equal groups.
    pub fn freeze_stages(mut self, count: usize) -> Self {
        if count > 0 {
            self.patch_embed = self.patch_embed.freeze();
            self.cls_token = self.cls_token.set_require_grad(false);
            self.pos_embed = self.pos_embed.set_require_grad(false);
        }
        let depth = self.blocks.len();
        let frozen = (depth * count.saturating_sub(1)).div_ceil(4).min(depth);
        self.blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, block)| if i < frozen { block.freeze() } else { block })
            .collect();
        self
    }
}

/// For each list `rows[i]`, the tokens it names of sample `i mod N` of `tokens` (`[N, T, D]`),
/// `[L, K, D]` for `L` lists of `K` indices below `T`: every sample keeps its own tokens in its
/// own order (the visible patches of MAE, I-JEPA's context), and `M·N` lists read the batch
/// `M` times over, block-major, without copying it (I-JEPA's target blocks; `N = 1` gives
/// every list the same table).
pub fn select_tokens(tokens: Tensor<3>, rows: &[&[usize]]) -> Tensor<3> {
    let [n, t, dim] = tokens.dims();
    let k = rows.first().map_or(0, |r| r.len());
    let flat: Vec<i64> = rows
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.iter().map(move |&j| ((i % n) * t + j) as i64))
        .collect();
    let index = Tensor::from_data(TensorData::new(flat, [rows.len() * k]), &tokens.device());
    tokens
        .reshape([n * t, dim])
        .select(0, index)
        .reshape([rows.len(), k, dim])
}

/// A learned token `[1, 1, D]` from `N(0, 0.02)`: MAE's mask token, I-JEPA's predictor
/// query.
pub fn mask_token(dim: usize, device: &Device) -> Param<Tensor<3>> {
    Param::from_tensor(Tensor::random(
        [1, 1, dim],
        Distribution::Normal(0.0, 0.02),
        device,
    ))
}

/// MAE's fixed 2-D sine-cosine position embeddings for a `[h, w]` grid, with a zero row for
/// the CLS token in front, `[1, 1 + h·w, D]` (`get_2d_sincos_pos_embed` of MAE's
/// `util/pos_embed.py`): the first `D/2` channels encode the column, the last `D/2` the row,
/// each as `[sin(p·ω_k), cos(p·ω_k)]` with `ω_k = 10000^(−k/(D/4))`, `k < D/4`. `D` must be a
/// multiple of 4 ([`EncoderConfig::validate`] checks).
pub fn sincos_pos_embed(dim: usize, [h, w]: [usize; 2], device: &Device) -> Tensor<3> {
    let quarter = dim / 4;
    let omega: Vec<f64> = (0..quarter)
        .map(|k| 1.0 / 10000f64.powf(k as f64 / quarter as f64))
        .collect();
    let mut table = vec![0f32; (1 + h * w) * dim];
    for i in 0..h {
        for j in 0..w {
            let row = &mut table[(1 + i * w + j) * dim..][..dim];
            for (half, position) in [j, i].into_iter().enumerate() {
                for (k, omega) in omega.iter().enumerate() {
                    let angle = position as f64 * omega;
                    row[half * dim / 2 + k] = angle.sin() as f32;
                    row[half * dim / 2 + quarter + k] = angle.cos() as f32;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(table, [1, 1 + h * w, dim]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{Architecture, Encoder};

    fn tiny(image_size: usize, config: EncoderConfig) -> EncoderConfig {
        EncoderConfig {
            arch: Architecture::VitTiny,
            in_channels: 1,
            ..config
        }
        .resolved(1, image_size)
    }

    /// Lists read their own sample, and past the batch start over (block-major).
    #[test]
    fn select_tokens_reads_sample_i_mod_n() {
        let device = Device::flex();
        // Two samples of three one-value tokens: 10·sample + token.
        let tokens =
            Tensor::<3>::from_floats([[[0.0], [1.0], [2.0]], [[10.0], [11.0], [12.0]]], &device);
        let rows: [&[usize]; 4] = [&[2, 0], &[1, 1], &[0, 1], &[2, 2]];
        let picked: Vec<f32> = select_tokens(tokens, &rows)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(picked, [2.0, 0.0, 11.0, 11.0, 0.0, 1.0, 12.0, 12.0]);
    }

    /// ViT-Tiny at width 0.25 (48-d) with 2 blocks, for 28-px gray images.
    fn small() -> EncoderConfig {
        tiny(
            28,
            EncoderConfig {
                width: 0.25,
                depth: 2,
                ..Default::default()
            },
        )
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec().unwrap()
    }

    #[test]
    fn the_sizes_have_timm_parameter_counts() {
        // timm.create_model("vit_{tiny,small,base}_patch16_224", num_classes=0): the counts
        // without the classifier head.
        for (arch, count) in [
            (Architecture::VitTiny, 5_524_416),
            (Architecture::VitSmall, 21_665_664),
            (Architecture::VitBase, 85_798_656),
        ] {
            let config = EncoderConfig {
                arch,
                in_channels: 3,
                ..Default::default()
            }
            .resolved(3, 224);
            assert_eq!(config.patch_size, 16);
            assert_eq!(config.init(&Device::flex()).num_params(), count, "{arch:?}");
        }
    }

    #[test]
    fn small_images_get_small_patches_and_a_matching_feature_map() {
        let device = Device::flex();
        for (size, patch) in [(28, 4), (32, 4), (64, 8), (96, 8), (112, 16)] {
            assert_eq!(
                tiny(size, Default::default()).patch_size,
                patch,
                "{size} px"
            );
        }
        let config = small();
        assert_eq!(config.vit_shape().dim, 48);
        assert_eq!(config.reduction(), 4);
        let encoder = config.init(&device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        assert_eq!(encoder.forward(x.clone()).dims(), [2, 48]);
        let map = encoder.forward_map(x.clone());
        assert_eq!(map.dims(), [2, 48, 7, 7]);

        // Mean pooling is the mean of the feature map's cells.
        let Encoder::Vit(mut vit) = encoder else {
            unreachable!()
        };
        vit.mean_pool = true;
        let mean = map.reshape([2, 48, 49]).mean_dim(2).reshape([2, 48]);
        let diff: f32 = (vit.forward(x) - mean).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn the_sincos_table_is_maes() {
        // D = 8: ω = [1, 0.01]; token (row i, column j) = [sin j, sin .01j, cos j, cos .01j,
        // sin i, sin .01i, cos i, cos .01i]; the CLS row is zero.
        let table = values(sincos_pos_embed(8, [2, 3], &Device::flex()));
        assert_eq!(table.len(), 7 * 8);
        assert!(table[..8].iter().all(|&v| v == 0.0));
        let (i, j) = (1.0f64, 2.0f64);
        let row = &table[(1 + 3 + 2) * 8..][..8];
        let expected = [
            j.sin(),
            (0.01 * j).sin(),
            j.cos(),
            (0.01 * j).cos(),
            i.sin(),
            (0.01 * i).sin(),
            i.cos(),
            (0.01 * i).cos(),
        ];
        for (got, want) in row.iter().zip(expected) {
            assert!((*got as f64 - want).abs() < 1e-6, "{row:?}");
        }
    }

    #[test]
    fn position_embeddings_follow_the_image_size() {
        let device = Device::flex();
        let small = EncoderConfig {
            width: 0.25,
            depth: 1,
            ..Default::default()
        };
        let Encoder::Vit(mut vit) = tiny(28, small.clone()).init(&device) else {
            unreachable!()
        };
        // The built grid gives the table itself.
        let table = values(vit.pos_embed.val());
        assert_eq!(values(vit.pos_embed_for([7, 7])), table);
        // Bicubic resampling keeps a constant table constant, and the CLS row.
        let constant = Tensor::<3>::full([1, 50, 48], 0.5, &device);
        vit.pos_embed = Param::from_tensor(constant);
        let resampled = values(vit.pos_embed_for([8, 5]));
        assert_eq!(resampled.len(), 41 * 48);
        assert!(resampled.iter().all(|v| (v - 0.5).abs() < 1e-5));
        // A 32-px image runs through an encoder built for 28 px.
        let x = Tensor::<4>::random([1, 1, 32, 32], Distribution::Default, &device);
        assert_eq!(vit.forward_map(x).dims(), [1, 48, 8, 8]);
        // The fixed table is recomputed for the new grid.
        let fixed = EncoderConfig {
            pos_embed: PosEmbed::Sincos,
            ..small
        };
        let Encoder::Vit(vit) = tiny(28, fixed).init(&device) else {
            unreachable!()
        };
        assert_eq!(
            values(vit.pos_embed_for([8, 8])),
            values(sincos_pos_embed(48, [8, 8], &device))
        );
    }

    #[test]
    fn the_cls_attention_is_a_row_of_softmax_weights_per_head() {
        let device = Device::flex();
        let config = small();
        let Encoder::Vit(vit) = config.init(&device) else {
            unreachable!()
        };
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        let (maps, grid) = vit.cls_attention(x);
        assert_eq!((maps.dims(), grid), ([2, 3, 49], [7, 7]));
        // Each head's row over the CLS token and 49 patches sums to 1: the patches' share is
        // positive and below 1.
        for share in values(maps.sum_dim(2)) {
            assert!(share > 0.0 && share < 1.0, "{share}");
        }
    }

    #[test]
    fn drop_path_drops_whole_samples_in_training_only() {
        let drop = DropPath {
            prob: 0.5,
            training: Param::from_bool(true),
        };
        let x = Tensor::<3>::ones([64, 3, 4], &Device::flex().autodiff());
        let y = values(drop.forward(x));
        let kept = y.chunks(12).filter(|s| s.iter().all(|&v| v == 2.0)).count();
        let dropped = y.chunks(12).filter(|s| s.iter().all(|&v| v == 0.0)).count();
        assert_eq!(kept + dropped, 64);
        assert!((12..=52).contains(&kept), "{kept} of 64 kept");
        let x = Tensor::<3>::ones([4, 3, 4], &Device::flex());
        assert!(values(drop.forward(x)).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn bad_vit_settings_name_their_key() {
        let config = tiny(
            28,
            EncoderConfig {
                width: 0.25,
                heads: 6,
                pos_embed: PosEmbed::Sincos,
                ..Default::default()
            },
        );
        // 48 rounded to a multiple of 6 heads is 48 (divisible by 4): valid.
        config.validate().unwrap();
        let odd = EncoderConfig { heads: 5, ..config };
        let err = odd.validate().unwrap_err().to_string();
        assert!(err.contains("encoder.pos_embed"), "{err}");
        let big = EncoderConfig {
            patch_size: 32,
            ..tiny(28, Default::default())
        };
        let err = big.validate().unwrap_err().to_string();
        assert!(err.contains("encoder.patch_size"), "{err}");
    }
}

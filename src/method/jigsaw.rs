//! Jigsaw puzzles (Noroozi & Favaro, "Unsupervised Learning of Visual Representations by
//! Solving Jigsaw Puzzles", ECCV 2016).
//!
//! An image region is cut into a 3×3 grid of cells; a smaller random tile is taken inside each
//! cell (the gap and jitter that stop the network from matching edges), every tile is
//! normalised on its own and, for colour images, jittered on its own (no colour shortcut);
//! the tiles are shuffled by one permutation of a fixed set chosen for large Hamming distance
//! (Algorithm 1, `pretext permutations`), and the network — a *context-free network*: the
//! shared encoder sees one tile at a time, per-tile features are concatenated only in the
//! classifier — predicts which permutation it sees.

use super::{
    Method, MethodContext, Network, Progress, StepOutput, accuracy, cross_entropy, display, label_tensor,
    predictions, stack_images,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::Mlp;
use anyhow::Context;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use pretext_data::Image;
use pretext_data::augment::{color_jitter, random_crop_square, random_grayscale};
use pretext_data::grid::Grid;
use pretext_data::patches::{JigsawConfig as TileConfig, jigsaw_tiles, normalize_patch};
use pretext_data::permutations::{PermutationSet, Selection};
use pretext_data::rng::SampleRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Options of the jigsaw method.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JigsawConfig {
    /// Permutation set written by `pretext permutations`; when absent, a set is generated
    /// from `count`, `min_distance`, `selection` and `permutation_seed` (deterministically).
    pub permutations: Option<PathBuf>,
    /// Number of permutations (classes); the paper's best transfer used 1000.
    pub count: usize,
    /// Minimum Hamming distance between permutations (0 = no constraint).
    pub min_distance: usize,
    /// How each next permutation is chosen (Algorithm 1: `maximal`).
    pub selection: Selection,
    /// Seed of the permutation generation.
    pub permutation_seed: u64,
    /// Cell and tile sides; 0 = chosen for the image size (paper: 75 and 64 at 225 px).
    pub cell: usize,
    /// Tile side (smaller than the cell: the gap and jitter).
    pub tile: usize,
    /// Probability of per-tile colour jitter (colour images only).
    pub jitter_prob: f32,
    /// Probability of turning a tile gray (colour images only).
    pub gray_prob: f32,
    /// Width of the shared per-tile layer (paper fc6: 1024).
    pub tile_hidden: usize,
    /// Hidden widths of the classifier on the concatenated tiles (paper fc7: [4096]).
    pub hidden: Vec<usize>,
}

impl Default for JigsawConfig {
    fn default() -> Self {
        JigsawConfig {
            permutations: None,
            count: 1000,
            min_distance: 0,
            selection: Selection::Maximal,
            permutation_seed: 0,
            cell: 0,
            tile: 0,
            jitter_prob: 0.8,
            gray_prob: 0.3,
            tile_hidden: 256,
            hidden: vec![1024],
        }
    }
}

/// The jigsaw method.
pub struct Jigsaw {
    config: JigsawConfig,
    tiles: TileConfig,
    set: PermutationSet,
}

/// One shuffled puzzle: the 9 normalised tiles in shuffled order and the permutation index.
pub struct Puzzle {
    tiles: Vec<Vec<f32>>,
    shape: [usize; 3],
    permutation: usize,
}

/// Per-tile layer shared by the 9 positions, then the classifier over their concatenation.
#[derive(Module, Debug)]
pub struct JigsawHead {
    /// fc6: features of one tile.
    pub tile: Linear,
    /// fc7…fc8: permutation classifier.
    pub classifier: Mlp,
}

impl Jigsaw {
    /// The permutation set in use.
    pub fn permutations(&self) -> &PermutationSet {
        &self.set
    }
}

impl Method for Jigsaw {
    type Config = JigsawConfig;
    type Head = JigsawHead;
    type Sample = Puzzle;

    fn new(mut config: JigsawConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let set = match &config.permutations {
            Some(path) => PermutationSet::load(path)
                .with_context(|| format!("method.permutations = {}", path.display()))?,
            None => PermutationSet::generate(
                config.count,
                config.min_distance,
                config.selection,
                config.permutation_seed,
            )?,
        };
        anyhow::ensure!(
            set.len() >= 2,
            "a jigsaw task needs at least 2 permutations"
        );
        config.count = set.len();
        let size = context.input.image_size;
        let mut tiles = TileConfig::for_image(size);
        if config.cell > 0 {
            tiles.cell = config.cell;
        }
        if config.tile > 0 {
            tiles.tile = config.tile;
        }
        anyhow::ensure!(
            tiles.tile <= tiles.cell && tiles.tile > 0,
            "method.tile ({}) must be positive and at most method.cell ({})",
            tiles.tile,
            tiles.cell
        );
        config.cell = tiles.cell;
        config.tile = tiles.tile;
        Ok(Jigsaw { config, tiles, set })
    }

    fn config(&self) -> &JigsawConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> JigsawHead {
        JigsawHead {
            tile: LinearConfig::new(encoder.feature_dim(), self.config.tile_hidden).init(device),
            classifier: Mlp::new(
                9 * self.config.tile_hidden,
                &self.config.hidden,
                self.set.len(),
                device,
            ),
        }
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<Puzzle> {
        let region = random_crop_square(&image, 3 * self.tiles.cell, rng);
        let tiles = jigsaw_tiles(&region, &self.tiles, rng)?;
        let tiles = tiles.map(|tile| {
            let tile = if tile.channels == 3 {
                let tile = if rng.random::<f32>() < self.config.jitter_prob {
                    color_jitter(tile, 0.4, 0.4, 0.4, 0.1, rng)
                } else {
                    tile
                };
                random_grayscale(tile, self.config.gray_prob, rng)
            } else {
                tile
            };
            normalize_patch(tile)
        });
        let shape = [tiles[0].channels, tiles[0].height, tiles[0].width];
        let permutation = rng.random_range(0..self.set.len());
        let shuffled = self.set.apply(permutation, &tiles);
        Ok(Puzzle {
            tiles: shuffled.into_iter().map(|t| t.data).collect(),
            shape,
            permutation,
        })
    }

    fn step(
        &self,
        net: &Network<JigsawHead>,
        batch: &[Puzzle],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let logits = self.logits(net, batch, device);
        let labels = label_tensor(batch.iter().map(|p| p.permutation), device);
        StepOutput {
            loss: cross_entropy(logits.clone(), labels.clone()),
            metrics: vec![("jigsaw_acc", accuracy(logits, labels))],
            embedding: None,
        }
    }

    fn render(&self, net: &Network<JigsawHead>, batch: &[Puzzle], device: &Device) -> Option<Grid> {
        let shown = &batch[..batch.len().min(8)];
        let guesses = predictions(self.logits(net, shown, device));
        let mut grid = Grid::new(4, 96);
        for (puzzle, guess) in shown.iter().zip(guesses) {
            let [c, h, w] = puzzle.shape;
            let tiles: Vec<Image> = puzzle
                .tiles
                .iter()
                .map(|t| {
                    display(Image {
                        channels: c,
                        height: h,
                        width: w,
                        data: t.clone(),
                    })
                })
                .collect();
            grid.push_tiles(
                &tiles,
                3,
                1,
                &format!("perm {} guess {guess}", puzzle.permutation),
            );
        }
        Some(grid)
    }
}

impl Jigsaw {
    fn logits(&self, net: &Network<JigsawHead>, batch: &[Puzzle], device: &Device) -> Tensor<2> {
        let shape = batch.first().map_or([0; 3], |p| p.shape);
        let tiles = stack_images(
            batch.iter().flat_map(|p| p.tiles.iter().map(Vec::as_slice)),
            shape,
            device,
        );
        let per_tile = relu(net.head.tile.forward(net.encoder.forward(tiles)));
        let n = batch.len();
        let joined = per_tile.reshape([n, 9 * self.config.tile_hidden]);
        net.head.classifier.forward(joined)
    }
}

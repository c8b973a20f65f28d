//! Relative patch position, "context prediction" (Doersch, Gupta & Efros, "Unsupervised
//! Visual Representation Learning by Context Prediction", ICCV 2015).
//!
//! From a 3×3 grid of patches separated by a gap and each displaced by a random jitter, the
//! centre patch and one of its 8 neighbours go through the same encoder; their features are
//! concatenated and a classifier predicts where the neighbour sits (8 classes). The gap and
//! the jitter stop the network from continuing lines and textures across patch borders;
//! chromatic aberration — which tells a lens's image centre from its edges — is removed by
//! projecting colours toward gray along the green–magenta axis or by dropping two of the
//! three colour channels; some patches are pixelated (§3.1).

use super::{
    Method, MethodContext, Network, Progress, StepOutput, accuracy, cross_entropy, display, label_tensor,
    predictions, stack_images,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::Mlp;
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::grid::Grid;
use pretext_data::patches::{
    PatchGridConfig, drop_color_channels, normalize_patch, pixelate, project_toward_gray,
    sample_pair,
};
use pretext_data::rng::SampleRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How colour shortcuts (chromatic aberration) are removed from colour patches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChromaDefence {
    /// Leave colours as they are.
    None,
    /// Project every colour toward gray along the green–magenta axis: B = I − aᵀa/(aaᵀ),
    /// a = [−1, 2, −1] (the paper's final choice).
    Project,
    /// Keep one random colour channel and replace the others by faint noise.
    Drop,
}

/// Options of relative patch position.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelativePatchConfig {
    /// Patch side in pixels; 0 = chosen for the image size (paper: 96 of ~ 400 px).
    pub patch: usize,
    /// Gap between neighbouring patches (paper: 48); used when `patch` is set.
    pub gap: usize,
    /// Largest random displacement of each patch in x and y (paper: 7).
    pub jitter: usize,
    /// Chromatic-aberration defence for colour images.
    pub chroma: ChromaDefence,
    /// Probability of pixelating a patch (paper: 1/3); 0 disables.
    pub pixelate_prob: f32,
    /// Fewest pixels a pixelated patch is reduced to (paper: 100).
    pub pixelate_min_pixels: usize,
    /// Hidden widths of the classifier on the concatenated pair (paper fc7: [4096]).
    pub hidden: Vec<usize>,
}

impl Default for RelativePatchConfig {
    fn default() -> Self {
        RelativePatchConfig {
            patch: 0,
            gap: 0,
            jitter: 0,
            chroma: ChromaDefence::Project,
            pixelate_prob: 1.0 / 3.0,
            pixelate_min_pixels: 100,
            hidden: vec![512],
        }
    }
}

/// Relative patch position.
pub struct RelativePatch {
    config: RelativePatchConfig,
    grid: PatchGridConfig,
}

/// A centre patch, a neighbour and the neighbour's position (0–7, row-major around the
/// centre: 0 top-left, 1 top, 2 top-right, 3 left, 4 right, 5 bottom-left, 6 bottom,
/// 7 bottom-right).
pub struct PatchPairSample {
    center: Vec<f32>,
    neighbor: Vec<f32>,
    shape: [usize; 3],
    label: usize,
}

impl Method for RelativePatch {
    type Config = RelativePatchConfig;
    type Head = Mlp;
    type Sample = PatchPairSample;

    fn new(mut config: RelativePatchConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let grid = if config.patch == 0 {
            PatchGridConfig::for_image(context.input.image_size)
        } else {
            PatchGridConfig {
                patch: config.patch,
                gap: config.gap,
                jitter: config.jitter,
            }
        };
        config.patch = grid.patch;
        config.gap = grid.gap;
        config.jitter = grid.jitter;
        anyhow::ensure!(
            (0.0..=1.0).contains(&config.pixelate_prob),
            "method.pixelate_prob must be in [0, 1]"
        );
        Ok(RelativePatch { config, grid })
    }

    fn config(&self) -> &RelativePatchConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> Mlp {
        Mlp::new(2 * encoder.feature_dim(), &self.config.hidden, 8, device)
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<PatchPairSample> {
        let extent = self.grid.extent();
        let image = if image.height.min(image.width) < extent {
            pretext_data::augment::resize_shorter(&image, extent)
        } else {
            image
        };
        let pair = sample_pair(&image, &self.grid, rng)?;
        let mut prepare = |patch: Image| {
            let patch = if patch.channels == 3 {
                match self.config.chroma {
                    ChromaDefence::None => patch,
                    ChromaDefence::Project => project_toward_gray(patch),
                    ChromaDefence::Drop => drop_color_channels(patch, rng),
                }
            } else {
                patch
            };
            let patch = if rng.random::<f32>() < self.config.pixelate_prob {
                pixelate(patch, self.config.pixelate_min_pixels, rng)
            } else {
                patch
            };
            normalize_patch(patch)
        };
        let center = prepare(pair.center);
        let neighbor = prepare(pair.neighbor);
        Ok(PatchPairSample {
            shape: [center.channels, center.height, center.width],
            center: center.data,
            neighbor: neighbor.data,
            label: usize::from(pair.label),
        })
    }

    fn step(
        &self,
        net: &Network<Mlp>,
        batch: &[PatchPairSample],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let logits = self.logits(net, batch, device);
        let labels = label_tensor(batch.iter().map(|s| s.label), device);
        StepOutput {
            loss: cross_entropy(logits.clone(), labels.clone()),
            metrics: vec![("position_acc", accuracy(logits, labels))],
            embedding: None,
        }
    }

    fn render(
        &self,
        net: &Network<Mlp>,
        batch: &[PatchPairSample],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(8)];
        let guesses = predictions(self.logits(net, shown, device));
        let mut grid = Grid::new(4, 96);
        for (sample, guess) in shown.iter().zip(guesses) {
            let [c, h, w] = sample.shape;
            let patch = |data: &Vec<f32>| {
                display(Image {
                    channels: c,
                    height: h,
                    width: w,
                    data: data.clone(),
                })
            };
            let (center, neighbor) = (patch(&sample.center), patch(&sample.neighbor));
            // The pair laid out where they were: the neighbour in its cell of a 3×3 board.
            let blank = Image::filled(c, h, w, 1.0);
            let mut board: Vec<Image> = vec![blank; 9];
            board[4] = center;
            let cell = if sample.label < 4 {
                sample.label
            } else {
                sample.label + 1
            };
            board[cell] = neighbor;
            grid.push_tiles(
                &board,
                3,
                1,
                &format!("true {} guess {guess}", sample.label),
            );
        }
        Some(grid)
    }
}

impl RelativePatch {
    fn logits(&self, net: &Network<Mlp>, batch: &[PatchPairSample], device: &Device) -> Tensor<2> {
        let shape = batch.first().map_or([0; 3], |s| s.shape);
        let n = batch.len();
        let patches = stack_images(
            batch
                .iter()
                .map(|s| s.center.as_slice())
                .chain(batch.iter().map(|s| s.neighbor.as_slice())),
            shape,
            device,
        );
        let features = net.encoder.forward(patches);
        let d = features.dims()[1];
        let center = features.clone().slice([0..n, 0..d]);
        let neighbor = features.slice([n..2 * n, 0..d]);
        net.head.forward(Tensor::cat(vec![center, neighbor], 1))
    }
}

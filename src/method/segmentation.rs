//! Semantic segmentation: the dense-labelling transfer task of the lecture (1.5 h of labelling
//! per image). A semantic FPN head ([`crate::detect::segmentation`]) on the encoder's stages
//! trains end to end on images whose objects have instance masks (`coco:` data such as
//! `pretext data scenes` writes): each pixel's class is the category of the object covering
//! it (the last in file order where masks overlap), background elsewhere, crowd regions
//! ignored; an object without a mask (VOC boxes) labels its box. The view is the detection
//! method's: the image resized to the run's square size, flipped at random.

use super::detection::square_view;
use super::{Method, MethodContext, Network, Progress, StepOutput, display, stack_images};
use crate::detect::pyramid::PyramidPlan;
use crate::detect::segmentation::{
    Confusion, IGNORE, SemanticHead, pixel_cross_entropy, predicted_labels,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use anyhow::{Context, bail, ensure};
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Options of segmentation training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentationConfig {
    /// Probability of a horizontal flip of a training image and its labels.
    pub flip: f64,
    /// Strides of the pyramid levels, finest first, each twice the one before (panoptic
    /// FPN: 4 … 32).
    pub levels: Vec<usize>,
    /// Channels of the pyramid and of the per-level convolutions (panoptic FPN: 256, 128).
    pub channels: usize,
    /// Object categories (from the data when 0); the head scores one more, background.
    pub classes: usize,
}

impl Default for SegmentationConfig {
    fn default() -> Self {
        SegmentationConfig {
            flip: 0.5,
            levels: vec![4, 8, 16],
            channels: 64,
            classes: 0,
        }
    }
}

/// Semantic segmentation with a fresh head.
pub struct Segmentation {
    config: SegmentationConfig,
    input: InputSpec,
    stages: Vec<(usize, usize)>,
    plan: PyramidPlan,
}

/// One resized (and maybe flipped) image and its per-pixel classes (0 = background,
/// `1 + category` on objects, [`IGNORE`] on crowds).
pub struct LabelledPixels {
    image: Vec<f32>,
    shape: [usize; 3],
    labels: Vec<u8>,
}

impl Method for Segmentation {
    type Config = SegmentationConfig;
    type Head = SemanticHead;
    type Sample = LabelledPixels;

    fn new(mut config: SegmentationConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let source = context.source.as_ref();
        let Some(categories) = source.categories() else {
            bail!(
                "method segmentation needs object annotations; {} has none (train on \
                 coco:FILE.json or voc:FOLDER data)",
                source.origin()
            );
        };
        ensure!(
            (0.0..=1.0).contains(&config.flip),
            "method.flip = {} is not a probability",
            config.flip
        );
        ensure!(config.channels > 0, "method.channels must be at least 1");
        if config.classes == 0 {
            config.classes = categories.len();
        }
        ensure!(
            config.classes < IGNORE as usize,
            "method.classes = {}: at most {} categories",
            config.classes,
            IGNORE - 1
        );
        let stages = context.encoder.stages();
        let plan = PyramidPlan::new(&config.levels, &stages)
            .map_err(|e| anyhow::anyhow!("{e} (method.levels)"))?;
        Ok(Segmentation {
            config,
            input: context.input.clone(),
            stages,
            plan,
        })
    }

    fn config(&self) -> &SegmentationConfig {
        &self.config
    }

    fn init_head(&self, _encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> SemanticHead {
        let c = &self.config;
        SemanticHead::new(&c.levels, c.channels, c.classes + 1, &self.stages, device)
            .expect("the pyramid was checked when the method was built")
    }

    fn sample(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<LabelledPixels> {
        let flip = rng.random::<f64>() < self.config.flip;
        self.labelled(image, target, flip)
    }

    fn sample_eval(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        _rng: &mut SampleRng,
    ) -> anyhow::Result<LabelledPixels> {
        self.labelled(image, target, false)
    }

    fn step(
        &self,
        net: &Network<SemanticHead>,
        batch: &[LabelledPixels],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let logits = self.logits(net, batch, device);
        let labels: Vec<u8> = batch.iter().flat_map(|s| s.labels.iter().copied()).collect();
        let mut confusion = Confusion::new(self.config.classes + 1);
        confusion.add(&labels, &predicted_labels(logits.clone().detach()));
        let accuracy = Tensor::<1>::from_floats([confusion.pixel_accuracy() as f32], device);
        StepOutput {
            loss: pixel_cross_entropy(logits, &labels),
            metrics: vec![("pixel_accuracy", accuracy)],
            embedding: None,
        }
    }

    fn segment(
        &self,
        net: &Network<SemanticHead>,
        batch: &[LabelledPixels],
        device: &Device,
    ) -> Option<Confusion> {
        let predicted = predicted_labels(self.logits(net, batch, device));
        let labels: Vec<u8> = batch.iter().flat_map(|s| s.labels.iter().copied()).collect();
        let mut confusion = Confusion::new(self.config.classes + 1);
        confusion.add(&labels, &predicted);
        Some(confusion)
    }

    fn render(&self, net: &Network<SemanticHead>, batch: &[LabelledPixels], device: &Device) -> Option<Grid> {
        let shown = &batch[..batch.len().min(8)];
        let predicted = predicted_labels(self.logits(net, shown, device));
        let mut grid = Grid::new(6, 96);
        let [channels, height, width] = shown[0].shape;
        let pixels = height * width;
        for (i, sample) in shown.iter().enumerate() {
            let image = display(Image {
                channels,
                height,
                width,
                data: sample.image.clone(),
            });
            grid.push(&image, "image");
            grid.push(&self.paint(&sample.labels, height, width), "truth");
            grid.push(&self.paint(&predicted[i * pixels..(i + 1) * pixels], height, width), "found");
        }
        Some(grid)
    }
}

impl Segmentation {
    fn logits(&self, net: &Network<SemanticHead>, batch: &[LabelledPixels], device: &Device) -> Tensor<4> {
        let shape = batch[0].shape;
        let x = stack_images(batch.iter().map(|s| s.image.as_slice()), shape, device);
        net.head
            .forward(&self.plan, net.encoder.forward_stages(x), [shape[1], shape[2]])
    }

    /// The image's view and its label map, resized (nearest neighbour) and flipped with it.
    fn labelled(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        flip: bool,
    ) -> anyhow::Result<LabelledPixels> {
        let objects = target
            .objects
            .context("an image has no object annotations; segmentation needs them")?;
        let (h, w) = (image.height, image.width);
        let mut full = vec![0u8; h * w];
        for instance in &objects.instances {
            let value = if instance.crowd {
                IGNORE
            } else {
                (instance.category + 1) as u8
            };
            match &instance.mask {
                Some(mask) => {
                    for (label, inside) in full.iter_mut().zip(mask.decode(h, w)) {
                        if inside != 0 {
                            *label = value;
                        }
                    }
                }
                None => {
                    let [x0, y0, x1, y1] = instance.bbox.0;
                    for y in (y0.max(0.0) as usize)..(y1.ceil() as usize).min(h) {
                        for x in (x0.max(0.0) as usize)..(x1.ceil() as usize).min(w) {
                            full[y * w + x] = value;
                        }
                    }
                }
            }
        }
        let size = self.input.image_size;
        let mut labels = vec![0u8; size * size];
        for y in 0..size {
            let sy = ((y as f64 + 0.5) * h as f64 / size as f64) as usize;
            for x in 0..size {
                let sx = ((x as f64 + 0.5) * w as f64 / size as f64) as usize;
                let tx = if flip { size - 1 - x } else { x };
                labels[y * size + tx] = full[sy.min(h - 1) * w + sx.min(w - 1)];
            }
        }
        let view = square_view(&self.input, &image, flip);
        Ok(LabelledPixels {
            shape: [view.channels, view.height, view.width],
            image: view.data,
            labels,
        })
    }

    /// A label map in colours: background black, ignored grey, each class its own hue.
    fn paint(&self, labels: &[u8], height: usize, width: usize) -> Image {
        let mut image = Image::filled(3, height, width, 0.0);
        let plane = height * width;
        for (i, &label) in labels.iter().enumerate() {
            let rgb = match label {
                0 => [0.0, 0.0, 0.0],
                IGNORE => [0.5, 0.5, 0.5],
                c => {
                    let hue = (c as f32 * 0.618_034).fract() * 6.0;
                    let x = 1.0 - (hue % 2.0 - 1.0).abs();
                    match hue as usize {
                        0 => [1.0, x, 0.0],
                        1 => [x, 1.0, 0.0],
                        2 => [0.0, 1.0, x],
                        3 => [0.0, x, 1.0],
                        4 => [x, 0.0, 1.0],
                        _ => [1.0, 0.0, x],
                    }
                }
            };
            for (c, v) in rgb.into_iter().enumerate() {
                image.data[c * plane + i] = v;
            }
        }
        image
    }
}

//! Object detection: the dense transfer task by which the lecture judges self-supervised
//! features (Fast R-CNN on Pascal VOC in the jigsaw paper). A Faster R-CNN with a feature
//! pyramid ([`crate::detect::detector`]) on the encoder's stages trains end to end on images
//! with object annotations (`coco:` or `voc:` data). As in detectron2's default training, the
//! only augmentation is a horizontal flip; every image is resized to the run's square image
//! size (boxes scaled with it) instead of detectron2's aspect-keeping resize of the shorter
//! side (docs/deviations.md).

use super::{Method, MethodContext, Network, Progress, StepOutput, display, stack_images};
use crate::detect::boxes::BoxXyxy;
use crate::detect::detector::{Detection, Detector, DetectorConfig, Truth};
use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use anyhow::{Context, bail};
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::{hflip, resize};
use pretext_data::grid::Grid;
use pretext_data::rng::{SampleRng, sample_rng};
use rand::Rng;

/// Faster R-CNN training on object annotations.
pub struct ObjectDetection {
    config: DetectorConfig,
    input: InputSpec,
    stages: Vec<(usize, usize)>,
    names: Vec<String>,
}

/// One resized (and maybe flipped) image with its objects in input pixels.
pub struct SceneSample {
    image: Vec<f32>,
    shape: [usize; 3],
    truth: Truth,
    /// Seeds the anchors and regions the losses sample, so that a resumed run samples the
    /// same ones.
    seed: u64,
    /// The image's id in its annotation file.
    id: u64,
    /// Input pixels per original pixel, `(x, y)`.
    scale: [f64; 2],
}

impl Method for ObjectDetection {
    type Config = DetectorConfig;
    type Head = Detector;
    type Sample = SceneSample;

    fn new(mut config: DetectorConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let source = context.source.as_ref();
        let Some(categories) = source.categories() else {
            bail!(
                "method detection needs object annotations; {} has none (train on coco:FILE.json \
                 or voc:FOLDER data)",
                source.origin()
            );
        };
        if config.classes == 0 {
            config.classes = categories.len();
        }
        let stages = context.encoder.stages();
        // Builds nothing, checks the keys and the pyramid against the encoder.
        crate::detect::pyramid::PyramidPlan::new(&config.levels, &stages)?;
        config.validate()?;
        let names = categories.iter().map(|c| c.name.clone()).collect();
        Ok(ObjectDetection {
            config,
            input: context.input.clone(),
            stages,
            names,
        })
    }

    fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn init_head(&self, _encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> Detector {
        Detector::new(&self.config, &self.stages, device)
            .expect("the detector's options were checked when the method was built")
    }

    fn sample(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<SceneSample> {
        let flip = rng.random::<f64>() < self.config.flip;
        self.scene(image, target, flip, rng)
    }

    fn sample_eval(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<SceneSample> {
        self.scene(image, target, false, rng)
    }

    fn step(
        &self,
        net: &Network<Detector>,
        batch: &[SceneSample],
        device: &Device,
        progress: Progress,
    ) -> StepOutput {
        let shape = batch[0].shape;
        let x = stack_images(batch.iter().map(|s| s.image.as_slice()), shape, device);
        let truth: Vec<Truth> = batch.iter().map(|s| s.truth.clone()).collect();
        let mut rng = sample_rng(batch[0].seed, progress.step, 0);
        let losses = net.head.losses(
            &self.config,
            net.encoder.forward_stages(x),
            &self.stages,
            [shape[1], shape[2]],
            &truth,
            &mut rng,
        );
        StepOutput {
            loss: losses.total(),
            metrics: vec![
                ("rpn_objectness", losses.rpn_objectness.detach()),
                ("rpn_boxes", losses.rpn_boxes.detach()),
                ("classes", losses.classes.detach()),
                ("boxes", losses.boxes.detach()),
            ],
            embedding: None,
        }
    }

    fn detect(
        &self,
        net: &Network<Detector>,
        batch: &[SceneSample],
        device: &Device,
    ) -> Option<Vec<(u64, Vec<Detection>)>> {
        let found = self.find(net, batch, device);
        Some(batch.iter().map(|s| s.id).zip(found).collect())
    }

    fn render(&self, net: &Network<Detector>, batch: &[SceneSample], device: &Device) -> Option<Grid> {
        let shown = &batch[..batch.len().min(8)];
        let found = self.find(net, shown, device);
        let mut grid = Grid::new(4, 128);
        for (sample, detections) in shown.iter().zip(found) {
            let [channels, height, width] = sample.shape;
            let image = display(Image {
                channels,
                height,
                width,
                data: sample.image.clone(),
            });
            let mut image = image.to_channels(3);
            for b in &sample.truth.boxes {
                outline(&mut image, *b, [0.2, 0.9, 0.2]);
            }
            let confident: Vec<&Detection> = detections.iter().filter(|d| d.score >= 0.5).collect();
            for d in &confident {
                outline(&mut image, d.bbox, [1.0, 0.2, 0.2]);
            }
            let words: Vec<&str> = confident.iter().map(|d| self.name(d.class)).collect();
            grid.push(&image, &words.join(" "));
        }
        Some(grid)
    }
}

impl ObjectDetection {
    fn name(&self, class: usize) -> &str {
        self.names.get(class).map_or("?", String::as_str)
    }

    /// The image resized to the run's size (and mirrored when `flip`), normalised, with its
    /// objects moved along.
    fn scene(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        flip: bool,
        rng: &mut SampleRng,
    ) -> anyhow::Result<SceneSample> {
        let objects = target
            .objects
            .context("an image has no object annotations; detection needs them")?;
        let size = self.input.image_size;
        let (sx, sy) = (size as f64 / image.width as f64, size as f64 / image.height as f64);
        let mut truth = Truth::default();
        for instance in &objects.instances {
            let [x0, y0, x1, y1] = instance.bbox.0;
            let (x0, x1) = (x0 * sx, x1 * sx);
            let (x0, x1) = if flip { (size as f64 - x1, size as f64 - x0) } else { (x0, x1) };
            truth.boxes.push(BoxXyxy([x0, y0 * sy, x1, y1 * sy]));
            truth.classes.push(instance.category);
            truth.crowd.push(instance.crowd);
        }
        let view = square_view(&self.input, &image, flip);
        Ok(SceneSample {
            shape: [view.channels, view.height, view.width],
            image: view.data,
            truth,
            seed: rng.random(),
            id: objects.id,
            scale: [sx, sy],
        })
    }

    /// The detections in each sample's image, in the original image's pixels.
    fn find(&self, net: &Network<Detector>, batch: &[SceneSample], device: &Device) -> Vec<Vec<Detection>> {
        let shape = batch[0].shape;
        let x = stack_images(batch.iter().map(|s| s.image.as_slice()), shape, device);
        let found = net.head.detect(
            &self.config,
            net.encoder.forward_stages(x),
            &self.stages,
            [shape[1], shape[2]],
        );
        found
            .into_iter()
            .zip(batch)
            .map(|(detections, sample)| {
                let [sx, sy] = sample.scale;
                detections
                    .into_iter()
                    .map(|d| {
                        let [x0, y0, x1, y1] = d.bbox.0;
                        Detection {
                            bbox: BoxXyxy([x0 / sx, y0 / sy, x1 / sx, y1 / sy]),
                            ..d
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// `image` resized to the input's square size, mirrored when `flip`, converted and
/// normalised for the encoder: the view of the dense tasks.
pub(super) fn square_view(input: &InputSpec, image: &Image, flip: bool) -> Image {
    let size = input.image_size;
    let mut resized = resize(image, size, size);
    if flip {
        resized = hflip(resized);
    }
    input.normalize(input.convert(resized))
}

/// Draws the one-pixel outline of `b` on an RGB image in `colour`.
fn outline(image: &mut Image, b: BoxXyxy, colour: [f32; 3]) {
    let (w, h) = (image.width as isize, image.height as isize);
    let [x0, y0, x1, y1] = b.0.map(|v| v.round() as isize);
    let (x1, y1) = (x1 - 1, y1 - 1);
    let mut put = |x: isize, y: isize| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            let at = (y * w + x) as usize;
            for (c, v) in colour.iter().enumerate() {
                image.data[c * (w * h) as usize + at] = *v;
            }
        }
    };
    for x in x0..=x1 {
        put(x, y0);
        put(x, y1);
    }
    for y in y0..=y1 {
        put(x0, y);
        put(x1, y);
    }
}

//! Rotation prediction (Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by
//! Predicting Image Rotations", ICLR 2018).
//!
//! Every image of the batch is presented in all four rotations (0°, 90°, 180°, 270°) and the
//! network classifies which rotation it sees: a 4-way cross-entropy over `4N` inputs. The
//! paper found feeding all four rotations of an image in the same batch better than sampling
//! one rotation per image.

use super::{
    Method, MethodContext, Network, Progress, StepOutput, accuracy, cross_entropy, display, label_tensor,
    predictions, stack_images,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::Mlp;
use crate::input::InputSpec;
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::{ViewConfig, rot90};
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of rotation prediction.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// Augmentation applied to each image before it is rotated (the paper uses random crops
    /// and flips). Its `size` 0 means the run's image size.
    pub view: ViewConfig,
    /// Hidden widths of the rotation classifier on top of the pooled features; empty = linear.
    pub head_hidden: Vec<usize>,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            view: ViewConfig::simple(0),
            head_hidden: vec![],
        }
    }
}

/// Rotation prediction.
pub struct Rotation {
    config: RotationConfig,
    input: InputSpec,
}

/// The four rotated copies of one augmented image, label = index.
pub struct RotationSample {
    rotations: [Vec<f32>; 4],
    shape: [usize; 3],
}

impl Method for Rotation {
    type Config = RotationConfig;
    type Head = Mlp;
    type Sample = RotationSample;

    fn new(mut config: RotationConfig, context: &MethodContext) -> anyhow::Result<Self> {
        if config.view.size == 0 {
            config.view.size = context.input.image_size;
        }
        Ok(Rotation {
            config,
            input: context.input.clone(),
        })
    }

    fn config(&self) -> &RotationConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> Mlp {
        Mlp::new(encoder.feature_dim(), &self.config.head_hidden, 4, device)
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<RotationSample> {
        let view = self.input.normalize(self.config.view.apply(&image, rng));
        let shape = [view.channels, view.height, view.width];
        let rotations = [0, 1, 2, 3].map(|k| rot90(&view, k).data);
        Ok(RotationSample { rotations, shape })
    }

    fn step(
        &self,
        net: &Network<Mlp>,
        batch: &[RotationSample],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let logits = self.logits(net, batch, device);
        let labels = label_tensor(batch.iter().flat_map(|_| 0..4), device);
        StepOutput {
            loss: cross_entropy(logits.clone(), labels.clone()),
            metrics: vec![("rotation_acc", accuracy(logits, labels))],
            embedding: None,
        }
    }

    fn render(
        &self,
        net: &Network<Mlp>,
        batch: &[RotationSample],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(4)];
        let guesses = predictions(self.logits(net, shown, device));
        let mut grid = Grid::new(4, 96);
        for (sample, guesses) in shown.iter().zip(guesses.chunks(4)) {
            let [c, h, w] = sample.shape;
            for (k, (rotated, guess)) in sample.rotations.iter().zip(guesses).enumerate() {
                let image = display(Image {
                    channels: c,
                    height: h,
                    width: w,
                    data: rotated.clone(),
                });
                grid.push(&image, &format!("{}° guess {}°", 90 * k, 90 * guess));
            }
        }
        Some(grid)
    }
}

impl Rotation {
    fn logits(&self, net: &Network<Mlp>, batch: &[RotationSample], device: &Device) -> Tensor<2> {
        let shape = batch.first().map_or([0; 3], |s| s.shape);
        let images = stack_images(
            batch
                .iter()
                .flat_map(|s| s.rotations.iter().map(Vec::as_slice)),
            shape,
            device,
        );
        net.head.forward(net.encoder.forward(images))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> MethodContext {
        let empty = pretext_data::source::InMemory::new(vec![], vec![]);
        super::super::test_context(std::sync::Arc::new(empty), 0.0, 1.0)
    }

    #[test]
    fn samples_hold_the_four_rotations_in_label_order() {
        let config = RotationConfig {
            view: ViewConfig::eval(8),
            ..RotationConfig::default()
        };
        let method = Rotation::new(config, &context()).unwrap();
        let mut image = Image::filled(1, 8, 8, 0.0);
        image.data[0] = 1.0; // top-left corner
        let mut rng = pretext_data::rng::sample_rng(0, 0, 0);
        let sample = method.sample(image.clone(), Default::default(), &mut rng).unwrap();
        assert_eq!(sample.rotations[0], image.data);
        for k in 0..4 {
            assert_eq!(
                sample.rotations[k],
                rot90(&image, k as i32).data,
                "label {k}"
            );
        }
        assert_ne!(sample.rotations[1], sample.rotations[0]);
    }
}

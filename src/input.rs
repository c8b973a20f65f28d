//! What an encoder expects as input: channels, image side and normalisation.
//!
//! Recorded in every checkpoint, so evaluation feeds a pretrained encoder exactly the kind of
//! tensor it was trained on.

use pretext_data::Image;
use serde::{Deserialize, Serialize};

/// The input contract of an encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Channels the encoder takes (1 or 3).
    pub channels: usize,
    /// Side of the square images it was trained on.
    pub image_size: usize,
    /// Per-channel mean subtracted before the network.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided out before the network.
    pub std: Vec<f32>,
}

impl InputSpec {
    /// Usual statistics for a dataset kind and channel count: Fashion-MNIST's and MNIST's
    /// published means, CIFAR's, and ImageNet's for everything else.
    pub fn default_stats(kind: pretext_data::DatasetKind, channels: usize) -> (Vec<f32>, Vec<f32>) {
        use pretext_data::DatasetKind as K;
        let (mean, std): (&[f32], &[f32]) = match (kind, channels) {
            (K::FashionMnist, 1) => (&[0.2860], &[0.3530]),
            (K::Mnist, 1) => (&[0.1307], &[0.3081]),
            (K::Cifar10, 3) => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
            (K::Cifar100, 3) => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            (_, 1) => (&[0.449], &[0.226]),
            _ => (&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225]),
        };
        (mean.to_vec(), std.to_vec())
    }

    /// Normalises an image of the right channels and size.
    pub fn normalize(&self, image: Image) -> Image {
        pretext_data::augment::normalize(image, &self.mean, &self.std)
    }

    /// The deterministic evaluation transform: channel conversion, resize of the shorter side
    /// to `image_size` and a centre crop (identity for images already of that size), then
    /// normalisation. Returns planar values ready for a `[C, H, W]` tensor slot.
    pub fn eval_transform(&self, image: Image) -> Vec<f32> {
        let image = image.to_channels(self.channels);
        let image = if image.height == self.image_size && image.width == self.image_size {
            image
        } else {
            let resized = pretext_data::augment::resize_shorter(&image, self.image_size);
            pretext_data::augment::center_crop(&resized, self.image_size, self.image_size)
        };
        self.normalize(image).data
    }
}

//! What an encoder expects as input: channels, image side and normalisation.
//!
//! Recorded in every checkpoint, so evaluation feeds a pretrained encoder exactly the kind of
//! tensor it was trained on.

use pretext_data::Image;
use serde::{Deserialize, Serialize};

/// Which colour representation an encoder takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputSpace {
    /// The image's own values (gray or RGB), converted to the encoder's channel count.
    #[default]
    Native,
    /// CIE L* lightness scaled to `[0, 1]` (L*/100), one channel: what colorization
    /// encoders see. Colour and gray images alike are converted to it, so such an encoder
    /// transfers to any downstream data.
    Lightness,
}

/// The input contract of an encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Colour representation.
    #[serde(default)]
    pub space: InputSpace,
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

    /// Converts a `[0, 1]` image to the encoder's colour representation and channel count.
    pub fn convert(&self, image: Image) -> Image {
        match self.space {
            InputSpace::Native => image.to_channels(self.channels),
            InputSpace::Lightness => {
                let mut l = pretext_data::lab::lightness(&image);
                l.data.iter_mut().for_each(|v| *v /= 100.0);
                l
            }
        }
    }

    /// Converts a dataset image to the channel count the method works with: the encoder's,
    /// except for encoders of lightness, whose methods see the colour image (and compute
    /// lightness themselves).
    pub fn convert_channels(&self, image: Image) -> Image {
        match self.space {
            InputSpace::Native => image.to_channels(self.channels),
            InputSpace::Lightness => image.to_channels(3),
        }
    }

    /// Normalises an image of the right channels and size.
    pub fn normalize(&self, image: Image) -> Image {
        pretext_data::augment::normalize(image, &self.mean, &self.std)
    }

    /// The picture of normalised planar values of shape `[channels, height, width]`: each
    /// channel times its std plus its mean (the inverse of [`InputSpec::normalize`]).
    pub fn denormalize(&self, data: &[f32], [channels, height, width]: [usize; 3]) -> Image {
        let plane = height * width;
        Image {
            channels,
            height,
            width,
            data: data
                .iter()
                .enumerate()
                .map(|(i, v)| v * self.std[i / plane] + self.mean[i / plane])
                .collect(),
        }
    }

    /// The deterministic evaluation transform: channel conversion, resize of the shorter side
    /// to `image_size` and a centre crop (identity for images already of that size), then
    /// normalisation. Returns planar values ready for a `[C, H, W]` tensor slot.
    pub fn eval_transform(&self, image: Image) -> Vec<f32> {
        let image = self.convert(image);
        let image = if image.height == self.image_size && image.width == self.image_size {
            image
        } else {
            let resized = pretext_data::augment::resize_shorter(&image, self.image_size);
            pretext_data::augment::center_crop(&resized, self.image_size, self.image_size)
        };
        self.normalize(image).data
    }
}

//! The in-memory image type shared by datasets, augmentations and methods.

/// An image as planar (channel-major, CHW) `f32` values, nominally in `[0, 1]`.
///
/// Planar layout is what the network consumes (`[N, C, H, W]` tensors), so a batch is built by
/// concatenating `data` vectors without any transpose.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Number of channels: 1 (gray) or 3 (RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `channels * height * width` values, channel-major.
    pub data: Vec<f32>,
}

impl Image {
    /// An image of the given shape filled with `value`.
    pub fn filled(channels: usize, height: usize, width: usize, value: f32) -> Self {
        Image {
            channels,
            height,
            width,
            data: vec![value; channels * height * width],
        }
    }

    /// Builds an image from interleaved 8-bit pixels (HWC, as image files and CIFAR's
    /// successors store them), scaling to `[0, 1]`.
    pub fn from_interleaved_u8(
        channels: usize,
        height: usize,
        width: usize,
        pixels: &[u8],
    ) -> Self {
        debug_assert_eq!(pixels.len(), channels * height * width);
        let plane = height * width;
        let mut data = vec![0.0; channels * plane];
        for (i, px) in pixels.chunks_exact(channels).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                data[c * plane + i] = f32::from(v) / 255.0;
            }
        }
        Image {
            channels,
            height,
            width,
            data,
        }
    }

    /// Builds an image from planar 8-bit pixels (CHW, as CIFAR and IDX store them), scaling
    /// to `[0, 1]`.
    pub fn from_planar_u8(channels: usize, height: usize, width: usize, pixels: &[u8]) -> Self {
        debug_assert_eq!(pixels.len(), channels * height * width);
        Image {
            channels,
            height,
            width,
            data: pixels.iter().map(|&v| f32::from(v) / 255.0).collect(),
        }
    }

    /// One channel plane as a slice of `height * width` values.
    pub fn plane(&self, channel: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[channel * n..(channel + 1) * n]
    }

    /// Value at (channel, y, x).
    pub fn at(&self, channel: usize, y: usize, x: usize) -> f32 {
        self.data[(channel * self.height + y) * self.width + x]
    }

    /// Converts to `channels` channels: gray is replicated to RGB; RGB becomes gray by the
    /// ITU-R BT.601 luma weights (0.299, 0.587, 0.114), as PIL's `convert("L")` does.
    pub fn to_channels(self, channels: usize) -> Image {
        match (self.channels, channels) {
            (a, b) if a == b => self,
            (1, 3) => {
                let mut data = Vec::with_capacity(3 * self.data.len());
                for _ in 0..3 {
                    data.extend_from_slice(&self.data);
                }
                Image {
                    channels: 3,
                    data,
                    ..self
                }
            }
            (3, 1) => {
                let n = self.height * self.width;
                let (r, g, b) = (&self.data[..n], &self.data[n..2 * n], &self.data[2 * n..]);
                let data = (0..n)
                    .map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i])
                    .collect();
                Image {
                    channels: 1,
                    data,
                    ..self
                }
            }
            (a, b) => panic!("unsupported channel conversion {a} -> {b}"),
        }
    }
}

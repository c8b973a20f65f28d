//! The layout of a batch-norm input and the statistics of one channel, shared by the
//! planar kernels (`batch_norm.rs`) and the row kernels (`rows.rs`).

/// The layout of a batch-norm input: `batch × channels × spatial`, contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormShape {
    /// Images.
    pub batch: usize,
    /// Channels (normalised separately).
    pub channels: usize,
    /// Values per channel and image (`H·W`).
    pub spatial: usize,
}

impl NormShape {
    pub(super) fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    /// Values per channel.
    pub(super) fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// The slices of channel `c`, one per image.
    pub(super) fn channel<'a>(&self, data: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        (0..self.batch)
            .map(move |n| &data[(n * self.channels + c) * self.spatial..][..self.spatial])
    }
}

/// The batch statistics of one channel, with what the backward pass needs.
#[derive(Clone, Copy, Debug)]
pub struct ChannelStats {
    /// Mean.
    pub mean: f32,
    /// Biased variance (divided by `M`).
    pub var: f32,
    /// `1/√(σ² + ε)`.
    pub inv_std: f32,
}

impl ChannelStats {
    /// The output's affine map `y = scale·x + shift`, `scale = γ·inv_std`,
    /// `shift = β − μ·scale`.
    pub(super) fn affine(&self, gamma: f32, beta: f32) -> (f32, f32) {
        let scale = gamma * self.inv_std;
        (scale, beta - self.mean * scale)
    }
}

/// The output gradient `dy` behind a fused ReLU whose output was `y`: passed where `y > 0`.
pub(super) fn relu_gate(dy: f32, y: f32) -> f32 {
    if y > 0.0 { dy } else { 0.0 }
}

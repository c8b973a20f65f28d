//! The layout of a batch-norm input, the statistics of one channel and the backward sums
//! (over every rank with synchronised batch norm), shared by the planar kernels
//! (`batch_norm.rs`) and the row kernels (`rows.rs`).

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
    /// The statistics of a channel of mean `mean` and (biased) variance `var`.
    pub(super) fn of(mean: f32, var: f64, epsilon: f64) -> ChannelStats {
        ChannelStats {
            mean,
            var: var as f32,
            inv_std: (1.0 / (var + epsilon).sqrt()) as f32,
        }
    }

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

/// Sums over every rank the backward pass's per-channel `(Σg, Σg·…)` and the count `m`, with
/// synchronised batch norm; the local ones otherwise.
pub(super) fn backward_sums(sums: &[(f64, f64)], m: f64) -> (Vec<(f64, f64)>, f64) {
    if !crate::distributed::syncs_batch_norm() {
        return (sums.to_vec(), m);
    }
    let mut flat: Vec<f64> = sums.iter().flat_map(|&(a, b)| [a, b]).collect();
    flat.push(m);
    crate::distributed::all_reduce_sum(&mut flat);
    let m = flat.pop().unwrap_or(1.0).max(1.0);
    (flat.chunks_exact(2).map(|p| (p[0], p[1])).collect(), m)
}

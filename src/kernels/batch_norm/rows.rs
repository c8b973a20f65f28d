//! Batch norm over `N × C` rows, one value per channel and image (spatial size 1): the
//! hidden layers of the MLP heads (BYOL's projector and predictor, SimCLR's projector, …),
//! the same formulas as the planar kernels of the parent module.
//!
//! The planar kernels walk one channel at a time, which on this layout is a gather of `N`
//! values `C` apart per channel, and their element-wise passes would be one task per value.
//! These walk rows instead: the reductions keep a block of channel accumulators and add one
//! row's block to it at a time; the output passes are one task per row. Every pass reads
//! contiguous memory and vectorises over channels.

use super::channel::{ChannelStats, NormShape, backward_sums, relu_gate};
use rayon::prelude::*;

/// Channels per task of the reductions.
const BLOCK: usize = 256;

/// For each block of channels, in parallel: `f(start, out)` writes `out`, the values of the
/// channels `start..start + out.len()`.
fn per_block<T: Send>(out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, out)| f(b * BLOCK, out));
}

/// Row `n` of `data` (`N × C`), restricted to channels `start..start + width`.
fn block(data: &[f32], channels: usize, n: usize, start: usize, width: usize) -> &[f32] {
    &data[n * channels + start..][..width]
}

/// Per-channel `Σx` (`about` = `None`) or `Σ(x − μ_c)²` (`about` = `Some(μ)`), summed in
/// `f64`, a block of channels at a time.
pub(super) fn sums(shape: &NormShape, x: &[f32], about: Option<&[f32]>) -> Vec<f64> {
    let c = shape.channels;
    let mut sums = vec![0f64; c];
    per_block(&mut sums, |start, out| {
        let width = out.len();
        for n in 0..shape.batch {
            let row = block(x, c, n, start, width);
            match about {
                None => out
                    .iter_mut()
                    .zip(row)
                    .for_each(|(s, &v)| *s += f64::from(v)),
                Some(mean) => {
                    let mean = &mean[start..][..width];
                    for ((s, &v), &mu) in out.iter_mut().zip(row).zip(mean) {
                        *s += f64::from((v - mu) * (v - mu));
                    }
                }
            }
        }
    });
    sums
}

/// `y = γ·(x − μ)·inv_std + β` per channel, then `max(y, 0)` when `relu`.
pub(super) fn forward(
    shape: &NormShape,
    x: &[f32],
    stats: &[ChannelStats],
    gamma: &[f32],
    beta: &[f32],
    relu: bool,
) -> Vec<f32> {
    let (scale, shift): (Vec<f32>, Vec<f32>) = stats
        .iter()
        .zip(gamma.iter().zip(beta))
        .map(|(s, (&g, &b))| s.affine(g, b))
        .unzip();
    let c = shape.channels;
    super::super::written::par_chunks(x.len(), c, |i, out| {
        let affine = x[i * c..][..c].iter().zip(scale.iter().zip(&shift));
        out.extend(affine.map(|(&x, (&a, &b))| match relu {
            true => (x * a + b).max(0.0),
            false => x * a + b,
        }))
    })
}

/// The gradients `(∂L/∂x, ∂L/∂γ, ∂L/∂β)`; `y`, when a ReLU was fused, says by its sign where
/// it passed the gradient.
pub(super) fn backward(
    shape: &NormShape,
    x: &[f32],
    y: Option<&[f32]>,
    dy: &[f32],
    stats: &[ChannelStats],
    gamma: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let m = shape.count().max(1) as f64;
    let c = shape.channels;
    // The output gradient behind the ReLU, if one was fused.
    let gated = |dy: &[f32], y: Option<&[f32]>, j: usize| match y {
        Some(y) => relu_gate(dy[j], y[j]),
        None => dy[j],
    };
    // Σg and Σg·(x − μ) per channel.
    let mut sums = vec![(0f64, 0f64); c];
    per_block(&mut sums, |start, out| {
        let width = out.len();
        for n in 0..shape.batch {
            let at = |data| block(data, c, n, start, width);
            let (x, dy, y) = (at(x), at(dy), y.map(at));
            for (j, (s, &x)) in out.iter_mut().zip(x).enumerate() {
                let g = gated(dy, y, j);
                s.0 += f64::from(g);
                s.1 += f64::from(g * (x - stats[start + j].mean));
            }
        }
    });
    // Σg·x̂ = Σg·(x − μ)·inv_std.
    let sum_gx_hat: Vec<f64> = sums
        .iter()
        .zip(stats)
        .map(|(&(_, sgx), s)| sgx * f64::from(s.inv_std))
        .collect();
    let d_beta: Vec<f32> = sums.iter().map(|&(sg, _)| sg as f32).collect();
    let d_gamma: Vec<f32> = sum_gx_hat.iter().map(|&v| v as f32).collect();
    // γ and β take this rank's sums (the optimiser sums the ranks' gradients); x the global.
    let (sums, m) = backward_sums(&sums, m);
    let sum_gx_hat: Vec<f64> = sums
        .iter()
        .zip(stats)
        .map(|(&(_, sgx), s)| sgx * f64::from(s.inv_std))
        .collect();
    // ∂L/∂x = k·(g − Σg/M − x̂·Σg·x̂/M) with k = γ·inv_std.
    let k: Vec<f32> = gamma
        .iter()
        .zip(stats)
        .map(|(g, s)| g * s.inv_std)
        .collect();
    let mean_g: Vec<f32> = sums.iter().map(|&(sg, _)| (sg / m) as f32).collect();
    let mean_gx: Vec<f32> = sum_gx_hat.iter().map(|&v| (v / m) as f32).collect();
    let dx = super::super::written::par_chunks(x.len(), c, |i, out| {
        let (x, dy) = (&x[i * c..][..c], &dy[i * c..][..c]);
        let y = y.map(|y| &y[i * c..][..c]);
        out.extend((0..c).map(|j| {
            let s = stats[j];
            let x_hat = (x[j] - s.mean) * s.inv_std;
            k[j] * (gated(dy, y, j) - mean_g[j] - x_hat * mean_gx[j])
        }))
    });
    (dx, d_gamma, d_beta)
}

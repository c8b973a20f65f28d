//! Batch normalisation in training mode (Ioffe & Szegedy 2015, algorithm 1), optionally fused
//! with the ReLU that follows it, forward and backward, on `N × C × S` buffers (`S` the
//! spatial positions).
//!
//! Forward, per channel over the `M = N·S` values: `μ`, the biased `σ²`,
//! `x̂ = (x − μ)/√(σ² + ε)`, `y = γ·x̂ + β` (then `max(y, 0)`).
//! Backward, with `g = ∂L/∂y` (zeroed where the ReLU was off):
//! `∂L/∂β = Σg`, `∂L/∂γ = Σg·x̂`, `∂L/∂x = γ/√(σ² + ε) · (g − Σg/M − x̂·Σg·x̂/M)`.
//!
//! burn's own training batch norm builds these from generic tensor operations: a channel-major
//! copy of the input for each statistic and a dozen element-wise passes. Here the statistics
//! are two reading passes over each channel and the output one pass over the batch; the
//! backward is one reduction pass and one output pass.

mod channel;
mod rows;

pub use channel::{ChannelStats, NormShape};
use channel::{backward_sums, relu_gate};

use rayon::prelude::*;

/// `Σ f(a_i, b_i, c_i)` over three equal slices, in eight independent lanes so that the
/// compiler vectorises it (a single float accumulator must be summed in order), finished in
/// `f64`.
fn lane_sum(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f64 {
    let whole = a.len() / 8 * 8;
    let mut lanes = [0f32; 8];
    for ((a, b), c) in a[..whole]
        .chunks_exact(8)
        .zip(b[..whole].chunks_exact(8))
        .zip(c[..whole].chunks_exact(8))
    {
        for i in 0..8 {
            lanes[i] += f(a[i], b[i], c[i]);
        }
    }
    let rest: f64 = (whole..a.len())
        .map(|i| f64::from(f(a[i], b[i], c[i])))
        .sum();
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + rest
}

/// Per-channel statistics of `x`: the mean first, then the variance about it (two passes,
/// exact where one pass of `Σx²` would cancel).
///
/// With synchronised batch norm ([`crate::distributed::syncs_batch_norm`]) the statistics are
/// those of every rank's batch together: each pass's per-channel sums (and the counts) are
/// summed over the ranks before they are divided.
pub fn statistics(shape: &NormShape, x: &[f32], epsilon: f64) -> Vec<ChannelStats> {
    assert_eq!(x.len(), shape.len(), "batch norm input size for {shape:?}");
    let synced = crate::distributed::syncs_batch_norm();
    if shape.spatial == 1 || synced {
        return two_passes(shape, x, epsilon, synced);
    }
    // One channel at a time, both passes while it is in the cache.
    let m = shape.count().max(1) as f64;
    (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let mean = (channel_sum(shape, x, c, None) / m) as f32;
            let var = channel_sum(shape, x, c, Some(mean)) / m;
            ChannelStats::of(mean, var, epsilon)
        })
        .collect()
}

/// `Σx` (`about` = `None`) or `Σ(x − μ)²` (`about` = `Some(μ)`) over channel `c`.
fn channel_sum(shape: &NormShape, x: &[f32], c: usize, about: Option<f32>) -> f64 {
    shape
        .channel(x, c)
        .map(|s| match about {
            None => lane_sum(s, s, s, |a, _, _| a),
            Some(mu) => lane_sum(s, s, s, |a, _, _| (a - mu) * (a - mu)),
        })
        .sum()
}

/// The statistics as two passes over the whole input, the means between them; with `synced`,
/// each pass's sums are taken over every rank.
fn two_passes(shape: &NormShape, x: &[f32], epsilon: f64, synced: bool) -> Vec<ChannelStats> {
    let sums = |about: Option<&[f32]>| -> Vec<f64> {
        let mut sums = match shape.spatial {
            1 => rows::sums(shape, x, about),
            _ => (0..shape.channels)
                .into_par_iter()
                .map(|c| channel_sum(shape, x, c, about.map(|mu| mu[c])))
                .collect(),
        };
        sums.push(shape.count() as f64);
        if synced {
            crate::distributed::all_reduce_sum(&mut sums);
        }
        let m = sums.pop().unwrap_or(1.0).max(1.0);
        sums.iter().map(|s| s / m).collect()
    };
    let mean: Vec<f32> = sums(None).iter().map(|&v| v as f32).collect();
    let var = sums(Some(&mean));
    mean.iter()
        .zip(var)
        .map(|(&mean, var)| ChannelStats::of(mean, var, epsilon))
        .collect()
}

/// `y = γ·(x − μ)·inv_std + β` per channel, then `max(y, 0)` when `relu`.
pub fn forward(
    shape: &NormShape,
    x: &[f32],
    stats: &[ChannelStats],
    gamma: &[f32],
    beta: &[f32],
    relu: bool,
) -> Vec<f32> {
    assert_eq!(x.len(), shape.len(), "batch norm input size for {shape:?}");
    assert!(
        stats.len() == shape.channels
            && gamma.len() == shape.channels
            && beta.len() == shape.channels
    );
    if shape.spatial == 1 {
        return rows::forward(shape, x, stats, gamma, beta, relu);
    }
    let plane = shape.spatial.max(1);
    super::written::par_chunks(x.len(), plane, |i, out| {
        let c = i % shape.channels;
        let (scale, shift) = stats[c].affine(gamma[c], beta[c]);
        out.extend(x[i * plane..][..plane].iter().map(|&x| match relu {
            true => (x * scale + shift).max(0.0),
            false => x * scale + shift,
        }))
    })
}

/// The gradients `(∂L/∂x, ∂L/∂γ, ∂L/∂β)` from the output gradient `dy`; `y` is the forward
/// output, whose sign says where a fused ReLU passed the gradient (`None`: no ReLU).
pub fn backward(
    shape: &NormShape,
    x: &[f32],
    y: Option<&[f32]>,
    dy: &[f32],
    stats: &[ChannelStats],
    gamma: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert!(
        x.len() == shape.len() && dy.len() == shape.len(),
        "batch norm gradient size for {shape:?}"
    );
    if shape.spatial == 1 {
        return rows::backward(shape, x, y, dy, stats, gamma);
    }
    let g = relu_gate;
    let m = shape.count().max(1) as f64;
    // Σg and Σg·x̂ per channel; Σg·x̂ = Σg·(x − μ) · inv_std.
    let sums: Vec<(f64, f64)> = (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let s = stats[c];
            let mu = s.mean;
            let mut sum_g = 0.0;
            let mut sum_gx = 0.0;
            for (i, (x, dy)) in shape.channel(x, c).zip(shape.channel(dy, c)).enumerate() {
                match y {
                    Some(y) => {
                        let y = &y[(i * shape.channels + c) * shape.spatial..][..shape.spatial];
                        sum_g += lane_sum(dy, y, y, |d, y, _| g(d, y));
                        sum_gx += lane_sum(dy, y, x, |d, y, x| g(d, y) * (x - mu));
                    }
                    None => {
                        sum_g += lane_sum(dy, dy, dy, |d, _, _| d);
                        sum_gx += lane_sum(dy, x, x, |d, x, _| d * (x - mu));
                    }
                }
            }
            (sum_g, sum_gx * f64::from(s.inv_std))
        })
        .collect();
    let d_beta: Vec<f32> = sums.iter().map(|&(sg, _)| sg as f32).collect();
    let d_gamma: Vec<f32> = sums.iter().map(|&(_, sgx)| sgx as f32).collect();
    // γ and β take this rank's sums (the optimiser sums the ranks' gradients); x the global.
    let (sums, m) = backward_sums(&sums, m);
    let plane = shape.spatial.max(1);
    let dx = super::written::par_chunks(x.len(), plane, |i, out| {
        let c = i % shape.channels;
        let s = stats[c];
        let k = gamma[c] * s.inv_std;
        let mean_g = (sums[c].0 / m) as f32;
        let mean_gx = (sums[c].1 / m) as f32;
        let (x, dy) = (&x[i * plane..][..plane], &dy[i * plane..][..plane]);
        let y = y.map(|y| &y[i * plane..][..plane]);
        out.extend((0..plane).map(|j| {
            let g = match y {
                Some(y) => g(dy[j], y[j]),
                None => dy[j],
            };
            let x_hat = (x[j] - s.mean) * s.inv_std;
            k * (g - mean_g - x_hat * mean_gx)
        }))
    });
    (dx, d_gamma, d_beta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_output_by_hand() {
        // One channel, values 1, 2, 3, 4 over two images: μ = 2.5, σ² = 1.25.
        let shape = NormShape {
            batch: 2,
            channels: 1,
            spatial: 2,
        };
        let x = [1.0, 2.0, 3.0, 4.0];
        let stats = statistics(&shape, &x, 0.0);
        assert!((stats[0].mean - 2.5).abs() < 1e-6 && (stats[0].var - 1.25).abs() < 1e-6);
        // γ = 2, β = 1: y = 2·(x − 2.5)/√1.25 + 1; the ReLU zeroes the first two.
        let y = forward(&shape, &x, &stats, &[2.0], &[1.0], true);
        let want = x.map(|v| (2.0 * (v - 2.5) / 1.25f32.sqrt() + 1.0).max(0.0));
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{y:?}");
        }
    }

    /// The passes synchronised batch norm takes (here in a world of one) give the statistics
    /// of the one-channel-at-a-time path.
    #[test]
    fn the_two_pass_statistics_are_the_fused_ones() {
        let shape = NormShape {
            batch: 3,
            channels: 4,
            spatial: 6,
        };
        let x: Vec<f32> = (0..72)
            .map(|i| ((i * 29) % 17) as f32 * 0.4 - 2.0)
            .collect();
        let (fused, passes) = (
            statistics(&shape, &x, 1e-5),
            two_passes(&shape, &x, 1e-5, false),
        );
        for (a, b) in fused.iter().zip(&passes) {
            assert_eq!((a.mean, a.var, a.inv_std), (b.mean, b.var, b.inv_std));
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let shape = NormShape {
            batch: 3,
            channels: 2,
            spatial: 5,
        };
        let x: Vec<f32> = (0..30)
            .map(|i| ((i * 37) % 11) as f32 * 0.3 - 1.0)
            .collect();
        let w: Vec<f32> = (0..30).map(|i| ((i * 13) % 7) as f32 * 0.2 - 0.5).collect();
        let (gamma, beta) = ([1.5, -0.7], [0.2, 0.1]);
        let eps = 1e-3;
        for relu in [false, true] {
            // L = Σ w·y
            let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
                let stats = statistics(&shape, x, eps);
                let y = forward(&shape, x, &stats, gamma, beta, relu);
                y.iter().zip(&w).map(|(&y, &w)| f64::from(y * w)).sum()
            };
            let stats = statistics(&shape, &x, eps);
            let y = forward(&shape, &x, &stats, &gamma, &beta, relu);
            let (dx, dg, db) = backward(&shape, &x, relu.then_some(&y[..]), &w, &stats, &gamma);
            let h = 1e-2f32;
            for i in [0, 7, 18, 29] {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[i] += h;
                down[i] -= h;
                let fd =
                    (loss(&up, &gamma, &beta) - loss(&down, &gamma, &beta)) / f64::from(2.0 * h);
                assert!(
                    (fd - f64::from(dx[i])).abs() < 2e-2,
                    "relu {relu} dx[{i}]: {fd} vs {}",
                    dx[i]
                );
            }
            for c in 0..2 {
                let mut up = gamma;
                let mut down = gamma;
                up[c] += h;
                down[c] -= h;
                let fd = (loss(&x, &up, &beta) - loss(&x, &down, &beta)) / f64::from(2.0 * h);
                assert!(
                    (fd - f64::from(dg[c])).abs() < 2e-2,
                    "relu {relu} dγ[{c}]: {fd} vs {}",
                    dg[c]
                );
                let mut up = beta;
                let mut down = beta;
                up[c] += h;
                down[c] -= h;
                let fd = (loss(&x, &gamma, &up) - loss(&x, &gamma, &down)) / f64::from(2.0 * h);
                assert!(
                    (fd - f64::from(db[c])).abs() < 2e-2,
                    "relu {relu} dβ[{c}]: {fd} vs {}",
                    db[c]
                );
            }
        }
    }
}

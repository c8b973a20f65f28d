//! Linear probe: multinomial logistic regression on frozen, standardised features, trained to
//! convergence with L-BFGS (Nocedal & Wright 2006, Alg. 7.4/7.5) — the protocol of Kolesnikov,
//! Zhai & Beyer 2019 and Goyal et al. 2019 rather than a fixed SGD budget. The L2 strength is
//! chosen on a held-out tenth of the training split, then the probe is refit on all of it.

use super::Features;
use anyhow::{Result, ensure};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Options of the linear probe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearConfig {
    /// L2 strengths tried (per-sample loss + λ/2‖W‖²).
    pub l2_grid: Vec<f64>,
    /// Maximum L-BFGS iterations per fit.
    pub max_iter: usize,
    /// Stop when the gradient's largest entry falls below this.
    pub tol: f64,
    /// Fraction of the training split held out to choose λ.
    pub val_fraction: f64,
    /// Seed of the held-out split.
    pub seed: u64,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            l2_grid: vec![1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
            max_iter: 300,
            tol: 1e-5,
            val_fraction: 0.1,
            seed: 0,
        }
    }
}

/// The probe's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearResult {
    /// Top-1 accuracy on the test split, in `[0, 1]`.
    pub top1: f64,
    /// The chosen L2 strength.
    pub l2: f64,
    /// Held-out accuracy for every λ tried.
    pub validation: Vec<(f64, f64)>,
    /// L-BFGS iterations of the final fit.
    pub iterations: usize,
}

/// A fitted multinomial logistic regression over standardised features.
struct Model {
    w: Vec<f64>, // [dim, classes] row-major, then [classes] bias
}

/// Features standardised with the training statistics, as a tensor.
struct Design {
    x: Tensor<2>,
    labels: Vec<u32>,
    onehot: Tensor<2>,
    n: usize,
}

fn standardizer(train: &Features) -> (Vec<f32>, Vec<f32>) {
    let (n, d) = (train.len(), train.dim);
    let mut mean = vec![0f64; d];
    let mut var = vec![0f64; d];
    for i in 0..n {
        for (m, &v) in mean.iter_mut().zip(train.row(i)) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for i in 0..n {
        for ((s, &v), m) in var.iter_mut().zip(train.row(i)).zip(&mean) {
            *s += (v as f64 - m).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|s| ((s / n as f64).sqrt() as f32).max(1e-6))
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

impl Design {
    fn new(
        f: &Features,
        rows: &[usize],
        stats: &(Vec<f32>, Vec<f32>),
        classes: usize,
        device: &Device,
    ) -> Self {
        let (mean, std) = stats;
        let mut data = Vec::with_capacity(rows.len() * f.dim);
        for &i in rows {
            data.extend(
                f.row(i)
                    .iter()
                    .zip(mean)
                    .zip(std)
                    .map(|((v, m), s)| (v - m) / s),
            );
        }
        let labels: Vec<u32> = rows.iter().map(|&i| f.labels[i]).collect();
        let mut onehot = vec![0f32; rows.len() * classes];
        for (r, &l) in labels.iter().enumerate() {
            onehot[r * classes + l as usize] = 1.0;
        }
        Design {
            x: Tensor::from_data(TensorData::new(data, [rows.len(), f.dim]), device),
            onehot: Tensor::from_data(TensorData::new(onehot, [rows.len(), classes]), device),
            labels,
            n: rows.len(),
        }
    }

    fn logits(&self, w: &[f64], dim: usize, classes: usize) -> Tensor<2> {
        let device = self.x.device();
        let weights: Vec<f32> = w[..dim * classes].iter().map(|&v| v as f32).collect();
        let bias: Vec<f32> = w[dim * classes..].iter().map(|&v| v as f32).collect();
        let weights = Tensor::<2>::from_data(TensorData::new(weights, [dim, classes]), &device);
        let bias = Tensor::<2>::from_data(TensorData::new(bias, [1, classes]), &device);
        self.x.clone().matmul(weights) + bias
    }

    /// Loss and gradient of the regularised mean cross-entropy.
    fn loss_grad(&self, w: &[f64], l2: f64, dim: usize, classes: usize) -> (f64, Vec<f64>) {
        let logits = self.logits(w, dim, classes);
        let log_p = burn::tensor::activation::log_softmax(logits, 1);
        let nll: f64 = (log_p.clone() * self.onehot.clone())
            .sum()
            .neg()
            .into_scalar::<f32>() as f64
            / self.n as f64;
        let residual = (log_p.exp() - self.onehot.clone()).div_scalar(self.n as f32);
        let grad_w = self.x.clone().transpose().matmul(residual.clone());
        let grad_b = residual.sum_dim(0);
        let mut grad: Vec<f64> = to_vec(grad_w);
        grad.extend(to_vec(grad_b));
        let mut reg = 0.0;
        for (g, &v) in grad.iter_mut().zip(&w[..dim * classes]) {
            *g += l2 * v;
            reg += v * v;
        }
        (nll + 0.5 * l2 * reg, grad)
    }

    fn accuracy(&self, model: &Model, dim: usize, classes: usize) -> f64 {
        let predicted = self.logits(&model.w, dim, classes).argmax(1);
        let predicted: Vec<i64> = predicted
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .unwrap_or_default();
        let correct = predicted
            .iter()
            .zip(&self.labels)
            .filter(|(p, l)| **p == **l as i64)
            .count();
        correct as f64 / self.n.max(1) as f64
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` from `x0` with L-BFGS (memory 10) and a backtracking Armijo line search.
/// Returns the minimiser and the number of iterations.
pub fn lbfgs(
    mut f: impl FnMut(&[f64]) -> (f64, Vec<f64>),
    x0: Vec<f64>,
    max_iter: usize,
    tol: f64,
) -> (Vec<f64>, usize) {
    const MEMORY: usize = 10;
    let mut x = x0;
    let (mut fx, mut g) = f(&x);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    for iter in 0..max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < tol {
            return (x, iter);
        }
        // Two-loop recursion: direction = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma = history
            .back()
            .map_or(1.0 / dot(&g, &g).sqrt().max(1e-12), |(s, y, _)| {
                dot(s, y) / dot(y, y)
            });
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&g, &direction);
        if slope >= 0.0 {
            history.clear();
            continue;
        }
        let mut step = 1.0;
        let (x_new, f_new, g_new) = loop {
            let candidate: Vec<f64> = x
                .iter()
                .zip(&direction)
                .map(|(xi, di)| xi + step * di)
                .collect();
            let (fc, gc) = f(&candidate);
            if fc <= fx + 1e-4 * step * slope || step < 1e-10 {
                break (candidate, fc, gc);
            }
            step *= 0.5;
        };
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        let converged = (fx - f_new).abs() <= 1e-12 * fx.abs().max(1.0);
        x = x_new;
        fx = f_new;
        g = g_new;
        if sy > 1e-12 {
            if history.len() == MEMORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        if converged {
            return (x, iter + 1);
        }
    }
    (x, max_iter)
}

/// Fits the probe on `train`, choosing λ on a held-out part, and reports test top-1.
pub fn probe(
    train: &Features,
    test: &Features,
    config: &LinearConfig,
    device: &Device,
) -> Result<LinearResult> {
    ensure!(
        !train.is_empty() && !test.is_empty(),
        "linear probe needs train and test features"
    );
    ensure!(
        train.dim == test.dim,
        "train and test features differ in dimension"
    );
    ensure!(
        !config.l2_grid.is_empty(),
        "linear probe needs at least one L2 strength"
    );
    let (dim, classes) = (train.dim, train.classes.max(test.classes));
    let stats = standardizer(train);
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(config.seed));
    let held = ((train.len() as f64 * config.val_fraction) as usize).clamp(1, train.len() - 1);
    let (val_rows, fit_rows) = order.split_at(held);
    let fit = Design::new(train, fit_rows, &stats, classes, device);
    let val = Design::new(train, val_rows, &stats, classes, device);
    let zeros = vec![0.0; dim * classes + classes];
    let mut validation = Vec::new();
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    for &l2 in &config.l2_grid {
        let (w, _) = lbfgs(
            |w| fit.loss_grad(w, l2, dim, classes),
            zeros.clone(),
            config.max_iter,
            config.tol,
        );
        let acc = val.accuracy(&Model { w: w.clone() }, dim, classes);
        validation.push((l2, acc));
        if best.as_ref().is_none_or(|(_, b, _)| acc > *b) {
            best = Some((l2, acc, w));
        }
    }
    let Some((l2, _, start)) = best else {
        anyhow::bail!("no L2 strength was tried");
    };
    let edges = [config.l2_grid.first(), config.l2_grid.last()];
    if config.l2_grid.len() > 1 && edges.contains(&Some(&l2)) {
        tracing::warn!(
            "linear probe: the chosen L2 strength {l2:e} is at the edge of the grid \
             {:?}; a wider grid may fit better",
            config.l2_grid
        );
    }
    drop((fit, val));
    let all: Vec<usize> = (0..train.len()).collect();
    let full = Design::new(train, &all, &stats, classes, device);
    let (w, iterations) = lbfgs(
        |w| full.loss_grad(w, l2, dim, classes),
        start,
        config.max_iter,
        config.tol,
    );
    drop(full);
    let test_rows: Vec<usize> = (0..test.len()).collect();
    let test_design = Design::new(test, &test_rows, &stats, classes, device);
    Ok(LinearResult {
        top1: test_design.accuracy(&Model { w }, dim, classes),
        l2,
        validation,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_minimises_a_quadratic() {
        // f(x) = Σ i (x_i - i)², minimum at x_i = i.
        let f = |x: &[f64]| {
            let v = x
                .iter()
                .enumerate()
                .map(|(i, xi)| (i + 1) as f64 * (xi - i as f64).powi(2))
                .sum();
            let g = x
                .iter()
                .enumerate()
                .map(|(i, xi)| 2.0 * (i + 1) as f64 * (xi - i as f64))
                .collect();
            (v, g)
        };
        let (x, iters) = lbfgs(f, vec![10.0; 5], 100, 1e-9);
        for (i, xi) in x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-6, "{x:?}");
        }
        assert!(iters < 50);
    }

    #[test]
    fn separable_classes_are_learned() {
        // Three well-separated clusters in 2-D.
        let centers = [(0.0, 0.0), (5.0, 0.0), (0.0, 5.0)];
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for i in 0..300 {
            let c = i % 3;
            let jitter = ((i * 7919) % 100) as f32 / 100.0 - 0.5;
            data.extend([centers[c].0 + jitter, centers[c].1 - jitter]);
            labels.push(c as u32);
        }
        let f = Features {
            dim: 2,
            data,
            labels,
            classes: 3,
        };
        let r = probe(&f, &f, &LinearConfig::default(), &Device::flex()).unwrap();
        assert_eq!(r.top1, 1.0);
        assert_eq!(r.validation.len(), LinearConfig::default().l2_grid.len());
    }
}

//! Barlow Twins, "Self-Supervised Learning via Redundancy Reduction" (Zbontar et al., ICML
//! 2021).
//!
//! Both views go through the same network (encoder → projector). The cross-correlation
//! matrix `C` of the two batches of projections, each standardised along the batch, is pulled
//! toward the identity (eq. 1):
//!
//! ```text
//! L = Σ_i (1 − C_ii)² + λ Σ_i Σ_{j≠i} C_ij²,   C_ij = Σ_b ẑ¹_bi ẑ²_bj / N
//! ```
//!
//! The invariance term makes the views agree; the redundancy term decorrelates the
//! dimensions, which is what prevents collapse.

use super::embedding::{center, diagonal, off_diagonal_square_sum};
use super::siamese::{PairLoss, Siamese};
use crate::head::MlpConfig;
use burn::prelude::*;
use pretext_data::augment::ViewConfig;
use serde::{Deserialize, Serialize};

/// Options of Barlow Twins (defaults: the paper's §2 and appendix: projector of three layers of
/// 8192 with batch norm and ReLU between them, λ = 0.0051, BYOL's views).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BarlowTwinsConfig {
    /// First view's augmentations; `size` 0 = the run's image size.
    pub view1: ViewConfig,
    /// Second view's augmentations.
    pub view2: ViewConfig,
    /// Projector (paper: 8192 → 8192 → 8192).
    pub projector: MlpConfig,
    /// Weight λ of the redundancy-reduction term (paper: 0.0051).
    pub lambda: f64,
    /// Factor on the whole loss (paper: 1; solo-learn's CIFAR recipe: 0.1). The loss is of
    /// order D, and LARS leaves biases and batch-norm parameters at the plain learning rate
    /// (the paper instead gives them a 0.024× rate), so scaling the loss is what keeps
    /// their steps in proportion.
    pub scale_loss: f64,
}

impl Default for BarlowTwinsConfig {
    fn default() -> Self {
        BarlowTwinsConfig {
            view1: ViewConfig::byol_view1(0),
            view2: ViewConfig::byol_view2(0),
            projector: MlpConfig::new(&[8192, 8192], 8192),
            lambda: 0.0051,
            scale_loss: 1.0,
        }
    }
}

/// Barlow Twins: the encoder and projector of [`Siamese`] trained with [`RedundancyReduction`].
pub type BarlowTwins = Siamese<RedundancyReduction>;

/// The Barlow Twins loss with its weight λ.
pub struct RedundancyReduction {
    lambda: f64,
    scale: f64,
}

/// Standardises each column over the batch as the paper's affine-free batch norm does in
/// training mode: `(x − mean) / sqrt(var + 1e-5)` with the biased variance.
fn standardize(x: Tensor<2>) -> Tensor<2> {
    let x = center(x);
    let var = x.clone().powi_scalar(2).mean_dim(0);
    x / var.add_scalar(1e-5).sqrt()
}

/// The Barlow Twins loss of two `[N, D]` batches of projections (eq. 1), and the mean of the
/// cross-correlation's diagonal (1 when the views agree perfectly).
pub fn barlow_twins_loss(z1: Tensor<2>, z2: Tensor<2>, lambda: f64) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = z1.dims();
    let c = standardize(z1)
        .transpose()
        .matmul(standardize(z2))
        .div_scalar(n as f64);
    let diag = diagonal(c.clone());
    let on = diag.clone().sub_scalar(1.0).powi_scalar(2).sum();
    let off = off_diagonal_square_sum(c);
    (on + off.mul_scalar(lambda), diag.mean().detach())
}

impl PairLoss for RedundancyReduction {
    type Config = BarlowTwinsConfig;

    fn new(config: &BarlowTwinsConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(config.lambda >= 0.0, "method.lambda must be non-negative");
        anyhow::ensure!(
            config.scale_loss > 0.0,
            "method.scale_loss must be positive"
        );
        Ok(RedundancyReduction {
            lambda: config.lambda,
            scale: config.scale_loss,
        })
    }

    fn views(config: &mut BarlowTwinsConfig) -> [&mut ViewConfig; 2] {
        [&mut config.view1, &mut config.view2]
    }

    fn projector(config: &BarlowTwinsConfig) -> (&MlpConfig, &'static str) {
        (&config.projector, "projector")
    }

    fn loss(&self, z1: Tensor<2>, z2: Tensor<2>) -> (Tensor<1>, Vec<(&'static str, Tensor<1>)>) {
        let (loss, diagonal) = barlow_twins_loss(z1, z2, self.lambda);
        (loss.mul_scalar(self.scale), vec![("cc_diagonal", diagonal)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two samples, two dimensions, every column of the form (a, −a): standardised with the
    /// biased variance a² and ε = 1e-5 it becomes (k, −k) with k = a/√(a² + 1e-5). z1 = [[1, 2], [−1, −2]], z2 = [[1, −3], [−1, 3]]:
    /// ẑ1 = [[k1, k2], [−k1, −k2]], ẑ2 = [[k1, −k3], [−k1, k3]],
    /// C = ẑ1ᵀẑ2 / 2 = [[k1², −k1k3], [k1k2, −k2k3]].
    #[test]
    fn loss_matches_a_hand_computed_cross_correlation() {
        let device = Device::flex();
        let z1 = Tensor::<2>::from_floats([[1.0, 2.0], [-1.0, -2.0]], &device);
        let z2 = Tensor::<2>::from_floats([[1.0, -3.0], [-1.0, 3.0]], &device);
        let k = |a: f64| a / (a * a + 1e-5).sqrt();
        let (k1, k2, k3) = (k(1.0), k(2.0), k(3.0));
        let lambda = 0.5;
        let on = (1.0 - k1 * k1).powi(2) + (1.0 + k2 * k3).powi(2);
        let off = (k1 * k3).powi(2) + (k1 * k2).powi(2);
        let (loss, diagonal) = barlow_twins_loss(z1, z2, lambda);
        let got: f32 = loss.into_scalar();
        let want = on + lambda * off;
        assert!((f64::from(got) - want).abs() < 1e-4, "{got} vs {want}");
        let d: f32 = diagonal.into_scalar();
        assert!((f64::from(d) - (k1 * k1 - k2 * k3) / 2.0).abs() < 1e-5);
        // `scale_loss` multiplies the loss the method reports and trains on.
        let config = BarlowTwinsConfig {
            lambda,
            scale_loss: 0.1,
            ..BarlowTwinsConfig::default()
        };
        let z1 = Tensor::<2>::from_floats([[1.0, 2.0], [-1.0, -2.0]], &device);
        let z2 = Tensor::<2>::from_floats([[1.0, -3.0], [-1.0, 3.0]], &device);
        let (scaled, _) = RedundancyReduction::new(&config).unwrap().loss(z1, z2);
        let got: f32 = scaled.into_scalar();
        assert!((f64::from(got) - 0.1 * want).abs() < 1e-5, "{got} vs {}", 0.1 * want);
    }
}

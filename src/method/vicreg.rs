//! VICReg, "Variance-Invariance-Covariance Regularization for Self-Supervised Learning"
//! (Bardes, Ponce & LeCun, ICLR 2022).
//!
//! Both views go through the same network (encoder → expander). Three terms on the two
//! batches of embeddings Z, Z′ (eq. 6 and Algorithm 1):
//!
//! ```text
//! ℓ = λ s(Z, Z′) + μ [v(Z) + v(Z′)] + ν [c(Z) + c(Z′)]
//! s = mean squared distance between matching rows          (invariance)
//! v = mean_j max(0, γ − √(Var(z_j) + ε))                    (variance, γ = 1, ε = 1e-4)
//! c = Σ_{i≠j} Cov(Z)_ij² / d,  Cov with the 1/(N − 1) factor (covariance)
//! ```
//!
//! The variance term keeps every dimension alive, the covariance term decorrelates them; no
//! negatives, no stop-gradient, no moving average.

use super::embedding::{center, off_diagonal_square_sum};
use super::siamese::{PairLoss, Siamese};
use crate::head::MlpConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;
use pretext_data::augment::ViewConfig;
use serde::{Deserialize, Serialize};

/// Options of VICReg (defaults: the paper's §4.1: expander 8192-8192-8192, λ = μ = 25,
/// ν = 1, BYOL's views).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VicregConfig {
    /// First view's augmentations; `size` 0 = the run's image size.
    pub view1: ViewConfig,
    /// Second view's augmentations.
    pub view2: ViewConfig,
    /// Expander (paper: 8192 → 8192 → 8192).
    pub expander: MlpConfig,
    /// Weight λ of the invariance term (paper: 25).
    pub invariance_weight: f64,
    /// Weight μ of the variance term (paper: 25).
    pub variance_weight: f64,
    /// Weight ν of the covariance term (paper: 1).
    pub covariance_weight: f64,
}

impl Default for VicregConfig {
    fn default() -> Self {
        VicregConfig {
            view1: ViewConfig::byol_view1(0),
            view2: ViewConfig::byol_view2(0),
            expander: MlpConfig::new(&[8192, 8192], 8192),
            invariance_weight: 25.0,
            variance_weight: 25.0,
            covariance_weight: 1.0,
        }
    }
}

/// VICReg: the encoder and expander of [`Siamese`] trained with [`VicregLoss`].
pub type Vicreg = Siamese<VicregLoss>;

/// The VICReg loss with its three weights.
pub struct VicregLoss {
    weights: [f64; 3],
}

/// The three VICReg terms of two `[N, D]` batches of embeddings, unweighted:
/// `(s(Z, Z′), v(Z) + v(Z′), c(Z) + c(Z′))`.
pub fn vicreg_terms(z1: Tensor<2>, z2: Tensor<2>) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let [n, d] = z1.dims();
    let invariance = (z1.clone() - z2.clone()).powi_scalar(2).mean();
    let variance = |z: Tensor<2>| {
        let var = z
            .powi_scalar(2)
            .sum_dim(0)
            .div_scalar((n - 1).max(1) as f64);
        relu(var.add_scalar(1e-4).sqrt().neg().add_scalar(1.0)).mean()
    };
    let covariance = |z: Tensor<2>| {
        let cov = z
            .clone()
            .transpose()
            .matmul(z)
            .div_scalar((n - 1).max(1) as f64);
        off_diagonal_square_sum(cov).div_scalar(d as f64)
    };
    let (z1, z2) = (center(z1), center(z2));
    (
        invariance,
        variance(z1.clone()) + variance(z2.clone()),
        covariance(z1) + covariance(z2),
    )
}

impl PairLoss for VicregLoss {
    type Config = VicregConfig;

    fn new(config: &VicregConfig) -> anyhow::Result<Self> {
        let weights = [
            config.invariance_weight,
            config.variance_weight,
            config.covariance_weight,
        ];
        anyhow::ensure!(
            weights.iter().all(|w| *w >= 0.0),
            "method.invariance_weight, variance_weight and covariance_weight must be non-negative"
        );
        Ok(VicregLoss { weights })
    }

    fn views(config: &mut VicregConfig) -> [&mut ViewConfig; 2] {
        [&mut config.view1, &mut config.view2]
    }

    fn projector(config: &VicregConfig) -> (&MlpConfig, &'static str) {
        (&config.expander, "expander")
    }

    fn loss(&self, z1: Tensor<2>, z2: Tensor<2>) -> (Tensor<1>, Vec<(&'static str, Tensor<1>)>) {
        let (s, v, c) = vicreg_terms(z1, z2);
        let [ws, wv, wc] = self.weights;
        let loss = s.clone().mul_scalar(ws) + v.clone().mul_scalar(wv) + c.clone().mul_scalar(wc);
        let metrics = vec![
            ("invariance", s.detach()),
            ("variance", v.detach()),
            ("covariance", c.detach()),
        ];
        (loss, metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// z1 = [[0, 0], [2, 2]], z2 = [[0, 1], [2, 1]] (N = 2, d = 2).
    /// s: squared differences 0, 1, 0, 1 → mean 0.5.
    /// z1 centred [[−1, −1], [1, 1]]: Var = 2 per column, std √2.0001 > 1 → v(Z) = 0;
    /// Cov = [[2, 2], [2, 2]] → c(Z) = (4 + 4)/2 = 4.
    /// z2 centred [[−1, 0], [1, 0]]: Var (2, 0) → v(Z′) = (0 + (1 − √1e-4))/2 = 0.495;
    /// Cov = [[2, 0], [0, 0]] → c(Z′) = 0.
    #[test]
    fn terms_match_hand_computed_values() {
        let device = Device::flex();
        let z1 = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 2.0]], &device);
        let z2 = Tensor::<2>::from_floats([[0.0, 1.0], [2.0, 1.0]], &device);
        let (s, v, c) = vicreg_terms(z1, z2);
        let close = |t: Tensor<1>, want: f32| {
            let got: f32 = t.into_scalar();
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        };
        close(s, 0.5);
        close(v, 0.495);
        close(c, 4.0);
    }
}

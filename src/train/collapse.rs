//! Collapse indicators, logged while a method trains so that a collapsing run is visible
//! while it happens: at every logged step on the training batch's projector outputs
//! (`emb_std`, `eff_rank`: cheap, but an effective rank of 128 rows can never exceed 128,
//! and it describes the projector, not the encoder the probes read), and at every kNN probe
//! on the encoder's features of the probe's images (`feat_std`, `rankme`: RankMe's own
//! protocol, N ≫ D held-out images).
//!
//! - **Embedding std** (SimSiam, Chen & He 2021, §4.1 and fig. 2): the standard deviation of
//!   each dimension of the ℓ2-normalised embeddings over the batch, averaged over dimensions.
//!   A collapsed network outputs one vector (std 0); embeddings spread evenly over the unit
//!   sphere of `d` dimensions give about `1/√d`.
//! - **Effective rank** (Roy & Vetterli 2007, as RankMe, Garrido et al. 2023): `exp(H(p))`
//!   with `p_k = σ_k / Σσ` the normalised singular values of the `[N, D]` embedding matrix:
//!   1 when all embeddings lie on a line (complete collapse), up to `min(N, D)` when every
//!   direction is used equally; dimensional collapse shows as a low value.

use burn::prelude::*;

/// The two indicators of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Indicators {
    /// Mean per-dimension std of the ℓ2-normalised embeddings.
    pub std: f64,
    /// Effective rank of the embedding matrix.
    pub effective_rank: f64,
}

/// Computes the indicators of `[N, D]` embeddings (on any device; the work is done on the
/// CPU). Batches of fewer than two rows give NaN.
pub fn indicators(embedding: Tensor<2>) -> Indicators {
    let [n, d] = embedding.dims();
    match embedding
        .detach()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
    {
        Ok(values) => of_rows(values, n, d),
        Err(_) => of_rows(Vec::new(), 0, d),
    }
}

/// The indicators of `n` rows of `d` values, row-major. Fewer than two rows give NaN.
pub fn of_rows(values: Vec<f32>, n: usize, d: usize) -> Indicators {
    if n < 2 || d == 0 || values.len() != n * d {
        return Indicators {
            std: f64::NAN,
            effective_rank: f64::NAN,
        };
    }
    Indicators {
        std: normalized_std(&values, n, d),
        effective_rank: effective_rank(values, n, d),
    }
}

fn normalized_std(values: &[f32], n: usize, d: usize) -> f64 {
    let rows: Vec<Vec<f64>> = values
        .chunks_exact(d)
        .map(|row| {
            let norm = row
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt();
            row.iter()
                .map(|&v| f64::from(v) / norm.max(1e-12))
                .collect()
        })
        .collect();
    let mut total = 0.0;
    for j in 0..d {
        let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n as f64;
        let var = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        total += var.sqrt();
    }
    total / d as f64
}

/// The effective rank of the `[n, d]` matrix `X`, from its singular values. (Taking them
/// from the `d × d` Gram matrix `XᵀX` would be faster for thousands of rows, but in `f32`
/// its rounding turns the zero singular values of dead dimensions into `√ε·σ_max` and
/// inflates the rank: 26.7 against 26.3 on a 6,000 × 128 test matrix.)
fn effective_rank(values: Vec<f32>, n: usize, d: usize) -> f64 {
    let device = Device::flex();
    let matrix = Tensor::<2>::from_data(TensorData::new(values, [n, d]), &device);
    // burn's SVD panics when its QR iteration does not converge within the sweep budget:
    // an indicator must never stop a run, so that case reads NaN.
    let singular = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (_, s, _) = burn::linalg::svd::<2, 1>(matrix, 200);
        s.into_data().convert::<f64>().try_into_vec::<f64>()
    }));
    let Ok(Ok(singular)) = singular else {
        return f64::NAN;
    };
    let total: f64 = singular.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    let entropy: f64 = singular
        .iter()
        .map(|s| s / total + 1e-12)
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collapsed_batch_reads_std_zero_and_rank_one() {
        let device = Device::flex();
        let same = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]; 4], &device);
        let i = indicators(same);
        assert!(i.std.abs() < 1e-9, "{i:?}");
        assert!((i.effective_rank - 1.0).abs() < 1e-6, "{i:?}");
    }

    /// Rows ±e₁, ±e₂ (N = 4, d = 2): normalised columns are (1, −1, 0, 0) and (0, 0, 1, −1),
    /// each with std √(2/3); singular values √2, √2 → p = ½, ½ → effective rank 2.
    #[test]
    fn an_even_spread_reads_the_hand_computed_values() {
        let device = Device::flex();
        let spread =
            Tensor::<2>::from_floats([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], &device);
        let i = indicators(spread);
        assert!((i.std - (2.0f64 / 3.0).sqrt()).abs() < 1e-9, "{i:?}");
        assert!((i.effective_rank - 2.0).abs() < 1e-5, "{i:?}");
    }

    /// Many rows (as the probe's features): 300 rows cycling through ±e₁, ±e₂ and 2·(±e₃)
    /// in d = 4. Singular values are √(100·1), √(100·1), √(100·4) and 0: p = (1, 1, 2, 0)/4,
    /// so the effective rank is exp(−2·¼·ln ¼ − ½·ln ½) = 2^{3/2}.
    #[test]
    fn many_rows_give_the_hand_computed_rank() {
        let rows: Vec<[f32; 4]> = (0..300)
            .map(|i| match i % 6 {
                0 => [1.0, 0.0, 0.0, 0.0],
                1 => [-1.0, 0.0, 0.0, 0.0],
                2 => [0.0, 1.0, 0.0, 0.0],
                3 => [0.0, -1.0, 0.0, 0.0],
                4 => [0.0, 0.0, 2.0, 0.0],
                _ => [0.0, 0.0, -2.0, 0.0],
            })
            .collect();
        let i = of_rows(rows.concat(), 300, 4);
        assert!((i.effective_rank - 2f64.powf(1.5)).abs() < 1e-4, "{i:?}");
        assert!(of_rows(vec![1.0; 4], 1, 4).effective_rank.is_nan());
    }
}

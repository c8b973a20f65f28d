//! The 2-D map of an encoder's features: t-SNE (van der Maaten & Hinton 2008) in its
//! Barnes–Hut form (van der Maaten 2014), from the `bhtsne` crate, on ℓ2-normalised features
//! so that Euclidean distances rank neighbours as the kNN probe's cosine similarity does.

use bhtsne::{Neighbor, tSNE};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// t-SNE perplexity for maps of at least ~100 points (the common default).
const PERPLEXITY: f32 = 30.0;
/// Barnes–Hut accuracy (0.5 as in the paper).
const THETA: f32 = 0.5;
/// Gradient-descent iterations.
const EPOCHS: usize = 1000;

/// Fewest points a map is drawn for.
pub const MIN_POINTS: usize = 10;

/// Embeds the rows of `features` (`dim` values each) in 2-D. The start is a seeded Gaussian
/// of standard deviation 10⁻⁴ (scikit-learn's random initialisation) and the fit runs on one
/// thread, so the map depends only on the features and `seed`. The perplexity is lowered for small sets so that every point
/// has enough neighbours. Needs at least [`MIN_POINTS`] rows.
pub fn tsne(features: &[f32], dim: usize, seed: u64) -> Vec<(f64, f64)> {
    let rows: Vec<Vec<f32>> = features
        .chunks(dim.max(1))
        .map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(|v| v / norm).collect()
        })
        .collect();
    let n = rows.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let start: Vec<f32> = match Normal::new(0.0f32, 1e-4) {
        Ok(normal) => (0..2 * n).map(|_| normal.sample(&mut rng)).collect(),
        Err(_) => vec![0.0; 2 * n],
    };
    let perplexity = PERPLEXITY.min((n as f32 - 1.0) / 3.0 - 1.0).max(1.0);
    let neighbours = nearest(&rows, (3.0 * perplexity) as usize);
    let samples: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let fit = || {
        let mut model: tSNE<f32, &[f32], 2> = tSNE::new(&samples);
        model
            .perplexity(perplexity)
            .epochs(EPOCHS)
            .initial_embedding(start.clone())
            .barnes_hut_with_neighbors(THETA, &neighbours);
        model.embedding()
    };
    // bhtsne sums forces in parallel; the order of floating-point sums then varies from run
    // to run and t-SNE amplifies it. One thread makes the map a function of its inputs.
    let embedding = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(fit),
        Err(_) => fit(),
    };
    embedding
        .chunks(2)
        .map(|p| (f64::from(p[0]), f64::from(p[1])))
        .collect()
}

/// The `k` nearest rows of every row by Euclidean distance, nearest first, ties broken by
/// index: exact and deterministic (bhtsne's own vantage-point tree picks its vantage points
/// at random, which reorders ties).
fn nearest(rows: &[Vec<f32>], k: usize) -> Vec<Vec<Neighbor<f32>>> {
    use rayon::prelude::*;
    let k = k.clamp(1, rows.len().saturating_sub(1).max(1));
    (0..rows.len())
        .into_par_iter()
        .map(|i| {
            let mut all: Vec<Neighbor<f32>> = rows
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, row)| Neighbor {
                    index: j,
                    distance: row
                        .iter()
                        .zip(&rows[i])
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>()
                        .sqrt(),
                })
                .collect();
            all.sort_by(|a, b| {
                a.distance
                    .total_cmp(&b.distance)
                    .then(a.index.cmp(&b.index))
            });
            all.truncate(k);
            all
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated clusters in 8-D stay separated in the map: every point is closer to
    /// its own cluster's centre than to the other's. And the map is reproducible.
    #[test]
    fn separated_clusters_stay_separated_and_maps_are_reproducible() {
        let mut features = Vec::new();
        for i in 0..60 {
            let cluster = i % 2;
            for d in 0..8 {
                let base = if d == cluster { 1.0 } else { 0.0 };
                features.push(base + 0.05 * ((i * 7 + d * 3) % 11) as f32 / 11.0);
            }
        }
        let map = tsne(&features, 8, 3);
        assert_eq!(map.len(), 60);
        let centre = |c: usize| {
            let pts: Vec<_> = map.iter().skip(c).step_by(2).collect();
            let n = pts.len() as f64;
            (
                pts.iter().map(|p| p.0).sum::<f64>() / n,
                pts.iter().map(|p| p.1).sum::<f64>() / n,
            )
        };
        let centres = [centre(0), centre(1)];
        let dist = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).hypot(a.1 - b.1);
        for (i, &p) in map.iter().enumerate() {
            let own = dist(p, centres[i % 2]);
            let other = dist(p, centres[1 - i % 2]);
            assert!(own < other, "point {i}: {own} vs {other}");
        }
        let again = tsne(&features, 8, 3);
        let drift: f64 = map
            .iter()
            .zip(&again)
            .map(|(a, b)| dist(*a, *b))
            .fold(0.0, f64::max);
        assert!(drift < 1e-3, "{drift}");
    }
}

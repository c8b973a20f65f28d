//! Weighted k-nearest-neighbour classification on frozen features (Wu et al. 2018, "Unsupervised
//! Feature Learning via Non-Parametric Instance Discrimination", §3.5): cosine similarity,
//! the k most similar training images vote for their class with weight `exp(sim / T)`.
//! Defaults k = 200, T = 0.1 as lightly's and InstDisc's benchmarks use.

use super::Features;
use anyhow::{Result, ensure};
use burn::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Options of the kNN classifier.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KnnConfig {
    /// Neighbours that vote.
    pub k: usize,
    /// Temperature of the vote weights.
    pub temperature: f64,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            k: 200,
            temperature: 0.1,
        }
    }
}

/// Top-1 accuracy of weighted kNN classification of `test` by `train`.
pub fn knn_top1(
    train: &Features,
    test: &Features,
    config: &KnnConfig,
    device: &Device,
) -> Result<f64> {
    ensure!(
        !train.is_empty() && !test.is_empty(),
        "kNN needs train and test features"
    );
    ensure!(
        train.dim == test.dim,
        "train and test features differ in dimension"
    );
    ensure!(config.k > 0, "k must be at least 1");
    let k = config.k.min(train.len());
    let classes = train.classes.max(test.classes);
    let bank = train.normalized(device).transpose();
    let queries = test.normalized(device);
    let chunk = 256;
    let mut correct = 0usize;
    for start in (0..test.len()).step_by(chunk) {
        let end = (start + chunk).min(test.len());
        let sims = queries
            .clone()
            .slice([start..end, 0..test.dim])
            .matmul(bank.clone());
        let sims: Vec<f32> = sims
            .into_data()
            .try_into_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        correct += sims
            .par_chunks(train.len())
            .zip(&test.labels[start..end])
            .filter(|(row, label)| {
                vote(row, &train.labels, k, config.temperature, classes) == **label
            })
            .count();
    }
    Ok(correct as f64 / test.len() as f64)
}

/// The class with the largest `Σ exp(sim / T)` among the `k` most similar rows.
fn vote(similarities: &[f32], labels: &[u32], k: usize, temperature: f64, classes: usize) -> u32 {
    let mut order: Vec<usize> = (0..similarities.len()).collect();
    let by_sim = |a: &usize, b: &usize| similarities[*b].total_cmp(&similarities[*a]);
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, by_sim);
        order.truncate(k);
    }
    let mut scores = vec![0f64; classes.max(1)];
    for i in order {
        scores[labels[i] as usize] += (similarities[i] as f64 / temperature).exp();
    }
    scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(c, _)| c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_weights_by_similarity() {
        // Two neighbours of class 1 at similarity 0.5 lose to one of class 0 at 0.9 when T is
        // small: e^9 > 2 e^5.
        let sims = [0.9, 0.5, 0.5, -1.0];
        let labels = [0, 1, 1, 1];
        assert_eq!(vote(&sims, &labels, 3, 0.1, 2), 0);
        // With a large temperature the votes are nearly equal weights: the majority wins.
        assert_eq!(vote(&sims, &labels, 3, 100.0, 2), 1);
        // k = 1 is nearest-neighbour.
        assert_eq!(vote(&sims, &labels, 1, 100.0, 2), 0);
    }

    #[test]
    fn knn_classifies_clusters() {
        let train = Features {
            dim: 2,
            data: vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9],
            labels: vec![0, 0, 1, 1],
            classes: 2,
        };
        let test = Features {
            dim: 2,
            data: vec![2.0, 0.1, 0.2, 3.0],
            labels: vec![0, 1],
            classes: 2,
        };
        let acc = knn_top1(
            &train,
            &test,
            &KnnConfig {
                k: 2,
                temperature: 0.1,
            },
            &Device::flex(),
        )
        .unwrap();
        assert_eq!(acc, 1.0);
    }
}

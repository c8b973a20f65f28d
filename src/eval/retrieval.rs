//! Image retrieval with frozen features: every query image ranks the gallery by cosine
//! similarity of features, and gallery images with the query's label count as relevant.
//!
//! - **precision@k**: the fraction of relevant images among the k most similar, averaged
//!   over queries;
//! - **mAP**: the mean over queries of the average precision of the whole ranking,
//!   `AP = (1/R) Σ_{k : item k relevant} precision@k` with R the number of relevant gallery
//!   images (the standard definition of retrieval benchmarks, e.g. Oxford/Paris and the deep
//!   hashing literature's mAP@all).

use super::Features;
use anyhow::{Result, ensure};
use burn::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

/// Scores of one retrieval evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetrievalScores {
    /// `(k, precision@k)` for each requested k.
    pub precision: Vec<(usize, f64)>,
    /// Mean average precision over the whole ranking.
    pub map: f64,
    /// Number of queries.
    pub queries: usize,
    /// Gallery size.
    pub gallery: usize,
}

/// Precision@k of one ranking given as relevance flags (most similar first); k larger than
/// the ranking counts the missing places as irrelevant.
pub fn precision_at(relevance: &[bool], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    relevance.iter().take(k).filter(|&&r| r).count() as f64 / k as f64
}

/// Average precision of one ranking given as relevance flags (most similar first): the mean,
/// over the relevant items, of the precision at each one's rank. 0 when nothing is relevant.
pub fn average_precision(relevance: &[bool]) -> f64 {
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (rank, _) in relevance.iter().enumerate().filter(|(_, r)| **r) {
        hits += 1;
        sum += hits as f64 / (rank + 1) as f64;
    }
    if hits == 0 { 0.0 } else { sum / hits as f64 }
}

/// Calls `visit(query, ranking)` for every query with the gallery indices sorted by
/// decreasing cosine similarity (ties by index), queries processed in chunks.
fn for_each_ranking(
    gallery: &Features,
    queries: &Features,
    device: &Device,
    mut visit: impl FnMut(usize, Vec<usize>) -> Result<()>,
) -> Result<()> {
    ensure!(
        !gallery.is_empty() && !queries.is_empty(),
        "retrieval needs gallery and query features"
    );
    ensure!(
        gallery.dim == queries.dim,
        "gallery and query features differ in dimension"
    );
    let bank = gallery.normalized(device).transpose();
    let all = queries.normalized(device);
    let chunk = 128;
    for start in (0..queries.len()).step_by(chunk) {
        let end = (start + chunk).min(queries.len());
        let sims: Vec<f32> = all
            .clone()
            .slice([start..end, 0..queries.dim])
            .matmul(bank.clone())
            .into_data()
            .try_into_vec()
            .map_err(|e| anyhow::anyhow!("reading similarities: {e:?}"))?;
        let rankings: Vec<Vec<usize>> = sims
            .par_chunks(gallery.len())
            .map(|row| {
                let mut order: Vec<usize> = (0..row.len()).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                order
            })
            .collect();
        for (offset, ranking) in rankings.into_iter().enumerate() {
            visit(start + offset, ranking)?;
        }
    }
    Ok(())
}

/// Precision@k for every k of `ks` and mAP of `queries` against `gallery`.
pub fn evaluate(
    gallery: &Features,
    queries: &Features,
    ks: &[usize],
    device: &Device,
) -> Result<RetrievalScores> {
    let mut precision = vec![0.0; ks.len()];
    let mut map = 0.0;
    for_each_ranking(gallery, queries, device, |q, ranking| {
        let label = queries.labels[q];
        let relevance: Vec<bool> = ranking
            .iter()
            .map(|&g| gallery.labels[g] == label)
            .collect();
        for (p, &k) in precision.iter_mut().zip(ks) {
            *p += precision_at(&relevance, k);
        }
        map += average_precision(&relevance);
        Ok(())
    })?;
    let n = queries.len() as f64;
    Ok(RetrievalScores {
        precision: ks
            .iter()
            .copied()
            .zip(precision.iter().map(|p| p / n))
            .collect(),
        map: map / n,
        queries: queries.len(),
        gallery: gallery.len(),
    })
}

/// The `top` most similar gallery images of each of the first `count` queries.
pub fn neighbours(
    gallery: &Features,
    queries: &Features,
    count: usize,
    top: usize,
    device: &Device,
) -> Result<Vec<Vec<usize>>> {
    let first = Features {
        data: queries.data[..count.min(queries.len()) * queries.dim].to_vec(),
        labels: queries.labels[..count.min(queries.len())].to_vec(),
        ..queries.clone()
    };
    let mut out = Vec::new();
    for_each_ranking(gallery, &first, device, |_, mut ranking| {
        ranking.truncate(top);
        out.push(ranking);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relevance ✓ ✗ ✓ ✗ ✗: P@1 = 1, P@2 = ½, P@3 = ⅔; AP = (1/1 + 2/3)/2 = ⅚.
    #[test]
    fn precision_and_average_precision_by_hand() {
        let r = [true, false, true, false, false];
        assert_eq!(precision_at(&r, 1), 1.0);
        assert_eq!(precision_at(&r, 2), 0.5);
        assert!((precision_at(&r, 3) - 2.0 / 3.0).abs() < 1e-12);
        assert!((precision_at(&r, 10) - 0.2).abs() < 1e-12);
        assert!((average_precision(&r) - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(average_precision(&[false, false]), 0.0);
    }

    /// Gallery on the unit circle: a (0°, class 0), b (90°, class 1), c (10°, class 1).
    /// Query at 4°, class 0: ranking a, c, b (cos 4°, cos 6°, cos 86°) → ✓ ✗ ✗: AP 1,
    /// P@1 1, P@2 ½. Query at 80°, class 1: ranking b, c, a (cos 10°, 70°, 80°) → ✓ ✓ ✗:
    /// AP 1, P@1 1, P@2 1. Means: P@1 1, P@2 ¾, mAP 1.
    #[test]
    fn evaluate_ranks_by_cosine_and_averages_over_queries() {
        let device = Device::flex();
        let at = |deg: f32| {
            let r = deg.to_radians();
            [r.cos(), r.sin()]
        };
        let features = |points: &[[f32; 2]], labels: Vec<u32>| Features {
            dim: 2,
            data: points.iter().flatten().copied().collect(),
            labels,
            classes: 2,
        };
        let gallery = features(&[at(0.0), at(90.0), at(10.0)], vec![0, 1, 1]);
        let queries = features(&[at(4.0), at(80.0)], vec![0, 1]);
        let scores = evaluate(&gallery, &queries, &[1, 2], &device).unwrap();
        assert_eq!(scores.precision, vec![(1, 1.0), (2, 0.75)]);
        assert!((scores.map - 1.0).abs() < 1e-12);
        let nn = neighbours(&gallery, &queries, 2, 2, &device).unwrap();
        assert_eq!(nn, vec![vec![0, 2], vec![1, 2]]);
    }
}

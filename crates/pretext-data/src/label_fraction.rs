//! Per-class label subsets for semi-supervised fine-tuning (`--label-fraction`).
//!
//! The semi-supervised protocol of SimCLR and BYOL fine-tunes on 1 % or 10 % of the ImageNet
//! labels, chosen *per class* so that every class keeps the same share of its images.
//! [`per_class_subset`] draws such a subset reproducibly from a seed: for every class `c` with
//! `n_c` labelled images it keeps `max(1, round(fraction · n_c))` of them, chosen uniformly at
//! random without replacement.
//!
//! Each class is drawn from its own generator, [`stream_rng`]`(seed, "label-fraction", c)`, so
//! the images chosen for one class depend only on the seed, the fraction and the positions of
//! that class's images, not on the other classes.

use std::collections::BTreeMap;

use crate::augment::below;
use crate::error::DataError;
use crate::rng::stream_rng;

/// The name of the [`stream_rng`] stream that [`per_class_subset`] draws from.
const STREAM: &str = "label-fraction";

/// The number of images of each class among `labels`, keyed by class in ascending order.
///
/// Unlabelled images (`None`) are not counted; classes with no images do not appear.
#[cfg(test)] // a reference the tests check the library against
pub fn class_counts(labels: &[Option<u32>]) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for &class in labels.iter().flatten() {
        *counts.entry(class).or_insert(0) += 1;
    }
    counts
}

/// How many of a class's `n` images a subset with `fraction` keeps: `max(1, round(fraction · n))`
/// (half rounds away from zero), never more than `n`.
///
/// `fraction` must already be validated to lie in (0, 1] and `n` must be at least 1.
fn kept(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).clamp(1, n)
}

/// The sorted indices of a seeded per-class subset of the labelled images in `labels`.
///
/// For every class `c` present among the labels, with `n_c` images labelled `c`, the subset
/// keeps `max(1, round(fraction · n_c))` of those images, chosen uniformly at random without
/// replacement (a partial Fisher–Yates shuffle of the class's indices, driven by
/// [`stream_rng`]`(seed, "label-fraction", c)`). Unlabelled images (`None`) are never chosen.
/// The same `labels`, `fraction` and `seed` always give the same subset; `fraction = 1` gives
/// every labelled index.
///
/// # Errors
///
/// [`DataError::Spec`] when `fraction` is not in (0, 1] (including NaN), or when no image in
/// `labels` has a label.
pub fn per_class_subset(
    labels: &[Option<u32>],
    fraction: f64,
    seed: u64,
) -> Result<Vec<usize>, DataError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(DataError::Spec(format!(
            "label fraction must be in (0, 1], got {fraction}"
        )));
    }
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, label) in labels.iter().enumerate() {
        if let Some(class) = label {
            by_class.entry(*class).or_default().push(index);
        }
    }
    if by_class.is_empty() {
        return Err(DataError::Spec(format!(
            "label fraction {fraction}: the data has no labels ({} images, none labelled)",
            labels.len()
        )));
    }
    let mut chosen = Vec::new();
    for (class, mut indices) in by_class {
        let n = indices.len();
        let k = kept(fraction, n);
        if k < n {
            // Partial Fisher–Yates: after step i, indices[..=i] is a uniform sample without
            // replacement of size i + 1.
            let mut rng = stream_rng(seed, STREAM, u64::from(class));
            for i in 0..k {
                let j = i + below(&mut rng, n - i);
                indices.swap(i, j);
            }
            indices.truncate(k);
        }
        chosen.extend(indices);
    }
    chosen.sort_unstable();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Unbalanced synthetic labels: class sizes 1000, 300, 7 and 1 plus 50 unlabelled images,
    /// interleaved so that a class's images are not contiguous.
    fn unbalanced() -> Vec<Option<u32>> {
        let mut labels = Vec::new();
        labels.extend(std::iter::repeat_n(Some(3), 1000));
        labels.extend(std::iter::repeat_n(Some(17), 300));
        labels.extend(std::iter::repeat_n(Some(0), 7));
        labels.extend(std::iter::repeat_n(Some(42), 1));
        labels.extend(std::iter::repeat_n(None, 50));
        // A fixed, seeded shuffle so the classes are interleaved.
        let order = crate::loader::epoch_order(labels.len(), 99, 0, true);
        order.into_iter().map(|i| labels[i]).collect()
    }

    fn expected(fraction: f64, n: usize) -> usize {
        ((fraction * n as f64).round() as usize).max(1)
    }

    /// Checks the counts rule, sortedness, uniqueness and that no unlabelled image is chosen.
    fn check_subset(labels: &[Option<u32>], fraction: f64, subset: &[usize]) {
        assert!(subset.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert!(subset.iter().all(|&i| i < labels.len()));
        assert!(subset.iter().all(|&i| labels[i].is_some()), "None chosen");
        let chosen: Vec<Option<u32>> = subset.iter().map(|&i| labels[i]).collect();
        let got = class_counts(&chosen);
        let all = class_counts(labels);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            all.keys().collect::<Vec<_>>()
        );
        for (class, &n) in &all {
            assert_eq!(got[class], expected(fraction, n), "class {class}, n {n}");
        }
    }

    #[test]
    fn class_counts_counts_labelled_images_only() {
        let counts = class_counts(&unbalanced());
        let want: BTreeMap<u32, usize> = [(0, 7), (3, 1000), (17, 300), (42, 1)].into();
        assert_eq!(counts, want);
        assert!(class_counts(&[None, None]).is_empty());
    }

    #[test]
    fn per_class_counts_follow_the_rule() {
        let labels = unbalanced();
        for fraction in [0.01, 0.1, 0.5, 1.0] {
            let subset = per_class_subset(&labels, fraction, 7).unwrap();
            check_subset(&labels, fraction, &subset);
        }
        // Spot-check the concrete numbers for 1 %: 10 + 3 + 1 + 1.
        let subset = per_class_subset(&labels, 0.01, 7).unwrap();
        assert_eq!(subset.len(), 15);
        // And for 10 %: 100 + 30 + round(0.7) = 1 + 1.
        assert_eq!(per_class_subset(&labels, 0.1, 7).unwrap().len(), 132);
        // 50 %: 500 + 150 + round(3.5) = 4 + max(1, round(0.5) = 1).
        assert_eq!(per_class_subset(&labels, 0.5, 7).unwrap().len(), 655);
    }

    #[test]
    fn full_fraction_returns_every_labelled_index() {
        let labels = unbalanced();
        let subset = per_class_subset(&labels, 1.0, 123).unwrap();
        let want: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
        assert_eq!(subset, want);
    }

    #[test]
    fn seeded_reproducibility_and_seed_sensitivity() {
        let labels = unbalanced();
        for fraction in [0.01, 0.1, 0.5] {
            let a = per_class_subset(&labels, fraction, 1).unwrap();
            let b = per_class_subset(&labels, fraction, 1).unwrap();
            let c = per_class_subset(&labels, fraction, 2).unwrap();
            assert_eq!(a, b);
            assert_ne!(a, c, "fraction {fraction}");
        }
    }

    #[test]
    fn choice_is_spread_over_the_class() {
        // Over many seeds every image of a class should be picked at least once (uniformity
        // sanity check, not a statistical test).
        let labels: Vec<Option<u32>> = vec![Some(5); 20];
        let mut seen = BTreeSet::new();
        for seed in 0..200 {
            seen.extend(per_class_subset(&labels, 0.1, seed).unwrap());
        }
        assert_eq!(seen.len(), 20);
    }

    #[test]
    fn no_repeats_and_none_never_chosen() {
        let labels = unbalanced();
        for seed in 0..20 {
            let subset = per_class_subset(&labels, 0.3, seed).unwrap();
            let unique: BTreeSet<usize> = subset.iter().copied().collect();
            assert_eq!(unique.len(), subset.len());
            assert!(subset.iter().all(|&i| labels[i].is_some()));
        }
    }

    #[test]
    fn invalid_fractions_are_rejected() {
        let labels = unbalanced();
        for fraction in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let err = per_class_subset(&labels, fraction, 0).unwrap_err();
            assert!(matches!(err, DataError::Spec(_)), "{err:?}");
            let message = err.to_string();
            assert!(message.contains("label fraction"), "{message}");
            assert!(message.contains(&fraction.to_string()), "{message}");
        }
    }

    #[test]
    fn no_labels_is_an_error() {
        for labels in [vec![], vec![None; 5]] {
            let err = per_class_subset(&labels, 0.1, 0).unwrap_err();
            assert!(matches!(err, DataError::Spec(_)), "{err:?}");
            assert!(err.to_string().contains("no labels"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn counts_rule_holds_for_random_labels(
            labels in prop::collection::vec(prop::option::weighted(0.8, 0u32..12), 0..400),
            fraction in prop_oneof![0.0001f64..=1.0, Just(1.0), Just(0.5), Just(0.01)],
            seed in any::<u64>(),
        ) {
            let result = per_class_subset(&labels, fraction, seed);
            if labels.iter().all(Option::is_none) {
                prop_assert!(result.is_err());
            } else {
                let subset = result.unwrap();
                check_subset(&labels, fraction, &subset);
                prop_assert_eq!(per_class_subset(&labels, fraction, seed).unwrap(), subset);
            }
        }
    }
}

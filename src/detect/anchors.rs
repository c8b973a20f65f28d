//! Anchors and their labels: the reference boxes of the region proposal network (Ren et al.
//! 2015, §3.1.1; one size per pyramid level as in FPN, Lin et al. 2017, §4.1), the IoU
//! matching that labels anchors and proposals, and the class-balanced sampling of the
//! examples a loss sees.

use super::boxes::BoxXyxy;
use pretext_data::rng::SampleRng;
use rand::seq::SliceRandom;

/// The anchors of one pyramid level whose cells span `stride` pixels on a `height` × `width`
/// map: at every cell, one box of area `size²` per aspect ratio `h/w` in `ratios`, centred on
/// the cell's centre `((j + ½)·stride, (i + ½)·stride)`. Order: row, column, ratio — the
/// order of a `[A, h, w]` head output permuted to `[h, w, A]`.
pub fn level_anchors(
    height: usize,
    width: usize,
    stride: f64,
    size: f64,
    ratios: &[f64],
) -> Vec<BoxXyxy> {
    let shapes: Vec<(f64, f64)> = ratios
        .iter()
        .map(|&r| (size / r.sqrt(), size * r.sqrt()))
        .collect();
    let mut anchors = Vec::with_capacity(height * width * ratios.len());
    for i in 0..height {
        for j in 0..width {
            let (cx, cy) = ((j as f64 + 0.5) * stride, (i as f64 + 0.5) * stride);
            for &(w, h) in &shapes {
                anchors.push(BoxXyxy([
                    cx - 0.5 * w,
                    cy - 0.5 * h,
                    cx + 0.5 * w,
                    cy + 0.5 * h,
                ]));
            }
        }
    }
    anchors
}

/// What a reference box (anchor or proposal) is trained to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// An object: the index of the ground-truth box it is matched to.
    Object(usize),
    /// Background.
    Background,
    /// Neither (IoU between the thresholds, or overlapping a crowd region): no loss.
    Ignore,
}

/// Labels references by their best IoU with the ground truth (detectron2's `Matcher`):
/// `≥ foreground` an object, `< background` background, in between ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matcher {
    /// IoU from which a reference is an object (RPN 0.7, box head 0.5).
    pub foreground: f64,
    /// IoU below which it is background (RPN 0.3, box head 0.5).
    pub background: f64,
    /// Also make an object of each ground-truth box's best-overlapping references (ties
    /// included), however low the IoU, so that no object goes without an anchor (Ren et al.
    /// 2015, §3.1.2, condition (i)).
    pub low_quality: bool,
}

impl Matcher {
    /// The region proposal network's matcher: 0.7 / 0.3 with low-quality matches.
    pub const RPN: Matcher = Matcher {
        foreground: 0.7,
        background: 0.3,
        low_quality: true,
    };
    /// The box head's matcher (Fast R-CNN, Girshick 2015, §2.3): 0.5 / 0.5.
    pub const ROI: Matcher = Matcher {
        foreground: 0.5,
        background: 0.5,
        low_quality: false,
    };

    /// The label of every reference for the ground-truth boxes `truth`; references that
    /// overlap a `crowd` box by more than the background threshold are ignored instead of
    /// background, and crowd boxes are never matched.
    pub fn assign(&self, references: &[BoxXyxy], truth: &[BoxXyxy], crowd: &[bool]) -> Vec<Match> {
        let objects: Vec<usize> = (0..truth.len()).filter(|&g| !crowd[g]).collect();
        let mut best_of_truth = vec![0.0f64; truth.len()];
        let mut labels = Vec::with_capacity(references.len());
        let mut best = Vec::with_capacity(references.len());
        for r in references {
            let mut top: Option<(usize, f64)> = None;
            for &g in &objects {
                let iou = r.iou(truth[g]);
                best_of_truth[g] = best_of_truth[g].max(iou);
                if top.is_none_or(|(_, t)| iou > t) {
                    top = Some((g, iou));
                }
            }
            let crowded = (0..truth.len()).any(|g| crowd[g] && r.iou(truth[g]) >= self.background);
            best.push(top);
            labels.push(match top {
                Some((g, iou)) if iou >= self.foreground => Match::Object(g),
                _ if crowded => Match::Ignore,
                Some((_, iou)) if iou >= self.background => Match::Ignore,
                _ => Match::Background,
            });
        }
        if self.low_quality {
            for (r, reference) in references.iter().enumerate() {
                for &g in &objects {
                    if best_of_truth[g] > 0.0 && reference.iou(truth[g]) == best_of_truth[g] {
                        // detectron2 keeps the reference's own best match.
                        labels[r] = Match::Object(best[r].map_or(g, |(b, _)| b));
                    }
                }
            }
        }
        labels
    }
}

/// Class-balanced sampling (Fast R-CNN's mini-batches, Ren et al. 2015 §3.1.3): at most
/// `count × positive_fraction` objects, drawn at random, and background to fill `count`.
/// Returns the indices into `labels` of the sampled objects and of the sampled background.
pub fn sample(
    labels: &[Match],
    count: usize,
    positive_fraction: f64,
    rng: &mut SampleRng,
) -> (Vec<usize>, Vec<usize>) {
    let mut objects: Vec<usize> = (0..labels.len())
        .filter(|&i| matches!(labels[i], Match::Object(_)))
        .collect();
    let mut background: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i] == Match::Background)
        .collect();
    let positives = objects
        .len()
        .min((count as f64 * positive_fraction) as usize);
    objects.shuffle(rng);
    objects.truncate(positives);
    background.shuffle(rng);
    background.truncate(count - positives);
    objects.sort_unstable();
    background.sort_unstable();
    (objects, background)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_tile_the_map_with_every_ratio() {
        let anchors = level_anchors(2, 3, 8.0, 16.0, &[0.5, 1.0, 2.0]);
        assert_eq!(anchors.len(), 2 * 3 * 3);
        // Cell (0, 0), ratio 1: 16 × 16 around (4, 4).
        assert_eq!(anchors[1], BoxXyxy([-4.0, -4.0, 12.0, 12.0]));
        // Cell (1, 2), ratio 2 (tall): w = 16/√2, h = 16·√2 around (20, 12).
        let [x0, y0, x1, y1] = anchors[5 * 3 + 2].0;
        assert!(((x0 + x1) / 2.0 - 20.0).abs() < 1e-12 && ((y0 + y1) / 2.0 - 12.0).abs() < 1e-12);
        assert!(((y1 - y0) / (x1 - x0) - 2.0).abs() < 1e-12);
        assert!(((x1 - x0) * (y1 - y0) - 256.0).abs() < 1e-9);
    }

    #[test]
    fn matching_by_thresholds_low_quality_and_crowds() {
        let truth = [
            BoxXyxy([0.0, 0.0, 10.0, 10.0]),
            BoxXyxy([50.0, 50.0, 60.0, 60.0]),
            BoxXyxy([100.0, 0.0, 120.0, 20.0]), // crowd
        ];
        let crowd = [false, false, true];
        let references = [
            BoxXyxy([0.0, 0.0, 10.0, 9.0]),     // IoU 0.9 with 0 → object 0
            BoxXyxy([0.0, 0.0, 10.0, 5.0]),     // IoU 0.5 with 0 → ignored (0.3 ≤ IoU < 0.7)
            BoxXyxy([0.0, 0.0, 10.0, 2.0]),     // IoU 0.2 → background
            BoxXyxy([52.0, 52.0, 62.0, 62.0]),  // IoU 64/136 with 1, its best → object 1
            BoxXyxy([100.0, 0.0, 110.0, 20.0]), // half the crowd box → ignored
            BoxXyxy([200.0, 0.0, 210.0, 10.0]), // nothing → background
        ];
        let labels = Matcher::RPN.assign(&references, &truth, &crowd);
        use Match::*;
        assert_eq!(
            labels,
            [Object(0), Ignore, Background, Object(1), Ignore, Background]
        );
        let strict = Matcher {
            low_quality: false,
            ..Matcher::RPN
        };
        assert_eq!(strict.assign(&references, &truth, &crowd)[3], Ignore);
        let roi = Matcher::ROI.assign(&references, &truth, &crowd);
        assert_eq!(roi[..4], [Object(0), Object(0), Background, Background]);
    }

    #[test]
    fn sampling_caps_the_objects_and_fills_with_background() {
        use Match::*;
        let labels: Vec<Match> = (0..100)
            .map(|i| match i % 10 {
                0 => Object(i / 10),
                1 => Ignore,
                _ => Background,
            })
            .collect();
        let mut rng = pretext_data::rng::sample_rng(1, 0, 0);
        let (objects, background) = sample(&labels, 16, 0.25, &mut rng);
        assert_eq!((objects.len(), background.len()), (4, 12));
        assert!(objects.iter().all(|&i| i % 10 == 0));
        assert!(background.iter().all(|&i| i % 10 >= 2));
        // Fewer objects than the cap: all of them, background for the rest.
        let (objects, background) = sample(&labels, 64, 0.5, &mut rng);
        assert_eq!((objects.len(), background.len()), (10, 54));
    }
}

//! Average precision of detected boxes, as the reference tools compute it: COCO's twelve
//! numbers (AP over IoU 0.5:0.95, AP50, AP75, AP by object size, AR at 1, 10, 100 detections
//! and by size; pycocotools' `COCOeval` with `iouType="bbox"`) and Pascal VOC 2007's 11-point
//! AP50 (the devkit's `VOCevalDet`, `difficult` objects neither hits nor misses). Detections
//! are read from and written to COCO's results format, so that anyone can score the same file
//! with pycocotools (`bench/coco_eval_check.sh` does).
//!
//! The matching follows `COCOeval.evaluateImg` step for step: per image and category, the
//! detections in descending score (ties in file order) take the best-overlapping unmatched
//! ground truth at or above each threshold, preferring objects that count over ignored ones
//! (crowds, objects outside the area range); a crowd region can absorb any number of
//! detections, its overlap measured as intersection over the detection's area. Precision at
//! each of 101 recall points is the best precision at that recall or beyond.

use anyhow::{Context, Result, ensure};
use pretext_data::annotations::{Annotations, BoxXyxy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One detected box, as a line of COCO's results file.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// The image's id in the annotation file.
    pub image_id: u64,
    /// The category's id in the annotation file.
    pub category_id: u64,
    /// The box.
    pub bbox: BoxXyxy,
    /// The detector's confidence.
    pub score: f64,
}

#[derive(Serialize, Deserialize)]
struct ResultLine {
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
    score: f64,
}

/// Reads a COCO results file (a JSON list of `{image_id, category_id, bbox: [x, y, w, h],
/// score}`) for the images and categories of `truth`.
///
/// # Errors
/// Invalid JSON; a detection on an image or of a category `truth` does not have; a box or
/// score that is not a finite number, or a box of negative size.
pub fn read_results(path: &Path, truth: &Annotations) -> Result<Vec<Detection>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let lines: Vec<ResultLine> = serde_json::from_slice(&text)
        .with_context(|| format!("{}: not a COCO results file", path.display()))?;
    let images: std::collections::HashSet<u64> = truth.images.iter().map(|i| i.id).collect();
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let at = || format!("{}: detection {i}", path.display());
            ensure!(
                images.contains(&line.image_id),
                "{}: image_id {} is not an image of {}",
                at(),
                line.image_id,
                truth.origin.display()
            );
            ensure!(
                truth.category_index(line.category_id).is_some(),
                "{}: category_id {} is not a category of {}",
                at(),
                line.category_id,
                truth.origin.display()
            );
            let [_, _, w, h] = line.bbox;
            ensure!(
                line.bbox.iter().all(|v| v.is_finite()) && w >= 0.0 && h >= 0.0,
                "{}: bbox {:?} is not [x, y, w, h] with w, h ≥ 0",
                at(),
                line.bbox
            );
            ensure!(line.score.is_finite(), "{}: score is not a number", at());
            Ok(Detection {
                image_id: line.image_id,
                category_id: line.category_id,
                bbox: BoxXyxy::from_xywh(line.bbox),
                score: line.score,
            })
        })
        .collect()
}

/// Writes `detections` as a COCO results file (atomically).
pub fn write_results(path: &Path, detections: &[Detection]) -> Result<()> {
    let lines: Vec<ResultLine> = detections
        .iter()
        .map(|d| ResultLine {
            image_id: d.image_id,
            category_id: d.category_id,
            bbox: d.bbox.xywh(),
            score: d.score,
        })
        .collect();
    pretext_data::atomic::write(path, &serde_json::to_vec(&lines)?)?;
    Ok(())
}

/// COCO's summary of box detection (`COCOeval.stats`, in its order). A value is −1 where no
/// category has an object that counts (e.g. AP_small without small objects), as in
/// pycocotools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoMetrics {
    /// AP averaged over IoU 0.50:0.05:0.95, all sizes, 100 detections per image.
    pub ap: f64,
    /// AP at IoU 0.5.
    pub ap50: f64,
    /// AP at IoU 0.75.
    pub ap75: f64,
    /// AP of small objects (area < 32²).
    pub ap_small: f64,
    /// AP of medium objects (32² to 96²).
    pub ap_medium: f64,
    /// AP of large objects (> 96²).
    pub ap_large: f64,
    /// Recall with 1 detection per image, averaged over IoU 0.50:0.95.
    pub ar1: f64,
    /// Recall with 10 detections per image.
    pub ar10: f64,
    /// Recall with 100 detections per image.
    pub ar100: f64,
    /// Recall of small objects (100 detections).
    pub ar_small: f64,
    /// Recall of medium objects.
    pub ar_medium: f64,
    /// Recall of large objects.
    pub ar_large: f64,
}

impl CocoMetrics {
    /// The twelve values in `COCOeval.stats` order.
    pub fn stats(&self) -> [f64; 12] {
        [
            self.ap,
            self.ap50,
            self.ap75,
            self.ap_small,
            self.ap_medium,
            self.ap_large,
            self.ar1,
            self.ar10,
            self.ar100,
            self.ar_small,
            self.ar_medium,
            self.ar_large,
        ]
    }
}

impl std::fmt::Display for CocoMetrics {
    /// pycocotools' `summarize()` lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows = [
            ("Precision", "0.50:0.95", "   all", 100),
            ("Precision", "0.50     ", "   all", 100),
            ("Precision", "0.75     ", "   all", 100),
            ("Precision", "0.50:0.95", " small", 100),
            ("Precision", "0.50:0.95", "medium", 100),
            ("Precision", "0.50:0.95", " large", 100),
            ("Recall   ", "0.50:0.95", "   all", 1),
            ("Recall   ", "0.50:0.95", "   all", 10),
            ("Recall   ", "0.50:0.95", "   all", 100),
            ("Recall   ", "0.50:0.95", " small", 100),
            ("Recall   ", "0.50:0.95", "medium", 100),
            ("Recall   ", "0.50:0.95", " large", 100),
        ];
        for ((kind, iou, area, max), value) in rows.iter().zip(self.stats()) {
            let short = if kind.starts_with('P') { "AP" } else { "AR" };
            writeln!(
                f,
                " Average {kind} ({short}) @[ IoU={iou} | area={area} | maxDets={max:>3} ] = {value:.3}"
            )?;
        }
        Ok(())
    }
}

/// COCO's IoU thresholds, 0.5 to 0.95 in steps of 0.05, computed as `numpy.linspace` does
/// (so that comparisons at a threshold fall as in pycocotools).
fn iou_thresholds() -> [f64; 10] {
    let step = (0.95 - 0.5) / 9.0;
    let mut t = [0.0; 10];
    for (i, v) in t.iter_mut().enumerate() {
        *v = i as f64 * step + 0.5;
    }
    t[9] = 0.95;
    t
}

/// COCO's area ranges: all, small, medium, large (bounds inclusive at both ends).
const AREA_RANGES: [[f64; 2]; 4] = [
    [0.0, 1e10],
    [0.0, 32.0 * 32.0],
    [32.0 * 32.0, 96.0 * 96.0],
    [96.0 * 96.0, 1e10],
];

/// One ground-truth object of an image and category.
struct Truth {
    bbox: BoxXyxy,
    area: f64,
    crowd: bool,
}

/// What `evaluateImg` keeps of one image and category at one area range: the scores of its
/// (at most 100) detections in descending order, whether each is matched at each threshold,
/// whether each is ignored, and how many objects count.
struct ImageResult {
    scores: Vec<f64>,
    matched: Vec<[bool; 10]>,
    ignored: Vec<[bool; 10]>,
    counted: usize,
}

/// Overlap of detection `d` with object `g`: IoU, or for a crowd intersection over `d`'s area.
fn overlap(d: BoxXyxy, g: &Truth) -> f64 {
    if !g.crowd {
        return d.iou(g.bbox);
    }
    let area = d.area();
    if area > 0.0 {
        d.intersection(g.bbox) / area
    } else {
        0.0
    }
}

/// `COCOeval.evaluateImg` for one image, category and area range, with `detections` sorted by
/// descending score and cut to 100.
fn evaluate_image(truths: &[Truth], detections: &[&Detection], range: [f64; 2]) -> ImageResult {
    let outside = |area: f64| area < range[0] || area > range[1];
    // Objects that count first, then ignored ones (a stable sort, as numpy's mergesort).
    let mut order: Vec<usize> = (0..truths.len()).collect();
    let ignore: Vec<bool> = truths.iter().map(|g| g.crowd || outside(g.area)).collect();
    order.sort_by_key(|&g| ignore[g]);
    let thresholds = iou_thresholds();
    let mut truth_taken = vec![[false; 10]; truths.len()];
    let mut matched = vec![[false; 10]; detections.len()];
    let mut ignored = vec![[false; 10]; detections.len()];
    for (t, &threshold) in thresholds.iter().enumerate() {
        for (d, det) in detections.iter().enumerate() {
            let mut best = threshold.min(1.0 - 1e-10);
            let mut m: Option<usize> = None;
            for &g in &order {
                if truth_taken[g][t] && !truths[g].crowd {
                    continue;
                }
                if m.is_some_and(|m| !ignore[m]) && ignore[g] {
                    break;
                }
                let iou = overlap(det.bbox, &truths[g]);
                if iou < best {
                    continue;
                }
                best = iou;
                m = Some(g);
            }
            if let Some(g) = m {
                ignored[d][t] = ignore[g];
                matched[d][t] = true;
                truth_taken[g][t] = true;
            }
        }
    }
    for (d, det) in detections.iter().enumerate() {
        if outside(det.bbox.area()) {
            for t in 0..10 {
                ignored[d][t] |= !matched[d][t];
            }
        }
    }
    ImageResult {
        scores: detections.iter().map(|d| d.score).collect(),
        matched,
        ignored,
        counted: ignore.iter().filter(|&&i| !i).count(),
    }
}

/// Precision at the 101 recall points and the final recall of one category, area range and
/// detection cap over `results` (per image, in image-id order), at threshold `t`; `None`
/// when no object counts.
fn accumulate(results: &[&ImageResult], cap: usize, t: usize) -> Option<(Vec<f64>, f64)> {
    let counted: usize = results.iter().map(|r| r.counted).sum();
    if counted == 0 {
        return None;
    }
    // Every image's first `cap` detections, by descending score; ties keep image order.
    let mut all: Vec<(f64, bool, bool)> = results
        .iter()
        .flat_map(|r| {
            (0..r.scores.len().min(cap)).map(|d| (r.scores[d], r.matched[d][t], r.ignored[d][t]))
        })
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let mut recall = Vec::new();
    let mut precision = Vec::new();
    for &(_, hit, ignored) in &all {
        if ignored {
            continue;
        }
        if hit {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        recall.push(tp / counted as f64);
        precision.push(tp / (tp + fp + f64::EPSILON));
    }
    // pycocotools keeps ignored detections in the cumulative sums (as repeats of the
    // previous point), which leaves the envelope and the recall search unchanged.
    for i in (1..precision.len()).rev() {
        if precision[i] > precision[i - 1] {
            precision[i - 1] = precision[i];
        }
    }
    let points = (0..=100).map(|r| {
        let level = if r == 100 { 1.0 } else { r as f64 * 0.01 };
        let i = recall.partition_point(|&v| v < level);
        precision.get(i).copied().unwrap_or(0.0)
    });
    Some((points.collect(), recall.last().copied().unwrap_or(0.0)))
}

/// COCO's box AP and AR of `detections` against `truth` (every image and category of
/// `truth`, as `COCOeval` with default parameters).
pub fn coco_metrics(truth: &Annotations, detections: &[Detection]) -> CocoMetrics {
    let mut images: Vec<usize> = (0..truth.images.len()).collect();
    images.sort_by_key(|&i| truth.images[i].id);
    let mut categories: Vec<usize> = (0..truth.categories.len()).collect();
    categories.sort_by_key(|&c| truth.categories[c].id);
    let mut by_key: HashMap<(u64, u64), Vec<&Detection>> = HashMap::new();
    for d in detections {
        by_key
            .entry((d.image_id, d.category_id))
            .or_default()
            .push(d);
    }
    for list in by_key.values_mut() {
        list.sort_by(|a, b| b.score.total_cmp(&a.score));
        list.truncate(100);
    }
    // precision[t][area][cap] and recall[t][area][cap], each a list over categories.
    let caps = [1, 10, 100];
    let mut precision: BTreeMap<(usize, usize, usize), Vec<f64>> = BTreeMap::new();
    let mut recall: BTreeMap<(usize, usize, usize), Vec<f64>> = BTreeMap::new();
    for &c in &categories {
        let category_id = truth.categories[c].id;
        for (a, &range) in AREA_RANGES.iter().enumerate() {
            let results: Vec<ImageResult> = images
                .iter()
                .filter_map(|&i| {
                    let image = &truth.images[i];
                    let truths: Vec<Truth> = image
                        .instances
                        .iter()
                        .filter(|o| o.category == c)
                        .map(|o| Truth {
                            bbox: o.bbox,
                            area: o.area,
                            crowd: o.crowd,
                        })
                        .collect();
                    let dets = by_key
                        .get(&(image.id, category_id))
                        .map_or(&[][..], Vec::as_slice);
                    (!truths.is_empty() || !dets.is_empty())
                        .then(|| evaluate_image(&truths, dets, range))
                })
                .collect();
            let results: Vec<&ImageResult> = results.iter().collect();
            for (m, &cap) in caps.iter().enumerate() {
                for t in 0..10 {
                    if let Some((points, final_recall)) = accumulate(&results, cap, t) {
                        precision.entry((t, a, m)).or_default().extend(points);
                        recall.entry((t, a, m)).or_default().push(final_recall);
                    }
                }
            }
        }
    }
    let mean = |table: &BTreeMap<(usize, usize, usize), Vec<f64>>,
                thresholds: &[usize],
                a: usize,
                m: usize| {
        let values: Vec<f64> = thresholds
            .iter()
            .filter_map(|&t| table.get(&(t, a, m)))
            .flatten()
            .copied()
            .collect();
        match values.is_empty() {
            true => -1.0,
            false => values.iter().sum::<f64>() / values.len() as f64,
        }
    };
    let all: Vec<usize> = (0..10).collect();
    CocoMetrics {
        ap: mean(&precision, &all, 0, 2),
        ap50: mean(&precision, &[0], 0, 2),
        ap75: mean(&precision, &[5], 0, 2),
        ap_small: mean(&precision, &all, 1, 2),
        ap_medium: mean(&precision, &all, 2, 2),
        ap_large: mean(&precision, &all, 3, 2),
        ar1: mean(&recall, &all, 0, 0),
        ar10: mean(&recall, &all, 0, 1),
        ar100: mean(&recall, &all, 0, 2),
        ar_small: mean(&recall, &all, 1, 2),
        ar_medium: mean(&recall, &all, 2, 2),
        ar_large: mean(&recall, &all, 3, 2),
    }
}

/// Pascal VOC 2007's AP at IoU > 0.5 per category (11-point interpolation: the mean over
/// recall 0, 0.1, …, 1 of the best precision at that recall or beyond), in category order,
/// `None` for a category without objects that count. Difficult objects are neither hits nor
/// misses; a second detection of an object is a false positive.
pub fn voc07_ap50(truth: &Annotations, detections: &[Detection]) -> Vec<Option<f64>> {
    let image_of: HashMap<u64, usize> = truth
        .images
        .iter()
        .enumerate()
        .map(|(i, image)| (image.id, i))
        .collect();
    (0..truth.categories.len())
        .map(|c| {
            let category_id = truth.categories[c].id;
            let positives = truth
                .images
                .iter()
                .flat_map(|i| &i.instances)
                .filter(|o| o.category == c && !o.difficult)
                .count();
            if positives == 0 {
                return None;
            }
            let mut dets: Vec<&Detection> = detections
                .iter()
                .filter(|d| d.category_id == category_id)
                .collect();
            dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            let mut taken: HashMap<(usize, usize), bool> = HashMap::new();
            let (mut tp, mut fp) = (0.0f64, 0.0f64);
            let mut curve = Vec::with_capacity(dets.len());
            for d in dets {
                let Some(&i) = image_of.get(&d.image_id) else {
                    fp += 1.0;
                    curve.push((tp / positives as f64, tp / (tp + fp)));
                    continue;
                };
                let best = truth.images[i]
                    .instances
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.category == c)
                    .map(|(k, o)| (k, d.bbox.iou(o.bbox)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                match best {
                    Some((k, iou)) if iou > 0.5 => {
                        if truth.images[i].instances[k].difficult {
                            continue;
                        }
                        match taken.insert((i, k), true) {
                            None => tp += 1.0,
                            Some(_) => fp += 1.0,
                        }
                    }
                    _ => fp += 1.0,
                }
                curve.push((tp / positives as f64, tp / (tp + fp).max(f64::EPSILON)));
            }
            let ap = (0..=10)
                .map(|r| {
                    let level = r as f64 / 10.0;
                    curve
                        .iter()
                        .filter(|(rec, _)| *rec >= level)
                        .map(|(_, prec)| *prec)
                        .fold(0.0, f64::max)
                })
                .sum::<f64>()
                / 11.0;
            Some(ap)
        })
        .collect()
}

/// Both summaries of one results file: COCO's and VOC 2007's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoxScores {
    /// The annotations scored against.
    pub truth: String,
    /// The results file.
    pub results: String,
    /// Detections in it.
    pub detections: usize,
    /// COCO's twelve numbers.
    pub coco: CocoMetrics,
    /// VOC 2007's mean AP50 over the categories with objects.
    pub voc07_map50: f64,
    /// VOC 2007's AP50 per category (`None`: no object that counts).
    pub voc07_ap50: Vec<(String, Option<f64>)>,
}

impl std::fmt::Display for BoxScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} detections of {} against {}",
            self.detections, self.results, self.truth
        )?;
        write!(f, "{}", self.coco)?;
        writeln!(f, "VOC07 mAP50 (11-point): {:.4}", self.voc07_map50)
    }
}

/// Scores the COCO results file `results` against `truth`.
pub fn score_file(truth: &Annotations, results: &Path) -> Result<BoxScores> {
    let detections = read_results(results, truth)?;
    let voc = voc07_ap50(truth, &detections);
    let present: Vec<f64> = voc.iter().flatten().copied().collect();
    Ok(BoxScores {
        truth: truth.origin.display().to_string(),
        results: results.display().to_string(),
        detections: detections.len(),
        coco: coco_metrics(truth, &detections),
        voc07_map50: match present.is_empty() {
            true => -1.0,
            false => present.iter().sum::<f64>() / present.len() as f64,
        },
        voc07_ap50: truth
            .categories
            .iter()
            .map(|c| c.name.clone())
            .zip(voc)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretext_data::annotations::{AnnotatedImage, Category, Instance};

    fn object(category: usize, bbox: [f64; 4], crowd: bool, difficult: bool) -> Instance {
        let bbox = BoxXyxy(bbox);
        Instance {
            id: 0,
            category,
            bbox,
            area: bbox.area(),
            crowd,
            difficult,
            mask: None,
        }
    }

    fn truth(images: Vec<Vec<Instance>>) -> Annotations {
        let categories = vec![
            Category {
                id: 1,
                name: "a".into(),
            },
            Category {
                id: 2,
                name: "b".into(),
            },
        ];
        let images = images
            .into_iter()
            .enumerate()
            .map(|(i, instances)| AnnotatedImage {
                id: i as u64 + 1,
                file: "x.png".into(),
                width: 200,
                height: 200,
                instances,
            })
            .collect();
        Annotations::new("truth.json".into(), categories, images)
    }

    fn det(image_id: u64, category_id: u64, bbox: [f64; 4], score: f64) -> Detection {
        Detection {
            image_id,
            category_id,
            bbox: BoxXyxy(bbox),
            score,
        }
    }

    #[test]
    fn perfect_detections_score_one_and_none_score_zero() {
        let gt = truth(vec![vec![
            object(0, [0.0, 0.0, 50.0, 50.0], false, false),
            object(1, [100.0, 100.0, 110.0, 110.0], false, false),
        ]]);
        let perfect = [
            det(1, 1, [0.0, 0.0, 50.0, 50.0], 0.9),
            det(1, 2, [100.0, 100.0, 110.0, 110.0], 0.8),
        ];
        let m = coco_metrics(&gt, &perfect);
        // Precision is tp / (tp + fp + ε), as in pycocotools: 1 − 2⁻⁵³ for a perfect list.
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        for value in [m.ap, m.ap50, m.ar1, m.ar100, m.ap_small, m.ap_medium] {
            assert!(close(value, 1.0), "{m:?}");
        }
        // One small object (b, 10²) and one medium (a, 50²), no large one.
        assert_eq!(m.ap_large, -1.0);
        let none = coco_metrics(&gt, &[]);
        assert_eq!((none.ap, none.ar100), (0.0, 0.0));
        assert_eq!(voc07_ap50(&gt, &perfect), vec![Some(1.0), Some(1.0)]);
    }

    /// Category a, two objects in two images; detections by score: a hit on image 1 (IoU
    /// 1), a miss, a hit on image 2 at IoU 0.6 (box [0, 0, 60, 100] over [0, 0, 100, 100]).
    /// At IoU 0.5 and 0.55: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 → envelope 1 up to
    /// recall 0.5 (51 points), 2/3 above (50 points): AP = (51 + 50·2/3)/101 = 0.83498.
    /// At 0.6 (IoU computed as 0.6 ≥ 0.6): the same. From 0.65 on only the first hit: 51/101.
    #[test]
    fn ap_follows_the_101_point_envelope_over_thresholds() {
        let gt = truth(vec![
            vec![object(0, [0.0, 0.0, 100.0, 100.0], false, false)],
            vec![object(0, [0.0, 0.0, 100.0, 100.0], false, false)],
        ]);
        let dets = [
            det(1, 1, [0.0, 0.0, 100.0, 100.0], 0.9),
            det(1, 1, [150.0, 150.0, 190.0, 190.0], 0.8),
            det(2, 1, [0.0, 0.0, 60.0, 100.0], 0.7),
        ];
        let m = coco_metrics(&gt, &dets);
        let two_hits = (51.0 + 50.0 * 2.0 / 3.0) / 101.0;
        let one_hit = 51.0 / 101.0;
        assert!((m.ap50 - two_hits).abs() < 1e-12, "{}", m.ap50);
        assert!((m.ap75 - one_hit).abs() < 1e-12, "{}", m.ap75);
        let iou_06 = 0.6f64;
        let reached = iou_thresholds()
            .iter()
            .filter(|&&t| iou_06 >= t.min(1.0 - 1e-10))
            .count() as f64;
        let expected = (reached * two_hits + (10.0 - reached) * one_hit) / 10.0;
        assert!((m.ap - expected).abs() < 1e-12, "{} vs {expected}", m.ap);
        // Recall with one detection per image: image 1's best is the hit, image 2's the
        // IoU-0.6 hit → 1 at the thresholds it reaches, 1/2 above.
        assert!((m.ar1 - (reached + (10.0 - reached) * 0.5) / 10.0).abs() < 1e-12);
        // VOC07: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 → 6 points of 1, 5 of 2/3.
        let voc = voc07_ap50(&gt, &dets)[0].unwrap();
        assert!(
            (voc - (6.0 + 5.0 * 2.0 / 3.0) / 11.0).abs() < 1e-12,
            "{voc}"
        );
    }

    /// A crowd absorbs detections without being missed or counted; a difficult VOC object
    /// likewise; a duplicate of a found object is a false positive.
    #[test]
    fn crowds_difficult_objects_and_duplicates() {
        let gt = truth(vec![vec![
            object(0, [0.0, 0.0, 100.0, 100.0], false, false),
            object(0, [120.0, 120.0, 200.0, 200.0], true, false),
        ]]);
        let dets = [
            det(1, 1, [130.0, 130.0, 150.0, 150.0], 0.95),
            det(1, 1, [125.0, 125.0, 160.0, 160.0], 0.9),
            det(1, 1, [0.0, 0.0, 100.0, 100.0], 0.8),
            det(1, 1, [0.0, 0.0, 100.0, 100.0], 0.7),
        ];
        let m = coco_metrics(&gt, &dets);
        // The two detections inside the crowd are ignored; the hit then the duplicate: precision
        // 1 at recall 1 → AP 1.
        assert!((m.ap - 1.0).abs() < 1e-12, "{m:?}");
        let gt = truth(vec![vec![
            object(0, [0.0, 0.0, 100.0, 100.0], false, false),
            object(0, [120.0, 120.0, 200.0, 200.0], false, true),
        ]]);
        let dets = [
            det(1, 1, [120.0, 120.0, 200.0, 200.0], 0.9),
            det(1, 1, [0.0, 0.0, 100.0, 100.0], 0.8),
            det(1, 1, [0.0, 0.0, 100.0, 100.0], 0.7),
        ];
        // Difficult skipped; hit (precision 1, recall 1); duplicate (1/2, 1): all 11 points 1.
        assert_eq!(voc07_ap50(&gt, &dets)[0], Some(1.0));
        assert_eq!(voc07_ap50(&gt, &dets)[1], None);
    }

    #[test]
    fn results_files_round_trip_and_refuse_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let gt = truth(vec![vec![object(0, [0.0, 0.0, 10.0, 10.0], false, false)]]);
        let path = dir.path().join("results.json");
        let dets = vec![det(1, 2, [1.0, 2.0, 4.0, 6.0], 0.5)];
        write_results(&path, &dets).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"bbox\":[1.0,2.0,3.0,4.0]"), "{text}");
        assert_eq!(read_results(&path, &gt).unwrap(), dets);
        std::fs::write(
            &path,
            r#"[{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]"#,
        )
        .unwrap();
        let err = format!("{:#}", read_results(&path, &gt).unwrap_err());
        assert!(err.contains("detection 0: image_id 5"), "{err}");
        std::fs::write(
            &path,
            r#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 1}]"#,
        )
        .unwrap();
        let err = format!("{:#}", read_results(&path, &gt).unwrap_err());
        assert!(err.contains("w, h ≥ 0"), "{err}");
    }
}

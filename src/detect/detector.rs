//! Faster R-CNN with a feature pyramid (Ren et al. 2015; Lin et al. 2017): a region proposal
//! network slides over every pyramid level, its best proposals are pooled by [`RoiAlign`]
//! from the level their size picks, and a two-layer box head classifies each into one of
//! the categories or background and refines its box per category. Training is end to end
//! with the approximate joint training of Ren et al. (§3.2): proposals are not
//! differentiated. The losses and the inference follow detectron2's defaults (L1 box losses,
//! losses normalised by the sampled anchors and regions, ground truth added to the
//! proposals, per-category NMS of the final detections).

use super::anchors::{Match, Matcher, level_anchors, sample};
use super::boxes::{BoxCoder, BoxXyxy, batched_nms, clip};
use super::pyramid::{Pyramid, PyramidPlan, conv, forward};
use super::roi_align::{RoiAlign, level_of};
use anyhow::{Result, ensure};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, softmax};
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// The detector's options (the `[method]` table of a detection run). Defaults are sized for
/// the 96 × 96 scenes of `pretext data scenes` on a CPU; the paper values are in brackets
/// and the departures in docs/deviations.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Probability of a horizontal flip of a training image and its boxes [0.5].
    pub flip: f64,
    /// Object categories (from the data when 0).
    pub classes: usize,
    /// Strides of the pyramid levels, finest first, each twice the one before [4 … 64].
    pub levels: Vec<usize>,
    /// Channels of every pyramid level [256].
    pub channels: usize,
    /// Anchor side per level, in input pixels [32 … 512 for 800-pixel images].
    pub anchor_sizes: Vec<f64>,
    /// Anchor aspect ratios `h/w` at every position [0.5, 1, 2].
    pub anchor_ratios: Vec<f64>,
    /// Anchors sampled per image for the proposal losses [256].
    pub rpn_batch: usize,
    /// Largest fraction of objects among them [0.5].
    pub rpn_positive_fraction: f64,
    /// Proposals kept per level before NMS [2000 training, 1000 testing].
    pub pre_nms: usize,
    /// Proposals kept per image after NMS when training [1000].
    pub post_nms_train: usize,
    /// Proposals kept per image after NMS when testing [1000].
    pub post_nms_test: usize,
    /// IoU above which NMS suppresses a proposal [0.7].
    pub rpn_nms: f64,
    /// Regions sampled per image for the box head's losses [512].
    pub roi_batch: usize,
    /// Largest fraction of objects among them [0.25].
    pub roi_positive_fraction: f64,
    /// RoIAlign output side [7].
    pub roi_size: usize,
    /// RoIAlign samples per bin and axis, 0 = adaptive [0].
    pub roi_sampling: usize,
    /// A region of this side is pooled from the level of stride `canonical_stride` (FPN's
    /// equation 1: 224 at stride 16, where the anchors are 128; here kept at the same ratio
    /// to the anchors) [224].
    pub canonical_size: f64,
    /// See `canonical_size` [16].
    pub canonical_stride: usize,
    /// Width of the box head's two hidden layers [1024].
    pub head_dim: usize,
    /// Detections scoring below this are dropped [0.05].
    pub score_threshold: f64,
    /// IoU above which NMS suppresses a detection of the same category [0.5].
    pub nms: f64,
    /// Most detections per image [100].
    pub detections_per_image: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            flip: 0.5,
            classes: 0,
            levels: vec![4, 8, 16],
            channels: 64,
            anchor_sizes: vec![16.0, 32.0, 64.0],
            anchor_ratios: vec![0.5, 1.0, 2.0],
            rpn_batch: 256,
            rpn_positive_fraction: 0.5,
            pre_nms: 1000,
            post_nms_train: 256,
            post_nms_test: 100,
            rpn_nms: 0.7,
            roi_batch: 128,
            roi_positive_fraction: 0.25,
            roi_size: 7,
            roi_sampling: 0,
            canonical_size: 56.0,
            canonical_stride: 8,
            head_dim: 256,
            score_threshold: 0.05,
            nms: 0.5,
            detections_per_image: 100,
        }
    }
}

impl DetectorConfig {
    /// An error naming the `method.` key that is out of range.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.anchor_sizes.len() == self.levels.len(),
            "method.anchor_sizes has {} sizes for {} levels (method.levels)",
            self.anchor_sizes.len(),
            self.levels.len()
        );
        ensure!(
            !self.anchor_ratios.is_empty() && self.anchor_ratios.iter().all(|&r| r > 0.0),
            "method.anchor_ratios must be positive numbers"
        );
        ensure!(
            self.anchor_sizes.iter().all(|&s| s > 0.0),
            "method.anchor_sizes must be positive"
        );
        for (key, value) in [
            ("rpn_positive_fraction", self.rpn_positive_fraction),
            ("roi_positive_fraction", self.roi_positive_fraction),
            ("rpn_nms", self.rpn_nms),
            ("flip", self.flip),
            ("nms", self.nms),
        ] {
            ensure!(
                (0.0..=1.0).contains(&value),
                "method.{key} = {value} is not between 0 and 1"
            );
        }
        for (key, value) in [
            ("channels", self.channels),
            ("rpn_batch", self.rpn_batch),
            ("pre_nms", self.pre_nms),
            ("post_nms_train", self.post_nms_train),
            ("post_nms_test", self.post_nms_test),
            ("roi_batch", self.roi_batch),
            ("roi_size", self.roi_size),
            ("head_dim", self.head_dim),
            ("canonical_stride", self.canonical_stride),
        ] {
            ensure!(value > 0, "method.{key} must be at least 1");
        }
        ensure!(
            self.canonical_size > 0.0,
            "method.canonical_size must be positive"
        );
        Ok(())
    }

    fn roi_align(&self) -> RoiAlign {
        RoiAlign {
            output: self.roi_size,
            sampling: self.roi_sampling,
        }
    }
}

/// The region proposal network's head, shared by every level (Ren et al. 2015, §3.1): a 3×3
/// convolution and ReLU, then per anchor an objectness logit and four box deltas.
#[derive(Module, Debug)]
pub struct RpnHead {
    /// The shared 3×3 convolution.
    pub conv: Conv2d,
    /// 1×1 convolution to one logit per anchor.
    pub objectness: Conv2d,
    /// 1×1 convolution to four deltas per anchor.
    pub deltas: Conv2d,
}

/// A 1×1 convolution initialised `N(0, std²)` with bias 0 (detectron2's RPN outputs).
fn small_conv(c_in: usize, c_out: usize, std: f64, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [1, 1])
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
}

/// A linear layer initialised `N(0, std²)` with bias 0 (detectron2's box predictor).
fn small_linear(d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
}

/// The box head (FPN's "2fc" head, Lin et al. 2017 §4.2): two hidden fully connected layers
/// on the pooled region, then a classifier over the categories and background (last) and
/// per-category box deltas.
#[derive(Module, Debug)]
pub struct BoxHead {
    /// First hidden layer.
    pub fc1: Linear,
    /// Second hidden layer.
    pub fc2: Linear,
    /// Category logits, `classes + 1` (background last).
    pub classes: Linear,
    /// `4 × classes` box deltas.
    pub deltas: Linear,
}

/// A detector's trainable layers on top of the encoder.
#[derive(Module, Debug)]
pub struct Detector {
    /// The feature pyramid.
    pub pyramid: Pyramid,
    /// The region proposal network.
    pub rpn: RpnHead,
    /// The box head.
    pub head: BoxHead,
}

/// One image's ground truth, in input pixels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Truth {
    /// Boxes.
    pub boxes: Vec<BoxXyxy>,
    /// Category of each box.
    pub classes: Vec<usize>,
    /// COCO's `iscrowd` of each box: neither matched nor background.
    pub crowd: Vec<bool>,
}

/// A detected object, in input pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Its box.
    pub bbox: BoxXyxy,
    /// Its category.
    pub class: usize,
    /// The classifier's probability of that category.
    pub score: f64,
}

/// The four losses of Faster R-CNN (shape `[1]` each).
pub struct Losses {
    /// Proposal objectness: binary cross-entropy over the sampled anchors.
    pub rpn_objectness: Tensor<1>,
    /// Proposal boxes: L1 over the sampled object anchors, per sampled anchor.
    pub rpn_boxes: Tensor<1>,
    /// Region classification: cross-entropy over the sampled regions.
    pub classes: Tensor<1>,
    /// Region boxes: L1 of the true category's deltas, per sampled region.
    pub boxes: Tensor<1>,
}

impl Losses {
    /// Their sum, the loss trained.
    pub fn total(&self) -> Tensor<1> {
        self.rpn_objectness.clone()
            + self.rpn_boxes.clone()
            + self.classes.clone()
            + self.boxes.clone()
    }
}

/// The region proposal network's outputs for a batch: per image, every anchor's logit and
/// deltas, levels laid end to end.
struct Proposals {
    /// `[N, M]` objectness logits.
    logits: Tensor<2>,
    /// `[N, M, 4]` deltas.
    deltas: Tensor<3>,
    /// The `M` anchors.
    anchors: Vec<BoxXyxy>,
    /// Anchors per level.
    per_level: Vec<usize>,
}

/// Host copy of a float tensor.
fn host<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// `idx` as an index tensor on `device`.
fn indices(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(idx.clone(), [idx.len()]), device)
}

/// `rows` as a `[len, 4]` float tensor on `device`.
fn rows4(rows: &[[f64; 4]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::<1>::from_floats(flat.as_slice(), device).reshape([rows.len(), 4])
}

impl Detector {
    /// Fresh layers for an encoder with `stages` (`(stride, channels)`, finest first).
    pub fn new(
        config: &DetectorConfig,
        stages: &[(usize, usize)],
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        ensure!(config.classes > 0, "method.classes must be at least 1");
        let plan = PyramidPlan::new(&config.levels, stages)?;
        let c = config.channels;
        let anchors = config.anchor_ratios.len();
        let pooled = c * config.roi_size * config.roi_size;
        Ok(Detector {
            pyramid: Pyramid::new(&plan, stages, c, device),
            rpn: RpnHead {
                conv: conv(c, c, 3, 1, device),
                objectness: small_conv(c, anchors, 0.01, device),
                deltas: small_conv(c, 4 * anchors, 0.01, device),
            },
            head: BoxHead {
                fc1: LinearConfig::new(pooled, config.head_dim).init(device),
                fc2: LinearConfig::new(config.head_dim, config.head_dim).init(device),
                classes: small_linear(config.head_dim, config.classes + 1, 0.01, device),
                deltas: small_linear(config.head_dim, 4 * config.classes, 0.001, device),
            },
        })
    }

    /// The pyramid levels of the encoder's `stages`.
    fn levels(
        &self,
        config: &DetectorConfig,
        stages: Vec<Tensor<4>>,
        strides: &[(usize, usize)],
    ) -> Vec<Tensor<4>> {
        let plan = PyramidPlan::new(&config.levels, strides).expect("validated when built");
        self.pyramid.forward(&plan, stages)
    }

    /// The region proposal network on every level.
    fn propose(&self, config: &DetectorConfig, levels: &[Tensor<4>]) -> Proposals {
        let (mut logits, mut deltas, mut anchors, mut per_level) = (vec![], vec![], vec![], vec![]);
        let a = config.anchor_ratios.len();
        for (l, map) in levels.iter().enumerate() {
            let [n, _, h, w] = map.dims();
            let t = relu(forward(&self.rpn.conv, map.clone()));
            let o = forward(&self.rpn.objectness, t.clone());
            let d = forward(&self.rpn.deltas, t);
            logits.push(o.permute([0, 2, 3, 1]).reshape([n, h * w * a]));
            deltas.push(
                d.reshape([n, a, 4, h, w])
                    .permute([0, 3, 4, 1, 2])
                    .reshape([n, h * w * a, 4]),
            );
            let stride = config.levels[l] as f64;
            let level = level_anchors(h, w, stride, config.anchor_sizes[l], &config.anchor_ratios);
            per_level.push(level.len());
            anchors.extend(level);
        }
        Proposals {
            logits: Tensor::cat(logits, 1),
            deltas: Tensor::cat(deltas, 1),
            anchors,
            per_level,
        }
    }

    /// Each image's proposals (detached): per level the `pre_nms` best anchors, decoded and
    /// clipped, empty boxes dropped, NMS per level at `rpn_nms`, the best `keep` of all.
    fn select_proposals(
        &self,
        config: &DetectorConfig,
        proposals: &Proposals,
        size: [usize; 2],
        keep: usize,
    ) -> Vec<Vec<BoxXyxy>> {
        let [n, m] = proposals.logits.dims();
        let logits = host(&proposals.logits);
        let deltas = host(&proposals.deltas);
        let (height, width) = (size[0] as f64, size[1] as f64);
        (0..n)
            .map(|image| {
                let (mut boxes, mut scores, mut groups) = (vec![], vec![], vec![]);
                let mut start = 0;
                for (level, &count) in proposals.per_level.iter().enumerate() {
                    let mut order: Vec<usize> = (start..start + count).collect();
                    let score = |i: usize| logits[image * m + i];
                    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
                    order.truncate(config.pre_nms);
                    for i in order {
                        let d = &deltas[(image * m + i) * 4..][..4];
                        let t = [d[0], d[1], d[2], d[3]].map(f64::from);
                        let b = clip(BoxCoder::RPN.decode(proposals.anchors[i], t), width, height);
                        if b.area() > 0.0 {
                            boxes.push(b);
                            scores.push(f64::from(score(i)));
                            groups.push(level);
                        }
                    }
                    start += count;
                }
                let mut kept = batched_nms(&boxes, &scores, &groups, config.rpn_nms);
                kept.truncate(keep);
                kept.into_iter().map(|i| boxes[i]).collect()
            })
            .collect()
    }

    /// The box head on `regions[n]` of every image: features pooled from the level each
    /// region's size picks. Returns the category logits and deltas, `[R, K + 1]` and
    /// `[R, 4K]`, and for each row the (image, region) it belongs to.
    fn classify(
        &self,
        config: &DetectorConfig,
        levels: &[Tensor<4>],
        regions: &[Vec<BoxXyxy>],
    ) -> (Tensor<2>, Tensor<2>, Vec<(usize, usize)>) {
        let strides: Vec<f64> = config.levels.iter().map(|&s| s as f64).collect();
        let (canonical, at) = (config.canonical_size, config.canonical_stride as f64);
        let mut pooled = Vec::new();
        let mut order = Vec::new();
        for (l, map) in levels.iter().enumerate() {
            let mut per_image = vec![Vec::new(); regions.len()];
            for (image, boxes) in regions.iter().enumerate() {
                for (r, b) in boxes.iter().enumerate() {
                    if level_of(*b, &strides, canonical, at) == l {
                        per_image[image].push(*b);
                        order.push((image, r));
                    }
                }
            }
            if per_image.iter().any(|b| !b.is_empty()) {
                pooled.push(
                    config
                        .roi_align()
                        .forward(map.clone(), &per_image, strides[l]),
                );
            }
        }
        let x = Tensor::cat(pooled, 0);
        let [r, c, p, q] = x.dims();
        let x = x.reshape([r, c * p * q]);
        let x = relu(self.head.fc1.forward(x));
        let x = relu(self.head.fc2.forward(x));
        (
            self.head.classes.forward(x.clone()),
            self.head.deltas.forward(x),
            order,
        )
    }

    /// The training losses on a batch whose encoder `stages` (with their `(stride,
    /// channels)`) come from `[h, w]` images with ground truth `truth`; `rng` draws the
    /// sampled anchors and regions.
    pub fn losses(
        &self,
        config: &DetectorConfig,
        stages: Vec<Tensor<4>>,
        strides: &[(usize, usize)],
        size: [usize; 2],
        truth: &[Truth],
        rng: &mut SampleRng,
    ) -> Losses {
        let device = stages[0].device();
        let levels = self.levels(config, stages, strides);
        let proposals = self.propose(config, &levels);
        let n = truth.len();
        let m = proposals.anchors.len();
        // Proposal losses.
        let (mut picked, mut objectness, mut positive, mut targets) =
            (vec![], vec![], vec![], vec![]);
        for (image, t) in truth.iter().enumerate() {
            let labels = Matcher::RPN.assign(&proposals.anchors, &t.boxes, &t.crowd);
            let (objects, background) =
                sample(&labels, config.rpn_batch, config.rpn_positive_fraction, rng);
            for &i in &objects {
                let Match::Object(g) = labels[i] else {
                    continue;
                };
                picked.push(image * m + i);
                objectness.push(1.0f32);
                positive.push(image * m + i);
                targets.push(BoxCoder::RPN.encode(proposals.anchors[i], t.boxes[g]));
            }
            for &i in &background {
                picked.push(image * m + i);
                objectness.push(0.0);
            }
        }
        let normaliser = (n * config.rpn_batch) as f64;
        let logits = proposals
            .logits
            .clone()
            .reshape([n * m])
            .select(0, indices(&picked, &device));
        let y = Tensor::<1>::from_floats(objectness.as_slice(), &device);
        // BCE with logits: max(x, 0) − x·y + ln(1 + e^−|x|).
        let bce = logits.clone().clamp_min(0.0) - logits.clone() * y
            + (logits.abs().neg().exp() + 1.0).log();
        let rpn_objectness = bce.sum().div_scalar(normaliser);
        let rpn_boxes = l1(
            proposals.deltas.clone().reshape([n * m, 4]),
            &positive,
            &targets,
            normaliser,
        );
        // Box head losses on sampled proposals plus the ground truth.
        let mut regions = self.select_proposals(config, &proposals, size, config.post_nms_train);
        let mut labels = Vec::with_capacity(n);
        for (image, t) in truth.iter().enumerate() {
            let boxes = &mut regions[image];
            boxes.extend(
                (0..t.boxes.len())
                    .filter(|&g| !t.crowd[g])
                    .map(|g| t.boxes[g]),
            );
            let matches = Matcher::ROI.assign(boxes, &t.boxes, &t.crowd);
            let (objects, background) = sample(
                &matches,
                config.roi_batch,
                config.roi_positive_fraction,
                rng,
            );
            let mut kept: Vec<(BoxXyxy, Match)> = objects
                .iter()
                .chain(&background)
                .map(|&i| (boxes[i], matches[i]))
                .collect();
            kept.sort_by_key(|(_, m)| matches!(m, Match::Background));
            *boxes = kept.iter().map(|(b, _)| *b).collect();
            labels.push(kept.into_iter().map(|(_, m)| m).collect::<Vec<_>>());
        }
        if regions.iter().all(Vec::is_empty) {
            // No proposal and no object in any image: nothing for the box head to learn.
            let zero = rpn_objectness.clone().mul_scalar(0.0);
            return Losses {
                rpn_objectness,
                rpn_boxes,
                classes: zero.clone(),
                boxes: zero,
            };
        }
        let (class_logits, deltas, order) = self.classify(config, &levels, &regions);
        let k = config.classes;
        let (mut classes, mut rows, mut targets) = (vec![], vec![], vec![]);
        for (row, &(image, r)) in order.iter().enumerate() {
            match labels[image][r] {
                Match::Object(g) => {
                    let class = truth[image].classes[g];
                    classes.push(class as i64);
                    rows.push(row * k + class);
                    targets.push(BoxCoder::ROI.encode(regions[image][r], truth[image].boxes[g]));
                }
                _ => classes.push(k as i64),
            }
        }
        let count = order.len();
        let classes = Tensor::<1, Int>::from_data(TensorData::new(classes, [count]), &device);
        let log_probs = log_softmax(class_logits, 1);
        let ce = log_probs
            .gather(1, classes.reshape([count, 1]))
            .neg()
            .mean();
        let boxes = l1(
            deltas.reshape([count * k, 4]),
            &rows,
            &targets,
            count as f64,
        );
        Losses {
            rpn_objectness,
            rpn_boxes,
            classes: ce,
            boxes,
        }
    }

    /// The detections in each `[h, w]` image of a batch whose encoder `stages` are given:
    /// per category, boxes decoded from the top proposals, clipped, scoring above
    /// `score_threshold`, NMS at `nms` and the best `detections_per_image` of all categories.
    pub fn detect(
        &self,
        config: &DetectorConfig,
        stages: Vec<Tensor<4>>,
        strides: &[(usize, usize)],
        size: [usize; 2],
    ) -> Vec<Vec<Detection>> {
        let levels = self.levels(config, stages, strides);
        let proposals = self.propose(config, &levels);
        let regions = self.select_proposals(config, &proposals, size, config.post_nms_test);
        let n = regions.len();
        if regions.iter().all(Vec::is_empty) {
            return vec![Vec::new(); n];
        }
        let (logits, deltas, order) = self.classify(config, &levels, &regions);
        let probs = host(&softmax(logits, 1));
        let deltas = host(&deltas);
        let k = config.classes;
        let (height, width) = (size[0] as f64, size[1] as f64);
        let mut found: Vec<Vec<Detection>> = vec![Vec::new(); n];
        for (row, &(image, r)) in order.iter().enumerate() {
            for class in 0..k {
                let score = f64::from(probs[row * (k + 1) + class]);
                if score <= config.score_threshold {
                    continue;
                }
                let d = &deltas[(row * k + class) * 4..][..4];
                let t = [d[0], d[1], d[2], d[3]].map(f64::from);
                let bbox = clip(BoxCoder::ROI.decode(regions[image][r], t), width, height);
                if bbox.area() > 0.0 {
                    found[image].push(Detection { bbox, class, score });
                }
            }
        }
        found
            .into_iter()
            .map(|all| {
                let boxes: Vec<BoxXyxy> = all.iter().map(|d| d.bbox).collect();
                let scores: Vec<f64> = all.iter().map(|d| d.score).collect();
                let classes: Vec<usize> = all.iter().map(|d| d.class).collect();
                let mut kept = batched_nms(&boxes, &scores, &classes, config.nms);
                kept.truncate(config.detections_per_image);
                kept.into_iter().map(|i| all[i]).collect()
            })
            .collect()
    }
}

/// `Σ |pred[rows] − targets| / normaliser` (0 without rows, still attached to `pred`).
fn l1(pred: Tensor<2>, rows: &[usize], targets: &[[f64; 4]], normaliser: f64) -> Tensor<1> {
    let device = pred.device();
    if rows.is_empty() {
        return pred.sum().mul_scalar(0.0);
    }
    let picked = pred.select(0, indices(rows, &device));
    (picked - rows4(targets, &device))
        .abs()
        .sum()
        .div_scalar(normaliser.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{Architecture, EncoderConfig, Stem};
    use burn::optim::{AdamConfig, GradientsParams};

    /// A 32 × 32 grey image with a bright square per box, and its truth (category 0 for
    /// squares wider than 10 pixels, 1 otherwise).
    fn scene(squares: &[[usize; 3]]) -> (Vec<f32>, Truth) {
        let mut image = vec![0.1f32; 32 * 32];
        let mut truth = Truth::default();
        for &[x, y, side] in squares {
            for i in y..y + side {
                for j in x..x + side {
                    image[i * 32 + j] = 0.9;
                }
            }
            let b = BoxXyxy([x as f64, y as f64, (x + side) as f64, (y + side) as f64]);
            truth.boxes.push(b);
            truth.classes.push(usize::from(side <= 10));
            truth.crowd.push(false);
        }
        (image, truth)
    }

    fn small() -> (EncoderConfig, DetectorConfig) {
        let encoder = EncoderConfig {
            arch: Architecture::ConvnetSmall,
            width: 0.25,
            in_channels: 1,
            stem: Stem::Cifar,
            ..Default::default()
        };
        let config = DetectorConfig {
            classes: 2,
            levels: vec![4, 8],
            anchor_sizes: vec![8.0, 16.0],
            channels: 16,
            head_dim: 32,
            rpn_batch: 64,
            roi_batch: 32,
            canonical_size: 14.0,
            ..Default::default()
        };
        (encoder, config)
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let (encoder, mut config) = small();
        config.anchor_sizes.push(64.0);
        let err = Detector::new(&config, &encoder.stages(), &Device::flex()).unwrap_err();
        assert!(err.to_string().contains("method.anchor_sizes"), "{err}");
        let (_, mut config) = small();
        config.nms = 1.5;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("method.nms")
        );
        let (_, mut config) = small();
        config.levels = vec![64];
        config.anchor_sizes = vec![8.0];
        let err = Detector::new(&config, &encoder.stages(), &Device::flex()).unwrap_err();
        assert!(err.to_string().contains("no stage"), "{err}");
    }

    /// A few Adam steps on two scenes: every loss is finite and positive at the start, the
    /// total falls by more than half, and the trained detector finds each square with the
    /// right category (IoU ≥ 0.5) as its best detection of that category.
    #[test]
    fn learns_to_find_squares() {
        let device = Device::flex().autodiff();
        let (encoder_config, config) = small();
        let strides = encoder_config.stages();
        let encoder = crate::device::seeded(&device, 7, || encoder_config.init(&device));
        let detector = crate::device::seeded(&device, 7, || {
            Detector::new(&config, &strides, &device).expect("a valid detector")
        });
        let scenes = [
            scene(&[[2, 3, 14], [20, 18, 8]]),
            scene(&[[16, 2, 12], [4, 20, 9]]),
        ];
        let images: Vec<f32> = scenes.iter().flat_map(|(i, _)| i.clone()).collect();
        let truth: Vec<Truth> = scenes.iter().map(|(_, t)| t.clone()).collect();
        let x = Tensor::<1>::from_floats(images.as_slice(), &device).reshape([2, 1, 32, 32]);
        let mut model = (encoder, detector);
        let mut optim = AdamConfig::new().init();
        let mut rng = pretext_data::rng::sample_rng(0, 0, 0);
        let mut totals = Vec::new();
        for step in 0..150 {
            let stages = model.0.forward_stages(x.clone());
            let losses = model
                .1
                .losses(&config, stages, &strides, [32, 32], &truth, &mut rng);
            if step == 0 {
                for l in [
                    &losses.rpn_objectness,
                    &losses.rpn_boxes,
                    &losses.classes,
                    &losses.boxes,
                ] {
                    let v: f32 = l.clone().into_scalar();
                    assert!(v.is_finite() && v > 0.0, "{v}");
                }
            }
            let total = losses.total();
            totals.push(total.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(total.backward(), &model);
            model = optim.step(3e-3, model, grads);
        }
        let (first, last) = (totals[0], totals[totals.len() - 1]);
        assert!(last < 0.5 * first, "loss {first} → {last}");
        let (encoder, detector) = model.valid();
        let inference = device.clone().without_autodiff();
        let x = Tensor::<1>::from_floats(images.as_slice(), &inference).reshape([2, 1, 32, 32]);
        let found = detector.detect(&config, encoder.forward_stages(x), &strides, [32, 32]);
        for (detections, t) in found.iter().zip(&truth) {
            for (b, &class) in t.boxes.iter().zip(&t.classes) {
                let best = detections
                    .iter()
                    .filter(|d| d.class == class)
                    .max_by(|a, b| a.score.total_cmp(&b.score))
                    .map(|d| d.bbox.iou(*b));
                assert!(
                    best.is_some_and(|iou| iou >= 0.5),
                    "{b:?} class {class}: {detections:?}"
                );
            }
        }
    }
}

//! Box arithmetic of two-stage detectors: the regression parameterisation of R-CNN, clipping
//! and non-maximum suppression. Boxes are [`BoxXyxy`] in input pixels (continuous
//! coordinates, `x0 ≤ x < x1`), computed on the host: proposals and targets are not
//! differentiated in Faster R-CNN (Ren et al. 2015, §3.2, approximate joint training).

pub use pretext_data::annotations::BoxXyxy;

/// The largest `t_w`, `t_h` [`BoxCoder::decode`] applies: `ln(1000/16)`, detectron2's and
/// torchvision's bound, so that an untrained regressor cannot overflow `exp`.
pub const MAX_LOG_SCALE: f64 = 4.135_166_556_742_356;

/// R-CNN's box regression targets (Girshick et al. 2014, appendix C; Ren et al. 2015, eq. 2)
/// scaled by `weights` `(w_x, w_y, w_w, w_h)`:
///
/// `t_x = w_x (x − x_a)/w_a`, `t_y = w_y (y − y_a)/h_a`, `t_w = w_w ln(w/w_a)`,
/// `t_h = w_h ln(h/h_a)`,
///
/// where `(x, y)` is a box's centre, `(w, h)` its size and `a` the reference (anchor or
/// proposal). The region proposal network uses weights 1, the box head `(10, 10, 5, 5)`
/// (detectron2's and torchvision's defaults: targets of roughly unit variance).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxCoder {
    /// `(w_x, w_y, w_w, w_h)`.
    pub weights: [f64; 4],
}

/// Centre and size of a box.
fn centre_size(b: BoxXyxy) -> [f64; 4] {
    let [x0, y0, x1, y1] = b.0;
    let (w, h) = (x1 - x0, y1 - y0);
    [x0 + 0.5 * w, y0 + 0.5 * h, w, h]
}

impl BoxCoder {
    /// The region proposal network's coder (weights 1).
    pub const RPN: BoxCoder = BoxCoder { weights: [1.0; 4] };
    /// The box head's coder (weights 10, 10, 5, 5).
    pub const ROI: BoxCoder = BoxCoder {
        weights: [10.0, 10.0, 5.0, 5.0],
    };

    /// The targets `t` that move `reference` onto `target` (both of positive size).
    pub fn encode(&self, reference: BoxXyxy, target: BoxXyxy) -> [f64; 4] {
        let [xa, ya, wa, ha] = centre_size(reference);
        let [x, y, w, h] = centre_size(target);
        let [wx, wy, ww, wh] = self.weights;
        [
            wx * (x - xa) / wa,
            wy * (y - ya) / ha,
            ww * (w / wa).ln(),
            wh * (h / ha).ln(),
        ]
    }

    /// The box that `deltas` make of `reference`, the inverse of [`BoxCoder::encode`], with
    /// `t_w`, `t_h` capped at [`MAX_LOG_SCALE`].
    pub fn decode(&self, reference: BoxXyxy, deltas: [f64; 4]) -> BoxXyxy {
        let [xa, ya, wa, ha] = centre_size(reference);
        let [wx, wy, ww, wh] = self.weights;
        let x = xa + deltas[0] / wx * wa;
        let y = ya + deltas[1] / wy * ha;
        let w = wa * (deltas[2] / ww).min(MAX_LOG_SCALE).exp();
        let h = ha * (deltas[3] / wh).min(MAX_LOG_SCALE).exp();
        BoxXyxy([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h])
    }
}

/// `b` clipped to a `width` × `height` image.
pub fn clip(b: BoxXyxy, width: f64, height: f64) -> BoxXyxy {
    let [x0, y0, x1, y1] = b.0;
    BoxXyxy([
        x0.clamp(0.0, width),
        y0.clamp(0.0, height),
        x1.clamp(0.0, width),
        y1.clamp(0.0, height),
    ])
}

/// Greedy non-maximum suppression: the indices of `boxes` kept, by decreasing score, each
/// suppressing the lower-scored boxes whose IoU with it exceeds `threshold` (torchvision's
/// `nms`: ties in score keep the earlier box). NaN scores sort last.
pub fn nms(boxes: &[BoxXyxy], scores: &[f64], threshold: f64) -> Vec<usize> {
    batched_nms(boxes, scores, &vec![0; boxes.len()], threshold)
}

/// [`nms`] within each group (class): boxes of different `groups` never suppress each other
/// (torchvision's `batched_nms`). The kept indices come by decreasing score over all groups.
pub fn batched_nms(
    boxes: &[BoxXyxy],
    scores: &[f64],
    groups: &[usize],
    threshold: f64,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| {
            if scores[i].is_nan() {
                f64::NEG_INFINITY
            } else {
                scores[i]
            }
        };
        key(b).total_cmp(&key(a)).then(a.cmp(&b))
    });
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        let suppressed = kept
            .iter()
            .any(|&k| groups[k] == groups[i] && boxes[k].iou(boxes[i]) > threshold);
        if !suppressed {
            kept.push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encoding_by_hand() {
        // Anchor centred at (15, 25), 10 × 20; target centred at (20, 20), 20 × 10.
        let anchor = BoxXyxy([10.0, 15.0, 20.0, 35.0]);
        let target = BoxXyxy([10.0, 15.0, 30.0, 25.0]);
        let t = BoxCoder::RPN.encode(anchor, target);
        let expected = [0.5, -0.25, 2f64.ln(), 0.5f64.ln()];
        for (a, b) in t.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{t:?}");
        }
        let t = BoxCoder::ROI.encode(anchor, target);
        assert!((t[0] - 5.0).abs() < 1e-12 && (t[2] - 5.0 * 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn decoding_caps_the_scale() {
        let anchor = BoxXyxy([0.0, 0.0, 16.0, 16.0]);
        let b = BoxCoder::RPN.decode(anchor, [0.0, 0.0, 50.0, 0.0]);
        assert!((b.0[2] - b.0[0] - 1000.0).abs() < 1e-6, "{b:?}");
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_the_identity(
            ax in 0.0..100.0f64, ay in 0.0..100.0f64, aw in 1.0..50.0f64, ah in 1.0..50.0f64,
            bx in 0.0..100.0f64, by in 0.0..100.0f64, bw in 1.0..50.0f64, bh in 1.0..50.0f64,
            roi in proptest::bool::ANY,
        ) {
            let coder = if roi { BoxCoder::ROI } else { BoxCoder::RPN };
            let anchor = BoxXyxy([ax, ay, ax + aw, ay + ah]);
            let target = BoxXyxy([bx, by, bx + bw, by + bh]);
            let back = coder.decode(anchor, coder.encode(anchor, target));
            for (a, b) in back.0.iter().zip(target.0) {
                prop_assert!((a - b).abs() < 1e-9, "{:?} ≠ {:?}", back, target);
            }
        }
    }

    #[test]
    fn nms_keeps_the_best_of_each_overlapping_group() {
        let boxes = [
            BoxXyxy([0.0, 0.0, 10.0, 10.0]),  // 0.9
            BoxXyxy([1.0, 0.0, 11.0, 10.0]),  // 0.8: IoU 9/11 with box 0 → suppressed
            BoxXyxy([20.0, 0.0, 30.0, 10.0]), // 0.7: disjoint → kept
            BoxXyxy([5.0, 0.0, 15.0, 10.0]),  // 0.95: IoU 1/3 with box 0 → kept, first
        ];
        let scores = [0.9, 0.8, 0.7, 0.95];
        assert_eq!(nms(&boxes, &scores, 0.5), vec![3, 0, 2]);
        // At threshold 0.3 box 0 (IoU 1/3 with box 3) goes too; box 1 (IoU 3/7 with 3) too.
        assert_eq!(nms(&boxes, &scores, 0.3), vec![3, 2]);
        // Per class: box 1 in another class survives box 0.
        assert_eq!(
            batched_nms(&boxes, &scores, &[0, 1, 0, 0], 0.5),
            vec![3, 0, 1, 2]
        );
    }

    #[test]
    fn clipping_keeps_boxes_inside_the_image() {
        let b = clip(BoxXyxy([-3.0, 2.0, 40.0, 50.0]), 32.0, 48.0);
        assert_eq!(b, BoxXyxy([0.0, 2.0, 32.0, 48.0]));
    }
}

//! RoIAlign (He et al. 2017, Mask R-CNN, §3): a fixed `P × P` grid of features for every
//! region of interest, each bin the mean of bilinearly interpolated samples on a regular
//! grid inside it, with no rounding of coordinates. The half-pixel offset of detectron2's
//! `aligned = True` (torchvision's `aligned=True`) maps a box's continuous coordinates onto
//! the centres of the feature cells.
//!
//! The sampling is separable: a bin's mean over an `s_y × s_x` grid of bilinear weights is
//! the product of a mean over rows and a mean over columns, and a sample outside the map
//! (torchvision's rule: `y < −1`, `y > H`, `x < −1` or `x > W`) drops out in either factor.
//! So RoIAlign of a region is `W_y · F · W_xᵀ` with a `P × H` row-weight and a `P × W`
//! column-weight matrix, built on the host, and two matrix products on the device, whose
//! gradients burn's autodiff gives (exactly the transposed interpolation).

use super::boxes::BoxXyxy;
use burn::prelude::*;

/// How RoIAlign samples each bin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoiAlign {
    /// Output side `P` (7 for the box head, 14 for a mask head).
    pub output: usize,
    /// Samples per bin along each axis; 0 = adaptive, `⌈region side / P⌉` (detectron2's
    /// default `POOLER_SAMPLING_RATIO = 0`).
    pub sampling: usize,
}

impl RoiAlign {
    /// The `[P, len]` interpolation weights, row-major, along one axis of a map of `len`
    /// cells for a region spanning `[start, end)` in map units (already offset by −½).
    fn axis_weights(&self, start: f64, end: f64, len: usize) -> Vec<f32> {
        let p = self.output;
        let bin = (end - start) / p as f64;
        let samples = match self.sampling {
            0 => ((end - start) / p as f64).ceil().max(1.0) as usize,
            s => s,
        };
        let mut weights = vec![0.0f32; p * len];
        for i in 0..p {
            for s in 0..samples {
                let mut y = start + (i as f64 + (s as f64 + 0.5) / samples as f64) * bin;
                if y < -1.0 || y > len as f64 {
                    continue;
                }
                y = y.max(0.0);
                let mut low = y as usize;
                let high;
                if low >= len - 1 {
                    low = len - 1;
                    high = low;
                    y = low as f64;
                } else {
                    high = low + 1;
                }
                let frac = y - low as f64;
                weights[i * len + low] += ((1.0 - frac) / samples as f64) as f32;
                weights[i * len + high] += (frac / samples as f64) as f32;
            }
        }
        weights
    }

    /// The `[R, C, P, P]` features of the regions `rois[n]` of every image `n` of `features`
    /// (`[N, C, H, W]`, one cell spanning `stride` input pixels), images in order and each
    /// image's regions in order. An image without regions contributes none.
    pub fn forward(&self, features: Tensor<4>, rois: &[Vec<BoxXyxy>], stride: f64) -> Tensor<4> {
        let [n, c, h, w] = features.dims();
        assert_eq!(n, rois.len(), "one list of regions per image");
        let device = features.device();
        let p = self.output;
        let mut pooled = Vec::new();
        for (image, regions) in rois.iter().enumerate() {
            if regions.is_empty() {
                continue;
            }
            let r = regions.len();
            let (mut rows, mut cols) = (Vec::with_capacity(r * p * h), Vec::new());
            for b in regions {
                let [x0, y0, x1, y1] = b.0.map(|v| v / stride - 0.5);
                rows.extend(self.axis_weights(y0, y1, h));
                cols.extend(self.axis_weights(x0, x1, w));
            }
            let rows = Tensor::<1>::from_floats(rows.as_slice(), &device).reshape([r * p, h]);
            // [P, W] per region, transposed to [W, P] for the second product.
            let cols = Tensor::<1>::from_floats(cols.as_slice(), &device)
                .reshape([r, p, w])
                .swap_dims(1, 2);
            // [H, C·W] map of this image.
            let map = features
                .clone()
                .narrow(0, image, 1)
                .reshape([c, h, w])
                .swap_dims(0, 1)
                .reshape([h, c * w]);
            // [R·P, C·W] → [R, P·C, W] · [R, W, P] → [R, P, C, P] → [R, C, P, P].
            let along_rows = rows.matmul(map).reshape([r, p * c, w]);
            let out = along_rows
                .matmul(cols)
                .reshape([r, p, c, p])
                .swap_dims(1, 2);
            pooled.push(out);
        }
        if pooled.is_empty() {
            return Tensor::zeros([0, c, p, p], &device);
        }
        Tensor::cat(pooled, 0)
    }
}

/// The pyramid level (index into `strides`, finest first) that pools a region: FPN's
/// equation 1 (Lin et al. 2017), `k = ⌊k₀ + log₂(√(wh) / canonical)⌋`, where a region of side
/// `canonical` pixels maps to the level of stride `canonical_stride` (224 and 16 in the
/// paper, for ImageNet-size objects), clamped to the levels there are.
pub fn level_of(b: BoxXyxy, strides: &[f64], canonical: f64, canonical_stride: f64) -> usize {
    let side = b.area().sqrt().max(1e-6);
    let target = canonical_stride * (side / canonical).log2().floor().exp2();
    strides
        .iter()
        .position(|&s| s >= target - 1e-9)
        .unwrap_or(strides.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct RoIAlign of torchvision's `roi_align_forward_kernel_impl` (aligned, fixed
    /// sampling), one bilinear sample at a time: the reference for the separable product.
    fn direct(
        map: &[f32],
        h: usize,
        w: usize,
        b: BoxXyxy,
        stride: f64,
        p: usize,
        s: usize,
    ) -> Vec<f32> {
        let [x0, y0, x1, y1] = b.0.map(|v| v / stride - 0.5);
        let (bh, bw) = ((y1 - y0) / p as f64, (x1 - x0) / p as f64);
        let mut out = vec![0.0f32; p * p];
        for i in 0..p {
            for j in 0..p {
                let mut sum = 0.0;
                for sy in 0..s {
                    for sx in 0..s {
                        let mut y = y0 + (i as f64 + (sy as f64 + 0.5) / s as f64) * bh;
                        let mut x = x0 + (j as f64 + (sx as f64 + 0.5) / s as f64) * bw;
                        if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
                            continue;
                        }
                        y = y.max(0.0);
                        x = x.max(0.0);
                        let (mut yl, mut xl) = (y as usize, x as usize);
                        let (yh, xh);
                        if yl >= h - 1 {
                            yl = h - 1;
                            yh = yl;
                            y = yl as f64;
                        } else {
                            yh = yl + 1;
                        }
                        if xl >= w - 1 {
                            xl = w - 1;
                            xh = xl;
                            x = xl as f64;
                        } else {
                            xh = xl + 1;
                        }
                        let (ly, lx) = (y - yl as f64, x - xl as f64);
                        let v = |yy: usize, xx: usize| map[yy * w + xx] as f64;
                        sum += (1.0 - ly) * (1.0 - lx) * v(yl, xl)
                            + (1.0 - ly) * lx * v(yl, xh)
                            + ly * (1.0 - lx) * v(yh, xl)
                            + ly * lx * v(yh, xh);
                    }
                }
                out[i * p + j] = (sum / (s * s) as f64) as f32;
            }
        }
        out
    }

    fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec().unwrap()
    }

    /// On a map that is linear in the cell position, `v = 10·y + x`, an interior bin is the
    /// value at the bin's centre: a box [2, 2, 6, 6] at stride 1 pooled 2 × 2 covers cells
    /// 1.5–5.5 (after the −½), bins centred at 2.5 and 4.5.
    #[test]
    fn pools_a_linear_map_to_its_bin_centres() {
        let device = Device::flex();
        let map: Vec<f32> = (0..64).map(|k| (10 * (k / 8) + k % 8) as f32).collect();
        let features = Tensor::<1>::from_floats(map.as_slice(), &device).reshape([1, 1, 8, 8]);
        let align = RoiAlign {
            output: 2,
            sampling: 2,
        };
        let out = floats(align.forward(features, &[vec![BoxXyxy([2.0, 2.0, 6.0, 6.0])]], 1.0));
        let expected = [27.5, 29.5, 47.5, 49.5];
        for (a, b) in out.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
        // At stride 2 the same box covers map cells 0.5–2.5: centres 1 and 2.
        let features = Tensor::<1>::from_floats(map.as_slice(), &device).reshape([1, 1, 8, 8]);
        let out = floats(align.forward(features, &[vec![BoxXyxy([2.0, 2.0, 6.0, 6.0])]], 2.0));
        for (a, b) in out.iter().zip([11.0, 12.0, 21.0, 22.0]) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
    }

    /// Boxes over the border, several images and channels, adaptive and fixed sampling:
    /// the separable products equal the sample-by-sample reference.
    #[test]
    fn equals_sample_by_sample_interpolation() {
        let device = Device::flex();
        let (n, c, h, w) = (2, 3, 6, 7);
        let values: Vec<f32> = (0..n * c * h * w)
            .map(|k| ((k * 37 % 101) as f32) / 10.0)
            .collect();
        let features = Tensor::<1>::from_floats(values.as_slice(), &device).reshape([n, c, h, w]);
        let rois = vec![
            vec![
                BoxXyxy([-3.0, 1.0, 9.5, 7.0]),
                BoxXyxy([4.0, 4.0, 4.5, 13.0]),
            ],
            vec![BoxXyxy([10.0, 8.0, 15.0, 13.0])],
        ];
        for (sampling, s) in [(2, 2), (3, 3)] {
            let align = RoiAlign {
                output: 3,
                sampling,
            };
            let out = floats(align.forward(features.clone(), &rois, 2.0));
            let mut k = 0;
            for (image, regions) in rois.iter().enumerate() {
                for b in regions {
                    for ch in 0..c {
                        let start = (image * c + ch) * h * w;
                        let expected = direct(&values[start..start + h * w], h, w, *b, 2.0, 3, s);
                        for (i, e) in expected.iter().enumerate() {
                            let got = out[k * c * 9 + ch * 9 + i];
                            assert!((got - e).abs() < 1e-4, "sampling {sampling}: {got} ≠ {e}");
                        }
                    }
                    k += 1;
                }
            }
        }
    }

    /// The gradient with respect to the features, from burn's autodiff of the two products,
    /// against central finite differences of `Σ out ⊙ c`.
    #[test]
    fn gradient_matches_finite_differences() {
        let device = Device::flex().autodiff();
        let (h, w) = (5, 6);
        let values: Vec<f32> = (0..2 * h * w)
            .map(|k| ((k * 13 % 17) as f32) / 4.0)
            .collect();
        let rois = vec![
            vec![BoxXyxy([0.5, -1.0, 9.0, 7.0])],
            vec![BoxXyxy([3.0, 2.0, 11.5, 10.0])],
        ];
        let align = RoiAlign {
            output: 2,
            sampling: 0,
        };
        let coefficients =
            Tensor::<1>::from_floats([1.0, -2.0, 0.5, 3.0, -1.5, 2.5, 0.25, -0.75], &device)
                .reshape([2, 1, 2, 2]);
        let loss = |v: &[f32]| -> Tensor<1> {
            let f = Tensor::<1>::from_floats(v, &device)
                .reshape([2, 1, h, w])
                .require_grad();
            (align.forward(f, &rois, 1.5) * coefficients.clone()).sum()
        };
        let f = Tensor::<1>::from_floats(values.as_slice(), &device)
            .reshape([2, 1, h, w])
            .require_grad();
        let out = (align.forward(f.clone(), &rois, 1.5) * coefficients.clone()).sum();
        let grads = out.backward();
        let analytic = floats(f.grad(&grads).expect("the features have a gradient"));
        let eps = 0.01;
        let mut nonzero = 0;
        for k in 0..values.len() {
            let (mut up, mut down) = (values.clone(), values.clone());
            up[k] += eps;
            down[k] -= eps;
            let numeric =
                (loss(&up).into_scalar::<f32>() - loss(&down).into_scalar::<f32>()) / (2.0 * eps);
            assert!(
                (numeric - analytic[k]).abs() < 2e-3,
                "cell {k}: {numeric} ≠ {}",
                analytic[k]
            );
            nonzero += usize::from(analytic[k].abs() > 1e-3);
        }
        assert!(nonzero > 10, "the regions reach many cells");
    }

    #[test]
    fn levels_follow_the_box_scale() {
        let strides = [4.0, 8.0, 16.0];
        let side = |s: f64| BoxXyxy([0.0, 0.0, s, s]);
        // Canonical 32 px at stride 8: 16–31 px → 4, 32–63 → 8, 64+ → 16.
        assert_eq!(level_of(side(20.0), &strides, 32.0, 8.0), 0);
        assert_eq!(level_of(side(32.0), &strides, 32.0, 8.0), 1);
        assert_eq!(level_of(side(63.0), &strides, 32.0, 8.0), 1);
        assert_eq!(level_of(side(200.0), &strides, 32.0, 8.0), 2);
        assert_eq!(level_of(side(3.0), &strides, 32.0, 8.0), 0);
    }
}

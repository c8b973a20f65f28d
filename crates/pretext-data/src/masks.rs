//! Inpainting masks and loss weights of Context Encoders (Pathak, Krähenbühl, Donahue,
//! Darrell & Efros 2016, "Context Encoders: Feature Learning by Inpainting", CVPR, §3.3).
//!
//! The paper removes a region of the image and trains the network to fill it in from its
//! surroundings. §3.3 compares three shapes of region: a central square
//! ([`central_square`]), random blocks ([`random_blocks`]) and random regions
//! ([`random_region`]); [`MaskConfig`] selects one with fractions that scale to any image
//! size. [`apply`] erases the masked pixels and [`loss_weights`] gives the per-pixel weights
//! of the reconstruction loss, including the paper's heavier-weighted overlap band.

use crate::augment::{below, resize};
use crate::{DataError, Image};
use rand::Rng;

/// A binary inpainting mask: which pixels of a `height × width` image are hidden from the
/// network (the *hole*; Pathak et al. 2016, §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `height * width` flags in row-major order; `true` = hidden (to be predicted).
    pub hole: Vec<bool>,
}

impl Mask {
    /// A mask with no hole.
    pub fn empty(height: usize, width: usize) -> Self {
        Mask {
            height,
            width,
            hole: vec![false; height * width],
        }
    }

    /// Number of hole pixels.
    pub fn hole_pixels(&self) -> usize {
        self.hole.iter().filter(|&&h| h).count()
    }

    /// Fraction of the image inside the hole, in `[0, 1]` (0 for an empty image).
    pub fn coverage(&self) -> f64 {
        if self.hole.is_empty() {
            0.0
        } else {
            self.hole_pixels() as f64 / self.hole.len() as f64
        }
    }

    /// Whether pixel (`y`, `x`) is in the hole (`false` outside the mask).
    #[cfg(test)] // a reference the tests check the library against
    pub fn is_hole(&self, y: usize, x: usize) -> bool {
        y < self.height && x < self.width && self.hole[y * self.width + x]
    }

    /// Marks the `side × side` square with top-left corner (`x`, `y`) as hole, clipped to the
    /// mask.
    fn fill_square(&mut self, x: usize, y: usize, side: usize) {
        for row in y..(y + side).min(self.height) {
            let start = row * self.width;
            self.hole[start + x.min(self.width)..start + (x + side).min(self.width)].fill(true);
        }
    }
}

/// The paper's central-region mask (Pathak et al. 2016, §3.3, "Central region"): a
/// `hole_side × hole_side` square in the middle of the image (top-left corner at
/// `((width − side) / 2, (height − side) / 2)`, rounded down; the side is clipped to the
/// image). The paper's reference code predicts the central 64×64 of a 128×128 image; see
/// [`loss_weights`] for how its overlap maps onto this mask.
pub fn central_square(height: usize, width: usize, hole_side: usize) -> Mask {
    let side = hole_side.min(height).min(width);
    let mut mask = Mask::empty(height, width);
    mask.fill_square((width - side) / 2, (height - side) / 2, side);
    mask
}

/// The paper's random-block mask (Pathak et al. 2016, §3.3, "Random block": "we remove a
/// number of smaller possibly overlapping masks, covering up to 1/4 of the image"): squares
/// of `block_side` (clipped to `[1, min(height, width)]`) placed uniformly inside the image,
/// possibly overlapping, until the hole covers `coverage` (clamped to `[0, 1]`) of the area.
///
/// The last block is added only if that brings the hole area closer to the target than
/// stopping would, so the achieved coverage is within about half a block's area of the
/// target and unbiased on average. After 100 tries per block of target area without reaching
/// the target (a practically impossible event except for targets near 1) the mask is
/// returned as is. A coverage of 1 gives a full mask without drawing.
///
/// Random draws, per try: the block's top row, then its left column.
pub fn random_blocks<R: Rng + ?Sized>(
    height: usize,
    width: usize,
    block_side: usize,
    coverage: f64,
    rng: &mut R,
) -> Mask {
    let mut mask = Mask::empty(height, width);
    let n = height * width;
    let target = target_pixels(n, coverage);
    if target >= n {
        mask.hole.fill(true);
        return mask;
    }
    if target == 0 {
        return mask;
    }
    let side = block_side.clamp(1, height.min(width));
    let max_tries = 100 * target.div_ceil(side * side) + 100;
    let mut count = 0;
    for _ in 0..max_tries {
        if count >= target {
            break;
        }
        let y = below(rng, height - side + 1);
        let x = below(rng, width - side + 1);
        let new = (y..y + side)
            .map(|r| {
                mask.hole[r * width + x..r * width + x + side]
                    .iter()
                    .filter(|&&h| !h)
                    .count()
            })
            .sum::<usize>();
        if new == 0 {
            continue;
        }
        if count + new > target && count + new - target > target - count {
            break;
        }
        mask.fill_square(x, y, side);
        count += new;
    }
    mask
}

/// `round(coverage · n)` with `coverage` clamped to `[0, 1]` (NaN counts as 0).
fn target_pixels(n: usize, coverage: f64) -> usize {
    let c = if coverage.is_nan() {
        0.0
    } else {
        coverage.clamp(0.0, 1.0)
    };
    ((c * n as f64).round() as usize).min(n)
}

/// Number of uniform noise samples along the longer side of the image in
/// [`random_region`]: 8, from the reference code's `res = 0.06` (one noise sample per
/// 1/0.06 ≈ 16.7 pixels, i.e. 7.68 samples across the 128-pixel training image).
pub const REGION_NOISE_CELLS: usize = 8;

/// The paper's random-region mask (Pathak et al. 2016, §3.3, "Random region": arbitrary
/// shapes, "covering up to 1/4 of the image"): a low-resolution field of uniform noise is
/// upsampled bilinearly ([`resize`]) to the image size and the
/// `round(coverage · height · width)` lowest values become the hole — a threshold at the
/// `coverage` quantile, so the coverage is exact (ties broken by pixel order).
///
/// The noise field has [`REGION_NOISE_CELLS`] samples along the longer side and
/// proportionally many (at least 2) along the shorter, matching the reference code's
/// resolution relative to its 128-pixel images at any image size. The reference code
/// (`train_random.lua`) instead thresholds a bicubically upsampled 600×600 noise field at
/// 0.25 once, crops 128×128 windows from it and keeps the first window whose hole covers
/// 20–30 % of the area; the quantile threshold gives the target coverage directly.
///
/// Random draws: one `f32` per noise sample, row-major.
pub fn random_region<R: Rng + ?Sized>(
    height: usize,
    width: usize,
    coverage: f64,
    rng: &mut R,
) -> Mask {
    let mut mask = Mask::empty(height, width);
    let n = height * width;
    if n == 0 {
        return mask;
    }
    let long = height.max(width);
    let cells = |side: usize| ((REGION_NOISE_CELLS * side + long / 2) / long).max(2);
    let (gh, gw) = (cells(height), cells(width));
    let noise = Image {
        channels: 1,
        height: gh,
        width: gw,
        data: (0..gh * gw).map(|_| rng.random::<f32>()).collect(),
    };
    let field = resize(&noise, width, height);
    let mut order: Vec<usize> = (0..n).collect();
    // Stable: equal values keep pixel order, so the result is deterministic.
    order.sort_by(|&a, &b| field.data[a].total_cmp(&field.data[b]));
    for &i in &order[..target_pixels(n, coverage)] {
        mask.hole[i] = true;
    }
    mask
}

/// Erases the hole of `mask` from `image` (Pathak et al. 2016, §3: the masked region is
/// "filled with the mean value", the reference code using the dataset's per-channel mean):
/// every hole pixel of channel `c` is set to `fill[c]`. An empty `fill` means 0; a shorter
/// one is used cyclically (`fill[c % len]`, so one value serves every channel), as in
/// [`normalize`](crate::augment::normalize). Pixels outside the mask's extent (when the
/// shapes differ, which is a caller bug) are left unchanged.
pub fn apply(image: &Image, mask: &Mask, fill: &[f32]) -> Image {
    debug_assert_eq!((image.height, image.width), (mask.height, mask.width));
    let mut out = image.clone();
    let n = image.height * image.width;
    if n == 0 {
        return out;
    }
    let rows = image.height.min(mask.height);
    let cols = image.width.min(mask.width);
    for (c, plane) in out.data.chunks_exact_mut(n).enumerate() {
        let value = if fill.is_empty() {
            0.0
        } else {
            fill[c % fill.len()]
        };
        for y in 0..rows {
            let hole = &mask.hole[y * mask.width..y * mask.width + cols];
            let row = &mut plane[y * image.width..y * image.width + cols];
            for (v, &h) in row.iter_mut().zip(hole) {
                if h {
                    *v = value;
                }
            }
        }
    }
    out
}

/// Per-pixel weights of the reconstruction loss with the paper's overlap (Pathak et al. 2016,
/// §3.3 and implementation details: "we predict a slightly larger patch that overlaps with the
/// context region by 4px" with a "10× higher weight" on the overlap): `1` on the hole,
/// `overlap_weight` (paper: 10) on the band of context pixels within `overlap` pixels of the
/// hole (paper: 4; Chebyshev distance, so a square hole's band is a square ring and its
/// corners are included), `0` elsewhere. Row-major, `height · width` values; multiply by the
/// per-pixel squared error and the loss's own weight (paper: 0.999 L2 + 0.001 adversarial).
///
/// # Convention
///
/// The reference code (`train.lua`) predicts the central 64×64 of a 128×128 image but erases
/// only its inner 56×56 (`64 − 2·overlapPred`) from the input: the outer 4-pixel ring of the
/// predicted square is visible context, and carries 10× the L2 weight of the inner part. Two
/// equivalent descriptions follow: the mask is the predicted square and the erased hole is it
/// shrunk by `overlap`, or the mask is the erased hole and the predicted region is it grown by
/// `overlap`. This crate uses the second, clearer one: a [`Mask`] is always exactly what
/// [`apply`] erases, and the band lies outside it. `central_square(128, 128, 56)` with
/// `overlap = 4` reproduces the reference exactly (predicted region = the central 64×64);
/// [`MaskConfig::sample`] does this from `hole_fraction = 0.5`. The random-mask reference
/// (`train_random.lua`) predicts the whole image and weights *all* context by 10; an
/// `overlap` of at least `max(height, width)` reproduces that.
pub fn loss_weights(mask: &Mask, overlap: usize, overlap_weight: f32) -> Vec<f32> {
    let near = dilate(mask, overlap);
    mask.hole
        .iter()
        .zip(&near)
        .map(|(&hole, &near)| {
            if hole {
                1.0
            } else if near {
                overlap_weight
            } else {
                0.0
            }
        })
        .collect()
}

/// Pixels within Chebyshev distance `radius` of a hole pixel (the hole included): a square
/// dilation, done separably with running counts (linear time whatever the radius).
fn dilate(mask: &Mask, radius: usize) -> Vec<bool> {
    let (h, w) = (mask.height, mask.width);
    if h == 0 || w == 0 {
        return Vec::new();
    }
    // Horizontal pass: any hole in columns x − radius ..= x + radius of the same row.
    let mut rows = vec![false; h * w];
    let mut prefix = vec![0usize; w.max(h) + 1];
    for y in 0..h {
        let line = &mask.hole[y * w..(y + 1) * w];
        for x in 0..w {
            prefix[x + 1] = prefix[x] + usize::from(line[x]);
        }
        for x in 0..w {
            let lo = x.saturating_sub(radius);
            let hi = (x.saturating_add(radius) + 1).min(w);
            rows[y * w + x] = prefix[hi] > prefix[lo];
        }
    }
    // Vertical pass over the horizontal result.
    let mut out = vec![false; h * w];
    for x in 0..w {
        for y in 0..h {
            prefix[y + 1] = prefix[y] + usize::from(rows[y * w + x]);
        }
        for y in 0..h {
            let lo = y.saturating_sub(radius);
            let hi = (y.saturating_add(radius) + 1).min(h);
            out[y * w + x] = prefix[hi] > prefix[lo];
        }
    }
    out
}

/// The three mask shapes compared in Pathak et al. 2016, §3.3 (Fig. 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskKind {
    /// A centred square ([`central_square`]); the paper's main setting.
    #[default]
    CentralSquare,
    /// Possibly overlapping random squares ([`random_blocks`]).
    RandomBlocks,
    /// Thresholded smooth noise ([`random_region`]); the paper's choice for feature learning.
    RandomRegion,
}

/// A serialisable inpainting-mask recipe (Pathak et al. 2016, §3.3) whose sizes are fractions
/// of the image, so one configuration serves any resolution. Defaults reproduce the paper at
/// 128×128: a central square predicting the middle 64×64 with a 4-pixel overlap weighted 10×;
/// random masks cover 1/4 of the image. Deserialising rejects unknown fields; missing fields
/// take the defaults.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskConfig {
    /// Which mask shape to sample.
    pub kind: MaskKind,
    /// Central square: side of the *predicted* square (hole plus overlap band) as a fraction
    /// of the shorter image side (default 0.5, the reference code's 64 of 128); the erased
    /// hole is `2·overlap` pixels smaller (56 of 128), see [`loss_weights`].
    pub hole_fraction: f64,
    /// Random blocks and regions: fraction of the area erased (default 0.25, the paper's
    /// "up to 1/4 of the image").
    pub coverage: f64,
    /// Random blocks: side of each block as a fraction of the shorter image side (default
    /// 0.125, 16 px at 128; the paper gives no size, only "smaller" masks).
    pub block_fraction: f64,
    /// Width of the overlap band as a fraction of the shorter image side (default
    /// 4/128 = 0.03125, the paper's 4 pixels at 128; 1 px at 32, 3 px at 96). See
    /// [`MaskConfig::overlap_pixels`].
    pub overlap_fraction: f64,
    /// Loss weight of the overlap band relative to the hole (default 10, as in the paper).
    pub overlap_weight: f32,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            kind: MaskKind::CentralSquare,
            hole_fraction: 0.5,
            coverage: 0.25,
            block_fraction: 0.125,
            overlap_fraction: 4.0 / 128.0,
            overlap_weight: 10.0,
        }
    }
}

impl MaskConfig {
    /// Checks that the fractions lie in their ranges (`hole_fraction` and `block_fraction` in
    /// `(0, 1]`, `coverage` in `[0, 1]`, `overlap_fraction` in `[0, 0.5)`) and that
    /// `overlap_weight` is finite and non-negative.
    pub fn validate(&self) -> Result<(), DataError> {
        let err = |m: String| Err(DataError::Spec(format!("inpainting mask: {m}")));
        for (name, v) in [
            ("hole_fraction", self.hole_fraction),
            ("block_fraction", self.block_fraction),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return err(format!("{name} must be in (0, 1], got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.coverage) {
            return err(format!("coverage must be in [0, 1], got {}", self.coverage));
        }
        if !(0.0..0.5).contains(&self.overlap_fraction) {
            return err(format!(
                "overlap_fraction must be in [0, 0.5), got {}",
                self.overlap_fraction
            ));
        }
        if !(self.overlap_weight >= 0.0 && self.overlap_weight.is_finite()) {
            return err(format!(
                "overlap_weight must be finite and non-negative, got {}",
                self.overlap_weight
            ));
        }
        Ok(())
    }

    /// `round(fraction · min(height, width))` in pixels (at least 1 for a positive fraction
    /// of a non-empty image).
    fn pixels(fraction: f64, height: usize, width: usize) -> usize {
        let short = height.min(width);
        let v = (fraction.max(0.0) * short as f64).round() as usize;
        if fraction > 0.0 && short > 0 {
            v.clamp(1, short)
        } else {
            v.min(short)
        }
    }

    /// The overlap band's width in pixels for a `height × width` image:
    /// `round(overlap_fraction · min(height, width))` (4 at 128 by default), 0 when the
    /// fraction is 0.
    pub fn overlap_pixels(&self, height: usize, width: usize) -> usize {
        if self.overlap_fraction > 0.0 {
            let short = height.min(width) as f64;
            (self.overlap_fraction * short).round() as usize
        } else {
            0
        }
    }

    /// Samples a mask for a `height × width` image (Pathak et al. 2016, §3.3):
    ///
    /// * [`MaskKind::CentralSquare`]: [`central_square`] with side
    ///   `round(hole_fraction · min(height, width)) − 2·overlap` (no draw), so that the hole
    ///   plus its overlap band is the reference code's predicted square;
    /// * [`MaskKind::RandomBlocks`]: [`random_blocks`] with blocks of
    ///   `round(block_fraction · min(height, width))` pixels and `coverage`;
    /// * [`MaskKind::RandomRegion`]: [`random_region`] with `coverage`.
    ///
    /// Out-of-range values are clamped rather than rejected; call
    /// [`MaskConfig::validate`] once when loading the configuration.
    pub fn sample<R: Rng + ?Sized>(&self, height: usize, width: usize, rng: &mut R) -> Mask {
        match self.kind {
            MaskKind::CentralSquare => {
                let predicted = Self::pixels(self.hole_fraction, height, width);
                let side = predicted.saturating_sub(2 * self.overlap_pixels(height, width));
                central_square(height, width, side)
            }
            MaskKind::RandomBlocks => {
                let side = Self::pixels(self.block_fraction, height, width);
                random_blocks(height, width, side, self.coverage, rng)
            }
            MaskKind::RandomRegion => random_region(height, width, self.coverage, rng),
        }
    }

    /// [`loss_weights`] for `mask` with this configuration's overlap band
    /// ([`MaskConfig::overlap_pixels`]) and `overlap_weight`.
    pub fn loss_weights(&self, mask: &Mask) -> Vec<f32> {
        loss_weights(
            mask,
            self.overlap_pixels(mask.height, mask.width),
            self.overlap_weight,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::sample_rng;

    #[test]
    fn masks_central_square_is_exact() {
        let m = central_square(128, 128, 64);
        assert_eq!(m.hole_pixels(), 64 * 64);
        assert_eq!(m.coverage(), 0.25);
        for y in 0..128 {
            for x in 0..128 {
                let inside = (32..96).contains(&y) && (32..96).contains(&x);
                assert_eq!(m.is_hole(y, x), inside, "({y}, {x})");
            }
        }
        let odd = central_square(10, 7, 3);
        assert_eq!(odd.hole_pixels(), 9);
        assert!(odd.is_hole(3, 2) && odd.is_hole(5, 4) && !odd.is_hole(6, 4));
        assert_eq!(central_square(5, 8, 20).hole_pixels(), 25);
        assert_eq!(central_square(0, 0, 3).coverage(), 0.0);
    }

    #[test]
    fn masks_random_blocks_coverage() {
        for (h, w, side, target) in [
            (128, 128, 16, 0.25),
            (32, 32, 4, 0.25),
            (64, 48, 8, 0.1),
            (96, 96, 12, 0.4),
        ] {
            let mut total = 0.0;
            let runs = 200;
            for i in 0..runs {
                let m = random_blocks(h, w, side, target, &mut sample_rng(1, 0, i));
                let c = m.coverage();
                let block = (side * side) as f64 / (h * w) as f64;
                assert!((c - target).abs() <= block / 2.0 + 1e-9, "{c} vs {target}");
                assert!((c - target).abs() <= 0.03, "{c} vs {target}");
                total += c;
            }
            let mean = total / runs as f64;
            assert!((mean - target).abs() < 0.01, "mean {mean} vs {target}");
        }
        assert_eq!(
            random_blocks(8, 8, 3, 0.0, &mut sample_rng(0, 0, 0)).coverage(),
            0.0
        );
        assert_eq!(
            random_blocks(8, 8, 3, 1.0, &mut sample_rng(0, 0, 0)).coverage(),
            1.0
        );
        // Blocks larger than the image are clipped.
        let big = random_blocks(6, 9, 50, 0.5, &mut sample_rng(0, 0, 0));
        assert_eq!(big.hole_pixels(), 36);
    }

    #[test]
    fn masks_random_blocks_are_unions_of_squares() {
        // Every hole pixel belongs to a full side×side square of hole pixels.
        let (h, w, side) = (40, 40, 6);
        let m = random_blocks(h, w, side, 0.25, &mut sample_rng(2, 0, 0));
        let full =
            |y: usize, x: usize| (y..y + side).all(|r| (x..x + side).all(|c| m.is_hole(r, c)));
        for y in 0..h {
            for x in 0..w {
                if m.is_hole(y, x) {
                    let covered = (y.saturating_sub(side - 1)..=y.min(h - side)).any(|ty| {
                        (x.saturating_sub(side - 1)..=x.min(w - side)).any(|tx| full(ty, tx))
                    });
                    assert!(covered, "({y}, {x})");
                }
            }
        }
    }

    #[test]
    fn masks_random_region_coverage_and_shape() {
        for (h, w, target) in [
            (128, 128, 0.25),
            (32, 32, 0.25),
            (30, 50, 0.2),
            (64, 64, 0.3),
        ] {
            let mut total = 0.0;
            for i in 0..100 {
                let m = random_region(h, w, target, &mut sample_rng(3, 0, i));
                let c = m.coverage();
                assert!((c - target).abs() <= 0.5 / (h * w) as f64 + 1e-12, "{c}");
                total += c;
            }
            assert!((total / 100.0 - target).abs() < 0.03);
        }
        // Smooth regions: far fewer hole/context transitions than a random pixel mask.
        let m = random_region(128, 128, 0.25, &mut sample_rng(4, 0, 0));
        let edges = (0..128)
            .flat_map(|y| (1..128).map(move |x| (y, x)))
            .filter(|&(y, x)| m.is_hole(y, x) != m.is_hole(y, x - 1))
            .count();
        assert!(edges < 128 * 127 / 20, "{edges} transitions");
        // Different seeds give different regions; the same seed the same one.
        let a = random_region(64, 64, 0.25, &mut sample_rng(5, 0, 0));
        let b = random_region(64, 64, 0.25, &mut sample_rng(5, 0, 0));
        let c = random_region(64, 64, 0.25, &mut sample_rng(5, 0, 1));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            random_region(0, 5, 0.25, &mut sample_rng(0, 0, 0)).coverage(),
            0.0
        );
    }

    #[test]
    fn masks_apply_fills_exactly_the_hole() {
        let (h, w) = (20, 24);
        let mut rng = sample_rng(6, 0, 0);
        let image = Image {
            channels: 3,
            height: h,
            width: w,
            data: (0..3 * h * w).map(|_| rng.random::<f32>()).collect(),
        };
        let mask = random_region(h, w, 0.25, &mut rng);
        let fill = [0.485, 0.456, 0.406];
        let out = apply(&image, &mask, &fill);
        for (c, &value) in fill.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    let expected = if mask.is_hole(y, x) {
                        value
                    } else {
                        image.at(c, y, x)
                    };
                    assert_eq!(out.at(c, y, x), expected);
                }
            }
        }
        let one = apply(&image, &mask, &[0.5]);
        assert!((0..3).all(|c| one.at(c, 10, 12)
            == if mask.is_hole(10, 12) {
                0.5
            } else {
                image.at(c, 10, 12)
            }));
        let zero = apply(&image, &central_square(h, w, 4), &[]);
        assert_eq!(zero.at(2, 10, 12), 0.0);
    }

    #[test]
    fn masks_overlap_band_of_central_square() {
        // The reference setting: 56×56 erased, 4-px band, predicted 64×64.
        let mask = central_square(128, 128, 56);
        let weights = loss_weights(&mask, 4, 10.0);
        assert_eq!(weights.len(), 128 * 128);
        let ones = weights.iter().filter(|&&v| v == 1.0).count();
        let band = weights.iter().filter(|&&v| v == 10.0).count();
        let zeros = weights.iter().filter(|&&v| v == 0.0).count();
        assert_eq!(ones, 56 * 56);
        assert_eq!(band, 64 * 64 - 56 * 56);
        assert_eq!(zeros, 128 * 128 - 64 * 64);
        for y in 0..128 {
            for x in 0..128 {
                let predicted = (32..96).contains(&y) && (32..96).contains(&x);
                assert_eq!(weights[y * 128 + x] > 0.0, predicted, "({y}, {x})");
            }
        }
        // A band clipped by the image border, and no overlap at all.
        let corner = Mask {
            height: 10,
            width: 10,
            hole: (0..100).map(|i| i / 10 < 3 && i % 10 < 3).collect(),
        };
        let w = loss_weights(&corner, 2, 5.0);
        assert_eq!(w.iter().filter(|&&v| v == 5.0).count(), 5 * 5 - 3 * 3);
        assert_eq!(
            loss_weights(&mask, 0, 10.0)
                .iter()
                .filter(|&&v| v == 10.0)
                .count(),
            0
        );
        // An overlap covering the whole image weights all context (train_random.lua).
        let all = loss_weights(&corner, 10, 10.0);
        assert_eq!(all.iter().filter(|&&v| v == 10.0).count(), 100 - 9);
    }

    #[test]
    fn masks_config_defaults_reproduce_the_reference() {
        let cfg = MaskConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.overlap_pixels(128, 128), 4);
        assert_eq!(cfg.overlap_pixels(32, 32), 1);
        let mut rng = sample_rng(0, 0, 0);
        let mask = cfg.sample(128, 128, &mut rng);
        assert_eq!(mask, central_square(128, 128, 56));
        let weights = cfg.loss_weights(&mask);
        let predicted = weights.iter().filter(|&&v| v > 0.0).count();
        assert_eq!(predicted, 64 * 64);
        let small = cfg.sample(32, 32, &mut rng);
        assert_eq!(small.hole_pixels(), 14 * 14);

        for kind in [MaskKind::RandomBlocks, MaskKind::RandomRegion] {
            let cfg = MaskConfig {
                kind,
                ..MaskConfig::default()
            };
            let mean = (0..100)
                .map(|i| cfg.sample(64, 64, &mut sample_rng(9, 0, i)).coverage())
                .sum::<f64>()
                / 100.0;
            assert!((mean - 0.25).abs() < 0.03, "{kind:?}: {mean}");
        }
        for bad in [
            MaskConfig {
                coverage: 1.5,
                ..MaskConfig::default()
            },
            MaskConfig {
                hole_fraction: 0.0,
                ..MaskConfig::default()
            },
            MaskConfig {
                overlap_weight: f32::NAN,
                ..MaskConfig::default()
            },
            MaskConfig {
                overlap_fraction: 0.5,
                ..MaskConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}

//! CPU augmentations: small pure functions on [`Image`](crate::Image), and [`ViewConfig`], a
//! serialisable description of a full "view" pipeline (crop → flip → colour → blur →
//! solarize → normalise) as used by SimCLR, BYOL and their successors.
//!
//! Every op follows the semantics of the matching torchvision transform on float tensors
//! (documented per function), so numbers from papers carry over. Randomness comes only from the
//! per-sample generator passed in ([`crate::rng::sample_rng`]), and every op draws its random
//! numbers in a fixed, documented order, so a view is a pure function of (image, seed, epoch,
//! index).
//!
//! Ops that can work in place take the [`Image`](crate::Image) by value and return it; ops that
//! change the shape take a reference and return a new image.

mod blur;
mod color;
mod geometry;
mod normalize;
mod view;

#[cfg(test)]
mod proptests;

#[cfg(test)]
pub use blur::random_gaussian_blur;
pub use blur::{gaussian_blur, gaussian_kernel};
#[cfg(test)]
pub use color::random_solarize;
pub use color::{
    JitterOp, JitterParams, adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation,
    apply_jitter, color_jitter, grayscale, random_grayscale, sample_jitter, solarize,
};
pub use geometry::{
    CropBox, center_crop, crop, hflip, random_crop_square, random_hflip, random_resized_crop,
    random_resized_crop_params, resize, resize_shorter, rot90,
};
pub use normalize::{IMAGENET_MEAN, IMAGENET_STD, normalize};
pub use view::{ViewConfig, ViewTrace};

use rand::{Rng, RngCore};

/// A uniform sample in `[lo, hi)` (`lo` when the range is empty or reversed); one `f32` draw.
///
/// Used instead of `random_range` because that panics on an empty range and user
/// configurations may legitimately fix a factor (`lo == hi`).
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f32, hi: f32) -> f32 {
    let u: f32 = rng.random();
    if hi > lo { lo + (hi - lo) * u } else { lo }
}

/// A Bernoulli trial with probability `p` (`p <= 0` never, `p >= 1` always); always one `f32`
/// draw, so later ops see the same stream whatever `p` is. Matches torchvision's
/// `torch.rand(1) < p`.
pub(crate) fn coin<R: Rng + ?Sized>(rng: &mut R, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// A uniform integer in `0..n` (`0` when `n == 0`), by Lemire's multiply-and-reject method on
/// raw 64-bit draws: defined here rather than via `random_range` so that data orders and crops
/// stay bit-identical whatever `rand`'s internal sampling algorithm becomes.
pub(crate) fn below<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let n = n as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as usize;
        }
    }
}

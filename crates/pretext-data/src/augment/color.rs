//! Colour ops: torchvision's `ColorJitter` (brightness, contrast, saturation, hue),
//! `RandomGrayscale` and `RandomSolarize`, with its float-tensor semantics.

use super::{below, coin, uniform};
use crate::Image;
use rand::Rng;

/// ITU-R BT.601 luma, the grey level used by grayscale, contrast and saturation.
/// (torchvision's tensor `rgb_to_grayscale` uses 0.2989 for red; PIL and this crate 0.299.)
#[inline]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Splits a 3-channel image's data into its red, green and blue planes.
fn rgb_planes(data: &mut [f32], n: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let (r, gb) = data.split_at_mut(n);
    let (g, b) = gb.split_at_mut(n);
    (r, g, b)
}

/// Multiplies every value by `factor` and clamps to `[0, 1]`: torchvision's
/// `F.adjust_brightness`, a blend with a black image. Factor 1 is the identity.
pub fn adjust_brightness(mut image: Image, factor: f32) -> Image {
    for v in &mut image.data {
        *v = (factor * *v).clamp(0.0, 1.0);
    }
    image
}

/// Blends with the mean grey level of the whole image and clamps to `[0, 1]`: torchvision's
/// `F.adjust_contrast` (`factor · v + (1 − factor) · mean(gray(img))`). The grey level is the
/// BT.601 luma for 3 channels and the value itself otherwise. Factor 0 gives a uniform grey
/// image, 1 the identity.
pub fn adjust_contrast(mut image: Image, factor: f32) -> Image {
    let n = image.width * image.height;
    if n == 0 {
        return image;
    }
    let mean = if image.channels == 3 {
        let d = &image.data;
        let sum: f64 = (0..n)
            .map(|i| f64::from(luma(d[i], d[n + i], d[2 * n + i])))
            .sum();
        (sum / n as f64) as f32
    } else {
        let sum: f64 = image.data.iter().map(|&v| f64::from(v)).sum();
        (sum / image.data.len() as f64) as f32
    };
    let offset = (1.0 - factor) * mean;
    for v in &mut image.data {
        *v = (factor * *v + offset).clamp(0.0, 1.0);
    }
    image
}

/// Blends each pixel with its own grey level and clamps to `[0, 1]`: torchvision's
/// `F.adjust_saturation`. Factor 0 gives the grayscale image, 1 the identity; images that are
/// not 3-channel are returned unchanged (as torchvision does for 1 channel).
pub fn adjust_saturation(mut image: Image, factor: f32) -> Image {
    if image.channels != 3 {
        return image;
    }
    let n = image.width * image.height;
    let (r, g, b) = rgb_planes(&mut image.data, n);
    for i in 0..n {
        let gray = (1.0 - factor) * luma(r[i], g[i], b[i]);
        r[i] = (factor * r[i] + gray).clamp(0.0, 1.0);
        g[i] = (factor * g[i] + gray).clamp(0.0, 1.0);
        b[i] = (factor * b[i] + gray).clamp(0.0, 1.0);
    }
    image
}

/// torchvision's tensor `_rgb2hsv` for one pixel (h, s, v all in `[0, 1]`).
fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let div = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    ((h / 6.0 + 1.0) % 1.0, s, maxc)
}

/// torchvision's tensor `_hsv2rgb` for one pixel.
fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Rotates the hue of every pixel by `shift` turns (in `[-0.5, 0.5]`) in HSV space:
/// torchvision's `F.adjust_hue` on float tensors (`h = (h + shift) mod 1`). Images that are not
/// 3-channel are returned unchanged; a zero shift returns the image untouched (no HSV round
/// trip).
pub fn adjust_hue(mut image: Image, shift: f32) -> Image {
    if image.channels != 3 || shift == 0.0 {
        return image;
    }
    let n = image.width * image.height;
    let (r, g, b) = rgb_planes(&mut image.data, n);
    for i in 0..n {
        let (h, s, v) = rgb_to_hsv(r[i], g[i], b[i]);
        let (nr, ng, nb) = hsv_to_rgb((h + shift).rem_euclid(1.0), s, v);
        r[i] = nr;
        g[i] = ng;
        b[i] = nb;
    }
    image
}

/// One of the four colour-jitter operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitterOp {
    /// [`adjust_brightness`].
    Brightness,
    /// [`adjust_contrast`].
    Contrast,
    /// [`adjust_saturation`].
    Saturation,
    /// [`adjust_hue`].
    Hue,
}

/// The sampled parameters of one colour jitter, like the result of torchvision's
/// `ColorJitter.get_params`: an order of the four ops and a factor for each enabled one
/// (`None` = that op is skipped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterParams {
    /// The order in which the ops are applied.
    pub order: [JitterOp; 4],
    /// Brightness factor.
    pub brightness: Option<f32>,
    /// Contrast factor.
    pub contrast: Option<f32>,
    /// Saturation factor.
    pub saturation: Option<f32>,
    /// Hue shift in turns.
    pub hue: Option<f32>,
}

/// Samples colour-jitter parameters like torchvision's `ColorJitter(brightness, contrast,
/// saturation, hue)`: a uniformly random order of the four ops, then each factor uniform in
/// `[max(0, 1 − s), 1 + s]` for strength `s` (hue: shift uniform in `[−h, h]`, `h` clamped to
/// `[0, 0.5]`). A zero (or negative) strength disables its op, as torchvision does, so zero
/// strengths give the identity exactly.
///
/// Random draws, in order: three `u64` for the Fisher–Yates permutation, then one `f32` per
/// enabled op in the order brightness, contrast, saturation, hue.
pub fn sample_jitter<R: Rng + ?Sized>(
    brightness: f32,
    contrast: f32,
    saturation: f32,
    hue: f32,
    rng: &mut R,
) -> JitterParams {
    let mut order = [
        JitterOp::Brightness,
        JitterOp::Contrast,
        JitterOp::Saturation,
        JitterOp::Hue,
    ];
    for i in (1..order.len()).rev() {
        order.swap(i, below(rng, i + 1));
    }
    let mut factor = |s: f32| (s > 0.0).then(|| uniform(rng, (1.0 - s).max(0.0), 1.0 + s));
    let brightness = factor(brightness);
    let contrast = factor(contrast);
    let saturation = factor(saturation);
    let hue = hue.min(0.5);
    let hue = (hue > 0.0).then(|| uniform(rng, -hue, hue));
    JitterParams {
        order,
        brightness,
        contrast,
        saturation,
        hue,
    }
}

/// Applies sampled colour-jitter parameters (see [`sample_jitter`]) in their order.
pub fn apply_jitter(mut image: Image, params: &JitterParams) -> Image {
    for op in params.order {
        image = match op {
            JitterOp::Brightness => match params.brightness {
                Some(f) => adjust_brightness(image, f),
                None => image,
            },
            JitterOp::Contrast => match params.contrast {
                Some(f) => adjust_contrast(image, f),
                None => image,
            },
            JitterOp::Saturation => match params.saturation {
                Some(f) => adjust_saturation(image, f),
                None => image,
            },
            JitterOp::Hue => match params.hue {
                Some(f) => adjust_hue(image, f),
                None => image,
            },
        };
    }
    image
}

/// torchvision's `ColorJitter(brightness, contrast, saturation, hue)`: [`sample_jitter`] then
/// [`apply_jitter`]. BYOL and SimCLR use strengths (0.4, 0.4, 0.2, 0.1) with probability 0.8.
pub fn color_jitter<R: Rng + ?Sized>(
    image: Image,
    brightness: f32,
    contrast: f32,
    saturation: f32,
    hue: f32,
    rng: &mut R,
) -> Image {
    let params = sample_jitter(brightness, contrast, saturation, hue, rng);
    apply_jitter(image, &params)
}

/// Replaces every channel of a 3-channel image by the BT.601 luma `0.299 R + 0.587 G +
/// 0.114 B`, keeping 3 channels, like torchvision's `Grayscale(num_output_channels=3)`. Other
/// channel counts (already grey) are returned unchanged.
pub fn grayscale(mut image: Image) -> Image {
    if image.channels != 3 {
        return image;
    }
    let n = image.width * image.height;
    let (r, g, b) = rgb_planes(&mut image.data, n);
    for i in 0..n {
        let y = luma(r[i], g[i], b[i]);
        r[i] = y;
        g[i] = y;
        b[i] = y;
    }
    image
}

/// torchvision's `RandomGrayscale(p)`: [`grayscale`] with probability `p` (one `f32` draw); the
/// channel count is kept.
pub fn random_grayscale<R: Rng + ?Sized>(image: Image, p: f32, rng: &mut R) -> Image {
    if coin(rng, p) {
        grayscale(image)
    } else {
        image
    }
}

/// Inverts every value at or above `threshold` (`v ≥ t → 1 − v`): torchvision's
/// `F.solarize` on float images. BYOL uses threshold 0.5.
pub fn solarize(mut image: Image, threshold: f32) -> Image {
    for v in &mut image.data {
        if *v >= threshold {
            *v = 1.0 - *v;
        }
    }
    image
}

/// torchvision's `RandomSolarize(threshold, p)`: [`solarize`] with probability `p` (one `f32`
/// draw).
#[cfg(test)] // a reference the tests check the library against
pub fn random_solarize<R: Rng + ?Sized>(
    image: Image,
    threshold: f32,
    p: f32,
    rng: &mut R,
) -> Image {
    if coin(rng, p) {
        solarize(image, threshold)
    } else {
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::sample_rng;

    fn rgb(pixels: &[[f32; 3]]) -> Image {
        let n = pixels.len();
        let mut data = vec![0.0; 3 * n];
        for (i, p) in pixels.iter().enumerate() {
            for c in 0..3 {
                data[c * n + i] = p[c];
            }
        }
        Image {
            channels: 3,
            height: 1,
            width: n,
            data,
        }
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn brightness_scales_and_clamps() {
        let a = rgb(&[[0.2, 0.5, 0.8], [0.0, 1.0, 0.4]]);
        close(
            &adjust_brightness(a.clone(), 0.5).data,
            &[0.1, 0.0, 0.25, 0.5, 0.4, 0.2],
        );
        close(
            &adjust_brightness(a.clone(), 2.0).data,
            &[0.4, 0.0, 1.0, 1.0, 1.0, 0.8],
        );
        assert_eq!(adjust_brightness(a.clone(), 1.0), a);
    }

    #[test]
    fn contrast_blends_with_mean_luma() {
        // Pixel lumas: 0.299 and 0.587, mean 0.443.
        let a = rgb(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        let m = 0.443;
        let want = [
            0.5 + 0.5 * m,
            0.5 * m,
            0.5 * m,
            0.5 + 0.5 * m,
            0.5 * m,
            0.5 * m,
        ];
        close(&adjust_contrast(a.clone(), 0.5).data, &want);
        close(&adjust_contrast(a.clone(), 0.0).data, &[m; 6]);
        // 1 channel: blend with the plain mean (0.5).
        let g = Image {
            channels: 1,
            height: 1,
            width: 2,
            data: vec![0.2, 0.8],
        };
        close(&adjust_contrast(g.clone(), 0.5).data, &[0.35, 0.65]);
        close(&adjust_contrast(g, 3.0).data, &[0.0, 1.0]);
    }

    #[test]
    fn saturation_blends_with_pixel_luma() {
        let a = rgb(&[[1.0, 0.0, 0.0]]);
        let y = 0.299;
        close(&adjust_saturation(a.clone(), 0.0).data, &[y, y, y]);
        close(
            &adjust_saturation(a.clone(), 0.5).data,
            &[0.5 + 0.5 * y, 0.5 * y, 0.5 * y],
        );
        close(&adjust_saturation(a.clone(), 2.0).data, &[1.0, 0.0, 0.0]);
        let g = Image::filled(1, 2, 2, 0.3);
        assert_eq!(adjust_saturation(g.clone(), 0.0), g);
        assert_eq!(adjust_hue(g.clone(), 0.25), g);
    }

    #[test]
    fn hue_rotates_primaries() {
        // Red shifted by a third of a turn is green, by two thirds blue; grey is unchanged.
        let a = rgb(&[[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.6, 0.3, 0.3]]);
        let b = adjust_hue(a.clone(), 1.0 / 3.0);
        close(&b.data, &[0.0, 0.5, 0.3, 1.0, 0.5, 0.6, 0.0, 0.5, 0.3]);
        let c = adjust_hue(a.clone(), -1.0 / 3.0);
        close(&c.data, &[0.0, 0.5, 0.3, 0.0, 0.5, 0.3, 1.0, 0.5, 0.6]);
        // Half a turn maps (0.6, 0.3, 0.3) to its complement hue (0.3, 0.6, 0.6).
        let d = adjust_hue(rgb(&[[0.6, 0.3, 0.3]]), 0.5);
        close(&d.data, &[0.3, 0.6, 0.6]);
    }

    #[test]
    fn hsv_round_trip() {
        for p in [
            [0.1, 0.7, 0.3],
            [0.9, 0.2, 0.6],
            [0.4, 0.4, 0.9],
            [0.0, 0.0, 0.0],
        ] {
            let (h, s, v) = rgb_to_hsv(p[0], p[1], p[2]);
            let (r, g, b) = hsv_to_rgb(h, s, v);
            close(&[r, g, b], &p);
        }
    }

    #[test]
    fn grayscale_uses_bt601_and_keeps_channels() {
        let a = rgb(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let g = grayscale(a);
        assert_eq!(g.channels, 3);
        let w = [0.299, 0.587, 0.114];
        close(&g.data, &[w, w, w].concat());
        let one = Image::filled(1, 1, 1, 0.4);
        assert_eq!(grayscale(one.clone()), one);
    }

    #[test]
    fn solarize_inverts_at_and_above_threshold() {
        let a = Image {
            channels: 1,
            height: 2,
            width: 2,
            data: vec![0.2, 0.5, 0.7, 1.0],
        };
        close(&solarize(a, 0.5).data, &[0.2, 0.5, 0.3, 0.0]);
    }

    #[test]
    fn jitter_params_follow_strengths() {
        let mut rng = sample_rng(3, 1, 4);
        for _ in 0..100 {
            let p = sample_jitter(0.4, 0.4, 0.2, 0.1, &mut rng);
            let mut ops = p.order.to_vec();
            ops.sort_by_key(|o| *o as u8);
            assert_eq!(
                ops,
                [
                    JitterOp::Brightness,
                    JitterOp::Contrast,
                    JitterOp::Saturation,
                    JitterOp::Hue
                ]
            );
            let b = p.brightness.unwrap();
            assert!((0.6..=1.4).contains(&b));
            assert!((0.8..=1.2).contains(&p.saturation.unwrap()));
            assert!((-0.1..=0.1).contains(&p.hue.unwrap()));
        }
        let p = sample_jitter(0.0, 0.0, 0.0, 0.0, &mut rng);
        assert_eq!(
            (p.brightness, p.contrast, p.saturation, p.hue),
            (None, None, None, None)
        );
        // Strength above 1: factor range starts at 0.
        let p = sample_jitter(5.0, 0.0, 0.0, 0.0, &mut rng);
        assert!((0.0..=6.0).contains(&p.brightness.unwrap()));
    }

    #[test]
    fn jitter_order_matters_and_is_respected() {
        let a = rgb(&[[0.8, 0.2, 0.4]]);
        let params = |order| JitterParams {
            order,
            brightness: Some(2.0),
            contrast: None,
            saturation: Some(0.0),
            hue: None,
        };
        use JitterOp::*;
        let bs = apply_jitter(a.clone(), &params([Brightness, Saturation, Contrast, Hue]));
        let sb = apply_jitter(a.clone(), &params([Saturation, Brightness, Contrast, Hue]));
        let want_bs = adjust_saturation(adjust_brightness(a.clone(), 2.0), 0.0);
        let want_sb = adjust_brightness(adjust_saturation(a, 0.0), 2.0);
        assert_eq!(bs, want_bs);
        assert_eq!(sb, want_sb);
        assert_ne!(bs, sb);
    }
}

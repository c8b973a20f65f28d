//! Geometric ops: crops, bilinear resizes, flips and 90° rotations.

use super::{below, coin, uniform};
use crate::Image;
use rand::Rng;

/// A crop rectangle in pixels: columns `x..x + width`, rows `y..y + height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Cuts the `width × height` rectangle whose top-left corner is (`x`, `y`) out of `image`, like
/// torchvision's `F.crop(img, top=y, left=x, height, width)`: the parts of the rectangle that lie
/// outside the image (negative or too large coordinates) are filled with 0, as torchvision pads.
pub fn crop(image: &Image, x: isize, y: isize, width: usize, height: usize) -> Image {
    let mut out = Image::filled(image.channels, height, width, 0.0);
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = x.saturating_add_unsigned(width).min(image.width as isize);
    let y1 = y.saturating_add_unsigned(height).min(image.height as isize);
    if x0 >= x1 || y0 >= y1 {
        return out;
    }
    let (x0, x1, y0, y1) = (x0 as usize, x1 as usize, y0 as usize, y1 as usize);
    let dx = (x0 as isize - x) as usize;
    let dy = (y0 as isize - y) as usize;
    for c in 0..image.channels {
        let src = image.plane(c);
        let dst = &mut out.data[c * width * height..(c + 1) * width * height];
        for sy in y0..y1 {
            let row = (sy - y0 + dy) * width + dx;
            dst[row..row + (x1 - x0)]
                .copy_from_slice(&src[sy * image.width + x0..sy * image.width + x1]);
        }
    }
    out
}

/// Cuts the central `width × height` rectangle out of `image`, like torchvision's
/// `CenterCrop`: along each axis the offset is `int(round((W - w) / 2))` (Python's round half
/// to even); a crop larger than the image is padded with 0, `(w - W) // 2` before and the rest
/// after, as torchvision pads.
pub fn center_crop(image: &Image, width: usize, height: usize) -> Image {
    fn offset(have: usize, want: usize) -> isize {
        if want > have {
            -(((want - have) / 2) as isize)
        } else {
            ((have - want) as f64 / 2.0).round_ties_even() as isize
        }
    }
    crop(
        image,
        offset(image.width, width),
        offset(image.height, height),
        width,
        height,
    )
}

/// The two source taps and the weight of the second for each output coordinate of a linear
/// resize of `len` input samples (starting at `start`) to `out` samples, with PyTorch's
/// `align_corners=False` (half-pixel centre) source coordinates
/// `src = (dst + 0.5) * len / out - 0.5`, clamped below at 0 and at the last sample.
fn linear_taps(start: usize, len: usize, out: usize) -> Vec<(usize, usize, f32)> {
    let scale = len as f32 / out as f32;
    (0..out)
        .map(|d| {
            let src = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(len - 1);
            let i1 = if i0 + 1 < len { i0 + 1 } else { i0 };
            let w1 = if i1 > i0 { src - i0 as f32 } else { 0.0 };
            (start + i0, start + i1, w1)
        })
        .collect()
}

/// Bilinear resize of the `region` of `image` to `out_width × out_height`, treating the region
/// as the whole image (so edge taps clamp to the region, exactly as crop-then-resize would).
/// The region must lie inside the image. Shared by [`random_resized_crop`] and the traced view
/// pipeline ([`super::ViewConfig::apply_traced`]), which samples the region itself.
pub(super) fn resize_region(
    image: &Image,
    region: CropBox,
    out_width: usize,
    out_height: usize,
) -> Image {
    let mut out = Image::filled(image.channels, out_height, out_width, 0.0);
    if region.width == 0 || region.height == 0 || out_width == 0 || out_height == 0 {
        return out;
    }
    let xs = linear_taps(region.x, region.width, out_width);
    let ys = linear_taps(region.y, region.height, out_height);
    let plane_out = out_width * out_height;
    for c in 0..image.channels {
        let src = image.plane(c);
        let dst = &mut out.data[c * plane_out..(c + 1) * plane_out];
        for (oy, &(y0, y1, wy)) in ys.iter().enumerate() {
            let r0 = &src[y0 * image.width..(y0 + 1) * image.width];
            let r1 = &src[y1 * image.width..(y1 + 1) * image.width];
            let row = &mut dst[oy * out_width..(oy + 1) * out_width];
            for (o, &(x0, x1, wx)) in row.iter_mut().zip(&xs) {
                let top = (1.0 - wx) * r0[x0] + wx * r0[x1];
                let bottom = (1.0 - wx) * r1[x0] + wx * r1[x1];
                *o = (1.0 - wy) * top + wy * bottom;
            }
        }
    }
    out
}

/// Resizes `image` to exactly `width × height` by bilinear interpolation without antialiasing,
/// matching torchvision's `F.resize(img, [height, width], antialias=False)` on float tensors
/// (i.e. `F.interpolate(mode="bilinear", align_corners=False)`, half-pixel centres). An empty
/// input gives a zero image of the requested size.
pub fn resize(image: &Image, width: usize, height: usize) -> Image {
    if image.width == width && image.height == height {
        return image.clone();
    }
    let whole = CropBox {
        x: 0,
        y: 0,
        width: image.width,
        height: image.height,
    };
    resize_region(image, whole, width, height)
}

/// Resizes `image` so that its shorter side is `size`, keeping the aspect ratio, like
/// torchvision's `Resize(size)` with an integer size (`antialias=False`): the longer side
/// becomes `int(size * long / short)` (truncated).
pub fn resize_shorter(image: &Image, size: usize) -> Image {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 {
        return resize(image, size, size);
    }
    if w <= h {
        resize(image, size, size * h / w)
    } else {
        resize(image, size * w / h, size)
    }
}

/// Samples the crop rectangle of torchvision's `RandomResizedCrop.get_params` for an image of
/// `width × height`: up to 10 attempts, each drawing a target area fraction uniform in `scale`
/// and an aspect ratio (w/h) log-uniform in `ratio`, giving `w = round(sqrt(A·r))`,
/// `h = round(sqrt(A/r))` (round half to even, as Python's `round`); the first attempt that fits
/// draws its top row then its left column uniformly. If none fits, the fallback is torchvision's
/// centre crop of the whole image clamped to the `ratio` range.
///
/// Random draws, in order, per attempt: area fraction (`f32`), log ratio (`f32`), and on success
/// the row then the column (each one `u64`).
pub fn random_resized_crop_params<R: Rng + ?Sized>(
    width: usize,
    height: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut R,
) -> CropBox {
    let area = (width * height) as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * f64::from(uniform(rng, scale.0, scale.1));
        let aspect = f64::from(uniform(rng, log_lo, log_hi).exp());
        let w = (target * aspect).sqrt().round_ties_even();
        let h = (target / aspect).sqrt().round_ties_even();
        // NaN and out-of-range values fail these comparisons and fall through.
        if w > 0.0 && w <= width as f64 && h > 0.0 && h <= height as f64 {
            let (w, h) = (w as usize, h as usize);
            let y = below(rng, height - h + 1);
            let x = below(rng, width - w + 1);
            return CropBox {
                x,
                y,
                width: w,
                height: h,
            };
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (lo, hi) = (
        f64::from(ratio.0.min(ratio.1)),
        f64::from(ratio.0.max(ratio.1)),
    );
    let (w, h) = if in_ratio < lo {
        (
            width,
            ((width as f64 / lo).round_ties_even() as usize).min(height),
        )
    } else if in_ratio > hi {
        (
            ((height as f64 * hi).round_ties_even() as usize).min(width),
            height,
        )
    } else {
        (width, height)
    };
    CropBox {
        x: (width - w) / 2,
        y: (height - h) / 2,
        width: w,
        height: h,
    }
}

/// torchvision's `RandomResizedCrop((out_height, out_width), scale, ratio,
/// antialias=False)`: a crop sampled by [`random_resized_crop_params`], resized bilinearly (as
/// [`resize`]) to `out_width × out_height` in one pass without materialising the crop. SimCLR
/// and BYOL use `scale = (0.08, 1)`, `ratio = (3/4, 4/3)`.
pub fn random_resized_crop<R: Rng + ?Sized>(
    image: &Image,
    out_width: usize,
    out_height: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut R,
) -> Image {
    let region = random_resized_crop_params(image.width, image.height, scale, ratio, rng);
    resize_region(image, region, out_width, out_height)
}

/// A uniformly placed `side × side` crop, after enlarging the image (bilinear, shorter side
/// to `side`) when it is smaller — the "random crop" of the patch-based pretext tasks.
pub fn random_crop_square<R: Rng + ?Sized>(image: &Image, side: usize, rng: &mut R) -> Image {
    let resized;
    let image = if image.height.min(image.width) < side {
        resized = resize_shorter(image, side);
        &resized
    } else {
        image
    };
    let x = below(rng, image.width - side + 1);
    let y = below(rng, image.height - side + 1);
    crop(image, x as isize, y as isize, side, side)
}

/// Mirrors `image` left–right in place (torchvision's `F.hflip`).
pub fn hflip(mut image: Image) -> Image {
    if image.width > 0 {
        for row in image.data.chunks_exact_mut(image.width) {
            row.reverse();
        }
    }
    image
}

/// torchvision's `RandomHorizontalFlip(p)`: mirrors with probability `p` (one `f32` draw).
pub fn random_hflip<R: Rng + ?Sized>(image: Image, p: f32, rng: &mut R) -> Image {
    if coin(rng, p) { hflip(image) } else { image }
}

/// Rotates `image` by `k · 90°` counter-clockwise (as displayed, row 0 at the top), exactly
/// like `torch.rot90(img, k, dims=(1, 2))` on a CHW tensor; `k` is taken modulo 4, so negative
/// values rotate clockwise. Exact (a permutation of pixels); for odd `k` width and height swap.
pub fn rot90(image: &Image, k: i32) -> Image {
    let k = k.rem_euclid(4);
    if k == 0 {
        return image.clone();
    }
    let (h, w) = (image.height, image.width);
    let (oh, ow) = if k == 2 { (h, w) } else { (w, h) };
    let mut out = Image::filled(image.channels, oh, ow, 0.0);
    let n = h * w;
    for c in 0..image.channels {
        let src = image.plane(c);
        let dst = &mut out.data[c * n..(c + 1) * n];
        for i in 0..oh {
            for j in 0..ow {
                dst[i * ow + j] = match k {
                    1 => src[j * w + (w - 1 - i)],
                    2 => src[(h - 1 - i) * w + (w - 1 - j)],
                    _ => src[(h - 1 - j) * w + i],
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_square_crops_fit_and_upscale_small_images() {
        let mut rng = crate::rng::sample_rng(0, 0, 0);
        let image = crate::Image::filled(1, 10, 20, 0.5);
        let out = super::random_crop_square(&image, 8, &mut rng);
        assert_eq!((out.height, out.width), (8, 8));
        assert!(out.data.iter().all(|&v| v == 0.5));
        let out = super::random_crop_square(&image, 16, &mut rng);
        assert_eq!((out.height, out.width), (16, 16));
    }

    use super::*;
    use crate::rng::sample_rng;

    fn img(channels: usize, height: usize, width: usize, data: &[f32]) -> Image {
        Image {
            channels,
            height,
            width,
            data: data.to_vec(),
        }
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn crop_inside_and_padding() {
        let a = img(1, 3, 3, &[0., 1., 2., 3., 4., 5., 6., 7., 8.]);
        assert_eq!(crop(&a, 1, 1, 2, 2).data, vec![4., 5., 7., 8.]);
        assert_eq!(crop(&a, 1, 0, 2, 1).data, vec![1., 2.]);
        assert_eq!(crop(&a, -1, 2, 3, 2).data, vec![0., 6., 7., 0., 0., 0.]);
        assert_eq!(crop(&a, 5, 5, 2, 2).data, vec![0.; 4]);
        assert_eq!(center_crop(&a, 1, 1).data, vec![4.]);
        let c = center_crop(&a, 5, 5);
        assert_eq!((c.width, c.height), (5, 5));
        assert_eq!(c.at(0, 1, 1), 0.0);
        assert_eq!(c.at(0, 2, 2), 4.0);
        // Offsets: round half to even (1.5 -> 2, 2.5 -> 2); padding puts the odd pixel after.
        let row = img(1, 1, 4, &[0., 1., 2., 3.]);
        assert_eq!(center_crop(&row, 1, 1).data, vec![2.]);
        let row6 = img(1, 1, 6, &[0., 1., 2., 3., 4., 5.]);
        assert_eq!(center_crop(&row6, 1, 1).data, vec![2.]);
        assert_eq!(
            center_crop(&row, 7, 1).data,
            vec![0., 0., 1., 2., 3., 0., 0.]
        );
    }

    #[test]
    fn bilinear_2x2_to_4x4_matches_torch() {
        // torch.nn.functional.interpolate(torch.arange(4.).view(1,1,2,2), size=(4,4),
        //     mode="bilinear", align_corners=False)
        let a = img(1, 2, 2, &[0., 1., 2., 3.]);
        let r = resize(&a, 4, 4);
        #[rustfmt::skip]
        let want = [
            0.0, 0.25, 0.75, 1.0,
            0.5, 0.75, 1.25, 1.5,
            1.5, 1.75, 2.25, 2.5,
            2.0, 2.25, 2.75, 3.0,
        ];
        close(&r.data, &want);
    }

    #[test]
    fn bilinear_downscale_and_shorter_side() {
        // 4 -> 2 along x: src = 0.5 and 2.5, i.e. means of pairs.
        let a = img(1, 1, 4, &[0., 1., 2., 3.]);
        close(&resize(&a, 2, 1).data, &[0.5, 2.5]);
        let b = Image::filled(3, 10, 20, 0.5);
        let r = resize_shorter(&b, 5);
        assert_eq!((r.channels, r.width, r.height), (3, 10, 5));
        let t = Image::filled(1, 7, 3, 0.5);
        let r = resize_shorter(&t, 4);
        assert_eq!((r.width, r.height), (4, 9)); // int(4 * 7 / 3) = 9
    }

    #[test]
    fn flip_and_rot90_match_torch() {
        let a = img(1, 2, 2, &[0., 1., 2., 3.]);
        assert_eq!(hflip(a.clone()).data, vec![1., 0., 3., 2.]);
        // torch.rot90(torch.arange(4.).view(1,2,2), k, dims=(1,2))
        assert_eq!(rot90(&a, 1).data, vec![1., 3., 0., 2.]);
        assert_eq!(rot90(&a, 2).data, vec![3., 2., 1., 0.]);
        assert_eq!(rot90(&a, 3).data, vec![2., 0., 3., 1.]);
        assert_eq!(rot90(&a, -1).data, rot90(&a, 3).data);
        // Non-square, 2 channels: torch.rot90(torch.arange(12.).view(2,2,3), 1, dims=(1,2))
        let b = img(2, 2, 3, &(0..12).map(|v| v as f32).collect::<Vec<_>>());
        let r = rot90(&b, 1);
        assert_eq!((r.height, r.width), (3, 2));
        assert_eq!(
            r.data,
            vec![2., 5., 1., 4., 0., 3., 8., 11., 7., 10., 6., 9.]
        );
        let r3 = rot90(&b, 3);
        assert_eq!(
            r3.data,
            vec![3., 0., 4., 1., 5., 2., 9., 6., 10., 7., 11., 8.]
        );
    }

    #[test]
    fn random_resized_crop_full_scale_square_is_identity() {
        // scale (1, 1) and ratio (1, 1) on a square image: the whole image, resized to itself.
        let a = img(1, 3, 3, &[0., 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
        let mut rng = sample_rng(0, 0, 0);
        let b = random_resized_crop_params(3, 3, (1.0, 1.0), (1.0, 1.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                x: 0,
                y: 0,
                width: 3,
                height: 3
            }
        );
        let out = random_resized_crop(&a, 3, 3, (1.0, 1.0), (1.0, 1.0), &mut rng);
        close(&out.data, &a.data);
    }

    #[test]
    fn random_resized_crop_fallback_is_central() {
        // A target area larger than the image never fits: torchvision's fallback.
        let mut rng = sample_rng(0, 0, 0);
        // Wide image (ratio 4) clamped to max ratio 2: h = 10, w = 20, centred.
        let b = random_resized_crop_params(40, 10, (2.0, 3.0), (0.5, 2.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                x: 10,
                y: 0,
                width: 20,
                height: 10
            }
        );
        // Tall image (ratio 1/4) clamped to min ratio 1/2: w = 10, h = 20.
        let b = random_resized_crop_params(10, 40, (2.0, 3.0), (0.5, 2.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                x: 0,
                y: 10,
                width: 10,
                height: 20
            }
        );
        // Within range: the whole image.
        let b = random_resized_crop_params(10, 10, (2.0, 3.0), (0.5, 2.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                x: 0,
                y: 0,
                width: 10,
                height: 10
            }
        );
    }

    #[test]
    fn random_resized_crop_boxes_fit_and_vary() {
        let mut rng = sample_rng(7, 0, 0);
        let mut areas = Vec::new();
        for _ in 0..200 {
            let b = random_resized_crop_params(32, 24, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut rng);
            assert!(b.width > 0 && b.height > 0);
            assert!(b.x + b.width <= 32 && b.y + b.height <= 24);
            areas.push(b.width * b.height);
        }
        assert!(areas.iter().min() < areas.iter().max());
    }

    #[test]
    fn empty_images_do_not_panic() {
        let e = Image::filled(3, 0, 0, 0.0);
        let mut rng = sample_rng(0, 0, 0);
        let out = random_resized_crop(&e, 4, 4, (0.08, 1.0), (0.75, 1.33), &mut rng);
        assert_eq!(out.data, vec![0.0; 48]);
        assert_eq!(resize(&e, 2, 2).data.len(), 12);
        assert_eq!(resize_shorter(&e, 2).data.len(), 12);
        assert_eq!(rot90(&e, 1).data.len(), 0);
        assert_eq!(hflip(e).data.len(), 0);
    }
}

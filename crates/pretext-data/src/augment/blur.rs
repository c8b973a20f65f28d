//! Gaussian blur, torchvision's `GaussianBlur`.

use crate::Image;

/// The normalised 1-D Gaussian kernel of torchvision's `_get_gaussian_kernel1d`: weights
/// `exp(−x² / 2σ²)` at `x = −(k−1)/2 … (k−1)/2`, divided by their sum. An even `size` is
/// rounded up to the next odd one (torchvision rejects even sizes); size 0 gives `[1]`.
pub fn gaussian_kernel(size: usize, sigma: f32) -> Vec<f32> {
    let size = size.max(1) | 1;
    let half = (size / 2) as f32;
    let mut k: Vec<f32> = (0..size)
        .map(|i| {
            let x = (i as f32 - half) / sigma;
            (-0.5 * x * x).exp()
        })
        .collect();
    let sum: f32 = k.iter().sum();
    for v in &mut k {
        *v /= sum;
    }
    k
}

/// Index `i` reflected into `0..n` without repeating the edge (PyTorch's `reflect` padding:
/// `-1 → 1`, `n → n − 2`), repeated as often as needed so any kernel fits any image.
fn reflect(i: isize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    if m >= n as isize {
        (period - m) as usize
    } else {
        m as usize
    }
}

/// Blurs `image` with a separable Gaussian of `kernel_size` (odd; see [`gaussian_kernel`]) and
/// standard deviation `sigma` pixels, with reflect padding: torchvision's
/// `F.gaussian_blur(img, [k, k], [sigma, sigma])`. Unlike PyTorch's reflect padding, a kernel
/// wider than the image is allowed (the reflection repeats). A non-positive or non-finite
/// `sigma`, or a kernel of size 1, returns the image unchanged.
pub fn gaussian_blur(image: &Image, kernel_size: usize, sigma: f32) -> Image {
    if sigma <= 0.0 || !sigma.is_finite() || kernel_size <= 1 || image.data.is_empty() {
        return image.clone();
    }
    let kernel = gaussian_kernel(kernel_size, sigma);
    let half = (kernel.len() / 2) as isize;
    let (w, h) = (image.width, image.height);
    let n = w * h;
    let mut tmp = vec![0.0f32; n];
    let mut out = Image::filled(image.channels, h, w, 0.0);
    let mut padded = vec![0.0f32; w + 2 * half as usize];
    let col_index: Vec<usize> = (0..padded.len())
        .map(|j| reflect(j as isize - half, w))
        .collect();
    for c in 0..image.channels {
        let src = image.plane(c);
        // Horizontal pass into `tmp`, through one reflect-padded row buffer.
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for (p, &j) in padded.iter_mut().zip(&col_index) {
                *p = row[j];
            }
            // Tap-major accumulation: each tap is a vectorisable axpy over the row.
            let orow = &mut tmp[y * w..(y + 1) * w];
            orow.fill(0.0);
            for (t, &k) in kernel.iter().enumerate() {
                for (o, &v) in orow.iter_mut().zip(&padded[t..t + w]) {
                    *o += k * v;
                }
            }
        }
        // Vertical pass: each output row is a weighted sum of whole (reflected) rows.
        let dst = &mut out.data[c * n..(c + 1) * n];
        for y in 0..h {
            let orow = &mut dst[y * w..(y + 1) * w];
            for (t, &k) in kernel.iter().enumerate() {
                let r = reflect(y as isize + t as isize - half, h);
                for (o, &v) in orow.iter_mut().zip(&tmp[r * w..(r + 1) * w]) {
                    *o += k * v;
                }
            }
        }
    }
    out
}

/// torchvision's `GaussianBlur(kernel_size, sigma=(min, max))`: sigma uniform in
/// `[min, max]` (one `f32` draw), then [`gaussian_blur`]. BYOL uses kernel 23 at 224 px
/// (about a tenth of the image side) and sigma in `[0.1, 2.0]`.
#[cfg(test)] // a reference the tests check the library against
pub fn random_gaussian_blur<R: rand::Rng + ?Sized>(
    image: &Image,
    kernel_size: usize,
    sigma: (f32, f32),
    rng: &mut R,
) -> Image {
    let s = super::uniform(rng, sigma.0, sigma.1);
    gaussian_blur(image, kernel_size, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel(5, 1.0);
        assert_eq!(k.len(), 5);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(k[0], k[4]);
        assert_eq!(k[1], k[3]);
        // exp(-0.5 x²) at x = 0, 1, 2 normalised.
        let raw = [(-2.0f32).exp(), (-0.5f32).exp(), 1.0];
        let s = 2.0 * raw[0] + 2.0 * raw[1] + raw[2];
        assert!((k[2] - 1.0 / s).abs() < 1e-6);
        assert!((k[1] - raw[1] / s).abs() < 1e-6);
        assert_eq!(gaussian_kernel(4, 1.0).len(), 5);
        assert_eq!(gaussian_kernel(0, 1.0), vec![1.0]);
    }

    #[test]
    fn reflect_padding() {
        let got: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn constant_stays_constant() {
        let a = Image::filled(3, 5, 7, 0.37);
        for k in [3, 5, 23] {
            let b = gaussian_blur(&a, k, 1.7);
            for v in &b.data {
                assert!((v - 0.37).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn impulse_spreads_to_kernel_outer_product_summing_to_one() {
        let mut a = Image::filled(1, 9, 9, 0.0);
        a.data[4 * 9 + 4] = 1.0;
        let b = gaussian_blur(&a, 5, 1.0);
        let sum: f32 = b.data.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        let k = gaussian_kernel(5, 1.0);
        for y in 0..5 {
            for x in 0..5 {
                assert!((b.at(0, 2 + y, 2 + x) - k[y] * k[x]).abs() < 1e-7);
            }
        }
        assert_eq!(b.at(0, 0, 0), 0.0);
    }

    #[test]
    fn edge_uses_reflection() {
        // 1×3 row [1, 0, 0], kernel 3: x=0 sees [0, 1, 0] (reflected -1 → 1).
        let a = Image {
            channels: 1,
            height: 1,
            width: 3,
            data: vec![1.0, 0.0, 0.0],
        };
        let k = gaussian_kernel(3, 1.0);
        let b = gaussian_blur(&a, 3, 1.0);
        assert!((b.data[0] - k[1]).abs() < 1e-7);
        assert!((b.data[1] - k[0]).abs() < 1e-7);
        assert!((b.data[2] - 0.0).abs() < 1e-7);
    }

    #[test]
    fn degenerate_sigma_or_kernel_is_identity() {
        let a = Image {
            channels: 1,
            height: 1,
            width: 3,
            data: vec![1.0, 0.0, 0.5],
        };
        assert_eq!(gaussian_blur(&a, 3, 0.0), a);
        assert_eq!(gaussian_blur(&a, 1, 2.0), a);
    }
}

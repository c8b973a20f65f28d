//! 2-D convolution (NCHW, no groups, no dilation) and its two gradients as matrix products
//! over the images of a batch, in parallel across images.
//!
//! With `K = C_in·k_h·k_w` and `P = H_out·W_out`, each image's patches form the `K × P`
//! matrix `cols = im2col(x)`, and
//!
//! * forward:          `y = W · cols`                    (`C_out × P`),
//! * input gradient:   `dx = col2im(Wᵀ · dy)`,
//! * weight gradient:  `dW = Σ_images dy · colsᵀ`        (`C_out × K`).
//!
//! burn's default weight gradient is a convolution of the input by the output gradient with
//! the batch and channel axes swapped, which flex runs as a small-output convolution with a
//! kernel as large as the image; here it is one product per image with `K` outputs, summed
//! over the images (Chellapilla et al. 2006, "High performance convolutional neural networks
//! for document processing", the unrolled formulation). A 1×1 stride-1 convolution needs no
//! patch matrix: `cols` is the image itself.
//!
//! Where `P` is small (the late stages of a ResNet: 8×8 and 4×4 maps), one product per image
//! is a thin matrix product that packs the whole weight matrix for a few columns, and the
//! weight gradient's product has an inner dimension of only `P`. There a group of `G` images
//! shares one product: their patch matrices side by side (`K × G·P`), the outputs and output
//! gradients gathered to and scattered from `C_out × G·P` ([`group_size`]).

use super::conv_shape::{ConvShape, images_per_task};
use super::matmul::{MatRef, matmul};
use super::precision::Precision;
use rayon::prelude::*;

/// The kernel a convolution's forward and weight gradient take ([`forward`],
/// [`backward_weight`]); the stride-1 input gradient takes its flipped forward's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Winograd's F(4×4, 3×3) ([`winograd`](super::winograd)).
    Winograd,
    /// The in-place kernel for few channels ([`thin`](super::thin)).
    Thin,
    /// im2col and a matrix product per image or group of images.
    Unrolled,
}

impl ConvShape {
    /// The geometry for people, as the step profile lists it: `3×3/1 64→64 8×8`, with
    /// ` winograd` when the forward takes that route.
    pub fn label(&self) -> String {
        let route = match self.route() {
            Route::Winograd => " winograd",
            Route::Thin => " thin",
            Route::Unrolled => "",
        };
        format!(
            "{}×{}/{} {}→{} {}×{}{route}",
            self.kh, self.kw, self.stride[0], self.c_in, self.c_out, self.h, self.w
        )
    }

    /// The kernel that computes this convolution's forward and weight gradient.
    fn route(&self) -> Route {
        // In a bf16 run on AMX, the direct product outruns Winograd's fp32 one where the
        // layer is wide enough to fill the tiles and its products are large enough to pay
        // for converting the patches to bf16 (`AMX_MIN_CHANNELS`, `AMX_MIN_WORK`).
        let tiles = self.precision == Precision::Bf16
            && self.c_in.min(self.c_out) >= AMX_MIN_CHANNELS
            && self.c_in * self.c_out * self.p() >= AMX_MIN_WORK
            && super::matmul::amx::available();
        if super::winograd::applies(self) && !tiles {
            Route::Winograd
        } else if super::thin::applies(self) {
            Route::Thin
        } else {
            Route::Unrolled
        }
    }
}

/// Fewer channels than this on either side keep a bf16 run's 3×3 layers on Winograd (fp32)
/// rather than the direct product on AMX tiles. Measured on ResNet-18 (CIFAR stem, batch
/// 128, two threads of a Xeon with AMX): with the 64- to 512-channel layers on the tiles the
/// step ran at 79.5–81.0 images/s, with only those of 128 and more at 74.9–82.1, with none
/// (all on Winograd) at 69.3–69.4; fp32 at 64.4–68.1.
const AMX_MIN_CHANNELS: usize = 64;

/// Less work per image than this, `C_in · C_out · H_out · W_out` (multiply-adds per kernel
/// tap), keeps a bf16 run's 3×3 layer on Winograd too. On the same Xeon the layers of the
/// CIFAR ResNet-18 (64² · 32², 128² · 16², …: 2²² each) ran 1.1–1.4× faster on the tiles
/// than on Winograd, and those of the narrow ResNet-18 on 28 × 28 images (64² · 7², 128² ·
/// 4²: 2¹⁸) 1.1–1.4× slower: converting their patches to bf16 costs more than the tiles save.
const AMX_MIN_WORK: usize = 1 << 20;

/// Fills the `K × P` patch matrix of one image (`C_in × H × W`): row `r` is
/// `cols[r·ld..r·ld + P]` (`ld ≥ P`: the image's columns in a wider matrix of a group).
fn im2col(shape: &ConvShape, image: &[f32], cols: &mut [f32], ld: usize) {
    let (ho, wo) = (shape.h_out(), shape.w_out());
    let [sy, sx] = shape.stride;
    let [py, px] = shape.padding;
    let mut rows = cols.chunks_mut(ld).map(|row| &mut row[..ho * wo]);
    for c in 0..shape.c_in {
        let plane = &image[c * shape.h * shape.w..(c + 1) * shape.h * shape.w];
        for i in 0..shape.kh {
            let oy_valid = ConvShape::valid(ho, shape.h, sy, py, i);
            for j in 0..shape.kw {
                let Some(row) = rows.next() else { return };
                let ox_valid = ConvShape::valid(wo, shape.w, sx, px, j);
                for (oy, out) in row.chunks_exact_mut(wo).enumerate() {
                    if !oy_valid.contains(&oy) || ox_valid.is_empty() {
                        out.fill(0.0);
                        continue;
                    }
                    let line = &plane[(oy * sy + i - py) * shape.w..][..shape.w];
                    out[..ox_valid.start].fill(0.0);
                    out[ox_valid.end..].fill(0.0);
                    let first = ox_valid.start * sx + j - px;
                    let dst = &mut out[ox_valid.clone()];
                    if sx == 1 {
                        dst.copy_from_slice(&line[first..first + dst.len()]);
                    } else {
                        for (d, s) in dst.iter_mut().zip(line[first..].iter().step_by(sx)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// Adds the `K × P` patch-matrix gradient of one image (row `r` at `cols[r·ld..]`) back onto
/// its `C_in × H × W` input gradient (the adjoint of [`im2col`]).
fn col2im(shape: &ConvShape, cols: &[f32], image: &mut [f32], ld: usize) {
    let (ho, wo) = (shape.h_out(), shape.w_out());
    let [sy, sx] = shape.stride;
    let [py, px] = shape.padding;
    let mut rows = cols.chunks(ld).map(|row| &row[..ho * wo]);
    for c in 0..shape.c_in {
        let plane = &mut image[c * shape.h * shape.w..(c + 1) * shape.h * shape.w];
        for i in 0..shape.kh {
            let oy_valid = ConvShape::valid(ho, shape.h, sy, py, i);
            for j in 0..shape.kw {
                let Some(row) = rows.next() else { return };
                let ox_valid = ConvShape::valid(wo, shape.w, sx, px, j);
                if ox_valid.is_empty() {
                    continue;
                }
                for oy in oy_valid.clone() {
                    let line = &mut plane[(oy * sy + i - py) * shape.w..][..shape.w];
                    let src = &row[oy * wo..][ox_valid.clone()];
                    let first = ox_valid.start * sx + j - px;
                    if sx == 1 {
                        // Contiguous: a plain zip that the compiler vectorises.
                        let dst = &mut line[first..first + src.len()];
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s);
                    } else {
                        for (d, s) in line[first..].iter_mut().step_by(sx).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// Columns a product should have before images are grouped: below this, a product per image
/// spends more on packing the weight matrix than on multiplying (`bench/step.sh`'s late-stage
/// ResNet-18 convolutions, `P` = 64 and 16).
const GROUP_COLUMNS: usize = 256;

/// Images per product: enough for [`GROUP_COLUMNS`] columns, at most a task's images.
fn group_size(shape: &ConvShape) -> usize {
    GROUP_COLUMNS
        .div_ceil(shape.p().max(1))
        .clamp(1, images_per_task(shape.batch))
}

/// The buffers of one thread's groups of images.
struct Groups {
    /// Images per group ([`group_size`]).
    size: usize,
    /// A group's patch matrix, `K × G·P` (empty when a single pointwise image needs none).
    cols: Vec<f32>,
    /// A group's `C_out × G·P` outputs or output gradients (empty for single images).
    out: Vec<f32>,
}

impl Groups {
    fn new(shape: &ConvShape) -> Self {
        let size = group_size(shape);
        let columns = size * shape.p();
        Groups {
            size,
            cols: match size == 1 && shape.pointwise() {
                true => Vec::new(),
                false => vec![0.0; shape.k() * columns],
            },
            out: match size {
                1 => Vec::new(),
                _ => vec![0.0; shape.c_out * columns],
            },
        }
    }
}

/// The `K × g·P` patch matrix of `g` images (`images`, contiguous): the image itself for a
/// single pointwise image, else `cols` filled by [`im2col`].
fn patches<'a>(shape: &ConvShape, cols: &'a mut [f32], images: &'a [f32], g: usize) -> MatRef<'a> {
    let ld = g * shape.p();
    if g == 1 && shape.pointwise() {
        return MatRef::row_major(images, shape.k(), ld);
    }
    for (i, image) in images.chunks_exact(shape.image_in()).enumerate() {
        im2col(shape, image, &mut cols[i * shape.p()..], ld);
    }
    MatRef::row_major(&cols[..shape.k() * ld], shape.k(), ld)
}

/// `g` images' `C_out × P` planes (`images`) as one `C_out × g·P` matrix: the planes
/// themselves for one image, else gathered side by side into `out`.
fn gather<'a>(shape: &ConvShape, out: &'a mut [f32], images: &'a [f32], g: usize) -> MatRef<'a> {
    let (p, ld) = (shape.p(), g * shape.p());
    if g == 1 {
        return MatRef::row_major(images, shape.c_out, p);
    }
    for (i, image) in images.chunks_exact(shape.image_out()).enumerate() {
        for (c, plane) in image.chunks_exact(p).enumerate() {
            out[c * ld + i * p..][..p].copy_from_slice(plane);
        }
    }
    MatRef::row_major(&out[..shape.c_out * ld], shape.c_out, ld)
}

/// Runs `f(groups, a_images, b_images, g)` for every group of `g` images of two batched
/// buffers (image sizes `a_size` and `b_size`), the images split evenly over the threads, one
/// set of group buffers per thread.
fn per_group(
    shape: &ConvShape,
    a: &mut [f32],
    a_size: usize,
    b: &[f32],
    b_size: usize,
    f: impl Fn(&mut Groups, &mut [f32], &[f32], usize) + Sync,
) {
    let per_task = images_per_task(shape.batch);
    let (a_size, b_size) = (a_size.max(1), b_size.max(1));
    a.par_chunks_mut(per_task * a_size)
        .zip(b.par_chunks(per_task * b_size))
        .for_each(|(a, b)| {
            let mut groups = Groups::new(shape);
            let g = groups.size;
            for (a, b) in a.chunks_mut(g * a_size).zip(b.chunks(g * b_size)) {
                f(&mut groups, a, b, a.len() / a_size);
            }
        });
}

/// Scatters a `rows × g·P` product (`src`) to `g` images of `rows × P` planes (`images`).
fn scatter(src: &[f32], images: &mut [f32], rows: usize, p: usize) {
    let ld = images.len() / rows.max(1);
    for (i, image) in images.chunks_exact_mut(rows * p).enumerate() {
        for (c, plane) in image.chunks_exact_mut(p).enumerate() {
            plane.copy_from_slice(&src[c * ld + i * p..][..p]);
        }
    }
}

/// `y = conv(x, weight)`: `x` is `N × C_in × H × W`, `weight` `C_out × C_in × k_h × k_w`, both
/// contiguous; returns `N × C_out × H_out × W_out`.
///
/// 3×3 stride-1 convolutions with padding 1 and 32 channels or more (most of a ResNet's) go
/// through Winograd's F(4×4, 3×3) ([`winograd`](super::winograd)), 3×3 ones of fewer
/// channels at stride 1 or 2 through the in-place kernel ([`thin`](super::thin)), the rest
/// through [`direct_forward`].
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    match shape.route() {
        Route::Winograd => super::winograd::forward(shape, x, weight),
        Route::Thin => super::thin::forward(shape, x, weight),
        Route::Unrolled => direct_forward(shape, x, weight),
    }
}

/// [`forward`] as one matrix product per image or group of images, for every geometry.
pub(super) fn direct_forward(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; shape.batch * shape.image_out()];
    shape.check(x.len(), weight.len(), y.len());
    let w = MatRef::row_major(weight, shape.c_out, shape.k());
    per_group(
        shape,
        &mut y,
        shape.image_out(),
        x,
        shape.image_in(),
        |groups, y, x, g| {
            let cols = patches(shape, &mut groups.cols, x, g);
            match g {
                1 => matmul(y, w, cols, false, shape.precision),
                _ => {
                    let out = &mut groups.out[..shape.c_out * g * shape.p()];
                    matmul(out, w, cols, false, shape.precision);
                    scatter(out, y, shape.c_out, shape.p());
                }
            }
        },
    );
    y
}

/// The gradient of the input, from the output gradient `dy` (`N × C_out × H_out × W_out`).
///
/// A stride-1 convolution's input gradient is itself a stride-1 convolution: of `dy` by the
/// kernel flipped in space with input and output channels swapped, padded by `k − 1 − p`
/// (Dumoulin & Visin 2016, "A guide to convolution arithmetic", §4.1). That form has the
/// long inner dimension `C_out·k_h·k_w`, where the product `Wᵀ · dy` has only `C_out` and a
/// scatter after it, so it is the one used whenever it applies (not pointwise, padding at
/// most `k − 1`); other strides use `col2im`.
pub fn backward_input(shape: &ConvShape, dy: &[f32], weight: &[f32]) -> Vec<f32> {
    let (kh, kw) = (shape.kh, shape.kw);
    let [py, px] = shape.padding;
    if shape.stride == [1, 1] && !shape.pointwise() && py < kh && px < kw {
        let flipped = ConvShape {
            c_in: shape.c_out,
            h: shape.h_out(),
            w: shape.w_out(),
            c_out: shape.c_in,
            padding: [kh - 1 - py, kw - 1 - px],
            ..*shape
        };
        shape.check(shape.batch * shape.image_in(), weight.len(), dy.len());
        // W'[ci, co, i, j] = W[co, ci, k_h − 1 − i, k_w − 1 − j], one input channel's kernels
        // per task (7 ms on one thread for 512 × 512 kernels).
        let size = kh * kw;
        let mut w = vec![0.0; weight.len()];
        w.par_chunks_mut((shape.c_out * size).max(1))
            .enumerate()
            .for_each(|(c, kernels)| {
                for (o, dst) in kernels.chunks_exact_mut(size).enumerate() {
                    let kernel = &weight[(o * shape.c_in + c) * size..][..size];
                    dst.iter_mut()
                        .zip(kernel.iter().rev())
                        .for_each(|(d, s)| *d = *s);
                }
            });
        return forward(&flipped, dy, &w);
    }
    let mut dx = vec![0.0; shape.batch * shape.image_in()];
    shape.check(dx.len(), weight.len(), dy.len());
    let wt = MatRef::row_major(weight, shape.c_out, shape.k()).t();
    per_group(
        shape,
        &mut dx,
        shape.image_in(),
        dy,
        shape.image_out(),
        |groups, dx, dy, g| {
            let dy = gather(shape, &mut groups.out, dy, g);
            if g == 1 && shape.pointwise() {
                return matmul(dx, wt, dy, false, shape.precision);
            }
            let ld = g * shape.p();
            let cols = &mut groups.cols[..shape.k() * ld];
            matmul(cols, wt, dy, false, shape.precision);
            for (i, image) in dx.chunks_exact_mut(shape.image_in()).enumerate() {
                col2im(shape, &cols[i * shape.p()..], image, ld);
            }
        },
    );
    dx
}

/// The gradient of the weight, `C_out × C_in × k_h × k_w`, from the input `x` and the output
/// gradient `dy`: through Winograd's transforms where the forward takes them
/// ([`winograd::backward_weight`](super::winograd::backward_weight)) or the thin kernel
/// ([`thin::backward_weight`](super::thin::backward_weight)); otherwise each thread sums its
/// groups' products into its own buffer, then the buffers are added.
///
/// The direct sum is built transposed, `dWᵀ = Σ cols · dyᵀ` (`K × C_out`): `gemm` then streams the
/// patch matrix as it lies and packs only the small `dy`, where the untransposed product
/// would copy the whole patch matrix into its packed layout once more per image.
pub fn backward_weight(shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    match shape.route() {
        Route::Winograd => super::winograd::backward_weight(shape, x, dy),
        Route::Thin => super::thin::backward_weight(shape, x, dy),
        Route::Unrolled => direct_backward_weight(shape, x, dy),
    }
}

/// [`backward_weight`] as one matrix product per image or group of images, for every
/// geometry.
pub(super) fn direct_backward_weight(shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let size = shape.c_out * shape.k();
    shape.check(x.len(), size, dy.len());
    let per_task = images_per_task(shape.batch);
    let transposed = x
        .par_chunks(per_task * shape.image_in().max(1))
        .zip(dy.par_chunks(per_task * shape.image_out().max(1)))
        .map(|(x, dy)| {
            let (mut dwt, mut groups) = (vec![0.0; size], Groups::new(shape));
            let (x_size, dy_size) = (shape.image_in().max(1), shape.image_out().max(1));
            for (x, dy) in x
                .chunks(groups.size * x_size)
                .zip(dy.chunks(groups.size * dy_size))
            {
                let g = x.len() / x_size;
                let dy = gather(shape, &mut groups.out, dy, g);
                matmul(
                    &mut dwt,
                    patches(shape, &mut groups.cols, x, g),
                    dy.t(),
                    true,
                    shape.precision,
                );
            }
            dwt
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; size]);
    let (k, c_out) = (shape.k(), shape.c_out);
    let mut dw = vec![0.0; size];
    for (o, row) in dw.chunks_exact_mut(k.max(1)).enumerate() {
        row.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = transposed[i * c_out + o]);
    }
    dw
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::kernels::precision::Precision;

    /// The definition, one multiply-add at a time.
    pub(in crate::kernels) fn naive(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
        let (ho, wo) = (shape.h_out(), shape.w_out());
        let mut y = vec![0.0; shape.batch * shape.c_out * ho * wo];
        for n in 0..shape.batch {
            for o in 0..shape.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0;
                        for c in 0..shape.c_in {
                            for i in 0..shape.kh {
                                for j in 0..shape.kw {
                                    let iy = (oy * shape.stride[0] + i) as isize
                                        - shape.padding[0] as isize;
                                    let ix = (ox * shape.stride[1] + j) as isize
                                        - shape.padding[1] as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= shape.h as isize
                                        || ix >= shape.w as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((n * shape.c_in + c) * shape.h + iy as usize)
                                        * shape.w
                                        + ix as usize;
                                    let wi = ((o * shape.c_in + c) * shape.kh + i) * shape.kw + j;
                                    acc += x[xi] * weight[wi];
                                }
                            }
                        }
                        y[((n * shape.c_out + o) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        y
    }

    /// A square-kernel layer with the same stride and padding on both axes, fp32.
    pub(in crate::kernels) fn layer(
        [batch, c_in, c_out]: [usize; 3],
        [h, w]: [usize; 2],
        k: usize,
        stride: usize,
        padding: usize,
    ) -> ConvShape {
        ConvShape {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh: k,
            kw: k,
            stride: [stride; 2],
            padding: [padding; 2],
            precision: Precision::F32,
        }
    }

    /// A deterministic, irregular test signal.
    pub(in crate::kernels) fn ramp(len: usize, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919) % 13) as f32 * scale - 0.5)
            .collect()
    }

    /// Panics unless two outputs of `shape` agree to 1e-4 everywhere.
    pub(in crate::kernels) fn assert_close(got: &[f32], want: &[f32], shape: &ConvShape) {
        assert_eq!(got.len(), want.len(), "{shape:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{shape:?}: {g} vs {w}");
        }
    }

    #[test]
    fn a_3x3_kernel_on_a_tiny_image_by_hand() {
        // One 3×3 image 1..9, a 3×3 kernel of ones, padding 1: each output is the sum of its
        // neighbourhood; the centre sums all nine (45), the corner 1+2+4+5 = 12.
        let shape = ConvShape {
            batch: 1,
            c_in: 1,
            h: 3,
            w: 3,
            c_out: 1,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            padding: [1, 1],
            precision: Precision::F32,
        };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let y = forward(&shape, &x, &[1.0; 9]);
        assert_eq!(y, [12.0, 21.0, 16.0, 27.0, 45.0, 33.0, 24.0, 39.0, 28.0]);
    }

    #[test]
    fn forward_matches_the_definition_on_odd_shapes() {
        for (k, stride, padding, h, w) in [
            (3, [1, 1], [1, 1], 5, 7),
            (3, [2, 2], [1, 1], 7, 6),
            (1, [1, 1], [0, 0], 4, 3),
            (1, [2, 2], [0, 0], 5, 5),
            (7, [2, 2], [3, 3], 9, 11),
            (3, [1, 2], [0, 2], 4, 5),
        ] {
            // 7 images: with two threads, groups of up to 4 and a last group of 3.
            let shape = ConvShape {
                batch: 7,
                c_in: 2,
                h,
                w,
                c_out: 5,
                kh: k,
                kw: k,
                stride,
                padding,
                precision: Precision::F32,
            };
            let x = ramp(shape.batch * shape.image_in(), 0.1);
            let wt = ramp(shape.c_out * shape.k(), 0.07);
            assert_close(&forward(&shape, &x, &wt), &naive(&shape, &x, &wt), &shape);
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for any x and c: the input gradient is exact.
        let shape = ConvShape {
            batch: 1,
            c_in: 2,
            h: 6,
            w: 5,
            c_out: 1,
            kh: 3,
            kw: 3,
            stride: [2, 1],
            padding: [1, 2],
            precision: Precision::F32,
        };
        let x = ramp(shape.image_in(), 0.3);
        let c = ramp(shape.k() * shape.p(), 0.11);
        let mut cols = vec![0.0; c.len()];
        im2col(&shape, &x, &mut cols, shape.p());
        let mut back = vec![0.0; x.len()];
        col2im(&shape, &c, &mut back, shape.p());
        let lhs: f32 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    /// bf16 products ([`Precision::Bf16`]) give the fp32 convolution's output and both
    /// gradients to within bf16's rounding (8 significand bits: 2⁻⁹ relative per operand;
    /// 0.16–0.26 % of the largest value measured) on direct, strided and pointwise
    /// geometries; Winograd's (64 channels) keeps fp32 products, which bf16 would put 6 % off,
    /// and so does the thin kernel (3×3 at stride 1 or 2 and 1×1 at stride 2 below 32
    /// channels), which has no product.
    /// The fp32 kernels are themselves tested against burn's (`kernels::tests`).
    #[test]
    fn bf16_products_agree_with_fp32_to_bf16_rounding() {
        if !super::super::matmul::bf16::available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let random = |len: usize, seed: u64| -> Vec<f32> {
            let mut state = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
                })
                .collect()
        };
        for (c_in, c_out, side, k, stride, pad, tolerance) in [
            (16, 16, 12, 3, 1, 1, 1e-2),
            (8, 16, 11, 3, 2, 1, 1e-2),
            (16, 32, 10, 1, 2, 0, 1e-2),
            (3, 8, 13, 7, 2, 3, 1e-2),
            // Winograd in fp32: too little work per image for the tiles (2¹⁸).
            (64, 64, 8, 3, 1, 1, 1e-2),
            // Winograd in fp32, or, where the CPU has AMX, the direct product on its tiles.
            (64, 64, 16, 3, 1, 1, 1e-2),
        ] {
            let shape = layer([3, c_in, c_out], [side, side], k, stride, pad);
            let bf16 = ConvShape {
                precision: Precision::Bf16,
                ..shape
            };
            let x = random(shape.batch * shape.image_in(), 1);
            let w = random(shape.c_out * shape.k(), 2);
            let dy = random(shape.batch * shape.image_out(), 3);
            if c_in == 64 {
                let tiles = side == 16 && super::super::matmul::amx::available();
                let want = [Route::Winograd, Route::Unrolled][tiles as usize];
                assert_eq!(bf16.route(), want, "route of {bf16:?}");
            }
            for (name, got, want) in [
                ("output", forward(&bf16, &x, &w), forward(&shape, &x, &w)),
                (
                    "input gradient",
                    backward_input(&bf16, &dy, &w),
                    backward_input(&shape, &dy, &w),
                ),
                (
                    "weight gradient",
                    backward_weight(&bf16, &x, &dy),
                    backward_weight(&shape, &x, &dy),
                ),
            ] {
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                let err = got
                    .iter()
                    .zip(&want)
                    .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
                assert!(
                    err <= tolerance * scale,
                    "{name} of {shape:?}: bf16 differs by {err} for values up to {scale}"
                );
                // The input gradient of a stride-1 layer is the flipped kernel's forward; a
                // strided one's is a product and col2im.
                let fp32 = bf16.route() != Route::Unrolled
                    && (name != "input gradient" || shape.stride == [1, 1]);
                assert_eq!(err == 0.0, fp32, "{name} of {shape:?}: rounded {}", !fp32);
            }
        }
    }
}

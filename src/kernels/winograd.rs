//! 3×3 stride-1 convolution with padding 1 by Winograd's minimal filtering F(4×4, 3×3)
//! (Lavin & Gray 2016, "Fast algorithms for convolutional neural networks", §4 and §5).
//!
//! The output is cut into 4×4 tiles, each computed from a 6×6 input tile `d` and the 3×3
//! kernel `g` as `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input channels, the
//! element-wise product becomes, for each of the 36 tile positions ξ, one matrix product
//! `M_ξ = U_ξ · V_ξ` (`C_out × C_in` transformed kernels by `C_in × tiles` transformed
//! inputs): 36·C_in multiply-adds per output tile of sixteen pixels instead of 144·C_in, 4×
//! fewer than the direct product, for transforms that read and write each value a few times
//! (2.25 transformed values per output pixel, where F(2×2, 3×3) needs 4). It serves the
//! forward pass and, through the flipped-kernel form of
//! [`conv::backward_input`](super::conv::backward_input), the input gradient. The weight
//! gradient is the same computation run backwards ([`backward_weight`]):
//! `∂U_ξ = V_ξᵀ · ∂M_ξ` with `∂M = A ∂Y Aᵀ` per tile, then `∂g = Gᵀ ∂U G`.
//!
//! Its products stay fp32 in a bf16 run (`train.precision`): the transforms' coefficients
//! (up to 5 in `Bᵀ`, 8 in `Aᵀ`) amplify bf16's rounding of the transformed operands to 6 % of
//! the largest output on a 64-channel layer, where the direct product errs by 0.25 %
//! (`conv::tests::bf16_products_agree_with_fp32_to_bf16_rounding`).
//!
//! The matrices (Lavin & Gray, §5, interpolation points 0, ±1, ±2):
//!
//! ```text
//! Bᵀ = [ 4  0 −5  0  1  0 ]    G = [  1/4     0     0  ]    Aᵀ = [ 1  1  1  1  1  0 ]
//!      [ 0 −4 −4  1  1  0 ]        [ −1/6  −1/6  −1/6 ]         [ 0  1 −1  2 −2  0 ]
//!      [ 0  4 −4 −1  1  0 ]        [ −1/6   1/6  −1/6 ]         [ 0  1  1  4  4  0 ]
//!      [ 0 −2 −1  2  1  0 ]        [ 1/24  1/12   1/6 ]         [ 0  1 −1  8 −8  1 ]
//!      [ 0  2 −1 −2  1  0 ]        [ 1/24 −1/12   1/6 ]
//!      [ 0  4  0 −5  0  1 ]        [   0     0     1  ]
//! ```

use super::conv_shape::{ConvShape, images_per_task};
use super::matmul::{MatRef, matmul};
use super::precision::Precision;
use super::vectorize::vectorized;
use super::written::Append;
use rayon::prelude::*;

/// Output pixels per tile side.
const M: usize = 4;

/// Input pixels per tile side: `M + 2` for a 3×3 kernel.
const ALPHA: usize = 6;

/// Tile positions: 6×6.
const XI: usize = ALPHA * ALPHA;

/// Rows (tiles) each of the 36 products should have: a thread's images are grouped until
/// they reach it. On the narrow ResNet-18 (widths 16–128) at 2 threads, 64 and 256 ran
/// alike and 1024 slower (the transformed inputs and outputs of a group leave the cache).
const COLUMNS: usize = 256;

/// Whether the convolution is one this module computes: 3×3, stride 1, padding 1, wide
/// enough to gain from it, and a map that the 4×4 tiles cover without computing more than
/// twice its pixels (a 2×2 map would cost a whole tile, 16 pixels, for 4).
pub fn applies(shape: &ConvShape) -> bool {
    let tiles = Tiles::of(shape);
    fits(shape)
        && shape.c_in.min(shape.c_out) >= MIN_CHANNELS
        && tiles.count() * M * M <= 2 * shape.h * shape.w
}

/// 3×3, stride 1, padding 1: the geometry [`forward`] computes.
fn fits(shape: &ConvShape) -> bool {
    shape.kh == 3 && shape.kw == 3 && shape.stride == [1, 1] && shape.padding == [1, 1]
}

/// Fewer channels than this on either side make the 36 products too small to pay for the
/// transforms: on the narrow ResNet-18, its 16-channel layers ran at 80–90 effective
/// GFLOP/s with them and 95–100 without, its 32-channel ones 130–165 with and 120–130
/// without.
const MIN_CHANNELS: usize = 32;

/// `G g` for one column `g` of a kernel (see the module's matrices).
#[inline(always)]
fn kernel_column([g0, g1, g2]: [f32; 3]) -> [f32; ALPHA] {
    // Products by the reciprocals: a division costs several times a product, and this runs
    // 27 times for each 3×3 kernel of every call.
    const SIXTH: f32 = 1.0 / 6.0;
    let (sum, odd) = (g0 + g2, g0 * (1.0 / 24.0) + g2 * SIXTH);
    [
        g0 * 0.25,
        -(sum + g1) * SIXTH,
        -(sum - g1) * SIXTH,
        odd + g1 * (1.0 / 12.0),
        odd - g1 * (1.0 / 12.0),
        g2,
    ]
}

/// `Bᵀ d` for one column `d` of an input tile.
#[inline(always)]
fn input_column([d0, d1, d2, d3, d4, d5]: [f32; ALPHA]) -> [f32; ALPHA] {
    let (a, b) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
    let (c, e) = (d4 - d2, 2.0 * (d3 - d1));
    [
        4.0 * d0 - 5.0 * d2 + d4,
        a + b,
        a - b,
        c + e,
        c - e,
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// `Aᵀ m` for one column `m` of a transformed output tile.
#[inline(always)]
fn output_column([m0, m1, m2, m3, m4, m5]: [f32; ALPHA]) -> [f32; M] {
    let (p1, n1, p2, n2) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + p1 + p2,
        n1 + 2.0 * n2,
        p1 + 4.0 * p2,
        n1 + 8.0 * n2 + m5,
    ]
}

/// `A y` for one column `y` of an output-gradient tile: the adjoint of [`output_column`].
#[inline(always)]
fn output_adjoint([y0, y1, y2, y3]: [f32; M]) -> [f32; ALPHA] {
    let (p0, p1) = (y0 + y2, y1 + y3);
    let (q0, q1) = (y0 + 4.0 * y2, 2.0 * y1 + 8.0 * y3);
    [y0, p0 + p1, p0 - p1, q0 + q1, q0 - q1, y3]
}

/// `Gᵀ u` for one column `u` of a transformed kernel's gradient: the adjoint of
/// [`kernel_column`].
#[inline(always)]
fn kernel_adjoint([u0, u1, u2, u3, u4, u5]: [f32; ALPHA]) -> [f32; 3] {
    const SIXTH: f32 = 1.0 / 6.0;
    let (p, n) = (u1 + u2, u1 - u2);
    let (pp, nn) = (u3 + u4, u3 - u4);
    [
        u0 * 0.25 - p * SIXTH + pp * (1.0 / 24.0),
        -n * SIXTH + nn * (1.0 / 12.0),
        -p * SIXTH + pp * SIXTH + u5,
    ]
}

/// Channels per block of [`across_channels`]: one AVX-512 vector, two AVX2 ones.
const LANES: usize = 16;

/// Applies a column transform `f` to every channel of `I` channel vectors (`src`, each `C`
/// long), handing output `j`'s values for channels `k..k + len` to `put(j, k, values)`.
///
/// The transforms are one formula per channel; written as a loop over the channels of six
/// slices, the compiler kept it scalar. Here `LANES` channels at a time go through `f`
/// from fixed-size arrays, a loop it vectorises (to the widest instructions where the caller
/// runs under [`vectorized`]); the last `C mod LANES` channels go one by one.
#[inline(always)]
fn across_channels<const I: usize, const O: usize>(
    src: [&[f32]; I],
    f: impl Fn([f32; I]) -> [f32; O],
    mut put: impl FnMut(usize, usize, &[f32]),
) {
    let c = src[0].len();
    let mut k = 0;
    while k < c {
        let len = LANES.min(c - k);
        let mut out = [[0f32; LANES]; O];
        if len == LANES {
            let blocks: [[f32; LANES]; I] = std::array::from_fn(|i| {
                let block = &src[i][k..k + LANES];
                std::array::from_fn(|l| block[l])
            });
            for l in 0..LANES {
                let values = f(std::array::from_fn(|i| blocks[i][l]));
                for (out, value) in out.iter_mut().zip(values) {
                    out[l] = value;
                }
            }
        } else {
            for l in 0..len {
                let values = f(std::array::from_fn(|i| src[i][k + l]));
                for (out, value) in out.iter_mut().zip(values) {
                    out[l] = value;
                }
            }
        }
        for (j, out) in out.iter().enumerate() {
            put(j, k, &out[..len]);
        }
        k += len;
    }
}

/// Copies `values` to the start of `dst`: a whole block as one fixed-size copy (a
/// slice's `copy_from_slice` of unknown length calls `memmove`, 9 % of the ConvNet's step).
#[inline(always)]
fn store(dst: &mut [f32], values: &[f32]) {
    match (
        <&[f32; LANES]>::try_from(values),
        dst.first_chunk_mut::<LANES>(),
    ) {
        (Ok(values), Some(dst)) => *dst = *values,
        _ => dst[..values.len()].copy_from_slice(values),
    }
}

/// The kernels transformed, `U_ξ = (G g Gᵀ)_ξ`, laid out `[C_in][ξ][C_out]`: row `i` of
/// the `C_in × C_out` matrix `U_ξᵀ` (the right-hand side of product ξ) starts at
/// `(i·36 + ξ)·C_out`. Each input channel's 36 rows are one contiguous block, computed on
/// its own (in parallel); written in the weight's order, on one thread, each kernel's values
/// went to 36 matrices far apart (34 of a 55 ms call on 512 channels, with divisions).
fn transform_kernels(shape: &ConvShape, weight: &[f32]) -> Vec<f32> {
    let (c_out, c_in) = (shape.c_out, shape.c_in);
    let mut u = vec![0.0; XI * c_out * c_in];
    u.par_chunks_mut(XI * c_out)
        .enumerate()
        .for_each(|(i, block)| {
            for o in 0..c_out {
                let g = &weight[(o * c_in + i) * 9..][..9];
                // G g: 6 × 3, column by column.
                let columns: [[f32; ALPHA]; 3] =
                    std::array::from_fn(|j| kernel_column([g[j], g[3 + j], g[6 + j]]));
                // (G g) Gᵀ: 6 × 6, row r is G applied to row r of G g.
                for r in 0..ALPHA {
                    let row = kernel_column([columns[0][r], columns[1][r], columns[2][r]]);
                    for (q, v) in row.into_iter().enumerate() {
                        block[(r * ALPHA + q) * c_out + o] = v;
                    }
                }
            }
        });
    u
}

/// The geometry of the tiles of one image.
#[derive(Clone, Copy)]
struct Tiles {
    h: usize,
    w: usize,
    rows: usize,
    cols: usize,
}

impl Tiles {
    fn of(shape: &ConvShape) -> Self {
        Tiles {
            h: shape.h,
            w: shape.w,
            rows: shape.h.div_ceil(M),
            cols: shape.w.div_ceil(M),
        }
    }

    fn count(&self) -> usize {
        self.rows * self.cols
    }
}

/// How [`forward`] and [`backward_weight`] cut a batch: the tiles of an image, the images
/// of a thread and the images of one group of products.
struct Plan {
    tiles: Tiles,
    /// Tiles per image.
    t: usize,
    per_task: usize,
    /// Images per group: enough for [`COLUMNS`] tiles, at most a task's images.
    group: usize,
}

impl Plan {
    /// The plan for `shape`, which must be a geometry this module computes.
    fn of(shape: &ConvShape) -> Self {
        assert!(
            fits(shape),
            "not a 3×3 stride-1 padding-1 convolution: {shape:?}"
        );
        let tiles = Tiles::of(shape);
        let t = tiles.count();
        let per_task = images_per_task(shape.batch);
        Plan {
            tiles,
            t,
            per_task,
            group: COLUMNS.div_ceil(t).clamp(1, per_task),
        }
    }
}

/// `y = conv(x, weight)` for a 3×3 stride-1 convolution with padding 1 (any widths; pretext
/// calls it where it [`applies`]); the layouts of
/// [`conv::forward`](super::conv::forward).
///
/// Each thread takes its share of the images in groups of [`COLUMNS`] tiles. An image is
/// copied channels-last into a zero-bordered buffer, so that every transform works on
/// vectors of channels (whatever the map's size); the transformed inputs of the group form
/// 36 matrices `tiles × C_in`, each multiplied by its `C_in × C_out` transformed kernels, and
/// the `tiles × C_out` results are transformed back channels-last, then copied to the
/// image's channel-major output.
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let Plan {
        tiles,
        t,
        per_task,
        group,
    } = Plan::of(shape);
    let (c_in, c_out, plane) = (shape.c_in, shape.c_out, shape.h * shape.w);
    let len = shape.batch * c_out * plane;
    shape.check(x.len(), weight.len(), len);
    let u = transform_kernels(shape, weight);
    super::written::par_chunks(len, per_task * c_out * plane, |task, y| {
        let start = task * per_task * c_in * plane;
        let x = &x[start..(start + per_task * c_in * plane).min(x.len())];
        let mut v = vec![0.0; XI * group * t * c_in];
        let mut m = vec![0.0; XI * group * t * c_out];
        let mut work = Work::new(&tiles, c_in.max(c_out));
        for x in x.chunks(group * c_in * plane) {
            let n = x.len() / (c_in * plane) * t;
            vectorized(
                #[inline(always)]
                || {
                    for (image, x) in x.chunks_exact(c_in * plane).enumerate() {
                        work.transform_input(x, c_in, &mut v[..XI * n * c_in], image * t, n);
                    }
                },
            );
            for xi in 0..XI {
                let v = MatRef::row_major(&v[xi * n * c_in..][..n * c_in], n, c_in);
                let u = MatRef {
                    data: &u[xi * c_out..],
                    rows: c_in,
                    cols: c_out,
                    row_stride: XI * c_out,
                    col_stride: 1,
                };
                matmul(
                    &mut m[xi * n * c_out..][..n * c_out],
                    v,
                    u,
                    false,
                    Precision::F32,
                );
            }
            vectorized(
                #[inline(always)]
                || {
                    for image in 0..x.len() / (c_in * plane) {
                        work.transform_output(&m[..XI * n * c_out], c_out, image * t, n, y);
                    }
                },
            );
        }
    })
}

/// The gradient of the weight, `C_out × C_in × 3 × 3`, of a convolution [`forward`]
/// computes, from the input `x` and the output gradient `dy`: the forward's products run
/// backwards. Each thread sums `∂U_ξ = Σ V_ξᵀ · ∂M_ξ` over its groups of images (the inputs
/// transformed as in the forward, `∂M = A ∂Y Aᵀ` for each output tile); the threads' sums
/// are added, and each kernel's gradient is `Gᵀ ∂U G`.
pub fn backward_weight(shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let Plan {
        tiles,
        t,
        per_task,
        group,
    } = Plan::of(shape);
    let (c_in, c_out, plane) = (shape.c_in, shape.c_out, shape.h * shape.w);
    let size = c_in * c_out;
    shape.check(x.len(), size * 9, dy.len());
    let du = x
        .par_chunks(per_task * c_in * plane)
        .zip(dy.par_chunks(per_task * c_out * plane))
        .map(|(x, dy)| {
            let mut du = vec![0.0; XI * size];
            let mut v = vec![0.0; XI * group * t * c_in];
            let mut dm = vec![0.0; XI * group * t * c_out];
            let mut work = Work::new(&tiles, c_in.max(c_out));
            for (x, dy) in x
                .chunks(group * c_in * plane)
                .zip(dy.chunks(group * c_out * plane))
            {
                let n = x.len() / (c_in * plane) * t;
                vectorized(
                    #[inline(always)]
                    || {
                        for (image, x) in x.chunks_exact(c_in * plane).enumerate() {
                            work.transform_input(x, c_in, &mut v[..XI * n * c_in], image * t, n);
                        }
                        for (image, dy) in dy.chunks_exact(c_out * plane).enumerate() {
                            work.transform_gradient(
                                dy,
                                c_out,
                                &mut dm[..XI * n * c_out],
                                image * t,
                                n,
                            );
                        }
                    },
                );
                for xi in 0..XI {
                    let v = MatRef::row_major(&v[xi * n * c_in..][..n * c_in], n, c_in);
                    let dm = MatRef::row_major(&dm[xi * n * c_out..][..n * c_out], n, c_out);
                    matmul(
                        &mut du[xi * size..][..size],
                        v.t(),
                        dm,
                        true,
                        Precision::F32,
                    );
                }
            }
            du
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; XI * size]);
    // ∂g = Gᵀ ∂U G for each kernel, input channel by input channel (reading the 36 matrices
    // in order), into `[C_in][C_out][3×3]`, then transposed to the weight's layout.
    let mut transposed = vec![0.0; size * 9];
    transposed
        .par_chunks_mut(c_out * 9)
        .enumerate()
        .for_each(|(i, kernels)| {
            for (o, dg) in kernels.chunks_exact_mut(9).enumerate() {
                let at = |xi: usize| du[xi * size + i * c_out + o];
                // Gᵀ ∂U: 3 × 6, column by column.
                let columns: [[f32; 3]; ALPHA] = std::array::from_fn(|q| {
                    kernel_adjoint(std::array::from_fn(|r| at(r * ALPHA + q)))
                });
                // (Gᵀ ∂U) G: row j combines the columns.
                for j in 0..3 {
                    let row = kernel_adjoint(std::array::from_fn(|q| columns[q][j]));
                    dg[j * 3..][..3].copy_from_slice(&row);
                }
            }
        });
    let mut dw = vec![0.0; size * 9];
    for (o, kernels) in dw.chunks_exact_mut(c_in * 9).enumerate() {
        for (i, dg) in kernels.chunks_exact_mut(9).enumerate() {
            dg.copy_from_slice(&transposed[(i * c_out + o) * 9..][..9]);
        }
    }
    dw
}

/// A thread's buffers for the transforms of one image at a time.
struct Work {
    tiles: Tiles,
    /// The image channels-last with its zero border: `4·rows + 2` rows of `4·cols + 2`
    /// pixels of `C` values. Only the inside is ever written, so the border stays zero.
    padded: Vec<f32>,
    /// `Bᵀ d` of one tile (6×6 vectors of `C_in`), or `Aᵀ m` (4×6 vectors of `C_out`).
    half: Vec<f32>,
    /// One image's output channels-last (`H·W` pixels of `C_out`).
    out: Vec<f32>,
    /// One image's output gradient channels-last, zero past the map's edge up to whole
    /// tiles (`4·rows × 4·cols` pixels of `C_out`); allocated by the first
    /// [`Work::transform_gradient`].
    grad: Vec<f32>,
}

impl Work {
    fn new(tiles: &Tiles, channels: usize) -> Self {
        let (hp, wp) = (M * tiles.rows + 2, M * tiles.cols + 2);
        Work {
            tiles: *tiles,
            padded: vec![0.0; hp * wp * channels],
            half: vec![0.0; XI * channels],
            out: vec![0.0; tiles.h * tiles.w * channels],
            grad: Vec::new(),
        }
    }

    /// Writes `Bᵀ d B` of every tile of one image `x` (`C × H × W`): value ξ of its tile `k`
    /// goes to row `first + k` of the `n × C` matrix ξ of `v`.
    #[inline(always)]
    fn transform_input(&mut self, x: &[f32], c: usize, v: &mut [f32], first: usize, n: usize) {
        let Tiles { h, w, rows, cols } = self.tiles;
        let wp = M * cols + 2;
        let padded = &mut self.padded[..(M * rows + 2) * wp * c];
        for (ch, plane) in x.chunks_exact(h * w).enumerate() {
            for (py, line) in plane.chunks_exact(w).enumerate() {
                let row = &mut padded[((py + 1) * wp + 1) * c..][..w * c];
                for (pixel, &value) in row.chunks_exact_mut(c).zip(line) {
                    pixel[ch] = value;
                }
            }
        }
        let half = &mut self.half[..XI * c];
        for ty in 0..rows {
            for tx in 0..cols {
                // Bᵀ d: row a of the tile's columns j, as vectors of channels.
                for j in 0..ALPHA {
                    let d: [&[f32]; ALPHA] = std::array::from_fn(|i| {
                        &padded[((M * ty + i) * wp + M * tx + j) * c..][..c]
                    });
                    across_channels(d, input_column, |a, k, values| {
                        store(&mut half[(j * ALPHA + a) * c + k..], values)
                    });
                }
                // (Bᵀ d) B: for each row a, combine the columns j.
                let row = first + ty * cols + tx;
                for a in 0..ALPHA {
                    let t: [&[f32]; ALPHA] =
                        std::array::from_fn(|j| &half[(j * ALPHA + a) * c..][..c]);
                    let out: [usize; ALPHA] =
                        std::array::from_fn(|b| ((ALPHA * a + b) * n + row) * c);
                    across_channels(t, input_column, |b, k, values| {
                        store(&mut v[out[b] + k..], values)
                    });
                }
            }
        }
    }

    /// Writes `A ∂Y Aᵀ` of every output tile of one image's gradient `dy` (`C × H × W`):
    /// value ξ of its tile `k` goes to row `first + k` of the `n × C` matrix ξ of `dm`.
    #[inline(always)]
    fn transform_gradient(&mut self, dy: &[f32], c: usize, dm: &mut [f32], first: usize, n: usize) {
        let Tiles { h, w, rows, cols } = self.tiles;
        let wg = M * cols;
        if self.grad.len() < M * rows * wg * c {
            self.grad = vec![0.0; M * rows * wg * c];
        }
        let grad = &mut self.grad[..M * rows * wg * c];
        for (ch, plane) in dy.chunks_exact(h * w).enumerate() {
            for (py, line) in plane.chunks_exact(w).enumerate() {
                let row = &mut grad[py * wg * c..][..w * c];
                for (pixel, &value) in row.chunks_exact_mut(c).zip(line) {
                    pixel[ch] = value;
                }
            }
        }
        let half = &mut self.half[..ALPHA * M * c];
        for ty in 0..rows {
            for tx in 0..cols {
                // A ∂Y: for each column j of the tile, combine its 4 rows.
                for j in 0..M {
                    let d: [&[f32]; M] =
                        std::array::from_fn(|r| &grad[((M * ty + r) * wg + M * tx + j) * c..][..c]);
                    across_channels(d, output_adjoint, |a, k, values| {
                        store(&mut half[(a * M + j) * c + k..], values)
                    });
                }
                // (A ∂Y) Aᵀ: for each row a, combine its 4 columns.
                let row = first + ty * cols + tx;
                for a in 0..ALPHA {
                    let t: [&[f32]; M] = std::array::from_fn(|j| &half[(a * M + j) * c..][..c]);
                    let out: [usize; ALPHA] =
                        std::array::from_fn(|b| ((ALPHA * a + b) * n + row) * c);
                    across_channels(t, output_adjoint, |b, k, values| {
                        store(&mut dm[out[b] + k..], values)
                    });
                }
            }
        }
    }

    /// Appends `Aᵀ m A` of every tile of one image to `y` (`C × H × W`), reading value ξ of
    /// its tile `k` from row `first + k` of the `n × C` matrix ξ of `m`; drops what lies past
    /// the map's edge.
    #[inline(always)]
    fn transform_output(&mut self, m: &[f32], c: usize, first: usize, n: usize, y: &mut Append) {
        let Tiles { h, w, rows, cols } = self.tiles;
        let out = &mut self.out[..h * w * c];
        let half = &mut self.half[..M * ALPHA * c];
        for ty in 0..rows {
            for tx in 0..cols {
                let row = first + ty * cols + tx;
                // Aᵀ m: for each column b, combine the rows a.
                for b in 0..ALPHA {
                    let q: [&[f32]; ALPHA] =
                        std::array::from_fn(|a| &m[((ALPHA * a + b) * n + row) * c..][..c]);
                    across_channels(q, output_column, |r, k, values| {
                        store(&mut half[(b * M + r) * c + k..], values)
                    });
                }
                // (Aᵀ m) A: for each output row r, combine the columns b.
                for r in 0..M.min(h - M * ty) {
                    let z: [&[f32]; ALPHA] = std::array::from_fn(|b| &half[(b * M + r) * c..][..c]);
                    let pixels = M.min(w - M * tx);
                    let line = &mut out[((M * ty + r) * w + M * tx) * c..][..pixels * c];
                    across_channels(z, output_column, |p, k, values| {
                        if p < pixels {
                            store(&mut line[p * c + k..], values)
                        }
                    });
                }
            }
        }
        for ch in 0..c {
            y.extend(out.chunks_exact(c).map(|pixel| pixel[ch]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::direct_forward;
    use super::super::conv::tests::{assert_close, ramp};
    use super::*;

    /// Odd sides (a last tile partly outside), 1-pixel images, small maps that are grouped
    /// (batch 5: groups and a partial last group), maps of several tiles, and channel counts
    /// that are no multiple of a vector.
    fn shapes() -> impl Iterator<Item = ConvShape> {
        [
            (5, 3, 4, 7, 5),
            (2, 2, 3, 1, 1),
            (5, 4, 6, 4, 4),
            (3, 5, 2, 2, 3),
            (1, 1, 1, 3, 3),
            (2, 8, 8, 16, 16),
            (3, 33, 20, 9, 6),
        ]
        .into_iter()
        .map(|(batch, c_in, c_out, h, w)| ConvShape {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            padding: [1, 1],
            precision: Precision::F32,
        })
    }

    #[test]
    fn agrees_with_the_direct_product_on_odd_sizes_and_groups() {
        for shape in shapes() {
            let x = ramp(shape.batch * shape.c_in * shape.h * shape.w, 0.1);
            let weight = ramp(shape.c_out * shape.c_in * 9, 0.07);
            assert_close(
                &forward(&shape, &x, &weight),
                &direct_forward(&shape, &x, &weight),
                &shape,
            );
        }
    }

    /// The weight gradient, a sum over every pixel of the batch, agrees to 1e-5 of its
    /// largest value.
    #[test]
    fn the_weight_gradient_agrees_with_the_direct_product() {
        use super::super::conv::direct_backward_weight;
        for shape in shapes() {
            let x = ramp(shape.batch * shape.c_in * shape.h * shape.w, 0.1);
            let dy = ramp(shape.batch * shape.c_out * shape.h * shape.w, 0.07);
            let (got, want) = (
                backward_weight(&shape, &x, &dy),
                direct_backward_weight(&shape, &x, &dy),
            );
            let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * scale, "{shape:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn applies_where_the_tiles_and_the_products_pay() {
        let shape = |c: usize, side: usize| ConvShape {
            batch: 8,
            c_in: c,
            h: side,
            w: side,
            c_out: c,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            padding: [1, 1],
            precision: Precision::F32,
        };
        assert!(applies(&shape(64, 8)));
        assert!(applies(&shape(32, 4)), "one tile, exactly the map");
        assert!(applies(&shape(512, 7)), "64 tile pixels for 49");
        assert!(!applies(&shape(16, 32)), "too few channels");
        assert!(!applies(&shape(512, 2)), "16 tile pixels for 4");
        assert!(!applies(&shape(512, 5)), "64 tile pixels for 25");
        let strided = ConvShape {
            stride: [2, 2],
            ..shape(64, 8)
        };
        assert!(!applies(&strided));
    }

    #[test]
    fn a_centre_tap_copies_and_a_corner_tap_shifts_by_hand() {
        // A 4×4 image 0..16 (one tile). The kernel that keeps its centre tap returns the
        // image; the one that keeps its top-left tap returns it shifted one pixel down and
        // right, zeros entering from the padding (up to rounding: G holds sixths).
        let shape = ConvShape {
            batch: 1,
            c_in: 1,
            h: 4,
            w: 4,
            c_out: 1,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            padding: [1, 1],
            precision: Precision::F32,
        };
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let tap = |i: usize| -> Vec<f32> { (0..9).map(|j| f32::from(u8::from(i == j))).collect() };
        assert_close(&forward(&shape, &x, &tap(4)), &x, &shape);
        let shifted = [
            0.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 1.0, 2.0, //
            0.0, 4.0, 5.0, 6.0, //
            0.0, 8.0, 9.0, 10.0,
        ];
        assert_close(&forward(&shape, &x, &tap(0)), &shifted, &shape);
    }
}

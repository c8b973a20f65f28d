//! 3×3 stride-1 convolution with padding 1 by Winograd's minimal filtering F(2×2, 3×3)
//! (Lavin & Gray 2016, "Fast algorithms for convolutional neural networks", §4).
//!
//! The output is cut into 2×2 tiles, each computed from a 4×4 input tile `d` and the 3×3
//! kernel `g` as `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input channels, the
//! element-wise product becomes, for each of the 16 tile positions ξ, one matrix product
//! `M_ξ = U_ξ · V_ξ` (`C_out × C_in` transformed kernels by `C_in × tiles` transformed
//! inputs): 16·C_in multiply-adds per output tile of four pixels instead of 36·C_in, 2.25×
//! fewer than the direct product, for transforms that read and write each value a few times.
//! It serves the forward pass and, through the flipped-kernel form of
//! [`conv::backward_input`](super::conv::backward_input), the input gradient.

use super::conv::{ConvShape, images_per_task};
use super::matmul::{MatRef, matmul};
use rayon::prelude::*;

/// Tile positions: 4×4.
const XI: usize = 16;

/// Columns (tiles) each of the 16 products should have: a thread's images are grouped until
/// they reach it. On ResNet-18 at 32 px, 512 and 1024 ran alike, 2048 slower (more memory
/// per thread) and 256 slower still.
const COLUMNS: usize = 512;

/// Whether the convolution is one this module computes: 3×3, stride 1, padding 1, and wide
/// enough to gain from it.
pub fn applies(shape: &ConvShape) -> bool {
    fits(shape) && shape.c_in.min(shape.c_out) >= MIN_CHANNELS
}

/// 3×3, stride 1, padding 1: the geometry [`forward`] computes.
fn fits(shape: &ConvShape) -> bool {
    shape.kh == 3 && shape.kw == 3 && shape.stride == [1, 1] && shape.padding == [1, 1]
}

/// Fewer channels than this on either side make the 16 products too small to pay for the
/// transforms. Measured at 2 threads: 32 made the small ConvNet about 4 % faster but the
/// narrow ResNet-18 (widths 16–128) about 3 % slower; 16 slowed the narrow ResNet more.
const MIN_CHANNELS: usize = 64;

/// The kernels transformed, `U_ξ = (G g Gᵀ)_ξ`, as 16 matrices `C_out × C_in`, with
/// `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`.
fn transform_kernels(shape: &ConvShape, weight: &[f32]) -> Vec<f32> {
    let (c_out, c_in) = (shape.c_out, shape.c_in);
    let mut u = vec![0.0; XI * c_out * c_in];
    for (oc, g) in weight.chunks_exact(9).enumerate() {
        // G g: 4 × 3, column by column.
        let mut t = [[0.0f32; 3]; 4];
        for j in 0..3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
            t[0][j] = g0;
            t[1][j] = 0.5 * (g0 + g1 + g2);
            t[2][j] = 0.5 * (g0 - g1 + g2);
            t[3][j] = g2;
        }
        // (G g) Gᵀ: 4 × 4.
        for (i, [a, b, c]) in t.into_iter().enumerate() {
            let row = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
            for (j, v) in row.into_iter().enumerate() {
                u[(i * 4 + j) * c_out * c_in + oc] = v;
            }
        }
    }
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
            rows: shape.h.div_ceil(2),
            cols: shape.w.div_ceil(2),
        }
    }

    fn count(&self) -> usize {
        self.rows * self.cols
    }
}

/// `y = conv(x, weight)` for a 3×3 stride-1 convolution with padding 1 (any widths; pretext
/// calls it where it [`applies`]); the layouts of
/// [`conv::forward`](super::conv::forward).
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    assert!(
        fits(shape),
        "not a 3×3 stride-1 padding-1 convolution: {shape:?}"
    );
    let (c_in, c_out, plane) = (shape.c_in, shape.c_out, shape.h * shape.w);
    let mut y = vec![0.0; shape.batch * c_out * plane];
    shape.check(x.len(), weight.len(), y.len());
    let u = transform_kernels(shape, weight);
    let tiles = Tiles::of(shape);
    let t = tiles.count();
    let per_task = images_per_task(shape.batch);
    let group = COLUMNS.div_ceil(t).clamp(1, per_task);
    y.par_chunks_mut(per_task * c_out * plane)
        .zip(x.par_chunks(per_task * c_in * plane))
        .for_each(|(y, x)| {
            let mut v = vec![0.0; XI * c_in * group * t];
            let mut m = vec![0.0; XI * c_out * group * t];
            let mut rows = Rows::new(&tiles);
            for (y, x) in y
                .chunks_mut(group * c_out * plane)
                .zip(x.chunks(group * c_in * plane))
            {
                let n = x.len() / (c_in * plane) * t;
                for (c, plane_in) in x.chunks_exact(plane).enumerate() {
                    let (image, c) = (c / c_in, c % c_in);
                    rows.transform_input(plane_in, &mut v, c * n + image * t, c_in * n);
                }
                for xi in 0..XI {
                    let u = MatRef::row_major(&u[xi * c_out * c_in..][..c_out * c_in], c_out, c_in);
                    let v = MatRef::row_major(&v[xi * c_in * n..][..c_in * n], c_in, n);
                    matmul(&mut m[xi * c_out * n..][..c_out * n], u, v, false);
                }
                for (o, plane_out) in y.chunks_exact_mut(plane).enumerate() {
                    let (image, o) = (o / c_out, o % c_out);
                    rows.transform_output(&m, o * n + image * t, c_out * n, plane_out);
                }
            }
        });
    y
}

/// The input and output transforms, one tile row at a time: applied to all the tiles of the
/// row at once, so that each step is an element-wise
/// operation on contiguous rows (which the compiler vectorises) rather than on one 4×4 tile.
struct Rows {
    tiles: Tiles,
    /// The plane with its zero border: `2·rows + 2` rows of `2·cols + 2`.
    padded: Vec<f32>,
    /// `Bᵀ d` of a tile row (4 rows of `2·cols + 2`), or `Aᵀ m` (2 rows × 4 of `cols`).
    t: Vec<f32>,
}

impl Rows {
    fn new(tiles: &Tiles) -> Self {
        let wp = 2 * tiles.cols + 2;
        Rows {
            tiles: *tiles,
            padded: vec![0.0; (2 * tiles.rows + 2) * wp],
            t: vec![0.0; 8 * wp],
        }
    }

    /// Writes `Bᵀ d B` of every tile of one channel's `plane`, with
    /// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`: value ξ of tile `k`
    /// (row-major) goes to `v[base + ξ·stride + k]`. Only the inside of the padded plane is
    /// ever written, so its border stays zero from one plane to the next.
    fn transform_input(&mut self, plane: &[f32], v: &mut [f32], base: usize, stride: usize) {
        let Tiles { w, rows, cols, .. } = self.tiles;
        let wp = 2 * cols + 2;
        for (y, line) in plane.chunks_exact(w).enumerate() {
            self.padded[(y + 1) * wp + 1..][..w].copy_from_slice(line);
        }
        for ty in 0..rows {
            let r = |i: usize| &self.padded[(2 * ty + i) * wp..][..wp];
            let (t0, rest) = self.t.split_at_mut(wp);
            let (t1, rest) = rest.split_at_mut(wp);
            let (t2, t3) = rest.split_at_mut(wp);
            for x in 0..wp {
                let (d0, d1, d2, d3) = (r(0)[x], r(1)[x], r(2)[x], r(3)[x]);
                t0[x] = d0 - d2;
                t1[x] = d1 + d2;
                t2[x] = d2 - d1;
                t3[x] = d1 - d3;
            }
            for (a, t) in [&*t0, &*t1, &*t2, &*t3].into_iter().enumerate() {
                let at = |b: usize| base + (4 * a + b) * stride + ty * cols;
                for tx in 0..cols {
                    let q = &t[2 * tx..][..4];
                    v[at(0) + tx] = q[0] - q[2];
                    v[at(1) + tx] = q[1] + q[2];
                    v[at(2) + tx] = q[2] - q[1];
                    v[at(3) + tx] = q[1] - q[3];
                }
            }
        }
    }

    /// Writes `Aᵀ m A` of every tile into one channel's output `plane`, with
    /// `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`, reading value ξ of tile `k` from
    /// `m[base + ξ·stride + k]`; drops what lies past an odd edge.
    fn transform_output(&mut self, m: &[f32], base: usize, stride: usize, plane: &mut [f32]) {
        let Tiles { h, w, rows, cols } = self.tiles;
        for ty in 0..rows {
            let at = |a: usize, b: usize| &m[base + (4 * a + b) * stride + ty * cols..][..cols];
            // z[r][b] = (Aᵀ m)[r][b] for every tile of the row.
            let z = &mut self.t[..8 * cols];
            for b in 0..4 {
                let (m0, m1, m2, m3) = (at(0, b), at(1, b), at(2, b), at(3, b));
                for tx in 0..cols {
                    z[b * cols + tx] = m0[tx] + m1[tx] + m2[tx];
                    z[(4 + b) * cols + tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            for r in 0..2 {
                let oy = 2 * ty + r;
                if oy >= h {
                    break;
                }
                let z = &z[4 * r * cols..][..4 * cols];
                let line = &mut plane[oy * w..][..w];
                for tx in 0..cols {
                    let (z0, z1, z2, z3) =
                        (z[tx], z[cols + tx], z[2 * cols + tx], z[3 * cols + tx]);
                    line[2 * tx] = z0 + z1 + z2;
                    if 2 * tx + 1 < w {
                        line[2 * tx + 1] = z1 - z2 - z3;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::direct_forward;
    use super::super::conv::tests::{assert_close, ramp};
    use super::*;

    #[test]
    fn agrees_with_the_direct_product_on_odd_sizes_and_groups() {
        // Odd sides (a last tile half outside), 1-pixel images, small maps that are grouped
        // (batch 5: groups and a partial last group), and a map of several tiles.
        for (batch, c_in, c_out, h, w) in [
            (5, 3, 4, 7, 5),
            (2, 2, 3, 1, 1),
            (5, 4, 6, 4, 4),
            (3, 5, 2, 2, 3),
            (1, 1, 1, 3, 3),
            (2, 8, 8, 16, 16),
        ] {
            let shape = ConvShape {
                batch,
                c_in,
                h,
                w,
                c_out,
                kh: 3,
                kw: 3,
                stride: [1, 1],
                padding: [1, 1],
            };
            let x = ramp(batch * c_in * h * w, 0.1);
            let weight = ramp(c_out * c_in * 9, 0.07);
            assert_close(
                &forward(&shape, &x, &weight),
                &direct_forward(&shape, &x, &weight),
                &shape,
            );
        }
    }

    #[test]
    fn a_centre_tap_copies_and_a_corner_tap_shifts_by_hand() {
        // A 4×4 image 0..16 (four tiles). The kernel that keeps its centre tap returns the
        // image; the one that keeps its top-left tap returns it shifted one pixel down and
        // right, zeros entering from the padding.
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
        };
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let tap = |i: usize| -> Vec<f32> { (0..9).map(|j| f32::from(u8::from(i == j))).collect() };
        assert_eq!(forward(&shape, &x, &tap(4)), x);
        let shifted = [
            0.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 1.0, 2.0, //
            0.0, 4.0, 5.0, 6.0, //
            0.0, 8.0, 9.0, 10.0,
        ];
        assert_eq!(forward(&shape, &x, &tap(0)), shifted);
    }
}

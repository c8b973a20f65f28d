//! 3×3 stride-1 convolutions of few channels, computed in place: no patch matrix, no
//! Winograd transforms, an output tile held in vector registers.
//!
//! The im2col route ([`conv`](super::conv)) writes each image's `9·C_in × H·W` patch matrix
//! and multiplies it by the `C_out × 9·C_in` weights; with 16 channels both sides of that
//! product are too small for a matrix kernel to run near the CPU's peak (the 16-channel
//! layers of the narrow ResNet-18 ran at 75–90 GFLOP/s on two Zen 4 cores, a quarter of the
//! step), and the patch matrix is nine copies of the input. Here each image is copied once
//! into a zero-padded buffer, and every output is a sum of shifted rows of it
//! (the direct convolution of the small-channel kernels in oneDNN, and of Georganas et al.
//! 2018, "Anatomy of high-performance deep learning convolutions on SIMD architectures").
//!
//! **The flat padded layout.** With the input zero-padded to `H_p × W_p`, output `(y, x)`
//! of kernel tap `(i, j)` reads padded pixel `(y + i, x + j)`, which in the flattened plane
//! is `q + i·W_p + j` for `q = y·W_p + x`. Computing the output on the padded width — `W_p`
//! columns per row, of which the last two are discarded — makes every tap one constant shift
//! of the same flat index, so a vector of consecutive `q` spans row ends without any
//! bookkeeping, and an 8×8 map fills vectors as well as a 32×32 one (at the cost of
//! `2 / W_p` discarded columns).
//!
//! * Forward: `y[o, q] = Σ_c Σ_t w[o, c, t] · x_p[c, q + s_t]`, an `R × V` tile of output
//!   channels by vectors of `q` in registers, one broadcast weight per channel and tap.
//! * Input gradient: a stride-1 convolution's input gradient is the forward convolution of
//!   `dy` by the flipped kernel ([`conv::backward_input`](super::conv::backward_input)), so
//!   it takes this forward too.
//! * Weight gradient: `dw[o, c, t] = Σ_n Σ_q dy_p[o, q] · x_p[c, q + s_t]`, with `dy` laid out
//!   on the padded width and zeros in the discarded columns, `R` output channels × 9 taps of
//!   vector accumulators, summed across lanes once at the end.
//!
//! AVX-512 (16 lanes, a tile of 8 channels × 3 vectors) and AVX2 + FMA (8 lanes, 4 × 3),
//! chosen at run time; CPUs with neither keep the im2col route. The products stay fp32 in a
//! bf16 run (`train.precision`), as Winograd's do: this route has no matrix product to hand
//! to the bf16 kernel.

use super::conv::{ConvShape, images_per_task};
use rayon::prelude::*;

/// Whether the convolution is one this module computes: 3×3, stride 1 (any padding), on a
/// CPU with AVX2 + FMA or AVX-512, and not one Winograd's F(4×4, 3×3) takes (at 32 channels
/// and more its 4× fewer multiply-adds win).
pub fn applies(shape: &ConvShape) -> bool {
    shape.kh == 3
        && shape.kw == 3
        && shape.stride == [1, 1]
        && isa().is_some()
        && !super::winograd::applies(shape)
}

/// `y = conv(x, weight)` for a geometry where [`applies`]: `x` `N × C_in × H × W`, `weight`
/// `C_out × C_in × 3 × 3`; returns `N × C_out × H_out × W_out`.
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let isa = isa().expect("thin::forward on a CPU without AVX2 + FMA");
    forward_on(isa, shape, x, weight)
}

/// [`forward`] on the kernels of `isa`.
fn forward_on(isa: Isa, shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; shape.batch * shape.c_out * shape.p()];
    shape.check(x.len(), weight.len(), y.len());
    let plan = Plan::new(shape, isa.lanes * isa.vectors);
    let packed = pack_weights(shape, weight, isa.rows);
    let per_task = images_per_task(shape.batch);
    let (image_in, image_out) = (shape.c_in * shape.h * shape.w, shape.c_out * shape.p());
    y.par_chunks_mut((per_task * image_out).max(1))
        .zip(x.par_chunks((per_task * image_in).max(1)))
        .for_each(|(y, x)| {
            let mut padded = vec![0.0; shape.c_in * plan.stride];
            let mut tile = vec![0.0; isa.rows * plan.columns];
            for (y, x) in y.chunks_exact_mut(image_out).zip(x.chunks_exact(image_in)) {
                plan.pad(x, shape.c_in, shape.h, shape.w, &mut padded);
                for (block, weights) in packed.chunks_exact(shape.c_in * 9 * isa.rows).enumerate() {
                    // SAFETY: `isa` was detected on this CPU; the buffers have the plan's sizes.
                    unsafe { (isa.forward)(&plan, shape.c_in, &padded, weights, &mut tile) };
                    let first = block * isa.rows;
                    for (o, plane) in tile
                        .chunks_exact(plan.columns)
                        .take(shape.c_out.saturating_sub(first))
                        .enumerate()
                    {
                        plan.crop(plane, &mut y[(first + o) * shape.p()..][..shape.p()]);
                    }
                }
            }
        });
    y
}

/// The weight gradient `C_out × C_in × 3 × 3` from the input `x` and the output gradient `dy`
/// (`N × C_out × H_out × W_out`), for a geometry where [`applies`].
pub fn backward_weight(shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let isa = isa().expect("thin::backward_weight on a CPU without AVX2 + FMA");
    backward_weight_on(isa, shape, x, dy)
}

/// [`backward_weight`] on the kernels of `isa`.
fn backward_weight_on(isa: Isa, shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    shape.check(x.len(), shape.c_out * shape.k(), dy.len());
    let plan = Plan::new(shape, isa.lanes * isa.vectors);
    let rows = isa.weight_rows;
    let blocks = shape.c_out.div_ceil(rows);
    let lanes_total = blocks * shape.c_in * rows * 9 * isa.lanes;
    let per_task = images_per_task(shape.batch);
    let (image_in, image_out) = (shape.c_in * shape.h * shape.w, shape.c_out * shape.p());
    let sums = x
        .par_chunks((per_task * image_in).max(1))
        .zip(dy.par_chunks((per_task * image_out).max(1)))
        .map(|(x, dy)| {
            let mut padded = vec![0.0; shape.c_in * plan.stride];
            let mut grads = vec![0.0; blocks * rows * plan.columns];
            let mut sums = vec![0.0; lanes_total];
            for (x, dy) in x.chunks_exact(image_in).zip(dy.chunks_exact(image_out)) {
                plan.pad(x, shape.c_in, shape.h, shape.w, &mut padded);
                for (plane, grad) in grads
                    .chunks_exact_mut(plan.columns)
                    .zip(dy.chunks(shape.p()))
                {
                    plan.widen(grad, plane);
                }
                let per_block = shape.c_in * rows * 9 * isa.lanes;
                for (block, sums) in sums.chunks_exact_mut(per_block).enumerate() {
                    let grads = &grads[block * rows * plan.columns..][..rows * plan.columns];
                    // SAFETY: `isa` was detected on this CPU; the buffers have the plan's sizes.
                    unsafe { (isa.weight)(&plan, shape.c_in, &padded, grads, sums) };
                }
            }
            sums
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; lanes_total]);
    // sums: [block][c][r][tap][lane] → dw[o = block·rows + r][c][tap].
    let mut dw = vec![0.0; shape.c_out * shape.k()];
    for (i, lanes) in sums.chunks_exact(isa.lanes).enumerate() {
        let (tap, r, c, block) = (
            i % 9,
            i / 9 % rows,
            i / (9 * rows) % shape.c_in,
            i / (9 * rows * shape.c_in),
        );
        let o = block * rows + r;
        if o < shape.c_out {
            dw[(o * shape.c_in + c) * 9 + tap] = lanes.iter().sum();
        }
    }
    dw
}

/// One image's geometry in the flat padded layout.
struct Plan {
    /// Padded input width `W_p`: the row stride of every plane.
    width: usize,
    /// Padding (rows, columns).
    padding: [usize; 2],
    /// Output rows `H_out` and the columns kept of each, `W_out = W_p − 2`.
    out: [usize; 2],
    /// Flat output positions computed per channel, `H_out·W_p` rounded up to a whole tile of
    /// vectors; the zero gradients past `H_out·W_p` add nothing to the weight gradient.
    columns: usize,
    /// Floats per padded input channel: the farthest read, `columns + 2·W_p + 2`.
    stride: usize,
}

impl Plan {
    fn new(shape: &ConvShape, tile: usize) -> Self {
        let width = shape.w + 2 * shape.padding[1];
        let out = [shape.h_out(), shape.w_out()];
        let columns = (out[0] * width).div_ceil(tile) * tile;
        Plan {
            width,
            padding: shape.padding,
            out,
            columns,
            stride: columns + 2 * width + 2,
        }
    }

    /// Tap `t = 3i + j`'s shift in the flat layout.
    fn shifts(&self) -> [usize; 9] {
        std::array::from_fn(|t| t / 3 * self.width + t % 3)
    }

    /// Copies a `C × H × W` image into its padded planes; the borders stay as they were
    /// allocated, zero.
    fn pad(&self, image: &[f32], c: usize, h: usize, w: usize, padded: &mut [f32]) {
        let [py, px] = self.padding;
        for (plane, src) in padded
            .chunks_exact_mut(self.stride)
            .zip(image.chunks_exact(h * w))
            .take(c)
        {
            for (y, row) in src.chunks_exact(w).enumerate() {
                plane[(y + py) * self.width + px..][..w].copy_from_slice(row);
            }
        }
    }

    /// Keeps the `H_out × W_out` outputs of a plane computed on the padded width.
    fn crop(&self, plane: &[f32], out: &mut [f32]) {
        let [ho, wo] = self.out;
        for (y, row) in out.chunks_exact_mut(wo).take(ho).enumerate() {
            row.copy_from_slice(&plane[y * self.width..][..wo]);
        }
    }

    /// Lays an `H_out × W_out` gradient out on the padded width; the discarded columns stay
    /// zero.
    fn widen(&self, grad: &[f32], plane: &mut [f32]) {
        let wo = self.out[1];
        for (y, row) in grad.chunks_exact(wo).enumerate() {
            plane[y * self.width..][..wo].copy_from_slice(row);
        }
    }
}

/// The weights as the forward tile reads them: for each block of `rows` output channels,
/// `[c][tap][r]` (the block's channels past `C_out` zero).
fn pack_weights(shape: &ConvShape, weight: &[f32], rows: usize) -> Vec<f32> {
    let blocks = shape.c_out.div_ceil(rows);
    let mut packed = vec![0.0; blocks * shape.c_in * 9 * rows];
    for (i, v) in packed.iter_mut().enumerate() {
        let (r, tap, c, block) = (
            i % rows,
            i / rows % 9,
            i / (rows * 9) % shape.c_in,
            i / (rows * 9 * shape.c_in),
        );
        let o = block * rows + r;
        if o < shape.c_out {
            *v = weight[(o * shape.c_in + c) * 9 + tap];
        }
    }
    packed
}

/// One instruction set's tiles and kernels.
#[derive(Clone, Copy)]
struct Isa {
    /// Its name, as the step profile and the tests report it.
    name: &'static str,
    /// Floats per vector.
    lanes: usize,
    /// Output channels per forward tile.
    rows: usize,
    /// Vectors of positions per forward tile.
    vectors: usize,
    /// Output channels per weight-gradient tile.
    weight_rows: usize,
    /// One block of output channels of one image: `tile[r][q] = Σ_c Σ_t w · x_p`.
    forward: unsafe fn(&Plan, usize, &[f32], &[f32], &mut [f32]),
    /// One block of output channels of one image, added to `sums[c][r][tap][lane]`.
    weight: unsafe fn(&Plan, usize, &[f32], &[f32], &mut [f32]),
}

/// The instruction set these kernels run on here (`"avx512f"` or `"avx2+fma"`), or `None`
/// where the CPU has neither and the im2col route computes every convolution.
pub fn instruction_set() -> Option<&'static str> {
    isa().map(|isa| isa.name)
}

/// The best instruction set this CPU has for these kernels, if any.
fn isa() -> Option<Isa> {
    isas().into_iter().next()
}

/// Every instruction set this CPU has for these kernels, the widest first.
fn isas() -> Vec<Isa> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push(x86::AVX512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            found.push(x86::AVX2);
        }
    }
    found
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Isa, Plan};
    use std::arch::x86_64::*;

    /// The vector operations the tiles need, for one register width.
    trait Simd {
        type V: Copy;
        const LANES: usize;
        unsafe fn zero() -> Self::V;
        unsafe fn load(p: *const f32) -> Self::V;
        unsafe fn store(p: *mut f32, v: Self::V);
        unsafe fn splat(p: *const f32) -> Self::V;
        /// `a·b + c`.
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    }

    struct Avx512;
    struct Avx2;

    impl Simd for Avx512 {
        type V = __m512;
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m512 {
            unsafe { _mm512_set1_ps(*p) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
    }

    impl Simd for Avx2 {
        type V = __m256;
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m256 {
            unsafe { _mm256_broadcast_ss(&*p) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
    }

    /// 16 lanes; forward tile 8 channels × 3 vectors (24 of the 32 registers accumulate),
    /// weight-gradient tile 3 channels × 9 taps (27).
    pub(super) const AVX512: Isa = Isa {
        name: "avx512f",
        lanes: 16,
        rows: 8,
        vectors: 3,
        weight_rows: 3,
        forward: forward_avx512,
        weight: weight_avx512,
    };

    /// 8 lanes; forward tile 4 channels × 3 vectors (12 of the 16 registers), weight-gradient
    /// tile 1 channel × 9 taps.
    pub(super) const AVX2: Isa = Isa {
        name: "avx2+fma",
        lanes: 8,
        rows: 4,
        vectors: 3,
        weight_rows: 1,
        forward: forward_avx2,
        weight: weight_avx2,
    };

    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(plan: &Plan, c_in: usize, x: &[f32], w: &[f32], tile: &mut [f32]) {
        unsafe { forward_tiles::<Avx512, 8, 3>(plan, c_in, x, w, tile) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(plan: &Plan, c_in: usize, x: &[f32], w: &[f32], tile: &mut [f32]) {
        unsafe { forward_tiles::<Avx2, 4, 3>(plan, c_in, x, w, tile) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn weight_avx512(plan: &Plan, c_in: usize, x: &[f32], dy: &[f32], sums: &mut [f32]) {
        unsafe { weight_tiles::<Avx512, 3>(plan, c_in, x, dy, sums) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn weight_avx2(plan: &Plan, c_in: usize, x: &[f32], dy: &[f32], sums: &mut [f32]) {
        unsafe { weight_tiles::<Avx2, 1>(plan, c_in, x, dy, sums) }
    }

    /// `tile[r][q] = Σ_c Σ_t w[c][t][r] · x[c][q + s_t]` for the `R` channels of one block,
    /// `V` vectors of `q` at a time. Reads `x` up to `c_in · plan.stride` floats and writes
    /// `R · plan.columns`.
    #[inline(always)]
    unsafe fn forward_tiles<S: Simd, const R: usize, const V: usize>(
        plan: &Plan,
        c_in: usize,
        x: &[f32],
        w: &[f32],
        tile: &mut [f32],
    ) {
        assert!(x.len() >= c_in * plan.stride && w.len() >= c_in * 9 * R);
        assert!(tile.len() >= R * plan.columns && plan.columns.is_multiple_of(V * S::LANES));
        let shifts = plan.shifts();
        let (x, w, out) = (x.as_ptr(), w.as_ptr(), tile.as_mut_ptr());
        for q in (0..plan.columns).step_by(V * S::LANES) {
            // SAFETY: q + v·LANES + s_t < columns + 2·W_p + 2 = stride within each channel's
            // plane (asserted sizes above), and r·columns + q + v·LANES < R·columns.
            unsafe {
                let mut acc = [[S::zero(); V]; R];
                for c in 0..c_in {
                    let plane = x.add(c * plan.stride + q);
                    let wc = w.add(c * 9 * R);
                    for (t, &shift) in shifts.iter().enumerate() {
                        let xv: [S::V; V] =
                            std::array::from_fn(|v| S::load(plane.add(shift + v * S::LANES)));
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let wv = S::splat(wc.add(t * R + r));
                            for (a, xv) in acc.iter_mut().zip(xv) {
                                *a = S::fma(wv, xv, *a);
                            }
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (v, a) in acc.iter().enumerate() {
                        S::store(out.add(r * plan.columns + q + v * S::LANES), *a);
                    }
                }
            }
        }
    }

    /// `sums[c][r][t][lane] += Σ_q dy[r][q] · x[c][q + s_t]` (lane `q mod LANES`) for the `R`
    /// channels of one block.
    #[inline(always)]
    unsafe fn weight_tiles<S: Simd, const R: usize>(
        plan: &Plan,
        c_in: usize,
        x: &[f32],
        dy: &[f32],
        sums: &mut [f32],
    ) {
        assert!(x.len() >= c_in * plan.stride && dy.len() >= R * plan.columns);
        assert!(sums.len() >= c_in * R * 9 * S::LANES && plan.columns.is_multiple_of(S::LANES));
        let shifts = plan.shifts();
        let (x, dy, sums) = (x.as_ptr(), dy.as_ptr(), sums.as_mut_ptr());
        for c in 0..c_in {
            // SAFETY: the reads stay inside the asserted sizes as in `forward_tiles`; the
            // sums written are those of channel c: (c·R + r)·9 + t < c_in·R·9 vectors.
            unsafe {
                let plane = x.add(c * plan.stride);
                let mut acc = [[S::zero(); 9]; R];
                for q in (0..plan.columns).step_by(S::LANES) {
                    let g: [S::V; R] =
                        std::array::from_fn(|r| S::load(dy.add(r * plan.columns + q)));
                    for (t, &shift) in shifts.iter().enumerate() {
                        let xv = S::load(plane.add(q + shift));
                        for (acc, g) in acc.iter_mut().zip(g) {
                            acc[t] = S::fma(g, xv, acc[t]);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (t, a) in acc.iter().enumerate() {
                        let p = sums.add(((c * R + r) * 9 + t) * S::LANES);
                        S::store(p, S::add(S::load(p), *a));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::tests::{assert_close, naive, ramp};
    use crate::kernels::conv::{direct_backward_weight, direct_forward};
    use crate::kernels::matmul::Precision;

    /// Channel counts off the tiles' multiples, maps narrower and wider than a vector and
    /// than a tile of vectors, paddings 0–2 (2 is the flipped form of an unpadded layer's
    /// input gradient), one and several images per thread.
    const SHAPES: [(usize, usize, usize, usize, usize, usize); 8] = [
        (1, 1, 1, 3, 3, 0),
        (3, 3, 16, 9, 9, 1),
        (2, 16, 16, 12, 12, 1),
        (5, 5, 9, 7, 13, 1),
        (4, 17, 3, 4, 5, 2),
        (2, 2, 24, 1, 6, 1),
        (7, 8, 8, 20, 3, 0),
        (3, 9, 31, 33, 17, 1),
    ];

    fn shapes() -> impl Iterator<Item = ConvShape> {
        SHAPES
            .into_iter()
            .map(|(batch, c_in, c_out, h, w, pad)| ConvShape {
                batch,
                c_in,
                h,
                w,
                c_out,
                kh: 3,
                kw: 3,
                stride: [1, 1],
                padding: [pad; 2],
                precision: Precision::F32,
            })
    }

    #[test]
    fn the_forward_is_the_definition_on_every_instruction_set() {
        let isas = isas();
        if isas.is_empty() {
            eprintln!("skipped: this CPU has neither AVX2 + FMA nor AVX-512");
        }
        for isa in isas {
            for shape in shapes() {
                let x = ramp(shape.batch * shape.c_in * shape.h * shape.w, 0.1);
                let w = ramp(shape.c_out * shape.k(), 0.07);
                let want = naive(&shape, &x, &w);
                assert_close(&forward_on(isa, &shape, &x, &w), &want, &shape);
                assert_close(&direct_forward(&shape, &x, &w), &want, &shape);
            }
        }
    }

    #[test]
    fn the_weight_gradient_is_the_unrolled_products_on_every_instruction_set() {
        for isa in isas() {
            for shape in shapes() {
                let x = ramp(shape.batch * shape.c_in * shape.h * shape.w, 0.1);
                let dy = ramp(shape.batch * shape.c_out * shape.p(), 0.05);
                let got = backward_weight_on(isa, &shape, &x, &dy);
                let want = direct_backward_weight(&shape, &x, &dy);
                let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-5 * scale,
                        "{}: {shape:?}: {g} vs {w}",
                        isa.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_expected_instruction_set_is_the_one_taken() {
        // CI's run under `qemu-x86_64 -cpu Haswell` sets PRETEXT_EXPECT_ISA=avx2+fma.
        if let Ok(expected) = std::env::var("PRETEXT_EXPECT_ISA") {
            assert_eq!(instruction_set(), Some(expected.as_str()));
        }
    }
}

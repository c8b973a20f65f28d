//! 3×3 convolutions of few channels at stride 1 or 2, computed in place: no patch matrix,
//! no Winograd transforms, an output tile held in vector registers.
//!
//! The im2col route ([`conv`](super::conv)) writes each image's `9·C_in × H·W` patch matrix
//! and multiplies it by the `C_out × 9·C_in` weights; with 16 channels both sides of that
//! product are too small for a matrix kernel to run near the CPU's peak (the 16-channel
//! layers of the narrow ResNet-18 ran at 75–90 GFLOP/s on two Zen 4 cores, a quarter of the
//! step), and the patch matrix is nine copies of the input. Here each image is copied once
//! into zero-padded planes, and every output is a sum of shifted rows of them (the direct
//! convolutions oneDNN uses for small channel counts; Georganas et al. 2018, "Anatomy of
//! high-performance deep learning convolutions on SIMD architectures").
//!
//! **The flat padded layout.** With the input zero-padded to `H_p × W_p`, output `(y, x)`
//! of kernel tap `(i, j)` reads padded pixel `(y + i, x + j)`, which in the flattened plane
//! is `q + i·W_p + j` for `q = y·W_p + x`. Computing the output on the padded width — `W_p`
//! columns per row, of which the last two are discarded — makes every tap one constant shift
//! of the same flat index, so a vector of consecutive `q` spans row ends without any
//! bookkeeping, and a 16×16 map fills vectors as well as a 32×32 one (at the cost of
//! `2 / W_p` discarded columns). At stride 2 the padded input is first split into its four
//! phases (even and odd rows by even and odd columns), after which each tap is again one
//! shift within one phase (see `Plan`).
//!
//! * Forward: `y[o, q] = Σ_c Σ_t w[o, c, t] · x_p[c, q + s_t]`, an `R × V` tile of output
//!   channels by vectors of `q` in registers, one broadcast weight per channel and tap.
//! * Input gradient at stride 1: the forward convolution of `dy` by the flipped kernel
//!   ([`conv::backward_input`](super::conv::backward_input)), so it takes this forward too
//!   (a strided layer's stays a product and col2im).
//! * Weight gradient: `dw[o, c, t] = Σ_n Σ_q dy_p[o, q] · x_p[c, q + s_t]`, with `dy` laid
//!   out on the padded width and zeros in the discarded columns, `R` output channels × `T`
//!   taps of vector accumulators, summed across lanes once at the end.
//!
//! AVX-512 (16 lanes, a forward tile of 8 channels × 3 vectors) and AVX2 + FMA (8 lanes,
//! 4 × 2), chosen at run time; CPUs with neither keep the im2col route. The products stay fp32 in a
//! bf16 run (`train.precision`), as Winograd's do: this route has no matrix product to hand
//! to the bf16 kernel.

use super::conv_shape::{ConvShape, images_per_task};
use super::written::Append;
use rayon::prelude::*;

/// Whether the convolution is one this module computes: 3×3 at stride 1 or 2 (any padding)
/// with fewer than 32 channels (`MAX_CHANNELS`) on one side, on a CPU with AVX2 + FMA or
/// AVX-512. Winograd's F(4×4, 3×3) takes the stride-1 layers from there on.
pub fn applies(shape: &ConvShape) -> bool {
    shape.kh == 3
        && shape.kw == 3
        && matches!(shape.stride, [1, 1] | [2, 2])
        && shape.c_in.min(shape.c_out) < MAX_CHANNELS
        && isa().is_some()
        && !super::winograd::applies(shape)
}

/// From this many channels on both sides, the other routes are as fast or faster. On the
/// narrow ResNet-18 at two threads (Zen 4, alternating runs), the strided 32→64 and 64→128
/// layers ran their forward at 73–77 / 45–50 GFLOP/s here against 75 / 82–93 through im2col
/// (an 8×8 map's 4 × 5 outputs fill one 48-float tile for 20), where 16→32 gained 42–48 →
/// 67–74; at stride 1 Winograd's 4× fewer multiply-adds win from 32 channels
/// ([`winograd`](super::winograd)). 1×1 stride-2 layers gained nothing (12–17 GFLOP/s either
/// way: a copy of the input per pass for `C_in` multiply-adds per output) and stay products.
const MAX_CHANNELS: usize = 32;

/// `y = conv(x, weight)` for a geometry where [`applies`]: `x` `N × C_in × H × W`, `weight`
/// `C_out × C_in × 3 × 3`; returns `N × C_out × H_out × W_out`.
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let isa = isa().expect("thin::forward on a CPU without AVX2 + FMA");
    forward_on(isa, shape, x, weight)
}

/// [`forward`] on the kernels of `isa`.
fn forward_on(isa: Isa, shape: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let len = shape.batch * shape.c_out * shape.p();
    shape.check(x.len(), weight.len(), len);
    let plan = Plan::new(shape, isa.lanes * isa.vectors);
    let packed = pack_weights(shape, weight, isa.rows);
    let per_task = images_per_task(shape.batch);
    let (image_in, image_out) = (shape.c_in * shape.h * shape.w, shape.c_out * shape.p());
    let per_block = shape.c_in * plan.shifts.len() * isa.rows;
    super::written::par_chunks(len, per_task * image_out, |task, y| {
        let start = task * per_task * image_in;
        let images = &x[start..(start + per_task * image_in).min(x.len())];
        let mut padded = vec![0.0; shape.c_in * plan.stride];
        let mut tile = vec![0.0; isa.rows * plan.columns];
        for x in images.chunks_exact(image_in) {
            plan.pad(x, shape, &mut padded);
            for (block, weights) in packed.chunks_exact(per_block).enumerate() {
                // SAFETY: `isa` was detected on this CPU; the buffers have the plan's sizes.
                unsafe { (isa.forward)(&plan, shape.c_in, &padded, weights, &mut tile) };
                let channels = shape.c_out.saturating_sub(block * isa.rows);
                for plane in tile.chunks_exact(plan.columns).take(channels) {
                    plan.crop(plane, y);
                }
            }
        }
    })
}

/// The weight gradient `C_out × C_in × 3 × 3` from the input `x` and the output gradient
/// `dy` (`N × C_out × H_out × W_out`), for a geometry where [`applies`].
pub fn backward_weight(shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let isa = isa().expect("thin::backward_weight on a CPU without AVX2 + FMA");
    backward_weight_on(isa, shape, x, dy)
}

/// [`backward_weight`] on the kernels of `isa`.
fn backward_weight_on(isa: Isa, shape: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    shape.check(x.len(), shape.c_out * shape.k(), dy.len());
    let plan = Plan::new(shape, isa.lanes * isa.vectors);
    let (taps, tile) = (plan.shifts.len(), isa.weight);
    let rows = tile.rows;
    let blocks = shape.c_out.div_ceil(rows);
    let per_block = shape.c_in * rows * taps * isa.lanes;
    let per_task = images_per_task(shape.batch);
    let (image_in, image_out) = (shape.c_in * shape.h * shape.w, shape.c_out * shape.p());
    let sums = x
        .par_chunks((per_task * image_in).max(1))
        .zip(dy.par_chunks((per_task * image_out).max(1)))
        .map(|(x, dy)| {
            let mut padded = vec![0.0; shape.c_in * plan.stride];
            let mut grads = vec![0.0; blocks * rows * plan.columns];
            let mut sums = vec![0.0; blocks * per_block];
            for (x, dy) in x.chunks_exact(image_in).zip(dy.chunks_exact(image_out)) {
                plan.pad(x, shape, &mut padded);
                for (plane, grad) in grads
                    .chunks_exact_mut(plan.columns)
                    .zip(dy.chunks(shape.p()))
                {
                    plan.widen(grad, plane);
                }
                for (block, sums) in sums.chunks_exact_mut(per_block).enumerate() {
                    let grads = &grads[block * rows * plan.columns..][..rows * plan.columns];
                    // SAFETY: `isa` was detected on this CPU; the buffers have the plan's sizes.
                    unsafe { (tile.run)(&plan, shape.c_in, &padded, grads, sums) };
                }
            }
            sums
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; blocks * per_block]);
    // sums: [block][c][r][tap][lane] → dw[o = block·rows + r][c][tap].
    let mut dw = vec![0.0; shape.c_out * shape.k()];
    for (i, lanes) in sums.chunks_exact(isa.lanes).enumerate() {
        let (tap, r, c, block) = (
            i % taps,
            i / taps % rows,
            i / (taps * rows) % shape.c_in,
            i / (taps * rows * shape.c_in),
        );
        let o = block * rows + r;
        if o < shape.c_out {
            dw[(o * shape.c_in + c) * taps + tap] = lanes.iter().sum();
        }
    }
    dw
}

/// One image's geometry in the flat padded layout. At stride 2 the padded input is split
/// into its four phases, `P_ab[u][v] = x_p[2u + a][2v + b]`: output `(y, x)` of tap `(i, j)`
/// reads `P_(i mod 2)(j mod 2)[y + ⌊i/2⌋][x + ⌊j/2⌋]`, again one constant shift of the flat
/// index `q = y·W_q + x` within one phase plane, of width `W_q = ⌈W_p / 2⌉`. Stride 1 is the
/// same with one phase.
struct Plan {
    /// The stride, the same along both axes: 1 or 2.
    step: usize,
    /// Padding (rows, columns).
    padding: [usize; 2],
    /// Row stride of every phase plane, `W_q = ⌈W_p / step⌉`, and so of the output computed.
    width: usize,
    /// Output rows `H_out` and the columns kept of each, `W_out ≤ W_q`.
    out: [usize; 2],
    /// Flat output positions computed per channel, `H_out·W_q` rounded up to a whole tile of
    /// vectors; the zero gradients past `H_out·W_q` add nothing to the weight gradient.
    columns: usize,
    /// Floats per phase plane: the farthest read, `columns` plus the largest shift.
    phase: usize,
    /// Floats per padded input channel: `step²` phase planes.
    stride: usize,
    /// Tap `t = k·i + j`'s offset in a channel's planes: its phase plane plus its shift.
    shifts: Vec<usize>,
}

impl Plan {
    fn new(shape: &ConvShape, tile: usize) -> Self {
        let step = shape.stride[0];
        let width = (shape.w + 2 * shape.padding[1]).div_ceil(step);
        let out = [shape.h_out(), shape.w_out()];
        let columns = (out[0] * width).div_ceil(tile) * tile;
        let k = shape.kw;
        let shift = |i: usize, j: usize| i / step * width + j / step;
        let phase = columns + shift(k - 1, k - 1) + 1;
        let shifts = (0..k * k)
            .map(|t| {
                let (i, j) = (t / k, t % k);
                (i % step * step + j % step) * phase + shift(i, j)
            })
            .collect();
        Plan {
            step,
            padding: shape.padding,
            width,
            out,
            columns,
            phase,
            stride: step * step * phase,
            shifts,
        }
    }

    /// Copies a `C × H × W` image into its padded phase planes; the borders stay as they
    /// were allocated, zero.
    fn pad(&self, image: &[f32], shape: &ConvShape, padded: &mut [f32]) {
        let [py, px] = self.padding;
        let (h, w, s) = (shape.h, shape.w, self.step);
        for (planes, src) in padded
            .chunks_exact_mut(self.stride)
            .zip(image.chunks_exact(h * w))
        {
            for (y, row) in src.chunks_exact(w).enumerate() {
                let (u, a) = ((y + py) / s, (y + py) % s);
                // Column phase b holds the columns x with (x + px) mod s = b, from x0 on, at
                // v = (x + px) / s: a strided copy per phase, no division per pixel.
                for b in 0..s {
                    let x0 = (b + s - px % s) % s;
                    let dst = &mut planes[(a * s + b) * self.phase + u * self.width..];
                    let dst = &mut dst[(x0 + px) / s..][..(w - x0.min(w)).div_ceil(s)];
                    if s == 1 {
                        dst.copy_from_slice(row);
                        continue;
                    }
                    for (dst, &value) in dst.iter_mut().zip(row.iter().skip(x0).step_by(s)) {
                        *dst = value;
                    }
                }
            }
        }
    }

    /// Appends the `H_out × W_out` outputs of a plane computed on the phase width to `out`.
    fn crop(&self, plane: &[f32], out: &mut Append) {
        let [ho, wo] = self.out;
        for y in 0..ho {
            out.extend_from_slice(&plane[y * self.width..][..wo]);
        }
    }

    /// Lays an `H_out × W_out` gradient out on the phase width; the discarded columns stay
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
    let (blocks, taps) = (shape.c_out.div_ceil(rows), shape.kh * shape.kw);
    let mut packed = vec![0.0; blocks * shape.c_in * taps * rows];
    for (i, v) in packed.iter_mut().enumerate() {
        let (r, tap, c, block) = (
            i % rows,
            i / rows % taps,
            i / (rows * taps) % shape.c_in,
            i / (rows * taps * shape.c_in),
        );
        let o = block * rows + r;
        if o < shape.c_out {
            *v = weight[(o * shape.c_in + c) * taps + tap];
        }
    }
    packed
}

/// A weight-gradient kernel and the output channels of its tile.
#[derive(Clone, Copy)]
struct WeightTile {
    /// Output channels per tile.
    rows: usize,
    /// One block of output channels of one image, added to `sums[c][r][tap][lane]`.
    run: unsafe fn(&Plan, usize, &[f32], &[f32], &mut [f32]),
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
    /// One block of output channels of one image: `tile[r][q] = Σ_c Σ_t w · x_p`.
    forward: unsafe fn(&Plan, usize, &[f32], &[f32], &mut [f32]),
    /// The weight gradient.
    weight: WeightTile,
}

/// The instruction set these kernels run on here (`"avx512f"` or `"avx2+fma"`), or `None`
/// where the CPU has neither and the im2col route computes every convolution.
pub fn instruction_set() -> Option<&'static str> {
    isa().map(|isa| isa.name)
}

/// The best instruction set this CPU has for these kernels, if any.
fn isa() -> Option<Isa> {
    isas().next()
}

/// Every instruction set this CPU has for these kernels, the widest first.
#[cfg(target_arch = "x86_64")]
fn isas() -> impl Iterator<Item = Isa> {
    use super::vectorize::{Width, available};
    available().map(|width| match width {
        Width::Avx512 => x86::AVX512,
        Width::Avx2 => x86::AVX2,
    })
}

/// No instruction set for these kernels off x86-64: the im2col route computes every layer.
#[cfg(not(target_arch = "x86_64"))]
fn isas() -> impl Iterator<Item = Isa> {
    std::iter::empty()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Isa, Plan, WeightTile};
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
        forward: forward_avx512,
        weight: WeightTile {
            rows: 3,
            run: weight_avx512::<3, 9>,
        },
    };

    /// 8 lanes; forward tile 4 channels × 2 vectors, weight-gradient tile 3 channels × 3 taps
    /// (8 and 9 of the 16 registers accumulate). A 4 × 3 forward tile needs all 16 (12
    /// accumulators, 3 input vectors, a broadcast weight), and LLVM then rotated accumulators
    /// through spare registers and spilled one every tap (8 moves and a stack round trip per
    /// 12 multiply-adds); the 16-channel layer's forward ran 43–45 GFLOP/s on two Zen 1
    /// cores (EPYC, family 23 model 1), 57–61 with 4 × 2. A 1 × 9 weight tile loads 10
    /// vectors per 9 multiply-adds, 3 × 3 loads 6: 41–42 → 52–56 GFLOP/s.
    pub(super) const AVX2: Isa = Isa {
        name: "avx2+fma",
        lanes: 8,
        rows: 4,
        vectors: 2,
        forward: forward_avx2,
        weight: WeightTile {
            rows: 3,
            run: weight_avx2::<3, 3>,
        },
    };

    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(plan: &Plan, c_in: usize, x: &[f32], w: &[f32], tile: &mut [f32]) {
        unsafe { forward_tiles::<Avx512, 8, 3>(plan, c_in, x, w, tile) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(plan: &Plan, c_in: usize, x: &[f32], w: &[f32], tile: &mut [f32]) {
        unsafe { forward_tiles::<Avx2, 4, 2>(plan, c_in, x, w, tile) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn weight_avx512<const R: usize, const T: usize>(
        plan: &Plan,
        c_in: usize,
        x: &[f32],
        dy: &[f32],
        sums: &mut [f32],
    ) {
        unsafe { weight_tiles::<Avx512, R, T>(plan, c_in, x, dy, sums) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn weight_avx2<const R: usize, const T: usize>(
        plan: &Plan,
        c_in: usize,
        x: &[f32],
        dy: &[f32],
        sums: &mut [f32],
    ) {
        unsafe { weight_tiles::<Avx2, R, T>(plan, c_in, x, dy, sums) }
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
        let shifts = &plan.shifts[..];
        assert!(x.len() >= c_in * plan.stride && w.len() >= c_in * shifts.len() * R);
        assert!(tile.len() >= R * plan.columns && plan.columns.is_multiple_of(V * S::LANES));
        let (x, w, out) = (x.as_ptr(), w.as_ptr(), tile.as_mut_ptr());
        for q in (0..plan.columns).step_by(V * S::LANES) {
            // SAFETY: q + v·LANES + s_t < the channel's `stride` floats (a tap's shift is at
            // most its phase plane's offset plus the largest shift, and a plane holds
            // `columns` plus that), inside the asserted sizes; r·columns + q + v·LANES <
            // R·columns.
            unsafe {
                let mut acc = [[S::zero(); V]; R];
                for c in 0..c_in {
                    let plane = x.add(c * plan.stride + q);
                    let wc = w.add(c * shifts.len() * R);
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
    /// channels of one block, `T` of the kernel's taps at a time (`T` divides their number):
    /// `R × T` vector accumulators, `R + T` loads for every `R·T` multiply-adds.
    #[inline(always)]
    unsafe fn weight_tiles<S: Simd, const R: usize, const T: usize>(
        plan: &Plan,
        c_in: usize,
        x: &[f32],
        dy: &[f32],
        sums: &mut [f32],
    ) {
        let taps = plan.shifts.len();
        assert!(taps.is_multiple_of(T), "{T} taps at a time of {taps}");
        assert!(x.len() >= c_in * plan.stride && dy.len() >= R * plan.columns);
        assert!(sums.len() >= c_in * R * taps * S::LANES && plan.columns.is_multiple_of(S::LANES));
        let (x, dy, sums) = (x.as_ptr(), dy.as_ptr(), sums.as_mut_ptr());
        for c in 0..c_in {
            for (group, shifts) in plan.shifts.chunks_exact(T).enumerate() {
                let shifts: &[usize; T] = shifts.try_into().expect("T shifts");
                // SAFETY: the reads stay inside the asserted sizes as in `forward_tiles`; the
                // sums written are those of channel c: (c·R + r)·taps + t < c_in·R·taps
                // vectors.
                unsafe {
                    let plane = x.add(c * plan.stride);
                    let mut acc = [[S::zero(); T]; R];
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
                            let p = sums.add(((c * R + r) * taps + group * T + t) * S::LANES);
                            S::store(p, S::add(S::load(p), *a));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::tests::{assert_close, layer, naive, ramp};
    use crate::kernels::conv::{direct_backward_weight, direct_forward};

    /// Channel counts off the tiles' multiples, maps narrower and wider than a vector and
    /// than a tile of vectors, odd and even sides at stride 2, paddings 0–2 (2 is the flipped
    /// form of an unpadded layer's input gradient), one and several images per thread:
    /// `(batch, c_in, c_out, h, w, padding, kernel, stride)`.
    const SHAPES: [[usize; 8]; 14] = [
        [1, 1, 1, 3, 3, 0, 3, 1],
        [3, 3, 16, 9, 9, 1, 3, 1],
        [2, 16, 16, 12, 12, 1, 3, 1],
        [5, 5, 9, 7, 13, 1, 3, 1],
        [4, 17, 3, 4, 5, 2, 3, 1],
        [2, 2, 24, 1, 6, 1, 3, 1],
        [7, 8, 8, 20, 3, 0, 3, 1],
        [3, 9, 31, 33, 17, 1, 3, 1],
        [3, 16, 32, 16, 16, 1, 3, 2],
        [2, 5, 7, 9, 11, 1, 3, 2],
        [4, 3, 10, 8, 7, 0, 3, 2],
        [2, 16, 32, 16, 16, 0, 3, 2],
        [3, 7, 9, 9, 6, 2, 3, 2],
        [2, 4, 5, 5, 5, 1, 3, 2],
    ];

    fn shapes() -> impl Iterator<Item = ConvShape> {
        SHAPES
            .into_iter()
            .map(|[batch, c_in, c_out, h, w, pad, k, stride]| {
                layer([batch, c_in, c_out], [h, w], k, stride, pad)
            })
    }

    #[test]
    fn the_forward_is_the_definition_on_every_instruction_set() {
        let isas: Vec<Isa> = isas().collect();
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
    fn applies_to_the_thin_3x3_layers_only() {
        let layer =
            |c_in, c_out, k, stride, side| layer([8, c_in, c_out], [side, side], k, stride, k / 2);
        let thin = isa().is_some();
        for (shape, expected) in [
            (layer(16, 16, 3, 1, 32), thin),
            (layer(3, 16, 3, 1, 32), thin),
            (layer(16, 32, 3, 2, 32), thin),
            (layer(32, 64, 3, 2, 16), false),
            (layer(64, 64, 3, 1, 8), false), // Winograd's
            (layer(16, 32, 1, 2, 32), false),
            (layer(16, 16, 5, 1, 32), false),
        ] {
            assert_eq!(applies(&shape), expected, "{shape:?}");
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

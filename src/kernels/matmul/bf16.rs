//! Matrix products with bfloat16 operands and fp32 accumulation, on CPUs with AVX512-BF16
//! (Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and later): the `vdpbf16ps`
//! instruction multiplies 32 pairs of bf16 values and adds each pair's two products into
//! one of 16 fp32 lanes, twice the multiply-adds of an fp32 `vfmadd` of the same width.
//!
//! The operands are rounded to bf16 (round to nearest, ties to even) as they are packed;
//! the sums and the result stay fp32, as in PyTorch's CPU autocast for convolutions and
//! matrix products. A product of two bf16 values is exact in fp32 (8 + 8 significand bits),
//! so the result differs from an fp32 product of the rounded operands only by the order of
//! the sums.
//!
//! The product is blocked as in Goto & van de Geijn 2008 ("Anatomy of high-performance
//! matrix multiplication"): the inner dimension in blocks of [`KC`] pairs, the columns in
//! blocks of [`NC`] packed once per block into panels of `16 · NV` columns, each row panel
//! of `MR` rows packed once per column block, and one `MR × 16 · NV` register tile per panel
//! pair ([`tile`]). A product of at most 32 rows whose right operand lies row-major (a thin
//! convolution's `C_out × K · K × P`) packs only its left operand and converts the right one
//! as it reads it ([`streamed`]).
//!
//! Measured on one thread of a Zen 5 (AVX512-BF16), against `gemm`'s AVX-512 fp32 product:
//! 512³ at 1.6–1.8× the fp32 rate; a 16-channel 3×3 convolution's products
//! (16 × 6272 × 144 and its gradients' shapes) at 1.1–1.25×, where reading the patch matrix
//! from memory, not the multiply-adds, sets the pace.

use super::mat_ref::MatRef;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU runs [`matmul`]: AVX-512 F, BW and VL with the BF16 extension.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `x` rounded to the nearest bfloat16 (ties to even), as a bf16 bit pattern: the upper half
/// of the fp32 pattern after rounding. NaN stays NaN (quiet).
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// `x` rounded to the nearest bfloat16 and widened back to fp32.
pub fn round(x: f32) -> f32 {
    f32::from_bits(u32::from(to_bf16(x)) << 16)
}

/// Pairs of the inner dimension per block: a `KC × 32` panel of packed pairs is 16 KiB.
pub(super) const KC: usize = 128;
/// Columns per block: the packed block of `KC` pairs × `NC` columns is 512 KiB.
pub(super) const NC: usize = 1024;

/// `dst ← lhs · rhs` (or `dst ← dst + lhs · rhs` when `accumulate`) with both operands
/// rounded to bf16, sums in fp32; `dst` row-major `lhs.rows × rhs.cols`, on the calling
/// thread. The caller has checked the shapes (`super::matmul`).
///
/// # Panics
/// When the CPU lacks AVX512-BF16 ([`available`]).
pub(super) fn matmul(dst: &mut [f32], lhs: MatRef, rhs: MatRef, accumulate: bool) {
    assert!(available(), "bf16 products need AVX512-BF16");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instructions (asserted above); the operands were checked to
    // fit their slices and `dst` to be `lhs.rows × rhs.cols` by the caller.
    unsafe {
        match (lhs.rows, rhs.cols) {
            _ if streams(&lhs, &rhs) => streamed(dst, lhs, rhs, accumulate),
            (_, n) if n <= 16 => product::<16, 1>(dst, lhs, rhs, accumulate),
            _ => product::<8, 2>(dst, lhs, rhs, accumulate),
        }
    }
}

/// The most rows [`streamed`] takes: each panel of 16 rows converts `rhs` once more.
const STREAM_ROWS: usize = 32;

/// Whether [`matmul`] takes a product row by row without packing `rhs` ([`streamed`]): few
/// rows, `rhs` along memory. Such products stay off the AMX tiles too ([`super::amx`]).
pub(super) fn streams(lhs: &MatRef, rhs: &MatRef) -> bool {
    lhs.rows <= STREAM_ROWS && rhs.col_stride == 1
}

/// The product for few rows (a thin convolution's `C_out × K · K × P`), where packing `rhs`
/// would cost as much as using it: `lhs` is packed (it is small), and each tile converts its
/// 16 columns of `rhs` to bf16 pairs as it goes, reading `rhs` once per 16 rows — as often as
/// an fp32 product reads it.
///
/// Safe to call only where [`available`]; `rhs` has column stride 1; the operands fit their
/// slices and `dst` holds `lhs.rows × rhs.cols` values (checked by the caller).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn streamed(dst: &mut [f32], lhs: MatRef, rhs: MatRef, accumulate: bool) {
    const MR: usize = 16;
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    let pairs = k.div_ceil(2);
    let mut a = vec![0u32; pairs * MR];
    let interleave = interleave_halves();
    for mb in (0..m).step_by(MR) {
        // Pair-major, so that a pair's 16 broadcasts read one cache line.
        pack_pair_major(&lhs, mb, 1, MR, 0, pairs, &mut a);
        for col in (0..n).step_by(16) {
            let lanes = (n - col).min(16);
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            let mut acc = [[_mm512_setzero_ps(); 1]; MR];
            let (a, b) = (a.as_ptr(), rhs.data[col..].as_ptr());
            let load = |r: usize| {
                // SAFETY: `lanes` values from `(r, col)` lie inside `rhs` (column stride 1,
                // `r < k`, `col + lanes ≤ n`, checked by the caller).
                unsafe { _mm512_maskz_loadu_ps(mask, b.add(r * rhs.row_stride)) }
            };
            for p in 0..pairs {
                let odd = match 2 * p + 1 < k {
                    true => load(2 * p + 1),
                    false => _mm512_setzero_ps(),
                };
                let both = _mm512_cvtne2ps_pbh(odd, load(2 * p));
                let cols: __m512bh = bits(_mm512_permutexvar_epi16(interleave, bits(both)));
                for (i, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: `a` holds `pairs · MR` values.
                    let pair = unsafe { *a.add(p * MR + i) };
                    acc[0] = _mm512_dpbf16_ps(acc[0], bits(_mm512_set1_epi32(pair as i32)), cols);
                }
            }
            store::<MR, 1>(&acc, dst, n, mb, (m - mb).min(MR), col, lanes, !accumulate);
        }
    }
}

/// The permutation that interleaves the first 16 and the last 16 bf16 values of a vector:
/// after `_mm512_cvtne2ps_pbh(odd, even)`, the pairs `(even[j], odd[j])`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn interleave_halves() -> __m512i {
    _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0,
    )
}

/// The packed pair `(x[row, k], x[row, k + 1])` as two bf16 values (the first in the low
/// half), zero outside the matrix.
fn pair(x: &MatRef, row: usize, k: usize) -> u32 {
    let at = |k: usize| match row < x.rows && k < x.cols {
        true => u32::from(to_bf16(x.data[row * x.row_stride + k * x.col_stride])),
        false => 0,
    };
    at(k) | (at(k + 1) << 16)
}

/// The blocked product on `MR × 16·NV` register tiles.
///
/// Safe to call only where [`available`] (the target features); `lhs` and `rhs` fit their
/// slices and `dst` holds `lhs.rows × rhs.cols` values (checked by the caller).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn product<const MR: usize, const NV: usize>(
    dst: &mut [f32],
    lhs: MatRef,
    rhs: MatRef,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    let nr = 16 * NV;
    let pairs = k.div_ceil(2);
    // rhs as its transpose: a row per destination column, the inner dimension along it.
    let rhs_t = rhs.t();
    let mut b = vec![0u32; KC.min(pairs) * NC.min(n).next_multiple_of(nr)];
    let mut a = vec![0u32; KC.min(pairs) * MR];
    for kb in (0..pairs).step_by(KC) {
        let kps = KC.min(pairs - kb);
        let overwrite = kb == 0 && !accumulate;
        for nb in (0..n).step_by(NC) {
            let panels = NC.min(n - nb).div_ceil(nr);
            pack_pair_major(&rhs_t, nb, panels, nr, kb, kps, &mut b);
            for mb in (0..m).step_by(MR) {
                let a = &mut a[..kps * MR];
                let row_major = lhs.col_stride == 1 || lhs.row_stride != 1;
                match row_major {
                    true => pack_row_major(&lhs, mb, MR, kb, kps, a),
                    false => pack_pair_major(&lhs, mb, 1, MR, kb, kps, a),
                }
                for (p, panel) in b.chunks_exact(kps * nr).take(panels).enumerate() {
                    let acc = match row_major {
                        true => tile::<MR, NV, true>(kps, a, panel),
                        false => tile::<MR, NV, false>(kps, a, panel),
                    };
                    let (rows, col) = ((m - mb).min(MR), nb + p * nr);
                    store::<MR, NV>(&acc, dst, n, mb, rows, col, (n - col).min(nr), overwrite);
                }
            }
        }
    }
}

/// Packs rows `row0 .. row0 + panels · width` of `x` (zero beyond its rows) over pairs `kb
/// .. kb + kps` into `panels` panels of `width` rows, pair-major: `out[(q · kps + p) · width
/// + j]` is the pair `p` of row `row0 + q · width + j`, so a pair's `width` values lie
/// together (the layout the tile loads as vectors). Rows of 16 (or 8) that lie together in
/// memory (`x.row_stride == 1`) are converted as vectors, the rest one by one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_pair_major(
    x: &MatRef,
    row0: usize,
    panels: usize,
    width: usize,
    kb: usize,
    kps: usize,
    out: &mut [u32],
) {
    if x.row_stride != 1 && x.col_stride == 1 {
        return pack_pair_major_by_rows(x, row0, panels, width, kb, kps, out);
    }
    let interleave = interleave_halves();
    // The same for the first 8 and the last 8 of 16.
    let half = _mm256_set_epi16(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    // Pair by pair across all panels: each of the two rows read runs along memory.
    for p in 0..kps {
        let k = 2 * (kb + p);
        for c in 0..panels * width.div_ceil(16) {
            let (panel, at) = (c * 16 / width, c * 16 % width);
            let out = &mut out[(panel * kps + p) * width + at..][..(width - at).min(16)];
            let row = row0 + 16 * c;
            if x.row_stride == 1 && out.len() == 16 && row + 16 <= x.rows && k + 2 <= x.cols {
                let at = k * x.col_stride + row;
                let even = &x.data[at..at + 16];
                let odd = &x.data[at + x.col_stride..at + x.col_stride + 16];
                // SAFETY: both 16-value rows were sliced above; `out` holds 16 values.
                let (even, odd) = unsafe {
                    (
                        _mm512_loadu_ps(even.as_ptr()),
                        _mm512_loadu_ps(odd.as_ptr()),
                    )
                };
                let pairs =
                    _mm512_permutexvar_epi16(interleave, bits(_mm512_cvtne2ps_pbh(odd, even)));
                // SAFETY: `out` holds 16 values.
                unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), pairs) };
            } else if x.row_stride == 1 && out.len() == 8 && row + 8 <= x.rows && k + 2 <= x.cols {
                let at = k * x.col_stride + row;
                let even = &x.data[at..at + 8];
                let odd = &x.data[at + x.col_stride..at + x.col_stride + 8];
                // SAFETY: both 8-value rows were sliced above.
                let both = unsafe {
                    _mm512_insertf32x8::<1>(
                        _mm512_castps256_ps512(_mm256_loadu_ps(even.as_ptr())),
                        _mm256_loadu_ps(odd.as_ptr()),
                    )
                };
                let pairs = _mm256_permutexvar_epi16(half, bits(_mm512_cvtneps_pbh(both)));
                // SAFETY: `out` holds 8 values.
                unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), pairs) };
            } else {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = pair(x, row + j, k);
                }
            }
        }
    }
}

/// [`pack_pair_major`] for an `x` whose inner dimension lies along memory (column stride
/// 1): each row is packed by [`pack_row_major`] (8 pairs at a time), then written across to
/// its pairs' places.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[allow(clippy::too_many_arguments)]
fn pack_pair_major_by_rows(
    x: &MatRef,
    row0: usize,
    panels: usize,
    width: usize,
    kb: usize,
    kps: usize,
    out: &mut [u32],
) {
    let mut row = vec![0u32; kps];
    for j in 0..panels * width {
        pack_row_major(x, row0 + j, 1, kb, kps, &mut row);
        let (panel, at) = (j / width, j % width);
        for (p, pair) in row.iter().enumerate() {
            out[(panel * kps + p) * width + at] = *pair;
        }
    }
}

/// Packs rows `row0 .. row0 + width` of `x` (zero beyond its rows) over pairs `kb .. kb +
/// kps` row-major: `out[j · kps + p]` is the pair `p` of row `row0 + j`. A row whose inner
/// dimension lies together in memory (`x.col_stride == 1`) is converted 16 values at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
pub(super) fn pack_row_major(
    x: &MatRef,
    row0: usize,
    width: usize,
    kb: usize,
    kps: usize,
    out: &mut [u32],
) {
    for (j, out) in out.chunks_exact_mut(kps).take(width).enumerate() {
        let row = row0 + j;
        let mut p = 0;
        if x.col_stride == 1 && row < x.rows {
            let line = &x.data[row * x.row_stride..][..x.cols];
            while p + 8 <= kps && 2 * (kb + p) + 16 <= x.cols {
                let values = &line[2 * (kb + p)..][..16];
                // SAFETY: 16 values sliced above; `out[p..p + 8]` is in bounds.
                let values = unsafe { _mm512_loadu_ps(values.as_ptr()) };
                let bf16: __m256i = bits(_mm512_cvtneps_pbh(values));
                // SAFETY: `out[p..p + 8]` holds 8 values of 4 bytes.
                unsafe { _mm256_storeu_si256(out[p..p + 8].as_mut_ptr().cast(), bf16) };
                p += 8;
            }
        }
        for (q, o) in out.iter_mut().enumerate().skip(p) {
            *o = pair(x, row, 2 * (kb + q));
        }
    }
}

/// The same bits as another vector type of the same width (bf16 vectors and integer vectors).
#[cfg(target_arch = "x86_64")]
fn bits<A: Copy, B: Copy>(a: A) -> B {
    assert_eq!(size_of::<A>(), size_of::<B>());
    // SAFETY: both are plain SIMD vectors of the same size (asserted), any bit pattern valid.
    unsafe { std::mem::transmute_copy(&a) }
}

/// One `MR × 16·NV` tile of the product over `kps` pairs: `acc[i][v]` holds columns `16v ..
/// 16v + 16` of row `i`. `a` is the row panel, pair-major (`a[p · MR + i]`) or row-major
/// (`a[i · kps + p]`, when `ROW_MAJOR`); `b` the column panel, pair-major.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[inline]
fn tile<const MR: usize, const NV: usize, const ROW_MAJOR: bool>(
    kps: usize,
    a: &[u32],
    b: &[u32],
) -> [[__m512; NV]; MR] {
    assert!(a.len() >= MR * kps && b.len() >= 16 * NV * kps);
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    let (a, b) = (a.as_ptr(), b.as_ptr());
    for p in 0..kps {
        let mut cols = [_mm512_setzero_si512(); NV];
        for (v, col) in cols.iter_mut().enumerate() {
            // SAFETY: `p · 16·NV + 16v + 16 ≤ 16·NV · kps`, asserted above.
            *col = unsafe { _mm512_loadu_si512(b.add((p * NV + v) * 16).cast()) };
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            let at = match ROW_MAJOR {
                true => i * kps + p,
                false => p * MR + i,
            };
            // SAFETY: `at < MR · kps`, asserted above.
            let row: __m512bh = bits(_mm512_set1_epi32(unsafe { *a.add(at) } as i32));
            for (acc, col) in acc.iter_mut().zip(&cols) {
                *acc = _mm512_dpbf16_ps(*acc, row, bits(*col));
            }
        }
    }
    acc
}

/// Adds (or, when `overwrite`, writes) the first `rows × cols` values of a tile to `dst`
/// (row-major, `n` columns) at `(row0, col0)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
fn store<const MR: usize, const NV: usize>(
    acc: &[[__m512; NV]; MR],
    dst: &mut [f32],
    n: usize,
    row0: usize,
    rows: usize,
    col0: usize,
    cols: usize,
    overwrite: bool,
) {
    for (i, acc) in acc.iter().enumerate().take(rows) {
        let line = &mut dst[(row0 + i) * n + col0..][..cols];
        for (v, acc) in acc.iter().enumerate() {
            let start = 16 * v;
            if start >= cols {
                break;
            }
            let lanes = (cols - start).min(16);
            let mask: __mmask16 = ((1u32 << lanes) - 1) as __mmask16;
            let at = line[start..start + lanes].as_mut_ptr();
            // SAFETY: the mask covers `lanes` values, all inside `line`.
            let value = match overwrite {
                true => *acc,
                false => _mm512_add_ps(unsafe { _mm512_maskz_loadu_ps(mask, at) }, *acc),
            };
            // SAFETY: as the load.
            unsafe { _mm512_mask_storeu_ps(at, mask, value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_bf16_keeps_eight_bits_ties_to_even() {
        assert_eq!(round(1.0), 1.0);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even one, 1.
        assert_eq!(round(1.0 + 1.0 / 256.0), 1.0);
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: even is 1 + 2⁻⁶.
        assert_eq!(round(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(round(1.0 + 1.5 / 256.0), 1.0 + 1.0 / 128.0);
        assert_eq!(round(-3.0), -3.0);
        assert!(round(f32::NAN).is_nan());
        assert_eq!(round(f32::INFINITY), f32::INFINITY);
        assert_eq!(to_bf16(1.0), 0x3f80);
    }

    /// A matrix of `rows × cols` values of `value` laid out three ways: row-major,
    /// column-major, and every other element of a row-major matrix twice as wide (neither
    /// stride 1), so that every packing path runs.
    fn layouts(rows: usize, cols: usize, value: impl Fn(usize, usize) -> f32) -> [Vec<f32>; 3] {
        let mut out = [
            vec![0.0; rows * cols],
            vec![0.0; rows * cols],
            vec![0.0; 4 * rows * cols],
        ];
        for i in 0..rows {
            for j in 0..cols {
                out[0][i * cols + j] = value(i, j);
                out[1][j * rows + i] = value(i, j);
                out[2][i * 4 * cols + 2 * j] = value(i, j);
            }
        }
        out
    }

    fn view(data: &[f32], layout: usize, rows: usize, cols: usize) -> MatRef<'_> {
        let (row_stride, col_stride) = [(cols, 1), (1, rows), (4 * cols, 2)][layout];
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// Shapes on both sides of the tiles (8 and 16 rows, 16 and 32 columns), of the blocks
    /// (128 pairs, 1024 columns), with odd inner dimensions; every layout of both operands;
    /// overwriting and accumulating: the sums of the rounded operands' products, to fp32's
    /// accumulation error.
    #[test]
    fn products_match_the_triple_loop_on_rounded_operands() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let value = |seed: usize| {
            move |i: usize, j: usize| ((i * 131 + j * 71 + seed) % 97) as f32 / 13.0 - 3.7
        };
        for (m, n, k) in [
            (1, 1, 1),
            (3, 5, 7),
            (16, 16, 16),
            (17, 33, 31),
            (9, 1030, 40),
            (40, 16, 300),
            (8, 17, 257),
            (20, 40, 2),
            // More than 32 rows: the register tiles of 32 × 32 (AMX) and 8 × 32.
            (33, 47, 70),
            (64, 64, 256),
            (100, 40, 301),
        ] {
            let (a, b) = (layouts(m, k, value(1)), layouts(k, n, value(5)));
            let (ra, rb) = (|i, l| round(value(1)(i, l)), |l, j| round(value(5)(l, j)));
            let want: Vec<f64> = (0..m * n)
                .map(|ij| {
                    (0..k)
                        .map(|l| f64::from(ra(ij / n, l) * rb(l, ij % n)))
                        .sum()
                })
                .collect();
            let bound: Vec<f64> = (0..m * n)
                .map(|ij| {
                    (0..k)
                        .map(|l| f64::from((ra(ij / n, l) * rb(l, ij % n)).abs()))
                        .sum()
                })
                .collect();
            for (la, lb) in (0..3).flat_map(|la| (0..3).map(move |lb| (la, lb))) {
                let (lhs, rhs) = (view(&a[la], la, m, k), view(&b[lb], lb, k, n));
                let mut c = vec![0.5; m * n];
                for accumulate in [true, false] {
                    super::super::matmul(
                        &mut c,
                        lhs,
                        rhs,
                        accumulate,
                        crate::kernels::precision::Precision::Bf16,
                    );
                    let offset = if accumulate { 0.5 } else { 0.0 };
                    for (ij, got) in c.iter().enumerate() {
                        let err = (f64::from(*got) - want[ij] - offset).abs();
                        assert!(
                            err <= 1e-6 * bound[ij] * k as f64 + 1e-6,
                            "{m}×{n}×{k}, layouts {la}/{lb}, accumulate {accumulate}: \
                             [{ij}] = {got}, want {}",
                            want[ij] + offset
                        );
                    }
                }
            }
        }
    }

    /// The operands really are rounded: 1.001 is bf16's 1.
    #[test]
    fn operands_are_rounded_to_bf16() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let mut c = [0.0];
        let (a, b) = ([1.001], [3.0]);
        let (lhs, rhs) = (MatRef::row_major(&a, 1, 1), MatRef::row_major(&b, 1, 1));
        super::super::matmul(
            &mut c,
            lhs,
            rhs,
            false,
            crate::kernels::precision::Precision::Bf16,
        );
        assert_eq!(c, [3.0]);
    }
}

//! A safe face for the `gemm` crate's matrix product (the same kernels burn's flex backend
//! uses): bounds are checked once here, so the convolution code holds no `unsafe`; and,
//! where the CPU has AVX512-BF16 and a run asks for it, pretext's own bf16 product
//! ([`bf16`]), on AMX tiles where the CPU has them ([`amx`]).

pub mod amx;
pub mod bf16;
mod mat_ref;

use super::precision::Precision;
pub use mat_ref::MatRef;

/// The instruction set of the `gemm` crate's microkernels on this CPU, chosen by `gemm` at
/// run time: `"avx512f"` (16-lane kernels, built with gemm's `x86-v4` feature) where the CPU
/// has AVX-512, `"avx2+fma"` (8 lanes) where it has AVX2 and FMA, `"scalar"` otherwise. The
/// same choice serves burn's flex backend, which multiplies through the same crate.
pub fn instruction_set() -> &'static str {
    use super::vectorize::{Width, widest};
    match widest() {
        Some(Width::Avx512) => return "avx512f",
        Some(Width::Avx2) => return "avx2+fma",
        None => {}
    }
    #[cfg(target_arch = "aarch64")]
    return "neon";
    #[allow(unreachable_code)]
    "scalar"
}

/// `dst ← lhs · rhs` (or `dst ← dst + lhs · rhs` when `accumulate`), `dst` row-major
/// `lhs.rows × rhs.cols`, on the calling thread, with operands in `precision`.
///
/// # Panics
/// When the shapes disagree, a matrix does not fit in its slice, or `precision` is bf16 on a
/// CPU without AVX512-BF16.
pub fn matmul(dst: &mut [f32], lhs: MatRef, rhs: MatRef, accumulate: bool, precision: Precision) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "inner dimensions of the product differ");
    assert_eq!(dst.len(), m * n, "destination is not {m}×{n}");
    lhs.check("lhs");
    rhs.check("rhs");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    if precision == Precision::Bf16 {
        return match amx::available() && !bf16::streams(&lhs, &rhs) {
            true => amx::matmul(dst, lhs, rhs, accumulate),
            false => bf16::matmul(dst, lhs, rhs, accumulate),
        };
    }
    // A product with few rows is computed as its transpose, `dstᵀ = rhsᵀ · lhsᵀ`, written
    // through `dst`'s strides, so that the long side fills the microkernels' rows.
    let (lhs, rhs, rows, cols, dst_cs, dst_rs) = match transposed(m, n) {
        false => (lhs, rhs, m, n, 1, n),
        true => (rhs.t(), lhs.t(), n, m, n, 1),
    };
    // SAFETY: every index the product touches was checked against its slice above (`dst` is
    // `m × n` row-major, and its transpose `n × m` with row stride 1 and column stride `n`
    // covers the same elements; `lhs` and `rhs` fit their strides); `dst` is borrowed
    // mutably and so aliases neither input.
    unsafe {
        gemm::gemm(
            rows,
            cols,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Whether an `m × n` product runs transposed. gemm's microkernels compute tiles of
/// `MR × NR` destination values, `MR` a few vector lengths down the rows (AVX-512: 4 × 16
/// rows by 6 columns; AVX2: 3 × 8 by 4). A product with 16 rows or fewer (a 16-channel
/// convolution's `C_out × P`) runs a one-vector-high tile, which loads one vector and
/// broadcasts six values for every six multiply-adds and so waits on loads; its transpose
/// runs full tiles.
fn transposed(m: usize, n: usize) -> bool {
    m <= TRANSPOSE_ROWS && n > m
}

/// The largest row count [`transposed`] turns around.
const TRANSPOSE_ROWS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_hand_computed_values() {
        // [[1, 2, 3], [4, 5, 6]] · [[1, 0], [0, 1], [1, 1]] = [[4, 5], [10, 11]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [0.0; 4];
        matmul(
            &mut c,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            false,
            Precision::F32,
        );
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        // Accumulating adds; transposed views need no copy: aᵀ · a = [[17, 22, 27], …].
        matmul(
            &mut c,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            true,
            Precision::F32,
        );
        assert_eq!(c, [8.0, 10.0, 20.0, 22.0]);
        let mut g = [0.0; 9];
        let a = MatRef::row_major(&a, 2, 3);
        matmul(&mut g, a.t(), a, false, Precision::F32);
        assert_eq!(g, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
    }

    /// Products with few rows run transposed ([`transposed`]): every shape on both sides of
    /// the cut, plain and transposed operands, overwriting and accumulating, against the
    /// triple loop.
    #[test]
    fn thin_and_wide_products_match_the_triple_loop() {
        let value = |i: usize| ((i * 37) % 23) as f32 - 11.0;
        for (m, n, k) in [
            (1, 9, 5),
            (5, 40, 7),
            (16, 33, 3),
            (17, 40, 7),
            (40, 5, 6),
            (16, 16, 4),
        ] {
            assert_eq!(transposed(m, n), m <= TRANSPOSE_ROWS && n > m);
            let a: Vec<f32> = (0..m * k).map(value).collect();
            let b: Vec<f32> = (0..k * n).map(|i| value(i + 5)).collect();
            let want: Vec<f32> = (0..m * n)
                .map(|ij| (0..k).map(|l| a[ij / n * k + l] * b[l * n + ij % n]).sum())
                .collect();
            // lhs given transposed (k × m row-major, viewed as m × k).
            let a_t: Vec<f32> = (0..k * m).map(|i| a[i % m * k + i / m]).collect();
            for lhs in [
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&a_t, k, m).t(),
            ] {
                let mut c = vec![1.0; m * n];
                matmul(
                    &mut c,
                    lhs,
                    MatRef::row_major(&b, k, n),
                    true,
                    Precision::F32,
                );
                let plus_one: Vec<f32> = want.iter().map(|v| v + 1.0).collect();
                assert_eq!(c, plus_one, "{m}×{n}×{k}, accumulating");
                matmul(
                    &mut c,
                    lhs,
                    MatRef::row_major(&b, k, n),
                    false,
                    Precision::F32,
                );
                assert_eq!(c, want, "{m}×{n}×{k}");
            }
        }
    }

    /// CI runs the kernel tests a second time on an emulated AVX2 CPU (`qemu-x86_64 -cpu
    /// Haswell`, scripts/test.sh) with `PRETEXT_EXPECT_ISA=avx2+fma`: this test makes sure
    /// that run really took gemm's AVX2 fallback, and every other kernel test then checks
    /// that fallback's results.
    #[test]
    fn the_expected_instruction_set_is_the_one_in_use() {
        let isa = instruction_set();
        assert!(["avx512f", "avx2+fma", "neon", "scalar"].contains(&isa));
        if let Ok(expected) = std::env::var("PRETEXT_EXPECT_ISA") {
            assert_eq!(
                isa, expected,
                "matrix products run on {isa}, not {expected}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_matrix_larger_than_its_slice_is_refused() {
        let mut c = [0.0; 4];
        matmul(
            &mut c,
            MatRef::row_major(&[1.0; 5], 2, 3),
            MatRef::row_major(&[1.0; 6], 3, 2),
            false,
            Precision::F32,
        );
    }
}

//! Compiling a piece of loop code for the widest vector instructions the CPU has.
//!
//! The crate is built for baseline x86-64, so the compiler vectorises pretext's own loops
//! (Winograd's transforms, batch norm's passes, im2col) with 4-lane SSE2 even where the CPU
//! has AVX-512's 16 lanes. [`vectorized`] runs a closure inside a function compiled with
//! `avx512f` (or `avx2` + `fma`) enabled, chosen at run time; the closure, and the
//! `#[inline(always)]` code it calls, is inlined there and compiled for those instructions
//! (the same device as the `gemm` crate's `vectorize`). Every instruction set computes the
//! same values: no operation here is contracted into a fused multiply-add unless written as
//! one, so only the speed changes.

/// Runs `f`, compiled for AVX-512 where the CPU has it, else for AVX2 + FMA where it has
/// those, else as built. Only what is inlined gains: write the closure
/// `#[inline(always)] || …` (it has three callers, so the compiler would otherwise keep it a
/// separate baseline function) and mark the functions it calls `#[inline(always)]`.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the instructions `avx512` is compiled for.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

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
        match widest() {
            // SAFETY: the CPU has the instructions `avx512` is compiled for.
            Some(Width::Avx512) => return unsafe { avx512(f) },
            // SAFETY: as above.
            Some(Width::Avx2) => return unsafe { avx2(f) },
            None => {}
        }
    }
    f()
}

/// The x86 vector instruction sets pretext's kernels (and `gemm`'s) choose between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// AVX-512F: 16 lanes of f32.
    Avx512,
    /// AVX2 + FMA: 8 lanes.
    Avx2,
}

/// The sets this CPU has, the widest first: none off x86-64, or on a CPU without AVX2 + FMA.
pub fn available() -> impl Iterator<Item = Width> {
    #[cfg(target_arch = "x86_64")]
    let found = [
        std::arch::is_x86_feature_detected!("avx512f").then_some(Width::Avx512),
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Width::Avx2),
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let found: [Option<Width>; 0] = [];
    found.into_iter().flatten()
}

/// The widest set this CPU has, if any.
pub fn widest() -> Option<Width> {
    available().next()
}

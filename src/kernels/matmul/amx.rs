//! Matrix products on Intel's AMX-BF16 tiles (Sapphire Rapids and later): `tdpbf16ps`
//! multiplies a 16 × 32 bf16 tile by a 32 × 16 one (in pairs, as `vdpbf16ps` does) into a
//! 16 × 16 fp32 tile, 16 times the multiply-adds of one AVX-512 `vdpbf16ps`.
//!
//! The numbers are those of [`super::bf16`]: both operands rounded to bf16 as they are
//! packed (the same packing routines), sums and result in fp32. Blocking as there (the inner
//! dimension in blocks of [`KC`] pairs, the columns in blocks of [`NC`]); the register tile
//! is 32 × 32 fp32 in four AMX tiles, fed by two row tiles of the left operand and two column
//! tiles of the right one (all eight tile registers).
//!
//! Linux grants a process the tile state only on request (`arch_prctl(ARCH_REQ_XCOMP_PERM,
//! XFEATURE_XTILEDATA)`), made once here; std::arch has no stable AMX intrinsics, so the
//! five tile instructions are inline assembly. `PRETEXT_AMX=0` switches the tiles off (the
//! bf16 products then run on AVX512-BF16), to compare the two.

use super::bf16::{self, KC, NC};
use super::mat_ref::MatRef;

/// Whether this process multiplies bf16 products on AMX tiles: the CPU has AMX-TILE and
/// AMX-BF16 (and AVX512-BF16, for packing), the kernel granted the tile state, and
/// `PRETEXT_AMX` is not `0`.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let wanted = std::env::var("PRETEXT_AMX").map_or(true, |v| v != "0");
        wanted && bf16::available() && has_amx() && permitted()
    })
}

/// CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
fn has_amx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
        edx & (1 << 22) != 0 && edx & (1 << 24) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Asks Linux for the tile data state (once per process; every thread may then use it).
fn permitted() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with these arguments only changes the process's permissions.
        unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    false
}

const _: () = assert!(size_of::<TileConfig>() == 64);

/// Rows and columns of the register tile (four 16 × 16 AMX tiles).
const TILE: usize = 32;
/// Pairs of the inner dimension per AMX tile load (a row of 64 bytes).
const STEP: usize = 16;

/// The 64 bytes `ldtilecfg` reads (Intel SDM vol. 1, §18.2): the palette (1), the start row,
/// 14 reserved bytes, each tile's bytes per row (16 × u16) and rows (16 × u8); here tiles 0–7
/// of 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    _reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// `dst ← lhs · rhs` (or `dst ← dst + lhs · rhs` when `accumulate`) with both operands
/// rounded to bf16, sums in fp32, on AMX tiles; `dst` row-major `lhs.rows × rhs.cols`, on
/// the calling thread. The caller has checked the shapes (`super::matmul`).
///
/// # Panics
/// When the process cannot use AMX ([`available`]).
pub(super) fn matmul(dst: &mut [f32], lhs: MatRef, rhs: MatRef, accumulate: bool) {
    assert!(available(), "AMX products need AMX-BF16 and the tile state");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instructions and the process the tile state (asserted above);
    // the operands fit their slices and `dst` holds `lhs.rows × rhs.cols` values (caller).
    unsafe {
        product(dst, lhs, rhs, accumulate)
    }
}

/// The blocked product. Safe to call only where [`available`]; operands as [`matmul`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn product(dst: &mut [f32], lhs: MatRef, rhs: MatRef, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    let pairs = k.div_ceil(2);
    let rhs_t = rhs.t();
    let block = KC.min(pairs).next_multiple_of(STEP);
    // Packed blocks, zero beyond the matrices: a row tile and a column panel of `block`
    // pairs each (the last block's pairs beyond `k` read as zeros).
    let mut a = vec![0u32; TILE * block];
    let mut b = vec![0u32; block * NC.min(n).next_multiple_of(TILE)];
    let mut c = [0f32; TILE * TILE];
    let config = TileConfig {
        palette: 1,
        start_row: 0,
        _reserved: [0; 14],
        colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };
    // SAFETY: the configuration is a valid palette-1 layout, 64-byte aligned.
    unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) &config, options(nostack)) };
    for kb in (0..pairs).step_by(KC) {
        let kps = KC.min(pairs - kb).next_multiple_of(STEP);
        let overwrite = kb == 0 && !accumulate;
        for nb in (0..n).step_by(NC) {
            let panels = NC.min(n - nb).div_ceil(TILE);
            bf16::pack_pair_major(&rhs_t, nb, panels, TILE, kb, kps, &mut b);
            for mb in (0..m).step_by(TILE) {
                bf16::pack_row_major(&lhs, mb, TILE, kb, kps, &mut a[..TILE * kps]);
                for (p, panel) in b.chunks_exact(kps * TILE).take(panels).enumerate() {
                    tile(kps, &a, panel, &mut c);
                    let (rows, col) = ((m - mb).min(TILE), nb + p * TILE);
                    let cols = (n - col).min(TILE);
                    for (i, sums) in c.chunks_exact(TILE).take(rows).enumerate() {
                        let line = &mut dst[(mb + i) * n + col..][..cols];
                        match overwrite {
                            true => line.copy_from_slice(&sums[..cols]),
                            false => line.iter_mut().zip(sums).for_each(|(d, s)| *d += s),
                        }
                    }
                }
            }
        }
    }
    // SAFETY: releases the tile state this function configured.
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
}

/// One 32 × 32 tile of the product over `kps` pairs (a multiple of [`STEP`]) into `c`
/// (row-major, 32 columns): `a` is the row tile, row-major (`a[i · kps + p]`), `b` the
/// column panel, pair-major (`b[p · 32 + j]`), as `tdpbf16ps` reads them.
///
/// Safe to call only with the tiles configured as in [`product`].
#[cfg(target_arch = "x86_64")]
#[inline]
fn tile(kps: usize, a: &[u32], b: &[u32], c: &mut [f32; TILE * TILE]) {
    assert!(kps.is_multiple_of(STEP) && a.len() >= TILE * kps && b.len() >= TILE * kps);
    let (a, b) = (a.as_ptr(), b.as_ptr());
    let (a_stride, b_stride, c_stride) = (4 * kps, 4 * TILE, 4 * TILE);
    // SAFETY: tmm0–3 are the sums, tmm4–5 the two 16-row halves of `a`, tmm6–7 the two
    // 16-column halves of `b`; every load reads 16 rows of 64 bytes inside the slices
    // (asserted above), every store writes 16 rows of 64 bytes inside `c`.
    unsafe {
        std::arch::asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        );
        for q in (0..kps).step_by(STEP) {
            std::arch::asm!(
                "tileloadd tmm4, [{a0} + {sa} * 1]",
                "tileloadd tmm5, [{a1} + {sa} * 1]",
                "tileloadd tmm6, [{b0} + {sb} * 1]",
                "tileloadd tmm7, [{b1} + {sb} * 1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a.add(q),
                a1 = in(reg) a.add(16 * kps + q),
                b0 = in(reg) b.add(q * TILE),
                b1 = in(reg) b.add(q * TILE + 16),
                sa = in(reg) a_stride,
                sb = in(reg) b_stride,
                options(nostack, readonly)
            );
        }
        let c = c.as_mut_ptr();
        std::arch::asm!(
            "tilestored [{c0} + {sc} * 1], tmm0",
            "tilestored [{c1} + {sc} * 1], tmm1",
            "tilestored [{c2} + {sc} * 1], tmm2",
            "tilestored [{c3} + {sc} * 1], tmm3",
            c0 = in(reg) c,
            c1 = in(reg) c.add(16),
            c2 = in(reg) c.add(16 * TILE),
            c3 = in(reg) c.add(16 * TILE + 16),
            sc = in(reg) c_stride,
            options(nostack)
        );
    }
}

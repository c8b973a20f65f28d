//! The memory allocator's settings for training.
//!
//! The binary allocates with mimalloc (`src/main.rs`). Every training step frees and
//! allocates the same large buffers again (activations, gradients, patch matrices); by
//! default mimalloc hands freed memory back to the system after a delay (10 ms in mimalloc
//! v2, 1 s in the v3 the `mimalloc` crate builds), so step after step the buffers arrive as
//! fresh pages that the kernel must fault in and zero: 23 000–50 000 minor page faults in 22
//! narrow ResNet-18 steps with v3's default, about 600 without purging (BENCHMARKS.md).

/// mimalloc's `mi_option_purge_delay`: its index in `mi_option_e`, the same in mimalloc v2's
/// and v3's `mimalloc.h` (the Rust bindings name only some options).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse for the life of the process (mimalloc's purge delay −1),
/// unless `MIMALLOC_PURGE_DELAY` is set, which then wins. Call it first thing in `main`.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_index_reads_mimallocs_default_delay() {
        // `options.c`: the purge delay defaults to 10 ms in mimalloc v2 and 1000 ms in v3; the
        // options around index 15 default to 0, 1 or 2, so a wrong index reads another value.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            assert!(
                matches!(delay, 10 | 1000),
                "option {PURGE_DELAY} reads {delay}"
            );
        }
    }
}

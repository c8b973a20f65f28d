//! Output buffers that a kernel fills without zeroing them first.
//!
//! `vec![0.0; n]` zeroes the buffer before the kernel overwrites every value: mimalloc hands
//! reused memory back through `memset`, which took 9 % of a BYOL training step (ResNet-18
//! widths 16–128, `perf` on a Xeon; BENCHMARKS.md), a pass as long as a batch norm's output
//! pass itself. [`par_chunks`] writes each value once into the vector's uninitialised
//! capacity (`MaybeUninit`) instead.

use rayon::prelude::*;

/// A vector of `len` values computed in parallel, chunk by chunk: chunk `i` holds the values
/// `values(i)` yields, `chunk` of them (fewer in the last chunk, when `len` is not a multiple
/// of `chunk`).
///
/// # Panics
/// When `values(i)` yields fewer values than its chunk holds.
pub fn par_chunks<I: Iterator<Item = f32>>(
    len: usize,
    chunk: usize,
    values: impl Fn(usize) -> I + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, slots)| {
            let mut written = 0;
            for (slot, value) in slots.iter_mut().zip(values(i)) {
                slot.write(value);
                written += 1;
            }
            assert_eq!(
                written,
                slots.len(),
                "output chunk {i}: {written} of its {} values written",
                slots.len()
            );
        });
    // SAFETY: the chunks cover the first `len` slots of the capacity (`with_capacity(len)`),
    // and every slot of every chunk was written (asserted above; a failed assertion panics
    // out of `for_each` before this line).
    unsafe { out.set_len(len) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_written_in_order() {
        let v = par_chunks(10, 4, |i| {
            (0..4).map(move |j| (i * 4 + j) as f32).take(10 - 4 * i)
        });
        assert_eq!(v, (0..10).map(|v| v as f32).collect::<Vec<_>>());
        assert!(par_chunks(0, 4, |_| std::iter::empty()).is_empty());
    }

    #[test]
    #[should_panic(expected = "values written")]
    fn a_chunk_left_short_is_refused() {
        par_chunks(8, 4, |i| (0..4 - i).map(|v| v as f32));
    }

    #[test]
    fn extra_values_are_ignored() {
        assert_eq!(par_chunks(3, 3, |_| std::iter::repeat(1.0)), vec![1.0; 3]);
    }
}

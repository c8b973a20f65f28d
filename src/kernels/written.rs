//! Output buffers that a kernel fills without zeroing them first.
//!
//! `vec![0.0; n]` zeroes the buffer before the kernel overwrites every value: mimalloc hands
//! reused memory back through `memset`, which took 9 % of a BYOL training step (ResNet-18
//! widths 16–128, `perf` on a Xeon; BENCHMARKS.md), a pass as long as a batch norm's output
//! pass itself. [`par_chunks`] has each value written once, in order, into the vector's
//! uninitialised capacity (`MaybeUninit`) instead.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A vector of `len` values written in parallel, chunk by chunk: `fill(i, out)` appends the
/// values of chunk `i` to `out`, `chunk` of them (fewer in the last chunk, when `len` is not
/// a multiple of `chunk`), in order.
///
/// # Panics
/// When `fill` appends fewer values than its chunk holds, or more.
pub fn par_chunks(len: usize, chunk: usize, fill: impl Fn(usize, &mut Append) + Sync) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, slots)| {
            let mut append = Append { slots, filled: 0 };
            fill(i, &mut append);
            let (filled, total) = (append.filled, append.slots.len());
            assert_eq!(
                filled, total,
                "output chunk {i}: {filled} of its {total} values written"
            );
        });
    // SAFETY: the chunks cover the first `len` slots of the capacity (`with_capacity(len)`),
    // and each chunk's slots were written in full: `Append` counts only slots it wrote, from
    // the first one on, and the assertion above panics out of `for_each` before this line
    // unless the count reached the chunk's length.
    unsafe { out.set_len(len) };
    out
}

/// The unwritten rest of one chunk of [`par_chunks`], filled from the front.
pub struct Append<'a> {
    slots: &'a mut [MaybeUninit<f32>],
    filled: usize,
}

impl Append<'_> {
    /// Appends `values`.
    ///
    /// # Panics
    /// When they do not fit in the chunk.
    pub fn extend_from_slice(&mut self, values: &[f32]) {
        let end = self.filled + values.len();
        self.slots[self.filled..end].write_copy_of_slice(values);
        self.filled = end;
    }

    /// Appends the values of `values`, at most as many as its `len()` says (an iterator that
    /// yields fewer leaves the rest for later calls).
    ///
    /// # Panics
    /// When `len()` values do not fit in the chunk.
    pub fn extend(&mut self, values: impl ExactSizeIterator<Item = f32>) {
        let slots = &mut self.slots[self.filled..self.filled + values.len()];
        let mut written = 0;
        for (slot, value) in slots.iter_mut().zip(values) {
            slot.write(value);
            written += 1;
        }
        self.filled += written;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_written_in_order() {
        let v = par_chunks(10, 4, |i, out| {
            out.extend((4 * i..(4 * i + 4).min(10)).map(|v| v as f32))
        });
        assert_eq!(v, (0..10).map(|v| v as f32).collect::<Vec<_>>());
        let v = par_chunks(6, 3, |i, out| {
            out.extend_from_slice(&[i as f32]);
            out.extend_from_slice(&[1.0, 2.0]);
        });
        assert_eq!(v, vec![0.0, 1.0, 2.0, 1.0, 1.0, 2.0]);
        assert!(par_chunks(0, 4, |_, _| {}).is_empty());
    }

    #[test]
    #[should_panic(expected = "values written")]
    fn a_chunk_left_short_is_refused() {
        par_chunks(8, 4, |i, out| out.extend((0..4 - i).map(|v| v as f32)));
    }

    #[test]
    #[should_panic]
    fn a_chunk_overfilled_is_refused() {
        par_chunks(4, 2, |_, out| out.extend_from_slice(&[1.0; 3]));
    }
}

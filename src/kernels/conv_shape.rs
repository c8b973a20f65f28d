//! The geometry of a 2-D convolution (NCHW, no groups, no dilation), shared by its kernels:
//! the unrolled products ([`conv`](super::conv)), Winograd's ([`winograd`](super::winograd))
//! and the in-place kernel for few channels ([`thin`](super::thin)).

use super::precision::Precision;

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (rows, columns).
    pub stride: [usize; 2],
    /// Zero padding on each side (rows, columns).
    pub padding: [usize; 2],
    /// The number format of the matrix products' operands (fp32 or bf16; sums are fp32).
    pub precision: Precision,
}

impl ConvShape {
    /// Output height.
    pub fn h_out(&self) -> usize {
        (self.h + 2 * self.padding[0]).saturating_sub(self.kh) / self.stride[0] + 1
    }

    /// Output width.
    pub fn w_out(&self) -> usize {
        (self.w + 2 * self.padding[1]).saturating_sub(self.kw) / self.stride[1] + 1
    }

    /// Rows of the patch matrix: `C_in·k_h·k_w`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions per image: `H_out·W_out`.
    pub fn p(&self) -> usize {
        self.h_out() * self.w_out()
    }

    /// Floating-point operations of the forward product (2 per multiply-add), the same for
    /// each gradient: `2·N·C_out·K·P`.
    pub fn flops(&self) -> u64 {
        2 * (self.batch * self.c_out * self.k() * self.p()) as u64
    }

    pub(super) fn image_in(&self) -> usize {
        self.c_in * self.h * self.w
    }

    pub(super) fn image_out(&self) -> usize {
        self.c_out * self.p()
    }

    /// A 1×1, stride-1, unpadded convolution: a plain product with each image.
    pub(super) fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Panics unless the buffers have this geometry's sizes and the geometry is valid.
    pub(super) fn check(&self, x: usize, w: usize, y: usize) {
        assert!(
            self.stride[0] > 0 && self.stride[1] > 0,
            "convolution stride must be positive"
        );
        assert!(
            self.h + 2 * self.padding[0] >= self.kh && self.w + 2 * self.padding[1] >= self.kw,
            "kernel larger than the padded input: {self:?}"
        );
        assert_eq!(x, self.batch * self.image_in(), "input size for {self:?}");
        assert_eq!(w, self.c_out * self.k(), "weight size for {self:?}");
        assert_eq!(y, self.batch * self.image_out(), "output size for {self:?}");
    }

    /// For kernel offset `offset` along an axis of input length `len`, output length `out`,
    /// stride `s` and padding `pad`: the output positions whose input coordinate
    /// `o·s + offset − pad` lies inside the image.
    pub(super) fn valid(
        out: usize,
        len: usize,
        s: usize,
        pad: usize,
        offset: usize,
    ) -> std::ops::Range<usize> {
        // o·s + offset ≥ pad  ⇔  o ≥ ⌈(pad − offset) / s⌉
        let start = pad.saturating_sub(offset).div_ceil(s);
        // o·s + offset − pad ≤ len − 1  ⇔  o ≤ ⌊(len − 1 + pad − offset) / s⌋
        let end = match (len + pad).checked_sub(offset + 1) {
            Some(last) => (last / s + 1).min(out),
            None => 0,
        };
        start.min(end)..end
    }
}

/// Images per parallel task: the batch split evenly over rayon's threads, so that each
/// thread allocates one patch matrix (and one weight-gradient buffer) per call.
pub(super) fn images_per_task(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads()).max(1)
}

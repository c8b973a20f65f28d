//! The number format of the convolutions' matrix products, chosen once per process
//! (`train.precision`).

use std::sync::atomic::{AtomicBool, Ordering};

/// The number format of a product's operands (`fp32` or `bf16` in a configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// fp32 operands, fp32 sums.
    #[default]
    #[serde(rename = "fp32")]
    F32,
    /// Operands rounded to bfloat16, fp32 sums and result ([`super::matmul::bf16`]); only on
    /// CPUs where [`super::matmul::bf16::available`].
    #[serde(rename = "bf16")]
    Bf16,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// Whether the convolutions' products take bf16 operands ([`set_precision`]).
static BF16: AtomicBool = AtomicBool::new(false);

/// Sets the number format of the convolutions' matrix products for the whole process, as
/// PyTorch's CPU autocast does for its convolutions: [`Precision::Bf16`] rounds both operands
/// of every product in the forward and both gradients to bfloat16 and sums in fp32
/// ([`matmul::bf16`](super::matmul::bf16)); weights, gradients, activations and every other operation stay fp32.
/// Returns the precision now in effect: fp32 when bf16 was asked for on a CPU without
/// AVX512-BF16 ([`matmul::bf16::available`](super::matmul::bf16::available)).
pub fn set_precision(precision: Precision) -> Precision {
    let bf16 = precision == Precision::Bf16 && super::matmul::bf16::available();
    BF16.store(bf16, Ordering::Relaxed);
    self::precision()
}

/// The number format of the convolutions' products ([`set_precision`]; fp32 unless set).
pub fn precision() -> Precision {
    match BF16.load(Ordering::Relaxed) {
        true => Precision::Bf16,
        false => Precision::F32,
    }
}

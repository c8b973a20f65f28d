//! Wall-clock time spent in each of pretext's kernels, for the breakdown that `pretrain
//! --compute-only` prints: what of a training step is convolution, what batch norm, and
//! (the remainder) everything burn does (element-wise operations, pooling, the loss, the
//! optimiser, autodiff bookkeeping, allocation).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The timed kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Convolution forward.
    ConvForward,
    /// Convolution, gradient of the input.
    ConvInputGrad,
    /// Convolution, gradient of the weight.
    ConvWeightGrad,
    /// Training batch norm (+ ReLU) forward.
    NormForward,
    /// Training batch norm (+ ReLU) backward.
    NormBackward,
}

impl Kernel {
    /// Every kernel, in report order.
    pub const ALL: [Kernel; 5] = [
        Kernel::ConvForward,
        Kernel::ConvInputGrad,
        Kernel::ConvWeightGrad,
        Kernel::NormForward,
        Kernel::NormBackward,
    ];

    /// A name for people.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::ConvForward => "convolution forward",
            Kernel::ConvInputGrad => "convolution input gradient",
            Kernel::ConvWeightGrad => "convolution weight gradient",
            Kernel::NormForward => "batch norm (+ReLU) forward",
            Kernel::NormBackward => "batch norm (+ReLU) backward",
        }
    }
}

static NANOS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
static FLOPS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// What one kernel did since the last [`reset`].
#[derive(Clone, Copy, Debug)]
pub struct Total {
    /// The kernel.
    pub kernel: Kernel,
    /// Wall-clock time inside it.
    pub time: Duration,
    /// Floating-point operations of its matrix products (2 per multiply-add; 0 for kernels
    /// that are not counted).
    pub flops: u64,
}

/// Runs `f`, a call of `kernel` doing `flops` floating-point operations, adding its
/// wall-clock time and operations to the kernel's totals.
pub fn time<R>(kernel: Kernel, flops: u64, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let result = f();
    NANOS[kernel as usize].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    FLOPS[kernel as usize].fetch_add(flops, Ordering::Relaxed);
    result
}

/// Sets every total back to zero.
pub fn reset() {
    NANOS
        .iter()
        .chain(&FLOPS)
        .for_each(|n| n.store(0, Ordering::Relaxed));
}

/// The totals since the last [`reset`].
pub fn totals() -> Vec<Total> {
    Kernel::ALL
        .iter()
        .map(|&kernel| Total {
            kernel,
            time: Duration::from_nanos(NANOS[kernel as usize].load(Ordering::Relaxed)),
            flops: FLOPS[kernel as usize].load(Ordering::Relaxed),
        })
        .collect()
}

/// One line per kernel, its share of `step_seconds` and its GFLOP/s where counted, then the
/// share of everything else (burn's work): what `pretrain --compute-only` prints.
pub fn report(totals: &[Total], step_seconds: f64) -> String {
    let total = step_seconds.max(1e-9);
    let mut rest = total;
    let mut text = String::new();
    for t in totals {
        let secs = t.time.as_secs_f64();
        rest -= secs;
        let rate = match t.flops {
            0 => String::new(),
            n => format!("  {:6.1} GFLOP/s", n as f64 / secs.max(1e-9) / 1e9),
        };
        let share = 100.0 * secs / total;
        text += &format!("  {:<30} {share:5.1} %{rate}\n", t.kernel.name());
    }
    let other = "everything else (burn)";
    text += &format!("  {other:<30} {:5.1} %\n", 100.0 * rest / total);
    text
}

//! Wall-clock time spent in each of pretext's kernels, for the breakdown that `pretrain
//! --compute-only` prints: what of a training step is convolution, what batch norm, and
//! (the remainder) everything burn does (element-wise operations, pooling, the loss, the
//! optimiser, autodiff bookkeeping, allocation).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Per layer geometry (a label such as `3×3/1 64→64 8×8 winograd`): time and operations of
/// each kernel, for the layer table of `pretrain --compute-only`.
type Layers = std::collections::BTreeMap<(String, usize), (Duration, u64)>;

static LAYERS: std::sync::Mutex<Layers> = std::sync::Mutex::new(Layers::new());

/// Whether calls are also recorded per layer geometry: from the first [`reset`] on (the
/// measurement of `pretrain --compute-only`), so that training pays for no label.
static BY_LAYER: AtomicBool = AtomicBool::new(false);

/// Runs `f`, a call of `kernel` doing `flops` floating-point operations, adding its
/// wall-clock time and operations to the kernel's totals.
pub fn time<R>(kernel: Kernel, flops: u64, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let result = f();
    add(kernel, flops, start.elapsed());
    result
}

/// [`time`], and the same added to the totals of the layer geometry `label()` names when
/// layers are recorded (after a [`reset`]).
pub fn time_layer<R>(
    kernel: Kernel,
    flops: u64,
    label: impl FnOnce() -> String,
    f: impl FnOnce() -> R,
) -> R {
    let start = Instant::now();
    let result = f();
    let elapsed = start.elapsed();
    add(kernel, flops, elapsed);
    if BY_LAYER.load(Ordering::Relaxed) {
        let mut layers = LAYERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = layers.entry((label(), kernel as usize)).or_default();
        entry.0 += elapsed;
        entry.1 += flops;
    }
    result
}

fn add(kernel: Kernel, flops: u64, elapsed: Duration) {
    NANOS[kernel as usize].fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    FLOPS[kernel as usize].fetch_add(flops, Ordering::Relaxed);
}

/// Sets every total back to zero, and records layer geometries from now on.
pub fn reset() {
    NANOS
        .iter()
        .chain(&FLOPS)
        .for_each(|n| n.store(0, Ordering::Relaxed));
    LAYERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    BY_LAYER.store(true, Ordering::Relaxed);
}

/// What one layer geometry cost since the last [`reset`], summed over the layers that share
/// it and over the kernels of its row.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The geometry, e.g. `3×3/1 64→64 8×8 winograd`.
    pub label: String,
    /// Time in each of [`Kernel::ALL`]'s kernels, in that order.
    pub time: [Duration; 5],
    /// Operations in each kernel.
    pub flops: [u64; 5],
}

/// Every layer geometry timed since the last [`reset`], the most expensive first.
pub fn layers() -> Vec<Layer> {
    let recorded = LAYERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut layers: Vec<Layer> = Vec::new();
    for ((label, kernel), (time, flops)) in recorded {
        if layers.last().is_none_or(|l| l.label != label) {
            layers.push(Layer {
                label,
                time: [Duration::ZERO; 5],
                flops: [0; 5],
            });
        }
        if let Some(layer) = layers.last_mut() {
            layer.time[kernel] += time;
            layer.flops[kernel] += flops;
        }
    }
    layers.sort_by_key(|l| std::cmp::Reverse(l.time.iter().sum::<Duration>()));
    layers
}

/// A table of [`layers`] under a heading: per geometry, its share of `step_seconds` and the
/// GFLOP/s of its forward, input-gradient and weight-gradient products. Empty without layers.
pub fn layer_report(layers: &[Layer], step_seconds: f64) -> String {
    if layers.is_empty() {
        return String::new();
    }
    let total = step_seconds.max(1e-9);
    let mut text = format!(
        "convolutions by layer geometry:\n  {:<34} {:>7} {:>9} {:>9} {:>9}\n",
        "layer (kernel/stride, channels, input)", "share", "fwd GF/s", "dx GF/s", "dw GF/s"
    );
    for layer in layers {
        let share = 100.0 * layer.time.iter().sum::<Duration>().as_secs_f64() / total;
        let rate = |k: Kernel| match layer.flops[k as usize] {
            0 => "-".to_string(),
            n => format!(
                "{:.0}",
                n as f64 / layer.time[k as usize].as_secs_f64().max(1e-9) / 1e9
            ),
        };
        text += &format!(
            "  {:<34} {share:6.1}% {:>9} {:>9} {:>9}\n",
            layer.label,
            rate(Kernel::ConvForward),
            rate(Kernel::ConvInputGrad),
            rate(Kernel::ConvWeightGrad)
        );
    }
    text
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
    text += &format!(
        "matrix products on {} microkernels (gemm)\n",
        super::matmul::instruction_set()
    );
    if let Some(isa) = super::thin::instruction_set() {
        text += &format!("thin 3×3 convolutions on {isa} kernels (pretext's)\n");
    }
    if super::precision::precision() == super::precision::Precision::Bf16 {
        let unit = match super::matmul::amx::available() {
            true => "AMX-BF16 tiles",
            false => "AVX512-BF16",
        };
        text += &format!(
            "convolutions' direct products in bf16 with fp32 sums ({unit}, pretext's kernel), Winograd's and the thin kernels' in fp32\n"
        );
    }
    text
}

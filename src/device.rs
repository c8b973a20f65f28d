//! Choosing the compute device from a name on the command line.

use anyhow::{Result, bail, ensure};
use burn::prelude::Device;

/// The first device of `names` (see [`parse_all`]): what commands that run on one device use
/// when a run's `train.device` names several.
pub fn parse(names: &str) -> Result<Device> {
    let mut devices = parse_all(names)?;
    Ok(devices.swap_remove(0))
}

/// Parses a comma-separated list of devices, each `flex` (the pure-Rust CPU backend) or, with
/// the `cuda` feature, `cuda` / `cuda:N`: `cuda:0,cuda:1` trains data-parallel on two GPUs
/// ([`crate::train::parallel`]). A device may not appear twice, except `flex`, whose replicas
/// share the CPU (useful to check data parallelism without GPUs, no faster).
pub fn parse_all(names: &str) -> Result<Vec<Device>> {
    let mut devices = Vec::new();
    for name in names.split(',').map(str::trim) {
        let device = parse_one(name)?;
        ensure!(
            name == "flex" || name == "cpu" || !devices.contains(&device),
            "device `{name}` appears twice in `{names}`"
        );
        devices.push(device);
    }
    Ok(devices)
}

fn parse_one(name: &str) -> Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => {
            cuda_libraries()?;
            Ok(Device::cuda(0usize))
        }
        #[cfg(feature = "cuda")]
        other if other.starts_with("cuda:") => {
            let index: usize = other[5..]
                .parse()
                .map_err(|_| anyhow::anyhow!("device `{other}`: expected cuda:N"))?;
            cuda_libraries()?;
            Ok(Device::cuda(index))
        }
        other if other.starts_with("cuda") => bail!(
            "device `{other}` needs a build with the `cuda` feature (cargo build --release --features cuda)"
        ),
        other => bail!("unknown device `{other}`; use flex or cuda[:N]"),
    }
}

/// Checks that the NVIDIA driver and NVRTC (which compiles CubeCL's kernels) can be loaded.
/// Without this, a missing library surfaces as a panic in the device thread of CubeCL's
/// runtime, with a page of candidate file names.
#[cfg(feature = "cuda")]
fn cuda_libraries() -> Result<()> {
    if cfg!(target_os = "linux") {
        if !loads(&["libcuda.so.1", "libcuda.so"]) {
            bail!(
                "device cuda: the NVIDIA driver library (libcuda.so.1) cannot be loaded; \
                 is there an NVIDIA GPU with its driver on this machine?"
            );
        }
        if !loads(&["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]) {
            bail!(
                "device cuda: NVRTC (libnvrtc.so, the CUDA toolkit's kernel compiler) cannot be \
                 loaded; install the CUDA toolkit and put its lib64 folder on LD_LIBRARY_PATH"
            );
        }
    }
    Ok(())
}

/// Whether NCCL, which sums gradients across GPUs ([`crate::train::parallel`]), can be loaded.
#[cfg(feature = "cuda")]
pub fn nccl_loads() -> bool {
    loads(&["libnccl.so.2", "libnccl.so"])
}

/// Whether one of the shared libraries `names` loads.
#[cfg(feature = "cuda")]
fn loads(names: &[&str]) -> bool {
    // SAFETY: loading runs a library's initialisers; these are NVIDIA's own libraries (driver,
    // NVRTC, NCCL), which the CUDA runtime and cudarc load the same way a moment later.
    names
        .iter()
        .any(|name| unsafe { libloading::Library::new(name) }.is_ok())
}

/// Runs `init` (which draws random weights) right after seeding the backend's generator with
/// `seed`, holding a process-wide lock, and materialises every parameter before releasing
/// it. The generator is global and burn initialises parameters lazily (at their first use),
/// so without both, two threads building networks would interleave their draws and neither
/// run would be reproducible. Every network pretext builds is built through this function
/// or, when it is built in several steps, inside one [`SeedScope`].
pub fn seeded<M: burn::module::Module>(device: &Device, seed: u64, init: impl FnOnce() -> M) -> M {
    let _scope = SeedScope::new(device, seed);
    materialize(init())
}

/// The seeding lock of [`seeded`], held while this value lives: modules initialised and
/// [`materialize`]d inside the scope draw from `seed`, in the order they are materialised.
pub struct SeedScope {
    _guard: std::sync::MutexGuard<'static, ()>,
}

impl SeedScope {
    /// Takes the lock and seeds `device`'s generator with `seed`.
    pub fn new(device: &Device, seed: u64) -> SeedScope {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        device.seed(seed);
        SeedScope { _guard: guard }
    }
}

/// `module` with every lazily initialised parameter drawn now (inside a [`SeedScope`]).
pub fn materialize<M: burn::module::Module>(module: M) -> M {
    module.visit(&mut Materialize);
    module
}

/// Forces lazily initialised parameters to draw their values now.
struct Materialize;

impl burn::module::ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::prelude::Tensor<D>>,
    ) {
        let _ = param.val();
    }
}

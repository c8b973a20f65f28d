//! Choosing the compute device from a name on the command line.

use anyhow::{Result, bail};
use burn::prelude::Device;

/// Parses `flex` (the pure-Rust CPU backend) or, with the `cuda` feature, `cuda` / `cuda:N`.
pub fn parse(name: &str) -> Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0usize)),
        #[cfg(feature = "cuda")]
        other if other.starts_with("cuda:") => {
            let index: usize = other[5..]
                .parse()
                .map_err(|_| anyhow::anyhow!("device `{other}`: expected cuda:N"))?;
            Ok(Device::cuda(index))
        }
        other if other.starts_with("cuda") => bail!(
            "device `{other}` needs a build with the `cuda` feature (cargo build --release --features cuda)"
        ),
        other => bail!("unknown device `{other}`; use flex or cuda[:N]"),
    }
}

/// Runs `init` (which draws random weights) right after seeding the backend's generator with
/// `seed`, holding a process-wide lock, and materialises every parameter before releasing
/// it. The generator is global and burn initialises parameters lazily (at their first use),
/// so without both, two threads building networks would interleave their draws and neither
/// run would be reproducible. Every network pretext builds is built through this function.
pub fn seeded<M: burn::module::Module>(device: &Device, seed: u64, init: impl FnOnce() -> M) -> M {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let module = init();
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

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
/// `seed`, holding a process-wide lock: the generator is global, so two threads initialising
/// networks at once would otherwise interleave their draws and neither run would be
/// reproducible.
pub fn seeded<T>(device: &Device, seed: u64, init: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    init()
}

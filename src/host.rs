//! The machine this process runs on, as the files it writes name it.

/// This machine's host name (`/proc/sys/kernel/hostname`), `None` where it cannot be read.
pub fn name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

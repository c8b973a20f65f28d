//! One process per run directory. Two trainers on the same folder would interleave
//! `metrics.jsonl` and overwrite each other's checkpoints; the first takes an exclusive lock on
//! `run.lock` (the operating system's file lock, `flock` on Linux) and writes who it is into
//! it, and a second stops with an error naming that process. The system drops the lock when
//! its process ends in any way, so a lock left by a killed run is simply taken by the next.

use anyhow::{Context, Result, bail};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// File name of the lock inside a run directory.
pub const FILE_NAME: &str = "run.lock";

/// The run directory's lock, held while this value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of run directory `dir` (which must exist).
    ///
    /// # Errors
    /// When another process holds it (naming the process), or the lock file cannot be
    /// written.
    pub fn take(dir: &Path) -> Result<RunLock> {
        let path = dir.join(FILE_NAME);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the run's lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_owned(),
                    who => who.to_owned(),
                };
                bail!(
                    "{} is in use by {holder}, which holds {}; wait for it to end or stop it \
                     (a run can only be trained by one process at a time)",
                    dir.display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let me = match crate::host::name() {
            None => format!("pretext process {}", std::process::id()),
            Some(host) => format!("pretext process {} on {host}", std::process::id()),
        };
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{me}"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(RunLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::take(dir.path()).unwrap();
        let err = RunLock::take(dir.path()).unwrap_err().to_string();
        let me = format!("pretext process {}", std::process::id());
        assert!(err.contains(&me) && err.contains("run.lock"), "{err}");
        drop(first);
        RunLock::take(dir.path()).unwrap();
    }
}

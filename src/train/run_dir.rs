//! Opening a run directory to train in: created if new, locked for this process, cleaned of
//! what a killed run left half-written, and checked against the run it already holds.

use super::lock::RunLock;
use super::pictures;
use super::resolve::Resolved;
use crate::checkpoint::{self, Checkpoint};
use crate::distributed;
use crate::method::Method;
use anyhow::{Context, Result, ensure};
use std::path::PathBuf;

/// A run directory held by this process.
pub(super) struct RunDir {
    /// The lock, held while this value lives (by rank 0 only, when several processes train
    /// together: the others never write there).
    pub _lock: Option<RunLock>,
    /// The checkpoint to continue from and its file (`None`: the run starts at step 0).
    pub previous: Option<(Checkpoint, PathBuf)>,
}

/// Opens `train.out` for run `r`. A new run (`resume = false`) needs a directory without
/// a checkpoint; a resumed one continues from its newest readable checkpoint, or starts
/// when there is none yet, so that one command serves the first start and every restart.
/// Writes the resolved `config.toml`.
///
/// When several processes train together, rank 0 does all this and the others then read the
/// checkpoint it continues from, which must be the same file: `train.out` on a filesystem
/// every rank reads.
pub(super) fn open<M: Method>(r: &Resolved<M>, resume: bool) -> Result<RunDir> {
    let taken = r.ranks.is_first().then(|| take(r, resume)).transpose()?;
    distributed::barrier();
    let dir = match taken {
        Some(dir) => dir,
        None => RunDir {
            _lock: None,
            previous: resume
                .then(|| checkpoint::latest(&r.config.train.out))
                .transpose()?
                .flatten(),
        },
    };
    let step = dir.previous.as_ref().map_or(0, |(p, _)| p.header.step);
    let first = distributed::broadcast(step);
    ensure!(
        first == step,
        "rank {} finds a checkpoint of step {step} in {}, rank 0 one of step {first}: train.out \
         must be a folder every rank reads (a shared filesystem)",
        r.ranks.rank,
        r.config.train.out.display()
    );
    Ok(dir)
}

/// [`open`]'s work on one process.
fn take<M: Method>(r: &Resolved<M>, resume: bool) -> Result<RunDir> {
    let out = &r.config.train.out;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create run directory {}", out.display()))?;
    let lock = RunLock::take(out)?;
    pretext_data::atomic::remove_leftovers(out)?;
    let previous = match resume {
        true => checkpoint::latest(out)?,
        false => {
            let held = [checkpoint::FILE_NAME, checkpoint::PREVIOUS_FILE_NAME]
                .iter()
                .any(|name| out.join(name).exists());
            ensure!(
                !held,
                "{} already holds a run; pass --resume to continue it or choose another --out",
                out.display()
            );
            None
        }
    };
    match &previous {
        Some((saved, file)) => ensure!(
            saved.header.method == r.config.method.name && saved.header.encoder == r.encoder,
            "{}: the checkpoint was written by method `{}` with encoder {:?}, not by this config",
            file.display(),
            saved.header.method,
            saved.header.encoder
        ),
        None if resume => {
            tracing::info!("no checkpoint in {} yet: starting the run", out.display())
        }
        None => {}
    }
    pictures::remove_after(out, previous.as_ref().map_or(0, |(p, _)| p.header.step))?;
    pretext_data::atomic::write(&out.join("config.toml"), r.text.as_bytes())?;
    Ok(RunDir {
        _lock: Some(lock),
        previous,
    })
}

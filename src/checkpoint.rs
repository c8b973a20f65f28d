//! Checkpoints: one self-describing file per run, written atomically.
//!
//! Layout: the magic `PRETEXT-CKPT\0\0\0\x01`, then four length-prefixed (u64 little-endian)
//! sections: a JSON [`Header`], the encoder's burnpack record, the heads' burnpack record and
//! the optimiser's burnpack record. The encoder comes first and on its own so evaluation can
//! read it without knowing the method. A checkpoint is written whole or not at all
//! ([`pretext_data::atomic`]), and a run directory keeps the previous checkpoint beside the
//! newest ([`Checkpoint::save_in`], [`latest`]).

use crate::encoder::EncoderConfig;
use crate::input::InputSpec;
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"PRETEXT-CKPT\0\0\0\x01";

/// File name of the checkpoint inside a run directory.
pub const FILE_NAME: &str = "checkpoint.ckpt";

/// File name of the checkpoint before the newest ([`Checkpoint::save_in`]), which a resumed
/// run falls back to when the newest cannot be read.
pub const PREVIOUS_FILE_NAME: &str = "checkpoint.prev.ckpt";

/// What a checkpoint is: enough to rebuild the encoder and resume the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// The method that trained it.
    pub method: String,
    /// The encoder's architecture.
    pub encoder: EncoderConfig,
    /// The encoder's input contract.
    pub input: InputSpec,
    /// Optimiser steps completed.
    pub step: u64,
    /// The resolved run configuration (TOML).
    pub config: String,
    /// When the encoder that transfers is not the online one (DINO's teacher), its name:
    /// the checkpoint then holds it too, and [`load_encoder`] reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
}

/// A checkpoint's content.
pub struct Checkpoint {
    /// Description.
    pub header: Header,
    /// Encoder weights (burnpack bytes).
    pub encoder: Vec<u8>,
    /// Head weights (burnpack bytes).
    pub head: Vec<u8>,
    /// Optimiser state (burnpack bytes).
    pub optimizer: Vec<u8>,
    /// The encoder that transfers, when it is not the online one (burnpack bytes; present
    /// exactly when `header.transfer` is).
    pub transfer: Option<Vec<u8>>,
}

/// The checkpoint file for `path`: `path` itself if it is a file, else `path/checkpoint.ckpt`.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

impl Checkpoint {
    /// The checkpoint of a run after `header.step` steps: its network's weights, its
    /// optimiser's state, and the encoder that transfers when it is not the online one
    /// (named, with the module: DINO's teacher).
    pub fn of<H: burn::module::Module>(
        mut header: Header,
        net: &crate::method::Network<H>,
        optimizer: &burn::optim::ModuleOptimizer,
        transfer: Option<(&str, &crate::encoder::Encoder)>,
    ) -> Result<Self> {
        let optimizer = optimizer
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("cannot serialise optimizer state: {e:?}"))?
            .to_vec();
        header.transfer = transfer.map(|(name, _)| name.to_string());
        Ok(Checkpoint {
            header,
            encoder: record_bytes(net.encoder.clone())?,
            head: record_bytes(net.head.clone())?,
            optimizer,
            transfer: transfer
                .map(|(_, encoder)| record_bytes(encoder.clone()))
                .transpose()?,
        })
    }

    /// Writes the checkpoint to `path`, whole or not at all ([`pretext_data::atomic`]); runs
    /// write theirs with [`Checkpoint::save_in`].
    #[cfg(test)]
    pub fn save(&self, path: &Path) -> Result<()> {
        self.stage(path)?.commit()?;
        Ok(())
    }

    /// Writes the checkpoint as the newest of run directory `dir` and keeps the one it
    /// replaces as [`PREVIOUS_FILE_NAME`]. The new file is complete on disk before either
    /// rename, so at every moment the folder holds a readable newest checkpoint, or (between
    /// the two renames) the previous one that [`latest`] falls back to. A full disk or an
    /// unwritable folder fails before anything is renamed.
    pub fn save_in(&self, dir: &Path) -> Result<()> {
        let newest = dir.join(FILE_NAME);
        let staged = self.stage(&newest)?;
        if newest.exists() {
            let previous = dir.join(PREVIOUS_FILE_NAME);
            std::fs::rename(&newest, &previous).with_context(|| {
                format!("cannot keep {} as {}", newest.display(), previous.display())
            })?;
        }
        staged.commit()?;
        Ok(())
    }

    fn stage(&self, path: &Path) -> Result<pretext_data::atomic::Staged> {
        let header = serde_json::to_vec(&self.header)?;
        let staged = pretext_data::atomic::stage(path, |w| {
            w.write_all(MAGIC)?;
            let sections = [&header[..], &self.encoder, &self.head, &self.optimizer];
            for section in sections.into_iter().chain(self.transfer.as_deref()) {
                w.write_all(&(section.len() as u64).to_le_bytes())?;
                w.write_all(section)?;
            }
            Ok(())
        })
        .with_context(|| format!("cannot write checkpoint {}", path.display()))?;
        Ok(staged)
    }

    /// Reads a whole checkpoint.
    pub fn load(path: &Path) -> Result<Self> {
        let mut reader = open(path)?;
        let header = read_header(&mut reader, path)?;
        let mut next = || read_section(&mut reader, path);
        let (encoder, head, optimizer) = (next()?, next()?, next()?);
        let transfer = header.transfer.as_ref().map(|_| next()).transpose()?;
        Ok(Checkpoint {
            header,
            encoder,
            head,
            optimizer,
            transfer,
        })
    }

    /// Reads the header and the weights of the encoder that transfers: the online encoder,
    /// or the one `header.transfer` names.
    pub fn load_encoder(path: &Path) -> Result<(Header, Vec<u8>)> {
        let mut reader = open(path)?;
        let header = read_header(&mut reader, path)?;
        let online = read_section(&mut reader, path)?;
        if header.transfer.is_none() {
            return Ok((header, online));
        }
        for _ in 0..2 {
            read_section(&mut reader, path)?;
        }
        let transfer = read_section(&mut reader, path)?;
        Ok((header, transfer))
    }
}

/// The newest readable checkpoint of run directory `dir` and its file: [`FILE_NAME`], or, with
/// a warning naming both files, [`PREVIOUS_FILE_NAME`] when the newest is missing or cannot be
/// read (a disk error, a partial copy). `None` when the run has no checkpoint yet.
///
/// # Errors
/// When neither file can be read, naming both.
pub fn latest(dir: &Path) -> Result<Option<(Checkpoint, PathBuf)>> {
    let (newest, previous) = (dir.join(FILE_NAME), dir.join(PREVIOUS_FILE_NAME));
    let problem = match newest.exists() {
        true => match Checkpoint::load(&newest) {
            Ok(saved) => return Ok(Some((saved, newest))),
            Err(e) => format!("{e:#}"),
        },
        false if previous.exists() => format!("{} is missing", newest.display()),
        false => return Ok(None),
    };
    ensure!(
        previous.exists(),
        "{problem}, and there is no previous checkpoint {} to fall back to",
        previous.display()
    );
    let saved = Checkpoint::load(&previous)
        .with_context(|| format!("{problem}, and the previous checkpoint cannot be read either"))?;
    tracing::warn!(
        "{problem}; resuming from the previous checkpoint {} (step {})",
        previous.display(),
        saved.header.step
    );
    Ok(Some((saved, previous)))
}

/// The run directory of `path`: the folder of a checkpoint file, else `path` itself (the
/// inverse of [`resolve`]).
pub fn run_dir(path: &Path) -> PathBuf {
    if path.is_file() {
        path.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    } else {
        path.to_path_buf()
    }
}

/// Whether `path` is a file that starts like a pretext checkpoint.
pub fn is_checkpoint(path: &Path) -> bool {
    let mut magic = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == MAGIC)
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open checkpoint {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut magic = [0u8; 16];
    reader
        .read_exact(&mut magic)
        .ok()
        .filter(|_| &magic == MAGIC)
        .with_context(|| format!("{} is not a pretext checkpoint", path.display()))?;
    Ok(reader)
}

fn read_section(reader: &mut impl Read, path: &Path) -> Result<Vec<u8>> {
    let mut len = [0u8; 8];
    reader
        .read_exact(&mut len)
        .with_context(|| format!("{}: checkpoint is truncated", path.display()))?;
    let len = u64::from_le_bytes(len);
    ensure!(
        len < (1 << 40),
        "{}: checkpoint is corrupt (section of {len} bytes)",
        path.display()
    );
    let mut data = Vec::new();
    reader.take(len).read_to_end(&mut data)?;
    if data.len() as u64 != len {
        bail!("{}: checkpoint is truncated", path.display());
    }
    Ok(data)
}

fn read_header(reader: &mut impl Read, path: &Path) -> Result<Header> {
    let bytes = read_section(reader, path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: checkpoint header is corrupt", path.display()))
}

/// The burnpack bytes of `module`'s record, with every pending update of its running states
/// folded in: burn's `RunningState` (batch norm's running statistics, MoCo's queue, DINO's
/// centre) keeps a layer's newest update aside until the next read, and a record taken
/// without `valid()`'s synchronisation would hold the statistics of one step earlier, so a
/// resumed run would continue from them.
pub fn record_bytes<T: burn::module::Module>(module: T) -> Result<Vec<u8>> {
    let _synchronised = module.valid();
    let bytes = module
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise weights: {e:?}"))?;
    Ok(bytes.to_vec())
}

/// `module` with the weights of the burnpack `bytes` read from `path` (named in errors): the
/// inverse of [`record_bytes`].
pub fn load_record<T: burn::module::Module>(module: T, bytes: Vec<u8>, path: &Path) -> Result<T> {
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
    module.try_load_record(record).map_err(|e| {
        anyhow::anyhow!(
            "{}: the weights do not fit this network (another encoder shape?): {e:?}",
            path.display()
        )
    })
}

/// Loads the encoder stored in a checkpoint (a run directory or a checkpoint file) onto
/// `device`, with the header that describes it.
pub fn load_encoder(
    path: &Path,
    device: &burn::prelude::Device,
) -> Result<(Header, crate::encoder::Encoder)> {
    let file = resolve(path);
    let (header, bytes) = Checkpoint::load_encoder(&file)?;
    encoder_from(header, bytes, &file, device)
}

/// Loads a checkpoint's online encoder — the network the optimiser trained — even where
/// another one transfers (DINO's student, beside the teacher [`load_encoder`] reads).
pub fn load_online_encoder(
    path: &Path,
    device: &burn::prelude::Device,
) -> Result<(Header, crate::encoder::Encoder)> {
    let file = resolve(path);
    let saved = Checkpoint::load(&file)?;
    encoder_from(saved.header, saved.encoder, &file, device)
}

/// The encoder `header` describes with the weights `bytes` of checkpoint `file`.
fn encoder_from(
    header: Header,
    bytes: Vec<u8>,
    file: &Path,
    device: &burn::prelude::Device,
) -> Result<(Header, crate::encoder::Encoder)> {
    // Even weights about to be overwritten draw from the backend's global generator: take
    // them under the lock so that a run initialising in another thread stays reproducible.
    let fresh = crate::device::seeded(device, 0, || header.encoder.init(device));
    let encoder = load_record(fresh, bytes, file)?;
    Ok((header, encoder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            header: Header {
                method: "rotation".into(),
                encoder: EncoderConfig::default(),
                input: InputSpec {
                    space: crate::input::InputSpace::Native,
                    channels: 1,
                    image_size: 28,
                    mean: vec![0.5],
                    std: vec![0.5],
                },
                step: 7,
                config: "x = 1".into(),
                transfer: None,
            },
            encoder: vec![1, 2, 3],
            head: vec![4],
            optimizer: vec![],
            transfer: None,
        }
    }

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        sample().save(&path).unwrap();
        let mut second = sample();
        second.header.step = 8;
        second.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.header.step, 8);
        assert_eq!(
            (back.encoder, back.head, back.optimizer),
            (vec![1, 2, 3], vec![4], vec![])
        );
        // Only the checkpoint remains: no temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(resolve(dir.path()), path);
    }

    /// A checkpoint that names a transfer encoder (DINO's teacher) keeps it as a fifth
    /// section: a whole load returns it, and `load_encoder` reads it instead of the online one.
    #[test]
    fn the_transfer_encoder_is_what_load_encoder_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut with_teacher = sample();
        with_teacher.header.transfer = Some("teacher".into());
        with_teacher.transfer = Some(vec![9, 9]);
        with_teacher.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.transfer, Some(vec![9, 9]));
        assert_eq!(back.encoder, vec![1, 2, 3]);
        let (header, encoder) = Checkpoint::load_encoder(&path).unwrap();
        assert_eq!(
            (header.transfer.as_deref(), encoder),
            (Some("teacher"), vec![9, 9])
        );
        sample().save(&path).unwrap();
        assert_eq!(Checkpoint::load_encoder(&path).unwrap().1, vec![1, 2, 3]);
    }

    #[test]
    fn truncated_and_foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ckpt");
        sample().save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
        let err = Checkpoint::load(&path).err().unwrap().to_string();
        assert!(err.contains("truncated") && err.contains("c.ckpt"), "{err}");
        std::fs::write(&path, b"hello world, not a checkpoint").unwrap();
        let err = Checkpoint::load(&path).err().unwrap().to_string();
        assert!(err.contains("not a pretext checkpoint"), "{err}");
    }

    #[test]
    fn a_run_directory_keeps_the_previous_checkpoint_and_falls_back_to_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(latest(dir.path()).unwrap().is_none());
        let at = |step| {
            let mut c = sample();
            c.header.step = step;
            c
        };
        at(1).save_in(dir.path()).unwrap();
        assert!(!dir.path().join(PREVIOUS_FILE_NAME).exists());
        at(2).save_in(dir.path()).unwrap();
        let step = |file: &str| {
            Checkpoint::load(&dir.path().join(file))
                .unwrap()
                .header
                .step
        };
        assert_eq!((step(FILE_NAME), step(PREVIOUS_FILE_NAME)), (2, 1));
        let (saved, file) = latest(dir.path()).unwrap().unwrap();
        assert_eq!((saved.header.step, file), (2, dir.path().join(FILE_NAME)));
        // The two files and nothing else.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

        // A newest checkpoint cut short (a partial copy): the previous one, with its name.
        let newest = dir.path().join(FILE_NAME);
        let bytes = std::fs::read(&newest).unwrap();
        std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
        let (saved, file) = latest(dir.path()).unwrap().unwrap();
        assert_eq!(
            (saved.header.step, file),
            (1, dir.path().join(PREVIOUS_FILE_NAME))
        );
        // Killed between the two renames: no newest, the previous one.
        std::fs::remove_file(&newest).unwrap();
        assert_eq!(latest(dir.path()).unwrap().unwrap().0.header.step, 1);
        // Neither readable: an error naming both files.
        std::fs::write(&newest, b"garbage").unwrap();
        std::fs::write(dir.path().join(PREVIOUS_FILE_NAME), b"garbage").unwrap();
        let err = format!("{:#}", latest(dir.path()).err().unwrap());
        assert!(
            err.contains(FILE_NAME) && err.contains(PREVIOUS_FILE_NAME),
            "{err}"
        );
    }
}

//! Checkpoints: one self-describing file per run, written atomically.
//!
//! Layout: the magic `PRETEXT-CKPT\0\0\0\x01`, then four length-prefixed (u64 little-endian)
//! sections: a JSON [`Header`], the encoder's burnpack record, the heads' burnpack record and
//! the optimiser's burnpack record. The encoder comes first and on its own so evaluation can
//! read it without knowing the method. A checkpoint is written to a temporary file in the run
//! directory, flushed to disk and renamed over the old one, so a crash never leaves a
//! half-written checkpoint behind.

use crate::encoder::EncoderConfig;
use crate::input::InputSpec;
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"PRETEXT-CKPT\0\0\0\x01";

/// File name of the checkpoint inside a run directory.
pub const FILE_NAME: &str = "checkpoint.ckpt";

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
    /// Writes the checkpoint to `path` atomically (temporary file + fsync + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".checkpoint-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let header = serde_json::to_vec(&self.header)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            w.write_all(MAGIC)?;
            for section in [&header[..], &self.encoder, &self.head, &self.optimizer] {
                w.write_all(&(section.len() as u64).to_le_bytes())?;
                w.write_all(section)?;
            }
            w.flush()?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(path)
            .with_context(|| format!("cannot write checkpoint {}", path.display()))?;
        Ok(())
    }

    /// Reads a whole checkpoint.
    pub fn load(path: &Path) -> Result<Self> {
        let mut reader = open(path)?;
        let header = read_header(&mut reader, path)?;
        let mut next = || read_section(&mut reader, path);
        Ok(Checkpoint {
            header,
            encoder: next()?,
            head: next()?,
            optimizer: next()?,
        })
    }

    /// Reads the header and the encoder weights only.
    pub fn load_encoder(path: &Path) -> Result<(Header, Vec<u8>)> {
        let mut reader = open(path)?;
        let header = read_header(&mut reader, path)?;
        let encoder = read_section(&mut reader, path)?;
        Ok((header, encoder))
    }
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
            },
            encoder: vec![1, 2, 3],
            head: vec![4],
            optimizer: vec![],
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
}

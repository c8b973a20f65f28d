//! What every fuzz target shares: the input cut into files, written into a fresh folder, so
//! that each parser meets the bytes the way it meets a user's files — from disk.

use pretext_data::ImageSource;
use std::path::{Path, PathBuf};

/// `data` cut into `n` parts: the first `n - 1` pairs of bytes are the lengths (little
/// endian) of the first parts, the rest is the last part.
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let header = 2 * (n - 1);
    let (lengths, mut rest) = data.split_at(header.min(data.len()));
    let mut parts = Vec::with_capacity(n);
    for pair in lengths.chunks(2) {
        let len = match pair {
            [a, b] => u16::from_le_bytes([*a, *b]) as usize,
            _ => 0,
        };
        let (part, tail) = rest.split_at(len.min(rest.len()));
        parts.push(part);
        rest = tail;
    }
    parts.resize(n - 1, &[][..]);
    parts.push(rest);
    parts
}

/// A folder holding `files` (name, content); removed when dropped.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// Writes `files` into a new temporary folder, at `sub` inside it.
    pub fn write(sub: &str, files: &[(&str, &[u8])]) -> Files {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let folder = dir.path().join(sub);
        std::fs::create_dir_all(&folder).expect("a folder");
        for (name, bytes) in files {
            std::fs::write(folder.join(name), bytes).expect("a file");
        }
        Files { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file in it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Reads every image and label of an opened source (decoding is part of parsing).
pub fn read_all(source: &dyn ImageSource) {
    for i in 0..source.len().min(64) {
        let _ = source.get(i);
        let _ = source.label(i);
    }
    let _ = source.classes();
}

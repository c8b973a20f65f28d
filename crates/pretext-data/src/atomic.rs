//! Files written whole or not at all, the one way pretext writes what it keeps (configs,
//! checkpoints, pictures, reports, exported weights, features, permutation sets).
//!
//! The content goes to a temporary file in the destination's folder, is flushed to disk, and
//! is renamed over the destination: a crash, a kill or a full disk leaves either the old file
//! or the new one, never half of one, and the temporary file is removed on any error. The file
//! gets the permissions of every other file the process creates (`0666` less the umask, so
//! `0644` under the usual `022`), not the private `0600` of temporary files: a teammate can
//! read a shared run's checkpoint.

use crate::error::DataError;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file written and flushed next to its destination, not yet in place: [`Staged::commit`]
/// renames it over the destination; dropping it removes it.
pub struct Staged {
    file: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes what `fill` writes into a temporary file beside `path`, flushed to disk.
///
/// # Errors
/// [`DataError::Io`] naming `path` if the folder is not writable, `fill` fails or the disk is
/// full; nothing is left behind then.
pub fn stage(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<Staged, DataError> {
    let fail = |e| DataError::io(path, e);
    let mut builder = tempfile::Builder::new();
    builder.prefix(PREFIX).suffix(SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Check the folder first: tempfile's errors name its random file, not the folder.
    let folder = folder(path);
    let in_folder = |e: std::io::Error| {
        let message = format!("folder {}: {e}", folder.display());
        fail(std::io::Error::new(e.kind(), message))
    };
    match std::fs::metadata(folder) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            let kind = std::io::ErrorKind::NotADirectory;
            return Err(in_folder(std::io::Error::new(kind, "not a folder")));
        }
        Err(e) => return Err(in_folder(e)),
    }
    let mut file = builder.tempfile_in(folder).map_err(in_folder)?;
    {
        let mut writer = BufWriter::new(file.as_file_mut());
        fill(&mut writer).map_err(fail)?;
        writer.flush().map_err(fail)?;
    }
    file.as_file().sync_all().map_err(fail)?;
    Ok(Staged {
        file,
        path: path.to_path_buf(),
    })
}

impl Staged {
    /// Renames the staged file over its destination and flushes the folder, so that the
    /// rename survives a power cut.
    ///
    /// # Errors
    /// [`DataError::Io`] naming the destination.
    pub fn commit(self) -> Result<(), DataError> {
        let Staged { file, path } = self;
        file.persist(&path)
            .map_err(|e| DataError::io(&path, e.error))?;
        #[cfg(unix)]
        std::fs::File::open(folder(&path))
            .and_then(|dir| dir.sync_all())
            .map_err(|e| DataError::io(folder(&path), e))?;
        Ok(())
    }
}

/// Writes `path` whole or not at all with what `fill` writes ([`stage`], then
/// [`Staged::commit`]).
///
/// # Errors
/// [`DataError::Io`] naming `path`.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), DataError> {
    stage(path, fill)?.commit()
}

/// Writes `bytes` to `path` whole or not at all.
///
/// # Errors
/// [`DataError::Io`] naming `path`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_with(path, |w| w.write_all(bytes))
}

/// Removes the temporary files a killed writer left in `folder` (a kill skips the clean-up
/// that every error does). Only for a folder no other process is writing into, such as a
/// locked run directory.
///
/// # Errors
/// [`DataError::Io`] naming the folder or the file that cannot be removed.
pub fn remove_leftovers(folder: &Path) -> Result<(), DataError> {
    for entry in std::fs::read_dir(folder).map_err(|e| DataError::io(folder, e))? {
        let path = entry.map_err(|e| DataError::io(folder, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(SUFFIX) {
            std::fs::remove_file(&path).map_err(|e| DataError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The names of temporary files: hidden, and recognisable by [`remove_leftovers`].
const PREFIX: &str = ".pretext-";
const SUFFIX: &str = ".tmp";

/// The folder `path` is in (`.` for a bare file name).
fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // A failing writer leaves the old content and no temporary file.
        let err = write_with(&path, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk on fire"))
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("a.txt") && err.contains("disk on fire"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A staged file is not in place until committed, and gone if dropped.
        drop(stage(&path, |w| w.write_all(b"dropped")).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_killed_writers_leftovers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write(&path, b"kept").unwrap();
        // What a SIGKILL between stage and commit leaves: the staged file, never removed.
        let staged = stage(&path, |w| w.write_all(b"cut short")).unwrap();
        std::mem::forget(staged);
        std::fs::write(dir.path().join("other.tmp"), b"not ours").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        remove_leftovers(dir.path()).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "other.tmp"]);
    }

    #[test]
    fn a_missing_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere/a.txt");
        let err = write(&path, b"x").unwrap_err().to_string();
        assert!(
            err.contains("nowhere/a.txt") && err.contains("folder"),
            "{err}"
        );
    }

    /// Written files follow the umask like every other file, not tempfile's private 0600.
    #[cfg(unix)]
    #[test]
    fn permissions_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // The process umask, as Linux reports it (without changing it under other tests).
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .unwrap_or(0o022);
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o} under umask {umask:o}");
    }
}

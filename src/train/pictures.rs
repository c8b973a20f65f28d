//! The pictures of the method's task a run draws at its scheduled checkpoints, in the run
//! directory's `pictures/step-NNNNNN.png` (and in its TensorBoard files).

use super::progress::Reporter;
use crate::method::{Method, Network};
use anyhow::{Context, Result};
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// The folder of a run directory that holds its pictures.
pub fn folder(run_dir: &Path) -> PathBuf {
    run_dir.join("pictures")
}

/// The file name of the picture drawn at `step`.
fn file_name(step: u64) -> String {
    format!("step-{step:06}.png")
}

/// The step a picture's file name says it was drawn at, `None` for any other file.
pub fn step_of(file_name: &str) -> Option<u64> {
    file_name
        .strip_prefix("step-")?
        .strip_suffix(".png")?
        .parse()
        .ok()
}

/// Writes the method's picture of `samples` (if it draws one) for `step`, with the network
/// in inference mode so that drawing changes no batch-norm statistics.
pub(super) fn save<M: Method>(
    method: &M,
    net: &Network<M::Head>,
    samples: &[M::Sample],
    device: &Device,
    reporter: &mut Reporter,
    step: u64,
) -> Result<()> {
    let inference = device.clone().without_autodiff();
    if let Some(grid) = method.render(&net.valid(), samples, &inference) {
        let dir = folder(reporter.run_dir());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join(file_name(step));
        let (png, size) = grid.encode_png(&file)?;
        pretext_data::atomic::write(&file, &png)?;
        reporter.picture(step, png, size)?;
    }
    Ok(())
}

/// The run's pictures with the steps they were drawn at, in step order.
pub fn list(run_dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(folder(run_dir)) else {
        return Vec::new();
    };
    let mut pictures: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((step_of(e.file_name().to_str()?)?, e.path())))
        .collect();
    pictures.sort();
    pictures
}

/// Removes the pictures a killed run drew after step `step` (its checkpoint), which the
/// resumed run draws again, as it logs those steps again.
pub(super) fn remove_after(run_dir: &Path, step: u64) -> Result<()> {
    for (drawn_at, path) in list(run_dir) {
        if drawn_at > step {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_back_their_steps() {
        assert_eq!(step_of(&file_name(42)), Some(42));
        assert_eq!(step_of(&file_name(1_234_567)), Some(1_234_567));
        assert_eq!(step_of("step-000042.png.tmp"), None);
        assert_eq!(step_of("notes.png"), None);
    }

    #[test]
    fn pictures_after_a_step_are_removed_and_the_rest_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(folder(dir.path())).unwrap();
        for step in [30, 10, 20] {
            std::fs::write(folder(dir.path()).join(file_name(step)), b"png").unwrap();
        }
        std::fs::write(folder(dir.path()).join("other.txt"), b"").unwrap();
        remove_after(dir.path(), 20).unwrap();
        let steps: Vec<u64> = list(dir.path()).into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, [10, 20]);
        assert!(folder(dir.path()).join("other.txt").exists());
    }
}

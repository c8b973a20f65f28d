//! Opening datasets for training and evaluation.

use anyhow::{Context, Result, ensure};
use pretext_data::source::{OpenOptions, Subset};
use pretext_data::{DataSpec, DatasetKind, ImageSource, Split};
use std::sync::Arc;

/// Opens a split of a dataset, failing clearly when it is empty.
pub fn open(spec: &DataSpec, split: Split, skip_corrupt: bool) -> Result<Arc<dyn ImageSource>> {
    Ok(Arc::from(open_boxed(spec, split, skip_corrupt)?))
}

fn open_boxed(spec: &DataSpec, split: Split, skip_corrupt: bool) -> Result<Box<dyn ImageSource>> {
    let source = pretext_data::source::open(spec, split, &OpenOptions { skip_corrupt })
        .with_context(|| format!("cannot open dataset {spec}"))?;
    ensure!(
        !source.is_empty(),
        "dataset {spec} ({split:?}) holds no images"
    );
    Ok(source)
}

/// Opens a split and keeps a seeded random subset of `limit` images (0 = all).
pub fn open_subset(
    spec: &DataSpec,
    split: Split,
    skip_corrupt: bool,
    limit: usize,
    seed: u64,
) -> Result<Arc<dyn ImageSource>> {
    let source = open_boxed(spec, split, skip_corrupt)?;
    Ok(match limit {
        0 => Arc::from(source),
        n => Arc::new(Subset::new(source, n, seed)),
    })
}

/// The side of the square images to train on when the config leaves it at 0: the native
/// size of fixed-size datasets, 96 pixels for folders of photos.
pub fn default_image_size(spec: &DataSpec, source: &dyn ImageSource) -> Result<usize> {
    if spec.kind == DatasetKind::Folder {
        return Ok(96);
    }
    let first = source.get(0)?;
    Ok(first.height.min(first.width))
}

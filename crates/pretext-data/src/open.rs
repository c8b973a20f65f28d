//! Opening a dataset by its spec (`fashion-mnist:PATH`, `folder:PATH`, ...): the one place that
//! knows every format's reader; the formats know only the [`ImageSource`] trait they
//! implement ([`source`](crate::source)).

use crate::source::{DataSpec, DatasetKind, ImageSource, OpenOptions, Split};
use crate::{DataError, annotations, cifar, folder, idx, shards, stl10};

/// Opens `spec`'s `split`.
pub fn open(
    spec: &DataSpec,
    split: Split,
    options: &OpenOptions,
) -> Result<Box<dyn ImageSource>, DataError> {
    // Shards are named by a pattern or an address, not by one path that exists.
    if spec.kind != DatasetKind::Shards && !spec.path.exists() {
        return Err(DataError::io(
            &spec.path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    match spec.kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => Ok(Box::new(idx::IdxDataset::open(
            &spec.path, split, spec.kind,
        )?)),
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => Ok(Box::new(cifar::CifarDataset::open(
            &spec.path, split, spec.kind,
        )?)),
        DatasetKind::Stl10 => Ok(Box::new(stl10::Stl10Dataset::open(&spec.path, split)?)),
        DatasetKind::Folder => Ok(Box::new(folder::FolderDataset::open(
            &spec.path, split, options,
        )?)),
        DatasetKind::Coco | DatasetKind::Voc => Ok(Box::new(annotations::open(spec, split)?)),
        DatasetKind::Shards => Ok(Box::new(
            shards::ShardDataset::open(&spec.path.to_string_lossy(), split, options.skip_corrupt)?
                .read_ahead(options.read_ahead),
        )),
    }
}

//! Opening datasets for training and evaluation.

use crate::config::DataConfig;
use crate::input::{InputSpace, InputSpec};
use anyhow::{Context, Result, ensure};
use pretext_data::label_fraction::per_class_subset;
use pretext_data::source::{OpenOptions, Subset};
use pretext_data::{DataSpec, DatasetKind, ImageSource, Split};
use std::sync::Arc;

/// Opens a split of a dataset, failing clearly when it is empty.
pub fn open(spec: &DataSpec, split: Split, skip_corrupt: bool) -> Result<Arc<dyn ImageSource>> {
    Ok(Arc::from(open_boxed(spec, split, skip_corrupt, 0)?))
}

/// Opens a split, reading HTTP shards ahead for a loader with a shuffle buffer of
/// `read_ahead` samples ([`OpenOptions::read_ahead`]).
fn open_boxed(
    spec: &DataSpec,
    split: Split,
    skip_corrupt: bool,
    read_ahead: usize,
) -> Result<Box<dyn ImageSource>> {
    let options = OpenOptions {
        skip_corrupt,
        read_ahead,
    };
    let source = pretext_data::open::open(spec, split, &options)
        .with_context(|| format!("cannot open dataset {spec}"))?;
    ensure!(
        !source.is_empty(),
        "dataset {spec} ({split:?}) holds no images"
    );
    Ok(source)
}

/// The training images of a run: `data.split`, thinned to `data.limit` images (seeded with
/// `seed`), then to `data.label_fraction` of each class (seeded with `data.label_seed`).
pub fn open_training(data: &DataConfig, seed: u64) -> Result<Arc<dyn ImageSource>> {
    // A subset is read in random places: no chunk read ahead would be used twice.
    let whole = data.limit == 0 && data.label_fraction == 1.0;
    let read_ahead = if whole { data.shuffle_buffer } else { 0 };
    let mut source = open_boxed(&data.dataset, data.split, data.skip_corrupt, read_ahead)?;
    if data.limit > 0 {
        source = Box::new(Subset::new(source, data.limit, seed));
    }
    if data.label_fraction != 1.0 {
        let labels: Vec<Option<u32>> = (0..source.len()).map(|i| source.label(i)).collect();
        let kept = per_class_subset(&labels, data.label_fraction, data.label_seed)
            .with_context(|| format!("data.label_fraction of {}", data.dataset))?;
        tracing::info!(
            "label fraction {}: {} of {} training images",
            data.label_fraction,
            kept.len(),
            source.len()
        );
        source = Box::new(Subset::from_indices(source, kept)?);
    }
    Ok(Arc::from(source))
}

/// Opens a split and keeps a seeded random subset of `limit` images (0 = all).
pub fn open_subset(
    spec: &DataSpec,
    split: Split,
    skip_corrupt: bool,
    limit: usize,
    seed: u64,
) -> Result<Arc<dyn ImageSource>> {
    let source = open_boxed(spec, split, skip_corrupt, 0)?;
    Ok(match limit {
        0 => Arc::from(source),
        n => Arc::new(Subset::new(source, n, seed)),
    })
}

/// The side of the square images to train on when the config leaves it at 0: the native
/// size of fixed-size datasets and of detection datasets whose images are all one square
/// size (`pretext data scenes`), else 96 pixels (folders of photos, COCO and VOC).
pub fn default_image_size(spec: &DataSpec, source: &dyn ImageSource) -> Result<usize> {
    if matches!(spec.kind, DatasetKind::Coco | DatasetKind::Voc) {
        let mut sides = (0..source.len())
            .filter_map(|i| source.objects(i))
            .map(|o| (o.width, o.height));
        let first = sides.next();
        return Ok(match first {
            Some((w, h)) if w == h && sides.all(|s| s == (w, h)) => w,
            _ => 96,
        });
    }
    if spec.kind == DatasetKind::Folder {
        return Ok(96);
    }
    let first = source.get(0)?;
    Ok(first.height.min(first.width))
}

/// The encoder input for the images of `source` (of dataset `spec`), with the choices left
/// at their defaults made from the data: `image_size` 0 is [`default_image_size`],
/// `channels` 0 the source's own, an empty `mean` (and `std`) the usual statistics of the
/// dataset ([`InputSpec::default_stats`]). A run's configuration and a random-init
/// evaluation resolve their input here, so both see the same images.
pub fn native_input(
    spec: &DataSpec,
    source: &dyn ImageSource,
    image_size: usize,
    channels: usize,
    mean: &[f32],
    std: &[f32],
) -> Result<InputSpec> {
    let image_size = match image_size {
        0 => default_image_size(spec, source)?,
        n => n,
    };
    let channels = match channels {
        0 => source.channels(),
        n => n,
    };
    let (mean, std) = match mean.is_empty() {
        true => InputSpec::default_stats(spec.kind, channels),
        false => (mean.to_vec(), std.to_vec()),
    };
    ensure!(
        mean.len() == channels,
        "data.mean has {} values but the encoder takes {channels} channels",
        mean.len()
    );
    Ok(InputSpec {
        space: InputSpace::Native,
        channels,
        image_size,
        mean,
        std,
    })
}

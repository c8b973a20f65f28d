//! The evaluations of a frozen encoder as `pretext eval linear|knn` and `pretext retrieve`
//! run them: the encoder (a checkpoint's, or a randomly initialised one, the baseline to
//! beat), its features of the train and test splits (cached), the labels kept by
//! `--label-fraction`, and the scored [`EvalRecord`].

use super::features::{self, Features};
use super::knn::{KnnConfig, knn_top1};
use super::linear::{LinearConfig, probe};
use super::record::{EvalRecord, FrozenSetup};
use super::{precise_bn, retrieval};
use crate::encoder::{Architecture, Encoder, EncoderConfig};
use crate::input::InputSpec;
use anyhow::Result;
use burn::prelude::Device;
use pretext_data::{DataSpec, ImageSource, Split};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which encoder to evaluate, on which data, how.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The encoder of this run directory or checkpoint; `None`: a random-init encoder.
    pub checkpoint: Option<PathBuf>,
    /// Read the checkpoint's online encoder even where another one transfers (DINO's
    /// student instead of its teacher).
    pub online: bool,
    /// The random-init encoder (when there is no checkpoint).
    pub random: RandomInit,
    /// Labelled dataset: its train split fits, its test split scores.
    pub data: DataSpec,
    /// Fit on a seeded random subset of this many training images (0 = all).
    pub limit: usize,
    /// Keep this fraction of the training labels, chosen per class with `label_seed`.
    pub label_fraction: f64,
    /// Seed of the `label_fraction` choice.
    pub label_seed: u64,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Device name (`flex`, `cuda:N`).
    pub device: String,
    /// Re-estimate the batch-norm statistics on this many training images before
    /// extracting features ([`precise_bn`]); 0 keeps the encoder's own running statistics.
    pub precise_bn: usize,
}

/// A randomly initialised encoder.
#[derive(Clone, Debug)]
pub struct RandomInit {
    /// Architecture name.
    pub arch: String,
    /// Width multiplier.
    pub width: f64,
    /// Image side (0 = the dataset's native size).
    pub image_size: usize,
    /// Seed of the initialisation.
    pub seed: u64,
    /// Folder to cache its features in (a checkpoint's cache in its run directory).
    pub cache_dir: Option<PathBuf>,
    /// Build it like this checkpoint's encoder instead (architecture, width, stem,
    /// channels) and read its images the same way (size, colour space, normalisation):
    /// the matched baseline of that run. `arch`, `width` and `image_size` are then unused.
    pub like: Option<PathBuf>,
}

/// An encoder's features of both splits.
pub struct Frozen {
    /// Features of the kept training images.
    pub train: Features,
    /// Features of the test split.
    pub test: Features,
    /// The run directory of the checkpoint (`None` for a random-init encoder).
    pub run: Option<PathBuf>,
    /// The training images (after `limit`): `train`'s row `r` is image `kept(r)` of it.
    pub train_images: Arc<dyn ImageSource>,
    /// The test images.
    pub test_images: Arc<dyn ImageSource>,
    kept: Option<Vec<usize>>,
    encoder: String,
}

impl Frozen {
    /// The index in [`Frozen::train_images`] of training feature row `row`.
    pub fn kept(&self, row: usize) -> usize {
        self.kept.as_ref().map_or(row, |kept| kept[row])
    }

    /// The settings every record of these features carries.
    fn setup(&self, setup: &Setup) -> FrozenSetup {
        FrozenSetup {
            data: setup.data.to_string(),
            encoder: self.encoder.clone(),
            train_images: self.train.len(),
            test_images: self.test.len(),
            label_fraction: setup.label_fraction,
            precise_bn: setup.precise_bn,
        }
    }
}

/// The encoder an evaluation reads, and where its features are cached.
struct Chosen {
    encoder: Encoder,
    input: InputSpec,
    /// Cache folder and the tag of this encoder's files.
    cache: Option<(PathBuf, String)>,
    /// The checkpoint's run directory.
    run: Option<PathBuf>,
}

/// The encoder of `setup`: a checkpoint's caches in its run directory, tagged by step; a
/// random one in `random.cache_dir`.
fn encoder(setup: &Setup, train: &dyn ImageSource, device: &Device) -> Result<Chosen> {
    if let Some(path) = &setup.checkpoint {
        let (header, encoder) = match setup.online {
            true => crate::checkpoint::load_online_encoder(path, device)?,
            false => crate::checkpoint::load_encoder(path, device)?,
        };
        let run = crate::checkpoint::run_dir(path);
        let online = if setup.online && header.transfer.is_some() {
            "-online"
        } else {
            ""
        };
        return Ok(Chosen {
            encoder,
            input: header.input,
            cache: Some((run.join("features"), format!("step{}{online}", header.step))),
            run: Some(run),
        });
    }
    let r = &setup.random;
    let (config, input, tag) = match &r.like {
        Some(path) => {
            let file = crate::checkpoint::resolve(path);
            let (header, _) = crate::checkpoint::Checkpoint::load_encoder(&file)?;
            let matched = format!("{:?} {:?}", header.encoder, header.input);
            let tag = format!("random-like{:016x}", fnv1a(matched.as_bytes()));
            (header.encoder, header.input, tag)
        }
        None => {
            let arch: Architecture = r.arch.parse()?;
            let input =
                crate::dataset::native_input(&setup.data, train, r.image_size, 0, &[], &[])?;
            let config = EncoderConfig {
                arch,
                width: r.width,
                ..Default::default()
            }
            .resolved(input.channels, input.image_size);
            (
                config,
                input,
                format!("random-{}-w{}", arch.name(), r.width),
            )
        }
    };
    config.validate()?;
    let tag = format!("{tag}-seed{}", r.seed);
    Ok(Chosen {
        encoder: crate::device::seeded(device, r.seed, || config.init(device)),
        input,
        cache: r.cache_dir.clone().map(|dir| (dir, tag)),
        run: None,
    })
}

/// FNV-1a, 64 bits: a stable name for a random encoder's configuration in its cache files.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The features `setup` evaluates, computed once per encoder, split and subset (cached).
pub fn features(setup: &Setup) -> Result<Frozen> {
    let spec = &setup.data;
    let device = crate::device::parse(&setup.device)?;
    let train_images = crate::dataset::open_subset(spec, Split::Train, false, setup.limit, 0)?;
    let test_images = crate::dataset::open(spec, Split::Test, false)?;
    let Chosen {
        encoder,
        input,
        cache: cache_dir,
        run,
    } = encoder(setup, train_images.as_ref(), &device)?;
    let batch = setup.batch_size;
    let bn = match setup.precise_bn {
        0 => String::new(),
        n => format!("-pbn{n}x{batch}"),
    };
    let cache = |split: &str| {
        let subset = match (split, setup.limit) {
            ("train", n) if n > 0 => format!("-limit{n}"),
            _ => String::new(),
        };
        cache_dir.as_ref().map(|(dir, tag)| {
            let size = input.image_size;
            dir.join(format!(
                "{}-{split}{subset}-{tag}{bn}-{size}px.feat",
                spec.kind.name()
            ))
        })
    };
    // Re-estimated once, and only when a split's features are not cached yet.
    let mut reestimated: Option<Encoder> = None;
    let mut get = |source: &dyn ImageSource, split: &str| {
        features::extract_cached(cache(split).as_deref(), || {
            let encoder = match (setup.precise_bn, &mut reestimated) {
                (0, _) => &encoder,
                (_, Some(done)) => &*done,
                (n, slot) => {
                    tracing::info!("re-estimating batch-norm statistics on {n} training images");
                    let images = train_images.as_ref();
                    let fresh =
                        precise_bn::reestimate(&encoder, &input, images, n, batch, &device)?;
                    &*slot.insert(fresh)
                }
            };
            tracing::info!("computing {split} features of {}", source.origin());
            features::extract(encoder, &input, source, &device, batch)
        })
    };
    let mut train = get(train_images.as_ref(), "train")?;
    let test = get(test_images.as_ref(), "test")?;
    let kept = match setup.label_fraction {
        1.0 => None,
        fraction => {
            let labels: Vec<Option<u32>> = train.labels.iter().map(|&l| Some(l)).collect();
            let kept = pretext_data::label_fraction::per_class_subset(
                &labels,
                fraction,
                setup.label_seed,
            )?;
            train = train.rows(&kept);
            Some(kept)
        }
    };
    let encoder = match (&run, &setup.random.like) {
        (Some(run), _) if setup.online => format!("{} (online encoder)", run.display()),
        (Some(run), _) => run.display().to_string(),
        (None, Some(like)) => format!("random-init like {}", like.display()),
        (None, None) => format!("random-init {}", setup.random.arch),
    };
    Ok(Frozen {
        train,
        test,
        run,
        train_images,
        test_images,
        kept,
        encoder,
    })
}

/// The linear probe ([`probe`]) of `setup`'s encoder, and its run directory.
pub fn linear(setup: &Setup) -> Result<(EvalRecord, Option<PathBuf>)> {
    let f = features(setup)?;
    let device = crate::device::parse(&setup.device)?;
    let result = probe(&f.train, &f.test, &LinearConfig::default(), &device)?;
    let record = EvalRecord::Linear {
        top1: result.top1,
        l2: result.l2,
        validation: result.validation,
        setup: f.setup(setup),
    };
    Ok((record, f.run))
}

/// The weighted kNN classifier ([`knn_top1`]) of `setup`'s encoder, and its run directory.
pub fn knn(setup: &Setup, config: &KnnConfig) -> Result<(EvalRecord, Option<PathBuf>)> {
    let f = features(setup)?;
    let device = crate::device::parse(&setup.device)?;
    let top1 = knn_top1(&f.train, &f.test, config, &device)?;
    let record = EvalRecord::Knn {
        top1,
        k: config.k,
        temperature: config.temperature,
        setup: f.setup(setup),
    };
    Ok((record, f.run))
}

/// What `pretext retrieve` does besides the features.
#[derive(Clone, Debug)]
pub struct RetrievalOptions {
    /// Cut-offs of precision@k.
    pub k: Vec<usize>,
    /// Use the first this many test images as queries (0 = all).
    pub queries: usize,
    /// Write a grid of queries and their nearest gallery images to this PNG.
    pub picture: Option<PathBuf>,
    /// Queries in the picture.
    pub picture_queries: usize,
}

/// Retrieval ([`retrieval::evaluate`]): the test images query the training images.
pub fn retrieve(
    setup: &Setup,
    options: &RetrievalOptions,
) -> Result<(EvalRecord, Option<PathBuf>)> {
    let mut f = features(setup)?;
    if options.queries > 0 && options.queries < f.test.len() {
        f.test = f.test.rows(&(0..options.queries).collect::<Vec<_>>());
    }
    let device = crate::device::parse(&setup.device)?;
    let scores = retrieval::evaluate(&f.train, &f.test, &options.k, &device)?;
    if let Some(png) = &options.picture {
        picture(&f, options.picture_queries, &device, png)?;
    }
    let record = EvalRecord::Retrieval {
        map: scores.map,
        precision: scores
            .precision
            .iter()
            .map(|&(k, p)| (format!("p@{k}"), p))
            .collect(),
        queries: scores.queries,
        gallery: scores.gallery,
        setup: f.setup(setup),
    };
    Ok((record, f.run))
}

/// A grid of the first `count` queries (first column) and their eight nearest gallery
/// images, each marked `+` when its class is the query's, written to `png`.
fn picture(f: &Frozen, count: usize, device: &Device, png: &Path) -> Result<()> {
    let shown = retrieval::neighbours(&f.train, &f.test, count, 8, device)?;
    let name = |label: u32| {
        f.test_images
            .classes()
            .and_then(|c| c.get(label as usize).cloned())
            .unwrap_or_else(|| label.to_string())
    };
    let mut grid = pretext_data::grid::Grid::new(9, 64);
    for (q, ranking) in shown.iter().enumerate() {
        let label = f.test.labels[q];
        grid.push(&f.test_images.get(q)?, &format!("query: {}", name(label)));
        for &g in ranking {
            let mark = if f.train.labels[g] == label { "+" } else { "-" };
            let image = f.train_images.get(f.kept(g))?;
            grid.push(&image, &format!("{mark} {}", name(f.train.labels[g])));
        }
    }
    grid.save_png(png)?;
    Ok(())
}

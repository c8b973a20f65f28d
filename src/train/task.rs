//! The method's own task outside training: drawing it (`pretext show`) and scoring a
//! checkpoint on it (`pretext eval task`).

use super::resolve::{Resolved, resolve};
use crate::checkpoint::{self, Checkpoint};
use crate::config::RunConfig;
use crate::detect::detector::Detection;
use crate::detect::segmentation::Confusion;
use crate::method::MethodJob;
use crate::method::{Method, Network, Progress};
use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::prelude::Device;
use pretext_data::ImageSource;
use pretext_data::loader::{self, LoaderConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Draws `count` examples of the method's task with the network's answers into `png`:
/// the network of a checkpoint, or a freshly initialised one (`checkpoint = None`). For a
/// ViT, also the CLS token's attention per head on `count` un-augmented images (DINO's figure
/// 1) into `png` with `-attention` added to its name. Returns the files written.
pub fn show(
    config: RunConfig,
    checkpoint: Option<&Path>,
    count: usize,
    png: &Path,
) -> Result<Vec<PathBuf>> {
    let data = &config.data;
    let source = crate::dataset::open(&data.dataset, data.split, data.skip_corrupt)?;
    let name = config.method.name.clone();
    crate::method::dispatch(
        &name,
        Show {
            config,
            source,
            checkpoint: checkpoint.map(checkpoint::resolve),
            count,
            png: png.to_path_buf(),
        },
    )?
}

/// Each image beside its CLS-attention map per head (nearest-upsampled to the image, scaled
/// to its own range).
fn attention_grid(
    vit: &crate::encoder::VisionTransformer,
    input: &crate::input::InputSpec,
    images: &[Vec<f32>],
    device: &burn::prelude::Device,
) -> Result<pretext_data::grid::Grid> {
    let [c, side] = [input.channels, input.image_size];
    let batch =
        crate::method::stack_images(images.iter().map(Vec::as_slice), [c, side, side], device);
    let (maps, [h, w]) = vit.cls_attention(batch);
    let heads = maps.dims()[1];
    let maps: Vec<f32> = maps
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(|e| anyhow::anyhow!("reading attention maps: {e:?}"))?;
    let mut grid = pretext_data::grid::Grid::new(1 + heads, 96);
    for (n, image) in images.iter().enumerate() {
        grid.push(&input.denormalize(image, [c, side, side]), "image");
        for head in 0..heads {
            let map = &maps[(n * heads + head) * h * w..][..h * w];
            let (lo, hi) = map
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let data = (0..side * side)
                .map(|p| {
                    let (y, x) = ((p / side) * h / side, (p % side) * w / side);
                    (map[y * w + x] - lo) / (hi - lo).max(1e-12)
                })
                .collect();
            let picture = pretext_data::Image {
                channels: 1,
                height: side,
                width: side,
                data,
            };
            grid.push(&picture, &format!("head {head}"));
        }
    }
    Ok(grid)
}

struct Show {
    config: RunConfig,
    source: Arc<dyn ImageSource>,
    checkpoint: Option<PathBuf>,
    count: usize,
    png: PathBuf,
}

impl MethodJob for Show {
    type Output = Result<Vec<PathBuf>>;

    fn run<M: Method>(self) -> Result<Vec<PathBuf>> {
        let count = self.count.clamp(1, self.source.len());
        let r = resolve::<M>(self.config, self.source)?;
        let device = crate::device::parse(&r.config.train.device)?;
        let file = self.checkpoint.as_deref();
        let saved = file.map(Checkpoint::load).transpose()?;
        let net = r.network(&device, saved.as_ref().zip(file))?;
        let seed = r.config.train.seed;
        let order = loader::epoch_order(r.source.len(), seed, 0, true);
        let samples = order[..count]
            .iter()
            .map(|&i| {
                let image = r.input.convert_channels(r.source.get(i)?);
                let mut rng = pretext_data::rng::sample_rng(seed, 0, i as u64);
                r.method.sample(image, r.source.target(i), &mut rng)
            })
            .collect::<Result<Vec<_>>>()?;
        let net = net.valid();
        let grid = r
            .method
            .render(&net, &samples, &device)
            .with_context(|| format!("method `{}` draws no pictures", r.config.method.name))?;
        grid.save_png(&self.png)?;
        let mut written = vec![self.png.clone()];
        let encoder = r
            .method
            .transfer_encoder(&net)
            .map_or(&net.encoder, |(_, encoder)| encoder);
        if let Some(vit) = encoder.as_vit() {
            let mut images = Vec::new();
            for &i in &order[..count] {
                images.push(r.input.eval_transform(r.source.get(i)?));
            }
            let path = self.png.with_file_name(format!(
                "{}-attention.png",
                self.png.file_stem().unwrap_or_default().to_string_lossy()
            ));
            attention_grid(vit, &r.input, &images, &device)?.save_png(&path)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Scores a checkpoint on its own pretext task over a split of a dataset (by default the
/// test split of its training data): the loss and the method's metrics (e.g. jigsaw or
/// rotation accuracy), averaged over every image, with the network in inference mode and
/// each image's task drawn reproducibly from the run's seed.
pub fn eval_task(
    checkpoint: &Path,
    overrides: &[String],
    split: pretext_data::Split,
    limit: usize,
) -> Result<Vec<(String, f64)>> {
    let held_out = HeldOut::open(checkpoint, overrides, split, limit)?;
    let name = held_out.config.method.name.clone();
    crate::method::dispatch(&name, TaskEval(held_out))?
}

struct TaskEval(HeldOut);

impl MethodJob for TaskEval {
    type Output = Result<Vec<(String, f64)>>;

    fn run<M: Method>(self) -> Result<Vec<(String, f64)>> {
        let step = self.0.saved.header.step.max(1);
        let (r, net, device) = self.0.network::<M>()?;
        let batches = eval_batches(&r);
        let mut sums: Vec<(String, f64)> = Vec::new();
        let mut count = 0usize;
        for batch in batches {
            let samples = batch?.samples.into_iter().collect::<Result<Vec<_>>>()?;
            // The task as the checkpoint's network left it: its last step's schedules.
            let progress = Progress {
                step,
                total_steps: step,
            };
            let output = r.method.step(&net, &samples, &device, progress);
            let n = samples.len() as f64;
            let values = std::iter::once(("loss", output.loss))
                .chain(output.metrics)
                .map(|(k, v)| (k.to_string(), f64::from(v.into_scalar::<f32>()) * n));
            if sums.is_empty() {
                sums = values.collect();
            } else {
                sums.iter_mut().zip(values).for_each(|(s, (_, v))| s.1 += v);
            }
            count += samples.len();
        }
        ensure!(count > 0, "no images to evaluate the task on");
        Ok(sums
            .into_iter()
            .map(|(k, v)| (k, v / count as f64))
            .collect())
    }
}

/// The held-out examples of `r`'s data in order, in batches: each image's deterministic
/// view ([`Method::sample_eval`]) drawn from the run's seed.
fn eval_batches<M: Method>(r: &Resolved<M>) -> loader::Loader<Result<M::Sample>> {
    let input = r.input.clone();
    let sampler = Arc::clone(&r.method);
    let labels = Arc::clone(&r.source);
    loader::spawn(
        Arc::clone(&r.source),
        LoaderConfig {
            batch_size: r.config.train.batch_size,
            seed: r.config.train.seed,
            shuffle: false,
            drop_last: false,
            prefetch: 2,
            epochs: Some(1),
            ..LoaderConfig::default()
        },
        move |image, rng, index| {
            sampler.sample_eval(input.convert_channels(image), labels.target(index), rng)
        },
    )
}

/// A checkpoint, its run config (with `overrides`) and a split of its data, for the
/// evaluations that run its network on held-out images.
struct HeldOut {
    config: RunConfig,
    source: Arc<dyn ImageSource>,
    saved: Checkpoint,
    file: PathBuf,
}

impl HeldOut {
    fn open(
        checkpoint: &Path,
        overrides: &[String],
        split: pretext_data::Split,
        limit: usize,
    ) -> Result<HeldOut> {
        let file = checkpoint::resolve(checkpoint);
        let saved = Checkpoint::load(&file)?;
        let config =
            RunConfig::from_toml(&saved.header.config, overrides, &file.display().to_string())?;
        let data = &config.data;
        let source =
            crate::dataset::open_subset(&data.dataset, split, data.skip_corrupt, limit, 0)?;
        Ok(HeldOut {
            config,
            source,
            saved,
            file,
        })
    }

    /// The method's resolved run and its network in inference mode on the run's device.
    fn network<M: Method>(self) -> Result<(Resolved<M>, Network<M::Head>, Device)> {
        let r = resolve::<M>(self.config, self.source)?;
        let device = crate::device::parse(&r.config.train.device)?.without_autodiff();
        let net = r.network(&device, Some((&self.saved, &self.file)))?.valid();
        Ok((r, net, device))
    }
}

/// The objects a checkpoint's network finds in every image of a split of its data (by
/// default the test split): per image, its id in the annotation file and the detections in
/// its own pixels ([`Method::detect`]).
pub fn detect_objects(
    checkpoint: &Path,
    split: pretext_data::Split,
    limit: usize,
) -> Result<Vec<(u64, Vec<Detection>)>> {
    let held_out = HeldOut::open(checkpoint, &[], split, limit)?;
    let name = held_out.config.method.name.clone();
    crate::method::dispatch(&name, ObjectSearch(held_out))?
}

struct ObjectSearch(HeldOut);

impl MethodJob for ObjectSearch {
    type Output = Result<Vec<(u64, Vec<Detection>)>>;

    fn run<M: Method>(self) -> Self::Output {
        let name = self.0.config.method.name.clone();
        let (r, net, device) = self.0.network::<M>()?;
        let mut found = Vec::with_capacity(r.source.len());
        for batch in eval_batches(&r) {
            let samples = batch?.samples.into_iter().collect::<Result<Vec<_>>>()?;
            let detections = r
                .method
                .detect(&net, &samples, &device)
                .with_context(|| format!("method `{name}` does not detect objects"))?;
            found.extend(detections);
        }
        Ok(found)
    }
}

/// The confusion matrix of a checkpoint's per-pixel classes over every image of a split of
/// its data ([`Method::segment`]), and the number of images.
pub fn segment_pixels(
    checkpoint: &Path,
    split: pretext_data::Split,
    limit: usize,
) -> Result<(Confusion, usize)> {
    let held_out = HeldOut::open(checkpoint, &[], split, limit)?;
    let name = held_out.config.method.name.clone();
    crate::method::dispatch(&name, PixelScore(held_out))?
}

struct PixelScore(HeldOut);

impl MethodJob for PixelScore {
    type Output = Result<(Confusion, usize)>;

    fn run<M: Method>(self) -> Self::Output {
        let name = self.0.config.method.name.clone();
        let (r, net, device) = self.0.network::<M>()?;
        let mut total: Option<Confusion> = None;
        let mut images = 0;
        for batch in eval_batches(&r) {
            let samples = batch?.samples.into_iter().collect::<Result<Vec<_>>>()?;
            let confusion = r
                .method
                .segment(&net, &samples, &device)
                .with_context(|| format!("method `{name}` does not label pixels"))?;
            match &mut total {
                Some(t) => t.merge(&confusion),
                None => total = Some(confusion),
            }
            images += samples.len();
        }
        Ok((total.context("no images to segment")?, images))
    }
}

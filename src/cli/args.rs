//! The `pretext` command line's arguments: what each command takes, parsed by clap.

use crate::config::Overrides;
use crate::eval::frozen::{RandomInit, RetrievalOptions, Setup};
use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Self-supervised pretraining of vision encoders, and their evaluation.
#[derive(Parser, Debug)]
#[command(name = "pretext", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pretrain an encoder with a self-supervised method.
    Pretrain(PretrainArgs),
    /// Fine-tune an encoder end to end with a fresh classifier on (a fraction of) the labels.
    ///
    /// Without --config the recipe is SimCLR's semi-supervised fine-tuning: SGD with Nesterov
    /// momentum 0.9, lr 0.05 × B/256, no weight decay, batch 64, random crops and flips,
    /// 60 epochs on 1 % of the labels or fewer and 30 otherwise. Test top-1 is printed and
    /// written to OUT/finetune.json.
    Finetune(FinetuneArgs),
    /// Train a Faster R-CNN (FPN) detector on an encoder and score it on the test split.
    ///
    /// Without --config the recipe is detectron2's: SGD, momentum 0.9, lr 0.02 per 16
    /// images, weight decay 1e-4, horizontal flips, 12 epochs. The test split's detections are
    /// written to OUT/detections.json (COCO results), their COCO AP and VOC07 AP50 printed
    /// and written to OUT/detection.json.
    Detect(DetectArgs),
    /// Train a semantic-segmentation head (semantic FPN) on an encoder and score it.
    ///
    /// Pixels take the category of the object mask covering them (background elsewhere).
    /// Without --config the schedule is the detection recipe's. Test mean IoU and pixel
    /// accuracy are printed and written to OUT/segmentation.json.
    Segment(DetectArgs),
    /// Measure what a (pretrained or random) encoder learned.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Download or inspect datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Draw a method's task and the network's answers as a PNG grid.
    Show(ShowArgs),
    /// Generate a jigsaw permutation set (Noroozi & Favaro 2016, Algorithm 1).
    Permutations(PermutationArgs),
    /// Write a checkpoint's encoder as safetensors under PyTorch's (torchvision's) names.
    Export(ExportArgs),
    /// Image retrieval with an encoder's features: precision@k and mAP, labels as relevance.
    Retrieve(RetrieveArgs),
    /// Write an HTML report (curves, probes, pictures, t-SNE map, results) of runs.
    Report(ReportArgs),
}

/// `pretext report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directories, compared side by side.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder to write index.html and its PNGs into.
    #[arg(long)]
    pub out: PathBuf,
    /// Test images in each run's t-SNE map (0: no maps).
    #[arg(long, default_value_t = 1000)]
    pub map_points: usize,
    /// Device the encoders embed the map's images on: flex (CPU) or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
}

/// `pretext retrieve`: the train split (or `--limit` images of it) is the gallery, the test
/// split the queries.
#[derive(Args, Debug)]
pub struct RetrieveArgs {
    #[command(flatten)]
    /// Encoder, data and device.
    pub eval: EvalArgs,
    /// Cut-offs of precision@k, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 100])]
    pub k: Vec<usize>,
    /// Use the first this many test images as queries (0 = all).
    #[arg(long, default_value_t = 0)]
    pub queries: usize,
    /// Write a PNG grid of queries (first column) and their nearest gallery images.
    #[arg(long, value_name = "PNG")]
    pub show: Option<PathBuf>,
    /// Queries drawn by --show.
    #[arg(long, default_value_t = 8)]
    pub show_count: usize,
}

/// The flags `finetune` and `detect` share: the encoder a transfer run starts from, the
/// recipe it replaces, the run directory and the training loop.
#[derive(Args, Debug)]
pub struct TransferArgs {
    /// The pretrained encoder: a run directory, a checkpoint, or a safetensors file written
    /// by `pretext export`.
    #[arg(long, required_unless_present_any = ["scratch", "resume"], conflicts_with = "scratch")]
    pub from: Option<PathBuf>,
    /// Train the same network from randomly initialised weights (the baseline).
    #[arg(long)]
    pub scratch: bool,
    /// TOML config file replacing the built-in recipe; flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Encoder of --scratch: convnet-small, resnet18, resnet50, vit-tiny, vit-small, vit-base.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Freeze the encoder's first N stages (stem, layer1, …; 5 = the whole encoder).
    #[arg(long)]
    pub freeze_stages: Option<usize>,
    /// Run directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    /// Loop flags (--lr is scaled by B/256).
    pub flags: LoopFlags,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pretext finetune`: the supervised method on the encoder of `--from`, with SimCLR's
/// semi-supervised fine-tuning recipe by default ([`crate::finetune::RECIPE`]); without a
/// config file `--epochs` defaults to 60 at 1 % of the labels or fewer, else 30, as SimCLR.
#[derive(Args, Debug)]
pub struct FinetuneArgs {
    #[command(flatten)]
    /// Encoder, recipe, run directory and loop.
    pub transfer: TransferArgs,
    /// Labelled dataset as KIND:PATH (default: the one the encoder was pretrained on).
    #[arg(long)]
    pub data: Option<String>,
    /// Keep this fraction of the training labels, chosen per class with --label-seed.
    #[arg(long)]
    pub label_fraction: Option<f64>,
    /// Seed of the --label-fraction choice.
    #[arg(long)]
    pub label_seed: Option<u64>,
    /// The encoder's learning rate as a fraction of the classifier's.
    #[arg(long)]
    pub encoder_lr_scale: Option<f64>,
    /// Layer-wise learning-rate decay: each encoder layer learns at this fraction of the rate
    /// of the one above it (MAE fine-tunes ViTs at 0.65–0.75; default 0.75 for ViTs, 1 = off).
    #[arg(long)]
    pub layer_decay: Option<f64>,
}

/// `pretext export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run directory or checkpoint file.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The `.safetensors` file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write FILE.sample.safetensors: this many test images as the encoder takes them
    /// and pretext's features of them, to check the export in PyTorch.
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
}

/// `pretext show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// A run directory or checkpoint file: shows its method with its trained network.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Method to show with a freshly initialised network (when no --checkpoint is given).
    #[arg(long, value_parser = PossibleValuesParser::new(crate::method::NAMES))]
    pub method: Option<String>,
    /// Dataset as KIND:PATH (default: the checkpoint's).
    #[arg(long)]
    pub data: Option<String>,
    /// Any config key, as for pretrain.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Number of examples.
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// PNG file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `pretext permutations`.
#[derive(Args, Debug)]
pub struct PermutationArgs {
    /// Number of permutations (fewer come out when --min-distance leaves no candidates).
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Minimum Hamming distance between any two permutations.
    #[arg(long, default_value_t = 0)]
    pub min_distance: usize,
    /// How each next permutation is chosen: maximal (the paper's), average or minimal.
    #[arg(long, default_value = "maximal")]
    pub selection: String,
    /// Seed (the first permutation and ties are random).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// File to write; training reads it with --set method.permutations=FILE.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `pretext detect` and `pretext segment`: the detection (segmentation) method on the
/// encoder of `--from`, with detectron2's schedule by default ([`crate::detection::RECIPE`],
/// [`crate::segmentation::RECIPE`]).
#[derive(Args, Debug)]
pub struct DetectArgs {
    #[command(flatten)]
    /// Encoder, recipe, run directory and loop.
    pub transfer: TransferArgs,
    /// Detection dataset: coco:ANNOTATIONS.json (the test split reads the file named with
    /// `val` for `train`) or voc:FOLDER.
    #[arg(long, required_unless_present_any = ["config", "resume"])]
    pub data: Option<String>,
}

/// Flags of the training loop that `pretrain`, `finetune` and `detect` share; each stands for a config
/// key.
#[derive(Args, Debug)]
pub struct LoopFlags {
    /// Number of epochs (train.epochs).
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Images per batch (train.batch_size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate, before optim.lr_scaling (optim.lr).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Stop after this many steps; the schedule still spans all epochs (train.max_steps).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Seed of weights, data order and augmentations (train.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: flex (CPU) or cuda[:N] (train.device); a comma-separated list (cuda:0,cuda:1)
    /// trains data-parallel, the batch split evenly over the devices.
    #[arg(long)]
    pub device: Option<String>,
    /// Any config key, e.g. --set optim.weight_decay=1e-4 --set method.head_hidden=[256].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl TransferArgs {
    /// How to start the run.
    pub fn options(&self) -> crate::train::RunOptions {
        crate::train::RunOptions {
            resume: self.resume,
            quiet: self.flags.quiet,
        }
    }
}

impl LoopFlags {
    /// Adds the config overrides the flags stand for, `--set` last so that it wins.
    pub fn add_to(&self, overrides: &mut Overrides) -> Result<()> {
        overrides
            .set_some("train.epochs", self.epochs)?
            .set_some("train.batch_size", self.batch_size)?
            .set_some("optim.lr", self.lr)?
            .set_some("train.max_steps", self.max_steps)?
            .set_some("train.seed", self.seed)?
            .set_some("train.device", self.device.as_ref())?
            .extend(self.set.iter().cloned());
        Ok(())
    }
}

/// `pretext pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// TOML config file (e.g. a run's `config.toml`); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Method.
    #[arg(long, value_parser = PossibleValuesParser::new(crate::method::NAMES))]
    pub method: Option<String>,
    /// Dataset as KIND:PATH (kinds: mnist, fashion-mnist, cifar10, cifar100, stl10, folder).
    #[arg(long)]
    pub data: Option<String>,
    /// Encoder: convnet-small, resnet18, resnet50, vit-tiny, vit-small, vit-base.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Run directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out (or the config's train.out) from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    /// Loop flags.
    pub flags: LoopFlags,
    /// Measure the data pipeline alone: build this many batches with the method's
    /// augmentations, print images/s, train and write nothing.
    #[arg(long, value_name = "BATCHES", conflicts_with = "compute_only")]
    pub pipeline_only: Option<u64>,
    /// Measure the training step alone: build one batch, time this many optimiser steps on
    /// it (after two warm-up steps), print images/s, write nothing.
    #[arg(long, value_name = "STEPS")]
    pub compute_only: Option<u64>,
}

/// `pretext eval …`.
#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Linear probe: logistic regression on frozen features, test top-1.
    Linear(EvalArgs),
    /// Weighted k-nearest-neighbour classification on frozen features, test top-1.
    Knn(KnnArgs),
    /// The checkpoint's own pretext task (e.g. jigsaw accuracy) on held-out images.
    Task(TaskArgs),
    /// Average precision of a COCO results file (COCO's AP/AR as pycocotools, VOC07 AP50).
    Boxes(BoxesArgs),
}

/// `pretext eval boxes`.
#[derive(Args, Debug)]
pub struct BoxesArgs {
    /// The annotations as coco:FILE.json or voc:FOLDER.
    #[arg(long)]
    pub truth: String,
    /// Split of the annotations: train or test (coco: the file named with val for train;
    /// voc: test, else val).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// The detections: a JSON list of {image_id, category_id, bbox: [x, y, w, h], score}.
    #[arg(long)]
    pub results: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pretext eval task`.
#[derive(Args, Debug)]
pub struct TaskArgs {
    /// A run directory or checkpoint file.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset as KIND:PATH (default: the run's own).
    #[arg(long)]
    pub data: Option<String>,
    /// Split: train, test, unlabeled, train-unlabeled.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate on a seeded random subset of this many images (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What to evaluate and on which data.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory or checkpoint file.
    #[arg(
        long,
        required_unless_present = "random_init",
        conflicts_with = "random_init"
    )]
    pub checkpoint: Option<PathBuf>,
    /// Score the checkpoint's online encoder where another one transfers: DINO's student
    /// instead of its teacher.
    #[arg(long, conflicts_with = "random_init")]
    pub online: bool,
    /// Evaluate a randomly initialised encoder instead (the baseline to beat).
    #[arg(long)]
    pub random_init: bool,
    /// Encoder of --random-init.
    #[arg(long, default_value = "convnet-small")]
    pub encoder: String,
    /// Width multiplier of --random-init.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Image side of --random-init (0 = the dataset's native size).
    #[arg(long, default_value_t = 0)]
    pub image_size: usize,
    /// Seed of --random-init.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder to cache --random-init features in (checkpoints cache in their run directory).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Build the --random-init encoder like this run's (architecture, width, stem,
    /// channels) and feed it the same images (size, colour space, normalisation): the
    /// matched baseline of that run.
    #[arg(
        long,
        value_name = "RUN",
        requires = "random_init",
        conflicts_with_all = ["encoder", "width", "image_size"]
    )]
    pub like: Option<PathBuf>,
    /// Labelled dataset as KIND:PATH; its train split fits, its test split scores.
    #[arg(long)]
    pub data: String,
    /// Fit on a seeded random subset of this many training images (0 = all); the test
    /// split is always used whole.
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Keep this fraction of the training labels, chosen per class with --label-seed (the
    /// semi-supervised setting: 0.01 and 0.1 are the 1 % and 10 % of the papers).
    #[arg(long, default_value_t = 1.0)]
    pub label_fraction: f64,
    /// Seed of the --label-fraction choice.
    #[arg(long, default_value_t = 0)]
    pub label_seed: u64,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Re-estimate the encoder's batch-norm statistics on N un-augmented training images
    /// (batches of --batch-size, training mode, no labels) before extracting features
    /// (PreciseBN, Wu & Johnson 2021); without N, 10000. Off by default: the encoder's
    /// own running statistics.
    #[arg(long, value_name = "N", num_args = 0..=1, default_value_t = 0, default_missing_value = "10000")]
    pub precise_bn: usize,
    /// Device: flex (CPU) or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// kNN options.
#[derive(Args, Debug)]
pub struct KnnArgs {
    #[command(flatten)]
    /// Common options.
    pub eval: EvalArgs,
    /// Neighbours that vote.
    #[arg(long, default_value_t = 200)]
    pub k: usize,
    /// Temperature of the votes.
    #[arg(long, default_value_t = 0.1)]
    pub temperature: f64,
}

/// `pretext data …`.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download a standard dataset (SHA-256 verified, resumable).
    Download(DownloadArgs),
    /// Cut a folder of large photos into random square crops (train/ and held-out test/).
    Crops(CropArgs),
    /// Print counts, image sizes and classes of a dataset.
    Inspect(InspectArgs),
    /// Compose a detection benchmark (PNG scenes + COCO JSON) from the items of a labelled
    /// dataset of objects on black, e.g. Fashion-MNIST.
    Scenes(ScenesArgs),
    /// Write a dataset as WebDataset-style tar shards (train-000000.tar, …, test-…) with a
    /// manifest (counts, SHA-256 and the sample index per shard) and SHA256SUMS; train on
    /// them with --data shards:OUT.
    Shards(ShardsArgs),
}

/// `pretext data shards`.
#[derive(Args, Debug)]
pub struct ShardsArgs {
    /// The dataset, as KIND:PATH (its train split, and its test split when it has one).
    #[arg(long)]
    pub data: String,
    /// Folder to write the shards, manifest.json and SHA256SUMS into.
    #[arg(long)]
    pub out: PathBuf,
    /// Samples per shard (WebDataset's usual shards hold a few hundred MB).
    #[arg(long, default_value_t = 10_000)]
    pub per_shard: usize,
}

/// `pretext data scenes`.
#[derive(Args, Debug)]
pub struct ScenesArgs {
    /// The items, as KIND:PATH (train scenes from its train split, test scenes from its test
    /// split).
    #[arg(long)]
    pub from: String,
    /// Folder to write train/, val/ and annotations/ into.
    #[arg(long)]
    pub out: PathBuf,
    /// Scene side in pixels.
    #[arg(long, default_value_t = 96)]
    pub size: usize,
    /// Training scenes.
    #[arg(long, default_value_t = 10_000)]
    pub train: usize,
    /// Test scenes.
    #[arg(long, default_value_t = 2_000)]
    pub test: usize,
    /// Fewest items per scene.
    #[arg(long, default_value_t = 1)]
    pub min_objects: usize,
    /// Most items per scene.
    #[arg(long, default_value_t = 4)]
    pub max_objects: usize,
    /// Smallest item scale (1 = native size).
    #[arg(long, default_value_t = 0.75)]
    pub min_scale: f32,
    /// Largest item scale.
    #[arg(long, default_value_t = 2.0)]
    pub max_scale: f32,
    /// Largest IoU between two items' boxes.
    #[arg(long, default_value_t = 0.3)]
    pub max_overlap: f64,
    /// Background: texture (smooth noise), noise or black.
    #[arg(long, default_value = "texture")]
    pub background: String,
    /// Seed of items, scales, positions and backgrounds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `pretext data download`.
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Dataset name; --list shows them.
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Folder to download into.
    #[arg(long, default_value = "data")]
    pub dest: PathBuf,
    /// Base URL replacing the official hosts (a local mirror).
    #[arg(long)]
    pub mirror: Option<String>,
    /// List the datasets that can be downloaded.
    #[arg(long)]
    pub list: bool,
}

/// `pretext data crops`.
#[derive(Args, Debug)]
pub struct CropArgs {
    /// Folder of photos (searched recursively).
    pub source: PathBuf,
    /// Folder to write `train/` and `test/` into.
    #[arg(long)]
    pub out: PathBuf,
    /// Crop side in pixels.
    #[arg(long, default_value_t = 96)]
    pub size: usize,
    /// Crops per photo.
    #[arg(long, default_value_t = 40)]
    pub per_image: usize,
    /// Largest zoom-out (the photo's shorter side is resized to size × [1, zoom]).
    #[arg(long, default_value_t = 4.0)]
    pub max_zoom: f32,
    /// Fraction of photos held out for test/.
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// Seed of positions and zooms.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip unreadable photos instead of failing.
    #[arg(long)]
    pub skip_corrupt: bool,
}

/// `pretext data inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Dataset as KIND:PATH.
    pub data: String,
    /// Split: train, test, unlabeled, train-unlabeled.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Skip corrupt images instead of failing.
    #[arg(long)]
    pub skip_corrupt: bool,
}

impl EvalArgs {
    /// The evaluation these flags ask for.
    pub fn setup(&self) -> Result<Setup> {
        Ok(Setup {
            checkpoint: self.checkpoint.clone(),
            online: self.online,
            random: RandomInit {
                arch: self.encoder.clone(),
                width: self.width,
                image_size: self.image_size,
                seed: self.seed,
                cache_dir: self.cache_dir.clone(),
                like: self.like.clone(),
            },
            data: self.data.parse()?,
            limit: self.limit,
            label_fraction: self.label_fraction,
            label_seed: self.label_seed,
            batch_size: self.batch_size,
            device: self.device.clone(),
            precise_bn: self.precise_bn,
        })
    }
}

impl RetrieveArgs {
    /// What retrieval does besides the features.
    pub fn options(&self) -> RetrievalOptions {
        RetrievalOptions {
            k: self.k.clone(),
            queries: self.queries,
            picture: self.show.clone(),
            picture_queries: self.show_count,
        }
    }
}

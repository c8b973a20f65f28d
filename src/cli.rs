//! The `pretext` command line: argument parsing and the commands it runs.

use crate::config::RunConfig;
use crate::eval::features::{self, Features};
use crate::eval::knn::{KnnConfig, knn_top1};
use crate::eval::linear::{LinearConfig, probe};
use crate::eval::record::{EvalKind, EvalRecord};
use crate::input::InputSpec;
use crate::train::{self, RunOptions};
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use pretext_data::{DataSpec, Split};
use std::path::{Path, PathBuf};

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

/// `pretext finetune`: the supervised method on the encoder of `--from`, with SimCLR's
/// semi-supervised fine-tuning recipe by default ([`crate::finetune::RECIPE`]).
#[derive(Args, Debug)]
pub struct FinetuneArgs {
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
    /// Labelled dataset as KIND:PATH (default: the one the encoder was pretrained on).
    #[arg(long)]
    pub data: Option<String>,
    /// Encoder of --scratch: convnet-small, resnet18, resnet50.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Keep this fraction of the training labels, chosen per class with --label-seed.
    #[arg(long)]
    pub label_fraction: Option<f64>,
    /// Seed of the --label-fraction choice.
    #[arg(long)]
    pub label_seed: Option<u64>,
    /// The encoder's learning rate as a fraction of the classifier's.
    #[arg(long)]
    pub encoder_lr_scale: Option<f64>,
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
    /// Loop flags (--epochs defaults to 60 at 1 % of the labels or fewer, else 30, as
    /// SimCLR; --lr is scaled by B/256).
    pub flags: LoopFlags,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
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
    #[arg(long)]
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

/// Flags of the training loop that `pretrain` and `finetune` share; each stands for a config
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

impl LoopFlags {
    /// The config overrides the flags stand for, `--set` last so that it wins.
    fn overrides(&self) -> Vec<String> {
        let values = [
            ("train.epochs", self.epochs.map(|v| v.to_string())),
            ("train.batch_size", self.batch_size.map(|v| v.to_string())),
            ("optim.lr", self.lr.map(|v| format!("{v:?}"))),
            ("train.max_steps", self.max_steps.map(|v| v.to_string())),
            ("train.seed", self.seed.map(|v| v.to_string())),
            (
                "train.device",
                self.device
                    .as_ref()
                    .map(|d| toml::Value::String(d.clone()).to_string()),
            ),
        ];
        values
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| format!("{key}={v}")))
            .chain(self.set.iter().cloned())
            .collect()
    }
}

/// `pretext pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// TOML config file (e.g. a run's `config.toml`); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Method: rotation, relative-patch, jigsaw, colorization, inpainting, byol.
    #[arg(long)]
    pub method: Option<String>,
    /// Dataset as KIND:PATH (kinds: mnist, fashion-mnist, cifar10, cifar100, stl10, folder).
    #[arg(long)]
    pub data: Option<String>,
    /// Encoder: convnet-small, resnet18, resnet50.
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
    Download {
        /// Dataset name; --list shows them.
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// Folder to download into.
        #[arg(long, default_value = "data")]
        dest: PathBuf,
        /// Base URL replacing the official hosts (a local mirror).
        #[arg(long)]
        mirror: Option<String>,
        /// List the datasets that can be downloaded.
        #[arg(long)]
        list: bool,
    },
    /// Cut a folder of large photos into random square crops (train/ and held-out test/).
    Crops {
        /// Folder of photos (searched recursively).
        source: PathBuf,
        /// Folder to write `train/` and `test/` into.
        #[arg(long)]
        out: PathBuf,
        /// Crop side in pixels.
        #[arg(long, default_value_t = 96)]
        size: usize,
        /// Crops per photo.
        #[arg(long, default_value_t = 40)]
        per_image: usize,
        /// Largest zoom-out (the photo's shorter side is resized to size × [1, zoom]).
        #[arg(long, default_value_t = 4.0)]
        max_zoom: f32,
        /// Fraction of photos held out for test/.
        #[arg(long, default_value_t = 0.1)]
        test_fraction: f64,
        /// Seed of positions and zooms.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Skip unreadable photos instead of failing.
        #[arg(long)]
        skip_corrupt: bool,
    },
    /// Print counts, image sizes and classes of a dataset.
    Inspect {
        /// Dataset as KIND:PATH.
        data: String,
        /// Split: train, test, unlabeled, train-unlabeled.
        #[arg(long, default_value = "train")]
        split: String,
        /// Skip corrupt images instead of failing.
        #[arg(long)]
        skip_corrupt: bool,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Pretrain(args) => pretrain(args),
        Command::Finetune(args) => finetune(args),
        Command::Eval(EvalCommand::Linear(args)) => {
            let (train, test, run) = eval_features(&args)?;
            let device = crate::device::parse(&args.device)?;
            let result = probe(&train, &test, &LinearConfig::default(), &device)?;
            let json = EvalRecord::new(
                EvalKind::Linear,
                serde_json::json!({
                    "top1": result.top1, "l2": result.l2,
                    "validation": result.validation, "data": args.data,
                    "train_images": train.len(), "label_fraction": args.label_fraction,
                    "encoder": run.as_ref().map_or(format!("random-init {}", args.encoder), |p| p.display().to_string()),
                }),
            );
            report(
                &args,
                run.as_deref(),
                &json,
                &format!(
                    "linear probe top-1: {:.2}% (λ = {:.0e}, {} train / {} test images)",
                    100.0 * result.top1,
                    result.l2,
                    train.len(),
                    test.len()
                ),
            )
        }
        Command::Eval(EvalCommand::Knn(args)) => {
            let (train, test, run) = eval_features(&args.eval)?;
            let device = crate::device::parse(&args.eval.device)?;
            let config = KnnConfig {
                k: args.k,
                temperature: args.temperature,
            };
            let top1 = knn_top1(&train, &test, &config, &device)?;
            let json = EvalRecord::new(
                EvalKind::Knn,
                serde_json::json!({
                    "top1": top1, "k": config.k, "temperature": config.temperature,
                    "data": args.eval.data,
                    "train_images": train.len(), "label_fraction": args.eval.label_fraction,
                    "encoder": run.as_ref().map_or(format!("random-init {}", args.eval.encoder), |p| p.display().to_string()),
                }),
            );
            report(
                &args.eval,
                run.as_deref(),
                &json,
                &format!(
                    "kNN top-1: {:.2}% (k = {}, T = {}, {} train / {} test images)",
                    100.0 * top1,
                    config.k,
                    config.temperature,
                    train.len(),
                    test.len()
                ),
            )
        }
        Command::Data(DataCommand::Download {
            name,
            dest,
            mirror,
            list,
        }) => {
            if list {
                for entry in pretext_data::download::known() {
                    println!("{:<14} {}", entry.name, entry.description);
                }
                return Ok(());
            }
            let name = name.context("name a dataset to download (or pass --list)")?;
            let options = pretext_data::download::DownloadOptions {
                mirror,
                ..Default::default()
            };
            let path = pretext_data::download::download(&name, &dest, &options)?;
            println!("{name} is ready: use --data {name}:{}", path.display());
            Ok(())
        }
        Command::Eval(EvalCommand::Task(args)) => {
            let mut overrides = Vec::new();
            if let Some(data) = &args.data {
                overrides.push(format!(
                    "data.dataset={}",
                    toml::Value::String(data.clone())
                ));
            }
            let split = parse_split(&args.split)?;
            let metrics = train::eval_task(&args.checkpoint, &overrides, split, args.limit)?;
            let fields = metrics
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect();
            let json = EvalRecord::new(EvalKind::Task, serde_json::Value::Object(fields));
            if args.json {
                println!("{}", json.to_line());
            } else {
                let text: Vec<String> =
                    metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                println!("pretext task on {} split: {}", args.split, text.join(", "));
            }
            json.append_to(&crate::checkpoint::run_dir(&args.checkpoint))
        }
        Command::Show(args) => show(args),
        Command::Retrieve(args) => retrieve(args),
        Command::Report(args) => {
            let options = crate::report::ReportOptions {
                map_points: args.map_points,
                device: args.device,
            };
            let page = crate::report::write(&args.runs, &args.out, &options)?;
            println!("wrote {}", page.display());
            Ok(())
        }
        Command::Export(args) => {
            crate::export::export_checkpoint(&args.checkpoint, &args.out, args.sample)?;
            println!("wrote {}", args.out.display());
            Ok(())
        }
        Command::Permutations(args) => {
            use pretext_data::permutations::{PermutationSet, Selection};
            let selection: Selection = toml::Value::String(args.selection.clone())
                .try_into()
                .map_err(|_| {
                    anyhow::anyhow!(
                        "unknown selection `{}`; use maximal, average or minimal",
                        args.selection
                    )
                })?;
            let set =
                PermutationSet::generate(args.count, args.min_distance, selection, args.seed)?;
            println!("{}", set.describe());
            if let Some(out) = &args.out {
                set.save(out)?;
                println!("written to {}", out.display());
            }
            Ok(())
        }
        Command::Data(DataCommand::Crops {
            source,
            out,
            size,
            per_image,
            max_zoom,
            test_fraction,
            seed,
            skip_corrupt,
        }) => {
            let options = pretext_data::prepare::CropOptions {
                size,
                per_image,
                max_zoom,
                test_fraction,
                seed,
                skip_corrupt,
            };
            let report = pretext_data::prepare::random_crops(&source, &out, &options)?;
            println!(
                "{} photos → {} training and {} test crops of {size}×{size} in {}; use --data folder:{}",
                report.photos,
                report.train,
                report.test,
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Data(DataCommand::Inspect {
            data,
            split,
            skip_corrupt,
        }) => {
            let spec: DataSpec = data.parse()?;
            let split = parse_split(&split)?;
            let options = pretext_data::source::OpenOptions { skip_corrupt };
            let report = pretext_data::inspect::inspect_spec(&spec, split, &options)
                .with_context(|| format!("cannot inspect {spec}"))?;
            print!("{report}");
            Ok(())
        }
    }
}

fn parse_split(name: &str) -> Result<Split> {
    Ok(match name {
        "train" => Split::Train,
        "test" => Split::Test,
        "unlabeled" => Split::Unlabeled,
        "train-unlabeled" => Split::TrainUnlabeled,
        other => bail!("unknown split `{other}`; use train, test, unlabeled or train-unlabeled"),
    })
}

fn pretrain(args: PretrainArgs) -> Result<()> {
    let mut overrides = Vec::new();
    let mut push = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            overrides.push(format!("{key}={}", toml::Value::String(v)));
        }
    };
    push("method.name", args.method.clone());
    push("data.dataset", args.data.clone());
    push("encoder.arch", args.encoder.clone());
    push(
        "train.out",
        args.out.as_ref().map(|p| p.display().to_string()),
    );
    overrides.extend(args.flags.overrides());

    // With --resume and no --config, the run directory's own config is the base (once the
    // run has started and written it; before that, the flags make the config as for a new
    // run, so that one command serves the first start and every restart).
    let config_path = match (&args.config, args.resume, &args.out) {
        (Some(path), _, _) => Some(path.clone()),
        (None, true, Some(out)) if out.join("config.toml").exists() => {
            Some(out.join("config.toml"))
        }
        _ => None,
    };
    let config = match &config_path {
        Some(path) => RunConfig::load(path, &overrides)?,
        None => {
            if args.method.is_none() || args.data.is_none() {
                bail!("pretrain needs --method and --data (or --config FILE)");
            }
            RunConfig::from_toml("", &overrides, "command line")?
        }
    };
    if let (true, Some(path)) = (args.resume, &config_path) {
        tracing::info!("resuming with {}", path.display());
    }
    let options = RunOptions {
        resume: args.resume,
        quiet: args.flags.quiet,
        measure: args
            .pipeline_only
            .map(train::Measure::Pipeline)
            .or(args.compute_only.map(train::Measure::Compute)),
    };
    let measure = options.measure;
    let summary = train::pretrain(config, options)?;
    match measure {
        Some(train::Measure::Pipeline(_)) => {
            println!("data pipeline: {:.1} images/s", summary.images_per_sec);
            return Ok(());
        }
        Some(train::Measure::Compute(_)) => {
            println!("training step: {:.1} images/s", summary.images_per_sec);
            use crate::kernels::profile::{layer_report, report};
            print!("{}", report(&summary.kernels, summary.step_seconds));
            print!("{}", layer_report(&summary.layers, summary.step_seconds));
            return Ok(());
        }
        None => {}
    }
    println!(
        "pretraining done: {} steps, last loss {:.4}, {:.0} images/s; run directory {}",
        summary.steps,
        summary.losses.last().copied().unwrap_or(f64::NAN),
        summary.images_per_sec,
        summary.out.display()
    );
    Ok(())
}

fn finetune(args: FinetuneArgs) -> Result<()> {
    let string = |key: &str, value: &str| format!("{key}={}", toml::Value::String(value.into()));
    let mut overrides = Vec::new();
    if !args.resume
        && let Some(from) = &args.from
    {
        overrides.extend(crate::finetune::overrides_from(from)?);
    }
    if let Some(data) = &args.data {
        overrides.push(string("data.dataset", data));
    }
    if let Some(encoder) = &args.encoder {
        overrides.push(string("encoder.arch", encoder));
    }
    overrides.push(string("train.out", &args.out.display().to_string()));
    // Without a config file, the recipe's length follows the label fraction (--epochs wins).
    let fraction = args.label_fraction.unwrap_or(1.0);
    let default_epochs =
        (args.config.is_none() && !args.resume).then(|| crate::finetune::default_epochs(fraction));
    let numbers = [
        (
            "data.label_fraction",
            args.label_fraction.map(|v| format!("{v:?}")),
        ),
        ("data.label_seed", args.label_seed.map(|v| v.to_string())),
        ("train.epochs", default_epochs.map(|v| v.to_string())),
        (
            "optim.encoder_lr_scale",
            args.encoder_lr_scale.map(|v| format!("{v:?}")),
        ),
        (
            "train.freeze_stages",
            args.freeze_stages.map(|v| v.to_string()),
        ),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            overrides.push(format!("{key}={value}"));
        }
    }
    overrides.extend(args.flags.overrides());
    let config = match (&args.config, args.resume) {
        (Some(path), _) => RunConfig::load(path, &overrides)?,
        (None, true) => RunConfig::load(&args.out.join("config.toml"), &overrides)?,
        (None, false) => {
            let knows_data = args.from.as_deref().is_some_and(|from| {
                crate::checkpoint::is_checkpoint(&crate::checkpoint::resolve(from))
            });
            if args.data.is_none() && !knows_data {
                bail!(
                    "finetune needs --data: {} does not say which labelled data to train on",
                    args.from
                        .as_ref()
                        .map_or("--scratch".to_string(), |p| p.display().to_string())
                );
            }
            RunConfig::from_toml(
                crate::finetune::RECIPE,
                &overrides,
                "the fine-tuning recipe",
            )?
        }
    };
    let options = RunOptions {
        resume: args.resume,
        quiet: args.flags.quiet,
        measure: None,
    };
    let data = config.data.dataset.to_string();
    let (_, result) = crate::finetune::finetune(config, options)?;
    let mut json = EvalRecord::new(EvalKind::Finetune, serde_json::to_value(&result)?);
    json.fields.insert("data".into(), serde_json::json!(data));
    if args.json {
        println!("{}", json.to_line());
    } else {
        println!(
            "fine-tuning test top-1: {:.2}% ({} labelled images, {} steps, from {}); run directory {}",
            100.0 * result.top1,
            result.train_images,
            result.steps,
            result
                .from
                .as_ref()
                .map_or("scratch".to_string(), |p| p.display().to_string()),
            result.out.display()
        );
    }
    json.append_to(&result.out)?;
    // The pretrained run keeps a record of how its encoder transferred.
    match &result.from {
        Some(from) if crate::checkpoint::is_checkpoint(&crate::checkpoint::resolve(from)) => {
            json.append_to(&crate::checkpoint::run_dir(from))
        }
        _ => Ok(()),
    }
}

fn show(args: ShowArgs) -> Result<()> {
    let mut overrides = Vec::new();
    if let Some(method) = &args.method {
        overrides.push(format!(
            "method.name={}",
            toml::Value::String(method.clone())
        ));
    }
    if let Some(data) = &args.data {
        overrides.push(format!(
            "data.dataset={}",
            toml::Value::String(data.clone())
        ));
    }
    overrides.extend(args.set.iter().cloned());
    let (config, checkpoint) = match &args.checkpoint {
        Some(path) => {
            let file = crate::checkpoint::resolve(path);
            let (header, _) = crate::checkpoint::Checkpoint::load_encoder(&file)?;
            (
                RunConfig::from_toml(&header.config, &overrides, &file.display().to_string())?,
                Some(file),
            )
        }
        None => {
            if args.method.is_none() || args.data.is_none() {
                bail!("show needs --checkpoint, or --method and --data");
            }
            (RunConfig::from_toml("", &overrides, "command line")?, None)
        }
    };
    train::show(config, checkpoint.as_deref(), args.count, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Features of the train and test splits for an evaluation, and the run directory if any.
fn eval_features(args: &EvalArgs) -> Result<(Features, Features, Option<PathBuf>)> {
    let spec: DataSpec = args.data.parse()?;
    let device = crate::device::parse(&args.device)?;
    let train_source = crate::dataset::open_subset(&spec, Split::Train, false, args.limit, 0)?;
    let test_source = crate::dataset::open(&spec, Split::Test, false)?;
    let (encoder, input, cache_dir, run) = match &args.checkpoint {
        Some(path) => {
            let (header, encoder) = crate::checkpoint::load_encoder(path, &device)?;
            let run = crate::checkpoint::run_dir(path);
            let tag = format!("step{}", header.step);
            (
                encoder,
                header.input,
                Some((run.join("features"), tag)),
                Some(run),
            )
        }
        None => {
            let arch: crate::encoder::Architecture = args.encoder.parse()?;
            let channels = train_source.channels();
            let size = match args.image_size {
                0 => crate::dataset::default_image_size(&spec, train_source.as_ref())?,
                n => n,
            };
            let config = crate::encoder::EncoderConfig {
                arch,
                width: args.width,
                ..Default::default()
            }
            .resolved(channels, size);
            config.validate()?;
            let (mean, std) = InputSpec::default_stats(spec.kind, channels);
            let input = InputSpec {
                space: crate::input::InputSpace::Native,
                channels,
                image_size: size,
                mean,
                std,
            };
            let tag = format!("random-{}-w{}-seed{}", arch.name(), args.width, args.seed);
            let cache = args.cache_dir.clone().map(|dir| (dir, tag));
            let encoder = crate::device::seeded(&device, args.seed, || config.init(&device));
            (encoder, input, cache, None)
        }
    };
    let cache = |split: &str| {
        let subset = match (split, args.limit) {
            ("train", n) if n > 0 => format!("-limit{n}"),
            _ => String::new(),
        };
        cache_dir.as_ref().map(|(dir, tag)| {
            dir.join(format!(
                "{}-{split}{subset}-{tag}-{}px.feat",
                spec.kind.name(),
                input.image_size
            ))
        })
    };
    let get = |source: &dyn pretext_data::ImageSource, split: &str| {
        features::extract_cached(cache(split).as_deref(), || {
            tracing::info!("computing {split} features of {}", source.origin());
            features::extract(&encoder, &input, source, &device, args.batch_size)
        })
    };
    let mut train = get(train_source.as_ref(), "train")?;
    let test = get(test_source.as_ref(), "test")?;
    if let Some(kept) = label_subset(&train.labels, args)? {
        train = Features {
            data: kept
                .iter()
                .flat_map(|&i| train.row(i).iter().copied())
                .collect(),
            labels: kept.iter().map(|&i| train.labels[i]).collect(),
            ..train
        };
    }
    Ok((train, test, run))
}

/// The training images `--label-fraction` keeps, given their labels (`None`: all of them).
fn label_subset(labels: &[u32], args: &EvalArgs) -> Result<Option<Vec<usize>>> {
    if args.label_fraction == 1.0 {
        return Ok(None);
    }
    let labels: Vec<Option<u32>> = labels.iter().map(|&l| Some(l)).collect();
    Ok(Some(pretext_data::label_fraction::per_class_subset(
        &labels,
        args.label_fraction,
        args.label_seed,
    )?))
}

fn report(args: &EvalArgs, run: Option<&Path>, record: &EvalRecord, line: &str) -> Result<()> {
    if args.json {
        println!("{}", record.to_line());
    } else {
        println!("{line}");
    }
    match run {
        Some(run) => record.append_to(run),
        None => Ok(()),
    }
}

fn retrieve(args: RetrieveArgs) -> Result<()> {
    use crate::eval::retrieval;
    let (gallery, mut queries, run) = eval_features(&args.eval)?;
    if args.queries > 0 && args.queries < queries.len() {
        queries.data.truncate(args.queries * queries.dim);
        queries.labels.truncate(args.queries);
    }
    let device = crate::device::parse(&args.eval.device)?;
    let scores = retrieval::evaluate(&gallery, &queries, &args.k, &device)?;
    if let Some(png) = &args.show {
        let spec: DataSpec = args.eval.data.parse()?;
        let gallery_images =
            crate::dataset::open_subset(&spec, Split::Train, false, args.eval.limit, 0)?;
        let query_images = crate::dataset::open(&spec, Split::Test, false)?;
        let shown = retrieval::neighbours(&gallery, &queries, args.show_count, 8, &device)?;
        // Gallery rows are the kept training images when --label-fraction thinned them.
        let labels: Vec<u32> = (0..gallery_images.len())
            .map(|i| gallery_images.label(i).unwrap_or(0))
            .collect();
        let image_of = label_subset(&labels, &args.eval)?;
        let image_of = |row: usize| image_of.as_ref().map_or(row, |kept| kept[row]);
        let name = |labels: &[u32], i: usize| {
            let label = labels[i];
            query_images
                .classes()
                .and_then(|c| c.get(label as usize).cloned())
                .unwrap_or_else(|| label.to_string())
        };
        let mut grid = pretext_data::grid::Grid::new(9, 64);
        for (q, ranking) in shown.iter().enumerate() {
            grid.push(
                &query_images.get(q)?,
                &format!("query: {}", name(&queries.labels, q)),
            );
            for &g in ranking {
                let mark = if gallery.labels[g] == queries.labels[q] {
                    "+"
                } else {
                    "-"
                };
                grid.push(
                    &gallery_images.get(image_of(g))?,
                    &format!("{mark} {}", name(&gallery.labels, g)),
                );
            }
        }
        grid.save_png(png)?;
    }
    let precision: serde_json::Map<String, serde_json::Value> = scores
        .precision
        .iter()
        .map(|(k, p)| (format!("p@{k}"), serde_json::json!(p)))
        .collect();
    let json = EvalRecord::new(
        EvalKind::Retrieval,
        serde_json::json!({
            "map": scores.map, "precision": precision,
            "queries": scores.queries, "gallery": scores.gallery, "data": args.eval.data,
            "encoder": run.as_ref().map_or(format!("random-init {}", args.eval.encoder), |p| p.display().to_string()),
        }),
    );
    let text: Vec<String> = scores
        .precision
        .iter()
        .map(|(k, p)| format!("P@{k} {:.2}%", 100.0 * p))
        .collect();
    report(
        &args.eval,
        run.as_deref(),
        &json,
        &format!(
            "retrieval: mAP {:.2}%, {} ({} queries, gallery of {})",
            100.0 * scores.map,
            text.join(", "),
            scores.queries,
            scores.gallery
        ),
    )
}

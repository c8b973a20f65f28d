//! The `pretext` command line: it parses ([`args`]), calls one function per command, and
//! prints what came back.

pub mod args;

pub use args::*;

use crate::config::{Overrides, RunConfig};
use crate::encoder::Architecture;
use crate::eval::record::EvalRecord;
use crate::train::{self, RunOptions};
use anyhow::{Context, Result, bail};
use pretext_data::Split;
use std::path::PathBuf;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let ranks = crate::distributed::ranks();
    if ranks.size > 1 && !matches!(cli.command, Command::Pretrain(_)) {
        bail!(
            "only `pretext pretrain` runs as several MPI ranks ({} were started); run this \
             command as one process",
            ranks.size
        );
    }
    match cli.command {
        Command::Pretrain(args) => pretrain(args),
        Command::Finetune(args) => finetune(args),
        Command::Detect(args) => detect(args),
        Command::Segment(args) => segment(args),
        Command::Eval(EvalCommand::Linear(args)) => eval_linear(args),
        Command::Eval(EvalCommand::Knn(args)) => eval_knn(args),
        Command::Eval(EvalCommand::Task(args)) => eval_task(args),
        Command::Eval(EvalCommand::Boxes(args)) => eval_boxes(args),
        Command::Retrieve(args) => retrieve(args),
        Command::Show(args) => show(args),
        Command::Report(args) => report(args),
        Command::Export(args) => export(args),
        Command::Permutations(args) => permutations(args),
        Command::Data(DataCommand::Download(args)) => download(args),
        Command::Data(DataCommand::Crops(args)) => crops(args),
        Command::Data(DataCommand::Inspect(args)) => inspect(args),
        Command::Data(DataCommand::Scenes(args)) => scenes(args),
        Command::Data(DataCommand::Shards(args)) => shards(args),
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
    let mut overrides = Overrides::default();
    overrides
        .set_some("method.name", args.method.as_ref())?
        .set_some("data.dataset", args.data.as_ref())?
        .set_some("encoder.arch", args.encoder.as_ref())?
        .set_some("train.out", args.out.as_ref())?;
    args.flags.add_to(&mut overrides)?;
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
        Some(path) => RunConfig::load(path, overrides.lines())?,
        None if args.method.is_none() || args.data.is_none() => {
            bail!("pretrain needs --method and --data (or --config FILE)")
        }
        None => RunConfig::from_toml("", overrides.lines(), "command line")?,
    };
    if let (true, Some(path)) = (args.resume, &config_path) {
        tracing::info!("resuming with {}", path.display());
    }
    if let Some(steps) = args.compute_only {
        let found = train::measure(config, train::Measure::Compute(steps))?;
        println!("training step: {:.1} images/s", found.images_per_sec);
        use crate::kernels::profile::{layer_report, report};
        print!("{}", report(&found.kernels, found.step_seconds));
        print!("{}", layer_report(&found.layers, found.step_seconds));
        return Ok(());
    }
    if let Some(batches) = args.pipeline_only {
        let found = train::measure(config, train::Measure::Pipeline(batches))?;
        println!("data pipeline: {:.1} images/s", found.images_per_sec);
        return Ok(());
    }
    let options = RunOptions {
        resume: args.resume,
        quiet: args.flags.quiet,
    };
    let summary = train::pretrain(config, options)?;
    if !crate::distributed::ranks().is_first() {
        return Ok(());
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
    let t = &args.transfer;
    let mut overrides = Overrides::default();
    let arch = match (&t.from, &t.encoder) {
        (Some(from), _) if !t.resume => crate::finetune::add_overrides_from(from, &mut overrides)?,
        (_, Some(name)) => name.parse()?,
        _ => Architecture::ConvnetSmall,
    };
    // Without a config file, the recipe's length follows the label fraction (--epochs wins).
    let fraction = args.label_fraction.unwrap_or(1.0);
    let default_epochs =
        (t.config.is_none() && !t.resume).then(|| crate::finetune::default_epochs(fraction));
    overrides
        .set_some("data.dataset", args.data.as_ref())?
        .set_some("data.label_fraction", args.label_fraction)?
        .set_some("data.label_seed", args.label_seed)?
        .set_some("train.epochs", default_epochs)?
        .set_some("optim.encoder_lr_scale", args.encoder_lr_scale)?
        .set_some("optim.layer_decay", args.layer_decay)?;
    let config = transfer_config(t, overrides, || {
        let knows_data = t.from.as_deref().is_some_and(|from| {
            crate::checkpoint::is_checkpoint(&crate::checkpoint::resolve(from))
        });
        if args.data.is_none() && !knows_data {
            bail!(
                "finetune needs --data: {} does not say which labelled data to train on",
                t.from
                    .as_ref()
                    .map_or("--scratch".to_string(), |p| p.display().to_string())
            );
        }
        Ok((crate::finetune::recipe(arch), "the fine-tuning recipe"))
    })?;
    let (record, runs) = crate::finetune::finetune(config, t.options())?;
    publish(&record, t.json, &runs)
}

fn detect(args: DetectArgs) -> Result<()> {
    let recipe = (crate::detection::RECIPE, "the detection recipe");
    dense_transfer(args, recipe, crate::detection::detect)
}

fn segment(args: DetectArgs) -> Result<()> {
    let recipe = (crate::segmentation::RECIPE, "the segmentation recipe");
    dense_transfer(args, recipe, crate::segmentation::segment)
}

/// A transfer command's work: train the run a config describes, score it, and return the
/// record with the run directories it belongs in.
type TransferRun = fn(RunConfig, RunOptions) -> Result<(EvalRecord, Vec<PathBuf>)>;

/// `detect` and `segment`: the encoder of `--from` with its normalisation at the data's own
/// image size, `recipe` unless a config is given, then `run` and its record published.
fn dense_transfer(
    args: DetectArgs,
    recipe: (&'static str, &'static str),
    run: TransferRun,
) -> Result<()> {
    let t = &args.transfer;
    let mut overrides = Overrides::default();
    if let (Some(from), false) = (&t.from, t.resume) {
        crate::detection::add_overrides_from(from, &mut overrides)?;
    }
    overrides.set_some("data.dataset", args.data.as_ref())?;
    let config = transfer_config(t, overrides, || Ok(recipe))?;
    let (record, runs) = run(config, t.options())?;
    publish(&record, t.json, &runs)
}

/// The run config of a transfer command: `overrides` (the command's own), then its shared
/// flags, on `--config`, on the run's own config when resuming, or else on the built-in
/// recipe `recipe` returns (its text and name).
fn transfer_config(
    t: &TransferArgs,
    mut overrides: Overrides,
    recipe: impl FnOnce() -> Result<(&'static str, &'static str)>,
) -> Result<RunConfig> {
    overrides
        .set_some("encoder.arch", t.encoder.as_ref())?
        .set("train.out", &t.out)?
        .set_some("train.freeze_stages", t.freeze_stages)?;
    t.flags.add_to(&mut overrides)?;
    match (&t.config, t.resume) {
        (Some(path), _) => RunConfig::load(path, overrides.lines()),
        (None, true) => RunConfig::load(&t.out.join("config.toml"), overrides.lines()),
        (None, false) => {
            let (text, origin) = recipe()?;
            RunConfig::from_toml(text, overrides.lines(), origin)
        }
    }
}

/// Prints `record` (as its JSON line with `--json`) and appends it to the `eval.jsonl` of
/// every run directory in `runs`.
fn publish(record: &EvalRecord, json: bool, runs: &[PathBuf]) -> Result<()> {
    match json {
        true => println!("{}", record.to_line()),
        false => println!("{record}"),
    }
    runs.iter().try_for_each(|run| record.append_to(run))
}

fn eval_linear(args: EvalArgs) -> Result<()> {
    let (record, run) = crate::eval::frozen::linear(&args.setup()?)?;
    publish(&record, args.json, run.as_slice())
}

fn eval_knn(args: KnnArgs) -> Result<()> {
    let config = crate::eval::knn::KnnConfig {
        k: args.k,
        temperature: args.temperature,
    };
    let (record, run) = crate::eval::frozen::knn(&args.eval.setup()?, &config)?;
    publish(&record, args.eval.json, run.as_slice())
}

fn retrieve(args: RetrieveArgs) -> Result<()> {
    let (record, run) = crate::eval::frozen::retrieve(&args.eval.setup()?, &args.options())?;
    publish(&record, args.eval.json, run.as_slice())
}

fn eval_task(args: TaskArgs) -> Result<()> {
    let mut overrides = Overrides::default();
    overrides.set_some("data.dataset", args.data.as_ref())?;
    let split = parse_split(&args.split)?;
    let metrics = train::eval_task(&args.checkpoint, overrides.lines(), split, args.limit)?;
    let record = EvalRecord::Task {
        split: args.split,
        metrics: metrics.into_iter().collect(),
    };
    let run = crate::checkpoint::run_dir(&args.checkpoint);
    publish(&record, args.json, &[run])
}

fn eval_boxes(args: BoxesArgs) -> Result<()> {
    let spec: pretext_data::DataSpec = args.truth.parse()?;
    let truth = pretext_data::annotations::open(&spec, parse_split(&args.split)?)?;
    let scores = crate::eval::box_ap::score_file(&truth, &args.results)?;
    match args.json {
        true => println!("{}", serde_json::to_string(&scores)?),
        false => print!("{scores}"),
    }
    Ok(())
}

fn show(args: ShowArgs) -> Result<()> {
    let mut overrides = Overrides::default();
    overrides
        .set_some("method.name", args.method.as_ref())?
        .set_some("data.dataset", args.data.as_ref())?
        .extend(args.set.iter().cloned());
    let (config, checkpoint) = match &args.checkpoint {
        Some(path) => {
            let file = crate::checkpoint::resolve(path);
            let (header, _) = crate::checkpoint::Checkpoint::load_encoder(&file)?;
            let origin = file.display().to_string();
            let config = RunConfig::from_toml(&header.config, overrides.lines(), &origin)?;
            (config, Some(file))
        }
        None if args.method.is_none() || args.data.is_none() => {
            bail!("show needs --checkpoint, or --method and --data")
        }
        None => (
            RunConfig::from_toml("", overrides.lines(), "command line")?,
            None,
        ),
    };
    for path in train::show(config, checkpoint.as_deref(), args.count, &args.out)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn report(args: ReportArgs) -> Result<()> {
    let options = crate::report::ReportOptions {
        map_points: args.map_points,
        device: args.device,
    };
    let page = crate::report::write(&args.runs, &args.out, &options)?;
    println!("wrote {}", page.display());
    Ok(())
}

fn export(args: ExportArgs) -> Result<()> {
    crate::export::export_checkpoint(&args.checkpoint, &args.out, args.sample)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn permutations(args: PermutationArgs) -> Result<()> {
    use pretext_data::permutations::{PermutationSet, Selection};
    let selection: Selection = toml::Value::String(args.selection.clone())
        .try_into()
        .map_err(|_| {
            anyhow::anyhow!(
                "unknown selection `{}`; use maximal, average or minimal",
                args.selection
            )
        })?;
    let set = PermutationSet::generate(args.count, args.min_distance, selection, args.seed)?;
    println!("{}", set.describe());
    if let Some(out) = &args.out {
        set.save(out)?;
        println!("written to {}", out.display());
    }
    Ok(())
}

fn download(args: DownloadArgs) -> Result<()> {
    if args.list {
        for entry in pretext_data::download::known() {
            println!("{:<14} {}", entry.name, entry.description);
        }
        return Ok(());
    }
    let name = args
        .name
        .context("name a dataset to download (or pass --list)")?;
    let options = pretext_data::download::DownloadOptions {
        mirror: args.mirror,
        ..Default::default()
    };
    let path = pretext_data::download::download(&name, &args.dest, &options)?;
    println!("{name} is ready: use --data {name}:{}", path.display());
    Ok(())
}

fn crops(args: CropArgs) -> Result<()> {
    let options = pretext_data::prepare::CropOptions {
        size: args.size,
        per_image: args.per_image,
        max_zoom: args.max_zoom,
        test_fraction: args.test_fraction,
        seed: args.seed,
        skip_corrupt: args.skip_corrupt,
    };
    let report = pretext_data::prepare::random_crops(&args.source, &args.out, &options)?;
    let (out, size) = (args.out.display(), args.size);
    println!(
        "{} photos → {} training and {} test crops of {size}×{size} in {out}; use --data folder:{out}",
        report.photos, report.train, report.test,
    );
    Ok(())
}

fn scenes(args: ScenesArgs) -> Result<()> {
    let spec: pretext_data::DataSpec = args.from.parse()?;
    let options = pretext_data::scenes::SceneOptions {
        size: args.size,
        train: args.train,
        test: args.test,
        objects: [args.min_objects, args.max_objects],
        scale: [args.min_scale, args.max_scale],
        max_overlap: args.max_overlap,
        background: args.background.parse()?,
        seed: args.seed,
    };
    let open = |split| crate::dataset::open(&spec, split, false);
    let (train, test) = (open(Split::Train)?, open(Split::Test)?);
    let report =
        pretext_data::scenes::make_scenes(train.as_ref(), test.as_ref(), &args.out, &options)?;
    let out = args.out.display();
    println!(
        "{} training scenes ({} objects) and {} test scenes ({} objects) in {out}; use --data coco:{out}/annotations/instances_train.json",
        report.train, report.train_objects, report.test, report.test_objects
    );
    Ok(())
}

fn shards(args: ShardsArgs) -> Result<()> {
    let spec: pretext_data::DataSpec = args.data.parse()?;
    let train = crate::dataset::open(&spec, Split::Train, false)?;
    let test = match crate::dataset::open(&spec, Split::Test, false) {
        Ok(test) => Some(test),
        Err(err) => {
            tracing::info!("{spec}: no test split written ({err:#})");
            None
        }
    };
    let manifest = pretext_data::shards::write_dataset(
        train.as_ref(),
        test.as_deref(),
        &spec.to_string(),
        &args.out,
        args.per_shard,
        |_| {},
    )?;
    for (split, shards) in &manifest.splits {
        let samples: usize = shards.iter().map(|s| s.samples.len()).sum();
        println!("{split}: {samples} samples in {} shards", shards.len());
    }
    println!(
        "wrote {} with its manifest; use --data shards:{}",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

fn inspect(args: InspectArgs) -> Result<()> {
    let spec: pretext_data::DataSpec = args.data.parse()?;
    let split = parse_split(&args.split)?;
    let options = pretext_data::source::OpenOptions {
        skip_corrupt: args.skip_corrupt,
        ..Default::default()
    };
    let report = pretext_data::inspect::inspect_spec(&spec, split, &options)
        .with_context(|| format!("cannot inspect {spec}"))?;
    print!("{report}");
    Ok(())
}

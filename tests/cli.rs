//! The command line as a user meets it: help, a pretrain → eval round trip, resume after a
//! kill, and clear errors for bad input that leave existing runs untouched.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::pretext;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn data_arg(dir: &Path) -> String {
    format!("fashion-mnist:{}", dir.display())
}

/// One epoch of rotation with a quarter-width ConvNet on the IDX data in `data`, into `run`.
fn pretrain_rotation(data: &Path, run: &Path) -> Output {
    pretrain_rotation_with(data, run, &[])
}

/// [`pretrain_rotation`] with more arguments (`--set` overrides).
fn pretrain_rotation_with(data: &Path, run: &Path, extra: &[&str]) -> Output {
    let data = data_arg(data);
    let mut args = vec![
        "pretrain",
        "--method",
        "rotation",
        "--data",
        &data,
        "--encoder",
        "convnet-small",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--out",
        run.to_str().unwrap(),
        "--set",
        "encoder.width=0.25",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = pretext(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn help_lists_the_commands() {
    let out = pretext(&["--help"]);
    assert!(out.status.success());
    for cmd in ["pretrain", "eval", "data"] {
        assert!(stdout(&out).contains(cmd), "{cmd}");
    }
    let out = pretext(&["pretrain", "--help"]);
    assert!(stdout(&out).contains("--resume") && stdout(&out).contains("--set"));
}

#[test]
fn pretrain_then_linear_and_knn_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 200, 100);
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let out = pretrain_rotation(&data, &run);
    assert!(stdout(&out).contains("pretraining done"));

    let out = pretext(&[
        "eval",
        "linear",
        "--checkpoint",
        run_s,
        "--data",
        &data_arg(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("linear probe top-1"),
        "{}",
        stdout(&out)
    );
    // Features were cached: the kNN evaluation reuses them.
    assert!(std::fs::read_dir(run.join("features")).unwrap().count() >= 2);

    let out = pretext(&[
        "eval",
        "knn",
        "--checkpoint",
        run_s,
        "--data",
        &data_arg(&data),
        "--k",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let top1 = json["top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1));
    let evals = std::fs::read_to_string(run.join("eval.jsonl")).unwrap();
    assert_eq!(evals.lines().count(), 2);

    // A tenth of the labels, chosen per class: 20 of the 200 training images (10 classes).
    let out = pretext(&[
        "eval",
        "linear",
        "--checkpoint",
        run_s,
        "--data",
        &data_arg(&data),
        "--label-fraction",
        "0.1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["train_images"].as_u64(), Some(20), "{json}");

    let out = pretext(&[
        "eval",
        "knn",
        "--random-init",
        "--encoder",
        "convnet-small",
        "--width",
        "0.25",
        "--data",
        &data_arg(&data),
        "--k",
        "20",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("kNN top-1"));

    // Retrieval: precision@k and mAP, and a picture of queries and their neighbours.
    let png = dir.path().join("neighbours.png");
    let out = pretext(&[
        "retrieve",
        "--checkpoint",
        run_s,
        "--data",
        &data_arg(&data),
        "--k",
        "1,5",
        "--queries",
        "40",
        "--show",
        png.to_str().unwrap(),
        "--show-count",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["queries"].as_u64(), Some(40));
    for key in ["p@1", "p@5"] {
        let p = json["precision"][key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{key} {p}");
    }
    let map = json["map"].as_f64().unwrap();
    assert!(map > 0.0 && map <= 1.0, "{map}");
    let picture = image::open(&png).unwrap();
    assert!(picture.width() > 9 * 28 && picture.height() > 3 * 28);
}

/// A DINO checkpoint transfers its teacher; `--online` scores the student instead, with its
/// own feature cache and a record that says so.
/// DINO at width 0.25 with a small head and two local crops, batches of 16, plus `extra`.
fn pretrain_small_dino(data: &str, run: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "pretrain",
        "--method",
        "dino",
        "--data",
        data,
        "--batch-size",
        "16",
        "--out",
        run,
        "--quiet",
        "--set",
        "encoder.width=0.25",
        "--set",
        "method.head={hidden=[64], out=16, batch_norm=false, activation=\"gelu\"}",
        "--set",
        "method.out_dim=64",
        "--set",
        "method.local_crops=2",
    ];
    args.extend_from_slice(extra);
    pretext(&args)
}

#[test]
fn dino_transfers_the_teacher_and_online_scores_the_student() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 96, 60);
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let data = data_arg(&data);
    let out = pretrain_small_dino(&data, run_s, &["--epochs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let knn = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["eval", "knn", "--data", &data, "--checkpoint", run_s];
        args.extend_from_slice(extra);
        args.extend(["--k", "5", "--json"]);
        let out = pretext(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(stdout(&out).trim()).unwrap()
    };
    let teacher = knn(&[]);
    let student = knn(&["--online"]);
    assert!(
        student["encoder"]
            .as_str()
            .unwrap()
            .ends_with("(online encoder)")
            && !teacher["encoder"].as_str().unwrap().contains("online"),
        "{teacher} {student}"
    );
    let mut caches: Vec<String> = std::fs::read_dir(run.join("features"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    caches.sort();
    assert_eq!(caches.len(), 4, "{caches:?}");
    let (online, transfer): (Vec<_>, Vec<_>) = caches.iter().partition(|c| c.contains("-online"));
    assert_eq!((online.len(), transfer.len()), (2, 2), "{caches:?}");
    // Two encoders, two sets of features.
    let read = |name: &str| std::fs::read(run.join("features").join(name)).unwrap();
    assert_ne!(read(online[0]), read(transfer[0]));
    // --online needs a checkpoint.
    let out = pretext(&["eval", "knn", "--data", &data, "--random-init", "--online"]);
    assert!(!out.status.success());
}

#[test]
fn a_vit_pretrains_with_dino_multi_crop_and_exports_under_timm_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 64, 40);
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let data = data_arg(&data);
    // DINO's local crops (12 px) reach the ViT built for 28 px through resampled position
    // embeddings.
    let out = pretrain_small_dino(
        &data,
        run_s,
        &[
            "--epochs",
            "1",
            "--encoder",
            "vit-tiny",
            "--set",
            "encoder.depth=2",
            "--set",
            "encoder.drop_path=0.2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    for key in [
        "arch = \"vit-tiny\"",
        "image_size = 28",
        "patch_size = 4",
        "depth = 2",
    ] {
        assert!(config.contains(key), "{key} not in\n{config}");
    }
    let out = pretext(&[
        "eval",
        "knn",
        "--data",
        &data,
        "--checkpoint",
        run_s,
        "--k",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(record["top1"].as_f64().unwrap() > 0.0, "{record}");

    // `show` draws the teacher's CLS attention per head beside the method's picture.
    let png = dir.path().join("dino.png");
    let out = pretext(&[
        "show",
        "--checkpoint",
        run_s,
        "--count",
        "3",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let attention = dir.path().join("dino-attention.png");
    assert!(
        stdout(&out).contains("dino-attention.png"),
        "{}",
        stdout(&out)
    );
    let picture = image::open(&attention).unwrap();
    // Three rows of the image and its 3 heads.
    assert!(
        picture.width() > picture.height(),
        "{}x{}",
        picture.width(),
        picture.height()
    );

    let exported = dir.path().join("vit.safetensors");
    let out = pretext(&[
        "export",
        "--checkpoint",
        run_s,
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&exported).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shape = |name: &str| -> Vec<usize> {
        file.tensor(name)
            .unwrap_or_else(|_| panic!("{name} missing from {:?}", file.names()))
            .shape()
            .to_vec()
    };
    assert_eq!(shape("patch_embed.proj.weight"), [48, 1, 4, 4]);
    assert_eq!(shape("cls_token"), [1, 1, 48]);
    assert_eq!(shape("pos_embed"), [1, 50, 48]);
    assert_eq!(shape("blocks.1.attn.qkv.weight"), [144, 48]);
    assert_eq!(shape("blocks.1.mlp.fc1.weight"), [192, 48]);
    assert_eq!(shape("blocks.0.norm1.weight"), [48]);
    assert_eq!(shape("norm.bias"), [48]);

    // Fine-tuning a ViT takes MAE's recipe (AdamW, layer-wise decay, drop-path, label
    // smoothing) on the pretrained shape; --layer-decay overrides the recipe's 0.75.
    let ft = dir.path().join("ft");
    let out = pretext(&[
        "finetune",
        "--from",
        run_s,
        "--layer-decay",
        "0.6",
        "--max-steps",
        "2",
        "--batch-size",
        "16",
        "--out",
        ft.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(ft.join("config.toml")).unwrap();
    for key in [
        "name = \"adamw\"",
        "layer_decay = 0.6",
        "label_smoothing = 0.1",
        "head_norm = false",
        "depth = 2",
        "patch_size = 4",
        "drop_path = 0.1",
    ] {
        assert!(config.contains(key), "{key} not in\n{config}");
    }
}

/// `--precise-bn N` re-estimates the batch-norm statistics before the features (recorded,
/// cached apart, a different score), and `--random-init --like RUN` builds the random
/// encoder the way RUN's encoder is built and fed (here: the run's 0.25 width and a 20-px
/// input the default random encoder would not take).
#[test]
fn precise_batch_norm_and_matched_random_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 200, 100);
    let run = dir.path().join("run");
    pretrain_rotation_with(&data, &run, &["--set", "data.image_size=20"]);
    let knn = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["eval", "knn", "--data"];
        let data = data_arg(&data);
        args.push(&data);
        args.extend_from_slice(extra);
        args.extend(["--k", "20", "--json"]);
        let out = pretext(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(stdout(&out).trim()).unwrap()
    };
    let run_s = run.to_str().unwrap();
    let plain = knn(&["--checkpoint", run_s]);
    let precise = knn(&["--checkpoint", run_s, "--precise-bn", "64"]);
    assert_eq!(plain["precise_bn"].as_u64(), Some(0), "{plain}");
    assert_eq!(precise["precise_bn"].as_u64(), Some(64), "{precise}");
    let mut caches: Vec<std::path::PathBuf> = std::fs::read_dir(run.join("features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    caches.sort();
    assert_eq!(caches.len(), 4, "{caches:?}");
    let (precise_caches, own): (Vec<_>, Vec<_>) = caches
        .iter()
        .partition(|c| c.to_string_lossy().contains("-pbn64"));
    assert_eq!((precise_caches.len(), own.len()), (2, 2), "{caches:?}");
    // Other statistics, other features.
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    assert_ne!(read(precise_caches[0]), read(own[0]));
    // Without a value the flag means 10,000 images (all 200 here).
    let default = knn(&["--checkpoint", run_s, "--precise-bn"]);
    assert_eq!(default["precise_bn"].as_u64(), Some(10000), "{default}");

    let cache = dir.path().join("random");
    let like = ["--random-init", "--like", run_s, "--cache-dir"];
    let mut args = like.to_vec();
    args.push(cache.to_str().unwrap());
    let matched = knn(&args);
    assert!(
        matched["encoder"].as_str().unwrap().contains("like"),
        "{matched}"
    );
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.ends_with("-20px.feat")), "{names:?}");
    // --like takes the architecture from the run: naming one as well is refused.
    let out = pretext(&[
        "eval",
        "knn",
        "--data",
        &data_arg(&data),
        "--random-init",
        "--like",
        run_s,
        "--encoder",
        "resnet18",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--encoder"), "{}", stderr(&out));
    let out = pretext(&["eval", "knn", "--data", &data_arg(&data), "--like", run_s]);
    assert!(!out.status.success() && stderr(&out).contains("--random-init"));
}

#[test]
fn a_killed_run_resumes_from_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 256, 10);
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pretext"))
        .args([
            "pretrain",
            "--method",
            "rotation",
            "--data",
            &data_arg(&data),
            "--epochs",
            "20",
            "--batch-size",
            "16",
            "--out",
            run_s,
            "--set",
            "encoder.width=0.25",
            "--set",
            "train.checkpoint_every=2",
            "--quiet",
        ])
        .spawn()
        .unwrap();
    let ckpt = run.join("checkpoint.ckpt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ckpt.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ckpt.exists(), "no checkpoint within 120 s");
    let out = pretext(&[
        "pretrain",
        "--config",
        run.join("config.toml").to_str().unwrap(),
        "--resume",
        "--max-steps",
        "6",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("6 steps"), "{}", stdout(&out));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 6);
}

/// A build without the `mpi` feature that an MPI launcher started as one of several ranks
/// stops and says how to build with MPI, instead of each copy training alone into the same
/// directory.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_be_one_of_several_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Open MPI's mpirun, Hydra or Slurm's PMI-2, a Slurm job step (srun).
    for launcher in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"] {
        let output = Command::new(env!("CARGO_BIN_EXE_pretext"))
            .args([
                "pretrain",
                "--method",
                "rotation",
                "--data",
                "fashion-mnist:/nowhere",
            ])
            .arg("--out")
            .arg(&out)
            .env(launcher, "2")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(
            err.contains("one of 2 MPI ranks") && err.contains("--features mpi"),
            "{launcher}: {err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 32, 10);
    let d = data_arg(&data);
    let cases: Vec<(Vec<String>, &str)> = vec![
        // A flag offers the registered names (clap suggests the nearest); a config names
        // any, and the registry refuses the unknown one.
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotatoin".into(),
                "--data".into(),
                d.clone(),
            ],
            "a similar value exists: 'rotation'",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                d.clone(),
                "--set".into(),
                "method.name=\"rotatoin\"".into(),
            ],
            "unknown method `rotatoin`",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                d.clone(),
                "--encoder".into(),
                "resnet19".into(),
            ],
            "resnet19",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                d.clone(),
                "--set".into(),
                "optim.learnig_rate=1".into(),
            ],
            "learnig_rate",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                d.clone(),
                "--set".into(),
                "method.colour=1".into(),
            ],
            "colour",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                d.clone(),
                "--set".into(),
                "train.precision=fp16".into(),
            ],
            "unknown variant `fp16`, expected `fp32` or `bf16`",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                "fashion-mnist:/no/such/dir".into(),
            ],
            "/no/such/dir: no such file or folder",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                d.clone(),
                "--set".into(),
                "train.batch_size=x".into(),
            ],
            "train.batch_size=x (command line): invalid type: string \"x\", expected a whole number",
        ),
        (
            vec![
                "pretrain".into(),
                "--method".into(),
                "rotation".into(),
                "--data".into(),
                "imagenet:/x".into(),
            ],
            "unknown dataset kind",
        ),
        (
            vec![
                "eval".into(),
                "linear".into(),
                "--checkpoint".into(),
                dir.path().join("nope").display().to_string(),
                "--data".into(),
                d.clone(),
            ],
            "nope",
        ),
        (
            vec!["pretrain".into(), "--config".into(), "/no/such.toml".into()],
            "/no/such.toml",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pretext(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(
            err.contains(expected),
            "{args:?}: expected `{expected}` in: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        // An error chain does not repeat its cause (an I/O error said once).
        assert!(err.matches("no such file").count() <= 1, "{args:?}: {err}");
    }
}

#[test]
fn data_inspect_prints_counts_and_classes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 50, 10);
    let out = pretext(&["data", "inspect", &data_arg(&data)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("50") && text.contains("28") && text.contains("Ankle boot"),
        "{text}"
    );
    let out = pretext(&[
        "pretrain",
        "--method",
        "rotation",
        "--data",
        &data_arg(&data),
        "--batch-size",
        "8",
        "--pipeline-only",
        "3",
        "--out",
        dir.path().join("never").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("data pipeline:"), "{}", stdout(&out));
    assert!(
        !dir.path().join("never").exists(),
        "--pipeline-only writes nothing"
    );
    let out = pretext(&["data", "download", "--list"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("cifar10"));
}

/// `data scenes` composes a COCO detection set from Fashion-MNIST's items that the COCO
/// reader, `data inspect` and pretraining take.
#[test]
fn data_scenes_writes_a_coco_detection_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 40, 20);
    let out = dir.path().join("scenes");
    let scenes = pretext(&[
        "data",
        "scenes",
        "--from",
        &data_arg(&data),
        "--out",
        out.to_str().unwrap(),
        "--size",
        "64",
        "--train",
        "12",
        "--test",
        "4",
        "--background",
        "noise",
    ]);
    assert!(scenes.status.success(), "{}", stderr(&scenes));
    assert!(
        stdout(&scenes).contains("12 training scenes"),
        "{}",
        stdout(&scenes)
    );
    for split in ["train", "test"] {
        let spec = format!(
            "coco:{}",
            out.join("annotations/instances_train.json").display()
        );
        let inspect = pretext(&["data", "inspect", &spec, "--split", split]);
        assert!(inspect.status.success(), "{}", stderr(&inspect));
        assert!(
            stdout(&inspect).contains("Ankle boot"),
            "{}",
            stdout(&inspect)
        );
    }
    let bad = pretext(&[
        "data",
        "scenes",
        "--from",
        &data_arg(&data),
        "--out",
        out.to_str().unwrap(),
        "--background",
        "plaid",
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unknown background `plaid`"),
        "{}",
        stderr(&bad)
    );
}

/// `pretext data shards` writes a dataset's splits as tar shards, and a run on them takes the
/// steps of a run on the dataset itself (same images, labels and order; the normalisation
/// set, since shards have no dataset-specific default); `eval knn` reads the test shards.
#[test]
fn data_shards_train_like_the_dataset_they_were_written_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 64, 20);
    let shards = dir.path().join("shards");
    let written = pretext(&[
        "data",
        "shards",
        "--data",
        &data_arg(&data),
        "--out",
        shards.to_str().unwrap(),
        "--per-shard",
        "24",
    ]);
    assert!(written.status.success(), "{}", stderr(&written));
    let text = stdout(&written);
    assert!(
        text.contains("train: 64 samples in 3 shards")
            && text.contains("test: 20 samples in 1 shards"),
        "{text}"
    );
    let losses = |spec: &str, run: &Path| {
        let out = pretext(&[
            "pretrain",
            "--method",
            "rotation",
            "--data",
            spec,
            "--encoder",
            "convnet-small",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--out",
            run.to_str().unwrap(),
            "--set",
            "encoder.width=0.25",
            "--set",
            "data.mean=[0.3]",
            "--set",
            "data.std=[0.35]",
            "--set",
            "train.log_every=1",
            "--quiet",
        ]);
        assert!(out.status.success(), "{spec}: {}", stderr(&out));
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["loss"]
                    .as_f64()
                    .unwrap()
            })
            .collect::<Vec<f64>>()
    };
    let spec = format!("shards:{}", shards.display());
    let (direct, sharded) = (
        losses(&data_arg(&data), &dir.path().join("direct")),
        losses(&spec, &dir.path().join("sharded")),
    );
    assert_eq!(direct.len(), 4);
    assert_eq!(direct, sharded);
    let knn = pretext(&[
        "eval",
        "knn",
        "--checkpoint",
        dir.path().join("sharded").to_str().unwrap(),
        "--data",
        &spec,
    ]);
    assert!(knn.status.success(), "{}", stderr(&knn));
}

/// A COCO folder (`annotations/instances_train2017.json`, `train2017/`) is inspected with its
/// objects, and its images pretrain like any unlabelled folder.
#[test]
fn a_coco_dataset_is_inspected_and_its_images_pretrain() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("train2017");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(dir.path().join("annotations")).unwrap();
    let mut entries = Vec::new();
    let mut objects = Vec::new();
    for i in 0..8u32 {
        let name = format!("{i}.png");
        image::RgbImage::from_fn(48, 40, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 6) as u8, (i * 30) as u8])
        })
        .save(images.join(&name))
        .unwrap();
        entries.push(serde_json::json!({"id": i, "file_name": name, "width": 48, "height": 40}));
        objects.push(
            serde_json::json!({"id": 100 + i, "image_id": i, "category_id": 1 + i % 2,
            "bbox": [2, 3, 10 + i, 20], "iscrowd": 0}),
        );
    }
    let json = dir.path().join("annotations/instances_train2017.json");
    let file = serde_json::json!({"images": entries, "annotations": objects,
        "categories": [{"id": 1, "name": "sneaker"}, {"id": 2, "name": "bag"}]});
    std::fs::write(&json, file.to_string()).unwrap();
    let spec = format!("coco:{}", json.display());
    let out = pretext(&["data", "inspect", &spec]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for words in ["objects:  8 in 8 images", "sneaker  4", "8 small"] {
        assert!(text.contains(words), "{words} not in\n{text}");
    }
    let out = pretext(&[
        "pretrain",
        "--method",
        "rotation",
        "--data",
        &spec,
        "--batch-size",
        "4",
        "--max-steps",
        "1",
        "--set",
        "data.image_size=32",
        "--set",
        "probe.enabled=false",
        "--out",
        dir.path().join("run").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Detections equal to the truth score AP 1 (COCO and VOC07) through `eval boxes` (on the
    // train split: the test split of instances_train2017.json is instances_val2017.json).
    let results: Vec<serde_json::Value> = (0..8u32)
        .map(|i| {
            serde_json::json!({"image_id": i, "category_id": 1 + i % 2,
            "bbox": [2, 3, 10 + i, 20], "score": 0.5})
        })
        .collect();
    let results_file = dir.path().join("results.json");
    std::fs::write(&results_file, serde_json::Value::from(results).to_string()).unwrap();
    let out = pretext(&[
        "eval",
        "boxes",
        "--truth",
        &spec,
        "--split",
        "train",
        "--results",
        results_file.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scores: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let ap = scores["coco"]["ap"].as_f64().unwrap();
    assert!((ap - 1.0).abs() < 1e-9, "{scores}");
    assert!(
        (scores["voc07_map50"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{scores}"
    );
    assert_eq!(
        scores["coco"]["ap_large"].as_f64(),
        Some(-1.0),
        "no large objects"
    );
    let out = pretext(&[
        "eval",
        "boxes",
        "--truth",
        &spec,
        "--split",
        "train",
        "--results",
        &spec[5..],
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a COCO results file"),
        "{}",
        stderr(&out)
    );

    // A category the file does not list is an error naming the file and the annotation.
    let broken = file
        .to_string()
        .replace("\"category_id\":2", "\"category_id\":7");
    std::fs::write(&json, broken).unwrap();
    let out = pretext(&["data", "inspect", &spec]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("instances_train2017.json") && err.contains("category_id 7"),
        "{err}"
    );
}

#[test]
fn permutations_show_task_and_crops_commands() {
    let dir = tempfile::tempdir().unwrap();
    let perms = dir.path().join("perms.txt");
    let out = pretext(&[
        "permutations",
        "--count",
        "30",
        "--min-distance",
        "6",
        "--out",
        perms.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("30 permutations") && stdout(&out).contains("minimum 6"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&perms)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count(),
        30
    );

    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 64, 32);
    let run = dir.path().join("run");
    let out = pretext(&[
        "pretrain",
        "--method",
        "jigsaw",
        "--data",
        &data_arg(&data),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--out",
        run.to_str().unwrap(),
        "--set",
        "encoder.width=0.25",
        "--set",
        &format!("method.permutations=\"{}\"", perms.display()),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run.join("pictures").read_dir().unwrap().count() >= 1);
    let out = pretext(&[
        "eval",
        "task",
        "--checkpoint",
        run.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(
        (0.0..=1.0).contains(&json["jigsaw_acc"].as_f64().unwrap()),
        "{json}"
    );
    let png = dir.path().join("show.png");
    let out = pretext(&[
        "show",
        "--checkpoint",
        run.to_str().unwrap(),
        "--count",
        "4",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(image::open(&png).is_ok());

    let photos = dir.path().join("photos");
    common::write_color_folder(&photos, 5, 80);
    let crops = dir.path().join("crops");
    let out = pretext(&[
        "data",
        "crops",
        photos.to_str().unwrap(),
        "--out",
        crops.to_str().unwrap(),
        "--size",
        "32",
        "--per-image",
        "4",
        "--test-fraction",
        "0.2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("16 training and 4 test crops"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn finetune_transfers_an_encoder_on_a_fraction_of_the_labels_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 200, 50);
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    pretrain_rotation(&data, &run);

    // Half the labels, per class: 10 of the 20 images of each of the 10 classes. The dataset
    // and the encoder's shape come from the checkpoint.
    let ft = dir.path().join("ft");
    let ft_s = ft.to_str().unwrap();
    let finetune = |extra: &[&str]| {
        let mut args = vec!["finetune", "--out", ft_s, "--quiet", "--json"];
        args.extend_from_slice(extra);
        pretext(&args)
    };
    let out = finetune(&[
        "--from",
        run_s,
        "--label-fraction",
        "0.5",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--encoder-lr-scale",
        "0.1",
        "--freeze-stages",
        "2",
        "--max-steps",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["eval"], "finetune");
    assert_eq!(json["train_images"].as_u64(), Some(100), "{json}");
    assert_eq!(json["steps"].as_u64(), Some(3), "{json}");
    let top1 = json["top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1), "{top1}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ft.join("finetune.json")).unwrap()).unwrap();
    assert_eq!(written["top1"], json["top1"]);
    // The pretrained run records how its encoder transferred.
    let evals = std::fs::read_to_string(run.join("eval.jsonl")).unwrap();
    assert!(evals.contains("\"finetune\""), "{evals}");
    let config = std::fs::read_to_string(ft.join("config.toml")).unwrap();
    for line in [
        "name = \"supervised\"",
        "label_fraction = 0.5",
        "freeze_stages = 2",
        "encoder_lr_scale = 0.1",
        "width = 0.25",
    ] {
        assert!(config.contains(line), "{line} missing from\n{config}");
    }

    // The stopped run continues from its checkpoint to the end of its 4 epochs of 6 batches
    // of 16 (of the 100 images).
    let out = finetune(&["--resume", "--max-steps", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["steps"].as_u64(), Some(24), "{json}");
    let metrics = std::fs::read_to_string(ft.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert!(first["top1"].is_number(), "{first}");

    // The baseline: the same network from random weights.
    let scratch = dir.path().join("scratch");
    let out = pretext(&[
        "finetune",
        "--scratch",
        "--data",
        &data_arg(&data),
        "--set",
        "encoder.width=0.25",
        "--label-fraction",
        "0.1",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--out",
        scratch.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("fine-tuning test top-1") && stdout(&out).contains("scratch"),
        "{}",
        stdout(&out)
    );

    // An exported encoder carries its architecture and input contract but not its data.
    let exported = dir.path().join("rot.safetensors");
    let out = pretext(&[
        "export",
        "--checkpoint",
        run_s,
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_file = dir.path().join("from-file");
    let out = pretext(&[
        "finetune",
        "--from",
        exported.to_str().unwrap(),
        "--out",
        from_file.to_str().unwrap(),
    ]);
    assert!(stderr(&out).contains("needs --data"), "{}", stderr(&out));
    let out = pretext(&[
        "finetune",
        "--from",
        exported.to_str().unwrap(),
        "--data",
        &data_arg(&data),
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--out",
        from_file.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Bad options are refused before anything is written.
    for (flag, value, words) in [
        ("--freeze-stages", "6", "freeze_stages"),
        ("--label-fraction", "0", "label_fraction"),
        ("--encoder-lr-scale", "-1", "encoder_lr_scale"),
        ("--layer-decay", "0", "layer_decay"),
    ] {
        let bad = dir.path().join(format!("bad{flag}"));
        let out = pretext(&[
            "finetune",
            "--from",
            run_s,
            &format!("{flag}={value}"),
            "--out",
            bad.to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "{flag} {value}");
        assert!(stderr(&out).contains(words), "{flag}: {}", stderr(&out));
        assert!(!bad.exists(), "{flag}");
    }
}

/// `--compute-only` times the step and says where its time went; `PRETEXT_KERNELS=burn`
/// takes pretext's kernels out (their share drops to zero), for comparisons.
#[test]
fn compute_only_reports_the_kernels_and_the_switch_turns_them_off() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 64, 10);
    let dataset = format!("fashion-mnist:{}", data.display());
    let out_dir = dir.path().join("unused");
    let args = [
        "pretrain",
        "--method",
        "rotation",
        "--data",
        &dataset,
        "--batch-size",
        "16",
        "--compute-only",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let share = |stdout: &str, kernel: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(kernel))
            .unwrap_or_else(|| panic!("no `{kernel}` line in {stdout}"));
        let percent = line[kernel.len() + 2..].split('%').next().unwrap();
        percent.trim().parse().unwrap()
    };
    let ours = pretext(&args);
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let stdout = String::from_utf8_lossy(&ours.stdout);
    assert!(stdout.starts_with("training step: "), "{stdout}");
    assert!(share(&stdout, "convolution forward") > 0.0, "{stdout}");
    // The instruction set the matrix products ran on (AVX-512 or AVX2 on x86-64).
    assert!(
        stdout.contains(&format!(
            "matrix products on {} microkernels",
            ::pretext::kernels::matmul::instruction_set()
        )),
        "{stdout}"
    );
    // The convolutions' time by layer geometry: the ConvNet's first layer, 1 channel in at
    // 28×28, with the rate of each of its three products.
    let (_, layers) = stdout
        .split_once("convolutions by layer geometry:")
        .unwrap_or_else(|| panic!("no layer table in {stdout}"));
    let first = layers
        .lines()
        .find(|l| l.trim_start().starts_with("3×3/1 1→") && l.contains(" 28×28"))
        .unwrap_or_else(|| panic!("no first-layer row in {stdout}"));
    let rates: Vec<&str> = first
        .split('%')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(rates.len(), 3, "{first}");
    assert!(!out_dir.exists(), "a measurement writes nothing");

    let burn = std::process::Command::new(env!("CARGO_BIN_EXE_pretext"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("PRETEXT_KERNELS", "burn")
        .output()
        .unwrap();
    assert!(burn.status.success());
    let stdout = String::from_utf8_lossy(&burn.stdout);
    assert_eq!(share(&stdout, "convolution forward"), 0.0, "{stdout}");
    assert_eq!(share(&stdout, "everything else (burn)"), 100.0, "{stdout}");
    assert!(!stdout.contains("by layer geometry"), "{stdout}");

    // bf16 products where the CPU has AVX512-BF16; elsewhere a warning, and fp32.
    let bf16 = pretext(&[&args[..], &["--set", "train.precision=bf16"]].concat());
    assert!(bf16.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&bf16.stdout),
        String::from_utf8_lossy(&bf16.stderr),
    );
    let products = "direct products in bf16 with fp32 sums";
    match ::pretext::kernels::matmul::bf16::available() {
        true => assert!(stdout.contains(products), "{stdout}"),
        false => {
            assert!(!stdout.contains(products), "{stdout}");
            assert!(stderr.contains("no AVX512-BF16"), "{stderr}");
        }
    }
}

#[cfg(unix)]
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `pretext … | head` once head has gone: the reading end is closed before pretext
    // writes, so its first line meets a broken pipe. It must end as other tools do (by
    // SIGPIPE), not panic.
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_pretext"))
        .args(["data", "download", "--list"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

/// `pretext detect` trains a detector on a pretrained encoder over a COCO-format folder,
/// writes the test split's detections as a COCO results file and the scores beside them,
/// records the transfer in the pretrained run, resumes, and draws its detections.
#[test]
fn detect_trains_a_detector_on_a_pretrained_encoder_and_scores_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 100, 20);
    let run = dir.path().join("run");
    pretrain_rotation(&data, &run);
    let scenes = dir.path().join("scenes");
    let out = pretext(&[
        "data",
        "scenes",
        "--from",
        &data_arg(&data),
        "--out",
        scenes.to_str().unwrap(),
        "--size",
        "64",
        "--train",
        "12",
        "--test",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let coco = format!(
        "coco:{}",
        scenes.join("annotations/instances_train.json").display()
    );
    let det = dir.path().join("det");
    let detect = |extra: &[&str]| {
        let mut args = vec![
            "detect",
            "--out",
            det.to_str().unwrap(),
            "--quiet",
            "--json",
        ];
        args.extend_from_slice(extra);
        pretext(&args)
    };
    let out = detect(&[
        "--from",
        run.to_str().unwrap(),
        "--data",
        &coco,
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--max-steps",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["eval"], "detection", "{json}");
    assert_eq!(json["steps"].as_u64(), Some(2), "{json}");
    assert_eq!(json["test_images"].as_u64(), Some(5), "{json}");
    let ap = json["coco"]["ap50"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ap), "{json}");
    // The results file is COCO's: a list of {image_id, category_id, bbox, score}, and
    // `pretext eval boxes` scores it to the same AP.
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(det.join("detections.json")).unwrap()).unwrap();
    assert_eq!(
        results.as_array().map(Vec::len),
        json["detections"].as_u64().map(|n| n as usize)
    );
    let scored = pretext(&[
        "eval",
        "boxes",
        "--truth",
        &coco,
        "--split",
        "test",
        "--results",
        det.join("detections.json").to_str().unwrap(),
        "--json",
    ]);
    assert!(scored.status.success(), "{}", stderr(&scored));
    let scored: serde_json::Value = serde_json::from_str(stdout(&scored).trim()).unwrap();
    assert_eq!(scored["coco"]["ap50"], json["coco"]["ap50"], "{scored}");
    let config = std::fs::read_to_string(det.join("config.toml")).unwrap();
    for line in ["name = \"detection\"", "width = 0.25", "image_size = 64"] {
        assert!(config.contains(line), "{line} missing from\n{config}");
    }
    let evals = std::fs::read_to_string(run.join("eval.jsonl")).unwrap();
    assert!(evals.contains("\"detection\""), "{evals}");

    // The stopped run continues to the end of its epoch: 12 scenes in batches of 4.
    let out = detect(&["--resume", "--max-steps", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["steps"].as_u64(), Some(3), "{json}");

    // Its pictures: the scenes with their true and found boxes.
    let png = dir.path().join("found.png");
    let out = pretext(&[
        "show",
        "--checkpoint",
        det.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(png.is_file());

    // Segmentation of the same scenes from the same encoder: mean IoU over background and
    // the categories, and per-class IoUs, background first.
    let seg = dir.path().join("seg");
    let out = pretext(&[
        "segment",
        "--from",
        run.to_str().unwrap(),
        "--data",
        &coco,
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        seg.to_str().unwrap(),
        "--quiet",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["eval"], "segmentation", "{json}");
    assert_eq!(json["steps"].as_u64(), Some(3), "{json}");
    let miou = json["miou"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&miou) && json["pixel_accuracy"].as_f64().unwrap() > 0.0);
    assert_eq!(json["iou"][0][0], "background", "{json}");
    assert!(seg.join("segmentation.json").is_file());

    // Data without object annotations is refused, naming what is needed.
    let out = pretext(&[
        "detect",
        "--scratch",
        "--data",
        &data_arg(&data),
        "--out",
        dir.path().join("bad").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("coco:"), "{}", stderr(&out));
}

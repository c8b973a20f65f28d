//! Training-loop tests on small generated data: a short run writes a usable checkpoint, and a
//! run interrupted and resumed reproduces the uninterrupted run's losses exactly.

mod common;

use pretext::config::RunConfig;
use pretext::train::{self, RunOptions};
use std::path::Path;

fn config(data: &Path, out: &Path, extra: &[&str]) -> RunConfig {
    let mut overrides: Vec<String> = vec![
        format!("data.dataset=\"fashion-mnist:{}\"", data.display()),
        "method.name=rotation".into(),
        "encoder.width=0.25".into(),
        "train.batch_size=16".into(),
        "train.epochs=2".into(),
        "train.log_every=1".into(),
        "train.checkpoint_every=3".into(),
        format!("train.out=\"{}\"", out.display()),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    RunConfig::from_toml("", &overrides, "test").unwrap()
}

fn quiet(resume: bool) -> RunOptions {
    RunOptions {
        resume,
        quiet: true,
    }
}

#[test]
fn a_two_step_run_writes_config_metrics_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    common::write_idx_dataset(&dir.path().join("data"), 64, 20);
    let out = dir.path().join("run");
    let summary = train::pretrain(
        config(&dir.path().join("data"), &out, &["train.max_steps=2"]),
        quiet(false),
    )
    .unwrap();
    assert_eq!(summary.steps, 2);
    assert_eq!(summary.losses.len(), 2);
    // A 4-way classifier starts near ln 4.
    assert!(
        (summary.losses[0] - 4f64.ln()).abs() < 0.7,
        "{:?}",
        summary.losses
    );
    for file in ["config.toml", "metrics.jsonl", "checkpoint.ckpt"] {
        assert!(out.join(file).exists(), "{file}");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    assert!(metrics.contains("rotation_acc"));
    // Each line says how much of its window the trainer waited for data.
    for line in metrics.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let wait = line["data_wait"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&wait), "{wait}");
    }
    // The resolved config repeats the run: it parses and records data-dependent choices.
    let resolved = RunConfig::load(&out.join("config.toml"), &[]).unwrap();
    assert_eq!(resolved.data.image_size, 28);
    assert_eq!(resolved.encoder.in_channels, 1);
    // Every file follows the umask like any other new file (checkpoints are not private).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .unwrap();
        for entry in std::fs::read_dir(&out).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o666 & !umask, "{:?}", entry.file_name());
            }
        }
    }
    // The encoder loads for evaluation.
    let (header, _encoder) =
        pretext::checkpoint::load_encoder(&out, &burn::prelude::Device::flex()).unwrap();
    assert_eq!((header.step, header.method.as_str()), (2, "rotation"));
}

#[test]
fn compute_only_times_real_steps_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    common::write_idx_dataset(&dir.path().join("data"), 64, 20);
    let out = dir.path().join("run");
    let config = config(&dir.path().join("data"), &out, &[]);
    let summary = train::measure(config, train::Measure::Compute(3)).unwrap();
    // Two warm-up steps and three timed ones, all optimiser steps on the same batch: the
    // loss of a 4-way classifier starts near ln 4 and falls as it fits the one batch.
    assert_eq!(summary.steps, 3);
    assert_eq!(summary.losses.len(), 5);
    assert!(
        (summary.losses[0] - 4f64.ln()).abs() < 0.7,
        "{:?}",
        summary.losses
    );
    assert!(
        summary.losses[4] < summary.losses[0],
        "{:?}",
        summary.losses
    );
    assert!(summary.images_per_sec > 0.0);
    assert!(!out.exists(), "a measurement writes no run directory");
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_losses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 10);
    // 64 images / 16 = 4 steps per epoch, 2 epochs = 8 steps; the break at step 6 crosses an
    // epoch boundary and lands on a checkpoint (every 3 steps).
    let full = train::pretrain(config(&data, &dir.path().join("full"), &[]), quiet(false)).unwrap();
    assert_eq!(full.losses.len(), 8);

    let split = dir.path().join("split");
    let first =
        train::pretrain(config(&data, &split, &["train.max_steps=6"]), quiet(false)).unwrap();
    let second = train::pretrain(config(&data, &split, &[]), quiet(true)).unwrap();
    let mut resumed = first.losses.clone();
    resumed.extend(&second.losses);
    assert_eq!(
        resumed, full.losses,
        "losses must be identical after resume"
    );
}

#[test]
fn existing_runs_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 32, 10);
    let out = dir.path().join("run");
    train::pretrain(config(&data, &out, &["train.max_steps=1"]), quiet(false)).unwrap();
    let before = std::fs::read(out.join("checkpoint.ckpt")).unwrap();
    let err = train::pretrain(config(&data, &out, &["train.max_steps=1"]), quiet(false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read(out.join("checkpoint.ckpt")).unwrap(), before);
    // Resuming with another encoder shape is refused and leaves the run alone.
    let err = train::pretrain(
        config(&data, &out, &["encoder.width=0.5", "train.max_steps=2"]),
        quiet(true),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("checkpoint") && err.contains("encoder"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("checkpoint.ckpt")).unwrap(), before);
}

#[test]
fn a_checkpoint_whose_weights_do_not_fit_its_encoder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 32, 10);
    let out = dir.path().join("run");
    train::pretrain(config(&data, &out, &["train.max_steps=1"]), quiet(false)).unwrap();
    let path = out.join("checkpoint.ckpt");
    let mut ckpt = pretext::checkpoint::Checkpoint::load(&path).unwrap();
    ckpt.header.encoder.width = 0.5; // the stored weights are of width 0.25
    ckpt.save_in(&out).unwrap();
    let err = pretext::checkpoint::load_encoder(&out, &burn::prelude::Device::flex())
        .expect_err("loading must fail")
        .to_string();
    assert!(
        err.contains("checkpoint.ckpt") && err.contains("do not fit"),
        "{err}"
    );
}

#[test]
fn accumulation_lr_scaling_and_the_knn_probe() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 20);
    let extra = [
        "train.accumulate=2",
        "optim.lr=0.256",
        "optim.lr_scaling=\"linear\"",
        "train.checkpoint_every=0",
        "probe.bank=32",
    ];
    let out = dir.path().join("whole");
    // 64 images in batches of 16, two epochs: 8 batches, two per optimiser step.
    let whole = train::pretrain(config(&data, &out, &extra), quiet(false)).unwrap();
    assert_eq!(whole.steps, 4);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The effective batch is 32: lr = 0.256 × 32/256.
    assert!((lines[0]["lr"].as_f64().unwrap() - 0.032).abs() < 1e-12);
    // The probe runs at the end (no checkpoints before) and only then.
    let probed: Vec<_> = lines
        .iter()
        .filter(|l| l.get("knn_top1").is_some())
        .collect();
    assert_eq!(probed.len(), 1);
    let top1 = probed[0]["knn_top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1), "{top1}");

    // Interrupted after one step and resumed, the accumulated run repeats itself.
    let parts = dir.path().join("parts");
    let mut first = extra.to_vec();
    first.push("train.max_steps=1");
    train::pretrain(config(&data, &parts, &first), quiet(false)).unwrap();
    let rest = train::pretrain(config(&data, &parts, &extra), quiet(true)).unwrap();
    assert_eq!(rest.losses, whole.losses[1..].to_vec());
}

/// Data parallelism over two replicas (two `flex` devices, gradients summed on the host) takes
/// exactly the steps of one device accumulating the two halves of each batch: same images in
/// the same order, batch-norm statistics per half in both, summed gradients, and replicas
/// that stay equal step after step (a replica that drifted would change the next losses). For
/// a plain task (rotation) and for BYOL, whose after-step updates a target network on every
/// replica.
#[test]
fn two_replicas_take_the_steps_of_one_device_accumulating_the_halves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 20);
    let byol = [
        "method.name=byol",
        "method.projector={hidden=[64], out=32}",
        "method.predictor={hidden=[64], out=32}",
    ];
    for method in [&[][..], &byol[..]] {
        let run = |name: &str, extra: &[&str]| {
            let mut extra = extra.to_vec();
            extra.extend(["train.checkpoint_every=0", "optim.momentum=0.9"]);
            extra.extend(method);
            train::pretrain(config(&data, &dir.path().join(name), &extra), quiet(false)).unwrap()
        };
        let name = method.first().copied().unwrap_or("rotation");
        let parallel = run(&format!("{name}-parallel"), &["train.device=\"flex,flex\""]);
        let accumulated = run(
            &format!("{name}-accumulated"),
            &["train.batch_size=8", "train.accumulate=2"],
        );
        assert_eq!(parallel.steps, 8);
        assert_eq!(parallel.losses.len(), accumulated.losses.len());
        for (step, (a, b)) in parallel.losses.iter().zip(&accumulated.losses).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{name} step {step}: {:?} vs {:?}",
                parallel.losses,
                accumulated.losses
            );
        }
    }
    // A batch that does not split evenly is refused before training starts.
    let err = train::pretrain(
        config(
            &data,
            &dir.path().join("uneven"),
            &["train.device=\"flex,flex,flex\""],
        ),
        quiet(false),
    )
    .expect_err("16 images over 3 devices")
    .to_string();
    assert!(
        err.contains("batch_size = 16") && err.contains("3 devices"),
        "{err}"
    );
}

/// `pretext export` writes the encoder under PyTorch's names; `train.init_encoder` starts a
/// new run from such a file.
#[test]
fn an_exported_encoder_initialises_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 20);
    let first = dir.path().join("first");
    train::pretrain(config(&data, &first, &["train.max_steps=2"]), quiet(false)).unwrap();
    let exported = dir.path().join("first.safetensors");
    pretext::export::export_checkpoint(&first, &exported, 4).unwrap();
    assert!(dir.path().join("first.sample.safetensors").exists());
    let info = pretext::export::read_info(&exported).unwrap().unwrap();
    assert_eq!(info.input.channels, 1);

    // A run that starts from the export with a negligible learning rate keeps its weights;
    // a run from the seed alone does not have them.
    let conv = |run: &Path| {
        let file = dir.path().join("check.safetensors");
        pretext::export::export_checkpoint(run, &file, 0).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let view = tensors.tensor("layers.0.conv.weight").unwrap();
        view.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect::<Vec<f32>>()
    };
    let init = format!("train.init_encoder=\"{}\"", exported.display());
    let second = dir.path().join("second");
    let extra = ["train.max_steps=1", "optim.lr=1e-12", init.as_str()];
    train::pretrain(config(&data, &second, &extra), quiet(false)).unwrap();
    let fresh = dir.path().join("fresh");
    let extra = ["train.max_steps=1", "optim.lr=1e-12", "train.seed=5"];
    train::pretrain(config(&data, &fresh, &extra), quiet(false)).unwrap();
    let (a, b, c) = (conv(&first), conv(&second), conv(&fresh));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
    assert!(a.iter().zip(&c).any(|(x, y)| (x - y).abs() > 1e-3));

    // A file for another encoder is refused with its name.
    let bad = dir.path().join("bad");
    let init = format!("train.init_encoder=\"{}\"", exported.display());
    let err = train::pretrain(
        config(&data, &bad, &[init.as_str(), "encoder.arch=\"resnet18\""]),
        quiet(false),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("first.safetensors"), "{err}");
}

/// A run stopped at a checkpoint (step 3 of 8, in its first epoch) and resumed ends with
/// exactly the uninterrupted run's tensors: weights of every network (online, target, heads), the optimiser's state, batch
/// norm's running statistics and the methods' buffers (MoCo's queue, DINO's centre), which
/// burn folds in one update late (`RunningState`) and a checkpoint must still hold whole.
#[test]
fn a_resumed_run_ends_with_every_tensor_of_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 10);
    let methods: [&[&str]; 4] = [
        &["method.name=rotation"],
        &[
            "method.name=byol",
            "method.projector={hidden=[32], out=16}",
            "method.predictor={hidden=[32], out=16}",
        ],
        &[
            "method.name=moco",
            "method.projector={hidden=[32], out=16}",
            "method.queue_size=32",
        ],
        &[
            "method.name=dino",
            "method.head={hidden=[32], out=16}",
            "method.out_dim=64",
            "method.local_crops=0",
        ],
    ];
    for method in methods {
        let name = &method[0]["method.name=".len()..];
        let run = |dir: &Path, extra: &[&str], resume: bool| {
            let mut extra = extra.to_vec();
            extra.extend(method);
            extra.push("optim.momentum=0.9");
            train::pretrain(config(&data, dir, &extra), quiet(resume)).unwrap()
        };
        let full = dir.path().join(format!("{name}-full"));
        run(&full, &[], false);
        let split = dir.path().join(format!("{name}-split"));
        run(&split, &["train.max_steps=3"], false);
        run(&split, &[], true);
        let (a, b) = (
            common::tensors(&full.join("checkpoint.ckpt")),
            common::tensors(&split.join("checkpoint.ckpt")),
        );
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{name}"
        );
        let differing: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
        assert!(differing.is_empty(), "{name}: {differing:?} differ");
    }
}

/// `--resume` serves the first start too (the command a cluster requeues): without a
/// checkpoint it starts the run. A resumed run drops the metrics lines a killed run logged
/// after its checkpoint (and a line cut short), then logs those steps again.
#[test]
fn resume_starts_a_run_without_a_checkpoint_and_rewrites_lines_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 10);
    let out = dir.path().join("run");
    let first = train::pretrain(config(&data, &out, &["train.max_steps=3"]), quiet(true)).unwrap();
    assert_eq!(first.losses.len(), 3);
    let metrics = out.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str(
        "{\"step\":4,\"epoch\":1,\"loss\":1.0,\"lr\":0.1,\"images_per_sec\":1.0}\n{\"step\":5,\"ep",
    );
    std::fs::write(&metrics, text).unwrap();
    train::pretrain(config(&data, &out, &[]), quiet(true)).unwrap();
    let steps: Vec<u64> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=8).collect::<Vec<_>>());
}

/// `train.checkpoint_minutes` writes checkpoints between the step-based ones, and every
/// checkpoint keeps the one before it.
#[test]
fn timed_checkpoints_come_between_the_scheduled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 64, 10);
    let previous_step = |minutes: &str| {
        let out = dir.path().join(format!("run-{minutes}"));
        let extra = [
            "train.max_steps=2",
            "train.checkpoint_every=0",
            &format!("train.checkpoint_minutes={minutes}"),
        ];
        train::pretrain(config(&data, &out, &extra), quiet(false)).unwrap();
        let previous = out.join(pretext::checkpoint::PREVIOUS_FILE_NAME);
        previous.exists().then(|| {
            pretext::checkpoint::Checkpoint::load(&previous)
                .unwrap()
                .header
                .step
        })
    };
    // Every step is "minutes later" at 1e-9 minutes: a checkpoint after step 1, then the
    // last one at step 2 keeps it.
    assert_eq!(previous_step("1e-9"), Some(1));
    assert_eq!(previous_step("0.0"), None);
}

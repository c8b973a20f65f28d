//! Training as several MPI ranks (`mpirun -np 2 pretext pretrain …`, issue 19), against one
//! process: two ranks with batches of 8 take exactly the optimiser steps of one process
//! accumulating two batches of 8 (the same images in the same order, batch norm per batch of 8
//! in both, summed gradients), only rank 0 writes, a run resumes with another number of
//! ranks, and a failing rank stops them all. Needs the `mpi` feature and Open MPI's `mpirun`
//! (scripts/test.sh installs it).
#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// `pretext ARGS` as `ranks` MPI ranks under Open MPI's `mpirun` (as root too, as in CI
/// containers; more ranks than cores allowed).
fn mpirun(ranks: usize, args: &[&str]) -> Output {
    mpirun_with(ranks, args, &[])
}

/// [`mpirun`] with environment variables `env` set for every rank.
fn mpirun_with(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("mpirun")
        .args(["-np", &ranks.to_string(), "--oversubscribe"])
        .arg(env!("CARGO_BIN_EXE_pretext"))
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // Containers often forbid the cross-memory attach Open MPI's shared-memory transport
        // tries first.
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("run mpirun (Open MPI)")
}

/// A short rotation run on `data` into `out`: 64 images, two epochs of global batches of 16.
fn args<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    method_args("rotation", data, out, extra)
}

/// A short run of `method` on `data` into `out`, as [`args`].
fn method_args<'a>(
    method: &'a str,
    data: &'a str,
    out: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "pretrain", "--method", method, "--data", data, "--out", out, "--quiet",
    ];
    for set in [
        "encoder.width=0.25",
        "train.epochs=2",
        "train.log_every=1",
        "train.checkpoint_every=3",
        "optim.momentum=0.9",
        "train.batch_size=8",
    ]
    .iter()
    .chain(extra)
    {
        args.extend(["--set", set]);
    }
    args
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// (loss, lr) of every line of a run's `metrics.jsonl`, by step.
fn metrics(run: &Path) -> Vec<(u64, f64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let number = |key: &str| v[key].as_f64().unwrap();
            (v["step"].as_u64().unwrap(), number("loss"), number("lr"))
        })
        .collect()
}

fn assert_same_steps(a: &[(u64, f64, f64)], b: &[(u64, f64, f64)]) {
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for ((step, loss, lr), (step_b, loss_b, lr_b)) in a.iter().zip(b) {
        assert_eq!(step, step_b);
        assert!(
            (loss - loss_b).abs() <= 1e-5 * loss_b.abs().max(1.0),
            "step {step}: {a:?}\n{b:?}"
        );
        assert_eq!(lr, lr_b, "the learning rate scales with the global batch");
    }
}

/// The trained parameters of a run's checkpoint (not batch norm's running statistics, which
/// each rank gathers on its own slice, as in PyTorch's DDP), as numbers.
fn parameters(run: &Path) -> Vec<(String, Vec<f32>)> {
    common::tensors(&run.join("checkpoint.ckpt"))
        .into_iter()
        .filter(|(name, _)| !name.starts_with("optimizer/") && !name.contains("running"))
        .map(|(name, bytes)| {
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
}

/// Every trained parameter of runs `a` and `b` within `tolerance`.
fn assert_same_parameters(a: &Path, b: &Path, tolerance: f32) {
    let (a, b) = (parameters(a), parameters(b));
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 4, "{a:?}");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst <= tolerance, "{name}: parameters differ by {worst}");
    }
}

#[test]
fn two_ranks_take_the_steps_of_one_process_accumulating_two_batches() {
    let dir = tempfile::tempdir().unwrap();
    common::write_idx_dataset(&dir.path().join("data"), 64, 20);
    let data = format!("fashion-mnist:{}", dir.path().join("data").display());
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (one, two) = (path("one"), path("two"));

    succeeded(&common::pretext(&args(
        &data,
        &one,
        &["train.accumulate=2"],
    )));
    succeeded(&mpirun(2, &args(&data, &two, &[])));
    let expected = metrics(Path::new(&one));
    assert_eq!(expected.len(), 8, "64 images × 2 epochs / 16 per step");
    // Rank 0 alone wrote the metrics (one line per step), with the mean loss of both ranks.
    assert_same_steps(&metrics(Path::new(&two)), &expected);
    assert_same_parameters(Path::new(&one), Path::new(&two), 1e-5);

    // Killed after step 3 (its checkpoint) on two ranks, resumed as one process that
    // accumulates two batches: the same global batch, the same remaining steps.
    let resumed = path("resumed");
    succeeded(&mpirun(2, &args(&data, &resumed, &["train.max_steps=3"])));
    let mut rest = args(
        &data,
        &resumed,
        &["train.accumulate=2", "train.max_steps=0"],
    );
    rest.push("--resume");
    succeeded(&common::pretext(&rest));
    assert_same_steps(&metrics(Path::new(&resumed)), &expected);
    // And back: from one process to two ranks.
    let back = path("back");
    succeeded(&common::pretext(&args(
        &data,
        &back,
        &["train.accumulate=2", "train.max_steps=3"],
    )));
    let mut rest = args(&data, &back, &["train.accumulate=1", "train.max_steps=0"]);
    rest.push("--resume");
    succeeded(&mpirun(2, &rest));
    assert_same_steps(&metrics(Path::new(&back)), &expected);
}

#[test]
fn a_failing_rank_stops_every_rank_and_other_commands_refuse_to_run_as_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let data = format!("fashion-mnist:{}", missing.display());
    let out = dir.path().join("run").display().to_string();
    let failed = mpirun(2, &args(&data, &out, &[]));
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(&*missing.to_string_lossy()), "{stderr}");

    let refused = mpirun(2, &["eval", "knn", "--checkpoint", &out, "--data", &data]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("only `pretext pretrain` runs as several MPI ranks"),
        "{stderr}"
    );

    // One device per rank; synchronised batch norm only where pretext's kernels run.
    common::write_idx_dataset(&dir.path().join("data"), 64, 20);
    let data = format!("fashion-mnist:{}", dir.path().join("data").display());
    type Refusal<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let refusals: [Refusal; 2] = [
        (
            "train.device=\"flex,flex\"",
            &[],
            "each rank trains on one device",
        ),
        (
            "train.sync_bn=true",
            &[("PRETEXT_KERNELS", "burn")],
            "train.sync_bn",
        ),
    ];
    for (set, env, message) in refusals {
        let refused = mpirun_with(2, &args(&data, &out, &[set]), env);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(message), "{set}: {stderr}");
    }
}

/// The methods whose loss is batch-wide, trained as two ranks of 8 images with synchronised
/// batch norm, take the steps of one process training on batches of 16: SimCLR's negatives,
/// Barlow Twins' cross-correlation and VICReg's statistics over the gathered projections,
/// MoCo's queue filled with both ranks' keys (and wrapping around), DINO's centre the mean of
/// both ranks' teacher outputs, and every batch norm (encoder, projector, predictor, MoCo's
/// and DINO's key and teacher networks) normalising all 16 images. BYOL has nothing
/// batch-wide but its batch norms.
#[test]
fn with_gathered_losses_and_sync_bn_two_ranks_train_as_one_process_on_the_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    common::write_idx_dataset(&dir.path().join("data"), 64, 20);
    let data = format!("fashion-mnist:{}", dir.path().join("data").display());
    let cases: [(&str, &[&str]); 6] = [
        (
            "simclr",
            &["method.projector.hidden=[32]", "method.projector.out=16"],
        ),
        (
            "barlow-twins",
            &["method.projector.hidden=[32]", "method.projector.out=16"],
        ),
        (
            "vicreg",
            &["method.expander.hidden=[32]", "method.expander.out=16"],
        ),
        ("moco", &["method.queue_size=40", "method.symmetric=true"]),
        ("dino", &["method.out_dim=64", "method.local_crops=2"]),
        ("byol", &[]),
    ];
    for (method, extra) in cases {
        let path = |name: &str| {
            dir.path()
                .join(format!("{method}-{name}"))
                .display()
                .to_string()
        };
        let (one, two) = (path("one"), path("two"));
        let with = |batch: &'static str, sync: bool| {
            let mut set = vec!["train.epochs=1", batch];
            set.extend(sync.then_some("train.sync_bn=true"));
            set.extend(extra.iter().copied());
            set
        };
        succeeded(&common::pretext(&method_args(
            method,
            &data,
            &one,
            &with("train.batch_size=16", false),
        )));
        succeeded(&mpirun(
            2,
            &method_args(method, &data, &two, &with("train.batch_size=8", true)),
        ));
        let expected = metrics(Path::new(&one));
        assert_eq!(expected.len(), 4, "{method}: 64 images / 16 per step");
        assert_same_steps(&metrics(Path::new(&two)), &expected);
        assert_same_parameters(Path::new(&one), Path::new(&two), 1e-4);
    }
}

//! TensorBoard reads what a run logs: read back with TensorBoard's own reader (the
//! `tensorboard` package's event accumulator, in the test environment scripts/test.sh
//! installs), the event files hold exactly the run's `metrics.jsonl`, its task pictures and
//! its evaluation results — also after a resume that repeats steps a killed run had logged.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python with the `tensorboard` package: `PRETEXT_TEST_PYTHON`, or the test environment
/// scripts/test.sh creates.
fn python() -> PathBuf {
    let python = std::env::var_os("PRETEXT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/pretext-test-venv/bin/python")
        });
    assert!(
        python.exists(),
        "no {}: run scripts/test.sh, which installs tensorboard there",
        python.display()
    );
    python
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tensorboard_reads_the_metrics_pictures_and_evaluations_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 128, 40);
    let run = dir.path().join("run");
    let train = |steps: &str| {
        ok(common::pretext(&[
            "pretrain",
            "--method",
            "rotation",
            "--encoder",
            "convnet-small",
            "--data",
            &format!("fashion-mnist:{}", data.display()),
            "--batch-size",
            "16",
            "--epochs",
            "1",
            "--max-steps",
            steps,
            "--out",
            run.to_str().unwrap(),
            "--resume",
            "--quiet",
            "--set",
            "encoder.width=0.25",
            "--set",
            "train.log_every=1",
            "--set",
            "train.checkpoint_every=2",
            "--set",
            "probe.bank=64",
            "--set",
            "probe.queries=32",
        ]))
    };
    train("3");
    // As if killed after logging step 3 and before its checkpoint: the newest checkpoint is
    // the one of step 2, and the resumed run logs step 3 again.
    std::fs::rename(
        run.join("checkpoint.prev.ckpt"),
        run.join("checkpoint.ckpt"),
    )
    .unwrap();
    train("5");
    ok(common::pretext(&[
        "eval",
        "task",
        "--checkpoint",
        run.to_str().unwrap(),
        "--json",
    ]));

    let read = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/read_tensorboard.py"))
        .arg(&run)
        .output()
        .unwrap();
    let board: serde_json::Value = serde_json::from_str(&ok(read)).unwrap();
    // Compared as float32, the type the file stores.
    let series = |tag: &str| -> Vec<(u64, f32)> {
        board["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no scalar `{tag}` in {board}"))
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap() as f32))
            .collect()
    };

    // Every scalar of every metrics line, at its step, once.
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let mut expected: BTreeMap<String, Vec<(u64, f32)>> = BTreeMap::new();
    for line in metrics.lines() {
        let line: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let step = line["step"].as_u64().unwrap();
        for (key, value) in &line {
            if key != "step" {
                let value = value.as_f64().unwrap() as f32;
                expected.entry(key.clone()).or_default().push((step, value));
            }
        }
    }
    assert_eq!(expected["loss"].len(), 5, "{metrics}");
    assert!(expected.contains_key("knn_top1") && expected.contains_key("rotation_acc"));
    for (tag, values) in &expected {
        assert_eq!(&series(tag), values, "{tag}");
    }

    // The task pictures, at the steps of the PNG files beside them.
    let mut pictured: Vec<u64> = std::fs::read_dir(run.join("pictures"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name["step-".len()..name.len() - ".png".len()]
                .parse()
                .unwrap()
        })
        .collect();
    pictured.sort();
    let images: Vec<u64> = board["images"]["task"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[0].as_u64().unwrap())
        .collect();
    assert_eq!(images, pictured);
    assert!(board["images"]["task"][0][1].as_u64().unwrap() > 28);

    // The evaluation's results, at the checkpoint's step.
    let eval: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(run.join("eval.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    for name in ["loss", "rotation_acc"] {
        let value = eval[name].as_f64().unwrap() as f32;
        assert_eq!(series(&format!("eval/task/{name}")), [(5, value)], "{name}");
    }
}

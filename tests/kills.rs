//! Runs against every way a user or a cluster stops them: SIGKILL at random moments (during
//! checkpoint writes too), a second process on the same run directory, and a full disk.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `pretext pretrain --resume` of a small BYOL run (`epochs` of 16 steps; batch norm in the
/// heads, a target network; a checkpoint after every step so that kills often land inside a
/// checkpoint write).
fn command(data: &Path, run: &Path, epochs: u64, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pretext"));
    command
        .args([
            "pretrain",
            "--method",
            "rotation",
            "--encoder",
            "convnet-small",
        ])
        .args(["--data", &format!("fashion-mnist:{}", data.display())])
        .args(["--epochs", &epochs.to_string()])
        .args(["--batch-size", "16", "--resume", "--quiet"])
        .args([
            "--set",
            "encoder.width=0.25",
            "--set",
            "train.checkpoint_every=1",
        ])
        .arg("--out")
        .arg(run)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn stderr_of(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Temporary files a run left in its folder.
fn leftovers(run: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect()
}

/// The metrics a run logged, without the timings (which differ between runs).
fn logged(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut line: serde_json::Value = serde_json::from_str(l).unwrap();
            let fields = line.as_object_mut().unwrap();
            fields.remove("images_per_sec");
            fields.remove("data_wait");
            line
        })
        .collect()
}

/// Killed with SIGKILL at random moments and restarted with the same command each time, a
/// run ends with bit-identical tensors (every network, the optimiser's state, batch-norm
/// buffers) and the same metrics as a run never interrupted. The moments are drawn from a
/// seed printed on failure (set `PRETEXT_KILL_SEED` to repeat them).
#[test]
fn a_run_killed_at_random_moments_ends_as_if_never_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 256, 10);
    let whole = dir.path().join("whole");
    let started = Instant::now();
    let (ok, err) = stderr_of(command(&data, &whole, 4, &[]).spawn().unwrap());
    assert!(ok, "{err}");
    let duration = started.elapsed();

    let seed: u64 = std::env::var("PRETEXT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut state = seed | 1;
    let mut uniform = move || {
        // xorshift64*: enough to spread the kills.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let killed = dir.path().join("killed");
    let (mut kills, mut finished) = (0, false);
    for _ in 0..40 {
        let mut child = command(&data, &killed, 4, &[]).spawn().unwrap();
        // Up to 30 % of the whole run's duration: kills before the first checkpoint, during
        // checkpoint writes and between them all happen, and each kill leaves the next
        // process at most that much further.
        std::thread::sleep(duration.mul_f64(0.3 * uniform()));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        } else {
            let (ok, err) = stderr_of(child);
            assert!(ok, "seed {seed}: {err}");
            finished = true;
            break;
        }
        if kills == 8 {
            break;
        }
    }
    if !finished {
        let (ok, err) = stderr_of(command(&data, &killed, 4, &[]).spawn().unwrap());
        assert!(ok, "seed {seed}: {err}");
    }
    eprintln!("{kills} kills (seed {seed})");
    assert!(kills >= 3, "seed {seed}: only {kills} kills landed");
    let checkpoint = |run: &Path| common::tensors(&run.join("checkpoint.ckpt"));
    let (a, b) = (checkpoint(&whole), checkpoint(&killed));
    let differing: Vec<&String> = a.keys().filter(|k| b.get(*k) != Some(&a[*k])).collect();
    assert!(differing.is_empty(), "seed {seed}: {differing:?} differ");
    assert_eq!(logged(&whole), logged(&killed), "seed {seed}");
    assert_eq!(leftovers(&killed), Vec::<PathBuf>::new(), "seed {seed}");
}

/// A second process on a run directory that one is training stops with an error naming the
/// first; once the first is gone (killed), its lock is taken over.
#[test]
fn a_second_process_on_a_run_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 256, 10);
    let run = dir.path().join("run");
    let mut first = command(&data, &run, 1000, &[]).spawn().unwrap();
    let lock = run.join("run.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&lock).is_ok_and(|s| s.ends_with('\n')) {
        assert!(Instant::now() < deadline, "no lock within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, err) = stderr_of(command(&data, &run, 1000, &[]).spawn().unwrap());
    assert!(!ok);
    let holder = format!("pretext process {}", first.id());
    assert!(err.contains(&holder) && err.contains("run.lock"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    let (ok, err) = stderr_of(
        command(&data, &run, 1000, &["--max-steps", "1"])
            .spawn()
            .unwrap(),
    );
    assert!(ok, "{err}");
}

/// A disk that fills up during a checkpoint: the run stops with an error naming the
/// checkpoint, the last checkpoint stays intact and no temporary file is left; with space
/// again, the same command continues. A real full file system (a 4 MiB tmpfs in a user
/// namespace) where the system allows one, else a file-size limit (`ulimit -f`), which fails
/// the same write.
#[test]
fn a_full_disk_during_a_checkpoint_keeps_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_idx_dataset(&data, 256, 10);
    let copies = dir.path().join("copies");
    std::fs::create_dir(&copies).unwrap();
    let namespaces = Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let (disk, fill, free) = match namespaces {
        true => (
            dir.path().join("disk"),
            // Everything but 16 KiB: room for metrics lines, none for a checkpoint.
            r#"avail=$(df -k --output=avail "$DISK" | tail -1)
               dd if=/dev/zero of="$DISK/filler" bs=1k count=$((avail - 16)) 2>/dev/null"#,
            r#"rm "$DISK/filler""#,
        ),
        false => (
            dir.path().join("disk"),
            "ulimit -f 32",
            "ulimit -f unlimited",
        ),
    };
    std::fs::create_dir(&disk).unwrap();
    let run = disk.join("run");
    let train = |steps: &str| {
        let command = command(&data, &run, 2, &["--max-steps", steps]);
        let args: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect();
        args.join(" ")
    };
    let script = format!(
        r#"set -u
        {mount}
        {first} 2>&1 || exit 10
        ( {fill}
          {second} 2> "$COPIES/full.err"; echo $? > "$COPIES/full.status" )
        cp -r "$DISK/run" "$COPIES/after-full"
        {free}
        {third} 2>&1 || exit 11"#,
        mount = match namespaces {
            true => r#"mount -t tmpfs -o size=4m none "$DISK""#,
            false => "",
        },
        first = train("2"),
        second = train("4"),
        third = train("4"),
    );
    let mut shell = match namespaces {
        true => {
            let mut c = Command::new("unshare");
            c.args(["-rm", "sh", "-c", &script]);
            c
        }
        false => {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        }
    };
    let out = shell
        .env("DISK", &disk)
        .env("COPIES", &copies)
        .output()
        .unwrap();
    eprintln!(
        "full disk by {}",
        if namespaces { "tmpfs" } else { "ulimit -f" }
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let status = std::fs::read_to_string(copies.join("full.status")).unwrap();
    let err = std::fs::read_to_string(copies.join("full.err")).unwrap();
    assert_ne!(status.trim(), "0", "the run on a full disk did not fail");
    assert!(
        err.contains("checkpoint.ckpt")
            && (err.contains("No space left") || err.contains("File too large")),
        "{err}"
    );
    let after = copies.join("after-full");
    let saved = pretext::checkpoint::Checkpoint::load(&after.join("checkpoint.ckpt")).unwrap();
    assert_eq!(
        saved.header.step, 2,
        "the last checkpoint before the disk filled"
    );
    assert_eq!(leftovers(&after), Vec::<PathBuf>::new());
}

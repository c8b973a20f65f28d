//! Tests of the download logic against a tiny local HTTP/1.1 server (no internet).

use super::*;
use crate::test_server::{Mode, TestServer};
use std::collections::HashMap;
use std::sync::Mutex;

// ---------------------------------------------------------------------------------------------
// Fixtures.
// ---------------------------------------------------------------------------------------------

/// Deterministic, poorly compressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A fake CIFAR-10 binary archive: `cifar-10-batches-bin/` with two batch files and a text file.
fn fake_cifar_archive() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let members = vec![
        (
            "cifar-10-batches-bin/data_batch_1.bin".to_string(),
            noise(3073 * 40, 1),
        ),
        (
            "cifar-10-batches-bin/test_batch.bin".to_string(),
            noise(3073 * 20, 2),
        ),
        (
            "cifar-10-batches-bin/batches.meta.txt".to_string(),
            b"airplane\nautomobile\n".to_vec(),
        ),
    ];
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    builder
        .append_data(&mut dir, "cifar-10-batches-bin/", io::empty())
        .unwrap();
    for (name, data) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        builder.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    (gzip(&builder.into_inner().unwrap()), members)
}

/// A `.tar.gz` with one regular file whose name is written raw (bypassing the `tar` crate's
/// own checks), so it can be `../evil.txt` or `/tmp/evil.txt`.
fn archive_with_raw_name(name: &str) -> Vec<u8> {
    let data = b"evil";
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&h, &data[..]).unwrap();
    gzip(&builder.into_inner().unwrap())
}

fn archive_with_symlink() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    builder
        .append_link(&mut h, "data/link", "/etc/passwd")
        .unwrap();
    gzip(&builder.into_inner().unwrap())
}

fn leak(s: String) -> &'static str {
    s.leak()
}

fn file_entry(name: &str, data: &[u8], size: bool, extract: bool) -> RemoteFile {
    RemoteFile {
        name: leak(name.to_string()),
        sha256: Some(leak(sha(data))),
        size: size.then_some(data.len() as u64),
        extract,
    }
}

fn entry(name: &str, files: Vec<RemoteFile>, data_dir: Option<&'static str>) -> DatasetEntry {
    DatasetEntry {
        name: leak(name.to_string()),
        description: "test dataset",
        mirrors: &[],
        files: Box::leak(files.into_boxed_slice()),
        data_dir,
    }
}

fn opts(server: &TestServer) -> DownloadOptions {
    DownloadOptions {
        mirror: Some(server.base()),
        quiet: true,
        progress: None,
    }
}

/// Options that record every event's text.
fn recording(server: &TestServer) -> (DownloadOptions, Arc<Mutex<Vec<String>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let o = DownloadOptions {
        mirror: Some(server.base()),
        quiet: true,
        progress: Some(Arc::new(move |e: &Event<'_>| {
            sink.lock().unwrap().push(e.to_string())
        })),
    };
    (o, events)
}

/// Names in `dir` (sorted), for asserting what was left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn download_fresh_verifies_and_extracts() {
    let (archive, members) = fake_cifar_archive();
    let labels = gzip(&noise(1000, 3));
    let images = gzip(&noise(50_000, 4));
    let server = TestServer::start(HashMap::from([
        ("cifar-10-binary.tar.gz".to_string(), archive.clone()),
        ("labels.gz".to_string(), labels.clone()),
        ("images.gz".to_string(), images.clone()),
    ]));
    let e = entry(
        "cifar10",
        vec![
            file_entry("cifar-10-binary.tar.gz", &archive, true, true),
            file_entry("labels.gz", &labels, false, false),
            file_entry("images.gz", &images, true, false),
        ],
        Some("cifar-10-batches-bin"),
    );
    let dest = tempfile::tempdir().unwrap();
    let (o, events) = recording(&server);
    let out = download_entry(&e, dest.path(), &o).unwrap();
    assert_eq!(out, dest.path().join("cifar10/cifar-10-batches-bin"));
    let root = dest.path().join("cifar10");
    for (name, data) in &members {
        assert_eq!(&fs::read(root.join(name)).unwrap(), data, "{name}");
    }
    assert_eq!(fs::read(root.join("labels.gz")).unwrap(), labels);
    assert_eq!(fs::read(root.join("images.gz")).unwrap(), images);
    assert_eq!(
        fs::read(root.join("cifar-10-binary.tar.gz")).unwrap(),
        archive
    );
    assert_eq!(
        listing(&root),
        vec![
            ".cifar-10-binary.tar.gz.extracted",
            "cifar-10-batches-bin",
            "cifar-10-binary.tar.gz",
            "images.gz",
            "labels.gz",
        ],
        "no .part or temporary folder left behind"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.range.is_none() && r.status == 200));
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("downloading cifar-10-binary.tar.gz"))
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("extracting cifar-10-binary.tar.gz"))
    );
    assert!(
        !events.iter().any(|e| e.starts_with("warning")),
        "{events:?}"
    );
}

#[test]
fn download_resumes_from_part_file() {
    let data = gzip(&noise(300_000, 5));
    let server = TestServer::start(HashMap::from([("big.gz".to_string(), data.clone())]));
    let e = entry(
        "resume",
        vec![file_entry("big.gz", &data, true, false)],
        None,
    );
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("resume");
    fs::create_dir_all(&dir).unwrap();
    let k = data.len() / 3;
    fs::write(dir.join("big.gz.part"), &data[..k]).unwrap();

    let out = download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(out, dir);
    assert_eq!(fs::read(dir.join("big.gz")).unwrap(), data);
    assert!(!dir.join("big.gz.part").exists());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        reqs[0].range.as_deref(),
        Some(format!("bytes={k}-").as_str())
    );
    assert_eq!(reqs[0].status, 206);
    assert_eq!(reqs[0].body_bytes, data.len() - k, "only the rest was sent");
}

#[test]
fn download_interrupted_then_resumed() {
    let data = gzip(&noise(200_000, 6));
    let server = TestServer::start(HashMap::from([("cut.gz".to_string(), data.clone())]));
    let e = entry("cut", vec![file_entry("cut.gz", &data, true, false)], None);
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("cut");

    let cut = 70_000;
    server.set_mode(Mode::CutAfter(cut));
    let err = download_entry(&e, dest.path(), &opts(&server)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("{}cut.gz", server.base())), "{msg}");
    assert!(!dir.join("cut.gz").exists());
    let part_len = fs::metadata(dir.join("cut.gz.part")).unwrap().len() as usize;
    assert!(part_len > 0 && part_len <= cut, "{part_len}");

    server.set_mode(Mode::Normal);
    download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(fs::read(dir.join("cut.gz")).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].range.as_deref(),
        Some(format!("bytes={part_len}-").as_str())
    );
    assert_eq!(reqs[1].body_bytes, data.len() - part_len);
}

#[test]
fn download_restarts_when_server_ignores_range() {
    let data = gzip(&noise(100_000, 7));
    let server = TestServer::start(HashMap::from([("f.gz".to_string(), data.clone())]));
    server.set_mode(Mode::IgnoreRange);
    let e = entry("ignore", vec![file_entry("f.gz", &data, true, false)], None);
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("ignore");
    fs::create_dir_all(&dir).unwrap();
    // A part whose bytes do not even match: appending the 200 body to it would be corrupt.
    fs::write(dir.join("f.gz.part"), noise(40_000, 99)).unwrap();

    let (o, events) = recording(&server);
    download_entry(&e, dest.path(), &o).unwrap();
    assert_eq!(fs::read(dir.join("f.gz")).unwrap(), data);
    assert!(!dir.join("f.gz.part").exists());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].range.as_deref(), Some("bytes=40000-"));
    assert_eq!(reqs[0].status, 200);
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.contains("does not support resuming")),
        "{events:?}"
    );
}

#[test]
fn download_complete_part_with_unknown_size_gets_416_and_is_verified() {
    let data = gzip(&noise(20_000, 8));
    let server = TestServer::start(HashMap::from([("done.gz".to_string(), data.clone())]));
    let e = entry(
        "full",
        vec![file_entry("done.gz", &data, false, false)],
        None,
    );
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("full");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("done.gz.part"), &data).unwrap();

    download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(fs::read(dir.join("done.gz")).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].status, 416);
    assert_eq!(reqs[0].body_bytes, 0);
}

#[test]
fn download_complete_part_with_known_size_needs_no_request() {
    let data = gzip(&noise(20_000, 9));
    let server = TestServer::start(HashMap::new());
    let e = entry("known", vec![file_entry("k.gz", &data, true, false)], None);
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("known");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("k.gz.part"), &data).unwrap();
    download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(fs::read(dir.join("k.gz")).unwrap(), data);
    assert!(server.requests().is_empty());
}

#[test]
fn download_checksum_mismatch_names_file_and_digests() {
    let served = gzip(&noise(30_000, 10));
    let expected_data = gzip(&noise(30_000, 11));
    let server = TestServer::start(HashMap::from([("bad.gz".to_string(), served.clone())]));
    let mut f = file_entry("bad.gz", &expected_data, false, false);
    f.size = Some(served.len() as u64);
    let e = entry("mismatch", vec![f], None);
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("mismatch");

    let err = download_entry(&e, dest.path(), &opts(&server)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Download { .. }), "{err:?}");
    assert!(msg.contains("bad.gz"), "{msg}");
    assert!(msg.contains(&sha(&expected_data)), "{msg}");
    assert!(msg.contains(&sha(&served)), "{msg}");
    assert!(!dir.join("bad.gz").exists());
    assert!(!dir.join("bad.gz.part").exists());
}

#[test]
fn download_rerun_is_idempotent_and_offline() {
    let (archive, _) = fake_cifar_archive();
    let gz = gzip(&noise(5_000, 12));
    let server = TestServer::start(HashMap::from([
        ("a.tar.gz".to_string(), archive.clone()),
        ("b.gz".to_string(), gz.clone()),
    ]));
    let e = entry(
        "again",
        vec![
            file_entry("a.tar.gz", &archive, true, true),
            file_entry("b.gz", &gz, true, false),
        ],
        Some("cifar-10-batches-bin"),
    );
    let dest = tempfile::tempdir().unwrap();
    let first = download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(server.requests().len(), 2);

    let (o, events) = recording(&server);
    let second = download_entry(&e, dest.path(), &o).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        server.requests().len(),
        2,
        "the re-run must not hit the server"
    );
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.contains("already")), "{events:?}");

    // The extracted data is enough: deleting the archive does not cause a download either.
    fs::remove_file(dest.path().join("again/a.tar.gz")).unwrap();
    download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn download_replaces_corrupt_final_file() {
    let data = gzip(&noise(10_000, 13));
    let server = TestServer::start(HashMap::from([("c.gz".to_string(), data.clone())]));
    let e = entry(
        "corrupt",
        vec![file_entry("c.gz", &data, true, false)],
        None,
    );
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("corrupt");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("c.gz"), b"garbage").unwrap();
    download_entry(&e, dest.path(), &opts(&server)).unwrap();
    assert_eq!(fs::read(dir.join("c.gz")).unwrap(), data);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn download_rejects_unsafe_tar_entries() {
    let cases = [
        (
            "dotdot.tar.gz",
            archive_with_raw_name("../evil.txt"),
            "`..`",
        ),
        (
            "nested.tar.gz",
            archive_with_raw_name("data/../../evil.txt"),
            "`..`",
        ),
        (
            "absolute.tar.gz",
            archive_with_raw_name("/tmp/pretext-evil.txt"),
            "absolute",
        ),
        (
            "symlink.tar.gz",
            archive_with_symlink(),
            "only files and folders",
        ),
    ];
    let server = TestServer::start(
        cases
            .iter()
            .map(|(n, d, _)| (n.to_string(), d.clone()))
            .collect(),
    );
    for (name, data, why) in &cases {
        let dest = tempfile::tempdir().unwrap();
        let e = entry("unsafe", vec![file_entry(name, data, true, true)], None);
        let err = download_entry(&e, dest.path(), &opts(&server)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Format { .. }), "{err:?}");
        assert!(msg.contains(name), "{msg}");
        assert!(msg.contains(why), "{msg}");
        let dir = dest.path().join("unsafe");
        assert!(!dest.path().join("evil.txt").exists());
        assert!(!dir.join("evil.txt").exists());
        assert!(!dir.join(format!(".{name}.extracted")).exists());
        // Only the verified archive remains: no temporary folder, no marker.
        assert_eq!(listing(&dir), vec![name.to_string()]);
    }
    assert!(!Path::new("/tmp/pretext-evil.txt").exists());
}

#[test]
fn download_unknown_name_lists_known_names() {
    let dest = tempfile::tempdir().unwrap();
    let err = download("imagenet", dest.path(), &DownloadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("imagenet"), "{msg}");
    for name in ["mnist", "fashion-mnist", "cifar10", "cifar100", "stl10"] {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(fs::read_dir(dest.path()).unwrap().next().is_none());
}

#[test]
fn download_http_error_names_url_and_falls_back_to_next_mirror() {
    let data = gzip(&noise(4_000, 14));
    let server = TestServer::start(HashMap::from([("good/m.gz".to_string(), data.clone())]));
    let mut e = entry(
        "mirrors",
        vec![file_entry("m.gz", &data, true, false)],
        None,
    );
    let bad = format!("{}bad/", server.base());
    let good = format!("{}good", server.base());
    e.mirrors = Box::leak(vec![leak(bad.clone()), leak(good)].into_boxed_slice());
    let dest = tempfile::tempdir().unwrap();
    let o = DownloadOptions {
        quiet: true,
        ..DownloadOptions::default()
    };
    download_entry(&e, dest.path(), &o).unwrap();
    assert_eq!(fs::read(dest.path().join("mirrors/m.gz")).unwrap(), data);
    let seen: Vec<(String, u16)> = server
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("bad/m.gz".to_string(), 404),
            ("good/m.gz".to_string(), 200)
        ]
    );

    // Only the bad mirror: the error names the URL and the status.
    e.mirrors = Box::leak(vec![leak(bad.clone())].into_boxed_slice());
    let dest = tempfile::tempdir().unwrap();
    let err = download_entry(&e, dest.path(), &o).unwrap_err().to_string();
    assert!(err.contains(&format!("{bad}m.gz")), "{err}");
    assert!(err.contains("404"), "{err}");
}

#[test]
fn download_known_entry_through_mirror_override() {
    // A real registry entry pointed at the local server (which has nothing): no internet used.
    let server = TestServer::start(HashMap::new());
    let dest = tempfile::tempdir().unwrap();
    let err = download("mnist", dest.path(), &opts(&server))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{}train-images-idx3-ubyte.gz", server.base())),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
    let bad = DownloadOptions {
        mirror: Some("ftp://example.org/".to_string()),
        ..DownloadOptions::default()
    };
    assert!(download("mnist", dest.path(), &bad).is_err());
}

#[test]
fn download_unverified_file_warns() {
    let data = gzip(&noise(3_000, 15));
    let server = TestServer::start(HashMap::from([("u.gz".to_string(), data.clone())]));
    let mut f = file_entry("u.gz", &data, true, false);
    f.sha256 = None;
    let e = entry("unverified", vec![f], None);
    let dest = tempfile::tempdir().unwrap();
    let (o, events) = recording(&server);
    download_entry(&e, dest.path(), &o).unwrap();
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| e.starts_with("warning")
            && e.contains("UNVERIFIED")
            && e.contains(&sha(&data))),
        "{events:?}"
    );
}

#[test]
fn download_registry_is_complete_and_well_formed() {
    let names: Vec<&str> = known().iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        ["mnist", "fashion-mnist", "cifar10", "cifar100", "stl10"]
    );
    for e in known() {
        assert!(e.kind().is_some(), "{} is a DatasetKind name", e.name);
        assert!(e.fully_verified(), "{}", e.name);
        assert!(e.total_size().is_some(), "{}", e.name);
        assert!(!e.mirrors.is_empty() && !e.description.is_empty());
        for m in e.mirrors {
            assert!(m.ends_with('/') && m.starts_with("http"), "{m}");
        }
        for f in e.files {
            let digest = f.sha256.unwrap_or_default();
            assert_eq!(digest.len(), 64, "{}", f.name);
            assert!(
                digest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert_eq!(f.extract, f.name.ends_with(".tar.gz"), "{}", f.name);
        }
        assert_eq!(e.data_dir.is_some(), e.files.iter().any(|f| f.extract));
    }
    assert_eq!(find("cifar100").unwrap().files.len(), 1);
    assert_eq!(find("mnist").unwrap().files.len(), 4);
    assert_eq!(find("fashion-mnist").unwrap().files.len(), 4);
    assert!(find("folder").is_err());
}

#[test]
fn download_loopback_detection() {
    assert!(is_loopback("http://127.0.0.1:8000/"));
    assert!(is_loopback("http://localhost/x/"));
    assert!(is_loopback("http://[::1]:1/"));
    assert!(!is_loopback("http://localhost.example.org/"));
    assert!(!is_loopback("https://www.cs.toronto.edu/~kriz/"));
}

#[test]
fn download_content_range_parsing() {
    assert_eq!(
        parse_content_range("bytes 10-99/100"),
        Some((10, Some(100)))
    );
    assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, None)));
    assert_eq!(parse_content_range("items 0-9/10"), None);
    assert_eq!(parse_content_range("bytes x-9/10"), None);
}

//! Tests of the shard writer and reader: round trips through files and through a server on
//! 127.0.0.1, and damaged shards.

use super::*;
use crate::loader::{LoaderConfig, spawn};
use crate::source::InMemory;
use crate::test_server::{Mode, TestServer};
use std::collections::HashMap;
use std::sync::Arc;

/// `n` images of `channels` × 5 × 4 whose 8-bit values differ from image to image, labelled
/// `i % 3`.
fn images(n: usize, channels: usize) -> InMemory {
    let images = (0..n)
        .map(|i| {
            let pixels: Vec<u8> = (0..channels * 20)
                .map(|k| ((i * 37 + k * 11) % 256) as u8)
                .collect();
            Image::from_planar_u8(channels, 5, 4, &pixels)
        })
        .collect();
    InMemory::new(images, (0..n).map(|i| Some((i % 3) as u32)).collect())
}

/// Writes `source` as a `train` split of shards of 4 into `folder`, with its manifest.
fn write_train(source: &InMemory, folder: &Path) -> Manifest {
    let mut done = 0;
    let shards = write(source, folder, "train", 4, |n| done += n).unwrap();
    assert_eq!(done, source.len());
    let manifest = Manifest {
        format: FORMAT.into(),
        source: "test".into(),
        channels: source.channels(),
        classes: Some(vec!["a".into(), "b".into(), "c".into()]),
        splits: BTreeMap::from([("train".to_string(), shards)]),
    };
    write_manifest(folder, &manifest).unwrap();
    manifest
}

fn assert_same_data(a: &dyn ImageSource, b: &dyn ImageSource) {
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() {
        assert_eq!(a.get(i).unwrap(), b.get(i).unwrap(), "image {i}");
        assert_eq!(a.label(i), b.label(i), "label {i}");
    }
}

#[test]
fn patterns_expand_ranges_with_their_padding_and_lists() {
    assert_eq!(
        expand("d/train-{000..002}.tar").unwrap(),
        ["d/train-000.tar", "d/train-001.tar", "d/train-002.tar"]
    );
    assert_eq!(
        expand("{8..10}-{a,b}").unwrap(),
        ["8-a", "8-b", "9-a", "9-b", "10-a", "10-b"]
    );
    assert_eq!(expand("plain.tar").unwrap(), ["plain.tar"]);
    for bad in ["x-{1..", "x-{3..1}", "x-{a..b}"] {
        assert!(matches!(expand(bad), Err(DataError::Spec(_))), "{bad}");
    }
}

/// Written, read back through the manifest and through a pattern: the same images (8-bit
/// exact), labels and, under one seed, the same batches in the same order as the source.
#[test]
fn shards_round_trip_images_labels_and_order() {
    for channels in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let source = images(10, channels);
        let manifest = write_train(&source, dir.path());
        let shards = &manifest.splits["train"];
        assert_eq!(shards.len(), 3, "10 samples in shards of 4");
        assert_eq!(shards.iter().map(|s| s.samples.len()).sum::<usize>(), 10);
        let first = std::fs::read(dir.path().join("train-000000.tar")).unwrap();
        assert_eq!(shards[0].bytes, first.len() as u64);
        assert_eq!(shards[0].sha256, hex(&Sha256::digest(&first)));
        let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
        assert!(sums.starts_with(&format!("{}  train-000000.tar\n", shards[0].sha256)));

        let by_manifest =
            ShardDataset::open(dir.path().to_str().unwrap(), Split::Train, false).unwrap();
        assert_same_data(&source, &by_manifest);
        assert_eq!(by_manifest.channels(), channels);
        assert_eq!(by_manifest.classes().unwrap(), ["a", "b", "c"]);
        let pattern = format!("{}/train-{{000000..000002}}.tar", dir.path().display());
        let by_pattern = ShardDataset::open(&pattern, Split::Train, false).unwrap();
        assert_same_data(&source, &by_pattern);
        assert_eq!(by_pattern.channels(), channels);
        // The headers' index is the writer's.
        let indexed: Vec<&Sample> = by_pattern.shards.iter().flat_map(|s| &s.samples).collect();
        let written: Vec<&Sample> = shards.iter().flat_map(|s| &s.samples).collect();
        assert_eq!(indexed, written);
        // Written again: the same bytes.
        let again = tempfile::tempdir().unwrap();
        write_train(&source, again.path());
        assert_eq!(
            std::fs::read(again.path().join("train-000000.tar")).unwrap(),
            first
        );

        let batches = |source: Arc<dyn ImageSource>| {
            let config = LoaderConfig {
                batch_size: 3,
                seed: 7,
                epochs: Some(2),
                ..LoaderConfig::default()
            };
            spawn(source, config, |image, _, _| image)
                .map(|batch| {
                    let batch = batch.unwrap();
                    (batch.indices, batch.samples)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(batches(Arc::new(source)), batches(Arc::new(by_manifest)));
    }
}

/// Through HTTP: the manifest and the shards at addresses, each sample one `Range` request;
/// a pattern of addresses is indexed by streaming each shard once.
#[test]
fn shards_stream_from_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let source = images(9, 3);
    write_train(&source, dir.path());
    let files: HashMap<String, Vec<u8>> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = format!("data/{}", p.file_name().unwrap().to_string_lossy());
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    let server = TestServer::start(files);
    let base = format!("{}data/", server.base());

    let by_manifest =
        ShardDataset::open(&format!("{base}{MANIFEST}"), Split::Train, false).unwrap();
    assert_same_data(&source, &by_manifest);
    let requests = server.requests();
    let ranged: Vec<_> = requests.iter().filter(|r| r.range.is_some()).collect();
    assert_eq!(ranged.len(), 9, "one range request per image: {requests:?}");
    assert!(ranged.iter().all(|r| r.status == 206));
    let whole: Vec<_> = requests.iter().filter(|r| r.range.is_none()).collect();
    assert_eq!(
        whole.len(),
        1,
        "the manifest alone is read whole: {whole:?}"
    );

    let by_pattern = ShardDataset::open(
        &format!("{base}train-{{000000..000002}}.tar"),
        Split::Train,
        false,
    )
    .unwrap();
    assert_same_data(&source, &by_pattern);
    assert!(ShardDataset::open(&format!("{base}{MANIFEST}"), Split::Test, false).is_err());

    // Read ahead for the streaming order: one request per 8 MiB chunk, not per image.
    let ahead = ShardDataset::open(&format!("{base}{MANIFEST}"), Split::Train, false)
        .unwrap()
        .read_ahead(4);
    assert_eq!(ahead.blocks(), Some(vec![4, 4, 1]));
    let before = server.requests().len();
    for i in crate::loader::streaming_order(&[4, 4, 1], 0, 0, 4) {
        assert_eq!(ahead.get(i).unwrap(), source.get(i).unwrap());
    }
    let requests = server.requests();
    assert_eq!(
        requests.len() - before,
        3,
        "a chunk per shard: {:?}",
        &requests[before..]
    );

    server.set_mode(Mode::IgnoreRange);
    let err = by_manifest.get(0).unwrap_err().to_string();
    assert!(
        err.contains("ignores byte ranges") && err.contains("train-000000.tar"),
        "{err}"
    );
}

/// A truncated shard and a corrupt member: errors that name them; with `skip_corrupt`, the
/// whole samples before the damage are kept.
#[test]
fn damaged_shards_and_members_are_named_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let source = images(8, 1);
    let manifest = write_train(&source, dir.path());
    let last = dir.path().join("train-000001.tar");
    let bytes = std::fs::read(&last).unwrap();
    // Cut inside the third sample's image of the second shard.
    let third = &manifest.splits["train"][1].samples[2];
    let cut = (third.1 + 10) as usize;
    std::fs::write(&last, &bytes[..cut]).unwrap();

    // Through the manifest (the file is shorter than it says) and through a pattern (a member
    // runs past the end of the file).
    let folder = dir.path().display().to_string();
    let pattern = format!("{folder}/train-{{000000..000001}}.tar");
    for location in [&folder, &pattern] {
        let err = ShardDataset::open(location, Split::Train, false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("train-000001.tar") && err.contains("truncated"),
            "{err}"
        );
        let kept = ShardDataset::open(location, Split::Train, true).unwrap();
        assert_eq!(kept.len(), 6, "4 + the 2 whole samples of the cut shard");
        assert_eq!(kept.get(5).unwrap(), source.get(5).unwrap());
    }

    // A member whose bytes are not an image: the error names the shard and the member.
    std::fs::write(&last, &bytes).unwrap();
    let mut broken = bytes.clone();
    let first = &manifest.splits["train"][1].samples[0];
    broken[first.1 as usize..][..8].copy_from_slice(b"garbage!");
    std::fs::write(&last, &broken).unwrap();
    let dataset = ShardDataset::open(&folder, Split::Train, false).unwrap();
    let err = dataset.get(4).unwrap_err().to_string();
    assert!(err.contains("train-000001.tar/00000004.png"), "{err}");
    assert!(dataset.get(5).is_ok());
}

//! Test data in real formats, generated on the fly.
#![allow(dead_code)]

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;

/// A 28×28 image of class `class` (0..10): a bright bar whose position and orientation
/// depend on the class, plus deterministic noise from `seed`.
pub fn pattern(class: u8, seed: u32) -> Vec<u8> {
    let mut img = vec![0u8; 28 * 28];
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    for px in img.iter_mut() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *px = ((state >> 16) % 40) as u8;
    }
    let pos = 3 + 2 * (class as usize % 5);
    for i in 2..26 {
        let (y, x) = if class < 5 { (pos, i) } else { (i, pos) };
        img[y * 28 + x] = 220;
        img[(y + 1) * 28 + x] = 200;
    }
    img
}

fn idx_images(n: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut enc = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap();
}

/// Writes a gzipped IDX dataset (Fashion-MNIST file names) with `train` and `test` images.
pub fn write_idx_dataset(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n, offset) in [("train", train, 0u32), ("t10k", test, 1_000_000)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = labels
            .iter()
            .enumerate()
            .flat_map(|(i, &c)| pattern(c, offset + i as u32))
            .collect();
        write_gz(
            &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            &idx_images(n, &pixels),
        );
        write_gz(
            &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            &idx_labels(&labels),
        );
    }
}

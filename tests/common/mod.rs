//! Test data in real formats, generated on the fly.
#![allow(dead_code)]

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `pretext` binary with `args` (warnings only on stderr).
pub fn pretext(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretext"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run pretext")
}

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

/// Writes `count` colour PNG photos-like images (`side`×`side`): smooth colour gradients with
/// a coloured disc, hue depending on the index, into `dir` (no sub-folders: unlabelled).
pub fn write_color_folder(dir: &Path, count: usize, side: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let hue = (i * 37 % 360) as f32;
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let t = (x + y) as f32 / (2 * side) as f32;
            let (cx, cy) = (side as f32 * 0.6, side as f32 * 0.4);
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let disc = d < side as f32 / 4.0;
            let h = if disc { (hue + 180.0) % 360.0 } else { hue };
            let (r, g, b) = hsv(h, 0.8, 0.3 + 0.6 * t);
            image::Rgb([r, g, b])
        });
        img.save(dir.join(format!("img{i:03}.png"))).unwrap();
    }
}

/// `count` PNG images of side `side` in one hue and saturation (HSV), their value varying
/// over `values` along a different diagonal pattern per image (a constant colour when the
/// range is empty). Scaling an sRGB colour nearly keeps its CIE Lab hue angle (exactly so
/// for a pure power-law transfer curve), so every pixel has about the same hue.
pub fn write_one_hue_folder(dir: &Path, count: usize, side: u32, hue: f32, values: (f32, f32)) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let t = ((x * (i as u32 % 3 + 1) + y * (i as u32 % 5 + 1)) % side) as f32 / side as f32;
            let (r, g, b) = hsv(hue, 0.7, values.0 + (values.1 - values.0) * t);
            image::Rgb([r, g, b])
        });
        img.save(dir.join(format!("img{i:03}.png"))).unwrap();
    }
}

fn hsv(h: f32, s: f32, v: f32) -> (u8, u8, u8) {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let q = |u: f32| ((u + m) * 255.0).round() as u8;
    (q(r), q(g), q(b))
}

/// Every tensor of a checkpoint's three records (encoder, heads, optimiser state), by path;
/// the optimiser's state, stored under parameter ids (random per process), is renamed after
/// the parameter it belongs to.
pub fn tensors(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let saved = pretext::checkpoint::Checkpoint::load(path).unwrap();
    let read = |bytes: Vec<u8>| {
        burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .unwrap()
            .into_tensors()
            .unwrap()
            .into_iter()
            .map(|t| t.into_parts().unwrap())
    };
    let mut all = std::collections::BTreeMap::new();
    let mut names = std::collections::HashMap::new();
    for (part, bytes) in [("encoder", saved.encoder), ("head", saved.head)] {
        for (name, _, shape, id, bytes) in read(bytes) {
            let key = format!("{part}/{name} {shape:?}");
            names.insert(id.unwrap().to_string(), key.clone());
            assert!(all.insert(key, bytes.to_vec()).is_none());
        }
    }
    for (name, _, shape, _, bytes) in read(saved.optimizer) {
        let (id, state) = name.split_once('.').unwrap();
        let key = format!("optimizer/{}.{state} {shape:?}", names[id]);
        assert!(all.insert(key, bytes.to_vec()).is_none());
    }
    all
}

//! MNIST and Fashion-MNIST in the IDX file format.
//!
//! The IDX format (Y. LeCun, <http://yann.lecun.com/exdb/mnist/>) is a big-endian header —
//! a 4-byte magic number whose third byte is the element type (`0x08` = unsigned byte) and
//! whose fourth byte is the number of dimensions, then one 4-byte size per dimension — followed
//! by the raw elements. MNIST and Fashion-MNIST ship four such files:
//!
//! | file                        | magic        | dimensions        |
//! |-----------------------------|--------------|-------------------|
//! | `train-images-idx3-ubyte`   | `0x00000803` | N × rows × cols   |
//! | `train-labels-idx1-ubyte`   | `0x00000801` | N                 |
//! | `t10k-images-idx3-ubyte`    | `0x00000803` | N × rows × cols   |
//! | `t10k-labels-idx1-ubyte`    | `0x00000801` | N                 |
//!
//! Each may be gzipped (recognised by the gzip magic bytes `1f 8b`, whatever the file is
//! called); the `.gz` suffix and the `train-images.idx3-ubyte` spelling are also accepted.

use crate::{DataError, DatasetKind, Image, ImageSource, Split};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The ten Fashion-MNIST class names, in label order (Zalando Research's official list).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Number of classes of MNIST and Fashion-MNIST.
const NUM_CLASSES: u8 = 10;

/// One split of MNIST or Fashion-MNIST read from IDX files (see the [module docs](self)).
///
/// The pixels stay in memory as bytes (47 MB for the 60 000 training images); [`get`]
/// converts one image to a single-channel [`Image`] in `[0, 1]`.
///
/// [`get`]: ImageSource::get
#[derive(Debug)]
pub struct IdxDataset {
    images_path: PathBuf,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    classes: Vec<String>,
}

impl IdxDataset {
    /// Opens split `split` of the MNIST-style dataset in folder `path`.
    ///
    /// [`Split::Train`] and [`Split::TrainUnlabeled`] read the `train-*` files, [`Split::Test`]
    /// the `t10k-*` files; [`Split::Unlabeled`] is an error (these datasets have none). `kind`
    /// chooses the class names: [`DatasetKind::FashionMnist`] gets [`FASHION_MNIST_CLASSES`],
    /// anything else `"0"`..`"9"`.
    ///
    /// Both files are validated completely: magic numbers, dimensions, exact file length, equal
    /// image and label counts and labels below 10. Every error names the offending file.
    pub fn open(path: &Path, split: Split, kind: DatasetKind) -> Result<Self, DataError> {
        let prefix = match split {
            Split::Train | Split::TrainUnlabeled => "train",
            Split::Test => "t10k",
            Split::Unlabeled => {
                return Err(DataError::format(
                    path,
                    format!(
                        "{} has no unlabeled split; use train, test or train-unlabeled",
                        dataset_name(kind)
                    ),
                ));
            }
        };
        let images_path = find_file(path, prefix, "images", "idx3-ubyte")?;
        let labels_path = find_file(path, prefix, "labels", "idx1-ubyte")?;

        let (pixels, count, rows, cols) = read_images(&images_path)?;
        let labels = read_labels(&labels_path)?;
        if labels.len() != count {
            return Err(DataError::format(
                &labels_path,
                format!(
                    "holds {} labels but {} holds {count} images",
                    labels.len(),
                    images_path.display()
                ),
            ));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, l)| **l >= NUM_CLASSES) {
            return Err(DataError::format(
                &labels_path,
                format!("label {l} of image {i} is out of range (expected 0..=9)"),
            ));
        }
        let classes = match kind {
            DatasetKind::FashionMnist => FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            _ => (0..NUM_CLASSES).map(|d| d.to_string()).collect(),
        };
        Ok(IdxDataset {
            images_path,
            pixels,
            labels,
            rows,
            cols,
            classes,
        })
    }

    /// Image height in pixels (28 for MNIST and Fashion-MNIST).
    pub fn height(&self) -> usize {
        self.rows
    }

    /// Image width in pixels (28 for MNIST and Fashion-MNIST).
    pub fn width(&self) -> usize {
        self.cols
    }
}

impl ImageSource for IdxDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> Result<Image, DataError> {
        let size = self.rows * self.cols;
        let start = index.checked_mul(size).filter(|_| index < self.len());
        let pixels = start
            .and_then(|s| self.pixels.get(s..s + size))
            .ok_or_else(|| {
                DataError::format(
                    &self.images_path,
                    format!("image index {index} out of range ({} images)", self.len()),
                )
            })?;
        Ok(Image::from_planar_u8(1, self.rows, self.cols, pixels))
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.get(index).map(|&l| u32::from(l))
    }

    fn classes(&self) -> Option<&[String]> {
        Some(&self.classes)
    }

    fn channels(&self) -> usize {
        1
    }

    fn origin(&self) -> String {
        self.images_path.display().to_string()
    }
}

fn dataset_name(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::FashionMnist => "Fashion-MNIST",
        _ => "MNIST",
    }
}

/// Finds `{prefix}-{what}-{suffix}` (or `{prefix}-{what}.{suffix}`), with or without `.gz`.
fn find_file(folder: &Path, prefix: &str, what: &str, suffix: &str) -> Result<PathBuf, DataError> {
    let canonical = format!("{prefix}-{what}-{suffix}");
    let names = [
        canonical.clone(),
        format!("{canonical}.gz"),
        format!("{prefix}-{what}.{suffix}"),
        format!("{prefix}-{what}.{suffix}.gz"),
    ];
    names
        .iter()
        .map(|n| folder.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            DataError::io(
                folder.join(format!("{canonical}[.gz]")),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "IDX file not found (also looked for the .gz and `.idx` spellings)",
                ),
            )
        })
}

/// Reads a whole file, gunzipping it if it starts with the gzip magic bytes.
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt or truncated gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses the IDX header: checks the magic number and returns the dimension sizes.
fn parse_header(
    path: &Path,
    data: &[u8],
    magic: u32,
    ndims: usize,
) -> Result<Vec<usize>, DataError> {
    let header_len = 4 + 4 * ndims;
    let short = || {
        DataError::format(
            path,
            format!(
                "truncated IDX header: expected at least {header_len} bytes, found {}",
                data.len()
            ),
        )
    };
    if data.len() < 4 {
        return Err(short());
    }
    let word = |i: usize| {
        u32::from_be_bytes([
            data[4 * i],
            data[4 * i + 1],
            data[4 * i + 2],
            data[4 * i + 3],
        ])
    };
    let found = word(0);
    if found != magic {
        let expected = if magic == IMAGES_MAGIC {
            "unsigned-byte images, 3 dimensions"
        } else {
            "unsigned-byte labels, 1 dimension"
        };
        return Err(DataError::format(
            path,
            format!(
                "bad IDX magic number 0x{found:08x}, expected 0x{magic:08x} ({expected}); is this the right file?"
            ),
        ));
    }
    if data.len() < header_len {
        return Err(short());
    }
    Ok((1..=ndims).map(|i| word(i) as usize).collect())
}

/// Checks that `data` has exactly `header + body` bytes.
fn check_length(
    path: &Path,
    data: &[u8],
    header: usize,
    body: Option<usize>,
    what: &str,
) -> Result<(), DataError> {
    let expected = body.and_then(|b| b.checked_add(header)).ok_or_else(|| {
        DataError::format(
            path,
            format!("IDX header declares an impossible size ({what})"),
        )
    })?;
    if data.len() != expected {
        let problem = if data.len() < expected {
            "truncated"
        } else {
            "has trailing data"
        };
        return Err(DataError::format(
            path,
            format!(
                "{problem}: header declares {what}, so expected {expected} bytes (uncompressed), found {}",
                data.len()
            ),
        ));
    }
    Ok(())
}

/// Reads an images file: (pixels, count, rows, cols).
fn read_images(path: &Path) -> Result<(Vec<u8>, usize, usize, usize), DataError> {
    let mut data = read_maybe_gzip(path)?;
    let dims = parse_header(path, &data, IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::format(
            path,
            format!("IDX header declares empty {rows}×{cols} images"),
        ));
    }
    let body = count.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    check_length(
        path,
        &data,
        16,
        body,
        &format!("{count} images of {rows}×{cols}"),
    )?;
    data.drain(..16);
    Ok((data, count, rows, cols))
}

/// Reads a labels file.
fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut data = read_maybe_gzip(path)?;
    let dims = parse_header(path, &data, LABELS_MAGIC, 1)?;
    check_length(
        path,
        &data,
        8,
        Some(dims[0]),
        &format!("{} labels", dims[0]),
    )?;
    data.drain(..8);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn images_bytes(
        count: u32,
        rows: u32,
        cols: u32,
        pixel: impl Fn(u32, u32, u32) -> u8,
    ) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
        for d in [count, rows, cols] {
            v.extend_from_slice(&d.to_be_bytes());
        }
        for n in 0..count {
            for y in 0..rows {
                for x in 0..cols {
                    v.push(pixel(n, y, x));
                }
            }
        }
        v
    }

    fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
        v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        v.extend_from_slice(labels);
        v
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn pixel(n: u32, y: u32, x: u32) -> u8 {
        ((n * 31 + y * 7 + x) % 256) as u8
    }

    /// Writes a small dataset: train 5 images of 4×3 (gzipped), test 3 images (raw).
    fn write_dataset(dir: &Path) {
        std::fs::write(
            dir.join("train-images-idx3-ubyte.gz"),
            gz(&images_bytes(5, 4, 3, pixel)),
        )
        .unwrap();
        std::fs::write(
            dir.join("train-labels-idx1-ubyte.gz"),
            gz(&labels_bytes(&[3, 1, 4, 1, 5])),
        )
        .unwrap();
        std::fs::write(
            dir.join("t10k-images-idx3-ubyte"),
            images_bytes(3, 4, 3, pixel),
        )
        .unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels_bytes(&[9, 2, 6])).unwrap();
    }

    fn err_string<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn reads_gzipped_and_raw_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path());
        let train = IdxDataset::open(dir.path(), Split::Train, DatasetKind::FashionMnist).unwrap();
        assert_eq!(train.len(), 5);
        assert_eq!(train.channels(), 1);
        assert_eq!((train.height(), train.width()), (4, 3));
        assert_eq!(
            (0..5).map(|i| train.label(i).unwrap()).collect::<Vec<_>>(),
            vec![3, 1, 4, 1, 5]
        );
        assert_eq!(train.label(5), None);
        let img = train.get(2).unwrap();
        assert_eq!((img.channels, img.height, img.width), (1, 4, 3));
        for y in 0..4 {
            for x in 0..3 {
                assert_eq!(
                    img.at(0, y, x),
                    f32::from(pixel(2, y as u32, x as u32)) / 255.0
                );
            }
        }
        assert!(train.get(5).is_err());
        let classes = train.classes().unwrap();
        assert_eq!(classes.len(), 10);
        assert_eq!(classes[0], "T-shirt/top");
        assert_eq!(classes[9], "Ankle boot");
        assert!(train.origin().ends_with("train-images-idx3-ubyte.gz"));

        let test = IdxDataset::open(dir.path(), Split::Test, DatasetKind::Mnist).unwrap();
        assert_eq!(test.len(), 3);
        assert_eq!(test.label(0), Some(9));
        assert_eq!(test.classes().unwrap()[7], "7");
        assert_eq!(
            test.get(1).unwrap().at(0, 3, 2),
            f32::from(pixel(1, 3, 2)) / 255.0
        );

        let tu = IdxDataset::open(dir.path(), Split::TrainUnlabeled, DatasetKind::Mnist).unwrap();
        assert_eq!(tu.len(), 5);
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Unlabeled,
            DatasetKind::Mnist,
        ));
        assert!(e.contains("no unlabeled split"), "{e}");
    }

    #[test]
    fn gzip_detected_by_magic_and_dot_naming_variant() {
        let dir = tempfile::tempdir().unwrap();
        // Gzipped content without a .gz suffix, and the `-images.idx3-ubyte` spelling.
        std::fs::write(
            dir.path().join("train-images.idx3-ubyte"),
            gz(&images_bytes(2, 2, 2, pixel)),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("train-labels.idx1-ubyte"),
            labels_bytes(&[0, 7]),
        )
        .unwrap();
        let ds = IdxDataset::open(dir.path(), Split::Train, DatasetKind::Mnist).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.label(1), Some(7));
        assert_eq!(
            ds.get(1).unwrap().at(0, 1, 1),
            f32::from(pixel(1, 1, 1)) / 255.0
        );
    }

    #[test]
    fn missing_folder_and_missing_file_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = err_string(IdxDataset::open(&missing, Split::Train, DatasetKind::Mnist));
        assert!(
            e.contains("nope") && e.contains("train-images-idx3-ubyte"),
            "{e}"
        );
        let spec = crate::DataSpec {
            kind: DatasetKind::Mnist,
            path: missing.clone(),
        };
        let e = err_string(crate::open::open(&spec, Split::Train, &Default::default()).map(|_| ()));
        assert!(e.contains("nope") && e.contains("no such file"), "{e}");

        // Images present, labels missing.
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            images_bytes(1, 2, 2, pixel),
        )
        .unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Test,
            DatasetKind::Mnist,
        ));
        assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
    }

    #[test]
    fn truncated_images_file_names_file_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path());
        let mut bytes = images_bytes(3, 4, 3, pixel);
        bytes.truncate(bytes.len() - 5);
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &bytes).unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Test,
            DatasetKind::Mnist,
        ));
        assert!(e.contains("t10k-images-idx3-ubyte"), "{e}");
        assert!(
            e.contains("truncated") && e.contains("expected 52 bytes") && e.contains("found 47"),
            "{e}"
        );

        // A truncated gzip stream.
        let gzipped = gz(&images_bytes(5, 4, 3, pixel));
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte.gz"),
            &gzipped[..gzipped.len() / 2],
        )
        .unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Train,
            DatasetKind::Mnist,
        ));
        assert!(
            e.contains("train-images-idx3-ubyte.gz") && e.contains("gzip"),
            "{e}"
        );

        // A header cut short.
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            &images_bytes(3, 4, 3, pixel)[..10],
        )
        .unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Test,
            DatasetKind::Mnist,
        ));
        assert!(
            e.contains("t10k-images-idx3-ubyte") && e.contains("truncated IDX header"),
            "{e}"
        );
    }

    #[test]
    fn wrong_magic_names_file() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path());
        // Labels file where the images file should be.
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            labels_bytes(&[1, 2, 3]),
        )
        .unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Test,
            DatasetKind::Mnist,
        ));
        assert!(
            e.contains("t10k-images-idx3-ubyte") && e.contains("bad IDX magic number 0x00000801"),
            "{e}"
        );
    }

    #[test]
    fn label_count_mismatch_and_bad_label() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path());
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            labels_bytes(&[1, 2]),
        )
        .unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Test,
            DatasetKind::Mnist,
        ));
        assert!(
            e.contains("t10k-labels-idx1-ubyte")
                && e.contains("holds 2 labels")
                && e.contains("3 images"),
            "{e}"
        );

        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            labels_bytes(&[1, 12, 2]),
        )
        .unwrap();
        let e = err_string(IdxDataset::open(
            dir.path(),
            Split::Test,
            DatasetKind::Mnist,
        ));
        assert!(
            e.contains("t10k-labels-idx1-ubyte") && e.contains("label 12 of image 1"),
            "{e}"
        );
    }

    #[test]
    fn real_fashion_mnist_if_present() {
        let root = Path::new("/usr/share/datasets/fashion-mnist");
        if !root.is_dir() {
            return;
        }
        let train = IdxDataset::open(root, Split::Train, DatasetKind::FashionMnist).unwrap();
        let test = IdxDataset::open(root, Split::Test, DatasetKind::FashionMnist).unwrap();
        assert_eq!(train.len(), 60_000);
        assert_eq!(test.len(), 10_000);
        assert_eq!((train.height(), train.width()), (28, 28));
        let img = train.get(59_999).unwrap();
        assert_eq!((img.channels, img.height, img.width), (1, 28, 28));
        assert!(img.data.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(train.classes().unwrap().len(), 10);
        let mut counts = [0usize; 10];
        for i in 0..train.len() {
            counts[train.label(i).unwrap() as usize] += 1;
        }
        assert_eq!(counts, [6000; 10]);
    }
}

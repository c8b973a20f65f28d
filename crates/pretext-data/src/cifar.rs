//! CIFAR-10 and CIFAR-100, "binary version" (A. Krizhevsky,
//! <https://www.cs.toronto.edu/~kriz/cifar.html>).
//!
//! * CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin` (training) and
//!   `test_batch.bin`; each record is 1 label byte (0–9) followed by 3072 pixel bytes — the
//!   32×32 red plane, then green, then blue, each row-major. Class names are the lines of
//!   `batches.meta.txt`.
//! * CIFAR-100 (`cifar-100-binary/`): `train.bin` and `test.bin`; each record is a coarse label
//!   byte (0–19), a fine label byte (0–99), then the same 3072 pixel bytes. The fine labels are
//!   used; their names are the lines of `fine_label_names.txt`.
//!
//! Records are read on demand with positioned reads, so opening costs one pass over the label
//! bytes and almost no memory.

use crate::{DataError, DatasetKind, Image, ImageSource, Split};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Image side length of CIFAR images.
const SIDE: usize = 32;
/// Pixel bytes per CIFAR record (3 × 32 × 32).
const PIXELS: usize = 3 * SIDE * SIDE;

/// The CIFAR-10 class names in label order (as in `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The CIFAR-100 fine class names in label order (as in `fine_label_names.txt`).
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

/// The layout of one CIFAR variant.
struct Layout {
    name: &'static str,
    folder: &'static str,
    train: &'static [&'static str],
    test: &'static [&'static str],
    names_file: &'static str,
    default_names: &'static [&'static str],
    /// Bytes before the pixels; the label used is the last of them.
    label_bytes: usize,
    /// Bound of the first label byte when there are two (CIFAR-100 coarse labels).
    coarse_classes: u8,
}

const CIFAR10: Layout = Layout {
    name: "CIFAR-10",
    folder: "cifar-10-batches-bin",
    train: &[
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ],
    test: &["test_batch.bin"],
    names_file: "batches.meta.txt",
    default_names: &CIFAR10_CLASSES,
    label_bytes: 1,
    coarse_classes: 0,
};

const CIFAR100: Layout = Layout {
    name: "CIFAR-100",
    folder: "cifar-100-binary",
    train: &["train.bin"],
    test: &["test.bin"],
    names_file: "fine_label_names.txt",
    default_names: &CIFAR100_CLASSES,
    label_bytes: 2,
    coarse_classes: 20,
};

impl Layout {
    fn record(&self) -> usize {
        self.label_bytes + PIXELS
    }
}

/// One open batch file.
#[derive(Debug)]
struct Part {
    path: PathBuf,
    file: File,
    /// Index of this file's first record in the dataset.
    first: usize,
    records: usize,
}

/// One split of CIFAR-10 or CIFAR-100, binary version (see the [module docs](self)).
///
/// Holds the batch files open and reads one 3×32×32 record per [`get`]; the labels (fine
/// labels for CIFAR-100) are read at open.
///
/// [`get`]: ImageSource::get
#[derive(Debug)]
pub struct CifarDataset {
    folder: PathBuf,
    parts: Vec<Part>,
    labels: Vec<u8>,
    classes: Vec<String>,
    label_bytes: usize,
}

impl CifarDataset {
    /// Opens split `split` of CIFAR-10 (`kind` = [`DatasetKind::Cifar10`]) or CIFAR-100
    /// ([`DatasetKind::Cifar100`]).
    ///
    /// `path` is the extracted folder (`cifar-10-batches-bin/`, `cifar-100-binary/`) or the
    /// folder containing it. [`Split::Train`] and [`Split::TrainUnlabeled`] read the training
    /// batches, [`Split::Test`] the test batch; [`Split::Unlabeled`] is an error. Each file's
    /// length must be a whole number of records and every label in range; errors name the file.
    pub fn open(path: &Path, split: Split, kind: DatasetKind) -> Result<Self, DataError> {
        let layout = match kind {
            DatasetKind::Cifar10 => &CIFAR10,
            DatasetKind::Cifar100 => &CIFAR100,
            other => {
                return Err(DataError::Spec(format!(
                    "{}: dataset kind `{}` is not CIFAR",
                    path.display(),
                    other.name()
                )));
            }
        };
        let names = match split {
            Split::Train | Split::TrainUnlabeled => layout.train,
            Split::Test => layout.test,
            Split::Unlabeled => {
                return Err(DataError::format(
                    path,
                    format!(
                        "{} has no unlabeled split; use train, test or train-unlabeled",
                        layout.name
                    ),
                ));
            }
        };
        let folder = locate(path, layout)?;
        let classes = read_class_names(&folder, layout)?;

        let mut parts = Vec::with_capacity(names.len());
        let mut labels = Vec::new();
        for name in names {
            let file_path = folder.join(name);
            let part = open_part(&file_path, layout, labels.len())?;
            read_labels(&part, layout, &mut labels)?;
            parts.push(part);
        }
        Ok(CifarDataset {
            folder,
            parts,
            labels,
            classes,
            label_bytes: layout.label_bytes,
        })
    }
}

impl ImageSource for CifarDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> Result<Image, DataError> {
        let part = self
            .parts
            .iter()
            .find(|p| index >= p.first && index < p.first + p.records)
            .ok_or_else(|| {
                DataError::format(
                    &self.folder,
                    format!("image index {index} out of range ({} images)", self.len()),
                )
            })?;
        let record = self.label_bytes + PIXELS;
        let offset = ((index - part.first) * record + self.label_bytes) as u64;
        let mut buf = vec![0u8; PIXELS];
        part.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| DataError::io(&part.path, e))?;
        Ok(Image::from_planar_u8(3, SIDE, SIDE, &buf))
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.get(index).map(|&l| u32::from(l))
    }

    fn classes(&self) -> Option<&[String]> {
        Some(&self.classes)
    }

    fn channels(&self) -> usize {
        3
    }

    fn origin(&self) -> String {
        self.folder.display().to_string()
    }
}

/// The folder holding the batch files: `path` itself or `path/<layout.folder>`.
fn locate(path: &Path, layout: &Layout) -> Result<PathBuf, DataError> {
    let markers: Vec<&str> = layout.train.iter().chain(layout.test).copied().collect();
    crate::source::locate_folder(path, layout.folder, &markers, layout.name)
}

/// Class names from the names file when present, else the official list.
fn read_class_names(folder: &Path, layout: &Layout) -> Result<Vec<String>, DataError> {
    let path = folder.join(layout.names_file);
    if !path.is_file() {
        return Ok(layout.default_names.iter().map(|s| s.to_string()).collect());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != layout.default_names.len() {
        return Err(DataError::format(
            &path,
            format!(
                "lists {} class names, expected {} for {}",
                names.len(),
                layout.default_names.len(),
                layout.name
            ),
        ));
    }
    Ok(names)
}

/// Opens a batch file and checks its length is a non-zero whole number of records.
fn open_part(path: &Path, layout: &Layout, first: usize) -> Result<Part, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let record = layout.record() as u64;
    if len == 0 {
        return Err(DataError::format(path, "file is empty"));
    }
    if len % record != 0 {
        return Err(DataError::format(
            path,
            format!(
                "truncated or corrupt: {len} bytes is not a whole number of {record}-byte {} records \
                 ({} whole records + {} bytes)",
                layout.name,
                len / record,
                len % record
            ),
        ));
    }
    Ok(Part {
        path: path.to_path_buf(),
        file,
        first,
        records: (len / record) as usize,
    })
}

/// Appends the labels of every record of `part` to `labels`, validating them.
fn read_labels(part: &Part, layout: &Layout, labels: &mut Vec<u8>) -> Result<(), DataError> {
    const CHUNK: usize = 256;
    let record = layout.record();
    let classes = layout.default_names.len();
    let mut buf = vec![0u8; CHUNK * record];
    let mut done = 0;
    while done < part.records {
        let n = CHUNK.min(part.records - done);
        let chunk = &mut buf[..n * record];
        part.file
            .read_exact_at(chunk, (done * record) as u64)
            .map_err(|e| DataError::io(&part.path, e))?;
        for (i, rec) in chunk.chunks_exact(record).enumerate() {
            let label = rec[layout.label_bytes - 1];
            let coarse_bad = layout.label_bytes == 2 && rec[0] >= layout.coarse_classes;
            if usize::from(label) >= classes || coarse_bad {
                return Err(DataError::format(
                    &part.path,
                    format!(
                        "record {} has label byte(s) {:?} out of range; is this really a {} binary file?",
                        done + i,
                        &rec[..layout.label_bytes],
                        layout.name
                    ),
                ));
            }
            labels.push(label);
        }
        done += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixel value of channel `c` at (y, x) in record `n` of a test file.
    fn pixel(n: usize, c: usize, y: usize, x: usize) -> u8 {
        ((n * 13 + c * 71 + y * 5 + x) % 256) as u8
    }

    /// Records with the given label prefixes; pixel values follow [`pixel`] with `n` counted
    /// from `first`.
    fn records(prefixes: &[&[u8]], first: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, p) in prefixes.iter().enumerate() {
            v.extend_from_slice(p);
            for c in 0..3 {
                for y in 0..SIDE {
                    for x in 0..SIDE {
                        v.push(pixel(first + i, c, y, x));
                    }
                }
            }
        }
        v
    }

    fn write_cifar10(root: &Path) -> PathBuf {
        let dir = root.join("cifar-10-batches-bin");
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = 0;
        for b in 1..=5 {
            let labels: Vec<[u8; 1]> = (0..b).map(|i| [((n + i) % 10) as u8]).collect();
            let prefixes: Vec<&[u8]> = labels.iter().map(|l| &l[..]).collect();
            std::fs::write(
                dir.join(format!("data_batch_{b}.bin")),
                records(&prefixes, n),
            )
            .unwrap();
            n += b;
        }
        std::fs::write(dir.join("test_batch.bin"), records(&[&[7], &[2]], 0)).unwrap();
        std::fs::write(
            dir.join("batches.meta.txt"),
            "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn cifar10_from_parent_and_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_cifar10(tmp.path());
        for path in [tmp.path(), dir.as_path()] {
            let train = CifarDataset::open(path, Split::Train, DatasetKind::Cifar10).unwrap();
            assert_eq!(train.len(), 15);
            assert_eq!(train.channels(), 3);
            assert_eq!(train.classes().unwrap()[3], "cat");
            for i in 0..15 {
                assert_eq!(train.label(i), Some((i % 10) as u32));
            }
            assert_eq!(train.label(15), None);
            // Index 7 lives in data_batch_4.bin (records 6..10).
            let img = train.get(7).unwrap();
            assert_eq!((img.channels, img.height, img.width), (3, 32, 32));
            for (c, y, x) in [(0, 0, 0), (1, 5, 9), (2, 31, 30)] {
                assert_eq!(img.at(c, y, x), f32::from(pixel(7, c, y, x)) / 255.0);
            }
            assert!(train.get(15).is_err());
        }
        let test = CifarDataset::open(&dir, Split::Test, DatasetKind::Cifar10).unwrap();
        assert_eq!(test.len(), 2);
        assert_eq!((test.label(0), test.label(1)), (Some(7), Some(2)));
        assert_eq!(
            test.get(1).unwrap().at(2, 3, 4),
            f32::from(pixel(1, 2, 3, 4)) / 255.0
        );
        let e = CifarDataset::open(&dir, Split::Unlabeled, DatasetKind::Cifar10).unwrap_err();
        assert!(e.to_string().contains("no unlabeled split"), "{e}");
    }

    #[test]
    fn cifar100_fine_labels_and_names() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cifar-100-binary");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("train.bin"),
            records(&[&[4, 30], &[19, 99], &[0, 0]], 0),
        )
        .unwrap();
        std::fs::write(dir.join("test.bin"), records(&[&[1, 55]], 0)).unwrap();
        let train = CifarDataset::open(tmp.path(), Split::Train, DatasetKind::Cifar100).unwrap();
        assert_eq!(train.len(), 3);
        assert_eq!(
            (train.label(0), train.label(1), train.label(2)),
            (Some(30), Some(99), Some(0))
        );
        let names = train.classes().unwrap();
        assert_eq!(
            (names.len(), names[30].as_str(), names[99].as_str()),
            (100, "dolphin", "worm")
        );
        assert_eq!(
            train.get(1).unwrap().at(0, 10, 20),
            f32::from(pixel(1, 0, 10, 20)) / 255.0
        );

        // Names from fine_label_names.txt when present.
        let custom: String = (0..100).map(|i| format!("class{i}\n")).collect();
        std::fs::write(dir.join("fine_label_names.txt"), custom).unwrap();
        let test = CifarDataset::open(&dir, Split::Test, DatasetKind::Cifar100).unwrap();
        assert_eq!(test.classes().unwrap()[55], "class55");
        assert_eq!(test.label(0), Some(55));

        std::fs::write(dir.join("test.bin"), records(&[&[25, 3]], 0)).unwrap();
        let e = CifarDataset::open(&dir, Split::Test, DatasetKind::Cifar100)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test.bin") && e.contains("record 0") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn truncated_file_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_cifar10(tmp.path());
        let path = dir.join("data_batch_3.bin");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let e = CifarDataset::open(tmp.path(), Split::Train, DatasetKind::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_batch_3.bin") && e.contains("truncated"),
            "{e}"
        );
        assert!(
            e.contains("3073-byte") && e.contains("2 whole records"),
            "{e}"
        );
        // The test split is unaffected.
        assert!(CifarDataset::open(tmp.path(), Split::Test, DatasetKind::Cifar10).is_ok());
    }

    #[test]
    fn missing_folder_or_file() {
        let tmp = tempfile::tempdir().unwrap();
        let e = CifarDataset::open(
            &tmp.path().join("nothing"),
            Split::Train,
            DatasetKind::Cifar10,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("nothing") && e.contains("no CIFAR-10 binary files"),
            "{e}"
        );
        let dir = write_cifar10(tmp.path());
        std::fs::remove_file(dir.join("data_batch_5.bin")).unwrap();
        let e = CifarDataset::open(tmp.path(), Split::Train, DatasetKind::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("data_batch_5.bin"), "{e}");
        std::fs::write(dir.join("batches.meta.txt"), "a\nb\n").unwrap();
        let e = CifarDataset::open(tmp.path(), Split::Test, DatasetKind::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("batches.meta.txt") && e.contains("2 class names"),
            "{e}"
        );
    }
}

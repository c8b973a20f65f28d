//! STL-10, binary version (A. Coates, H. Lee, A. Y. Ng, <https://cs.stanford.edu/~acoates/stl10/>).
//!
//! The extracted `stl10_binary/` folder holds:
//!
//! * `train_X.bin` (5 000 images), `test_X.bin` (8 000), `unlabeled_X.bin` (100 000): each image
//!   is 3 × 96 × 96 bytes, red plane then green then blue, and each plane is stored
//!   **column-major** (the format was written from MATLAB), i.e. byte `c·9216 + x·96 + y` is the
//!   pixel at row `y`, column `x`. Images are transposed back so that they come out upright.
//! * `train_y.bin`, `test_y.bin`: one byte per image, labels 1–10 (stored here as 0–9).
//! * `class_names.txt`: the ten class names, one a line.
//!
//! Images are read on demand with positioned reads; only the labels are read at open.

use crate::{DataError, Image, ImageSource, Split};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Image side length of STL-10 images.
const SIDE: usize = 96;
/// Bytes per STL-10 image (3 × 96 × 96).
const IMAGE_BYTES: usize = 3 * SIDE * SIDE;
/// Name of the extracted folder in the official archive.
const FOLDER: &str = "stl10_binary";

/// The STL-10 class names in label order (as in `class_names.txt`).
pub const STL10_CLASSES: [&str; 10] = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
];

/// One open `*_X.bin` file.
#[derive(Debug)]
struct Part {
    path: PathBuf,
    file: File,
    /// Index of this file's first image in the dataset.
    first: usize,
    images: usize,
}

/// One split of STL-10, binary version (see the [module docs](self)).
///
/// For [`Split::TrainUnlabeled`] the 5 000 labelled training images come first, then the
/// 100 000 unlabelled ones, for which [`label`] returns `None`.
///
/// [`label`]: ImageSource::label
#[derive(Debug)]
pub struct Stl10Dataset {
    folder: PathBuf,
    parts: Vec<Part>,
    /// Labels 0–9 of the first `labels.len()` images.
    labels: Vec<u8>,
    classes: Option<Vec<String>>,
    len: usize,
}

impl Stl10Dataset {
    /// Opens split `split` of STL-10 from `path`, the `stl10_binary/` folder or its parent.
    ///
    /// [`Split::Train`] reads `train_X.bin`/`train_y.bin`, [`Split::Test`] the test files,
    /// [`Split::Unlabeled`] `unlabeled_X.bin` (no labels, no classes) and
    /// [`Split::TrainUnlabeled`] train followed by unlabelled. Image files must be a whole
    /// number of 27 648-byte images, label files exactly one byte per image with values 1–10;
    /// errors name the file.
    pub fn open(path: &Path, split: Split) -> Result<Self, DataError> {
        let folder = locate(path)?;
        let files: &[(&str, Option<&str>)] = match split {
            Split::Train => &[("train_X.bin", Some("train_y.bin"))],
            Split::Test => &[("test_X.bin", Some("test_y.bin"))],
            Split::Unlabeled => &[("unlabeled_X.bin", None)],
            Split::TrainUnlabeled => &[
                ("train_X.bin", Some("train_y.bin")),
                ("unlabeled_X.bin", None),
            ],
        };
        let mut parts = Vec::new();
        let mut labels = Vec::new();
        let mut len = 0;
        for (images, label_file) in files {
            let part = open_part(&folder.join(images), len)?;
            if let Some(label_file) = label_file {
                labels.extend(read_labels(&folder.join(label_file), &part)?);
            }
            len += part.images;
            parts.push(part);
        }
        let classes = if labels.is_empty() {
            None
        } else {
            Some(read_class_names(&folder)?)
        };
        Ok(Stl10Dataset {
            folder,
            parts,
            labels,
            classes,
            len,
        })
    }

    /// Number of images that have a label (the first ones; 0 for [`Split::Unlabeled`]).
    pub fn labelled(&self) -> usize {
        self.labels.len()
    }
}

impl ImageSource for Stl10Dataset {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Image, DataError> {
        let part = self
            .parts
            .iter()
            .find(|p| index >= p.first && index < p.first + p.images)
            .ok_or_else(|| {
                DataError::format(
                    &self.folder,
                    format!("image index {index} out of range ({} images)", self.len),
                )
            })?;
        let mut buf = vec![0u8; IMAGE_BYTES];
        part.file
            .read_exact_at(&mut buf, ((index - part.first) * IMAGE_BYTES) as u64)
            .map_err(|e| DataError::io(&part.path, e))?;
        Ok(decode_column_major(&buf))
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.get(index).map(|&l| u32::from(l))
    }

    fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    fn channels(&self) -> usize {
        3
    }

    fn origin(&self) -> String {
        self.folder.display().to_string()
    }
}

/// Converts one image of column-major planes to an upright planar [`Image`].
fn decode_column_major(buf: &[u8]) -> Image {
    let plane = SIDE * SIDE;
    let mut data = vec![0.0f32; IMAGE_BYTES];
    for c in 0..3 {
        let src = &buf[c * plane..(c + 1) * plane];
        let dst = &mut data[c * plane..(c + 1) * plane];
        for (x, column) in src.chunks_exact(SIDE).enumerate() {
            for (y, &v) in column.iter().enumerate() {
                dst[y * SIDE + x] = f32::from(v) / 255.0;
            }
        }
    }
    Image {
        channels: 3,
        height: SIDE,
        width: SIDE,
        data,
    }
}

/// The folder holding the binary files: `path` itself or `path/stl10_binary`.
fn locate(path: &Path) -> Result<PathBuf, DataError> {
    let markers = ["train_X.bin", "test_X.bin", "unlabeled_X.bin"];
    crate::source::locate_folder(path, FOLDER, &markers, "STL-10")
}

/// Opens an image file and checks its length is a non-zero whole number of images.
fn open_part(path: &Path, first: usize) -> Result<Part, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let size = IMAGE_BYTES as u64;
    if len == 0 {
        return Err(DataError::format(path, "file is empty"));
    }
    if len % size != 0 {
        return Err(DataError::format(
            path,
            format!(
                "truncated or corrupt: {len} bytes is not a whole number of {size}-byte STL-10 images \
                 ({} whole images + {} bytes)",
                len / size,
                len % size
            ),
        ));
    }
    Ok(Part {
        path: path.to_path_buf(),
        file,
        first,
        images: (len / size) as usize,
    })
}

/// Reads a labels file for `part`: one byte 1–10 per image, returned as 0–9.
fn read_labels(path: &Path, part: &Part) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.len() != part.images {
        return Err(DataError::format(
            path,
            format!(
                "holds {} labels but {} holds {} images (truncated?)",
                bytes.len(),
                part.path.display(),
                part.images
            ),
        ));
    }
    bytes
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if (1..=10).contains(&l) {
                Ok(l - 1)
            } else {
                Err(DataError::format(
                    path,
                    format!("label {l} of image {i} is out of range (expected 1..=10)"),
                ))
            }
        })
        .collect()
}

/// Class names from `class_names.txt` when present, else the official list.
fn read_class_names(folder: &Path) -> Result<Vec<String>, DataError> {
    let path = folder.join("class_names.txt");
    if !path.is_file() {
        return Ok(STL10_CLASSES.iter().map(|s| s.to_string()).collect());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != STL10_CLASSES.len() {
        return Err(DataError::format(
            &path,
            format!("lists {} class names, expected 10", names.len()),
        ));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upright value of channel `c` at row `y`, column `x` of test image `n`.
    fn pixel(n: usize, c: usize, y: usize, x: usize) -> u8 {
        ((n * 17 + c * 50 + y * 3 + x * 11) % 256) as u8
    }

    /// `count` images in STL-10's column-major layout, numbered from `first`.
    fn images(count: usize, first: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(count * IMAGE_BYTES);
        for n in first..first + count {
            for c in 0..3 {
                for x in 0..SIDE {
                    for y in 0..SIDE {
                        v.push(pixel(n, c, y, x));
                    }
                }
            }
        }
        v
    }

    fn write_stl(root: &Path) -> PathBuf {
        let dir = root.join(FOLDER);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("train_X.bin"), images(3, 0)).unwrap();
        std::fs::write(dir.join("train_y.bin"), [1u8, 10, 4]).unwrap();
        std::fs::write(dir.join("test_X.bin"), images(2, 100)).unwrap();
        std::fs::write(dir.join("test_y.bin"), [2u8, 3]).unwrap();
        std::fs::write(dir.join("unlabeled_X.bin"), images(4, 200)).unwrap();
        std::fs::write(
            dir.join("class_names.txt"),
            "airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n",
        )
        .unwrap();
        dir
    }

    fn check_image(img: &Image, n: usize) {
        assert_eq!((img.channels, img.height, img.width), (3, 96, 96));
        for c in 0..3 {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    assert_eq!(
                        img.at(c, y, x),
                        f32::from(pixel(n, c, y, x)) / 255.0,
                        "({c},{y},{x})"
                    );
                }
            }
        }
    }

    #[test]
    fn splits_labels_and_upright_pixels() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_stl(tmp.path());
        let train = Stl10Dataset::open(tmp.path(), Split::Train).unwrap();
        assert_eq!(train.len(), 3);
        assert_eq!(
            (
                train.label(0),
                train.label(1),
                train.label(2),
                train.label(3)
            ),
            (Some(0), Some(9), Some(3), None)
        );
        assert_eq!(train.classes().unwrap()[7], "monkey");
        check_image(&train.get(1).unwrap(), 1);

        let test = Stl10Dataset::open(&dir, Split::Test).unwrap();
        assert_eq!(test.len(), 2);
        assert_eq!(test.label(1), Some(2));
        check_image(&test.get(0).unwrap(), 100);

        let unl = Stl10Dataset::open(&dir, Split::Unlabeled).unwrap();
        assert_eq!(unl.len(), 4);
        assert_eq!(unl.labelled(), 0);
        assert!(unl.classes().is_none());
        assert_eq!(unl.label(0), None);
        check_image(&unl.get(3).unwrap(), 203);

        let both = Stl10Dataset::open(&dir, Split::TrainUnlabeled).unwrap();
        assert_eq!((both.len(), both.labelled()), (7, 3));
        assert_eq!(both.label(2), Some(3));
        assert_eq!(both.label(3), None);
        assert_eq!(both.label(6), None);
        assert!(both.classes().is_some());
        check_image(&both.get(2).unwrap(), 2);
        check_image(&both.get(4).unwrap(), 201);
        assert!(both.get(7).is_err());
    }

    #[test]
    fn transposed_pixel_comes_back_in_place() {
        // A single bright pixel written at row 5, column 70 of the green plane.
        let tmp = tempfile::tempdir().unwrap();
        let mut bytes = vec![0u8; IMAGE_BYTES];
        let (y, x) = (5, 70);
        bytes[SIDE * SIDE + x * SIDE + y] = 255;
        std::fs::write(tmp.path().join("unlabeled_X.bin"), bytes).unwrap();
        let img = Stl10Dataset::open(tmp.path(), Split::Unlabeled)
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(img.at(1, 5, 70), 1.0);
        assert_eq!(img.data.iter().filter(|&&v| v != 0.0).count(), 1);
    }

    #[test]
    fn truncated_and_mismatched_files_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_stl(tmp.path());
        let bytes = images(3, 0);
        std::fs::write(dir.join("train_X.bin"), &bytes[..bytes.len() - 1]).unwrap();
        let e = Stl10Dataset::open(&dir, Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train_X.bin") && e.contains("truncated") && e.contains("2 whole images"),
            "{e}"
        );

        std::fs::write(dir.join("test_y.bin"), [1u8]).unwrap();
        let e = Stl10Dataset::open(&dir, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test_y.bin") && e.contains("1 labels") && e.contains("2 images"),
            "{e}"
        );

        std::fs::write(dir.join("test_y.bin"), [1u8, 0]).unwrap();
        let e = Stl10Dataset::open(&dir, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test_y.bin") && e.contains("label 0 of image 1"),
            "{e}"
        );

        std::fs::remove_file(dir.join("unlabeled_X.bin")).unwrap();
        let e = Stl10Dataset::open(&dir, Split::Unlabeled)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unlabeled_X.bin"), "{e}");

        let e = Stl10Dataset::open(&tmp.path().join("missing"), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing") && e.contains("no STL-10 binary files"),
            "{e}"
        );
    }
}

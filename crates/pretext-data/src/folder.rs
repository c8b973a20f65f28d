//! A folder of image files in the "ImageFolder" layout (as torchvision's `ImageFolder`).
//!
//! * JPEG, PNG and WebP files (by extension, case-insensitive: `.jpg`, `.jpeg`, `.png`,
//!   `.webp`) are found by a recursive walk, sorted by path so the order is deterministic.
//!   Hidden files and folders (name starting with `.`) are ignored.
//! * The class of an image is the name of the first-level sub-folder it lies under; classes
//!   are sorted by name and numbered from 0. When any image lies directly in the root, the
//!   whole folder is unlabelled.
//! * A root holding `train/` and `test/` (or `val/`) sub-folders is split: [`Split::Train`]
//!   reads `train/`, [`Split::Test`] reads `test/` (or `val/`), and both use the classes of
//!   `train/`. Otherwise the root is the training split and there is no test split.
//!
//! Opening reads every file's header (in parallel) to validate it and record its size and
//! colour type; [`ImageSource::get`] decodes one file, applying its Exif orientation.

use crate::source::OpenOptions;
use crate::{DataError, Image, ImageSource, Split};
use ::image::{DynamicImage, ImageDecoder, ImageReader, metadata::Orientation};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// File extensions (lower case) read as images.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// A file left out of a [`FolderDataset`] because it could not be read (see
/// [`OpenOptions::skip_corrupt`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it could not be read.
    pub reason: String,
}

/// One split of a folder of images in the ImageFolder layout (see the [module docs](self)).
#[derive(Debug)]
pub struct FolderDataset {
    root: PathBuf,
    files: Vec<PathBuf>,
    labels: Option<Vec<u32>>,
    classes: Option<Vec<String>>,
    sizes: Vec<(usize, usize)>,
    channels: usize,
    skipped: Vec<SkippedFile>,
}

/// What an image header says: (height, width, has colour), orientation applied.
type Header = (usize, usize, bool);

impl FolderDataset {
    /// Opens split `split` of the image folder `path`.
    ///
    /// [`Split::Train`] and [`Split::TrainUnlabeled`] read `train/` when the folder is split
    /// into `train/` and `test/`/`val/`, else the folder itself; [`Split::Test`] needs the split
    /// layout; [`Split::Unlabeled`] is an error. Every image header is checked: an unreadable
    /// file is an error naming it, unless `options.skip_corrupt` is set, in which case it is
    /// skipped with a warning and listed in [`skipped_files`](Self::skipped_files). A folder
    /// without images is an error naming the folder.
    pub fn open(path: &Path, split: Split, options: &OpenOptions) -> Result<Self, DataError> {
        if !path.is_dir() {
            return Err(if path.exists() {
                DataError::format(path, "is not a folder (a folder of images is expected)")
            } else {
                DataError::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
                )
            });
        }
        let train_dir = path.join("train");
        let test_dir = ["test", "val"]
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_dir());
        let split_layout = train_dir.is_dir() && test_dir.is_some();
        let (root, class_root) = match (split, split_layout, test_dir) {
            (Split::Unlabeled, ..) => {
                return Err(DataError::format(
                    path,
                    "an image folder has no separate unlabeled split; use train or train-unlabeled",
                ));
            }
            (Split::Train | Split::TrainUnlabeled, true, _) => (train_dir.clone(), train_dir),
            (Split::Train | Split::TrainUnlabeled, false, _) => {
                (path.to_path_buf(), path.to_path_buf())
            }
            (Split::Test, true, Some(test)) => (test, train_dir),
            (Split::Test, ..) => {
                return Err(DataError::format(
                    path,
                    "has no test split: a test split needs sub-folders `train/` and `test/` (or `val/`)",
                ));
            }
        };

        let files = list_images(&root)?;
        if files.is_empty() {
            return Err(DataError::format(
                &root,
                format!(
                    "no images found (looked recursively for files ending in .{})",
                    IMAGE_EXTENSIONS.join(", .")
                ),
            ));
        }
        let own_classes = class_folders(&root, &files);
        let classes = if class_root == root {
            own_classes.clone()
        } else {
            class_folders(&class_root, &list_images(&class_root)?)
        };
        let labels = match (&classes, own_classes) {
            (Some(classes), Some(_)) => Some(
                files
                    .iter()
                    .map(|f| {
                        let name = first_component(&root, f).unwrap_or_default();
                        classes
                            .iter()
                            .position(|c| *c == name)
                            .map(|i| i as u32)
                            .ok_or_else(|| {
                                DataError::format(
                                    root.join(&name),
                                    format!(
                                        "class folder `{name}` has no counterpart in {}",
                                        class_root.display()
                                    ),
                                )
                            })
                    })
                    .collect::<Result<Vec<u32>, DataError>>()?,
            ),
            _ => None,
        };
        let classes = labels.as_ref().and(classes);

        let headers: Vec<Result<Header, DataError>> =
            files.par_iter().map(|f| read_header(f)).collect();
        let mut kept = Vec::with_capacity(files.len());
        let mut kept_labels = labels.as_ref().map(|_| Vec::with_capacity(files.len()));
        let mut sizes = Vec::with_capacity(files.len());
        let mut any_colour = false;
        let mut skipped = Vec::new();
        for (i, (file, header)) in files.into_iter().zip(headers).enumerate() {
            match header {
                Ok((h, w, colour)) => {
                    sizes.push((h, w));
                    any_colour |= colour;
                    if let (Some(kl), Some(l)) = (kept_labels.as_mut(), labels.as_ref()) {
                        kl.push(l[i]);
                    }
                    kept.push(file);
                }
                Err(e) if options.skip_corrupt => {
                    let reason = match &e {
                        DataError::Io { error, .. } => error.to_string(),
                        DataError::Format { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    tracing::warn!("skipping unreadable image {}: {reason}", file.display());
                    skipped.push(SkippedFile { path: file, reason });
                }
                Err(e) => return Err(e),
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                "{}: skipped {} unreadable image(s) of {}",
                root.display(),
                skipped.len(),
                skipped.len() + kept.len()
            );
        }
        if kept.is_empty() {
            return Err(DataError::format(
                &root,
                format!("none of the {} images could be read", skipped.len()),
            ));
        }
        Ok(FolderDataset {
            root,
            files: kept,
            labels: kept_labels,
            classes,
            sizes,
            channels: if any_colour { 3 } else { 1 },
            skipped,
        })
    }

    /// The folder this split was read from (the root, or its `train/`, `test/` or `val/`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of image `index`.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(PathBuf::as_path)
    }

    /// The (height, width) of every image, in index order, as read from the headers at open
    /// (after Exif orientation).
    pub fn sizes(&self) -> &[(usize, usize)] {
        &self.sizes
    }

    /// Number of files skipped as unreadable (only with [`OpenOptions::skip_corrupt`]).
    pub fn skipped(&self) -> usize {
        self.skipped.len()
    }

    /// The files skipped as unreadable, with the reasons.
    pub fn skipped_files(&self) -> &[SkippedFile] {
        &self.skipped
    }
}

impl ImageSource for FolderDataset {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn get(&self, index: usize) -> Result<Image, DataError> {
        let path = self.files.get(index).ok_or_else(|| {
            DataError::format(
                &self.root,
                format!(
                    "image index {index} out of range ({} images)",
                    self.files.len()
                ),
            )
        })?;
        Ok(to_image(&decode(path)?, self.channels))
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.as_ref()?.get(index).copied()
    }

    fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn origin(&self) -> String {
        self.root.display().to_string()
    }
}

/// Whether `path` has one of [`IMAGE_EXTENSIONS`].
fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// All image files under `dir`, sorted, hidden entries ignored.
fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut files = Vec::new();
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            let message = e.to_string();
            let io = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other(message));
            DataError::io(path, io)
        })?;
        if entry.file_type().is_file() && is_image_file(entry.path()) {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// The first path component of `file` below `root`, if `file` is inside a sub-folder.
fn first_component(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let mut parts = rel.components();
    let first = parts.next()?;
    parts.next()?;
    Some(first.as_os_str().to_string_lossy().into_owned())
}

/// Sorted class names (first-level sub-folders holding images), or `None` when some image
/// lies directly in `root` (the folder is then unlabelled).
fn class_folders(root: &Path, files: &[PathBuf]) -> Option<Vec<String>> {
    let names: Option<BTreeSet<String>> = files.iter().map(|f| first_component(root, f)).collect();
    names
        .map(|n| n.into_iter().collect())
        .filter(|n: &Vec<String>| !n.is_empty())
}

/// Whether `orientation` swaps width and height.
fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Opens `path` as an image decoder, guessing the format from the content, and refuses an
/// image whose decoded pixels would exceed the `image` crate's default allocation limit
/// (512 MiB): a header can claim any size, and decoding would try to allocate it.
fn decoder(path: &Path) -> Result<impl ImageDecoder, DataError> {
    let reader = ImageReader::open(path).map_err(|e| DataError::io(path, e))?;
    checked_decoder(reader, path)
}

/// The decoder of `reader`'s image (its format guessed from the content; `path` names it in
/// errors), refused when its pixels would exceed the allocation limit ([`decoder`]).
fn checked_decoder<'a, R: std::io::BufRead + std::io::Seek + 'a>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<impl ImageDecoder + use<'a, R>, DataError> {
    let decoder = reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .into_decoder()
        .map_err(|e| DataError::format(path, format!("cannot read image: {e}")))?;
    let (w, h) = decoder.dimensions();
    ::image::Limits::default()
        .reserve(decoder.total_bytes())
        .map_err(|e| DataError::format(path, format!("image of {w}×{h} is too large: {e}")))?;
    Ok(decoder)
}

/// Reads the header of `path`: (height, width, has colour), Exif orientation applied.
pub(crate) fn read_header(path: &Path) -> Result<Header, DataError> {
    let mut decoder = decoder(path)?;
    let (w, h) = decoder.dimensions();
    let colour = decoder.color_type().has_color();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    if w == 0 || h == 0 {
        return Err(DataError::format(
            path,
            format!("image has zero size {w}×{h}"),
        ));
    }
    let (h, w) = if swaps_axes(orientation) {
        (w, h)
    } else {
        (h, w)
    };
    Ok((h as usize, w as usize, colour))
}

/// Decodes `path` fully, Exif orientation applied.
pub(crate) fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    oriented(decoder(path)?, path)
}

/// Decodes an encoded image held in memory (a tar member), as [`decode`]; `name` says where
/// it came from in errors.
pub(crate) fn decode_bytes(bytes: &[u8], name: &Path) -> Result<DynamicImage, DataError> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes));
    oriented(checked_decoder(reader, name)?, name)
}

/// `image` in `channels` (1: luminance, 3: RGB) as an [`Image`].
pub(crate) fn to_image(image: &DynamicImage, channels: usize) -> Image {
    let (width, height) = (image.width() as usize, image.height() as usize);
    if channels == 1 {
        Image::from_interleaved_u8(1, height, width, image.to_luma8().as_raw())
    } else {
        Image::from_interleaved_u8(3, height, width, image.to_rgb8().as_raw())
    }
}

/// Decodes all of `decoder`'s image, its Exif orientation applied.
fn oriented(mut decoder: impl ImageDecoder, path: &Path) -> Result<DynamicImage, DataError> {
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|e| DataError::format(path, format!("cannot decode image: {e}")))?;
    image.apply_orientation(orientation);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{GrayAlphaImage, GrayImage, LumaA, Rgb, RgbImage, Rgba, RgbaImage};

    /// Found by fuzzing (fuzz/fuzz_targets/folder_image.rs): a PNG header claiming
    /// 2552 × 4294901766 pixels made decoding allocate 32 TB and abort. Now it is an error
    /// naming the file, at open.
    #[test]
    fn an_image_too_large_to_decode_is_an_error_not_an_abort() {
        let dir = tempfile::tempdir().unwrap();
        let mut png = Vec::new();
        RgbImage::new(4, 4)
            .write_to(
                &mut std::io::Cursor::new(&mut png),
                ::image::ImageFormat::Png,
            )
            .unwrap();
        // IHDR's width and height follow the 8-byte signature and the chunk's length and type.
        png[16..24].copy_from_slice(&[0, 0, 9, 0xf8, 0xff, 0xff, 0, 6]);
        let mut crc = flate2::Crc::new();
        crc.update(&png[12..29]);
        png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        std::fs::write(dir.path().join("huge.png"), &png).unwrap();
        let err = FolderDataset::open(dir.path(), Split::Train, &OpenOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("huge.png") && err.contains("too large"),
            "{err}"
        );
    }

    fn rgb(w: u32, h: u32, seed: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([seed, (x * 10) as u8, (y * 10) as u8]))
    }

    fn skip() -> OpenOptions {
        OpenOptions {
            skip_corrupt: true,
            ..OpenOptions::default()
        }
    }

    /// root/{cat,dog}/*.png|jpg
    fn labelled_tree(root: &Path) {
        std::fs::create_dir_all(root.join("dog")).unwrap();
        std::fs::create_dir_all(root.join("cat/nested")).unwrap();
        rgb(8, 6, 1).save(root.join("dog/a.png")).unwrap();
        rgb(10, 4, 2).save(root.join("dog/b.JPG")).unwrap();
        rgb(5, 5, 3).save(root.join("cat/x.png")).unwrap();
        rgb(7, 9, 4).save(root.join("cat/nested/y.jpeg")).unwrap();
        rgb(4, 4, 5).save(root.join("cat/z.webp")).unwrap();
        std::fs::write(root.join("cat/notes.txt"), "not an image").unwrap();
        std::fs::write(root.join("dog/._a.png"), "macOS resource fork").unwrap();
    }

    #[test]
    fn labelled_folder_classes_order_and_pixels() {
        let tmp = tempfile::tempdir().unwrap();
        labelled_tree(tmp.path());
        let ds = FolderDataset::open(tmp.path(), Split::Train, &OpenOptions::default()).unwrap();
        assert_eq!(ds.len(), 5);
        assert_eq!(ds.channels(), 3);
        assert_eq!(ds.classes().unwrap(), ["cat", "dog"]);
        let names: Vec<String> = (0..5)
            .map(|i| {
                ds.path(i)
                    .unwrap()
                    .strip_prefix(tmp.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "cat/nested/y.jpeg",
                "cat/x.png",
                "cat/z.webp",
                "dog/a.png",
                "dog/b.JPG"
            ]
        );
        assert_eq!(
            (0..5).map(|i| ds.label(i).unwrap()).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1]
        );
        assert_eq!(ds.sizes(), [(9, 7), (5, 5), (4, 4), (6, 8), (4, 10)]);
        assert_eq!(ds.skipped(), 0);
        // PNG is lossless: exact pixels.
        let img = ds.get(3).unwrap();
        assert_eq!((img.channels, img.height, img.width), (3, 6, 8));
        assert_eq!(img.at(0, 2, 3), 1.0 / 255.0);
        assert_eq!(img.at(1, 2, 3), 30.0 / 255.0);
        assert_eq!(img.at(2, 2, 3), 20.0 / 255.0);
        let jpg = ds.get(0).unwrap();
        assert_eq!((jpg.height, jpg.width), (9, 7));
        assert!(ds.get(5).is_err());
        // Without a test/ folder there is no test split.
        let e = FolderDataset::open(tmp.path(), Split::Test, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no test split"), "{e}");
    }

    #[test]
    fn train_test_layout_shares_classes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for d in ["train/a", "train/b", "train/c", "val/c", "val/a"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (i, d) in ["train/a", "train/b", "train/c", "val/c", "val/a"]
            .iter()
            .enumerate()
        {
            rgb(4, 4, i as u8)
                .save(root.join(d).join("img.png"))
                .unwrap();
        }
        let train = FolderDataset::open(root, Split::Train, &OpenOptions::default()).unwrap();
        assert_eq!(train.classes().unwrap(), ["a", "b", "c"]);
        assert_eq!(train.len(), 3);
        let test = FolderDataset::open(root, Split::Test, &OpenOptions::default()).unwrap();
        assert_eq!(test.classes().unwrap(), ["a", "b", "c"]);
        assert_eq!(test.len(), 2);
        assert_eq!((test.label(0), test.label(1)), (Some(0), Some(2)));
        assert!(test.root().ends_with("val"));
        // A test class unknown to train/ is an error naming it.
        std::fs::create_dir_all(root.join("val/zebra")).unwrap();
        rgb(4, 4, 9).save(root.join("val/zebra/z.png")).unwrap();
        let e = FolderDataset::open(root, Split::Test, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("zebra") && e.contains("no counterpart"), "{e}");
        let e = FolderDataset::open(root, Split::Unlabeled, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no separate unlabeled split"), "{e}");
    }

    #[test]
    fn unlabelled_when_images_in_root_and_gray_channels() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        GrayImage::from_fn(6, 3, |x, _| ::image::Luma([(x * 40) as u8]))
            .save(root.join("g.png"))
            .unwrap();
        GrayAlphaImage::from_pixel(2, 2, LumaA([77, 10]))
            .save(root.join("ga.png"))
            .unwrap();
        let ds = FolderDataset::open(root, Split::Train, &OpenOptions::default()).unwrap();
        assert_eq!(ds.channels(), 1);
        assert!(ds.classes().is_none() && ds.label(0).is_none());
        let img = ds.get(0).unwrap();
        assert_eq!((img.channels, img.height, img.width), (1, 3, 6));
        assert_eq!(img.at(0, 1, 5), 200.0 / 255.0);
        // Alpha dropped.
        assert_eq!(ds.get(1).unwrap().data, vec![77.0 / 255.0; 4]);

        // Mixed: a colour image in a sub-folder makes the whole folder unlabelled RGB.
        std::fs::create_dir_all(root.join("sub")).unwrap();
        RgbaImage::from_pixel(3, 2, Rgba([10, 20, 30, 0]))
            .save(root.join("sub/c.png"))
            .unwrap();
        let ds = FolderDataset::open(root, Split::TrainUnlabeled, &OpenOptions::default()).unwrap();
        assert_eq!((ds.len(), ds.channels()), (3, 3));
        assert!(ds.classes().is_none() && ds.label(2).is_none());
        let gray = ds.get(0).unwrap();
        assert_eq!(gray.channels, 3);
        assert_eq!(
            (gray.at(0, 1, 5), gray.at(2, 1, 5)),
            (200.0 / 255.0, 200.0 / 255.0)
        );
        let rgba = ds.get(2).unwrap();
        assert_eq!(rgba.channels, 3);
        assert_eq!(
            (rgba.at(0, 0, 0), rgba.at(2, 1, 2)),
            (10.0 / 255.0, 30.0 / 255.0)
        );
    }

    #[test]
    fn missing_and_empty_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let e = FolderDataset::open(
            &tmp.path().join("gone"),
            Split::Train,
            &OpenOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("gone") && e.contains("no such folder"), "{e}");
        let empty = tmp.path().join("empty");
        std::fs::create_dir_all(empty.join("sub")).unwrap();
        std::fs::write(empty.join("sub/readme.txt"), "x").unwrap();
        let e = FolderDataset::open(&empty, Split::Train, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty") && e.contains("no images found"), "{e}");
    }

    #[test]
    fn corrupt_jpeg_fails_or_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        labelled_tree(tmp.path());
        let bad = tmp.path().join("dog/0broken.jpg");
        std::fs::write(&bad, b"\xff\xd8\xff\xe0 this is not really a jpeg").unwrap();
        let e = FolderDataset::open(tmp.path(), Split::Train, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("0broken.jpg") && e.contains("cannot read image"),
            "{e}"
        );

        let ds = FolderDataset::open(tmp.path(), Split::Train, &skip()).unwrap();
        assert_eq!(ds.len(), 5);
        assert_eq!(ds.skipped(), 1);
        assert_eq!(ds.skipped_files()[0].path, bad);
        assert!(!ds.skipped_files()[0].reason.is_empty());
        // Labels stay aligned after skipping: dog/a.png (index 3) comes after the skip point.
        assert_eq!((ds.label(3), ds.label(4)), (Some(1), Some(1)));
        assert!(ds.path(3).unwrap().ends_with("dog/a.png"));
    }

    #[test]
    fn all_corrupt_is_an_error_even_when_skipping() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.png"), b"garbage").unwrap();
        let e = FolderDataset::open(tmp.path(), Split::Train, &skip())
            .unwrap_err()
            .to_string();
        assert!(e.contains("none of the 1 images could be read"), "{e}");
    }

    #[test]
    fn decode_error_in_get_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        labelled_tree(tmp.path());
        let ds = FolderDataset::open(tmp.path(), Split::Train, &OpenOptions::default()).unwrap();
        // Corrupt the file after open: keep a valid PNG header but cut the pixel data.
        let path = tmp.path().join("cat/x.png");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..40]).unwrap();
        let e = ds.get(1).unwrap_err().to_string();
        assert!(e.contains("x.png"), "{e}");
        std::fs::remove_file(tmp.path().join("dog/a.png")).unwrap();
        let e = ds.get(3).unwrap_err().to_string();
        assert!(e.contains("a.png"), "{e}");
    }
}

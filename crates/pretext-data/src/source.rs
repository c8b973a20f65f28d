//! The image-source abstraction every dataset format is read into, and the `kind:path`
//! dataset specifications the command line accepts.

use crate::annotations::objects::{AnnotatedImage, Category};
use crate::{DataError, Image};
use std::path::PathBuf;

/// A random-access collection of images with optional labels.
///
/// Implementations must not decode a whole large dataset up front: `get` decodes one image.
/// They are shared between the loader's worker threads, hence `Send + Sync`.
pub trait ImageSource: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;
    /// Whether there are no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Decodes image `index` in its native channel count.
    fn get(&self, index: usize) -> Result<Image, DataError>;
    /// The class of image `index`, if this source is labelled.
    fn label(&self, index: usize) -> Option<u32>;
    /// Class names, if this source is labelled (index = label).
    fn classes(&self) -> Option<&[String]>;
    /// Native channel count of the images (1 or 3).
    fn channels(&self) -> usize;
    /// Where the data comes from, for messages (a file or folder path).
    fn origin(&self) -> String;
    /// The annotated objects of image `index`, if this source has object annotations.
    fn objects(&self, _index: usize) -> Option<&AnnotatedImage> {
        None
    }
    /// The object categories (index = [`crate::annotations::Instance::category`]), if this
    /// source has object annotations.
    fn categories(&self) -> Option<&[Category]> {
        None
    }
    /// The sizes of the runs of consecutive indices stored together, in index order (the
    /// samples of each tar shard), for the loader's streaming order
    /// ([`crate::loader::streaming_order`]); `None` (the default) where every order reads
    /// alike.
    fn blocks(&self) -> Option<Vec<usize>> {
        None
    }
    /// Everything image `index` is labelled with.
    fn target(&self, index: usize) -> Target<'_> {
        Target {
            class: self.label(index),
            objects: self.objects(index),
        }
    }
}

/// What an image is labelled with: its class, its objects, both or neither. A method takes
/// what its task needs (the supervised classifier the class, the detector the objects).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Target<'a> {
    /// The image's class.
    pub class: Option<u32>,
    /// The image's objects.
    pub objects: Option<&'a AnnotatedImage>,
}

impl From<Option<u32>> for Target<'_> {
    fn from(class: Option<u32>) -> Self {
        Target {
            class,
            objects: None,
        }
    }
}

/// The dataset formats pretext reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// MNIST in IDX format (gzipped or raw).
    Mnist,
    /// Fashion-MNIST in IDX format (gzipped or raw).
    FashionMnist,
    /// CIFAR-10 binary version.
    Cifar10,
    /// CIFAR-100 binary version.
    Cifar100,
    /// STL-10 binary version.
    Stl10,
    /// A folder of JPEG/PNG/WebP images; class = first-level sub-folder.
    Folder,
    /// The images of a COCO annotation file (`PATH` = the JSON), unlabelled; its objects in
    /// [`crate::annotations`].
    Coco,
    /// The images of a Pascal VOC folder (`PATH` holds `Annotations/`), unlabelled.
    Voc,
    /// WebDataset-style tar shards ([`crate::shards`]): a folder with the `manifest.json`
    /// of `pretext data shards`, a manifest's path or address, or a brace pattern of shard
    /// paths or HTTP(S) addresses (`train-{000000..000127}.tar`).
    Shards,
}

impl DatasetKind {
    /// All kinds with their command-line names.
    pub const ALL: [(DatasetKind, &'static str); 9] = [
        (DatasetKind::Mnist, "mnist"),
        (DatasetKind::FashionMnist, "fashion-mnist"),
        (DatasetKind::Cifar10, "cifar10"),
        (DatasetKind::Cifar100, "cifar100"),
        (DatasetKind::Stl10, "stl10"),
        (DatasetKind::Folder, "folder"),
        (DatasetKind::Coco, "coco"),
        (DatasetKind::Voc, "voc"),
        (DatasetKind::Shards, "shards"),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        DatasetKind::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }
}

/// Which part of a dataset to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The labelled training split (for a folder: `train/` if present, else the folder).
    Train,
    /// The test split (for a folder: `test/` or `val/`).
    Test,
    /// STL-10's 100k unlabelled images.
    Unlabeled,
    /// Train plus unlabelled (STL-10's usual pretraining set); other kinds: train.
    TrainUnlabeled,
}

/// A dataset named on the command line as `kind:path`, e.g.
/// `fashion-mnist:/usr/share/datasets/fashion-mnist` or `folder:~/photos`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DataSpec {
    /// The format.
    pub kind: DatasetKind,
    /// The file or folder holding it.
    pub path: PathBuf,
}

impl std::str::FromStr for DataSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let names: Vec<&str> = DatasetKind::ALL.iter().map(|(_, n)| *n).collect();
        let (kind, path) = s.split_once(':').ok_or_else(|| {
            DataError::Spec(format!(
                "dataset `{s}` must be written KIND:PATH, KIND one of {}",
                names.join(", ")
            ))
        })?;
        let kind = DatasetKind::ALL
            .iter()
            .find(|(_, n)| *n == kind)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                DataError::Spec(format!(
                    "unknown dataset kind `{kind}`; known kinds: {}",
                    names.join(", ")
                ))
            })?;
        if path.is_empty() {
            return Err(DataError::Spec(format!("dataset `{s}` has an empty path")));
        }
        Ok(DataSpec {
            kind,
            path: PathBuf::from(path),
        })
    }
}

impl TryFrom<String> for DataSpec {
    type Error = DataError;

    fn try_from(s: String) -> Result<Self, DataError> {
        s.parse()
    }
}

impl From<DataSpec> for String {
    fn from(spec: DataSpec) -> String {
        spec.to_string()
    }
}

impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.path.display())
    }
}

/// Options for opening a dataset that only some formats use.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Folder datasets: skip unreadable or corrupt images with a warning (counted), instead of
    /// failing on the first one.
    pub skip_corrupt: bool,
    /// Tar shards at HTTP(S) addresses: the loader reads them in its streaming order with a
    /// shuffle buffer of this many samples (`data.shuffle_buffer`), so read them ahead in
    /// chunks kept for about that many samples; 0 reads each sample's byte range alone.
    pub read_ahead: usize,
}

/// Images held in memory: for tests, and for programs that build their data themselves.
pub struct InMemory {
    images: Vec<Image>,
    labels: Vec<Option<u32>>,
}

impl InMemory {
    /// A source of `images` with `labels` (one per image, or empty for an unlabelled source).
    pub fn new(images: Vec<Image>, labels: Vec<Option<u32>>) -> Self {
        InMemory { images, labels }
    }
}

impl ImageSource for InMemory {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn get(&self, index: usize) -> Result<Image, DataError> {
        self.images
            .get(index)
            .cloned()
            .ok_or_else(|| DataError::Spec(format!("image {index} is out of range")))
    }
    fn label(&self, index: usize) -> Option<u32> {
        self.labels.get(index).copied().flatten()
    }
    fn classes(&self) -> Option<&[String]> {
        None
    }
    fn channels(&self) -> usize {
        self.images.first().map_or(3, |i| i.channels)
    }
    fn origin(&self) -> String {
        "memory".into()
    }
}

/// The folder that holds a binary dataset's files: `path` itself when one of `markers` is in
/// it, else `path/subfolder` (the folder the official archive extracts to).
pub(crate) fn locate_folder(
    path: &std::path::Path,
    subfolder: &str,
    markers: &[&str],
    what: &str,
) -> Result<PathBuf, DataError> {
    let has_data = |p: &std::path::Path| markers.iter().any(|n| p.join(n).is_file());
    for candidate in [path.to_path_buf(), path.join(subfolder)] {
        if has_data(&candidate) {
            return Ok(candidate);
        }
    }
    Err(DataError::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no {what} binary files ({}) in this folder or in {subfolder}/ below it",
                markers.join(", ")
            ),
        ),
    ))
}

/// The first `limit` images of a fixed random permutation of another source (seeded), for
/// small training budgets that still see every class.
pub struct Subset {
    inner: Box<dyn ImageSource>,
    indices: Vec<usize>,
}

impl Subset {
    /// A random subset of `limit` images of `inner` chosen with `seed` (all images when
    /// `limit` is at least the source's size, in their original order).
    pub fn new(inner: Box<dyn ImageSource>, limit: usize, seed: u64) -> Self {
        let n = inner.len();
        let indices = if limit >= n {
            (0..n).collect()
        } else {
            let mut all = crate::loader::epoch_order(n, seed, u64::MAX, true);
            all.truncate(limit);
            all.sort_unstable();
            all
        };
        Subset { inner, indices }
    }
}

impl Subset {
    /// The images of `inner` at `indices`, in that order.
    ///
    /// # Errors
    ///
    /// [`DataError::Spec`] when an index is out of range.
    pub fn from_indices(
        inner: Box<dyn ImageSource>,
        indices: Vec<usize>,
    ) -> Result<Self, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= inner.len()) {
            return Err(DataError::Spec(format!(
                "{}: index {bad} is out of range for {} images",
                inner.origin(),
                inner.len()
            )));
        }
        Ok(Subset { inner, indices })
    }
}

impl ImageSource for Subset {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<Image, DataError> {
        self.inner.get(self.indices[index])
    }
    fn label(&self, index: usize) -> Option<u32> {
        self.inner.label(self.indices[index])
    }
    fn classes(&self) -> Option<&[String]> {
        self.inner.classes()
    }
    fn channels(&self) -> usize {
        self.inner.channels()
    }
    fn origin(&self) -> String {
        format!("{} (subset of {})", self.inner.origin(), self.indices.len())
    }
    fn objects(&self, index: usize) -> Option<&AnnotatedImage> {
        self.inner.objects(self.indices[index])
    }
    fn categories(&self) -> Option<&[Category]> {
        self.inner.categories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Numbers(usize);

    impl ImageSource for Numbers {
        fn len(&self) -> usize {
            self.0
        }
        fn get(&self, index: usize) -> Result<Image, DataError> {
            Ok(Image::filled(1, 1, 1, index as f32))
        }
        fn label(&self, index: usize) -> Option<u32> {
            Some(index as u32)
        }
        fn classes(&self) -> Option<&[String]> {
            None
        }
        fn channels(&self) -> usize {
            1
        }
        fn origin(&self) -> String {
            "numbers".into()
        }
    }

    #[test]
    fn subsets_are_seeded_distinct_and_keep_labels() {
        let a = Subset::new(Box::new(Numbers(100)), 10, 7);
        let b = Subset::new(Box::new(Numbers(100)), 10, 7);
        let c = Subset::new(Box::new(Numbers(100)), 10, 8);
        assert_eq!(a.len(), 10);
        assert_eq!(a.indices, b.indices);
        assert_ne!(a.indices, c.indices);
        let mut seen = a.indices.clone();
        seen.dedup();
        assert_eq!(seen.len(), 10);
        for i in 0..10 {
            assert_eq!(a.label(i), Some(a.indices[i] as u32));
            assert_eq!(a.get(i).unwrap().data[0], a.indices[i] as f32);
        }
        assert_eq!(Subset::new(Box::new(Numbers(5)), 10, 0).len(), 5);
    }

    #[test]
    fn index_subsets_keep_the_given_images_in_order_and_refuse_bad_indices() {
        let s = Subset::from_indices(Box::new(Numbers(10)), vec![7, 2, 9]).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.label(0), Some(7));
        assert_eq!(s.get(2).unwrap().data[0], 9.0);
        let err = Subset::from_indices(Box::new(Numbers(10)), vec![3, 10])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("numbers") && err.contains("10"), "{err}");
    }

    #[test]
    fn specs_parse_and_print() {
        let spec: DataSpec = "fashion-mnist:/a/b".parse().unwrap();
        assert_eq!(spec.kind, DatasetKind::FashionMnist);
        assert_eq!(spec.to_string(), "fashion-mnist:/a/b");
        let err = "imagenet:/x".parse::<DataSpec>().unwrap_err().to_string();
        assert!(err.contains("unknown dataset kind `imagenet`"), "{err}");
        assert!("nocolon".parse::<DataSpec>().is_err());
        assert!("folder:".parse::<DataSpec>().is_err());
    }
}

//! A summary of a dataset — image count, channels, sizes, classes — backing the command
//! `pretext data inspect`.

use crate::folder::FolderDataset;
use crate::source::OpenOptions;
use crate::{DataError, DataSpec, DatasetKind, ImageSource, Split};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::fmt;

/// At most this many images are decoded to find image sizes; larger sources are sampled
/// evenly.
pub const SIZE_SAMPLE: usize = 2000;

/// The image sizes of a source (heights and widths in pixels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeSummary {
    /// Smallest (height, width), each taken separately.
    pub min: (usize, usize),
    /// Largest (height, width), each taken separately.
    pub max: (usize, usize),
    /// Number of distinct (height, width) pairs seen.
    pub distinct: usize,
    /// Number of images whose size was looked at.
    pub examined: usize,
    /// Whether `examined` is a sample of the images rather than all of them.
    pub sampled: bool,
}

/// The number of images of one class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassCount {
    /// The label.
    pub label: u32,
    /// The class name (`"?"` when the source names fewer classes than this label).
    pub name: String,
    /// How many images carry the label.
    pub count: usize,
}

/// What [`inspect`] found out about an [`ImageSource`]; its `Display` is the report printed by
/// `pretext data inspect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The source's [`origin`](ImageSource::origin).
    pub origin: String,
    /// Number of images.
    pub images: usize,
    /// Native channel count.
    pub channels: usize,
    /// Image sizes; `None` for an empty source.
    pub sizes: Option<SizeSummary>,
    /// Whether the source has labels.
    pub labelled: bool,
    /// Per-class counts, in label order (every named class, and any other label seen).
    pub classes: Vec<ClassCount>,
    /// Images without a label in a labelled source (e.g. STL-10's unlabelled part).
    pub unlabelled: usize,
    /// Further remarks, one a line (e.g. files skipped as unreadable).
    pub notes: Vec<String>,
}

/// Summarises `source`: counts images and labels per class and finds the image sizes, by
/// decoding every image when there are at most [`SIZE_SAMPLE`], else that many spread evenly
/// over the source (the report says so). Decoding runs in parallel; the first image that fails
/// to decode is returned as the error.
pub fn inspect(source: &dyn ImageSource) -> Result<Report, DataError> {
    let n = source.len();
    let indices: Vec<usize> = if n <= SIZE_SAMPLE {
        (0..n).collect()
    } else {
        (0..SIZE_SAMPLE).map(|k| k * n / SIZE_SAMPLE).collect()
    };
    let sizes = indices
        .par_iter()
        .map(|&i| source.get(i).map(|img| (img.height, img.width)))
        .collect::<Result<Vec<_>, DataError>>()?;
    Ok(build(source, &sizes, n > SIZE_SAMPLE))
}

/// Opens `spec`'s `split` and summarises it. Like [`inspect`], except that for a folder the
/// sizes of all images come from the headers read at open (nothing is decoded) and files
/// skipped as unreadable are listed in the notes.
pub fn inspect_spec(
    spec: &DataSpec,
    split: Split,
    options: &OpenOptions,
) -> Result<Report, DataError> {
    if spec.kind == DatasetKind::Folder {
        if !spec.path.exists() {
            return Err(DataError::io(
                &spec.path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
        let ds = FolderDataset::open(&spec.path, split, options)?;
        let mut report = build(&ds, ds.sizes(), false);
        if ds.skipped() > 0 {
            report
                .notes
                .push(format!("skipped {} unreadable file(s):", ds.skipped()));
            for s in ds.skipped_files() {
                report
                    .notes
                    .push(format!("  {}: {}", s.path.display(), s.reason));
            }
        }
        return Ok(report);
    }
    if matches!(spec.kind, DatasetKind::Coco | DatasetKind::Voc) {
        let annotations = crate::annotations::open(spec, split)?;
        let sizes: Vec<(usize, usize)> = annotations
            .images
            .iter()
            .map(|image| (image.height, image.width))
            .collect();
        let mut report = build(&annotations, &sizes, false);
        report
            .notes
            .extend(annotations.summary().to_string().lines().map(String::from));
        return Ok(report);
    }
    let source = crate::open::open(spec, split, options)?;
    inspect(source.as_ref())
}

/// Builds the report from the sizes of the images examined.
fn build(source: &dyn ImageSource, sizes: &[(usize, usize)], sampled: bool) -> Report {
    let n = source.len();
    let names = source.classes();
    let mut counts: Vec<usize> = vec![0; names.map_or(0, <[String]>::len)];
    let mut unlabelled = 0;
    let mut any_label = false;
    for i in 0..n {
        match source.label(i) {
            Some(l) => {
                any_label = true;
                let l = l as usize;
                if l >= counts.len() {
                    counts.resize(l + 1, 0);
                }
                counts[l] += 1;
            }
            None => unlabelled += 1,
        }
    }
    let labelled = names.is_some() || any_label;
    let classes = counts
        .iter()
        .enumerate()
        .map(|(l, &count)| ClassCount {
            label: l as u32,
            name: names
                .and_then(|c| c.get(l))
                .cloned()
                .unwrap_or_else(|| "?".to_string()),
            count,
        })
        .collect();
    let summary = (!sizes.is_empty()).then(|| {
        let min = sizes
            .iter()
            .fold((usize::MAX, usize::MAX), |(h, w), &(a, b)| {
                (h.min(a), w.min(b))
            });
        let max = sizes
            .iter()
            .fold((0, 0), |(h, w), &(a, b)| (h.max(a), w.max(b)));
        SizeSummary {
            min,
            max,
            distinct: sizes.iter().collect::<BTreeSet<_>>().len(),
            examined: sizes.len(),
            sampled,
        }
    });
    Report {
        origin: source.origin(),
        images: n,
        channels: source.channels(),
        sizes: summary,
        labelled,
        classes,
        unlabelled: if labelled { unlabelled } else { 0 },
        notes: Vec::new(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "source:   {}", self.origin)?;
        writeln!(f, "images:   {}", self.images)?;
        writeln!(
            f,
            "channels: {} ({})",
            self.channels,
            if self.channels == 1 { "gray" } else { "RGB" }
        )?;
        match &self.sizes {
            None => writeln!(f, "size:     - (no images)")?,
            Some(s) => {
                let which = if s.sampled {
                    format!(
                        "sampled: {} of {} images, spread evenly",
                        s.examined, self.images
                    )
                } else {
                    format!("all {} images", s.examined)
                };
                if s.distinct == 1 {
                    writeln!(
                        f,
                        "size:     {}×{} (height×width; {which})",
                        s.min.0, s.min.1
                    )?;
                } else {
                    writeln!(
                        f,
                        "sizes:    {} distinct, height {}..{}, width {}..{} ({which})",
                        s.distinct, s.min.0, s.max.0, s.min.1, s.max.1
                    )?;
                }
            }
        }
        if !self.labelled {
            writeln!(f, "labels:   none (unlabelled)")?;
        } else {
            write!(f, "labels:   {} classes", self.classes.len())?;
            if self.unlabelled > 0 {
                write!(f, " ({} images unlabelled)", self.unlabelled)?;
            }
            writeln!(f)?;
            let name_width = self
                .classes
                .iter()
                .map(|c| c.name.chars().count())
                .max()
                .unwrap_or(0);
            let label_width = self.classes.len().saturating_sub(1).to_string().len();
            for c in &self.classes {
                writeln!(
                    f,
                    "  {:>lw$}  {:<nw$}  {}",
                    c.label,
                    c.name,
                    c.count,
                    lw = label_width,
                    nw = name_width
                )?;
            }
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;

    /// An in-memory source: image i is `sizes[i % sizes.len()]`, label `labels[i]`.
    struct Fake {
        n: usize,
        sizes: Vec<(usize, usize)>,
        labels: Option<Vec<Option<u32>>>,
        classes: Option<Vec<String>>,
    }

    impl ImageSource for Fake {
        fn len(&self) -> usize {
            self.n
        }
        fn get(&self, index: usize) -> Result<Image, DataError> {
            let (h, w) = self.sizes[index % self.sizes.len()];
            Ok(Image::filled(1, h, w, 0.5))
        }
        fn label(&self, index: usize) -> Option<u32> {
            self.labels.as_ref()?[index]
        }
        fn classes(&self) -> Option<&[String]> {
            self.classes.as_deref()
        }
        fn channels(&self) -> usize {
            1
        }
        fn origin(&self) -> String {
            "fake".into()
        }
    }

    #[test]
    fn labelled_fixed_size_report() {
        let src = Fake {
            n: 5,
            sizes: vec![(28, 28)],
            labels: Some(vec![Some(0), Some(1), Some(1), None, Some(1)]),
            classes: Some(vec!["zero".into(), "one".into(), "two".into()]),
        };
        let r = inspect(&src).unwrap();
        assert_eq!(r.images, 5);
        let s = r.sizes.as_ref().unwrap();
        assert_eq!(
            (s.min, s.max, s.distinct, s.examined, s.sampled),
            ((28, 28), (28, 28), 1, 5, false)
        );
        assert!(r.labelled);
        assert_eq!(
            r.classes.iter().map(|c| c.count).collect::<Vec<_>>(),
            [1, 3, 0]
        );
        assert_eq!(r.classes[2].name, "two");
        assert_eq!(r.unlabelled, 1);
        let text = r.to_string();
        assert!(
            text.contains("size:     28×28 (height×width; all 5 images)"),
            "{text}"
        );
        assert!(text.contains("3 classes (1 images unlabelled)"), "{text}");
        assert!(text.contains("one   3"), "{text}");
    }

    #[test]
    fn large_unlabelled_source_is_sampled() {
        let src = Fake {
            n: 10_000,
            sizes: vec![(10, 20), (30, 5), (10, 20)],
            labels: None,
            classes: None,
        };
        let r = inspect(&src).unwrap();
        let s = r.sizes.as_ref().unwrap();
        assert_eq!((s.examined, s.sampled, s.distinct), (SIZE_SAMPLE, true, 2));
        assert_eq!((s.min, s.max), ((10, 5), (30, 20)));
        assert!(!r.labelled && r.classes.is_empty());
        let text = r.to_string();
        assert!(text.contains("sampled: 2000 of 10000 images"), "{text}");
        assert!(text.contains("height 10..30, width 5..20"), "{text}");
        assert!(text.contains("none (unlabelled)"), "{text}");
    }

    #[test]
    fn folder_spec_uses_header_sizes_and_lists_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::fs::create_dir_all(tmp.path().join("b")).unwrap();
        ::image::RgbImage::new(4, 3)
            .save(tmp.path().join("a/1.png"))
            .unwrap();
        ::image::RgbImage::new(8, 6)
            .save(tmp.path().join("b/1.png"))
            .unwrap();
        ::image::RgbImage::new(8, 6)
            .save(tmp.path().join("b/2.png"))
            .unwrap();
        std::fs::write(tmp.path().join("b/3.png"), b"junk").unwrap();
        let spec: DataSpec = format!("folder:{}", tmp.path().display()).parse().unwrap();
        let options = OpenOptions {
            skip_corrupt: true,
            ..OpenOptions::default()
        };
        let r = inspect_spec(&spec, Split::Train, &options).unwrap();
        assert_eq!((r.images, r.channels), (3, 3));
        let s = r.sizes.as_ref().unwrap();
        assert_eq!(
            (s.min, s.max, s.distinct, s.sampled),
            ((3, 4), (6, 8), 2, false)
        );
        assert_eq!(
            r.classes
                .iter()
                .map(|c| (c.name.as_str(), c.count))
                .collect::<Vec<_>>(),
            [("a", 1), ("b", 2)]
        );
        let text = r.to_string();
        assert!(
            text.contains("skipped 1 unreadable") && text.contains("3.png"),
            "{text}"
        );
        let e = inspect_spec(&spec, Split::Train, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("3.png"), "{e}");
    }

    #[test]
    fn real_fashion_mnist_if_present() {
        let path = std::path::Path::new("/usr/share/datasets/fashion-mnist");
        if !path.is_dir() {
            return;
        }
        let spec: DataSpec = format!("fashion-mnist:{}", path.display()).parse().unwrap();
        let r = inspect_spec(&spec, Split::Train, &OpenOptions::default()).unwrap();
        assert_eq!((r.images, r.channels, r.classes.len()), (60_000, 1, 10));
        assert!(r.classes.iter().all(|c| c.count == 6000));
        let s = r.sizes.as_ref().unwrap();
        assert_eq!((s.min, s.distinct, s.sampled), ((28, 28), 1, true));
        let text = r.to_string();
        println!("{text}");
        assert!(
            text.contains("Ankle boot") && text.contains("sampled"),
            "{text}"
        );
    }
}

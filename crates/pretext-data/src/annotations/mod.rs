//! Object annotations — boxes, instance masks, categories — in the formats detection data
//! comes in: COCO JSON ([`coco`]) and Pascal VOC XML ([`voc`]). Both read into one
//! [`Annotations`], which is also an [`ImageSource`] of its images (unlabelled, so that a
//! detection dataset's images can be pretrained on) and summarises itself for
//! `pretext data inspect` ([`Annotations::summary`]).
//!
//! Coordinates are continuous pixel coordinates with the origin at the top-left corner of the
//! image: a box `[x0, y0, x1, y1]` covers `x0 ≤ x < x1`, as COCO's `[x, y, w, h]` means and as
//! torchvision and detectron2 convert VOC's 1-based inclusive corners (`x0 = xmin − 1`,
//! `x1 = xmax`).

pub mod coco;
pub mod mask;
pub mod objects;
pub mod voc;

pub use mask::Mask;
pub use objects::{AnnotatedImage, BORDER_TOLERANCE, BoxXyxy, Category, Instance};

use crate::{DataError, DataSpec, DatasetKind, Image, ImageSource, Split};
use std::fmt;
use std::path::{Path, PathBuf};

/// A detection dataset: its categories and annotated images.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotations {
    /// The annotation file (COCO) or split list (VOC), for messages.
    pub origin: PathBuf,
    /// The categories, in the order of the file (COCO) or of the class list (VOC).
    pub categories: Vec<Category>,
    /// The images, in file order.
    pub images: Vec<AnnotatedImage>,
    /// 3 when any image file is in colour, else 1: read from the files' headers the first
    /// time it is asked.
    channels: std::sync::OnceLock<usize>,
}

impl Annotations {
    /// A dataset of `images` in `categories`, read from `origin`.
    pub fn new(origin: PathBuf, categories: Vec<Category>, images: Vec<AnnotatedImage>) -> Self {
        Annotations {
            origin,
            categories,
            images,
            channels: std::sync::OnceLock::new(),
        }
    }

    /// The index of the category whose file id is `id`.
    pub fn category_index(&self, id: u64) -> Option<usize> {
        self.categories.iter().position(|c| c.id == id)
    }

    /// Counts of images, instances per category, crowd and difficult instances, masks and
    /// box sizes.
    pub fn summary(&self) -> Summary {
        let mut per_category = vec![0; self.categories.len()];
        let mut summary = Summary {
            images: self.images.len(),
            without_objects: 0,
            instances: 0,
            per_category: Vec::new(),
            crowd: 0,
            difficult: 0,
            masks: 0,
            empty_boxes: 0,
            sizes: [0; 3],
            box_sides: None,
        };
        let mut sides: Vec<f64> = Vec::new();
        for image in &self.images {
            if image.instances.is_empty() {
                summary.without_objects += 1;
            }
            for instance in &image.instances {
                summary.instances += 1;
                per_category[instance.category] += 1;
                summary.crowd += usize::from(instance.crowd);
                summary.difficult += usize::from(instance.difficult);
                summary.masks += usize::from(instance.mask.is_some());
                if instance.bbox.area() == 0.0 {
                    summary.empty_boxes += 1;
                }
                summary.sizes[AreaRange::of(instance.area) as usize] += 1;
                sides.push(instance.bbox.area().sqrt());
            }
        }
        sides.sort_by(f64::total_cmp);
        if let (Some(&min), Some(&max)) = (sides.first(), sides.last()) {
            summary.box_sides = Some([min, sides[sides.len() / 2], max]);
        }
        summary.per_category = self
            .categories
            .iter()
            .zip(per_category)
            .map(|(c, n)| (c.name.clone(), n))
            .collect();
        summary
    }
}

/// COCO's object sizes by area: small below 32², medium up to 96², large above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaRange {
    /// Area below 32² pixels.
    Small = 0,
    /// Area from 32² to 96² pixels.
    Medium = 1,
    /// Area above 96² pixels.
    Large = 2,
}

impl AreaRange {
    /// The range `area` falls in (COCO's bounds, `[0, 32²]`, `[32², 96²]`, `[96², ∞)`; an area
    /// on a bound counts in the smaller range).
    pub fn of(area: f64) -> AreaRange {
        if area <= 32.0 * 32.0 {
            AreaRange::Small
        } else if area <= 96.0 * 96.0 {
            AreaRange::Medium
        } else {
            AreaRange::Large
        }
    }
}

/// What [`Annotations::summary`] counts; its `Display` is the part of `pretext data inspect`'s
/// report about objects.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Number of images.
    pub images: usize,
    /// Images without any object.
    pub without_objects: usize,
    /// Number of objects.
    pub instances: usize,
    /// (category name, objects) in category order.
    pub per_category: Vec<(String, usize)>,
    /// Crowd regions (COCO's `iscrowd`).
    pub crowd: usize,
    /// Objects marked difficult (VOC).
    pub difficult: usize,
    /// Objects with an instance mask.
    pub masks: usize,
    /// Boxes of zero width or height (kept, and counted here).
    pub empty_boxes: usize,
    /// Objects by COCO size (small, medium, large), by their area.
    pub sizes: [usize; 3],
    /// Smallest, median and largest box side `√(w·h)` in pixels.
    pub box_sides: Option<[f64; 3]>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "objects:  {} in {} images ({} without any)",
            self.instances, self.images, self.without_objects
        )?;
        let [small, medium, large] = self.sizes;
        writeln!(
            f,
            "sizes:    {small} small (area < 32²), {medium} medium, {large} large (> 96²)"
        )?;
        if let Some([min, median, max]) = self.box_sides {
            writeln!(
                f,
                "box side: {min:.1} to {max:.1} px, median {median:.1} (√(w·h))"
            )?;
        }
        let flags = [
            (self.crowd, "crowd regions"),
            (self.difficult, "marked difficult"),
            (self.masks, "with an instance mask"),
            (self.empty_boxes, "boxes of zero width or height"),
        ];
        for (count, words) in flags.into_iter().filter(|(count, _)| *count > 0) {
            writeln!(f, "          {count} {words}")?;
        }
        writeln!(f, "categories ({}):", self.per_category.len())?;
        let width = self
            .per_category
            .iter()
            .map(|(name, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        for (name, count) in &self.per_category {
            writeln!(f, "  {name:<width$}  {count}")?;
        }
        Ok(())
    }
}

impl ImageSource for Annotations {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn get(&self, index: usize) -> Result<Image, DataError> {
        let image = self.images.get(index).ok_or_else(|| {
            DataError::format(
                &self.origin,
                format!(
                    "image index {index} out of range ({} images)",
                    self.images.len()
                ),
            )
        })?;
        let decoded = crate::folder::decode(&image.file)?;
        let (width, height) = (decoded.width() as usize, decoded.height() as usize);
        if (width, height) != (image.width, image.height) {
            return Err(DataError::format(
                &image.file,
                format!(
                    "the image is {width}×{height} but {} says {}×{}",
                    self.origin.display(),
                    image.width,
                    image.height
                ),
            ));
        }
        Ok(if self.channels() == 1 {
            Image::from_interleaved_u8(1, height, width, decoded.to_luma8().as_raw())
        } else {
            Image::from_interleaved_u8(3, height, width, decoded.to_rgb8().as_raw())
        })
    }

    fn label(&self, _index: usize) -> Option<u32> {
        None
    }

    fn classes(&self) -> Option<&[String]> {
        None
    }

    /// 1 when every image file is gray (`pretext data scenes`), else 3; an unreadable
    /// header counts as colour (its error comes when the image is read).
    fn channels(&self) -> usize {
        *self.channels.get_or_init(|| {
            let colour = |image: &AnnotatedImage| {
                crate::folder::read_header(&image.file).map_or(true, |(_, _, colour)| colour)
            };
            if self.images.iter().any(colour) { 3 } else { 1 }
        })
    }

    fn origin(&self) -> String {
        self.origin.display().to_string()
    }

    fn objects(&self, index: usize) -> Option<&AnnotatedImage> {
        self.images.get(index)
    }

    fn categories(&self) -> Option<&[Category]> {
        Some(&self.categories)
    }
}

/// Reads the annotations of `spec` (`coco:FILE.json` or `voc:FOLDER`) for `split`. COCO's
/// test split is the file named like the training file with `train` replaced by `val`
/// (`instances_train2017.json` → `instances_val2017.json`), or the file itself when its name
/// has no `train`; VOC's training splits read `trainval`, its test split `test` (else `val`).
pub fn open(spec: &DataSpec, split: Split) -> Result<Annotations, DataError> {
    let path = &spec.path;
    match (spec.kind, split) {
        (DatasetKind::Coco, Split::Test) => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            coco::read(&path.with_file_name(name.replace("train", "val")), None)
        }
        (DatasetKind::Coco, _) => coco::read(path, None),
        (DatasetKind::Voc, Split::Test) => {
            let has = |s: &str| path.join(format!("ImageSets/Main/{s}.txt")).is_file();
            voc::read(
                path,
                if has("test") || !has("val") {
                    "test"
                } else {
                    "val"
                },
                None,
            )
        }
        (DatasetKind::Voc, _) => voc::read(path, "trainval", None),
        (kind, _) => Err(DataError::Spec(format!(
            "{} data has no object annotations",
            kind.name()
        ))),
    }
}

/// An error unless every image file exists: the first few missing ones are named.
fn check_files_exist(origin: &Path, images: &[AnnotatedImage]) -> Result<(), DataError> {
    let missing: Vec<&Path> = images
        .iter()
        .map(|image| image.file.as_path())
        .filter(|file| !file.is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = missing
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    Err(DataError::format(
        origin,
        format!(
            "{} of its {} images are missing: {}{}",
            missing.len(),
            images.len(),
            named.join(", "),
            if missing.len() > 3 { ", …" } else { "" }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_hand_drawn_boxes() {
        let a = BoxXyxy([0.0, 0.0, 2.0, 2.0]);
        // Overlap 1×2 = 2 of a union 4 + 4 − 2 = 6.
        assert!((a.iou(BoxXyxy([1.0, 0.0, 3.0, 2.0])) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.iou(a), 1.0);
        assert_eq!(a.iou(BoxXyxy([2.0, 0.0, 4.0, 2.0])), 0.0);
        let empty = BoxXyxy([1.0, 1.0, 1.0, 1.0]);
        assert_eq!(empty.iou(empty), 0.0);
        assert_eq!(
            BoxXyxy::from_xywh([1.0, 2.0, 3.0, 4.0]).0,
            [1.0, 2.0, 4.0, 6.0]
        );
        assert_eq!(BoxXyxy([1.0, 2.0, 4.0, 6.0]).xywh(), [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn box_problems_are_named() {
        assert_eq!(BoxXyxy([0.0, 0.0, 10.5, 10.0]).problem(10, 10), None);
        let outside = BoxXyxy([0.0, 0.0, 12.0, 5.0]).problem(10, 10).unwrap();
        assert!(outside.contains("outside the 10×10 image"), "{outside}");
        let flipped = BoxXyxy([5.0, 0.0, 4.0, 5.0]).problem(10, 10).unwrap();
        assert!(flipped.contains("negative width"), "{flipped}");
        let nan = BoxXyxy([f64::NAN, 0.0, 4.0, 5.0]).problem(10, 10).unwrap();
        assert!(nan.contains("not a number"), "{nan}");
    }

    #[test]
    fn area_ranges_follow_coco_bounds() {
        assert_eq!(AreaRange::of(0.0), AreaRange::Small);
        assert_eq!(AreaRange::of(1024.0), AreaRange::Small);
        assert_eq!(AreaRange::of(1024.5), AreaRange::Medium);
        assert_eq!(AreaRange::of(9216.0), AreaRange::Medium);
        assert_eq!(AreaRange::of(9216.5), AreaRange::Large);
    }
}

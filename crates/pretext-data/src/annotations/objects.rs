//! The annotation records every format reads into: boxes, categories, objects and the
//! images they lie in.

use super::mask::Mask;
use std::path::PathBuf;

/// How far (in pixels) a box may reach past the image border before it is an error: COCO's
/// boxes are rounded to hundredths and some end a fraction of a pixel outside.
pub const BORDER_TOLERANCE: f64 = 1.0;

/// An axis-aligned box `[x0, y0, x1, y1]` in pixels (`x0 ≤ x1`, `y0 ≤ y1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxXyxy(pub [f64; 4]);

impl BoxXyxy {
    /// The box of COCO's `[x, y, width, height]`.
    pub fn from_xywh([x, y, w, h]: [f64; 4]) -> Self {
        BoxXyxy([x, y, x + w, y + h])
    }

    /// COCO's `[x, y, width, height]` of the box.
    pub fn xywh(self) -> [f64; 4] {
        let [x0, y0, x1, y1] = self.0;
        [x0, y0, x1 - x0, y1 - y0]
    }

    /// Width times height.
    pub fn area(self) -> f64 {
        let [x0, y0, x1, y1] = self.0;
        (x1 - x0).max(0.0) * (y1 - y0).max(0.0)
    }

    /// The area both boxes cover.
    pub fn intersection(self, other: BoxXyxy) -> f64 {
        let [a0, b0, a1, b1] = self.0;
        let [c0, d0, c1, d1] = other.0;
        (a1.min(c1) - a0.max(c0)).max(0.0) * (b1.min(d1) - b0.max(d0)).max(0.0)
    }

    /// Intersection over union with `other` (0 when both are empty).
    pub fn iou(self, other: BoxXyxy) -> f64 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// What is wrong with the box in an image of `width` × `height`, if anything: a
    /// coordinate that is not a finite number, corners in the wrong order, or a corner more
    /// than [`BORDER_TOLERANCE`] outside the image.
    pub fn problem(self, width: usize, height: usize) -> Option<String> {
        let [x0, y0, x1, y1] = self.0;
        if self.0.iter().any(|v| !v.is_finite()) {
            return Some(format!(
                "box {:?} has a coordinate that is not a number",
                self.0
            ));
        }
        if x1 < x0 || y1 < y0 {
            return Some(format!("box {:?} has a negative width or height", self.0));
        }
        let (w, h, t) = (width as f64, height as f64, BORDER_TOLERANCE);
        if x0 < -t || y0 < -t || x1 > w + t || y1 > h + t {
            return Some(format!(
                "box [{x0}, {y0}, {x1}, {y1}] lies outside the {width}×{height} image"
            ));
        }
        None
    }
}

/// A category (class) of objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    /// The id the annotation file uses (COCO's `category_id`; for VOC the class's index + 1).
    pub id: u64,
    /// The category's name.
    pub name: String,
}

/// One annotated object.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The annotation's id in its file (COCO's `id`; for VOC the object's position in the
    /// file, from 1).
    pub id: u64,
    /// Index into [`Annotations::categories`].
    pub category: usize,
    /// The bounding box.
    pub bbox: BoxXyxy,
    /// The object's area in pixels: COCO's `area` (of the mask) when given, else the box's.
    /// COCO's evaluation sorts objects into small, medium and large by it.
    pub area: f64,
    /// COCO's `iscrowd`: a region of many objects, never a false negative when missed and
    /// matched by detections without making them true positives.
    pub crowd: bool,
    /// VOC's `difficult`: excluded from VOC's AP (neither a hit nor a miss).
    pub difficult: bool,
    /// The instance mask, when the file gives one.
    pub mask: Option<Mask>,
}

/// One image and its objects.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnotatedImage {
    /// The image's id in its file (COCO's `id`; for VOC the index of its line in the split's
    /// list).
    pub id: u64,
    /// The image file.
    pub file: PathBuf,
    /// Width in pixels, as the annotation file says.
    pub width: usize,
    /// Height in pixels, as the annotation file says.
    pub height: usize,
    /// The objects, in file order.
    pub instances: Vec<Instance>,
}

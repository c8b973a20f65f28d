//! COCO's object-detection JSON (Lin et al. 2014; the `instances_*.json` files): `images`,
//! `annotations` with `bbox` `[x, y, w, h]`, `area`, `iscrowd` and `segmentation` (polygons or
//! RLE), and `categories`. Fields pretext does not use (`info`, `licenses`, `coco_url`, …)
//! are ignored; anything it uses that is wrong is an error naming the file and the
//! annotation or image, never a silently dropped object.

use super::mask::{Mask, decode_rle_string};
use super::{AnnotatedImage, Annotations, BoxXyxy, Category, Instance, check_files_exist};
use crate::DataError;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct File {
    images: Vec<FileImage>,
    #[serde(default)]
    annotations: Vec<FileAnnotation>,
    categories: Vec<FileCategory>,
}

#[derive(Deserialize)]
struct FileImage {
    id: u64,
    file_name: String,
    width: usize,
    height: usize,
}

#[derive(Deserialize)]
struct FileAnnotation {
    id: u64,
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
    area: Option<f64>,
    #[serde(default)]
    iscrowd: u8,
    segmentation: Option<Segmentation>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Segmentation {
    Polygons(Vec<Vec<f64>>),
    Rle { size: [usize; 2], counts: RleCounts },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RleCounts {
    Plain(Vec<u64>),
    Compressed(String),
}

#[derive(Deserialize)]
struct FileCategory {
    id: u64,
    name: String,
}

/// Reads the COCO annotation file `json`, whose images' `file_name`s are relative to
/// `images` — or, when that is `None`, to the first of these folders that holds the first
/// image: the JSON's own folder, the folder named after the JSON's last `_` part beside the
/// JSON's folder (`annotations/instances_val2017.json` → `val2017/`, COCO's layout), and
/// `images/` in or beside the JSON's folder.
///
/// # Errors
/// Invalid JSON (with its line and column); duplicate image, annotation or category ids; an
/// annotation of an unknown image or category; a box or mask that does not fit its image;
/// `iscrowd` other than 0 or 1; image files that do not exist.
pub fn read(json: &Path, images: Option<&Path>) -> Result<Annotations, DataError> {
    let text = std::fs::read(json).map_err(|e| DataError::io(json, e))?;
    let file: File = serde_json::from_slice(&text)
        .map_err(|e| DataError::format(json, format!("not a COCO annotation file: {e}")))?;
    let root = match images {
        Some(root) => root.to_path_buf(),
        None => find_image_root(json, file.images.first())?,
    };
    let error = |message: String| DataError::format(json, message);

    let mut categories = Vec::with_capacity(file.categories.len());
    let mut category_index = HashMap::new();
    for (i, c) in file.categories.into_iter().enumerate() {
        if category_index.insert(c.id, i).is_some() {
            return Err(error(format!("category id {} appears twice", c.id)));
        }
        categories.push(Category {
            id: c.id,
            name: c.name,
        });
    }
    let mut annotated = Vec::with_capacity(file.images.len());
    let mut image_index = HashMap::new();
    for (i, image) in file.images.into_iter().enumerate() {
        if image_index.insert(image.id, i).is_some() {
            return Err(error(format!("image id {} appears twice", image.id)));
        }
        if image.width == 0 || image.height == 0 {
            return Err(error(format!(
                "image {} ({}) has zero size {}×{}",
                image.id, image.file_name, image.width, image.height
            )));
        }
        annotated.push(AnnotatedImage {
            id: image.id,
            file: root.join(&image.file_name),
            width: image.width,
            height: image.height,
            instances: Vec::new(),
        });
    }
    let mut annotation_ids = std::collections::HashSet::new();
    for a in file.annotations {
        let context = |what: String| error(format!("annotation {}: {what}", a.id));
        if !annotation_ids.insert(a.id) {
            return Err(context("its id appears twice".to_string()));
        }
        let &i = image_index.get(&a.image_id).ok_or_else(|| {
            context(format!(
                "image_id {} is not an image of the file",
                a.image_id
            ))
        })?;
        let &category = category_index.get(&a.category_id).ok_or_else(|| {
            context(format!(
                "category_id {} is not a category of the file",
                a.category_id
            ))
        })?;
        let image = &mut annotated[i];
        let (width, height) = (image.width, image.height);
        let bbox = BoxXyxy::from_xywh(a.bbox);
        if let Some(problem) = bbox.problem(width, height) {
            return Err(context(format!("{problem} (image {})", a.image_id)));
        }
        if a.iscrowd > 1 {
            return Err(context(format!(
                "iscrowd is {}; it must be 0 or 1",
                a.iscrowd
            )));
        }
        let mask = match a.segmentation {
            None => None,
            Some(Segmentation::Polygons(polygons)) if polygons.is_empty() => None,
            Some(Segmentation::Polygons(polygons)) => Some(Mask::Polygons(polygons)),
            Some(Segmentation::Rle { size, counts }) => Some(Mask::Rle {
                height: size[0],
                width: size[1],
                counts: match counts {
                    RleCounts::Plain(counts) => counts,
                    RleCounts::Compressed(text) => decode_rle_string(&text)
                        .map_err(|e| context(format!("segmentation counts: {e}")))?,
                },
            }),
        };
        if let Some(problem) = mask.as_ref().and_then(|m| m.problem(width, height)) {
            return Err(context(format!("segmentation: {problem}")));
        }
        let area = a.area.unwrap_or_else(|| bbox.area());
        if !(area.is_finite() && area >= 0.0) {
            return Err(context(format!("area {area} is not a number ≥ 0")));
        }
        image.instances.push(Instance {
            id: a.id,
            category,
            bbox,
            area,
            crowd: a.iscrowd == 1,
            difficult: false,
            mask,
        });
    }
    check_files_exist(json, &annotated)?;
    Ok(Annotations::new(json.to_path_buf(), categories, annotated))
}

/// The folder `first`'s file lies in, among those [`read`] tries.
fn find_image_root(json: &Path, first: Option<&FileImage>) -> Result<PathBuf, DataError> {
    let dir = json.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let parent = dir.join("..");
    let mut candidates = vec![dir.to_path_buf()];
    let stem = json.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if let Some((_, split)) = stem.rsplit_once('_') {
        candidates.push(parent.join(split));
    }
    candidates.extend([dir.join("images"), parent.join("images")]);
    let Some(first) = first else {
        return Ok(dir.to_path_buf());
    };
    candidates
        .iter()
        .find(|root| root.join(&first.file_name).is_file())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            DataError::format(
                json,
                format!(
                    "cannot find its images: {} is in none of {}; name the image folder",
                    first.file_name,
                    tried.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A COCO file of two 20×10 images and three objects: a box with a polygon, a crowd
    /// region with a compressed RLE, and a box with a plain RLE and no `area`.
    fn write_coco(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
        let images = dir.join("val2017");
        std::fs::create_dir_all(&images).unwrap();
        for name in ["a.png", "b.png"] {
            image::RgbImage::new(20, 10)
                .save(images.join(name))
                .unwrap();
        }
        let mut value = json!({
            "info": {"year": 2017},
            "images": [
                {"id": 7, "file_name": "a.png", "width": 20, "height": 10},
                {"id": 9, "file_name": "b.png", "width": 20, "height": 10, "license": 1}
            ],
            "annotations": [
                {"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 4, 5], "area": 12.5,
                 "iscrowd": 0, "segmentation": [[1, 2, 5, 2, 5, 7]]},
                {"id": 2, "image_id": 7, "category_id": 5, "bbox": [0, 0, 20, 10], "area": 100,
                 "iscrowd": 1, "segmentation": {"size": [10, 20], "counts": "0`3h2"}},
                {"id": 3, "image_id": 9, "category_id": 3, "bbox": [10, 5, 10, 5],
                 "segmentation": {"size": [10, 20], "counts": [100, 100]}}
            ],
            "categories": [
                {"id": 3, "name": "shirt", "supercategory": "clothes"},
                {"id": 5, "name": "crowd of shoes"}
            ]
        });
        edit(&mut value);
        let annotations = dir.join("annotations");
        std::fs::create_dir_all(&annotations).unwrap();
        let json = annotations.join("instances_val2017.json");
        std::fs::write(&json, serde_json::to_vec(&value).unwrap()).unwrap();
        json
    }

    #[test]
    fn reads_boxes_masks_crowds_and_finds_the_image_folder() {
        let dir = tempfile::tempdir().unwrap();
        let json = write_coco(dir.path(), |_| {});
        let coco = read(&json, None).unwrap();
        assert_eq!(coco.channels(), 3, "RGB files");
        assert_eq!(coco.categories[1].name, "crowd of shoes");
        assert_eq!(coco.images.len(), 2);
        let a = &coco.images[0];
        assert!(a.file.ends_with("val2017/a.png"), "{:?}", a.file);
        assert_eq!(a.instances[0].bbox.0, [1.0, 2.0, 5.0, 7.0]);
        assert_eq!(a.instances[0].area, 12.5);
        assert_eq!(a.instances[1].category, 1);
        assert!(a.instances[1].crowd && !a.instances[0].crowd);
        // "0`3h2": 0 zeros; '`' (group 16, more) and '3' make 16 + 3·32 = 112 ones; 'h' (24,
        // more) and '2' make 24 + 2·32 = 88 zeros: the 200 pixels.
        let Some(Mask::Rle { counts, .. }) = &a.instances[1].mask else {
            panic!("{:?}", a.instances[1].mask)
        };
        assert_eq!(counts, &[0, 112, 88]);
        let b = &coco.images[1].instances[0];
        assert_eq!(b.area, 50.0, "the box's area when the file has none");
        let Some(Mask::Rle { counts, .. }) = &b.mask else {
            panic!("{:?}", b.mask)
        };
        assert_eq!(counts, &[100, 100]);
        let summary = coco.summary();
        assert_eq!(summary.instances, 3);
        assert_eq!(summary.crowd, 1);
        assert_eq!(summary.per_category[0], ("shirt".to_string(), 2));
        let report = summary.to_string();
        assert!(report.contains("3 in 2 images"), "{report}");
        // The images decode through the ImageSource.
        use crate::ImageSource;
        assert_eq!(coco.get(1).unwrap().width, 20);
    }

    /// A change that breaks an annotation file.
    type Breakage = Box<dyn Fn(&mut serde_json::Value)>;

    #[test]
    fn each_malformed_file_gets_its_error() {
        let cases: Vec<(Breakage, &str)> = vec![
            (
                Box::new(|v| v["annotations"][0]["category_id"] = json!(4)),
                "annotation 1: category_id 4 is not a category",
            ),
            (
                Box::new(|v| v["annotations"][0]["image_id"] = json!(8)),
                "annotation 1: image_id 8 is not an image",
            ),
            (
                Box::new(|v| v["annotations"][0]["bbox"] = json!([15, 2, 10, 5])),
                "annotation 1: box [15, 2, 25, 7] lies outside the 20×10 image",
            ),
            (
                Box::new(|v| v["annotations"][2]["segmentation"]["counts"] = json!([100, 99])),
                "annotation 3: segmentation: the RLE mask's runs cover 199 pixels",
            ),
            (
                Box::new(|v| v["annotations"][0]["segmentation"] = json!([[1, 2, 3]])),
                "annotation 1: segmentation: a polygon has 3 coordinates",
            ),
            (
                Box::new(|v| v["annotations"][0]["iscrowd"] = json!(2)),
                "iscrowd is 2",
            ),
            (
                Box::new(|v| v["annotations"][1]["id"] = json!(1)),
                "annotation 1: its id appears twice",
            ),
            (
                Box::new(|v| v["images"][1]["id"] = json!(7)),
                "image id 7 appears twice",
            ),
            (
                Box::new(|v| v["images"][1]["file_name"] = json!("gone.png")),
                "1 of its 2 images are missing",
            ),
            (
                Box::new(|v| v["images"] = json!("none")),
                "not a COCO annotation file",
            ),
        ];
        for (edit, words) in cases {
            let dir = tempfile::tempdir().unwrap();
            let json = write_coco(dir.path(), edit);
            let err = read(&json, None).unwrap_err().to_string();
            assert!(
                err.contains(words) && err.contains("instances_val2017.json"),
                "{words}: {err}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("broken.json");
        std::fs::write(&json, "{\"images\": [").unwrap();
        let err = read(&json, None).unwrap_err().to_string();
        assert!(
            err.contains("broken.json") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn an_image_folder_that_is_nowhere_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let json = write_coco(dir.path(), |_| {});
        std::fs::rename(dir.path().join("val2017"), dir.path().join("pictures")).unwrap();
        let err = read(&json, None).unwrap_err().to_string();
        assert!(err.contains("cannot find its images: a.png"), "{err}");
        let coco = read(&json, Some(&dir.path().join("pictures"))).unwrap();
        assert_eq!(coco.images.len(), 2);
    }
}

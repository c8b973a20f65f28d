//! Pascal VOC's detection layout (Everingham et al. 2010): `ImageSets/Main/SPLIT.txt` lists
//! image ids, `Annotations/ID.xml` holds each image's size and objects (`name`, `difficult`,
//! `bndbox` with 1-based inclusive `xmin`, `ymin`, `xmax`, `ymax`), `JPEGImages/` the images.

use super::{AnnotatedImage, Annotations, BoxXyxy, Category, Instance, check_files_exist};
use crate::DataError;
use roxmltree::Node;
use std::path::Path;

/// The twenty classes of Pascal VOC 2007–2012, in the order of its development kit.
pub const VOC_CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// Reads split `split` (`train`, `val`, `trainval`, `test`) of the VOC folder `root` (the one
/// holding `Annotations/`, e.g. `VOCdevkit/VOC2007`), with `classes` as the categories
/// ([`VOC_CLASSES`] when `None`, for a dataset in VOC's format with classes of its own).
/// Corners become `[xmin − 1, ymin − 1, xmax, ymax]` (see [`super`]).
///
/// # Errors
/// A missing split list or annotation file; XML that does not parse or lacks the image size or
/// an object's name or box; a class not in `classes`; a box outside its image; a missing
/// image file.
pub fn read(
    root: &Path,
    split: &str,
    classes: Option<&[String]>,
) -> Result<Annotations, DataError> {
    let classes: Vec<String> = match classes {
        Some(names) => names.to_vec(),
        None => VOC_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let list = root
        .join("ImageSets")
        .join("Main")
        .join(format!("{split}.txt"));
    let text = std::fs::read_to_string(&list).map_err(|e| DataError::io(&list, e))?;
    let mut images = Vec::new();
    for (line, id) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let xml = root.join("Annotations").join(format!("{id}.xml"));
        let text = std::fs::read_to_string(&xml).map_err(|e| DataError::io(&xml, e))?;
        let mut image = parse(&text, &classes).map_err(|m| DataError::format(&xml, m))?;
        image.id = line as u64;
        let file = image.file.clone();
        let name = match file.as_os_str().is_empty() {
            true => format!("{id}.jpg"),
            false => file.display().to_string(),
        };
        image.file = root.join("JPEGImages").join(name);
        images.push(image);
    }
    check_files_exist(&list, &images)?;
    let categories = classes
        .into_iter()
        .enumerate()
        .map(|(i, name)| Category {
            id: i as u64 + 1,
            name,
        })
        .collect();
    Ok(Annotations::new(list, categories, images))
}

/// One annotation file's image (its `file` the bare `filename`, empty when absent).
fn parse(text: &str, classes: &[String]) -> Result<AnnotatedImage, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not valid XML: {e}"))?;
    let root = doc.root_element();
    fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
        node.children().find(|c| c.has_tag_name(name))
    }
    fn text_of(node: Node<'_, '_>, name: &str) -> Option<String> {
        child(node, name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    }
    fn number(node: Node<'_, '_>, name: &str, what: &str) -> Result<f64, String> {
        let value = text_of(node, name).ok_or_else(|| format!("{what} has no <{name}>"))?;
        value
            .parse::<f64>()
            .map_err(|_| format!("{what}: <{name}> is {value:?}, not a number"))
    }
    let size = child(root, "size").ok_or("no <size> (the image's width and height)")?;
    let (width, height) = (
        number(size, "width", "<size>")?,
        number(size, "height", "<size>")?,
    );
    if !(width >= 1.0 && height >= 1.0) {
        return Err(format!("<size> is {width}×{height}"));
    }
    let (width, height) = (width as usize, height as usize);
    let mut instances = Vec::new();
    for (k, object) in root
        .children()
        .filter(|c| c.has_tag_name("object"))
        .enumerate()
    {
        let what = format!("object {}", k + 1);
        let name = text_of(object, "name").ok_or_else(|| format!("{what} has no <name>"))?;
        let category = classes.iter().position(|c| *c == name).ok_or_else(|| {
            format!(
                "{what} is a {name:?}, not one of the {} classes ({}{})",
                classes.len(),
                classes
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if classes.len() > 5 { ", …" } else { "" }
            )
        })?;
        let difficult = match text_of(object, "difficult").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(format!("{what}: <difficult> is {other:?}, not 0 or 1")),
        };
        let bndbox = child(object, "bndbox").ok_or_else(|| format!("{what} has no <bndbox>"))?;
        let corner = |name: &str| number(bndbox, name, &what);
        let bbox = BoxXyxy([
            corner("xmin")? - 1.0,
            corner("ymin")? - 1.0,
            corner("xmax")?,
            corner("ymax")?,
        ]);
        if let Some(problem) = bbox.problem(width, height) {
            return Err(format!("{what}: {problem}"));
        }
        instances.push(Instance {
            id: k as u64 + 1,
            category,
            bbox,
            area: bbox.area(),
            crowd: false,
            difficult,
            mask: None,
        });
    }
    Ok(AnnotatedImage {
        id: 0,
        file: text_of(root, "filename").unwrap_or_default().into(),
        width,
        height,
        instances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, difficult: u8, [x0, y0, x1, y1]: [u32; 4]) -> String {
        format!(
            "<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>\
             <difficult>{difficult}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>\
             <xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        )
    }

    /// A VOC folder of two 30×20 images: `000001` with a dog and a difficult person,
    /// `000002` with a car, the second file's objects given by `objects`.
    fn write_voc(root: &Path, objects: &str) {
        for folder in ["Annotations", "JPEGImages", "ImageSets/Main"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::write(root.join("ImageSets/Main/trainval.txt"), "000001\n000002\n").unwrap();
        let files = [
            (
                "000001",
                object("dog", 0, [1, 2, 10, 12]) + &object("person", 1, [5, 5, 30, 20]),
            ),
            ("000002", objects.to_string()),
        ];
        for (id, objects) in files {
            let xml = format!(
                "<annotation><folder>VOC2007</folder><filename>{id}.jpg</filename>\
                 <size><width>30</width><height>20</height><depth>3</depth></size>\
                 <segmented>0</segmented>{objects}</annotation>"
            );
            std::fs::write(root.join(format!("Annotations/{id}.xml")), xml).unwrap();
            image::RgbImage::new(30, 20)
                .save_with_format(
                    root.join(format!("JPEGImages/{id}.jpg")),
                    image::ImageFormat::Png,
                )
                .unwrap();
        }
    }

    #[test]
    fn reads_a_split_with_zero_based_boxes_and_difficult_flags() {
        let dir = tempfile::tempdir().unwrap();
        write_voc(dir.path(), &object("car", 0, [3, 4, 8, 9]));
        let voc = read(dir.path(), "trainval", None).unwrap();
        assert_eq!(voc.categories.len(), 20);
        assert_eq!(voc.categories[11].name, "dog");
        let first = &voc.images[0];
        assert_eq!((first.width, first.height), (30, 20));
        assert_eq!(first.instances[0].bbox.0, [0.0, 1.0, 10.0, 12.0]);
        assert_eq!(first.instances[0].category, 11);
        assert!(first.instances[1].difficult && !first.instances[0].difficult);
        assert_eq!(voc.images[1].instances[0].area, 36.0, "[2, 3, 8, 9]: 6 × 6");
        assert!(voc.images[1].file.ends_with("JPEGImages/000002.jpg"));
        assert_eq!(voc.summary().difficult, 1);
        // A dataset in VOC's format with classes of its own.
        let own = ["dog".to_string(), "person".to_string(), "car".to_string()];
        let voc = read(dir.path(), "trainval", Some(&own)).unwrap();
        assert_eq!(voc.images[1].instances[0].category, 2);
    }

    #[test]
    fn each_malformed_file_gets_its_error() {
        let cases = [
            (
                object("unicorn", 0, [1, 1, 5, 5]),
                "object 1 is a \"unicorn\", not one of the 20",
            ),
            (
                object("car", 0, [1, 1, 40, 5]),
                "object 1: box [0, 0, 40, 5] lies outside",
            ),
            (object("car", 2, [1, 1, 5, 5]), "<difficult> is \"2\""),
            (
                "<object><name>car</name></object>".to_string(),
                "object 1 has no <bndbox>",
            ),
            (
                "<object><name>car</name><bndbox><xmin>a</xmin></bndbox></object>".to_string(),
                "<xmin> is \"a\", not a number",
            ),
            ("<object>".to_string(), "not valid XML"),
        ];
        for (objects, words) in cases {
            let dir = tempfile::tempdir().unwrap();
            write_voc(dir.path(), &objects);
            let err = read(dir.path(), "trainval", None).unwrap_err().to_string();
            assert!(
                err.contains(words) && err.contains("000002.xml"),
                "{words}: {err}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        write_voc(dir.path(), "");
        std::fs::remove_file(dir.path().join("JPEGImages/000002.jpg")).unwrap();
        let err = read(dir.path(), "trainval", None).unwrap_err().to_string();
        assert!(err.contains("1 of its 2 images are missing"), "{err}");
        let err = read(dir.path(), "test", None).unwrap_err().to_string();
        assert!(err.contains("test.txt"), "{err}");
    }
}

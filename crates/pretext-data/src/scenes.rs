//! A detection benchmark that trains on a CPU: scenes composed of the items of a labelled
//! dataset of objects on black (Fashion-MNIST, MNIST), written as PNG images and COCO JSON
//! (`pretext data scenes`). It is derived data, made as follows.
//!
//! Each scene is a `size × size` canvas with a background (smooth value noise by default)
//! and 1 to 4 items, each drawn uniformly from the source's split, scaled by a factor drawn
//! from `[0.75, 2]`, and placed uniformly where its box overlaps every item already placed by
//! an IoU of at most `max_overlap` (20 tries, else the scene has one item fewer). Items are
//! pasted largest first, so a small item is never hidden under a larger one; an item's pixels
//! blend into the background by their brightness, and its instance mask is its pixels
//! brighter than [`MASK_THRESHOLD`] that no later item covers. The box is the mask's tight
//! box, the area its pixel count, the category the item's class. An item no pixel of which
//! stays visible is not annotated (its pixels are all covered). Training scenes come from the
//! source's training split, test scenes from its test split; scene `i` of a split depends
//! only on the seed, the split and `i`.

use crate::annotations::BoxXyxy;
use crate::annotations::mask::encode_rle_string;
use crate::augment::resize;
use crate::rng::{SampleRng, sample_rng};
use crate::{DataError, Image, ImageSource};
use rand::Rng;
use rayon::prelude::*;
use std::path::Path;

/// An item's pixel belongs to its mask above this brightness (of 1).
pub const MASK_THRESHOLD: f32 = 0.1;

/// What the scenes' background is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// Smooth value noise (three octaves), brightness 0 to 0.6.
    Texture,
    /// Independent uniform noise per pixel, 0 to 0.5.
    Noise,
    /// Black, as the items' own background.
    Black,
}

impl std::str::FromStr for Background {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "texture" => Ok(Background::Texture),
            "noise" => Ok(Background::Noise),
            "black" => Ok(Background::Black),
            _ => Err(DataError::Spec(format!(
                "unknown background `{s}`; choose texture, noise or black"
            ))),
        }
    }
}

/// How to compose scenes.
#[derive(Clone, Debug)]
pub struct SceneOptions {
    /// Canvas side in pixels.
    pub size: usize,
    /// Scenes made from the training split.
    pub train: usize,
    /// Scenes made from the test split.
    pub test: usize,
    /// Fewest and most items per scene.
    pub objects: [usize; 2],
    /// Smallest and largest scale of an item (1 = its native size).
    pub scale: [f32; 2],
    /// Largest IoU between the boxes of two items of a scene.
    pub max_overlap: f64,
    /// The background.
    pub background: Background,
    /// Seed of everything drawn.
    pub seed: u64,
}

impl Default for SceneOptions {
    fn default() -> Self {
        SceneOptions {
            size: 96,
            train: 10_000,
            test: 2_000,
            objects: [1, 4],
            scale: [0.75, 2.0],
            max_overlap: 0.3,
            background: Background::Texture,
            seed: 0,
        }
    }
}

/// What [`make_scenes`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SceneReport {
    /// Training scenes.
    pub train: usize,
    /// Test scenes.
    pub test: usize,
    /// Objects annotated in the training scenes.
    pub train_objects: usize,
    /// Objects annotated in the test scenes.
    pub test_objects: usize,
}

/// One annotated item of a scene.
struct Placed {
    label: u32,
    /// Visible mask, `size × size` row-major.
    mask: Vec<bool>,
}

/// Composes the scenes `options` describes from `train` and `test` (the source's two splits)
/// into `dest`: `train/` and `val/` PNG images, `annotations/instances_train.json` and
/// `annotations/instances_val.json` (masks as compressed RLE), ready for
/// `coco:DEST/annotations/instances_train.json`.
pub fn make_scenes(
    train: &dyn ImageSource,
    test: &dyn ImageSource,
    dest: &Path,
    options: &SceneOptions,
) -> Result<SceneReport, DataError> {
    let [fewest, most] = options.objects;
    let [small, large] = options.scale;
    if options.size == 0 || fewest == 0 || fewest > most || !(small > 0.0 && small <= large) {
        return Err(DataError::Spec(
            "scenes need a positive size, 1 ≤ fewest ≤ most objects and 0 < smallest ≤ largest scale"
                .into(),
        ));
    }
    if !(0.0..=1.0).contains(&options.max_overlap) {
        return Err(DataError::Spec(format!(
            "the largest overlap must be an IoU in [0, 1], got {}",
            options.max_overlap
        )));
    }
    let mut report = SceneReport::default();
    for (split, source, count) in [("train", train, options.train), ("val", test, options.test)] {
        let objects = write_split(source, dest, split, count, options)?;
        match split {
            "train" => (report.train, report.train_objects) = (count, objects),
            _ => (report.test, report.test_objects) = (count, objects),
        }
    }
    Ok(report)
}

/// Writes `count` scenes of `source` as split `split`; returns the objects annotated.
fn write_split(
    source: &dyn ImageSource,
    dest: &Path,
    split: &str,
    count: usize,
    options: &SceneOptions,
) -> Result<usize, DataError> {
    if source.is_empty() || source.label(0).is_none() {
        return Err(DataError::format(
            source.origin(),
            "scenes need labelled items (the class is each object's category)",
        ));
    }
    let images = dest.join(split);
    let annotations = dest.join("annotations");
    for dir in [&images, &annotations] {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    }
    let stream = u64::from(split == "val");
    let size = options.size;
    let scenes: Vec<Vec<Placed>> = (0..count)
        .into_par_iter()
        .map(|i| {
            let mut rng = sample_rng(options.seed, stream, i as u64);
            let (canvas, placed) = compose(source, options, &mut rng)?;
            let path = images.join(format!("{i:06}.png"));
            write_png(&canvas, &path)?;
            Ok(placed)
        })
        .collect::<Result<_, DataError>>()?;
    let mut json_images = Vec::with_capacity(count);
    let mut json_objects = Vec::new();
    for (i, placed) in scenes.iter().enumerate() {
        json_images.push(serde_json::json!({
            "id": i, "file_name": format!("{i:06}.png"), "width": size, "height": size,
        }));
        for object in placed {
            let (bbox, area, counts) = describe(&object.mask, size);
            json_objects.push(serde_json::json!({
                "id": json_objects.len() + 1, "image_id": i, "category_id": object.label + 1,
                "bbox": bbox, "area": area, "iscrowd": 0,
                "segmentation": {"size": [size, size], "counts": encode_rle_string(&counts)},
            }));
        }
    }
    let names: Vec<String> = match source.classes() {
        Some(names) => names.to_vec(),
        None => {
            let largest = (0..source.len()).filter_map(|i| source.label(i)).max();
            (0..=largest.unwrap_or(0)).map(|c| c.to_string()).collect()
        }
    };
    let categories: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(c, name)| serde_json::json!({"id": c + 1, "name": name}))
        .collect();
    let [fewest, most] = options.objects;
    let [small, large] = options.scale;
    let info = serde_json::json!({
        "description": format!(
            "pretext data scenes: {size}×{size} scenes of {fewest}–{most} items of {} (scale \
             {small}–{large}, box IoU ≤ {}, {:?} background, seed {}); derived data",
            source.origin(), options.max_overlap, options.background, options.seed
        ),
    });
    let file = serde_json::json!({
        "info": info, "images": json_images, "annotations": json_objects, "categories": categories,
    });
    let json = annotations.join(format!("instances_{split}.json"));
    let bytes = serde_json::to_vec(&file).map_err(|e| DataError::format(&json, e.to_string()))?;
    crate::atomic::write(&json, &bytes)?;
    Ok(json_objects.len())
}

/// One scene: the canvas and its visible items.
fn compose(
    source: &dyn ImageSource,
    options: &SceneOptions,
    rng: &mut SampleRng,
) -> Result<(Image, Vec<Placed>), DataError> {
    let size = options.size;
    let channels = source.channels();
    let mut canvas = background(options.background, channels, size, rng);
    let [fewest, most] = options.objects;
    let wanted = rng.random_range(fewest..=most);
    // Draw every item and its scale, then place the largest first.
    let mut items = Vec::with_capacity(wanted);
    for _ in 0..wanted {
        let index = rng.random_range(0..source.len());
        let item = source.get(index)?;
        let label = source.label(index).unwrap_or(0);
        let scale = rng.random_range(options.scale[0]..=options.scale[1]);
        let side = |n: usize| ((n as f32 * scale).round() as usize).clamp(1, size);
        let item = resize(&item, side(item.width), side(item.height)).to_channels(channels);
        items.push((item, label));
    }
    items.sort_by_key(|(item, _)| std::cmp::Reverse(item.width * item.height));
    let mut boxes: Vec<BoxXyxy> = Vec::new();
    let mut placed: Vec<Placed> = Vec::new();
    for (item, label) in items {
        let Some(tight) = tight_box(&item) else {
            continue;
        };
        let at = |x: usize, y: usize| {
            BoxXyxy([x + tight[0], y + tight[1], x + tight[2], y + tight[3]].map(|v| v as f64))
        };
        let spots = (size - item.width + 1, size - item.height + 1);
        let spot = (0..20)
            .map(|_| (rng.random_range(0..spots.0), rng.random_range(0..spots.1)))
            .find(|&(x, y)| boxes.iter().all(|o| o.iou(at(x, y)) <= options.max_overlap));
        let Some((x, y)) = spot else {
            continue;
        };
        boxes.push(at(x, y));
        let mut mask = vec![false; size * size];
        paste(&mut canvas, &item, x, y, &mut mask);
        for earlier in &mut placed {
            for (e, &m) in earlier.mask.iter_mut().zip(&mask) {
                *e &= !m;
            }
        }
        placed.push(Placed { label, mask });
    }
    placed.retain(|p| p.mask.iter().any(|&m| m));
    Ok((canvas, placed))
}

/// Blends `item` into `canvas` at `(x, y)` by its brightness and marks its mask pixels.
fn paste(canvas: &mut Image, item: &Image, x: usize, y: usize, mask: &mut [bool]) {
    let (size, plane) = (canvas.width, item.width * item.height);
    for iy in 0..item.height {
        for ix in 0..item.width {
            let brightness = (0..item.channels)
                .map(|c| item.data[c * plane + iy * item.width + ix])
                .fold(0.0f32, f32::max);
            let alpha = (brightness / MASK_THRESHOLD / 2.0).min(1.0);
            let at = (y + iy) * size + x + ix;
            for c in 0..canvas.channels {
                let value = item.data[c * plane + iy * item.width + ix];
                let pixel = &mut canvas.data[c * size * size + at];
                *pixel = *pixel * (1.0 - alpha) + value * alpha;
            }
            if brightness > MASK_THRESHOLD {
                mask[at] = true;
            }
        }
    }
}

/// The tight box `[x0, y0, x1, y1)` of `item`'s pixels brighter than [`MASK_THRESHOLD`].
fn tight_box(item: &Image) -> Option<[usize; 4]> {
    let plane = item.width * item.height;
    let mut bounds: Option<[usize; 4]> = None;
    for y in 0..item.height {
        for x in 0..item.width {
            let bright = (0..item.channels)
                .any(|c| item.data[c * plane + y * item.width + x] > MASK_THRESHOLD);
            if bright {
                let b = bounds.get_or_insert([x, y, x + 1, y + 1]);
                *b = [b[0].min(x), b[1].min(y), b[2].max(x + 1), b[3].max(y + 1)];
            }
        }
    }
    bounds
}

/// A mask's COCO box `[x, y, w, h]`, pixel count and column-major RLE runs.
fn describe(mask: &[bool], size: usize) -> ([usize; 4], usize, Vec<u64>) {
    let (mut x0, mut y0, mut x1, mut y1) = (size, size, 0, 0);
    let mut area = 0;
    let mut counts = Vec::new();
    let (mut current, mut run) = (false, 0u64);
    for x in 0..size {
        for y in 0..size {
            let m = mask[y * size + x];
            if m {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                area += 1;
            }
            if m != current {
                counts.push(run);
                (current, run) = (m, 0);
            }
            run += 1;
        }
    }
    counts.push(run);
    ([x0, y0, x1 - x0, y1 - y0], area, counts)
}

/// The background of a `size × size` scene with `channels` channels.
fn background(kind: Background, channels: usize, size: usize, rng: &mut SampleRng) -> Image {
    let mut image = Image::filled(channels, size, size, 0.0);
    match kind {
        Background::Black => {}
        Background::Noise => {
            let plane: Vec<f32> = (0..size * size)
                .map(|_| rng.random_range(0.0..0.5))
                .collect();
            for c in 0..channels {
                image.data[c * size * size..(c + 1) * size * size].copy_from_slice(&plane);
            }
        }
        Background::Texture => {
            let mut plane = vec![0.0f32; size * size];
            for (cells, amplitude) in [
                (4usize, 0.6f32 * 4.0 / 7.0),
                (8, 0.6 * 2.0 / 7.0),
                (16, 0.6 / 7.0),
            ] {
                let grid: Vec<f32> = (0..(cells + 1) * (cells + 1))
                    .map(|_| rng.random_range(0.0..1.0))
                    .collect();
                let grid = Image {
                    channels: 1,
                    height: cells + 1,
                    width: cells + 1,
                    data: grid,
                };
                let smooth = resize(&grid, size, size);
                for (p, v) in plane.iter_mut().zip(&smooth.data) {
                    *p += amplitude * v;
                }
            }
            for c in 0..channels {
                image.data[c * size * size..(c + 1) * size * size].copy_from_slice(&plane);
            }
        }
    }
    image
}

/// Writes a `[0, 1]` gray or RGB image as an 8-bit PNG.
fn write_png(image: &Image, path: &Path) -> Result<(), DataError> {
    let result = match image.channels {
        1 => {
            let pixels: Vec<u8> = image
                .data
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            image::GrayImage::from_raw(image.width as u32, image.height as u32, pixels)
                .map(|gray| gray.save(path))
        }
        _ => Some(crate::prepare::to_rgb8(image).save(path)),
    };
    match result {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(DataError::format(path, e.to_string())),
        None => Err(DataError::format(path, "image buffer of the wrong size")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::{Mask, coco};

    /// A labelled source of `n` 8×8 items: a bright 4×4 square (class `i % 3`) on black.
    struct Squares(usize);

    impl ImageSource for Squares {
        fn len(&self) -> usize {
            self.0
        }
        fn get(&self, index: usize) -> Result<Image, DataError> {
            let mut image = Image::filled(1, 8, 8, 0.0);
            for y in 2..6 {
                for x in 2..6 {
                    image.data[y * 8 + x] = 0.5 + 0.1 * (index % 3) as f32;
                }
            }
            Ok(image)
        }
        fn label(&self, index: usize) -> Option<u32> {
            Some((index % 3) as u32)
        }
        fn classes(&self) -> Option<&[String]> {
            None
        }
        fn channels(&self) -> usize {
            1
        }
        fn origin(&self) -> String {
            "squares".into()
        }
    }

    #[test]
    fn scenes_are_coco_files_whose_masks_and_boxes_match_the_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let options = SceneOptions {
            size: 32,
            train: 6,
            test: 2,
            objects: [2, 3],
            scale: [1.0, 2.0],
            ..SceneOptions::default()
        };
        let report = make_scenes(&Squares(9), &Squares(3), dir.path(), &options).unwrap();
        assert_eq!((report.train, report.test), (6, 2));
        assert!(report.train_objects >= 6, "{report:?}");
        let train = coco::read(&dir.path().join("annotations/instances_train.json"), None).unwrap();
        assert_eq!(train.images.len(), 6);
        assert!(train.images[0].file.ends_with("train/000000.png"));
        // Gray items make gray scenes, read back with one channel.
        assert_eq!(train.channels(), 1);
        assert_eq!(train.get(0).unwrap().channels, 1);
        assert_eq!(train.categories.len(), 3);
        for image in &train.images {
            for object in &image.instances {
                let Some(Mask::Rle { .. }) = &object.mask else {
                    panic!("every object has its mask")
                };
                let mask = object.mask.as_ref().unwrap().decode(32, 32);
                assert_eq!(mask.iter().map(|&m| m as f64).sum::<f64>(), object.area);
                // The box is the mask's tight box.
                let [x0, y0, x1, y1] = object.bbox.0.map(|v| v as usize);
                let inside = |x: usize, y: usize| x >= x0 && x < x1 && y >= y0 && y < y1;
                for y in 0..32 {
                    for x in 0..32 {
                        assert!(mask[y * 32 + x] == 0 || inside(x, y));
                    }
                }
                assert!((x0..x1).any(|x| mask[y0 * 32 + x] == 1));
                assert!((y0..y1).any(|y| mask[y * 32 + x1 - 1] == 1));
            }
        }
        let val = coco::read(&dir.path().join("annotations/instances_val.json"), None).unwrap();
        assert_eq!(val.images.len(), 2);
        // Same seed, same scenes; another seed, others.
        let again = tempfile::tempdir().unwrap();
        make_scenes(&Squares(9), &Squares(3), again.path(), &options).unwrap();
        let read = |d: &Path| std::fs::read(d.join("train/000003.png")).unwrap();
        assert_eq!(read(dir.path()), read(again.path()));
        let other = SceneOptions { seed: 1, ..options };
        make_scenes(&Squares(9), &Squares(3), again.path(), &other).unwrap();
        assert_ne!(read(dir.path()), read(again.path()));
    }

    #[test]
    fn masks_encode_column_major_runs() {
        // 3×3 mask with the middle column set: column-major 000 111 000.
        let mut mask = vec![false; 9];
        for y in 0..3 {
            mask[y * 3 + 1] = true;
        }
        assert_eq!(describe(&mask, 3), ([1, 0, 1, 3], 3, vec![3, 3, 3]));
        let err = make_scenes(
            &Squares(3),
            &Squares(3),
            Path::new("/nonexistent"),
            &SceneOptions {
                objects: [3, 2],
                ..SceneOptions::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("fewest"), "{err}");
    }
}

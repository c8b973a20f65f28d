//! Preparing training folders from large photographs: random square crops at random scales,
//! with whole photos held out for testing.
//!
//! Decoding a multi-megapixel photo costs far more than training on a 64-pixel crop of it, so
//! instead of decoding every photo at every step, `pretext data crops` cuts each photo once
//! into many crops and training reads the small files.

use crate::augment::{random_crop_square, resize_shorter};
use crate::folder::FolderDataset;
use crate::rng::sample_rng;
use crate::source::OpenOptions;
use crate::{DataError, Image, ImageSource, Split};
use rand::Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// How to cut photos into crops.
#[derive(Clone, Debug)]
pub struct CropOptions {
    /// Side of the square crops in pixels.
    pub size: usize,
    /// Crops cut from each photo.
    pub per_image: usize,
    /// Largest zoom-out: a photo is first resized so that its shorter side is `size · z`,
    /// `z` uniform in `[1, max_zoom]`, then cropped — crops range from close-ups to views of
    /// most of the photo.
    pub max_zoom: f32,
    /// Every n-th photo (n = round(1 / test_fraction)) goes to `test/`; 0 = none.
    pub test_fraction: f64,
    /// Seed of the crop positions and zooms.
    pub seed: u64,
    /// Skip unreadable photos (counted) instead of failing.
    pub skip_corrupt: bool,
}

/// What [`random_crops`] wrote.
#[derive(Clone, Debug, Default)]
pub struct CropReport {
    /// Photos read.
    pub photos: usize,
    /// Crops written to `train/`.
    pub train: usize,
    /// Crops written to `test/`.
    pub test: usize,
}

/// Converts a `[0, 1]` image to 8-bit RGB (gray replicated).
pub fn to_rgb8(image: &Image) -> image::RgbImage {
    let rgb = image.clone().to_channels(3);
    let plane = rgb.height * rgb.width;
    image::RgbImage::from_fn(rgb.width as u32, rgb.height as u32, |x, y| {
        let i = y as usize * rgb.width + x as usize;
        let q = |c: usize| (rgb.data[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        image::Rgb([q(0), q(1), q(2)])
    })
}

/// Cuts every photo of the folder `source` into `per_image` random crops, written as PNG files
/// to `dest/train/` (and `dest/test/` for held-out photos), ready for `folder:DEST`.
pub fn random_crops(
    source: &Path,
    dest: &Path,
    options: &CropOptions,
) -> Result<CropReport, DataError> {
    if options.size == 0 || options.per_image == 0 || options.max_zoom < 1.0 {
        return Err(DataError::Spec(
            "crops need a positive size and count, and a zoom of at least 1".into(),
        ));
    }
    let photos = FolderDataset::open(
        source,
        Split::Train,
        &OpenOptions {
            skip_corrupt: options.skip_corrupt,
            ..OpenOptions::default()
        },
    )?;
    let every = if options.test_fraction > 0.0 {
        (1.0 / options.test_fraction).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    for split in ["train", "test"] {
        let dir = dest.join(split);
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    }
    let written: Vec<(bool, usize)> = (0..photos.len())
        .into_par_iter()
        .map(|i| {
            let test = every != usize::MAX && i % every == every - 1;
            let photo = photos.get(i)?.to_channels(3);
            let dir: PathBuf = dest.join(if test { "test" } else { "train" });
            for k in 0..options.per_image {
                let mut rng = sample_rng(options.seed, i as u64, k as u64);
                let zoom = rng.random_range(1.0..=options.max_zoom);
                let side = ((options.size as f32) * zoom).round() as usize;
                let shorter = photo.height.min(photo.width);
                let scaled = if shorter > side {
                    resize_shorter(&photo, side)
                } else {
                    photo.clone()
                };
                let crop = random_crop_square(&scaled, options.size, &mut rng);
                let path = dir.join(format!("photo{i:05}-crop{k:03}.png"));
                to_rgb8(&crop)
                    .save(&path)
                    .map_err(|e| DataError::format(&path, e.to_string()))?;
            }
            Ok((test, options.per_image))
        })
        .collect::<Result<_, DataError>>()?;
    let mut report = CropReport {
        photos: photos.len(),
        ..CropReport::default()
    };
    for (test, n) in written {
        if test {
            report.test += n;
        } else {
            report.train += n;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_fill_train_and_test_folders() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("photos");
        std::fs::create_dir_all(&src).unwrap();
        for i in 0..4u8 {
            let img =
                image::RgbImage::from_fn(120, 80, |x, y| image::Rgb([x as u8, y as u8, 40 * i]));
            img.save(src.join(format!("p{i}.png"))).unwrap();
        }
        let dest = dir.path().join("crops");
        let options = CropOptions {
            size: 32,
            per_image: 3,
            max_zoom: 2.0,
            test_fraction: 0.25,
            seed: 0,
            skip_corrupt: false,
        };
        let report = random_crops(&src, &dest, &options).unwrap();
        assert_eq!((report.photos, report.train, report.test), (4, 9, 3));
        let train = FolderDataset::open(&dest, Split::Train, &OpenOptions::default()).unwrap();
        let test = FolderDataset::open(&dest, Split::Test, &OpenOptions::default()).unwrap();
        assert_eq!((train.len(), test.len()), (9, 3));
        let crop = train.get(0).unwrap();
        assert_eq!((crop.channels, crop.height, crop.width), (3, 32, 32));
        // Same seed, same crops.
        let again = dir.path().join("again");
        random_crops(&src, &again, &options).unwrap();
        let a = std::fs::read(dest.join("train/photo00000-crop000.png")).unwrap();
        let b = std::fs::read(again.join("train/photo00000-crop000.png")).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rgb8_conversion_rounds_and_replicates_gray() {
        let gray = Image::filled(1, 2, 2, 0.5);
        let rgb = to_rgb8(&gray);
        assert_eq!(rgb.get_pixel(1, 1).0, [128, 128, 128]);
    }
}

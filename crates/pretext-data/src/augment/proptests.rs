//! Property tests of the augmentations' invariants.

use super::*;
use crate::Image;
use crate::rng::sample_rng;
use proptest::prelude::*;

/// Images of 1 or 3 channels, 1–12 pixels a side, values in `[0, 1]`.
fn image() -> impl Strategy<Value = Image> {
    (
        prop_oneof![Just(1usize), Just(3usize)],
        1usize..12,
        1usize..12,
    )
        .prop_flat_map(|(c, h, w)| {
            proptest::collection::vec(0.0f32..=1.0, c * h * w).prop_map(move |data| Image {
                channels: c,
                height: h,
                width: w,
                data,
            })
        })
}

fn in_unit(image: &Image) -> bool {
    image.data.iter().all(|v| (0.0..=1.0).contains(v))
}

/// In `[0, 1]` up to float rounding (for interpolating ops, whose weights sum to 1 ± ulp).
fn nearly_in_unit(image: &Image) -> bool {
    image.data.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v))
}

/// A pipeline with every random op enabled.
fn everything(size: usize) -> ViewConfig {
    ViewConfig {
        jitter_prob: 1.0,
        gray_prob: 0.5,
        blur_prob: 0.5,
        solarize_prob: 0.5,
        ..ViewConfig::byol_view1(size)
    }
}

proptest! {
    #[test]
    fn colour_ops_stay_in_unit_range(img in image(), seed in any::<u64>(),
                                     b in 0.0f32..2.0, c in 0.0f32..2.0, s in 0.0f32..2.0, h in 0.0f32..0.5) {
        let mut rng = sample_rng(seed, 0, 0);
        prop_assert!(in_unit(&color_jitter(img.clone(), b, c, s, h, &mut rng)));
        prop_assert!(in_unit(&adjust_brightness(img.clone(), b * 3.0)));
        prop_assert!(in_unit(&adjust_contrast(img.clone(), c * 3.0)));
        prop_assert!(in_unit(&adjust_saturation(img.clone(), s * 3.0)));
        prop_assert!(in_unit(&adjust_hue(img.clone(), h - 0.25)));
        prop_assert!(in_unit(&grayscale(img.clone())));
        prop_assert!(in_unit(&solarize(img.clone(), 0.5)));
        prop_assert!(nearly_in_unit(&gaussian_blur(&img, 5, 1.0 + b)));
    }

    #[test]
    fn pipeline_output_in_range_with_requested_shape(img in image(), seed in any::<u64>(), size in 1usize..20) {
        let out = everything(size).apply(&img, &mut sample_rng(seed, 1, 2));
        prop_assert_eq!((out.channels, out.height, out.width), (img.channels, size, size));
        prop_assert!(in_unit(&out));
    }

    #[test]
    fn crops_have_requested_size(img in image(), seed in any::<u64>(), w in 1usize..16, h in 1usize..16,
                                 x in -4isize..16, y in -4isize..16) {
        let mut rng = sample_rng(seed, 0, 0);
        let r = random_resized_crop(&img, w, h, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut rng);
        prop_assert_eq!((r.channels, r.height, r.width), (img.channels, h, w));
        prop_assert!(nearly_in_unit(&r));
        let c = crop(&img, x, y, w, h);
        prop_assert_eq!((c.height, c.width, c.data.len()), (h, w, img.channels * w * h));
        let cc = center_crop(&img, w, h);
        prop_assert_eq!((cc.height, cc.width), (h, w));
        let rs = resize(&img, w, h);
        prop_assert_eq!((rs.height, rs.width), (h, w));
        prop_assert!(nearly_in_unit(&rs));
    }

    #[test]
    fn rot90_four_times_and_flip_twice_are_identity(img in image(), k in -3i32..4) {
        let mut r = img.clone();
        for _ in 0..4 {
            r = rot90(&r, k);
        }
        prop_assert_eq!(&r, &img);
        prop_assert_eq!(&rot90(&rot90(&img, k), -k), &img);
        prop_assert_eq!(&hflip(hflip(img.clone())), &img);
    }

    #[test]
    fn same_seed_same_view(img in image(), seed in any::<u64>(), index in any::<u64>()) {
        let v = everything(8);
        let a = v.apply(&img, &mut sample_rng(seed, 3, index));
        let b = v.apply(&img, &mut sample_rng(seed, 3, index));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn zero_strength_jitter_is_identity(img in image(), seed in any::<u64>()) {
        let mut rng = sample_rng(seed, 0, 0);
        prop_assert_eq!(&color_jitter(img.clone(), 0.0, 0.0, 0.0, 0.0, &mut rng), &img);
        prop_assert_eq!(&adjust_brightness(img.clone(), 1.0), &img);
        prop_assert_eq!(&adjust_contrast(img.clone(), 1.0), &img);
        prop_assert_eq!(&adjust_saturation(img.clone(), 1.0), &img);
    }

    #[test]
    fn blur_stays_within_the_input_range(img in image(), k in 0usize..9, sigma in 0.1f32..3.0) {
        // Every output is a convex combination of input values of the same channel.
        let b = gaussian_blur(&img, k, sigma);
        prop_assert_eq!((b.channels, b.height, b.width), (img.channels, img.height, img.width));
        for c in 0..img.channels {
            let lo = img.plane(c).iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = img.plane(c).iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            for v in b.plane(c) {
                prop_assert!(*v >= lo - 1e-5 && *v <= hi + 1e-5);
            }
        }
    }
}

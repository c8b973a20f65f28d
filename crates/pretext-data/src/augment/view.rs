//! [`ViewConfig`]: a serialisable description of one augmented "view" of an image.

use super::{
    center_crop, coin, color_jitter, gaussian_blur, random_grayscale, random_hflip,
    random_resized_crop, resize_shorter, solarize, uniform,
};
use crate::{DataError, Image};
use rand::Rng;

/// The full augmentation pipeline producing one view of an image, in the order of the
/// SimCLR/BYOL torchvision pipelines:
///
/// 1. crop: `RandomResizedCrop(size, crop_scale, crop_ratio)` when `random_crop`, else
///    `Resize(resize or size)` (shorter side) then `CenterCrop(size)`;
/// 2. `RandomHorizontalFlip(flip_prob)`;
/// 3. `RandomApply([ColorJitter(brightness, contrast, saturation, hue)], p=jitter_prob)`;
/// 4. `RandomGrayscale(gray_prob)`;
/// 5. `RandomApply([GaussianBlur(blur_kernel, blur_sigma)], p=blur_prob)`;
/// 6. `RandomSolarize(solarize_threshold, p=solarize_prob)`;
/// 7. clamp to `[0, 1]` (removes rounding excursions of interpolation and blur).
///
/// Views stay in `[0, 1]`: normalisation belongs to the encoder's input contract and is
/// applied once, after the method has built its inputs.
///
/// Random draws happen in exactly this order (see each op's documentation; every probability
/// costs one draw even when it is 0 or 1), so a view is reproducible from the generator.
/// Every field has a default ([`ViewConfig::default`] = [`ViewConfig::simple`]`(32)`), and
/// unknown fields are rejected when deserialising, so a typo in a config file is an error.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewConfig {
    /// Output side in pixels (views are square).
    pub size: usize,
    /// Random resized crop (training) when true; resize + centre crop (evaluation) when false.
    pub random_crop: bool,
    /// Random crop: range of the crop's area as a fraction of the image's.
    pub crop_scale: (f32, f32),
    /// Random crop: range of the crop's aspect ratio (width / height), sampled log-uniformly.
    pub crop_ratio: (f32, f32),
    /// Centre crop: the shorter side is first resized to this (`None` = `size`).
    pub resize: Option<usize>,
    /// Probability of a horizontal flip.
    pub flip_prob: f32,
    /// Probability of applying the colour jitter.
    pub jitter_prob: f32,
    /// Colour jitter brightness strength (factor in `[max(0, 1 − b), 1 + b]`).
    pub brightness: f32,
    /// Colour jitter contrast strength.
    pub contrast: f32,
    /// Colour jitter saturation strength.
    pub saturation: f32,
    /// Colour jitter hue strength (shift in `[−h, h]` turns, at most 0.5).
    pub hue: f32,
    /// Probability of converting to grayscale (channel count kept).
    pub gray_prob: f32,
    /// Probability of a Gaussian blur.
    pub blur_prob: f32,
    /// Range of the blur's sigma, in pixels.
    pub blur_sigma: (f32, f32),
    /// Blur kernel size (odd); `None` = about a tenth of `size`, odd, at least 3 (23 at 224).
    pub blur_kernel: Option<usize>,
    /// Probability of solarisation.
    pub solarize_prob: f32,
    /// Solarisation threshold (`v ≥ t → 1 − v`).
    pub solarize_threshold: f32,
}

impl Default for ViewConfig {
    fn default() -> Self {
        ViewConfig::simple(32)
    }
}

impl ViewConfig {
    /// A pipeline with no random op: resize (shorter side) to `size`, centre crop `size ×
    /// size`. The base of the presets.
    fn base(size: usize) -> Self {
        ViewConfig {
            size,
            random_crop: false,
            crop_scale: (0.08, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            resize: None,
            flip_prob: 0.0,
            jitter_prob: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.0,
            gray_prob: 0.0,
            blur_prob: 0.0,
            blur_sigma: (0.1, 2.0),
            blur_kernel: None,
            solarize_prob: 0.0,
            solarize_threshold: 0.5,
        }
    }

    /// BYOL's first view (Grill et al. 2020, table 6, T): random resized crop scale
    /// 0.08–1, ratio 3/4–4/3; flip 0.5; colour jitter with probability 0.8 and strengths
    /// brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1; grayscale 0.2; Gaussian blur
    /// always (sigma 0.1–2, kernel ≈ size/10); no solarisation.
    pub fn byol_view1(size: usize) -> Self {
        ViewConfig {
            random_crop: true,
            flip_prob: 0.5,
            jitter_prob: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.2,
            hue: 0.1,
            gray_prob: 0.2,
            blur_prob: 1.0,
            ..ViewConfig::base(size)
        }
    }

    /// BYOL's second view (T′): as [`ViewConfig::byol_view1`] but blur with probability 0.1
    /// and solarisation with probability 0.2.
    pub fn byol_view2(size: usize) -> Self {
        ViewConfig {
            blur_prob: 0.1,
            solarize_prob: 0.2,
            ..ViewConfig::byol_view1(size)
        }
    }

    /// A mild pipeline for small or gray images (e.g. 28 × 28 MNIST): random resized crop with
    /// scale 0.2–1 and a horizontal flip with probability 0.5, no colour op.
    pub fn simple(size: usize) -> Self {
        ViewConfig {
            random_crop: true,
            crop_scale: (0.2, 1.0),
            flip_prob: 0.5,
            ..ViewConfig::base(size)
        }
    }

    /// The deterministic evaluation pipeline: resize the shorter side to `size`, centre crop
    /// `size × size`.
    pub fn eval(size: usize) -> Self {
        ViewConfig::base(size)
    }

    /// The blur kernel size used: `blur_kernel`, or about a tenth of `size` made odd (at
    /// least 3), e.g. 23 at 224 px as in BYOL, 3 at 32 px.
    pub fn kernel_size(&self) -> usize {
        self.blur_kernel.unwrap_or((self.size / 10).max(3)) | 1
    }

    /// Checks the configuration for images with `channels` channels: positive size, ordered
    /// positive ranges, probabilities in `[0, 1]`, non-negative strengths, hue at most 0.5.
    pub fn validate(&self) -> Result<(), DataError> {
        let err = |m: String| Err(DataError::Spec(format!("augmentation: {m}")));
        let range_ok =
            |(lo, hi): (f32, f32)| lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi;
        if self.size == 0 || self.resize == Some(0) {
            return err("size must be positive".into());
        }
        for (name, r) in [
            ("crop_scale", self.crop_scale),
            ("crop_ratio", self.crop_ratio),
            ("blur_sigma", self.blur_sigma),
        ] {
            if !range_ok(r) {
                return err(format!("{name} must be a range 0 < min <= max, got {r:?}"));
            }
        }
        for (name, p) in [
            ("flip_prob", self.flip_prob),
            ("jitter_prob", self.jitter_prob),
            ("gray_prob", self.gray_prob),
            ("blur_prob", self.blur_prob),
            ("solarize_prob", self.solarize_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return err(format!("{name} must be a probability in [0, 1], got {p}"));
            }
        }
        for (name, s) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
            ("hue", self.hue),
        ] {
            if !(s >= 0.0 && s.is_finite()) {
                return err(format!("{name} must be a non-negative strength, got {s}"));
            }
        }
        if self.hue > 0.5 {
            return err(format!("hue must be at most 0.5, got {}", self.hue));
        }
        Ok(())
    }

    /// Produces one view of `image` (see the type's documentation for the pipeline and the
    /// order of random draws). The output has `image`'s channel count and is `size × size`.
    pub fn apply<R: Rng + ?Sized>(&self, image: &Image, rng: &mut R) -> Image {
        let size = self.size;
        let mut view = if self.random_crop {
            random_resized_crop(image, size, size, self.crop_scale, self.crop_ratio, rng)
        } else {
            let resized = resize_shorter(image, self.resize.unwrap_or(size));
            if resized.width == size && resized.height == size {
                resized
            } else {
                center_crop(&resized, size, size)
            }
        };
        view = random_hflip(view, self.flip_prob, rng);
        if coin(rng, self.jitter_prob) {
            view = color_jitter(
                view,
                self.brightness,
                self.contrast,
                self.saturation,
                self.hue,
                rng,
            );
        }
        view = random_grayscale(view, self.gray_prob, rng);
        if coin(rng, self.blur_prob) {
            let sigma = uniform(rng, self.blur_sigma.0, self.blur_sigma.1);
            view = gaussian_blur(&view, self.kernel_size(), sigma);
        }
        if coin(rng, self.solarize_prob) {
            view = solarize(view, self.solarize_threshold);
        }
        // Interpolation and blur weights sum to 1 only up to rounding: clamp the last ulp away
        // so that the pre-normalisation view is exactly within [0, 1].
        for v in &mut view.data {
            *v = v.clamp(0.0, 1.0);
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::sample_rng;

    fn ramp(channels: usize, height: usize, width: usize) -> Image {
        let n = channels * height * width;
        Image {
            channels,
            height,
            width,
            data: (0..n).map(|i| i as f32 / n as f32).collect(),
        }
    }

    #[test]
    fn presets_match_the_papers() {
        let v1 = ViewConfig::byol_view1(224);
        let v2 = ViewConfig::byol_view2(224);
        assert_eq!((v1.flip_prob, v2.flip_prob), (0.5, 0.5));
        assert_eq!((v1.jitter_prob, v2.jitter_prob), (0.8, 0.8));
        assert_eq!(
            (v1.brightness, v1.contrast, v1.saturation, v1.hue),
            (0.4, 0.4, 0.2, 0.1)
        );
        assert_eq!((v1.gray_prob, v2.gray_prob), (0.2, 0.2));
        assert_eq!((v1.blur_prob, v2.blur_prob), (1.0, 0.1));
        assert_eq!((v1.solarize_prob, v2.solarize_prob), (0.0, 0.2));
        assert_eq!(v1.crop_scale, (0.08, 1.0));
        assert_eq!(v1.kernel_size(), 23);
        assert_eq!(ViewConfig::byol_view1(32).kernel_size(), 3);
        assert_eq!(ViewConfig::simple(28).crop_scale, (0.2, 1.0));
        for c in [v1, v2, ViewConfig::simple(28), ViewConfig::eval(28)] {
            c.validate().unwrap();
        }
    }

    #[test]
    fn validate_rejects_bad_values() {
        let bad = [
            ViewConfig {
                size: 0,
                ..ViewConfig::default()
            },
            ViewConfig {
                crop_scale: (0.5, 0.2),
                ..ViewConfig::default()
            },
            ViewConfig {
                flip_prob: 1.5,
                ..ViewConfig::default()
            },
            ViewConfig {
                hue: 0.7,
                ..ViewConfig::default()
            },
            ViewConfig {
                brightness: -0.1,
                ..ViewConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert!(ViewConfig::default().validate().is_ok());
    }

    #[test]
    fn eval_resizes_and_centre_crops() {
        let a = ramp(3, 40, 60);
        let v = ViewConfig::eval(20);
        let out = v.apply(&a, &mut sample_rng(0, 0, 0));
        let want = center_crop(&resize_shorter(&a, 20), 20, 20);
        assert_eq!(out, want);
        assert_eq!((out.width, out.height, out.channels), (20, 20, 3));
        // Same size: identity.
        let b = ramp(1, 8, 8);
        let out = ViewConfig::eval(8).apply(&b, &mut sample_rng(0, 0, 0));
        assert_eq!(out.data, b.data);
    }

    #[test]
    fn views_are_reproducible_and_differ_between_samples() {
        let a = ramp(3, 48, 40);
        let v = ViewConfig::byol_view2(32);
        let x = v.apply(&a, &mut sample_rng(1, 2, 3));
        let y = v.apply(&a, &mut sample_rng(1, 2, 3));
        let z = v.apply(&a, &mut sample_rng(1, 2, 4));
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_eq!((x.channels, x.height, x.width), (3, 32, 32));
    }

    #[test]
    fn serde_defaults_and_unknown_fields() {
        // Partial configs take defaults for the rest.
        let v: ViewConfig =
            serde::Deserialize::deserialize(serde::de::value::MapDeserializer::<
                _,
                serde::de::value::Error,
            >::new([("size", 64usize)].into_iter()))
            .unwrap();
        assert_eq!(
            v,
            ViewConfig {
                size: 64,
                ..ViewConfig::default()
            }
        );
        let bad: Result<ViewConfig, _> =
            serde::Deserialize::deserialize(serde::de::value::MapDeserializer::<
                _,
                serde::de::value::Error,
            >::new([("sise", 64usize)].into_iter()));
        assert!(bad.unwrap_err().to_string().contains("sise"));
    }
}

//! [`ViewConfig`]: a serialisable description of one augmented "view" of an image.

use super::geometry::resize_region;
use super::{
    center_crop, coin, color_jitter, gaussian_blur, grayscale, hflip, random_resized_crop_params,
    resize_shorter, solarize, uniform,
};
use crate::{DataError, Image};
use rand::Rng;

/// What [`ViewConfig::apply_traced`] did to produce one view: which random ops fired and which
/// region of the source image the crop took. Lets tests and diagnostics check the pipeline's
/// probabilities and crop distribution, which the output image alone does not reveal.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViewTrace {
    /// The horizontal flip was applied.
    pub flipped: bool,
    /// The colour jitter was applied.
    pub jittered: bool,
    /// The view was converted to grayscale.
    pub grayscale: bool,
    /// The Gaussian blur was applied.
    pub blurred: bool,
    /// The view was solarised.
    pub solarized: bool,
    /// Area of the source region the view was cut from, as a fraction of the source image's area
    /// (before resizing to `size × size`). For the random crop this is the sampled box (or
    /// torchvision's centre-crop fallback when no sample fitted); for the resize + centre crop
    /// path, the part of the source that stays visible. 0 for an empty image.
    pub crop_area: f32,
    /// Aspect ratio (width / height, in source pixels) of that region. 0 for an empty image.
    pub crop_ratio: f32,
}

/// The `(crop_area, crop_ratio)` of a `w × h` region of a `width × height` source, in source
/// pixels; `(0, 0)` when either is empty.
fn region_stats(w: f64, h: f64, width: usize, height: usize) -> (f32, f32) {
    let (width, height) = (width as f64, height as f64);
    if w > 0.0 && h > 0.0 && width > 0.0 && height > 0.0 {
        ((w * h / (width * height)) as f32, (w / h) as f32)
    } else {
        (0.0, 0.0)
    }
}

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

    /// SimCLR's view (Chen et al. 2020, appendix A), both views alike: random resized crop
    /// 0.08–1; flip 0.5; colour jitter with probability 0.8 at strength s = 1 (brightness,
    /// contrast, saturation 0.8, hue 0.2); grayscale 0.2; Gaussian blur 0.5 (sigma 0.1–2).
    pub fn simclr(size: usize) -> Self {
        ViewConfig {
            random_crop: true,
            flip_prob: 0.5,
            jitter_prob: 0.8,
            brightness: 0.8,
            contrast: 0.8,
            saturation: 0.8,
            hue: 0.2,
            gray_prob: 0.2,
            blur_prob: 0.5,
            ..ViewConfig::base(size)
        }
    }

    /// MoCo v2's view (Chen et al. 2020, "Improved Baselines…", used by SimSiam too), both views
    /// alike: random resized crop 0.2–1; colour jitter with probability 0.8 (brightness,
    /// contrast, saturation 0.4, hue 0.1); grayscale 0.2; Gaussian blur 0.5 (sigma 0.1–2);
    /// flip 0.5.
    pub fn moco_v2(size: usize) -> Self {
        ViewConfig {
            crop_scale: (0.2, 1.0),
            saturation: 0.4,
            blur_prob: 0.5,
            ..ViewConfig::byol_view1(size)
        }
    }

    /// DINO's first global crop (Caron et al. 2021, `DataAugmentationDINO`): BYOL's first view
    /// with the crop scale 0.4–1.
    pub fn dino_global1(size: usize) -> Self {
        ViewConfig {
            crop_scale: (0.4, 1.0),
            ..ViewConfig::byol_view1(size)
        }
    }

    /// DINO's second global crop: BYOL's second view (blur 0.1, solarisation 0.2) with the
    /// crop scale 0.4–1.
    pub fn dino_global2(size: usize) -> Self {
        ViewConfig {
            crop_scale: (0.4, 1.0),
            ..ViewConfig::byol_view2(size)
        }
    }

    /// DINO's local crops: crop scale 0.05–0.4, BYOL's colour ops, blur 0.5, no solarisation
    /// (the paper's 96 px at 224 px).
    pub fn dino_local(size: usize) -> Self {
        ViewConfig {
            crop_scale: (0.05, 0.4),
            blur_prob: 0.5,
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
    /// Equivalent to [`ViewConfig::apply_traced`] without the trace.
    pub fn apply<R: Rng + ?Sized>(&self, image: &Image, rng: &mut R) -> Image {
        self.apply_traced(image, rng).0
    }

    /// As [`ViewConfig::apply`] (same random draws, same view), and also reports which random
    /// ops fired and which source region the crop took (see [`ViewTrace`]).
    pub fn apply_traced<R: Rng + ?Sized>(&self, image: &Image, rng: &mut R) -> (Image, ViewTrace) {
        let size = self.size;
        let mut trace = ViewTrace::default();
        let mut view = if self.random_crop {
            // `random_resized_crop`, with the sampled region kept for the trace.
            let region = random_resized_crop_params(
                image.width,
                image.height,
                self.crop_scale,
                self.crop_ratio,
                rng,
            );
            (trace.crop_area, trace.crop_ratio) = region_stats(
                region.width as f64,
                region.height as f64,
                image.width,
                image.height,
            );
            resize_region(image, region, size, size)
        } else {
            let resized = resize_shorter(image, self.resize.unwrap_or(size));
            // The visible part of the resized image, mapped back to source pixels.
            if resized.width > 0 && resized.height > 0 {
                let w = size.min(resized.width) as f64 * image.width as f64 / resized.width as f64;
                let h =
                    size.min(resized.height) as f64 * image.height as f64 / resized.height as f64;
                (trace.crop_area, trace.crop_ratio) = region_stats(w, h, image.width, image.height);
            }
            if resized.width == size && resized.height == size {
                resized
            } else {
                center_crop(&resized, size, size)
            }
        };
        // `random_hflip`: one coin, then the flip.
        trace.flipped = coin(rng, self.flip_prob);
        if trace.flipped {
            view = hflip(view);
        }
        trace.jittered = coin(rng, self.jitter_prob);
        if trace.jittered {
            view = color_jitter(
                view,
                self.brightness,
                self.contrast,
                self.saturation,
                self.hue,
                rng,
            );
        }
        // `random_grayscale`: one coin, then the conversion.
        trace.grayscale = coin(rng, self.gray_prob);
        if trace.grayscale {
            view = grayscale(view);
        }
        trace.blurred = coin(rng, self.blur_prob);
        if trace.blurred {
            let sigma = uniform(rng, self.blur_sigma.0, self.blur_sigma.1);
            view = gaussian_blur(&view, self.kernel_size(), sigma);
        }
        trace.solarized = coin(rng, self.solarize_prob);
        if trace.solarized {
            view = solarize(view, self.solarize_threshold);
        }
        // Interpolation and blur weights sum to 1 only up to rounding: clamp the last ulp away
        // so that the pre-normalisation view is exactly within [0, 1].
        for v in &mut view.data {
            *v = v.clamp(0.0, 1.0);
        }
        (view, trace)
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

    /// A random-ish 3-channel 64 × 48 image (width 64, height 48).
    fn noise_image() -> Image {
        let mut rng = sample_rng(12345, 0, 0);
        let (channels, height, width) = (3, 48, 64);
        Image {
            channels,
            height,
            width,
            data: (0..channels * height * width)
                .map(|_| rng.random::<f32>())
                .collect(),
        }
    }

    fn presets(size: usize) -> [(&'static str, ViewConfig); 7] {
        [
            ("byol_view1", ViewConfig::byol_view1(size)),
            ("byol_view2", ViewConfig::byol_view2(size)),
            ("simclr", ViewConfig::simclr(size)),
            ("moco_v2", ViewConfig::moco_v2(size)),
            ("dino_global1", ViewConfig::dino_global1(size)),
            ("dino_global2", ViewConfig::dino_global2(size)),
            ("dino_local", ViewConfig::dino_local(size)),
        ]
    }

    /// The view built by composing the public random ops as the type's documentation describes;
    /// an independent oracle for the draw order of `apply_traced`.
    fn composed_view<R: Rng + ?Sized>(v: &ViewConfig, image: &Image, rng: &mut R) -> Image {
        use crate::augment::{
            random_gaussian_blur, random_grayscale, random_hflip, random_resized_crop,
            random_solarize,
        };
        assert!(v.random_crop);
        let mut x = random_resized_crop(image, v.size, v.size, v.crop_scale, v.crop_ratio, rng);
        x = random_hflip(x, v.flip_prob, rng);
        if coin(rng, v.jitter_prob) {
            x = color_jitter(x, v.brightness, v.contrast, v.saturation, v.hue, rng);
        }
        x = random_grayscale(x, v.gray_prob, rng);
        if coin(rng, v.blur_prob) {
            x = random_gaussian_blur(&x, v.kernel_size(), v.blur_sigma, rng);
        }
        x = random_solarize(x, v.solarize_threshold, v.solarize_prob, rng);
        for p in &mut x.data {
            *p = p.clamp(0.0, 1.0);
        }
        x
    }

    #[test]
    fn apply_and_apply_traced_agree_with_the_composed_ops() {
        let image = noise_image();
        for (name, v) in presets(32) {
            for i in 0..64 {
                let a = v.apply(&image, &mut sample_rng(3, 1, i));
                let (b, _) = v.apply_traced(&image, &mut sample_rng(3, 1, i));
                let c = composed_view(&v, &image, &mut sample_rng(3, 1, i));
                assert_eq!(a, b, "{name} sample {i}");
                assert_eq!(a, c, "{name} sample {i}");
            }
        }
        // The deterministic path reports the visible source region: 64 × 48 resized to 42 × 32,
        // centre 32 × 32 → about 48.76 × 48 source pixels.
        let (a, t) = ViewConfig::eval(32).apply_traced(&image, &mut sample_rng(0, 0, 0));
        assert_eq!(
            a,
            ViewConfig::eval(32).apply(&image, &mut sample_rng(0, 0, 0))
        );
        assert!(!(t.flipped || t.jittered || t.grayscale || t.blurred || t.solarized));
        let w = 32.0 * 64.0 / 42.0;
        assert!(
            (t.crop_area - w * 48.0 / (64.0 * 48.0)).abs() < 1e-5,
            "{t:?}"
        );
        assert!((t.crop_ratio - w / 48.0).abs() < 1e-5, "{t:?}");
    }

    /// Over many samples, each random op fires with its configured probability (within 4.5
    /// binomial standard deviations; exactly never / always for p = 0 / 1), every crop's area
    /// fraction and log aspect ratio lie in the configured ranges up to the integer rounding of
    /// the crop's sides, and torchvision's centre-crop fallback (after 10 rejected samples) is
    /// rare.
    #[test]
    fn recipe_probabilities_over_many_samples() {
        const N: usize = 4000;
        let image = noise_image();
        let (width, height) = (image.width as f64, image.height as f64);
        let source_area = width * height;
        for (name, v) in presets(32) {
            v.validate().unwrap();
            // The fallback box: a scale that never fits forces it. For this 64 × 48 image it is
            // the whole image (ratio 4/3 is in range), so for scales reaching 1 a fallback looks
            // like an in-range sample; it is counted as a fallback only when it lies outside.
            let fallback = random_resized_crop_params(
                image.width,
                image.height,
                (2.0, 3.0),
                v.crop_ratio,
                &mut sample_rng(0, 0, 0),
            );
            let fallback = region_stats(
                fallback.width as f64,
                fallback.height as f64,
                image.width,
                image.height,
            );
            let mut fired = [0usize; 5];
            let (mut fallbacks, mut min_area, mut max_area) = (0usize, f32::INFINITY, 0f32);
            for i in 0..N {
                let (view, t) = v.apply_traced(&image, &mut sample_rng(11, 0, i as u64));
                assert_eq!((view.channels, view.height, view.width), (3, 32, 32));
                for (k, f) in [t.flipped, t.jittered, t.grayscale, t.blurred, t.solarized]
                    .into_iter()
                    .enumerate()
                {
                    fired[k] += usize::from(f);
                }
                // The trace agrees with the output: grayscale (and the per-channel ops after it)
                // keeps the channels equal; solarisation at 0.5 leaves nothing above 0.5.
                if t.grayscale {
                    let n = 32 * 32;
                    assert_eq!(view.data[..n], view.data[n..2 * n], "{name} {i}");
                    assert_eq!(view.data[..n], view.data[2 * n..], "{name} {i}");
                }
                if t.solarized {
                    assert!(view.data.iter().all(|&p| p <= 0.5), "{name} {i}");
                }
                // Recover the integer box from the trace.
                let a = f64::from(t.crop_area) * source_area;
                let r = f64::from(t.crop_ratio);
                let (w, h) = ((a * r).sqrt(), (a / r).sqrt());
                let (wi, hi) = (w.round(), h.round());
                assert!(
                    (w - wi).abs() < 1e-3 && (h - hi).abs() < 1e-3,
                    "{name} {i}: {t:?}"
                );
                assert!(wi >= 1.0 && wi <= width && hi >= 1.0 && hi <= height);
                // The sampled target area and ratio are within half a pixel of each side.
                let area_lo = (wi - 0.5) * (hi - 0.5) / source_area;
                let area_hi = (wi + 0.5) * (hi + 0.5) / source_area;
                let log_lo = ((wi - 0.5) / (hi + 0.5)).ln();
                let log_hi = ((wi + 0.5) / (hi - 0.5)).ln();
                let eps = 1e-6;
                let in_scale = area_hi >= f64::from(v.crop_scale.0) - eps
                    && area_lo <= f64::from(v.crop_scale.1) + eps;
                let in_ratio = log_hi >= f64::from(v.crop_ratio.0).ln() - eps
                    && log_lo <= f64::from(v.crop_ratio.1).ln() + eps;
                if !(in_scale && in_ratio) {
                    assert_eq!(
                        (t.crop_area, t.crop_ratio),
                        fallback,
                        "{name} {i}: crop outside scale {:?} / ratio {:?} and not the fallback",
                        v.crop_scale,
                        v.crop_ratio
                    );
                    fallbacks += 1;
                } else {
                    min_area = min_area.min(t.crop_area);
                    max_area = max_area.max(t.crop_area);
                }
            }
            let probs = [
                ("flip", v.flip_prob),
                ("jitter", v.jitter_prob),
                ("grayscale", v.gray_prob),
                ("blur", v.blur_prob),
                ("solarize", v.solarize_prob),
            ];
            for ((op, p), &k) in probs.into_iter().zip(&fired) {
                if p <= 0.0 {
                    assert_eq!(k, 0, "{name}: {op} with p = 0 fired");
                } else if p >= 1.0 {
                    assert_eq!(k, N, "{name}: {op} with p = 1 did not always fire");
                } else {
                    let (n, p) = (N as f64, f64::from(p));
                    let sd = (n * p * (1.0 - p)).sqrt();
                    let dev = (k as f64 - n * p).abs();
                    assert!(
                        dev <= 4.5 * sd,
                        "{name}: {op} fired {k}/{N} times, expected {:.0} ± {:.1}",
                        n * p,
                        sd
                    );
                }
            }
            // Each rejection-sampling attempt fits with probability well above 1/2 here, so all
            // ten failing is far rarer than 1 in 1000.
            assert!(fallbacks <= N / 1000, "{name}: {fallbacks} fallback crops");
            // The crops cover the scale range, not a corner of it.
            let (lo, hi) = v.crop_scale;
            assert!(
                min_area < lo + 0.05 * (hi - lo),
                "{name}: min area {min_area}"
            );
            assert!(
                max_area > lo + 0.75 * (hi - lo),
                "{name}: max area {max_area}"
            );
        }
    }
}

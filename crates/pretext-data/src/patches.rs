//! Geometry and shortcut defences of the patch-based pretext tasks.
//!
//! * Context prediction (Doersch, Gupta & Efros 2015, "Unsupervised Visual Representation
//!   Learning by Context Prediction", ICCV, §3–3.1): [`PatchGridConfig`], [`sample_pair`] and
//!   [`PatchPair`] — a centre patch, one of its 8 neighbours in a 3×3 grid with gaps and
//!   jitter, and the neighbour's position as the label.
//! * Jigsaw puzzles (Noroozi & Favaro 2016, "Unsupervised Learning of Visual Representations
//!   by Solving Jigsaw Puzzles", ECCV, §3): [`JigsawConfig`] and [`jigsaw_tiles`] — nine
//!   tiles, each a random crop inside its cell of a 3×3 grid.
//! * Shortcut defences shared by both papers: per-patch normalisation ([`normalize_patch`]),
//!   and Doersch §3.1's chromatic-aberration defences — projecting colours toward gray
//!   ([`project_toward_gray`]), colour dropping ([`drop_color_channels`]) and pixelation
//!   ([`pixelate`]).
//!
//! Randomness comes only from the generator passed in, and each function documents the order
//! of its draws, so a sample is a pure function of (image, seed, epoch, index) when the
//! generator is [`crate::rng::sample_rng`]'s.

use crate::augment::{below, crop, resize, uniform};
use crate::{DataError, Image};
use rand::Rng;

/// Grid offsets `(dx, dy)` (columns, rows; each in `{-1, 0, 1}`) of the 8 neighbours of the
/// centre patch, indexed by the context-prediction label: the 3×3 grid in row-major order
/// with the centre left out (Doersch et al. 2015, §3, Fig. 2): 0 = top-left, 1 = top,
/// 2 = top-right, 3 = left, 4 = right, 5 = bottom-left, 6 = bottom, 7 = bottom-right.
pub const NEIGHBOR_OFFSETS: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

/// The patch geometry of context prediction (Doersch, Gupta & Efros 2015, ICCV, §3–3.1):
/// a 3×3 grid of square `patch × patch` patches whose nominal positions are `gap` pixels
/// apart, each patch then displaced independently by up to `jitter` pixels in x and in y
/// ("we include a gap of approximately half the patch width between patches, and randomly
/// jitter each patch location by up to 7 pixels" — both to stop the network from matching
/// low-level boundary patterns or continuing textures).
///
/// The actual gap between two adjacent patches is therefore in
/// `[gap − 2·jitter, gap + 2·jitter]`; [`PatchGridConfig::validate`] requires
/// `gap ≥ 2·jitter`, so patches never overlap.
///
/// Deserialising rejects unknown fields; missing fields take the paper's values
/// ([`PatchGridConfig::paper`]), which need an image of at least
/// [`extent`](PatchGridConfig::extent) = 398 pixels a side: use
/// [`PatchGridConfig::for_image`] for smaller images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatchGridConfig {
    /// Side of each square patch in pixels (paper: 96).
    pub patch: usize,
    /// Nominal gap between adjacent patches in pixels (paper: 48, half the patch).
    pub gap: usize,
    /// Maximum displacement of each patch in x and in y, in pixels (paper: 7).
    pub jitter: usize,
}

impl Default for PatchGridConfig {
    fn default() -> Self {
        PatchGridConfig::paper()
    }
}

impl PatchGridConfig {
    /// Side of the paper's full grid region, `3·96 + 2·48 + 2·7`: the reference length for
    /// [`PatchGridConfig::for_image`]'s scaling.
    const PAPER_EXTENT: usize = 398;

    /// Doersch et al.'s values (§3): 96-pixel patches, 48-pixel gaps, jitter up to 7 pixels.
    pub fn paper() -> Self {
        PatchGridConfig {
            patch: 96,
            gap: 48,
            jitter: 7,
        }
    }

    /// The paper's geometry scaled to fit an image of `side × side` pixels. With
    /// `s = side / 398` (398 = the paper grid's [`extent`](PatchGridConfig::extent)):
    ///
    /// * `jitter = max(1, round(7·s))` — at least one pixel, so patch edges never line up
    ///   exactly;
    /// * `gap = max(2·jitter, round(48·s))` — never less than twice the jitter, so jittered
    ///   patches cannot overlap;
    /// * `patch = max(1, ⌊(side − 2·gap − 2·jitter) / 3⌋)` — the largest patch that makes the
    ///   grid fit.
    ///
    /// This reproduces the paper exactly at `side = 398` and gives, e.g., patch 6 / gap 3 /
    /// jitter 1 at 28 px (MNIST), 7 / 4 / 1 at 32 px (CIFAR) and 22 / 12 / 2 at 96 px
    /// (STL-10). Below 9 pixels no grid fits and [`sample_pair`] reports an error.
    pub fn for_image(side: usize) -> Self {
        let scaled = |v: usize| (side * v + Self::PAPER_EXTENT / 2) / Self::PAPER_EXTENT;
        let jitter = scaled(7).max(1);
        let gap = scaled(48).max(2 * jitter);
        let patch = (side.saturating_sub(2 * gap + 2 * jitter) / 3).max(1);
        PatchGridConfig { patch, gap, jitter }
    }

    /// Side of the square region the whole 3×3 grid needs, jitter included:
    /// `3·patch + 2·gap + 2·jitter`.
    pub fn extent(&self) -> usize {
        3 * self.patch + 2 * self.gap + 2 * self.jitter
    }

    /// Distance between the nominal top-left corners of adjacent grid cells: `patch + gap`.
    pub fn stride(&self) -> usize {
        self.patch + self.gap
    }

    /// Checks that `patch` is positive and `gap ≥ 2·jitter` (so patches never overlap).
    pub fn validate(&self) -> Result<(), DataError> {
        if self.patch == 0 {
            return Err(DataError::Spec(
                "context prediction: patch must be positive".into(),
            ));
        }
        if self.gap < 2 * self.jitter {
            return Err(DataError::Spec(format!(
                "context prediction: gap ({}) must be at least twice the jitter ({}) so that \
                 jittered patches never overlap",
                self.gap, self.jitter
            )));
        }
        Ok(())
    }
}

/// One context-prediction example (Doersch, Gupta & Efros 2015, ICCV, §3): the centre patch
/// of a 3×3 grid, one of its 8 neighbours, and which one it is.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPair {
    /// The centre patch (`patch × patch`, the image's channel count).
    pub center: Image,
    /// The neighbouring patch.
    pub neighbor: Image,
    /// The neighbour's position relative to the centre, `0..8` in row-major order of the 8
    /// neighbours: 0 = top-left, 1 = top, 2 = top-right, 3 = left, 4 = right,
    /// 5 = bottom-left, 6 = bottom, 7 = bottom-right (see [`NEIGHBOR_OFFSETS`]).
    pub label: u8,
    /// Top-left corner `(x, y)` (column, row) of the centre patch in the source image.
    pub center_origin: (usize, usize),
    /// Top-left corner `(x, y)` (column, row) of the neighbour patch in the source image.
    pub neighbor_origin: (usize, usize),
}

/// Samples one context-prediction pair (Doersch, Gupta & Efros 2015, ICCV, §3–3.1): a grid
/// region of [`extent`](PatchGridConfig::extent) pixels placed uniformly inside `image`, one
/// of the 8 neighbours chosen uniformly, and the centre and neighbour patches, each displaced
/// by an independent uniform jitter in `[−jitter, jitter]` in x and y around its nominal grid
/// position. Patches are plain crops: apply [`normalize_patch`] and the chromatic-aberration
/// defences afterwards, as the caller's pipeline requires.
///
/// Random draws, in order: the region's top row, its left column, the label, then the
/// centre's vertical and horizontal jitter, then the neighbour's (each through the crate's
/// unbiased integer sampler; a range of one value draws nothing).
///
/// # Errors
///
/// [`DataError::Spec`] when the configuration is invalid
/// ([`PatchGridConfig::validate`]) or the image is smaller than the grid's extent (the message
/// names both sizes).
pub fn sample_pair<R: Rng + ?Sized>(
    image: &Image,
    cfg: &PatchGridConfig,
    rng: &mut R,
) -> Result<PatchPair, DataError> {
    cfg.validate()?;
    let extent = cfg.extent();
    if image.width < extent || image.height < extent {
        return Err(DataError::Spec(format!(
            "context prediction: the {w}×{h} image is smaller than the {extent}×{extent} region \
             the 3×3 patch grid needs (patch {p}, gap {g}, jitter {j}); \
             PatchGridConfig::for_image picks a grid that fits",
            w = image.width,
            h = image.height,
            p = cfg.patch,
            g = cfg.gap,
            j = cfg.jitter,
        )));
    }
    let top = below(rng, image.height - extent + 1);
    let left = below(rng, image.width - extent + 1);
    let label = below(rng, NEIGHBOR_OFFSETS.len());
    let (dx, dy) = NEIGHBOR_OFFSETS[label];
    let spread = 2 * cfg.jitter + 1;
    let stride = cfg.stride();
    // Cell (col, row) of the grid spans [origin + cell·stride, … + 2·jitter + patch): the
    // jitter draw u ∈ [0, 2·jitter] is the displacement u − jitter from the nominal position.
    let mut place = |col: usize, row: usize| {
        let uy = below(rng, spread);
        let ux = below(rng, spread);
        (left + col * stride + ux, top + row * stride + uy)
    };
    let center_origin = place(1, 1);
    let neighbor_origin = place((1 + dx) as usize, (1 + dy) as usize);
    let cut = |(x, y): (usize, usize)| crop(image, x as isize, y as isize, cfg.patch, cfg.patch);
    Ok(PatchPair {
        center: cut(center_origin),
        neighbor: cut(neighbor_origin),
        label: label as u8,
        center_origin,
        neighbor_origin,
    })
}

/// The tile geometry of the jigsaw puzzle (Noroozi & Favaro 2016, ECCV, §3): a square region
/// of `3·cell` pixels is split into a 3×3 grid of `cell × cell` cells and a random
/// `tile × tile` crop is taken inside each cell (paper: 225-pixel region, 75-pixel cells,
/// 64-pixel tiles). Because tiles are smaller than cells, adjacent tiles are separated by a
/// random gap of `0..=2·(cell − tile)` pixels and jittered — the paper's defence against
/// edge-continuity shortcuts.
///
/// Deserialising rejects unknown fields; missing fields take the paper's values
/// ([`JigsawConfig::paper`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JigsawConfig {
    /// Side of each grid cell in pixels (paper: 75, a third of 225).
    pub cell: usize,
    /// Side of the tile cropped inside each cell (paper: 64).
    pub tile: usize,
}

impl Default for JigsawConfig {
    fn default() -> Self {
        JigsawConfig::paper()
    }
}

impl JigsawConfig {
    /// Noroozi & Favaro's values (§3): 75-pixel cells of a 225-pixel region, 64-pixel tiles.
    pub fn paper() -> Self {
        JigsawConfig { cell: 75, tile: 64 }
    }

    /// The paper's geometry scaled to a `side × side` image: `cell = ⌊side / 3⌋` and
    /// `tile = ⌊cell · 64 / 75⌋`, clamped to `cell − 1` so that at least one pixel of gap and
    /// jitter remains (and to at least 1). Exact at 225 px; e.g. cell 9 / tile 7 at 28 px,
    /// 10 / 8 at 32 px, 32 / 27 at 96 px.
    pub fn for_image(side: usize) -> Self {
        let cell = side / 3;
        let tile = (cell * 64 / 75).min(cell.saturating_sub(1)).max(1);
        JigsawConfig { cell, tile }
    }

    /// Side of the square region the puzzle is cut from: `3·cell`.
    pub fn region(&self) -> usize {
        3 * self.cell
    }

    /// Checks `1 ≤ tile ≤ cell`.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.tile == 0 || self.tile > self.cell {
            return Err(DataError::Spec(format!(
                "jigsaw: tile ({}) must be positive and at most the cell ({})",
                self.tile, self.cell
            )));
        }
        Ok(())
    }
}

/// Cuts the nine jigsaw tiles (Noroozi & Favaro 2016, ECCV, §3), in row-major grid order
/// (tile `3·row + col` comes from cell (row, col)), each an independent uniformly placed
/// `tile × tile` crop inside its `cell × cell` cell. Tiles are plain crops: apply
/// [`normalize_patch`] (and any colour augmentation) per tile afterwards, and permute them
/// with the chosen permutation.
///
/// The caller normally passes an image already cropped or resized to the
/// [`region`](JigsawConfig::region) (`3·cell` square). A larger image is cut by a uniformly
/// placed `3·cell × 3·cell` window first, as the paper's random 225×225 crop of a 256-pixel
/// image.
///
/// Random draws, in order: the window's top row and left column (nothing when the image is
/// exactly the region), then for each tile in grid order its top row and left column inside
/// the cell.
///
/// # Errors
///
/// [`DataError::Spec`] when the configuration is invalid ([`JigsawConfig::validate`]) or the
/// image is smaller than the region (the message names both sizes).
pub fn jigsaw_tiles<R: Rng + ?Sized>(
    image: &Image,
    cfg: &JigsawConfig,
    rng: &mut R,
) -> Result<[Image; 9], DataError> {
    cfg.validate()?;
    let region = cfg.region();
    if image.width < region || image.height < region {
        return Err(DataError::Spec(format!(
            "jigsaw: the {}×{} image is smaller than the {region}×{region} puzzle region \
             (3 cells of {}); JigsawConfig::for_image picks cells that fit",
            image.width, image.height, cfg.cell
        )));
    }
    let top = below(rng, image.height - region + 1);
    let left = below(rng, image.width - region + 1);
    let slack = cfg.cell - cfg.tile + 1;
    let mut origins = [(0usize, 0usize); 9];
    for (i, origin) in origins.iter_mut().enumerate() {
        let (row, col) = (i / 3, i % 3);
        let y = top + row * cfg.cell + below(rng, slack);
        let x = left + col * cfg.cell + below(rng, slack);
        *origin = (x, y);
    }
    Ok(origins.map(|(x, y)| crop(image, x as isize, y as isize, cfg.tile, cfg.tile)))
}

/// Floor of the per-channel standard deviation in [`normalize_patch`]: a quarter of an 8-bit
/// gray level, so a flat patch maps to zeros instead of amplified rounding noise.
pub const PATCH_STD_EPS: f32 = 1e-3;

/// Per-patch normalisation of both patch papers (Doersch et al. 2015, §3.1; Noroozi &
/// Favaro 2016, §3 — "we normalize each tile independently" to stop low-level statistics
/// such as mean brightness from identifying neighbours): each channel minus its mean, divided
/// by its standard deviation (population, i.e. over the patch's pixels), floored at
/// [`PATCH_STD_EPS`]. The result is no longer in `[0, 1]`.
pub fn normalize_patch(mut image: Image) -> Image {
    let n = image.width * image.height;
    if n == 0 {
        return image;
    }
    for plane in image.data.chunks_exact_mut(n) {
        let (mean, std) = mean_std(plane);
        let inv = 1.0 / std.max(f64::from(PATCH_STD_EPS));
        for v in plane {
            *v = ((f64::from(*v) - mean) * inv) as f32;
        }
    }
    image
}

/// Mean and population standard deviation of `values` (accumulated in `f64`).
fn mean_std(values: &[f32]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Doersch et al. 2015, §3.1's first chromatic-aberration defence, "projection": every RGB
/// pixel `v` becomes `B·v` with `B = I − aᵀa / (a·aᵀ)` and `a = [−1, 2, −1]`, removing the
/// green–magenta component (lenses focus green and magenta differently, so their
/// displacement reveals where a patch lies relative to the lens centre). Gray colours
/// (`r = g = b`) are unchanged; other colours are shifted toward gray along `a`, and the
/// result can leave `[0, 1]` (e.g. pure green `(0, 1, 0)` becomes `(1/3, 1/3, 1/3)` but pure
/// red `(1, 0, 0)` becomes `(5/6, 1/3, −1/6)`). Images without exactly 3 channels are returned
/// unchanged.
pub fn project_toward_gray(mut image: Image) -> Image {
    if image.channels != 3 {
        return image;
    }
    let n = image.width * image.height;
    let (r, rest) = image.data.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        // B·v = v − a (a·v) / 6, as a·aᵀ = 1 + 4 + 1 = 6.
        let t = (2.0 * *g - *r - *b) / 6.0;
        *r += t;
        *g -= 2.0 * t;
        *b += t;
    }
    image
}

/// A standard normal sample by the Box–Muller transform: two `f64` draws (the second of the
/// pair of normals is discarded to keep the draw count fixed and simple).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1], so ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Doersch et al. 2015, §3.1's second chromatic-aberration defence, "color dropping": keeps
/// one uniformly chosen channel and replaces the two others with Gaussian noise whose standard
/// deviation is 1/100 of the kept channel's ("replacing the dropped colors with Gaussian noise
/// (standard deviation ∼1/100 the standard deviation of the remaining channel)").
///
/// The noise is centred on the kept channel's mean. The reference applies colour dropping to
/// mean-centred patches, where this is zero-mean noise: apply it after [`normalize_patch`] —
/// normalising afterwards would rescale the noise to unit deviation and undo the defence. On
/// a `[0, 1]` image the dropped channels become flat at the kept channel's mean.
///
/// Images without exactly 3 channels are returned unchanged (no draw). Random draws: the kept
/// channel, then two `f64` per noise value (Box–Muller), the first dropped channel's pixels
/// before the second's.
pub fn drop_color_channels<R: Rng + ?Sized>(mut image: Image, rng: &mut R) -> Image {
    if image.channels != 3 {
        return image;
    }
    let n = image.width * image.height;
    let keep = below(rng, 3);
    let (mean, std) = mean_std(&image.data[keep * n..(keep + 1) * n]);
    let sigma = std / 100.0;
    for (c, plane) in image.data.chunks_exact_mut(n.max(1)).enumerate() {
        if c == keep {
            continue;
        }
        for v in plane {
            *v = (mean + sigma * standard_normal(rng)) as f32;
        }
    }
    image
}

/// Doersch et al. 2015, §3.1's pixelation defence: "randomly downsample some patches to as
/// little as 100 total pixels, and then upsample it" — so the network cannot rely on fine
/// detail (and chromatic aberration) alone. The downsampled size is `round(s·width) ×
/// round(s·height)` (at least 1×1) with the side factor `s` uniform in
/// `[√(min_pixels / (width·height)), 1]`, i.e. down to about `min_pixels` total pixels (paper:
/// 100); both resizes are bilinear ([`resize`]). The output has the
/// input's size. An image of at most `min_pixels` pixels is returned unchanged.
///
/// The paper pixelates with probability 1/3; the caller draws that coin. Random draws: one
/// `f32` (the side factor), also when the image is returned unchanged.
pub fn pixelate<R: Rng + ?Sized>(image: Image, min_pixels: usize, rng: &mut R) -> Image {
    let (w, h) = (image.width, image.height);
    let area = w * h;
    let lo = if area == 0 {
        1.0
    } else {
        (min_pixels as f32 / area as f32).min(1.0).sqrt()
    };
    let s = uniform(rng, lo, 1.0);
    if area <= min_pixels {
        return image;
    }
    let small_w = ((w as f32 * s).round() as usize).clamp(1, w);
    let small_h = ((h as f32 * s).round() as usize).clamp(1, h);
    if small_w == w && small_h == h {
        return image;
    }
    resize(&resize(&image, small_w, small_h), w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::sample_rng;

    /// A 3-channel image whose values encode their position, so a crop's origin can be read
    /// back from its first value: channel c, row y, column x holds `c·h·w + y·w + x`.
    fn coded(height: usize, width: usize) -> Image {
        let data = (0..3 * height * width).map(|i| i as f32).collect();
        Image {
            channels: 3,
            height,
            width,
            data,
        }
    }

    fn origin_of(patch: &Image, width: usize) -> (usize, usize) {
        let v = patch.data[0] as usize;
        (v % width, v / width)
    }

    fn noise_image(channels: usize, height: usize, width: usize, seed: u64) -> Image {
        let mut rng = sample_rng(seed, 0, 0);
        let data = (0..channels * height * width)
            .map(|_| rng.random::<f32>())
            .collect();
        Image {
            channels,
            height,
            width,
            data,
        }
    }

    #[test]
    fn patches_paper_and_scaled_configs() {
        let paper = PatchGridConfig::paper();
        assert_eq!(paper.extent(), 398);
        assert_eq!(PatchGridConfig::for_image(398), paper);
        assert_eq!(PatchGridConfig::default(), paper);
        for side in 9..=512 {
            let cfg = PatchGridConfig::for_image(side);
            cfg.validate().unwrap();
            assert!(cfg.extent() <= side, "{side}: {cfg:?}");
            assert!(cfg.jitter >= 1);
        }
        let c28 = PatchGridConfig::for_image(28);
        assert_eq!((c28.patch, c28.gap, c28.jitter), (6, 3, 1));
        let c32 = PatchGridConfig::for_image(32);
        assert_eq!((c32.patch, c32.gap, c32.jitter), (7, 4, 1));
        let c96 = PatchGridConfig::for_image(96);
        assert_eq!((c96.patch, c96.gap, c96.jitter), (22, 12, 2));
        let bad = PatchGridConfig {
            patch: 8,
            gap: 2,
            jitter: 2,
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn patches_too_small_image_is_an_error_naming_sizes() {
        let image = Image::filled(3, 28, 30, 0.5);
        let cfg = PatchGridConfig {
            patch: 8,
            gap: 2,
            jitter: 1,
        };
        let err = sample_pair(&image, &cfg, &mut sample_rng(0, 0, 0)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("30×28") && msg.contains("30×30"), "{msg}");
    }

    #[test]
    fn patches_pair_geometry() {
        for (h, w, cfg) in [
            (40, 37, PatchGridConfig::for_image(32)),
            (28, 28, PatchGridConfig::for_image(28)),
            (
                60,
                50,
                PatchGridConfig {
                    patch: 9,
                    gap: 6,
                    jitter: 3,
                },
            ),
            (
                30,
                30,
                PatchGridConfig {
                    patch: 8,
                    gap: 3,
                    jitter: 0,
                },
            ),
        ] {
            let image = coded(h, w);
            let (p, g, j) = (cfg.patch, cfg.gap as isize, cfg.jitter as isize);
            let mut seen = [0usize; 8];
            let mut jitters = std::collections::HashSet::new();
            for i in 0..2000 {
                let pair = sample_pair(&image, &cfg, &mut sample_rng(7, 0, i)).unwrap();
                seen[pair.label as usize] += 1;
                // Shapes and crop contents match the reported origins.
                for patch in [&pair.center, &pair.neighbor] {
                    assert_eq!((patch.channels, patch.height, patch.width), (3, p, p));
                }
                assert_eq!(origin_of(&pair.center, w), pair.center_origin);
                assert_eq!(origin_of(&pair.neighbor, w), pair.neighbor_origin);
                let (cx, cy) = pair.center_origin;
                let (nx, ny) = pair.neighbor_origin;
                assert!(cx + p <= w && cy + p <= h && nx + p <= w && ny + p <= h);
                // Jitter bounds: the displacement from the nominal stride is within ±2·jitter.
                let (dx, dy) = NEIGHBOR_OFFSETS[pair.label as usize];
                let stride = cfg.stride() as isize;
                let ex = nx as isize - cx as isize - dx * stride;
                let ey = ny as isize - cy as isize - dy * stride;
                assert!(ex.abs() <= 2 * j && ey.abs() <= 2 * j, "{ex} {ey}");
                jitters.insert((ex, ey));
                // Gaps and no overlap along every axis where the patches are neighbours;
                // label ↔ relative position consistency.
                for (d, c0, n0) in [(dx, cx, nx), (dy, cy, ny)] {
                    let (c0, n0, p) = (c0 as isize, n0 as isize, p as isize);
                    match d {
                        1 => {
                            let gap = n0 - (c0 + p);
                            assert!(gap >= g - 2 * j && gap <= g + 2 * j && gap >= 0);
                        }
                        -1 => {
                            let gap = c0 - (n0 + p);
                            assert!(gap >= g - 2 * j && gap <= g + 2 * j && gap >= 0);
                        }
                        _ => assert!((n0 - c0).abs() <= 2 * j),
                    }
                }
            }
            assert!(seen.iter().all(|&n| n > 150), "{seen:?}");
            // Both extremes of the relative displacement occur on each axis.
            for e in [-2 * j, 2 * j] {
                assert!(jitters.iter().any(|&(ex, _)| ex == e));
                assert!(jitters.iter().any(|&(_, ey)| ey == e));
            }
        }
    }

    #[test]
    fn patches_pair_is_reproducible() {
        let image = noise_image(3, 64, 64, 3);
        let cfg = PatchGridConfig::for_image(64);
        let a = sample_pair(&image, &cfg, &mut sample_rng(1, 2, 3)).unwrap();
        let b = sample_pair(&image, &cfg, &mut sample_rng(1, 2, 3)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn patches_jigsaw_configs() {
        assert_eq!(JigsawConfig::for_image(225), JigsawConfig::paper());
        assert_eq!(JigsawConfig::default(), JigsawConfig::paper());
        assert_eq!(
            JigsawConfig::for_image(32),
            JigsawConfig { cell: 10, tile: 8 }
        );
        assert_eq!(
            JigsawConfig::for_image(28),
            JigsawConfig { cell: 9, tile: 7 }
        );
        assert_eq!(
            JigsawConfig::for_image(96),
            JigsawConfig { cell: 32, tile: 27 }
        );
        for side in 3..300 {
            let cfg = JigsawConfig::for_image(side);
            cfg.validate().unwrap();
            assert!(cfg.region() <= side);
        }
        assert!(JigsawConfig { cell: 5, tile: 6 }.validate().is_err());
        let small = Image::filled(3, 29, 40, 0.0);
        let err = jigsaw_tiles(
            &small,
            &JigsawConfig::for_image(32),
            &mut sample_rng(0, 0, 0),
        );
        assert!(err.unwrap_err().to_string().contains("40×29"));
    }

    #[test]
    fn patches_jigsaw_tiles_lie_in_their_cells() {
        for (h, w, cfg) in [
            (30, 30, JigsawConfig::for_image(32)),
            (45, 50, JigsawConfig::for_image(32)),
            (225, 225, JigsawConfig::paper()),
        ] {
            let image = coded(h, w);
            let slack = (cfg.cell - cfg.tile) as isize;
            let mut positions = std::collections::HashSet::new();
            for i in 0..300 {
                let tiles = jigsaw_tiles(&image, &cfg, &mut sample_rng(5, 1, i)).unwrap();
                // Tile k's origin minus its cell's offset in the window is `window + offset`
                // with offset in [0, cell − tile]: some window inside the image must explain
                // all nine tiles at once.
                let mut rel_x = Vec::new();
                let mut rel_y = Vec::new();
                for (k, tile) in tiles.iter().enumerate() {
                    assert_eq!(
                        (tile.channels, tile.height, tile.width),
                        (3, cfg.tile, cfg.tile)
                    );
                    let (x, y) = origin_of(tile, w);
                    positions.insert((k, x, y));
                    rel_x.push(x as isize - ((k % 3) * cfg.cell) as isize);
                    rel_y.push(y as isize - ((k / 3) * cfg.cell) as isize);
                }
                for (rel, size) in [(&rel_x, w), (&rel_y, h)] {
                    let lo = rel.iter().max().unwrap() - slack; // window ≥ lo
                    let hi = *rel.iter().min().unwrap(); // window ≤ hi
                    let hi = hi.min((size - cfg.region()) as isize);
                    assert!(lo.max(0) <= hi, "no window explains {rel:?}");
                }
            }
            // Tiles move (more than one position per tile).
            assert!(positions.len() > 9 * 2);
        }
    }

    #[test]
    fn patches_jigsaw_exact_region_tiles_are_within_cells() {
        // With the region exactly the image, the window is fixed at (0, 0): check the exact
        // cell bounds, including both extremes of the in-cell offset.
        let cfg = JigsawConfig { cell: 10, tile: 7 };
        let image = coded(30, 30);
        let mut extremes = std::collections::HashSet::new();
        for i in 0..500 {
            let tiles = jigsaw_tiles(&image, &cfg, &mut sample_rng(9, 0, i)).unwrap();
            for (k, tile) in tiles.iter().enumerate() {
                let (x, y) = origin_of(tile, 30);
                let (ox, oy) = (x - (k % 3) * 10, y - (k / 3) * 10);
                assert!(ox <= 3 && oy <= 3, "tile {k} at ({x}, {y})");
                extremes.insert(ox);
            }
        }
        assert!(extremes.contains(&0) && extremes.contains(&3));
    }

    #[test]
    fn patches_normalize_patch_per_channel() {
        let image = noise_image(3, 10, 12, 4);
        let out = normalize_patch(image);
        for c in 0..3 {
            let (m, s) = mean_std(out.plane(c));
            assert!(m.abs() < 1e-5 && (s - 1.0).abs() < 1e-4, "{m} {s}");
        }
        let flat = normalize_patch(Image::filled(1, 4, 4, 0.3));
        assert!(flat.data.iter().all(|&v| v.abs() < 1e-3));
    }

    #[test]
    fn patches_projection_removes_green_magenta() {
        let image = noise_image(3, 16, 16, 5);
        let out = project_toward_gray(image.clone());
        let n = 256;
        for i in 0..n {
            let (r, g, b) = (out.data[i], out.data[n + i], out.data[2 * n + i]);
            assert!((-r + 2.0 * g - b).abs() < 1e-6);
            // The other components (along gray and red–blue) are untouched.
            let (r0, g0, b0) = (image.data[i], image.data[n + i], image.data[2 * n + i]);
            assert!(((r + g + b) - (r0 + g0 + b0)).abs() < 1e-5);
            assert!(((r - b) - (r0 - b0)).abs() < 1e-6);
        }
        // Projection is idempotent and leaves gray unchanged.
        let again = project_toward_gray(out.clone());
        assert!(
            again
                .data
                .iter()
                .zip(&out.data)
                .all(|(a, b)| (a - b).abs() < 1e-6)
        );
        let mut gray = Image::filled(3, 2, 2, 0.0);
        for i in 0..4 {
            for c in 0..3 {
                gray.data[c * 4 + i] = i as f32 / 3.0;
            }
        }
        assert_eq!(project_toward_gray(gray.clone()), gray);
        let mono = noise_image(1, 4, 4, 6);
        assert_eq!(project_toward_gray(mono.clone()), mono);
    }

    #[test]
    fn patches_drop_keeps_one_channel_and_noise_std_matches() {
        let image = noise_image(3, 64, 64, 7);
        let n = 64 * 64;
        let mut kept = [0usize; 3];
        for i in 0..60 {
            let out = drop_color_channels(image.clone(), &mut sample_rng(8, 0, i));
            let same: Vec<usize> = (0..3).filter(|&c| out.plane(c) == image.plane(c)).collect();
            assert_eq!(same.len(), 1, "exactly one channel kept");
            let keep = same[0];
            kept[keep] += 1;
            let (mk, sk) = mean_std(image.plane(keep));
            for c in (0..3).filter(|&c| c != keep) {
                let (m, s) = mean_std(out.plane(c));
                assert!((s / (sk / 100.0) - 1.0).abs() < 0.05, "std {s} vs {sk}/100");
                assert!((m - mk).abs() < 4.0 * sk / 100.0 / (n as f64).sqrt() + 1e-6);
            }
        }
        assert!(kept.iter().all(|&k| k > 5), "{kept:?}");
        let mono = noise_image(1, 4, 4, 6);
        assert_eq!(
            drop_color_channels(mono.clone(), &mut sample_rng(0, 0, 0)),
            mono
        );
    }

    #[test]
    fn patches_standard_normal_moments() {
        let mut rng = sample_rng(11, 0, 0);
        let xs: Vec<f64> = (0..100_000).map(|_| standard_normal(&mut rng)).collect();
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.02, "{m} {v}");
    }

    #[test]
    fn patches_pixelate_keeps_size_and_loses_detail() {
        let image = noise_image(3, 24, 20, 9);
        let mut changed = 0;
        for i in 0..50 {
            let out = pixelate(image.clone(), 100, &mut sample_rng(10, 0, i));
            assert_eq!((out.channels, out.height, out.width), (3, 24, 20));
            assert!(out.data.iter().all(|v| v.is_finite()));
            if out != image {
                changed += 1;
            }
        }
        assert!(changed > 40);
        // Small images and a generous minimum leave the image alone.
        let tiny = noise_image(3, 8, 8, 2);
        assert_eq!(pixelate(tiny.clone(), 100, &mut sample_rng(0, 0, 0)), tiny);
        // At the minimum, roughly min_pixels distinct positions remain: a 100-pixel version
        // upsampled to 40×40 has much lower variance than white noise.
        let big = noise_image(1, 40, 40, 12);
        let out = pixelate(big.clone(), 16, &mut sample_rng(0, 0, 1));
        let (_, s_in) = mean_std(&big.data);
        let (_, s_out) = mean_std(&out.data);
        assert!(s_out < s_in);
    }
}

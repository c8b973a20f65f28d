//! CIE 1976 L\*a\*b\* colour space and the quantised ab colour classes of Zhang, Isola & Efros
//! 2016, "Colorful Image Colorization" (ECCV): the input (L) and target (ab) side of the
//! colorization pretext task.
//!
//! # Colour conversion
//!
//! sRGB values are IEC 61966-2-1:1999 encoded (the transfer function with the 0.04045 /
//! 0.0031308 thresholds); linear sRGB goes to CIE XYZ by a matrix and XYZ to L\*a\*b\* by CIE
//! 15:2004 §8.2.1 with the exact rational constants ε = 216/24389 = (6/29)³ and
//! κ = 24389/27 = (29/3)³ (the form Lindbloom recommends, which makes the two branches of the
//! cube-root function meet exactly at L\* = 8).
//!
//! **White point and matrix.** The reference white is the 5-digit D65 white
//! [`D65_WHITE`] = (0.95047, 1, 1.08883) (2° observer), the value used by scikit-image's
//! `rgb2lab`, colormath and Lindbloom. The RGB→XYZ matrix is *derived* (SMPTE RP 177-1993 §3.3)
//! from the sRGB / ITU-R BT.709 primaries and this same white, so that `M · (1, 1, 1)ᵀ` equals the
//! white exactly: sRGB white maps to (100, 0, 0) and every neutral grey to a\* = b\* = 0 (up to
//! `f64` rounding). The derived matrix equals Lindbloom's published one to all 7 printed digits
//! (0.4124564 0.3575761 0.1804375 / 0.2126729 0.7151522 0.0721750 / 0.0193339 0.1191920
//! 0.9503041) and IEC 61966-2-1's 4-digit matrix to within 2e-4. With it the sRGB primaries
//! map to the widely published values (e.g. red (1, 0, 0) → (53.2408, 80.0925, 67.2032)),
//! which scikit-image's 6-digit matrix reproduces to within 4e-3.
//!
//! All arithmetic is done in `f64`; the `f32` API rounds only at the boundary.
//!
//! # Quantised ab classes
//!
//! [`AbBins`] implements §2.1–2.2 of Zhang et al. 2016: the ab plane quantised with grid size
//! 10 into Q in-gamut bins, soft-encoding of a target ab value over its 5 nearest bin centres
//! (Gaussian σ = 5), class rebalancing (eq. 4, λ = ½, σ = 5) and the annealed-mean decoding of
//! a predicted distribution (eq. 5, T = 0.38).

use crate::Image;
use rayon::prelude::*;
use std::collections::BTreeSet;

/// The D65 reference white in CIE XYZ with Yn = 1: (Xn, Yn, Zn) = (0.95047, 1, 1.08883),
/// the 5-digit tabulated value for the CIE 1931 2° observer (scikit-image's and colormath's
/// D65). [`XYZ_FROM_LINEAR_SRGB`] is derived from it, so `M · (1, 1, 1)ᵀ` is exactly this white.
pub const D65_WHITE: [f64; 3] = [0.95047, 1.0, 1.08883];

/// The chromaticities (x, y) of the sRGB primaries red, green, blue (IEC 61966-2-1 Table 1,
/// identical to ITU-R BT.709).
const SRGB_PRIMARIES: [[f64; 2]; 3] = [[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]];

/// Linear sRGB → CIE XYZ matrix (rows X, Y, Z), derived at compile time by SMPTE RP 177-1993
/// from the sRGB primaries (x, y) = (0.64, 0.33), (0.30, 0.60), (0.15, 0.06) and
/// [`D65_WHITE`]: column j is primary j's XYZ `(x/y, 1, (1−x−y)/y)` scaled by `S = P⁻¹ W` so
/// that the rows sum to the white. Equals Lindbloom's sRGB matrix to 7 digits and
/// IEC 61966-2-1's 4-digit matrix to within 2e-4.
pub const XYZ_FROM_LINEAR_SRGB: [[f64; 3]; 3] = derive_rgb_to_xyz(SRGB_PRIMARIES, D65_WHITE);

/// CIE XYZ → linear sRGB matrix: the exact inverse of [`XYZ_FROM_LINEAR_SRGB`] (Lindbloom's
/// 3.2404542 −1.5371385 −0.4985314 / −0.9692660 1.8760108 0.0415560 / 0.0556434 −0.2040259
/// 1.0572252).
pub const LINEAR_SRGB_FROM_XYZ: [[f64; 3]; 3] = invert3(XYZ_FROM_LINEAR_SRGB);

/// CIE ε = 216/24389 = (6/29)³: below this relative luminance the L\*a\*b\* function is linear
/// (CIE 15:2004 §8.2.1, exact rational form).
const EPSILON: f64 = 216.0 / 24389.0;

/// CIE κ = 24389/27 = (29/3)³, the slope of L\* against Y/Yn in the linear segment.
const KAPPA: f64 = 24389.0 / 27.0;

/// How far outside `[0, 1]` a channel may lie and still count as in gamut in [`in_gamut`]:
/// covers the `f32` rounding of a colour on the gamut surface after an sRGB → Lab → sRGB round
/// trip (about 1e-6), and is far below one 8-bit step (1/255).
pub const GAMUT_TOLERANCE: f32 = 1e-5;

/// Inverse of a 3×3 matrix by the adjugate (`const`, for the derived colour matrices).
const fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let [[a, b, c], [d, e, f], [g, h, i]] = m;
    let (ca, cb, cc) = (e * i - f * h, f * g - d * i, d * h - e * g);
    let det = a * ca + b * cb + c * cc;
    [
        [ca / det, (c * h - b * i) / det, (b * f - c * e) / det],
        [cb / det, (a * i - c * g) / det, (c * d - a * f) / det],
        [cc / det, (b * g - a * h) / det, (a * e - b * d) / det],
    ]
}

/// SMPTE RP 177-1993 §3.3: the RGB → XYZ matrix of an RGB space with the given primary
/// chromaticities and white point XYZ.
const fn derive_rgb_to_xyz(primaries: [[f64; 2]; 3], white: [f64; 3]) -> [[f64; 3]; 3] {
    let [[xr, yr], [xg, yg], [xb, yb]] = primaries;
    let p = [
        [xr / yr, xg / yg, xb / yb],
        [1.0, 1.0, 1.0],
        [
            (1.0 - xr - yr) / yr,
            (1.0 - xg - yg) / yg,
            (1.0 - xb - yb) / yb,
        ],
    ];
    let s = mat_vec(invert3(p), white);
    [
        [p[0][0] * s[0], p[0][1] * s[1], p[0][2] * s[2]],
        [p[1][0] * s[0], p[1][1] * s[1], p[1][2] * s[2]],
        [p[2][0] * s[0], p[2][1] * s[1], p[2][2] * s[2]],
    ]
}

/// Matrix–vector product `m · v`.
const fn mat_vec(m: [[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

/// IEC 61966-2-1 decoding (sRGB value → linear light): `c/12.92` up to 0.04045, else
/// `((c + 0.055)/1.055)^2.4`. Values below 0 continue the linear segment.
#[inline]
fn srgb_to_linear(c: f64) -> f64 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// IEC 61966-2-1 encoding (linear light → sRGB value): `12.92·l` up to 0.0031308, else
/// `1.055·l^(1/2.4) − 0.055`. Values below 0 continue the linear segment.
#[inline]
fn linear_to_srgb(l: f64) -> f64 {
    if l <= 0.0031308 {
        12.92 * l
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

/// The CIE L\*a\*b\* companding function f(t): `∛t` above ε, `(κ t + 16)/116` below.
#[inline]
fn lab_f(t: f64) -> f64 {
    if t > EPSILON {
        t.cbrt()
    } else {
        (KAPPA * t + 16.0) / 116.0
    }
}

/// The inverse of [`lab_f`]: `f³` when `f³ > ε`, else `(116 f − 16)/κ`.
#[inline]
fn lab_f_inv(f: f64) -> f64 {
    let f3 = f * f * f;
    if f3 > EPSILON {
        f3
    } else {
        (116.0 * f - 16.0) / KAPPA
    }
}

/// Linear sRGB → L\*a\*b\* (CIE 15:2004 §8.2.1), in `f64`.
#[inline]
fn linear_to_lab(lin: [f64; 3]) -> [f64; 3] {
    let xyz = mat_vec(XYZ_FROM_LINEAR_SRGB, lin);
    let fx = lab_f(xyz[0] / D65_WHITE[0]);
    let fy = lab_f(xyz[1] / D65_WHITE[1]);
    let fz = lab_f(xyz[2] / D65_WHITE[2]);
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// L\*a\*b\* → linear sRGB (the inverse of [`linear_to_lab`]), in `f64`, unclamped.
#[inline]
fn lab_to_linear(lab: [f64; 3]) -> [f64; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = fy + lab[1] / 500.0;
    let fz = fy - lab[2] / 200.0;
    let xyz = [
        lab_f_inv(fx) * D65_WHITE[0],
        lab_f_inv(fy) * D65_WHITE[1],
        lab_f_inv(fz) * D65_WHITE[2],
    ];
    mat_vec(LINEAR_SRGB_FROM_XYZ, xyz)
}

/// sRGB → L\*a\*b\* in `f64`.
#[inline]
fn srgb_to_lab_f64(rgb: [f64; 3]) -> [f64; 3] {
    linear_to_lab(rgb.map(srgb_to_linear))
}

/// Converts an sRGB colour (IEC 61966-2-1 encoded, nominally in `[0, 1]`) to CIE 1976
/// L\*a\*b\* relative to the D65 white [`D65_WHITE`]: L\* in `[0, 100]`, a\* in about
/// `[−86.2, 98.2]` and b\* in about `[−107.9, 94.5]` for in-gamut input.
///
/// Steps (computed in `f64`): IEC 61966-2-1 decoding to linear light, the RGB → XYZ matrix
/// [`XYZ_FROM_LINEAR_SRGB`], then CIE 15:2004 §8.2.1: `L* = 116 f(Y/Yn) − 16`,
/// `a* = 500 (f(X/Xn) − f(Y/Yn))`, `b* = 200 (f(Y/Yn) − f(Z/Zn))` with `f(t) = ∛t` for
/// `t > ε = 216/24389` and `(κ t + 16)/116` otherwise (`κ = 24389/27`).
///
/// Reference values (Lindbloom, colormath): white → (100, 0, 0), black → (0, 0, 0),
/// red (1, 0, 0) → (53.2408, 80.0925, 67.2032), green → (87.7347, −86.1827, 83.1793),
/// blue → (32.2970, 79.1875, −107.8602). Inputs outside `[0, 1]` are converted by the
/// natural extension of the formulas (linear transfer segment below 0).
pub fn srgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    srgb_to_lab_f64(rgb.map(f64::from)).map(|v| v as f32)
}

/// Converts CIE 1976 L\*a\*b\* (D65) back to sRGB: the exact inverse of [`srgb_to_lab`]
/// (CIE 15:2004 §8.2.1 inverse with `Y/Yn = ((L* + 16)/116)³` for `L* > κε = 8` else `L*/κ`,
/// then [`LINEAR_SRGB_FROM_XYZ`] and IEC 61966-2-1 encoding), computed in `f64`.
///
/// The result is **not clamped**: an out-of-gamut colour gives channels outside `[0, 1]`
/// (test with [`in_gamut`]; [`lab_to_image`] clamps).
pub fn lab_to_srgb(lab: [f32; 3]) -> [f32; 3] {
    lab_to_linear(lab.map(f64::from))
        .map(linear_to_srgb)
        .map(|v| v as f32)
}

/// Whether an sRGB colour (e.g. the output of [`lab_to_srgb`]) lies inside the sRGB gamut:
/// every channel in `[0, 1]` up to [`GAMUT_TOLERANCE`]. `NaN` is out of gamut.
pub fn in_gamut(rgb: [f32; 3]) -> bool {
    rgb.iter()
        .all(|&c| (-GAMUT_TOLERANCE..=1.0 + GAMUT_TOLERANCE).contains(&c))
}

/// Reads pixel `i` of a 1- or 3-channel image as an sRGB triple (gray is R = G = B).
#[inline]
fn pixel_rgb(image: &Image, i: usize) -> [f64; 3] {
    let n = image.height * image.width;
    if image.channels == 1 {
        [f64::from(image.data[i]); 3]
    } else {
        [
            f64::from(image.data[i]),
            f64::from(image.data[n + i]),
            f64::from(image.data[2 * n + i]),
        ]
    }
}

/// Asserts that an image is gray or RGB.
fn assert_gray_or_rgb(image: &Image) {
    assert!(
        image.channels == 1 || image.channels == 3,
        "L*a*b* conversion needs a 1- or 3-channel image, got {} channels",
        image.channels
    );
}

/// Converts an sRGB image (planar CHW in `[0, 1]`, as [`Image`] holds it) to a 3-plane
/// L\*a\*b\* image with planes L\* (in `[0, 100]`), a\*, b\*, in CIE units (no rescaling),
/// pixel by pixel with [`srgb_to_lab`].
///
/// A 1-channel (gray) image is treated as R = G = B: its L\* is that of the grey level and its
/// a\*, b\* planes are exactly 0 (neutral greys are achromatic under [`D65_WHITE`], see the
/// module docs).
///
/// # Panics
///
/// If the image has neither 1 nor 3 channels.
pub fn image_to_lab(image: &Image) -> Image {
    assert_gray_or_rgb(image);
    let n = image.height * image.width;
    let mut data = vec![0.0f32; 3 * n];
    let (l_plane, ab) = data.split_at_mut(n);
    let (a_plane, b_plane) = ab.split_at_mut(n);
    for i in 0..n {
        let lab = srgb_to_lab_f64(pixel_rgb(image, i));
        l_plane[i] = lab[0] as f32;
        if image.channels == 3 {
            a_plane[i] = lab[1] as f32;
            b_plane[i] = lab[2] as f32;
        }
    }
    Image {
        channels: 3,
        height: image.height,
        width: image.width,
        data,
    }
}

/// Converts a 3-plane L\*a\*b\* image (planes L\*, a\*, b\* in CIE units, as [`image_to_lab`]
/// makes) back to an sRGB image with [`lab_to_srgb`], **clamping** every channel to `[0, 1]`
/// (out-of-gamut predictions are clipped per channel, as scikit-image's `lab2rgb` does).
///
/// # Panics
///
/// If the image does not have 3 channels.
pub fn lab_to_image(lab: &Image) -> Image {
    assert!(
        lab.channels == 3,
        "an L*a*b* image has 3 planes, got {} channels",
        lab.channels
    );
    let n = lab.height * lab.width;
    let mut data = vec![0.0f32; 3 * n];
    let (r_plane, gb) = data.split_at_mut(n);
    let (g_plane, b_plane) = gb.split_at_mut(n);
    for i in 0..n {
        let lab_px = [
            f64::from(lab.data[i]),
            f64::from(lab.data[n + i]),
            f64::from(lab.data[2 * n + i]),
        ];
        let rgb = lab_to_linear(lab_px).map(linear_to_srgb);
        r_plane[i] = rgb[0].clamp(0.0, 1.0) as f32;
        g_plane[i] = rgb[1].clamp(0.0, 1.0) as f32;
        b_plane[i] = rgb[2].clamp(0.0, 1.0) as f32;
    }
    Image {
        channels: 3,
        height: lab.height,
        width: lab.width,
        data,
    }
}

/// The CIE L\* plane (in `[0, 100]`) of a gray or sRGB image: the colorization network's input
/// (Zhang et al. 2016 §2: predict ab from L). Identical to plane 0 of [`image_to_lab`]; gray
/// images are treated as R = G = B.
///
/// # Panics
///
/// If the image has neither 1 nor 3 channels.
pub fn lightness(image: &Image) -> Image {
    assert_gray_or_rgb(image);
    let n = image.height * image.width;
    let data = (0..n)
        .map(|i| {
            let lin = pixel_rgb(image, i).map(srgb_to_linear);
            let y = mat_vec(XYZ_FROM_LINEAR_SRGB, lin)[1] / D65_WHITE[1];
            (116.0 * lab_f(y) - 16.0) as f32
        })
        .collect();
    Image {
        channels: 1,
        height: image.height,
        width: image.width,
        data,
    }
}

/// The 313 bin centres of Zhang et al.'s released `pts_in_hull.npy` (richzhang/colorization,
/// `resources/`), grid 10, written as rows `(a, b_min, b_max)`: for each a, the centres
/// `(a, b)` with `b = b_min, b_min + 10, …, b_max` (each row is contiguous).
const ZHANG2016_ROWS: [(i16, i16, i16); 20] = [
    (-90, 50, 90),
    (-80, 20, 90),
    (-70, 0, 90),
    (-60, -20, 90),
    (-50, -30, 100),
    (-40, -40, 100),
    (-30, -50, 100),
    (-20, -50, 100),
    (-10, -60, 100),
    (0, -70, 100),
    (10, -80, 90),
    (20, -80, 90),
    (30, -90, 90),
    (40, -100, 90),
    (50, -100, 80),
    (60, -110, 80),
    (70, -110, 80),
    (80, -110, 70),
    (90, -110, 70),
    (100, -90, 0),
];

/// The quantised ab output space of Zhang, Isola & Efros 2016, "Colorful Image Colorization"
/// (ECCV) §2.1: the ab plane cut into square cells of side `grid` centred on the lattice
/// `grid · ℤ²`, keeping only the Q in-gamut cells. Bin `q` is `centers[q]` = (a, b).
///
/// Centres are sorted by a, then b (ascending): the order of the released `pts_in_hull.npy`,
/// so class indices are comparable with Zhang et al.'s models and priors when built by
/// [`AbBins::zhang2016`].
#[derive(Clone, Debug, PartialEq)]
pub struct AbBins {
    /// The Q bin centres (a\*, b\*), sorted by a then b.
    pub centers: Vec<[f32; 2]>,
    /// The grid size (cell side, in ab units); 10 in the paper.
    pub grid: f32,
}

impl AbBins {
    /// The in-gamut bins of an ab grid of cell side `grid` (10 in the paper): a bin is kept iff
    /// **some point of its cell** `[a − g/2, a + g/2] × [b − g/2, b + g/2]`, at some L\* in
    /// `[0, 100]`, is an sRGB colour inside `[0, 1]³`, i.e. iff the cell meets the ab projection
    /// of the sRGB gamut. Every sRGB colour therefore has the centre of its own cell as its
    /// nearest bin (quantisation error ≤ g/√2), which a centre-only test (229 bins at g = 10)
    /// would not give at the saturated rim of the gamut.
    ///
    /// The projection of the gamut solid equals that of its surface, so the test samples the
    /// six faces of the RGB cube on an n × n lattice (n = 1024 for g ≥ 10, up to 4096 for finer
    /// grids; one lattice step moves ab by at most 0.28 at n = 1024) and keeps every cell hit
    /// (ab rounded to the nearest lattice point). At g = 10 the result is stable from n = 512
    /// to 4096 and equals the set of cells hit by a dense 1024³ sampling of the whole cube.
    ///
    /// **Bin count.** This gives **Q = 262** at g = 10, not the paper's Q = 313. The released
    /// `pts_in_hull.npy` ([`AbBins::zhang2016`]) is a strict superset of these 262 bins: it adds
    /// 51 rim bins up to ≈ 15 ab units outside the sRGB gamut (e.g. (0, 100), (100, 0),
    /// (−90, 50)), and no geometric test reproduces it (centre in gamut: 229; centre in the
    /// convex hull of the gamut's ab projection: 233; cell meets the gamut: 262; no dilation
    /// radius of the gamut, Euclidean or Chebyshev, separates its 313 bins from the rest), so it
    /// was presumably not produced by an sRGB gamut test. Use [`AbBins::zhang2016`] to
    /// reproduce the paper's 313-way classifier exactly.
    ///
    /// # Panics
    ///
    /// If `grid` is not a positive finite number, or if the grid is so fine that more than
    /// 65 536 bins result (indices are `u16` in [`AbBins::soft_encode`]; g below about 0.65).
    pub fn in_gamut(grid: f32) -> Self {
        assert!(
            grid.is_finite() && grid > 0.0,
            "the ab grid size must be positive and finite, got {grid}"
        );
        let g = f64::from(grid);
        let n = ((10240.0 / g).ceil() as usize).clamp(1024, 4096);
        let lin: Vec<f64> = (0..=n)
            .map(|i| srgb_to_linear(i as f64 / n as f64))
            .collect();
        let cells = (0..=n)
            .into_par_iter()
            .map(|i| {
                let mut cells = BTreeSet::new();
                let u = lin[i];
                for &v in &lin {
                    let faces = [
                        [0.0, u, v],
                        [1.0, u, v],
                        [u, 0.0, v],
                        [u, 1.0, v],
                        [u, v, 0.0],
                        [u, v, 1.0],
                    ];
                    for face in faces {
                        let [_, a, b] = linear_to_lab(face);
                        cells.insert(((a / g).round() as i64, (b / g).round() as i64));
                    }
                }
                cells
            })
            .reduce(BTreeSet::new, |mut x, y| {
                x.extend(y);
                x
            });
        assert!(
            cells.len() <= usize::from(u16::MAX) + 1,
            "ab grid {grid} gives {} bins, more than u16 indices allow",
            cells.len()
        );
        // BTreeSet iterates (ia, ib) lexicographically: sorted by a, then b.
        let centers = cells
            .into_iter()
            .map(|(ia, ib)| [(ia as f64 * g) as f32, (ib as f64 * g) as f32])
            .collect();
        AbBins { centers, grid }
    }

    /// The Q = 313 bins of Zhang et al. 2016 exactly as released (`pts_in_hull.npy` of
    /// richzhang/colorization, grid 10, same order: by a, then b). These are the classes of the
    /// paper's network and of its released class prior; they contain all 262 bins of
    /// [`AbBins::in_gamut`]`(10.0)` plus 51 rim bins just outside the sRGB gamut.
    pub fn zhang2016() -> Self {
        let centers = ZHANG2016_ROWS
            .iter()
            .flat_map(|&(a, b_min, b_max)| {
                (b_min..=b_max)
                    .step_by(10)
                    .map(move |b| [f32::from(a), f32::from(b)])
            })
            .collect();
        AbBins {
            centers,
            grid: 10.0,
        }
    }

    /// The number of bins Q.
    pub fn len(&self) -> usize {
        self.centers.len()
    }

    /// Whether there are no bins (never the case for the constructors of this type).
    pub fn is_empty(&self) -> bool {
        self.centers.is_empty()
    }

    /// Squared Euclidean distance (in `f64`) from `ab` to bin `q`'s centre.
    #[inline]
    fn dist2(&self, q: usize, ab: [f64; 2]) -> f64 {
        let c = self.centers[q];
        let da = f64::from(c[0]) - ab[0];
        let db = f64::from(c[1]) - ab[1];
        da * da + db * db
    }

    /// The `k` nearest bins to `ab` as `(squared distance, index)`, nearest first; equal
    /// distances are ordered by lower index. Exact brute force, O(Q·k).
    fn k_nearest(&self, ab: [f32; 2], k: usize) -> Vec<(f64, usize)> {
        let ab = ab.map(f64::from);
        let k = k.min(self.len());
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        if k == 0 {
            return best;
        }
        for q in 0..self.len() {
            let d2 = self.dist2(q, ab);
            if best.len() < k || best.last().is_some_and(|&(worst, _)| d2 < worst) {
                let at = best.partition_point(|&(d, _)| d <= d2);
                best.insert(at, (d2, q));
                best.truncate(k);
            }
        }
        best
    }

    /// The index of the bin centre nearest to `ab` (Euclidean; on ties the lower index, i.e.
    /// the smaller (a, b)). For a colour inside a kept cell of [`AbBins::in_gamut`] this is
    /// that cell. The hard class label of Zhang et al. 2016 (§2.1, "one-hot").
    ///
    /// # Panics
    ///
    /// If there are no bins.
    pub fn nearest(&self, ab: [f32; 2]) -> usize {
        assert!(!self.is_empty(), "AbBins has no bins");
        self.k_nearest(ab, 1).first().map_or(0, |&(_, q)| q)
    }

    /// Soft-encodes a ground-truth ab value (Zhang et al. 2016 §2.1): its `neighbours` nearest
    /// bin centres (5 in the paper), weighted by a Gaussian kernel of their distance,
    /// `w_q ∝ exp(−‖ab − c_q‖² / 2σ²)` with σ = `sigma` (5 in the paper), normalised to sum 1.
    ///
    /// Returns `(bin index, weight)` pairs, nearest first (so weights are non-increasing and
    /// `result[0].0` is [`AbBins::nearest`]); ties in distance are ordered by index. At most
    /// Q pairs are returned; `neighbours == 0` gives an empty vector. A `sigma` ≤ 0 (or NaN)
    /// is the σ → 0 limit: weight 1 on the nearest bin, 0 on the others. The kernel is
    /// evaluated relative to the nearest distance, so far-away (out-of-gamut) inputs do not
    /// underflow.
    pub fn soft_encode(&self, ab: [f32; 2], neighbours: usize, sigma: f32) -> Vec<(u16, f32)> {
        let near = self.k_nearest(ab, neighbours);
        let Some(&(d0, _)) = near.first() else {
            return Vec::new();
        };
        let sigma = f64::from(sigma);
        let weights: Vec<f64> = if sigma > 0.0 {
            let inv = 1.0 / (2.0 * sigma * sigma);
            near.iter()
                .map(|&(d2, _)| (-(d2 - d0) * inv).exp())
                .collect()
        } else {
            (0..near.len())
                .map(|i| if i == 0 { 1.0 } else { 0.0 })
                .collect()
        };
        let total: f64 = weights.iter().sum();
        near.iter()
            .zip(&weights)
            .map(|(&(_, q), &w)| (q as u16, (w / total) as f32))
            .collect()
    }

    /// The empirical distribution of ab values over the bins: each value counts for its
    /// [`AbBins::nearest`] bin (hard assignment), and the counts are divided by their total
    /// so that the result sums to 1 (Zhang et al. 2016 §2.1, "the empirical probability of
    /// colors in the quantized ab space p ∈ Δ^Q", computed on ImageNet in the paper). An empty
    /// iterator gives all zeros.
    ///
    /// # Panics
    ///
    /// If there are no bins and the iterator is not empty.
    pub fn histogram(&self, ab_values: impl Iterator<Item = [f32; 2]>) -> Vec<f32> {
        let mut counts = vec![0u64; self.len()];
        let mut total = 0u64;
        for ab in ab_values {
            counts[self.nearest(ab)] += 1;
            total += 1;
        }
        if total == 0 {
            return vec![0.0; self.len()];
        }
        counts
            .iter()
            .map(|&c| (c as f64 / total as f64) as f32)
            .collect()
    }

    /// The smoothed distribution p̃ of Zhang et al. 2016 eq. 4: the empirical bin
    /// distribution convolved with a Gaussian kernel `G_σ` over the bin centres,
    /// `p̃_q ∝ Σ_r exp(−‖c_q − c_r‖² / 2σ²) p_r`, renormalised to sum 1. This is a Gaussian
    /// filter of the ab histogram restricted to the in-gamut bins (mass smoothed onto cells
    /// outside the bin set is dropped before renormalising). `sigma` ≤ 0 only renormalises.
    ///
    /// Negative or non-finite entries count as 0; if no mass is left, p̃ is uniform.
    ///
    /// # Panics
    ///
    /// If `empirical.len()` is not Q.
    pub fn smoothed_distribution(&self, empirical: &[f32], sigma: f32) -> Vec<f32> {
        self.smoothed_f64(empirical, sigma)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// [`AbBins::smoothed_distribution`] in `f64`.
    fn smoothed_f64(&self, empirical: &[f32], sigma: f32) -> Vec<f64> {
        assert_eq!(
            empirical.len(),
            self.len(),
            "empirical distribution has {} entries for {} bins",
            empirical.len(),
            self.len()
        );
        let p: Vec<f64> = empirical
            .iter()
            .map(|&v| {
                let v = f64::from(v);
                if v.is_finite() && v > 0.0 { v } else { 0.0 }
            })
            .collect();
        let sigma = f64::from(sigma);
        let mut smooth = if sigma > 0.0 {
            let inv = 1.0 / (2.0 * sigma * sigma);
            (0..self.len())
                .map(|q| {
                    let c = self.centers[q].map(f64::from);
                    p.iter()
                        .enumerate()
                        .filter(|&(_, &pr)| pr > 0.0)
                        .map(|(r, &pr)| (-self.dist2(r, c) * inv).exp() * pr)
                        .sum::<f64>()
                })
                .collect()
        } else {
            p
        };
        let total: f64 = smooth.iter().sum();
        if total > 0.0 && total.is_finite() {
            smooth.iter_mut().for_each(|v| *v /= total);
        } else {
            let uniform = 1.0 / self.len() as f64;
            smooth.iter_mut().for_each(|v| *v = uniform);
        }
        smooth
    }

    /// Class-rebalancing weights of Zhang et al. 2016 eq. 4:
    /// `w ∝ ((1 − λ) p̃ + λ/Q)⁻¹`, normalised so that `E_p̃[w] = Σ_q p̃_q w_q = 1`, where p̃ is
    /// [`AbBins::smoothed_distribution`]`(empirical, sigma)` (paper: λ = ½, σ = 5). Rare colours
    /// get large weights, frequent ones small; λ = 1 gives all ones. The loss weight of a pixel
    /// is `w[q*]` with `q*` its nearest bin (eq. 3), i.e. `w[soft_encode(..)[0].0]`.
    ///
    /// `empirical` is a bin distribution such as [`AbBins::histogram`] (it is renormalised, so
    /// counts work too). `lambda` is clamped to `[0, 1]`. With λ = 0 a bin of p̃ = 0 would
    /// have an infinite weight; such bins (which never occur) get weight 0 instead.
    ///
    /// # Panics
    ///
    /// If `empirical.len()` is not Q.
    pub fn rebalancing_weights(&self, empirical: &[f32], lambda: f32, sigma: f32) -> Vec<f32> {
        let smooth = self.smoothed_f64(empirical, sigma);
        let lambda = f64::from(lambda.clamp(0.0, 1.0));
        let uniform = 1.0 / self.len() as f64;
        let mut w: Vec<f64> = smooth
            .iter()
            .map(|&p| {
                let mix = (1.0 - lambda) * p + lambda * uniform;
                if mix > 0.0 { 1.0 / mix } else { 0.0 }
            })
            .collect();
        let expectation: f64 = smooth.iter().zip(&w).map(|(p, w)| p * w).sum();
        if expectation > 0.0 {
            w.iter_mut().for_each(|v| *v /= expectation);
        }
        w.into_iter().map(|v| v as f32).collect()
    }

    /// The annealed mean of a predicted bin distribution `z` (Zhang et al. 2016 eq. 5):
    /// `H(z) = E[f_T(z)]`, the expectation of the bin centres under the re-tempered
    /// distribution `f_T(z)_q = exp(log z_q / T) / Σ_r exp(log z_r / T)` (T = 0.38 in the
    /// paper). T = 1 is the plain mean, T → 0 the mode.
    ///
    /// Computed in `f64` in the log domain with the maximum subtracted, so small T does not
    /// overflow. `probs` need not sum to 1 (f_T renormalises); entries ≤ 0 or non-finite get
    /// weight 0. A `temperature` ≤ 0 (or NaN) returns the mode (the first largest entry); if no
    /// entry is positive the result is (0, 0), a neutral grey.
    ///
    /// # Panics
    ///
    /// If `probs.len()` is not Q.
    #[cfg(test)] // a reference the tests check the library against
    pub fn annealed_mean(&self, probs: &[f32], temperature: f32) -> [f32; 2] {
        assert_eq!(
            probs.len(),
            self.len(),
            "predicted distribution has {} entries for {} bins",
            probs.len(),
            self.len()
        );
        let logs: Vec<Option<f64>> = probs
            .iter()
            .map(|&z| {
                let z = f64::from(z);
                (z.is_finite() && z > 0.0).then(|| z.ln())
            })
            .collect();
        let Some(max_log) = logs.iter().flatten().copied().reduce(f64::max) else {
            return [0.0, 0.0];
        };
        let t = f64::from(temperature);
        if t.is_nan() || t <= 0.0 {
            let mode = logs.iter().position(|&l| l == Some(max_log)).unwrap_or(0);
            return self.centers[mode];
        }
        let (mut sum_w, mut sum_a, mut sum_b) = (0.0f64, 0.0f64, 0.0f64);
        for (c, l) in self.centers.iter().zip(&logs) {
            if let Some(l) = l {
                let w = ((l - max_log) / t).exp();
                sum_w += w;
                sum_a += w * f64::from(c[0]);
                sum_b += w * f64::from(c[1]);
            }
        }
        [(sum_a / sum_w) as f32, (sum_b / sum_w) as f32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// `AbBins::in_gamut(10.0)`, computed once for all tests.
    fn gamut10() -> &'static AbBins {
        static BINS: OnceLock<AbBins> = OnceLock::new();
        BINS.get_or_init(|| AbBins::in_gamut(10.0))
    }

    fn assert_close3(got: [f32; 3], want: [f64; 3], tol: f64) {
        for k in 0..3 {
            assert!(
                (f64::from(got[k]) - want[k]).abs() <= tol,
                "component {k}: got {got:?}, want {want:?}"
            );
        }
    }

    fn index_of(bins: &AbBins, ab: [f32; 2]) -> usize {
        bins.centers.iter().position(|&c| c == ab).unwrap()
    }

    #[test]
    fn derived_matrix_matches_lindbloom_and_white() {
        let lindbloom = [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ];
        for r in 0..3 {
            for c in 0..3 {
                assert!((XYZ_FROM_LINEAR_SRGB[r][c] - lindbloom[r][c]).abs() < 5e-8);
            }
            let row_sum: f64 = XYZ_FROM_LINEAR_SRGB[r].iter().sum();
            assert!((row_sum - D65_WHITE[r]).abs() < 1e-12);
        }
        let id = [1.0, 0.0, 0.0];
        let back = mat_vec(LINEAR_SRGB_FROM_XYZ, mat_vec(XYZ_FROM_LINEAR_SRGB, id));
        assert_close3(back.map(|v| v as f32), id, 1e-7);
    }

    #[test]
    fn reference_values() {
        // Published values (Lindbloom's calculator, colormath; skimage agrees to 4e-3).
        let cases: [([f32; 3], [f64; 3]); 6] = [
            ([1.0, 1.0, 1.0], [100.0, 0.0, 0.0]),
            ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
            ([1.0, 0.0, 0.0], [53.2408, 80.0925, 67.2032]),
            ([0.0, 1.0, 0.0], [87.7347, -86.1827, 83.1793]),
            ([0.0, 0.0, 1.0], [32.2970, 79.1875, -107.8602]),
            // sRGB 0.5 grey: linear 0.214041, L* = 116·∛0.214041 − 16.
            ([0.5, 0.5, 0.5], [53.3889, 0.0, 0.0]),
        ];
        for (rgb, lab) in cases {
            assert_close3(srgb_to_lab(rgb), lab, 1e-3);
            assert_close3(lab_to_srgb(lab.map(|v| v as f32)), rgb.map(f64::from), 1e-4);
        }
        // White and greys are exactly achromatic with the matrix-derived white.
        for v in [0.01f32, 0.2, 0.5, 0.9, 1.0] {
            let lab = srgb_to_lab([v; 3]);
            assert!(lab[1].abs() < 1e-5 && lab[2].abs() < 1e-5, "{lab:?}");
        }
        assert!((srgb_to_lab([1.0; 3])[0] - 100.0).abs() < 1e-5);
    }

    #[test]
    fn linear_segment_and_threshold_are_continuous() {
        // Below the 0.04045 threshold L* is on the linear segment: Y = c/12.92, L* = κ·Y.
        let c = 0.02f32;
        let want = KAPPA * (0.02 / 12.92);
        assert!((f64::from(srgb_to_lab([c; 3])[0]) - want).abs() < 1e-4);
        // Both transfer branches and both f branches meet.
        let below = srgb_to_linear(0.04045);
        let above = ((0.04045f64 + 0.055) / 1.055).powf(2.4);
        assert!((below - above).abs() < 1e-7);
        assert!((lab_f(EPSILON) - EPSILON.cbrt()).abs() < 1e-15);
        assert!((lab_f_inv(6.0 / 29.0) - EPSILON).abs() < 1e-15);
    }

    #[test]
    fn round_trip_over_grid() {
        let steps = 16;
        for r in 0..=steps {
            for g in 0..=steps {
                for b in 0..=steps {
                    let rgb = [r, g, b].map(|v| v as f32 / steps as f32);
                    let back = lab_to_srgb(srgb_to_lab(rgb));
                    assert_close3(back, rgb.map(f64::from), 1e-5);
                    assert!(in_gamut(back), "{rgb:?} -> {back:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip_random(r in 0.0f32..=1.0, g in 0.0f32..=1.0, b in 0.0f32..=1.0) {
            let rgb = [r, g, b];
            let back = lab_to_srgb(srgb_to_lab(rgb));
            for k in 0..3 {
                prop_assert!((back[k] - rgb[k]).abs() <= 1e-5, "{:?} -> {:?}", rgb, back);
            }
        }

        #[test]
        fn lab_round_trip_random(r in 0.0f32..=1.0, g in 0.0f32..=1.0, b in 0.0f32..=1.0) {
            let lab = srgb_to_lab([r, g, b]);
            let again = srgb_to_lab(lab_to_srgb(lab));
            for k in 0..3 {
                prop_assert!((again[k] - lab[k]).abs() <= 2e-3, "{:?} -> {:?}", lab, again);
            }
        }
    }

    #[test]
    fn gamut_test() {
        assert!(in_gamut(lab_to_srgb([100.0, 0.0, 0.0])));
        assert!(in_gamut(lab_to_srgb([53.2408, 80.0925, 67.2032])));
        assert!(!in_gamut(lab_to_srgb([50.0, 100.0, 100.0])));
        assert!(!in_gamut(lab_to_srgb([95.0, -80.0, 0.0])));
        assert!(!in_gamut([f32::NAN, 0.5, 0.5]));
        assert!(!in_gamut([1.01, 0.5, 0.5]));
    }

    fn rgb_image() -> Image {
        // 2×3 image: red, green, blue / white, black, mid grey.
        let (r, g, b) = (
            [1.0, 0.0, 0.0, 1.0, 0.0, 0.5],
            [0.0, 1.0, 0.0, 1.0, 0.0, 0.5],
            [0.0, 0.0, 1.0, 1.0, 0.0, 0.5],
        );
        Image {
            channels: 3,
            height: 2,
            width: 3,
            data: [r, g, b].concat(),
        }
    }

    #[test]
    fn image_conversions() {
        let img = rgb_image();
        let lab = image_to_lab(&img);
        assert_eq!((lab.channels, lab.height, lab.width), (3, 2, 3));
        for i in 0..6 {
            let px = [img.data[i], img.data[6 + i], img.data[12 + i]];
            let want = srgb_to_lab(px);
            assert_eq!([lab.data[i], lab.data[6 + i], lab.data[12 + i]], want);
        }
        assert!((lab.at(0, 0, 0) - 53.2408).abs() < 1e-3);
        assert!((lab.at(2, 0, 2) + 107.8602).abs() < 1e-3);
        let back = lab_to_image(&lab);
        for (x, y) in back.data.iter().zip(&img.data) {
            assert!((x - y).abs() < 1e-5);
        }
        let l = lightness(&img);
        assert_eq!((l.channels, l.height, l.width), (1, 2, 3));
        for (x, y) in l.data.iter().zip(lab.plane(0)) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn gray_image_is_achromatic() {
        let gray = Image {
            channels: 1,
            height: 1,
            width: 4,
            data: vec![0.0, 0.25, 0.5, 1.0],
        };
        let lab = image_to_lab(&gray);
        assert_eq!(lab.channels, 3);
        assert!(lab.plane(1).iter().chain(lab.plane(2)).all(|&v| v == 0.0));
        let rgb = image_to_lab(&gray.clone().to_channels(3));
        for (x, y) in lab.plane(0).iter().zip(rgb.plane(0)) {
            assert!((x - y).abs() < 1e-5);
        }
        assert_eq!(lightness(&gray).data, lab.plane(0).to_vec());
        // Back to RGB: the grey levels, on all three channels.
        let back = lab_to_image(&lab);
        for c in 0..3 {
            for (x, y) in back.plane(c).iter().zip(&gray.data) {
                assert!((x - y).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn lab_to_image_clamps() {
        let lab = Image {
            channels: 3,
            height: 1,
            width: 2,
            // Planar: pixel 0 = (50, 100, 100) (out of gamut), pixel 1 = (100, 0, 0) (white).
            data: vec![50.0, 100.0, 100.0, 0.0, 100.0, 0.0],
        };
        assert!(!in_gamut(lab_to_srgb([50.0, 100.0, 100.0])));
        let rgb = lab_to_image(&lab);
        assert!(rgb.data.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(rgb.at(0, 0, 0), 1.0); // red clipped from above
        assert_eq!(rgb.at(2, 0, 0), 0.0); // blue clipped from below
        for c in 0..3 {
            assert!((rgb.at(c, 0, 1) - 1.0).abs() < 1e-6);
        }
        assert!(!in_gamut(lab_to_srgb([50.0, 100.0, -120.0])));
    }

    #[test]
    #[should_panic(expected = "1- or 3-channel")]
    fn two_channels_rejected() {
        image_to_lab(&Image::filled(2, 1, 1, 0.5));
    }

    #[test]
    fn in_gamut_bin_count_and_order() {
        let bins = gamut10();
        // Cells meeting the sRGB gamut's ab projection (see `AbBins::in_gamut`); the paper's
        // released set has 313 (a superset).
        assert_eq!(bins.len(), 262);
        assert_eq!(bins.grid, 10.0);
        assert!(
            bins.centers
                .windows(2)
                .all(|w| (w[0][0], w[0][1]) < (w[1][0], w[1][1]))
        );
        assert!(
            bins.centers
                .iter()
                .all(|c| c[0] % 10.0 == 0.0 && c[1] % 10.0 == 0.0)
        );
        assert!(bins.centers.contains(&[0.0, 0.0]));
        // Extremes of the gamut: a in [-86.2, 98.2] and b in [-107.9, 94.5] round to these.
        let (amin, amax) = bins
            .centers
            .iter()
            .fold((0f32, 0f32), |(lo, hi), c| (lo.min(c[0]), hi.max(c[0])));
        let (bmin, bmax) = bins
            .centers
            .iter()
            .fold((0f32, 0f32), |(lo, hi), c| (lo.min(c[1]), hi.max(c[1])));
        assert_eq!((amin, amax, bmin, bmax), (-90.0, 100.0, -110.0, 90.0));
        let zhang = AbBins::zhang2016();
        assert!(bins.centers.iter().all(|c| zhang.centers.contains(c)));
        // Every sRGB colour lies in a kept cell, so its nearest bin is its own cell.
        let steps = 12;
        for r in 0..=steps {
            for g in 0..=steps {
                for b in 0..=steps {
                    let lab = srgb_to_lab([r, g, b].map(|v| v as f32 / steps as f32));
                    let c = bins.centers[bins.nearest([lab[1], lab[2]])];
                    assert!((c[0] - lab[1]).abs() <= 5.0 && (c[1] - lab[2]).abs() <= 5.0);
                }
            }
        }
    }

    #[test]
    fn coarser_grid() {
        let bins = AbBins::in_gamut(20.0);
        assert!(bins.len() > 60 && bins.len() < 262, "{}", bins.len());
        assert!(
            bins.centers
                .iter()
                .all(|c| c[0] % 20.0 == 0.0 && c[1] % 20.0 == 0.0)
        );
    }

    #[test]
    fn zhang2016_bins() {
        let bins = AbBins::zhang2016();
        assert_eq!(bins.len(), 313);
        assert_eq!(bins.centers[0], [-90.0, 50.0]);
        assert_eq!(bins.centers[1], [-90.0, 60.0]);
        assert_eq!(bins.centers[312], [100.0, 0.0]);
        assert!(
            bins.centers
                .windows(2)
                .all(|w| (w[0][0], w[0][1]) < (w[1][0], w[1][1]))
        );
        assert_eq!(bins.centers.iter().filter(|c| c[0] == 0.0).count(), 18);
    }

    #[test]
    fn nearest_bin() {
        let bins = gamut10();
        for (q, &c) in bins.centers.iter().enumerate() {
            assert_eq!(bins.nearest(c), q);
            assert_eq!(bins.nearest([c[0] + 4.9, c[1] - 4.9]), q);
        }
        // Exactly between (0, 0) and (10, 0): the lower index, (0, 0).
        assert_eq!(bins.nearest([5.0, 0.0]), index_of(bins, [0.0, 0.0]));
        // Far outside the gamut: the closest rim bin.
        let far = bins.centers[bins.nearest([0.0, 500.0])];
        assert_eq!(far[1], 90.0);
    }

    #[test]
    fn soft_encoding() {
        let bins = gamut10();
        for ab in [[3.0f32, -7.0], [47.3, 12.1], [-80.0, 80.0], [95.0, -60.0]] {
            let enc = bins.soft_encode(ab, 5, 5.0);
            assert_eq!(enc.len(), 5);
            let sum: f32 = enc.iter().map(|&(_, w)| w).sum();
            assert!((sum - 1.0).abs() < 1e-6);
            assert_eq!(usize::from(enc[0].0), bins.nearest(ab));
            assert!(enc.windows(2).all(|w| w[0].1 >= w[1].1));
            let mut idx: Vec<u16> = enc.iter().map(|&(q, _)| q).collect();
            idx.dedup();
            assert_eq!(idx.len(), 5);
        }
        // On an interior centre: itself and its 4 axial neighbours at distance 10,
        // weights 1 : e^{-2} (exp(-100/50)).
        let enc = bins.soft_encode([0.0, 0.0], 5, 5.0);
        let e = (-2.0f64).exp();
        let z = 1.0 + 4.0 * e;
        assert_eq!(usize::from(enc[0].0), index_of(bins, [0.0, 0.0]));
        assert!((f64::from(enc[0].1) - 1.0 / z).abs() < 1e-6);
        let mut ring: Vec<[f32; 2]> = enc[1..]
            .iter()
            .map(|&(q, w)| {
                assert!((f64::from(w) - e / z).abs() < 1e-6);
                bins.centers[usize::from(q)]
            })
            .collect();
        ring.sort_by(|x, y| x.partial_cmp(y).unwrap());
        assert_eq!(ring, [[-10.0, 0.0], [0.0, -10.0], [0.0, 10.0], [10.0, 0.0]]);
        // Midway between (0, 0) and (10, 0): both at distance 5 share the top weight, the
        // next three at distance √125 share e^{-2} of it; ties go to the lower index.
        let enc = bins.soft_encode([5.0, 0.0], 5, 5.0);
        assert_eq!(usize::from(enc[0].0), index_of(bins, [0.0, 0.0]));
        assert_eq!(usize::from(enc[1].0), index_of(bins, [10.0, 0.0]));
        assert!((enc[0].1 - enc[1].1).abs() < 1e-7);
        let z = 2.0 + 3.0 * e;
        assert!((f64::from(enc[0].1) - 1.0 / z).abs() < 1e-6);
        for &(q, w) in &enc[2..] {
            assert!((f64::from(w) - e / z).abs() < 1e-6);
            let c = bins.centers[usize::from(q)];
            assert!(c[0] == 0.0 || c[0] == 10.0);
            assert_eq!(c[1].abs(), 10.0);
        }
        // Limits: σ ≤ 0 is one-hot, 0 neighbours is empty, more than Q is Q.
        let hard = bins.soft_encode([3.0, 3.0], 5, 0.0);
        assert_eq!(hard[0].1, 1.0);
        assert!(hard[1..].iter().all(|&(_, w)| w == 0.0));
        assert!(bins.soft_encode([3.0, 3.0], 0, 5.0).is_empty());
        assert_eq!(bins.soft_encode([3.0, 3.0], 10_000, 5.0).len(), bins.len());
        // Far outside the gamut the weights do not underflow.
        let far = bins.soft_encode([0.0, 400.0], 5, 5.0);
        let sum: f32 = far.iter().map(|&(_, w)| w).sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }

    /// Spreads a soft encoding into a dense distribution over the bins.
    fn dense(bins: &AbBins, enc: &[(u16, f32)]) -> Vec<f32> {
        let mut z = vec![0.0; bins.len()];
        for &(q, w) in enc {
            z[usize::from(q)] = w;
        }
        z
    }

    #[test]
    fn annealed_mean_decoding() {
        let bins = AbBins::zhang2016();
        for &c in &bins.centers {
            let z = dense(&bins, &bins.soft_encode(c, 5, 5.0));
            let out = bins.annealed_mean(&z, 0.01);
            assert!((out[0] - c[0]).abs() < 1e-3 && (out[1] - c[1]).abs() < 1e-3);
            assert_eq!(bins.annealed_mean(&z, 0.0), c);
        }
        // T = 1: the plain mean; on an interior centre the encoding is symmetric.
        let z = dense(&bins, &bins.soft_encode([20.0, 30.0], 5, 5.0));
        let out = bins.annealed_mean(&z, 1.0);
        assert!((out[0] - 20.0).abs() < 1e-4 && (out[1] - 30.0).abs() < 1e-4);
        // Two bins by hand: p = (0.8, 0.2) at T = 0.5 → weights 0.64 : 0.04.
        let (i, j) = (index_of(&bins, [0.0, 0.0]), index_of(&bins, [10.0, 20.0]));
        let mut z = vec![0.0; bins.len()];
        z[i] = 0.8;
        z[j] = 0.2;
        let w = 0.04 / 0.68;
        let out = bins.annealed_mean(&z, 0.5);
        assert!((f64::from(out[0]) - 10.0 * w).abs() < 1e-5);
        assert!((f64::from(out[1]) - 20.0 * w).abs() < 1e-5);
        let out = bins.annealed_mean(&z, 1.0);
        assert!((out[0] - 2.0).abs() < 1e-5 && (out[1] - 4.0).abs() < 1e-5);
        // The paper's T = 0.38 lies between the mean and the mode.
        let out = bins.annealed_mean(&z, 0.38);
        assert!(out[0] > 0.0 && out[0] < 2.0);
        // Scale invariance (f_T renormalises) and the degenerate input.
        let scaled: Vec<f32> = z.iter().map(|v| v * 7.0).collect();
        assert_eq!(
            bins.annealed_mean(&scaled, 0.5),
            bins.annealed_mean(&z, 0.5)
        );
        assert_eq!(bins.annealed_mean(&vec![0.0; bins.len()], 0.38), [0.0, 0.0]);
    }

    #[test]
    fn histogram_counts_nearest_bins() {
        let bins = gamut10();
        let (i, j) = (index_of(bins, [0.0, 0.0]), index_of(bins, [30.0, -40.0]));
        let values = [[0.0, 0.0], [1.0, -2.0], [31.0, -44.0], [-3.0, 4.0]];
        let h = bins.histogram(values.into_iter());
        assert_eq!(h.len(), bins.len());
        assert_eq!(h[i], 0.75);
        assert_eq!(h[j], 0.25);
        assert_eq!(h.iter().sum::<f32>(), 1.0);
        assert!(bins.histogram(std::iter::empty()).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn smoothing() {
        let bins = gamut10();
        let i = index_of(bins, [0.0, 0.0]);
        let mut p = vec![0.0; bins.len()];
        p[i] = 1.0;
        assert_eq!(bins.smoothed_distribution(&p, 0.0), p);
        let s = bins.smoothed_distribution(&p, 5.0);
        let total: f32 = s.iter().sum();
        assert!((total - 1.0).abs() < 1e-5);
        // A point mass spreads to its neighbours with ratio e^{-2} (axial), e^{-4} (diagonal).
        let axial = s[index_of(bins, [10.0, 0.0])] / s[i];
        let diag = s[index_of(bins, [10.0, 10.0])] / s[i];
        assert!((f64::from(axial) - (-2.0f64).exp()).abs() < 1e-6);
        assert!((f64::from(diag) - (-4.0f64).exp()).abs() < 1e-6);
        // No mass: uniform.
        let u = bins.smoothed_distribution(&vec![0.0; bins.len()], 5.0);
        assert!(u.iter().all(|&v| (v - 1.0 / 262.0).abs() < 1e-7));
    }

    #[test]
    fn rebalancing() {
        let bins = gamut10();
        let q = bins.len();
        // Grey-heavy empirical distribution: 60% on (0, 0), 10% on (10, 0), rest spread.
        let (i, j) = (index_of(bins, [0.0, 0.0]), index_of(bins, [10.0, 0.0]));
        let rare = 0.3 / (q - 2) as f32;
        let mut p = vec![rare; q];
        p[i] = 0.6;
        p[j] = 0.1;
        let w = bins.rebalancing_weights(&p, 0.5, 5.0);
        assert_eq!(w.len(), q);
        let smooth = bins.smoothed_distribution(&p, 5.0);
        let expectation: f64 = smooth
            .iter()
            .zip(&w)
            .map(|(&p, &w)| f64::from(p) * f64::from(w))
            .sum();
        assert!((expectation - 1.0).abs() < 1e-5, "{expectation}");
        let far = index_of(bins, [60.0, -100.0]);
        assert!(w[far] > w[j] && w[j] > w[i], "{} {} {}", w[far], w[j], w[i]);
        // Weights are a decreasing function of the smoothed probability, exactly eq. 4.
        let mut order: Vec<usize> = (0..q).collect();
        order.sort_by(|&a, &b| smooth[a].partial_cmp(&smooth[b]).unwrap());
        assert!(order.windows(2).all(|o| w[o[0]] >= w[o[1]] * (1.0 - 1e-6)));
        for k in [i, j, far] {
            let mix = 0.5 * f64::from(smooth[k]) + 0.5 / q as f64;
            let ratio = f64::from(w[k]) * mix;
            let ref_ratio = f64::from(w[i]) * (0.5 * f64::from(smooth[i]) + 0.5 / q as f64);
            assert!((ratio / ref_ratio - 1.0).abs() < 1e-5);
        }
        // λ = 1 (all uniform): every weight is 1. λ = 0 with a uniform p̃: also all 1.
        assert!(
            bins.rebalancing_weights(&p, 1.0, 5.0)
                .iter()
                .all(|&v| (v - 1.0).abs() < 1e-5)
        );
        let flat = vec![1.0 / q as f32; q];
        let w0 = bins.rebalancing_weights(&flat, 0.0, 0.0);
        assert!(w0.iter().all(|&v| (v - 1.0).abs() < 1e-4));
        // Counts work as well as probabilities.
        let counts: Vec<f32> = p.iter().map(|v| v * 1000.0).collect();
        let wc = bins.rebalancing_weights(&counts, 0.5, 5.0);
        assert!(wc.iter().zip(&w).all(|(a, b)| (a - b).abs() < 1e-4 * b));
    }
}

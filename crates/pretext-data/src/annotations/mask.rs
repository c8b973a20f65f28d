//! Instance masks as COCO stores them: polygons, or run-length encodings (RLE) of the mask in
//! column-major pixel order, plain (`counts` a list) or compressed (`counts` a string).

/// An object's mask.
#[derive(Clone, Debug, PartialEq)]
pub enum Mask {
    /// Polygons `[x1, y1, x2, y2, …]` in pixels; the mask is their union.
    Polygons(Vec<Vec<f64>>),
    /// Alternating runs of 0s and 1s (starting with 0s) over the `height × width` pixels in
    /// column-major order (down the first column, then the next), COCO's RLE.
    Rle {
        /// Mask height.
        height: usize,
        /// Mask width.
        width: usize,
        /// Run lengths.
        counts: Vec<u64>,
    },
}

impl Mask {
    /// What is wrong with the mask of an object in a `width` × `height` image, if anything: a
    /// polygon of fewer than three points, an odd number of coordinates or a coordinate that
    /// is not a number; an RLE of another size than the image's or whose runs do not cover it.
    pub fn problem(&self, width: usize, height: usize) -> Option<String> {
        match self {
            Mask::Polygons(polygons) => polygons.iter().find_map(|p| {
                if p.len() < 6 || p.len() % 2 != 0 {
                    Some(format!(
                        "a polygon has {} coordinates; it needs an even number, at least 6",
                        p.len()
                    ))
                } else if p.iter().any(|v| !v.is_finite()) {
                    Some("a polygon coordinate is not a number".to_string())
                } else {
                    None
                }
            }),
            Mask::Rle {
                height: h,
                width: w,
                counts,
            } => {
                if (*h, *w) != (height, width) {
                    return Some(format!(
                        "the RLE mask is {h}×{w} (height × width), the image {height}×{width}"
                    ));
                }
                let total = counts.iter().fold(0u64, |sum, &c| sum.saturating_add(c));
                (total != (h * w) as u64).then(|| {
                    format!("the RLE mask's runs cover {total} pixels, not the {h}×{w} image's")
                })
            }
        }
    }

    /// The mask as `height × width` bytes (1 inside, row-major). Polygons are filled by the
    /// even-odd rule at pixel centres (pycocotools rasterises them on a 5× finer grid, so
    /// their borders can differ by a pixel).
    pub fn decode(&self, height: usize, width: usize) -> Vec<u8> {
        let mut mask = vec![0u8; height * width];
        match self {
            Mask::Rle { counts, .. } => {
                let mut k = 0usize;
                for (run, &count) in counts.iter().enumerate() {
                    let end = k.saturating_add(count as usize).min(height * width);
                    if run % 2 == 1 {
                        for j in k..end {
                            mask[(j % height) * width + j / height] = 1;
                        }
                    }
                    k = end;
                }
            }
            Mask::Polygons(polygons) => {
                for polygon in polygons {
                    fill_polygon(&mut mask, height, width, polygon);
                }
            }
        }
        mask
    }
}

/// Sets the pixels of `mask` whose centres lie inside `polygon` (even-odd rule).
fn fill_polygon(mask: &mut [u8], height: usize, width: usize, polygon: &[f64]) {
    let points: Vec<(f64, f64)> = polygon.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let mut crossings = Vec::new();
    for y in 0..height {
        let cy = y as f64 + 0.5;
        crossings.clear();
        for (i, &(x0, y0)) in points.iter().enumerate() {
            let (x1, y1) = points[(i + 1) % points.len()];
            if (y0 <= cy) != (y1 <= cy) {
                crossings.push(x0 + (cy - y0) / (y1 - y0) * (x1 - x0));
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            // Pixel x is inside when its centre x + 0.5 lies in [pair[0], pair[1]).
            let first = (pair[0] - 0.5).ceil().max(0.0) as usize;
            let end = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(width);
            for x in first..end {
                mask[y * width + x] = 1;
            }
        }
    }
}

/// Decodes COCO's compressed RLE string (pycocotools' `rleFrString`): each count is written
/// in 5-bit groups, least significant first, as the characters `48 + group`, bit 5 of each
/// saying that another group follows and bit 4 of the last the sign; from the third count on,
/// what is written is the difference to the count two places before.
pub fn decode_rle_string(text: &str) -> Result<Vec<u64>, String> {
    let bytes = text.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = match bytes.get(p) {
                Some(&b) if (48..48 + 64).contains(&b) => i64::from(b - 48),
                Some(&b) => {
                    return Err(format!(
                        "character {:?} at {p} is not in COCO's RLE alphabet",
                        b as char
                    ));
                }
                None => return Err("the RLE string ends inside a count".to_string()),
            };
            if k >= 12 {
                return Err(format!("count at {p} is too long"));
            }
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        counts.push(x);
    }
    counts
        .into_iter()
        .map(|c| u64::try_from(c).map_err(|_| format!("a run length decodes to {c}")))
        .collect()
}

/// Encodes run lengths as COCO's compressed RLE string (the inverse of
/// [`decode_rle_string`]).
pub fn encode_rle_string(counts: &[u64]) -> String {
    let mut text = String::new();
    for (i, &count) in counts.iter().enumerate() {
        let mut x = count as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut c = x & 0x1f;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            text.push((48 + c as u8) as char);
            if !more {
                break;
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 3×2 mask (height 3, width 2) with pixels (y, x) = (1, 0), (2, 0) and (0, 1) set:
    /// column-major it reads 0 1 1 1 0 0, runs [1, 3, 2].
    #[test]
    fn rle_runs_go_down_the_columns() {
        let mask = Mask::Rle {
            height: 3,
            width: 2,
            counts: vec![1, 3, 2],
        };
        assert_eq!(mask.decode(3, 2), vec![0, 1, 1, 0, 1, 0]);
        assert_eq!(mask.problem(2, 3), None);
        assert!(mask.problem(3, 2).unwrap().contains("the image 2×3"));
        let short = Mask::Rle {
            height: 3,
            width: 2,
            counts: vec![1, 3],
        };
        assert!(short.problem(2, 3).unwrap().contains("cover 4 pixels"));
    }

    /// pycocotools' strings for small run lists (computed by hand from its algorithm: 5-bit
    /// groups, +48, continuation bit 0x20, sign bit 0x10 of the last group, differences from
    /// the third count on).
    #[test]
    fn rle_strings_match_hand_encoded_values() {
        // 1 → '1'; 3 → '3'; 2 → '2'.
        assert_eq!(encode_rle_string(&[1, 3, 2]), "132");
        // 100 = 0b11_00100: groups 4 (+0x20 more) then 3 → 'T' (48 + 36), '3'.
        assert_eq!(encode_rle_string(&[100]), "T3");
        // The fourth count 1 is written as 1 − 3 = −2: group 0x1e with the sign bit → 'N'.
        assert_eq!(encode_rle_string(&[0, 3, 5, 1]), "035N");
        assert_eq!(decode_rle_string("035N").unwrap(), vec![0, 3, 5, 1]);
        assert!(decode_rle_string("1 2").unwrap_err().contains("alphabet"));
        assert!(decode_rle_string("T").unwrap_err().contains("ends inside"));
    }

    #[test]
    fn a_polygon_fills_the_pixels_whose_centres_it_holds() {
        // The square [1, 3] × [1, 3] holds the centres of pixels (1..3, 1..3).
        let mask = Mask::Polygons(vec![vec![1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0, 3.0]]);
        let decoded = mask.decode(4, 4);
        let expected = [
            0, 0, 0, 0, //
            0, 1, 1, 0, //
            0, 1, 1, 0, //
            0, 0, 0, 0,
        ];
        assert_eq!(decoded, expected);
        let bad = Mask::Polygons(vec![vec![1.0, 1.0, 3.0, 1.0]]);
        assert!(bad.problem(4, 4).unwrap().contains("at least 6"));
    }

    proptest! {
        #[test]
        fn rle_strings_round_trip(counts in proptest::collection::vec(0u64..100_000, 0..40)) {
            prop_assert_eq!(decode_rle_string(&encode_rle_string(&counts)).unwrap(), counts);
        }
    }
}

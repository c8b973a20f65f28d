//! Permutation sets for the jigsaw pretext task (M. Noroozi and P. Favaro, "Unsupervised
//! Learning of Visual Representations by Solving Jigsaw Puzzles", ECCV 2016, Algorithm 1).
//!
//! A 3×3 puzzle has 9! = 362 880 tile orders; the network classifies which of a fixed, much
//! smaller set of them was applied. The paper builds that set greedily: a first permutation
//! drawn uniformly at random, then repeatedly the remaining permutation with the largest mean
//! Hamming distance to the permutations already chosen. Larger distances make the classes
//! easier to tell apart; the paper's ablation (its Table 3) varies the set size, the selection
//! rule and a minimum-distance constraint.
//!
//! Ties are broken uniformly at random. This matters: there are many ties at every step, and
//! always taking the first candidate in lexicographic order yields sets whose minimum distance
//! is 2 for every size (checked for 10 to 300 permutations), while random tie-breaking gives
//! e.g. minimum 3 for 100 permutations with most seeds (13 of 20 seeds; 2 with 6, 4 with 1).
//!
//! Sets are saved as plain text ([`PermutationSet::save`]): a `#` header line, then one
//! permutation per line as 9 space-separated 0-based tile indices.

use crate::DataError;
use crate::rng::stream_rng;
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;

/// One order of the 9 tiles of a 3×3 jigsaw puzzle: a permutation of `0..9` (tiles numbered
/// row-major). See [`PermutationSet::apply`] for how it is applied (Noroozi & Favaro 2016).
pub type Permutation = [u8; 9];

/// Number of tiles of a 3×3 puzzle.
const TILES: usize = 9;

/// 9! — the number of orders of 9 tiles.
pub const ALL_PERMUTATIONS: usize = 362_880;

/// The Hamming distance between two permutations: the number of positions at which they
/// differ (Noroozi & Favaro 2016, Sec. 3.3). Two distinct permutations differ in at least 2
/// positions, so the distance is 0 or 2..=9.
#[cfg(test)] // a reference the tests check the library against
pub fn hamming(a: &Permutation, b: &Permutation) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// How each step of Algorithm 1 of Noroozi & Favaro (2016) chooses the next permutation among
/// the remaining candidates, by their mean Hamming distance to the permutations chosen so far.
/// Ties are broken uniformly at random in all three rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The candidate with the largest mean distance (the paper's Algorithm 1, `argmax`; the
    /// paper's "maximal" sets, e.g. 1000 permutations with average distance 8.00).
    Maximal,
    /// A candidate of middling mean distance (the paper's "average" set, 1000 permutations with
    /// average distance 6.35). The paper does not spell this rule out, and VISSL's
    /// `generate_jigsaw_permutations.py` leaves its `avg` method unimplemented; this follows
    /// the `mean` selection of B. Brattoli's PyTorch reimplementation
    /// (`JigsawPuzzlePytorch/select_permutations.py`): sort the `m` remaining candidates by mean
    /// distance and take the one at a rank drawn uniformly from `m/2 − 10 .. m/2 + 10`, i.e. one
    /// of the 20 candidates around the median. **This does not reproduce the paper's 6.35**:
    /// 1000 permutations measure 7.97–7.99 (seeds 0–4), barely below [`Maximal`](Self::Maximal)
    /// (8.01), because most candidates lie about 8 from any set. (Aiming at the midpoint of the
    /// smallest and largest candidate means instead gives 7.5–7.8, no closer.)
    Average,
    /// The candidate with the smallest mean distance (`argmin` in Algorithm 1; the paper's
    /// "minimal" set, 1000 permutations with average distance 3.99). Measured: 1000
    /// permutations average 5.46 (no 1000 distinct permutations come near 3.99: even all 720
    /// that fix 3 given tiles average 5.01); 100 permutations average 4.00.
    Minimal,
}

/// A set of jigsaw permutations; the index of a permutation in [`perms`](Self::perms) is the
/// class label the jigsaw network predicts (Noroozi & Favaro 2016).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermutationSet {
    /// The permutations, in the order Algorithm 1 selected them (or the file listed them).
    pub perms: Vec<Permutation>,
}

/// A permutation packed into 36 bits, one 4-bit nibble per position, so that the Hamming
/// distance is an XOR, a nibble fold and a popcount.
type Code = u64;

/// The lowest bit of each of the 9 nibbles.
const NIBBLE_LOW_BITS: u64 = 0x1_1111_1111;

fn encode(p: &Permutation) -> Code {
    p.iter()
        .enumerate()
        .fold(0, |acc, (i, &t)| acc | (u64::from(t) << (4 * i)))
}

fn decode(code: Code) -> Permutation {
    std::array::from_fn(|i| ((code >> (4 * i)) & 0xF) as u8)
}

/// Hamming distance of two packed permutations.
#[inline]
fn packed_distance(a: Code, b: Code) -> u32 {
    let x = a ^ b;
    let y = x | (x >> 1);
    let y = y | (y >> 2);
    (y & NIBBLE_LOW_BITS).count_ones()
}

/// All 9! permutations of `0..9`, packed, in lexicographic order.
fn all_codes() -> Vec<Code> {
    let mut p: Permutation = std::array::from_fn(|i| i as u8);
    let mut out = Vec::with_capacity(ALL_PERMUTATIONS);
    loop {
        out.push(encode(&p));
        // Next permutation in lexicographic order.
        let Some(i) = (0..TILES - 1).rev().find(|&i| p[i] < p[i + 1]) else {
            break;
        };
        let Some(j) = (i + 1..TILES).rev().find(|&j| p[j] > p[i]) else {
            break;
        };
        p.swap(i, j);
        p[i + 1..].reverse();
    }
    out
}

/// The remaining candidates of Algorithm 1 with, for each, the running sum and (under a
/// minimum-distance constraint) the running minimum of its distances to the selected
/// permutations (structure of arrays, kept in lexicographic order).
struct Candidates {
    codes: Vec<Code>,
    sums: Vec<u32>,
    /// Empty when there is no constraint (`threshold <= 2`).
    mins: Vec<u8>,
    /// Candidates closer than this to a selected permutation are dropped.
    threshold: u32,
}

impl Candidates {
    fn all(threshold: u32) -> Self {
        let codes = all_codes();
        let n = codes.len();
        Candidates {
            codes,
            sums: vec![0; n],
            mins: if threshold > 2 {
                vec![u8::MAX; n]
            } else {
                Vec::new()
            },
            threshold,
        }
    }

    fn len(&self) -> usize {
        self.codes.len()
    }

    /// Accounts for the newly selected candidate `index` in O(9!): removes it, adds its distance
    /// to every other candidate's sum and, under a constraint, minimum, dropping the candidates
    /// whose minimum falls below the threshold.
    fn select(&mut self, index: usize) {
        let chosen = self.codes.remove(index);
        self.sums.remove(index);
        if self.mins.is_empty() {
            // No constraint: distinct permutations are always ≥ 2 apart.
            for (sum, &code) in self.sums.iter_mut().zip(&self.codes) {
                *sum += packed_distance(code, chosen);
            }
            return;
        }
        self.mins.remove(index);
        let mut w = 0;
        for r in 0..self.codes.len() {
            let code = self.codes[r];
            let d = packed_distance(code, chosen);
            let min = u32::from(self.mins[r]).min(d);
            if min < self.threshold {
                continue;
            }
            self.codes[w] = code;
            self.sums[w] = self.sums[r] + d;
            self.mins[w] = min as u8;
            w += 1;
        }
        self.codes.truncate(w);
        self.sums.truncate(w);
        self.mins.truncate(w);
    }

    /// Index of a uniformly random candidate among those whose sum is `value`, given that
    /// `ties` of them have it.
    fn nth_with_sum(&self, value: u32, ties: usize, rng: &mut impl Rng) -> usize {
        let k = rng.random_range(0..ties);
        self.sums
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s == value)
            .nth(k)
            .map_or(0, |(i, _)| i)
    }

    /// Index of the next permutation under `selection`; the set must be non-empty. (Comparing
    /// sums is comparing means: every candidate's sum runs over the same selected set.)
    fn pick(&self, selection: Selection, selected: usize, rng: &mut impl Rng) -> usize {
        match selection {
            Selection::Maximal | Selection::Minimal => {
                let mut best = if selection == Selection::Maximal {
                    0
                } else {
                    u32::MAX
                };
                let mut ties = 0;
                for &s in &self.sums {
                    let better = if selection == Selection::Maximal {
                        s > best
                    } else {
                        s < best
                    };
                    if better {
                        best = s;
                        ties = 1;
                    } else if s == best {
                        ties += 1;
                    }
                }
                self.nth_with_sum(best, ties, rng)
            }
            Selection::Average => {
                // Counting sort of the sums (each at most 9 × selected).
                let mut hist = vec![0usize; TILES * selected + 1];
                for &s in &self.sums {
                    hist[s as usize] += 1;
                }
                let m = self.len() / 2;
                let lo = m.saturating_sub(10);
                let hi = (m + 10).min(self.len());
                let rank = rng.random_range(lo..hi);
                // The sum value at that rank of the sorted order; with random order among equal
                // sums, the candidate at the rank is uniform among those with that value.
                let mut below = 0;
                for (value, &count) in hist.iter().enumerate() {
                    if rank < below + count {
                        return self.nth_with_sum(value as u32, count, rng);
                    }
                    below += count;
                }
                0
            }
        }
    }
}

impl PermutationSet {
    /// Generates `count` permutations of 9 tiles with Algorithm 1 of Noroozi & Favaro (2016):
    /// enumerate all 9! permutations, choose the first uniformly at random, then repeatedly
    /// choose among the remaining candidates by their mean Hamming distance to the already
    /// selected set according to `selection` (for [`Selection::Maximal`], the largest), ties
    /// broken uniformly at random.
    ///
    /// With `min_distance` d > 2, candidates at distance below d from any selected permutation
    /// are excluded, so every pair in the result is at least d apart (d ≤ 2 changes nothing:
    /// distinct permutations always differ in ≥ 2 positions). **If the candidates run out before
    /// `count` permutations are selected, generation stops and the smaller set is returned.**
    /// Measured (seeds 0–4), asking for 1000: d ≤ 5 gives all 1000, d = 6 about 340, d = 7
    /// about 81, d = 8 about 19, d = 9 exactly 9 (a Latin square; no 10 permutations are
    /// pairwise 9 apart). The paper's constrained rows (95 permutations with d = 3, 85/4, 71/5,
    /// 35/6, 10/7, 7/8, 6/9) are reproduced by asking for *that* count with that d: e.g.
    /// `generate(95, 3, Maximal, _)` has average 8.08 and minimum 3, `generate(7, 8, …)` 9.00
    /// and 9.
    ///
    /// The result depends only on the arguments (randomness from
    /// [`stream_rng`]`(seed, "jigsaw-permutations", 0)`). Each step costs O(9!) — a running sum
    /// and minimum per candidate are updated — so 1000 permutations take about a second in a
    /// release build.
    ///
    /// # Errors
    /// [`DataError::Spec`] if `count` is 0 or above 9!, or `min_distance` is above 9.
    pub fn generate(
        count: usize,
        min_distance: usize,
        selection: Selection,
        seed: u64,
    ) -> Result<Self, DataError> {
        if count == 0 || count > ALL_PERMUTATIONS {
            return Err(DataError::Spec(format!(
                "jigsaw permutation count must be between 1 and 9! = {ALL_PERMUTATIONS}, got {count}"
            )));
        }
        if min_distance > TILES {
            return Err(DataError::Spec(format!(
                "jigsaw minimum Hamming distance must be at most 9, got {min_distance}"
            )));
        }
        let mut rng = stream_rng(seed, "jigsaw-permutations", 0);
        let mut candidates = Candidates::all(min_distance as u32);
        let mut perms = Vec::with_capacity(count);
        let mut next = rng.random_range(0..candidates.len());
        loop {
            perms.push(decode(candidates.codes[next]));
            if perms.len() == count {
                break;
            }
            candidates.select(next);
            if candidates.len() == 0 {
                break;
            }
            next = candidates.pick(selection, perms.len(), &mut rng);
        }
        Ok(PermutationSet { perms })
    }

    /// Number of permutations (the number of jigsaw classes, Noroozi & Favaro 2016).
    pub fn len(&self) -> usize {
        self.perms.len()
    }

    /// Whether the set has no permutation (never the case for a generated or loaded set).
    pub fn is_empty(&self) -> bool {
        self.perms.is_empty()
    }

    /// Mean Hamming distance over all unordered pairs of the set (the "average Hamming
    /// distance" column of Noroozi & Favaro 2016, Table 3); 0 for fewer than two permutations.
    pub fn average_distance(&self) -> f64 {
        let n = self.perms.len();
        if n < 2 {
            return 0.0;
        }
        let codes: Vec<Code> = self.perms.iter().map(encode).collect();
        let mut total = 0u64;
        for (i, &a) in codes.iter().enumerate() {
            for &b in &codes[i + 1..] {
                total += u64::from(packed_distance(a, b));
            }
        }
        total as f64 / (n * (n - 1) / 2) as f64
    }

    /// Smallest Hamming distance between two permutations of the set (the "minimum Hamming
    /// distance" column of Noroozi & Favaro 2016, Table 3); 0 for fewer than two permutations
    /// or when the set holds a duplicate.
    pub fn min_distance(&self) -> usize {
        let codes: Vec<Code> = self.perms.iter().map(encode).collect();
        let mut min = None::<u32>;
        for (i, &a) in codes.iter().enumerate() {
            for &b in &codes[i + 1..] {
                let d = packed_distance(a, b);
                min = Some(min.map_or(d, |m| m.min(d)));
            }
        }
        min.unwrap_or(0) as usize
    }

    /// One-line summary of the set in the terms of Noroozi & Favaro (2016, Table 3):
    /// `"N permutations, average Hamming distance X.XX, minimum D"`.
    pub fn describe(&self) -> String {
        format!(
            "{} permutations, average Hamming distance {:.2}, minimum {}",
            self.len(),
            self.average_distance(),
            self.min_distance()
        )
    }

    /// Writes the set as text, atomically (a temporary file in the same folder, then renamed
    /// over `path`): a header line `# ` + [`describe`](Self::describe), then one permutation
    /// per line as 9 space-separated 0-based tile indices, in label order. The format is read
    /// back by [`load`](Self::load) (permutation sets of Noroozi & Favaro 2016).
    ///
    /// # Errors
    /// [`DataError::Io`] naming `path` if the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        let mut text = format!("# {}\n", self.describe());
        for p in &self.perms {
            let line: Vec<String> = p.iter().map(u8::to_string).collect();
            text.push_str(&line.join(" "));
            text.push('\n');
        }
        crate::atomic::write(path, text.as_bytes())
    }

    /// Reads a set written by [`save`](Self::save) (or by hand in the same format): lines
    /// starting with `#` and blank lines are skipped; every other line must hold 9
    /// whitespace-separated tile indices forming a permutation of `0..9`. Permutation sets
    /// after Noroozi & Favaro (2016).
    ///
    /// # Errors
    /// [`DataError::Io`] if the file cannot be read; [`DataError::Format`] naming the file and
    /// the 1-based line number if a line is not a permutation of `0..9`, repeats an earlier
    /// line's permutation, or the file holds no permutation.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let mut perms = Vec::new();
        let mut first_line: HashMap<Permutation, usize> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |msg: String| DataError::format(path, format!("line {line_no}: {msg}"));
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens.len() != TILES {
                return Err(bad(format!(
                    "expected 9 tile indices, found {} in {line:?}",
                    tokens.len()
                )));
            }
            let mut p: Permutation = [0; TILES];
            let mut seen = [false; TILES];
            for (slot, token) in p.iter_mut().zip(&tokens) {
                let t: u8 = token
                    .parse()
                    .ok()
                    .filter(|&t| usize::from(t) < TILES)
                    .ok_or_else(|| bad(format!("{token:?} is not a tile index 0..=8")))?;
                if seen[usize::from(t)] {
                    return Err(bad(format!(
                        "tile {t} appears twice in {line:?}: not a permutation of 0..9"
                    )));
                }
                seen[usize::from(t)] = true;
                *slot = t;
            }
            if let Some(earlier) = first_line.insert(p, line_no) {
                return Err(bad(format!(
                    "permutation {line:?} duplicates line {earlier}"
                )));
            }
            perms.push(p);
        }
        if perms.is_empty() {
            return Err(DataError::format(path, "no permutation in the file"));
        }
        Ok(PermutationSet { perms })
    }

    /// Shuffles 9 tiles with permutation `index`: **output position `i` holds input tile
    /// `perm[i]`**, i.e. `out[i] = tiles[perm[i]]` (tiles numbered row-major in the 3×3 grid).
    /// This is the convention of Noroozi & Favaro (2016) and of the reference loaders: the
    /// permutation lists, for each slot fed to the network, which tile goes there. For example
    /// `perm = [2, 0, 1, 3, 4, 5, 6, 7, 8]` maps tiles `[a, b, c, …]` to `[c, a, b, …]`.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn apply<T: Clone>(&self, index: usize, tiles: &[T; 9]) -> [T; 9] {
        let p = &self.perms[index];
        std::array::from_fn(|i| tiles[usize::from(p[i])].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_permutation(p: &Permutation) -> bool {
        let mut seen = [false; 9];
        for &t in p {
            if t >= 9 || seen[usize::from(t)] {
                return false;
            }
            seen[usize::from(t)] = true;
        }
        true
    }

    fn assert_valid(set: &PermutationSet) {
        assert!(set.perms.iter().all(is_permutation));
        let unique: HashSet<_> = set.perms.iter().collect();
        assert_eq!(unique.len(), set.len(), "duplicate permutations");
    }

    const ID: Permutation = [0, 1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn permutations_hamming_hand_examples() {
        assert_eq!(hamming(&ID, &ID), 0);
        assert_eq!(hamming(&ID, &[1, 0, 2, 3, 4, 5, 6, 7, 8]), 2);
        assert_eq!(hamming(&ID, &[1, 2, 0, 3, 4, 5, 6, 7, 8]), 3);
        // Reversal keeps the centre tile.
        assert_eq!(hamming(&ID, &[8, 7, 6, 5, 4, 3, 2, 1, 0]), 8);
        // A cyclic shift moves every tile.
        assert_eq!(hamming(&ID, &[1, 2, 3, 4, 5, 6, 7, 8, 0]), 9);
        assert_eq!(
            hamming(&[3, 1, 4, 0, 5, 8, 2, 6, 7], &[3, 1, 4, 0, 5, 8, 7, 6, 2]),
            2
        );
    }

    #[test]
    fn permutations_packed_distance_matches_hamming() {
        let codes = all_codes();
        let mut rng = stream_rng(7, "test", 0);
        for _ in 0..10_000 {
            let a = codes[rng.random_range(0..codes.len())];
            let b = codes[rng.random_range(0..codes.len())];
            let (pa, pb) = (decode(a), decode(b));
            assert_eq!(encode(&pa), a);
            assert_eq!(packed_distance(a, b) as usize, hamming(&pa, &pb));
        }
    }

    #[test]
    fn permutations_enumeration_is_all_of_them_in_order() {
        let codes = all_codes();
        assert_eq!(codes.len(), ALL_PERMUTATIONS);
        assert_eq!(decode(codes[0]), ID);
        assert_eq!(decode(codes[1]), [0, 1, 2, 3, 4, 5, 6, 8, 7]);
        assert_eq!(
            decode(codes[ALL_PERMUTATIONS - 1]),
            [8, 7, 6, 5, 4, 3, 2, 1, 0]
        );
        let unique: HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), ALL_PERMUTATIONS);
        assert!(codes.iter().all(|&c| is_permutation(&decode(c))));
    }

    #[test]
    fn permutations_set_statistics_on_hand_set() {
        let set = PermutationSet {
            perms: vec![
                ID,
                [1, 0, 2, 3, 4, 5, 6, 7, 8], // 2 from ID
                [1, 2, 3, 4, 5, 6, 7, 8, 0], // 9 from ID, 8 from the previous
            ],
        };
        assert_eq!(set.min_distance(), 2);
        assert!((set.average_distance() - 19.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            set.describe(),
            "3 permutations, average Hamming distance 6.33, minimum 2"
        );
        let single = PermutationSet { perms: vec![ID] };
        assert_eq!(single.average_distance(), 0.0);
        assert_eq!(single.min_distance(), 0);
    }

    #[test]
    fn permutations_apply_convention() {
        let set = PermutationSet {
            perms: vec![ID, [2, 0, 1, 3, 4, 5, 8, 7, 6]],
        };
        let tiles = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        assert_eq!(set.apply(0, &tiles), tiles);
        assert_eq!(
            set.apply(1, &tiles),
            ["c", "a", "b", "d", "e", "f", "i", "h", "g"]
        );
    }

    #[test]
    fn permutations_generate_small_set_is_valid_reproducible_and_seeded() {
        let a = PermutationSet::generate(100, 0, Selection::Maximal, 1).unwrap();
        assert_eq!(a.len(), 100);
        assert_valid(&a);
        let b = PermutationSet::generate(100, 0, Selection::Maximal, 1).unwrap();
        assert_eq!(a, b);
        let c = PermutationSet::generate(100, 0, Selection::Maximal, 2).unwrap();
        assert_ne!(a.perms, c.perms);
        assert_ne!(a.perms[0], c.perms[0]);
    }

    #[test]
    fn permutations_maximal_100_matches_paper() {
        // Lecture / paper Table 3: 100 permutations, average 8.08, minimum 2; the research
        // notes' random-tie-break reference got minimum 3. Both occur, depending on the seed
        // (13 of seeds 0..20 give 3, 6 give 2, 1 gives 4); first-index tie-breaking gives 2.
        let mut at_least_3 = 0;
        for seed in 0..5 {
            let set = PermutationSet::generate(100, 0, Selection::Maximal, seed).unwrap();
            assert_eq!(set.len(), 100);
            assert!(
                (set.average_distance() - 8.08).abs() < 0.01,
                "{}",
                set.describe()
            );
            assert!((2..=4).contains(&set.min_distance()), "{}", set.describe());
            at_least_3 += usize::from(set.min_distance() >= 3);
        }
        assert!(
            at_least_3 >= 2,
            "random tie-breaking should often give minimum 3"
        );
    }

    #[test]
    fn permutations_generate_count_one_and_argument_errors() {
        let one = PermutationSet::generate(1, 0, Selection::Maximal, 3).unwrap();
        assert_eq!(one.len(), 1);
        assert_valid(&one);
        for (count, d) in [(0, 0), (ALL_PERMUTATIONS + 1, 0), (10, 10)] {
            assert!(matches!(
                PermutationSet::generate(count, d, Selection::Maximal, 0),
                Err(DataError::Spec(_))
            ));
        }
    }

    #[test]
    fn permutations_maximal_1000_matches_paper() {
        let set = PermutationSet::generate(1000, 0, Selection::Maximal, 0).unwrap();
        assert_eq!(set.len(), 1000);
        assert_valid(&set);
        // Paper / lecture: 1000 permutations, average 8.00, minimum 2 (research notes' reference
        // 8.01); measured 8.01 for seeds 0..5.
        assert!(
            (set.average_distance() - 8.00).abs() < 0.02,
            "{}",
            set.describe()
        );
        assert_eq!(set.min_distance(), 2);
    }

    #[test]
    fn permutations_minimal_sets_have_low_average() {
        // Paper / lecture: 1000 minimal permutations average 3.99. Measured: 5.46 for 1000 (no
        // 1000 distinct permutations get near 4: even all 720 that fix 3 given tiles average
        // 5.01) and 4.00 for 100.
        let set = PermutationSet::generate(1000, 0, Selection::Minimal, 0).unwrap();
        assert_eq!(set.len(), 1000);
        assert_valid(&set);
        assert!(
            (set.average_distance() - 5.46).abs() < 0.05,
            "{}",
            set.describe()
        );
        assert_eq!(set.min_distance(), 2);
        let small = PermutationSet::generate(100, 0, Selection::Minimal, 0).unwrap();
        assert!(
            (small.average_distance() - 4.00).abs() < 0.05,
            "{}",
            small.describe()
        );
        assert_eq!(small.min_distance(), 2);
    }

    #[test]
    fn permutations_average_1000_is_below_maximal() {
        // Brattoli's median rule: measured 7.97-7.99 (paper's "average" row: 6.35).
        let set = PermutationSet::generate(1000, 0, Selection::Average, 0).unwrap();
        assert_eq!(set.len(), 1000);
        assert_valid(&set);
        let avg = set.average_distance();
        assert!(avg > 7.9 && avg < 7.995, "{}", set.describe());
    }

    #[test]
    fn permutations_average_picks_near_the_median() {
        // After the first pick, the candidates' distances to it are 2..=9 with the
        // derangement-like counts below; the median rank falls among the distance-8 ones.
        let mut c = Candidates::all(0);
        c.select(0);
        let mut rng = stream_rng(0, "test", 0);
        for _ in 0..50 {
            let i = c.pick(Selection::Average, 1, &mut rng);
            assert_eq!(c.sums[i], 8);
            let i = c.pick(Selection::Maximal, 1, &mut rng);
            assert_eq!(c.sums[i], 9);
            let i = c.pick(Selection::Minimal, 1, &mut rng);
            assert_eq!(c.sums[i], 2);
        }
    }

    #[test]
    fn permutations_min_distance_constraint_rows() {
        // Research notes' reference (count, d → average, minimum), asking for the row's count.
        for (count, d, avg, min) in [
            (95, 3, 8.08, 3),
            (85, 4, 8.09, 4),
            (35, 6, 8.23, 6),
            (10, 7, 8.80, 7),
            (7, 8, 9.00, 9),
            (6, 9, 9.00, 9),
        ] {
            for seed in [0, 1] {
                let set = PermutationSet::generate(count, d, Selection::Maximal, seed).unwrap();
                assert_valid(&set);
                assert_eq!(set.len(), count);
                let msg = format!("d={d} seed={seed}: {}", set.describe());
                assert!((set.average_distance() - avg).abs() < 0.01, "{msg}");
                assert_eq!(set.min_distance(), min, "{msg}");
            }
        }
    }

    #[test]
    fn permutations_constraint_stops_when_candidates_run_out() {
        // At most 9 permutations are pairwise 9 apart (each position must hold 9 different
        // tiles), and the greedy choice always completes a Latin square.
        for seed in 0..3 {
            let set = PermutationSet::generate(1000, 9, Selection::Maximal, seed).unwrap();
            assert_eq!(set.len(), 9);
            assert_eq!(set.min_distance(), 9);
        }
        // Measured 18-20 (d = 8) and 80-83 (d = 7) over seeds 0..5.
        let d8 = PermutationSet::generate(1000, 8, Selection::Maximal, 0).unwrap();
        assert!((15..=25).contains(&d8.len()), "{}", d8.describe());
        assert_eq!(d8.min_distance(), 8);
        let d7 = PermutationSet::generate(1000, 7, Selection::Maximal, 0).unwrap();
        assert!((70..=95).contains(&d7.len()), "{}", d7.describe());
        assert_eq!(d7.min_distance(), 7);
        assert_valid(&d7);
        // The constraint also holds for the other selection rules.
        let minimal = PermutationSet::generate(50, 5, Selection::Minimal, 0).unwrap();
        assert!(minimal.min_distance() >= 5, "{}", minimal.describe());
    }

    #[test]
    fn permutations_save_load_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("perms.txt");
        let set = PermutationSet::generate(50, 0, Selection::Maximal, 5).unwrap();
        set.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), format!("# {}", set.describe()));
        let first: Vec<u8> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(first, set.perms[0]);
        assert_eq!(PermutationSet::load(&path).unwrap(), set);
        // Overwriting goes through the same atomic path.
        let other = PermutationSet::generate(5, 0, Selection::Minimal, 6).unwrap();
        other.save(&path).unwrap();
        assert_eq!(PermutationSet::load(&path).unwrap(), other);
        let leftovers = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary file left behind");
    }

    #[test]
    fn permutations_load_errors_name_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let good = "0 1 2 3 4 5 6 7 8";
        let cases = [
            (
                "short.txt",
                format!("# h\n{good}\n0 1 2 3 4 5 6 7\n"),
                "line 3",
            ),
            (
                "long.txt",
                format!("{good}\n0 1 2 3 4 5 6 7 8 0\n"),
                "line 2",
            ),
            (
                "range.txt",
                format!("{good}\n\n0 1 2 3 4 5 6 7 9\n"),
                "line 3",
            ),
            ("word.txt", "0 1 2 x 4 5 6 7 8\n".to_string(), "line 1"),
            (
                "repeat.txt",
                format!("{good}\n0 1 2 3 4 5 6 7 7\n"),
                "line 2",
            ),
            (
                "dup.txt",
                format!("{good}\n8 7 6 5 4 3 2 1 0\n{good}\n"),
                "line 3",
            ),
        ];
        for (name, text, line) in cases {
            let path = tmp.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = PermutationSet::load(&path).unwrap_err();
            assert!(matches!(err, DataError::Format { .. }), "{name}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(name), "{msg}");
            assert!(msg.contains(line), "{name}: {msg}");
        }
        let dup = PermutationSet::load(&tmp.path().join("dup.txt")).unwrap_err();
        assert!(dup.to_string().contains("duplicates line 1"), "{dup}");
        let empty = tmp.path().join("empty.txt");
        std::fs::write(&empty, "# nothing\n\n").unwrap();
        let err = PermutationSet::load(&empty).unwrap_err();
        assert!(err.to_string().contains("empty.txt"), "{err}");
        let missing = tmp.path().join("missing.txt");
        assert!(matches!(
            PermutationSet::load(&missing),
            Err(DataError::Io { .. })
        ));
    }

    /// Prints the paper's Table 3 settings over several seeds (`cargo test --release
    /// permutations_table -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn permutations_table_report() {
        let settings: [(usize, usize, Selection); 19] = [
            (1000, 0, Selection::Maximal),
            (1000, 0, Selection::Average),
            (1000, 0, Selection::Minimal),
            (100, 0, Selection::Maximal),
            (1000, 3, Selection::Maximal),
            (1000, 4, Selection::Maximal),
            (1000, 5, Selection::Maximal),
            (1000, 6, Selection::Maximal),
            (1000, 7, Selection::Maximal),
            (1000, 8, Selection::Maximal),
            (1000, 9, Selection::Maximal),
            (100, 0, Selection::Minimal),
            (95, 3, Selection::Maximal),
            (85, 4, Selection::Maximal),
            (71, 5, Selection::Maximal),
            (35, 6, Selection::Maximal),
            (10, 7, Selection::Maximal),
            (7, 8, Selection::Maximal),
            (6, 9, Selection::Maximal),
        ];
        for (count, d, sel) in settings {
            for seed in 0..5 {
                let t = std::time::Instant::now();
                let set = PermutationSet::generate(count, d, sel, seed).unwrap();
                println!(
                    "count {count} d {d} {sel:?} seed {seed}: {} ({:.2?})",
                    set.describe(),
                    t.elapsed()
                );
            }
        }
    }
}

//! Permutation-set files for jigsaw.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files = pretext_fuzz::Files::write("", &[("perms.txt", data)]);
    let _ = pretext_data::permutations::PermutationSet::load(&files.join("perms.txt"));
});

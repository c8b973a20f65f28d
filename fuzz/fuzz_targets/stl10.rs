//! STL-10 binaries: images, labels and class names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pretext_data::{Split, stl10::Stl10Dataset};

fuzz_target!(|data: &[u8]| {
    let parts = pretext_fuzz::split(data, 3);
    let files = pretext_fuzz::Files::write(
        "stl10_binary",
        &[
            ("test_X.bin", parts[0]),
            ("test_y.bin", parts[1]),
            ("class_names.txt", parts[2]),
        ],
    );
    if let Ok(set) = Stl10Dataset::open(files.path(), Split::Test) {
        pretext_fuzz::read_all(&set);
    }
});

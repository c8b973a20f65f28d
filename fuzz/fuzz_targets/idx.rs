//! IDX files (MNIST, Fashion-MNIST): images and labels, raw or gzip-compressed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pretext_data::{DatasetKind, Split, idx::IdxDataset};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let parts = pretext_fuzz::split(data, 2);
    let gz = if flags & 1 == 1 { ".gz" } else { "" };
    let images = format!("t10k-images-idx3-ubyte{gz}");
    let labels = format!("t10k-labels-idx1-ubyte{gz}");
    let files = pretext_fuzz::Files::write("", &[(&images, parts[0]), (&labels, parts[1])]);
    if let Ok(set) = IdxDataset::open(files.path(), Split::Test, DatasetKind::FashionMnist) {
        pretext_fuzz::read_all(&set);
    }
});

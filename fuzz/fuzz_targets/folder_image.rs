//! A folder of images: one file, decoded as PNG, JPEG or WebP by its name.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pretext_data::{Split, folder::FolderDataset, source::OpenOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let name = ["a.png", "a.jpg", "a.webp"][flags as usize % 3];
    let files = pretext_fuzz::Files::write("images", &[(name, data)]);
    let options = OpenOptions {
        skip_corrupt: flags & 0x80 != 0,
    };
    if let Ok(set) = FolderDataset::open(&files.join("images"), Split::Train, &options) {
        pretext_fuzz::read_all(&set);
    }
});

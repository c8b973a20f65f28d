//! CIFAR-10 and CIFAR-100 binary batches, with their class-name files.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pretext_data::{DatasetKind, Split, cifar::CifarDataset};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let parts = pretext_fuzz::split(data, 2);
    let (kind, folder, batch, names) = match flags & 1 {
        0 => (
            DatasetKind::Cifar10,
            "cifar-10-batches-bin",
            "test_batch.bin",
            "batches.meta.txt",
        ),
        _ => (
            DatasetKind::Cifar100,
            "cifar-100-binary",
            "test.bin",
            "fine_label_names.txt",
        ),
    };
    let files = pretext_fuzz::Files::write(folder, &[(batch, parts[0]), (names, parts[1])]);
    if let Ok(set) = CifarDataset::open(files.path(), Split::Test, kind) {
        pretext_fuzz::read_all(&set);
    }
});

//! Checkpoints: the header and sections, then the encoder they describe loaded from them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files = pretext_fuzz::Files::write("", &[("checkpoint.ckpt", data)]);
    let path = files.join("checkpoint.ckpt");
    let _ = pretext::checkpoint::Checkpoint::load(&path);
    let _ = pretext::checkpoint::load_encoder(&path, &burn::prelude::Device::flex());
});

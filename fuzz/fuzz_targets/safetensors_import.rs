//! Safetensors weights imported into an encoder (`train.init_encoder`), under PyTorch's names.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let device = burn::prelude::Device::flex();
    let config = pretext::encoder::EncoderConfig {
        width: 0.25,
        ..Default::default()
    }
    .resolved(1, 28);
    let encoder = pretext::device::seeded(&device, 0, || config.init(&device));
    let files = pretext_fuzz::Files::write("", &[("weights.safetensors", data)]);
    let _ = pretext::export::import(encoder, &files.join("weights.safetensors"));
    let _ = pretext::export::read_info(&files.join("weights.safetensors"));
});

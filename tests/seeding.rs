//! Seeded initialisation is reproducible even when several threads build networks at once.
//! (Its own test binary: a test in another file that draws random weights outside
//! `device::seeded` would share burn's global generator with this one.)

use burn::prelude::*;
use pretext::device::seeded;
use pretext::encoder::{Encoder, EncoderConfig};

fn weights(config: &EncoderConfig, device: &Device) -> Vec<f32> {
    let encoder = seeded(device, 7, || config.init(device));
    let first = match encoder {
        Encoder::ConvNet(net) => net.layers[0].conv.weight.val(),
        Encoder::ResNet(net) => net.conv1.weight.val(),
        Encoder::Vit(net) => net.patch_embed.proj.weight.val(),
    };
    first.into_data().try_to_vec().unwrap()
}

#[test]
fn seeded_networks_are_identical_even_when_built_concurrently() {
    let device = Device::flex();
    let config = EncoderConfig {
        in_channels: 1,
        width: 0.25,
        ..EncoderConfig::default()
    }
    .resolved(1, 28);
    let reference = weights(&config, &device);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (config, device) = (config.clone(), device.clone());
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| weights(&config, &device))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in handles {
        for w in handle.join().unwrap() {
            assert_eq!(w, reference);
        }
    }
}

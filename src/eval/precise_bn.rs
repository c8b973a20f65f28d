//! Batch-norm statistics re-estimated on the downstream images before a frozen evaluation:
//! PreciseBN (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm", §3.1; fvcore's
//! `update_bn_stats`).
//!
//! A pretrained encoder's running statistics were gathered on its pretext task's inputs —
//! 7-pixel jigsaw tiles, images with a grey block, lightness of photo crops, augmented
//! views — and a random encoder's are the identity (mean 0, variance 1). Features read with
//! them measure that mismatch as much as what the encoder learned, and tilt every comparison
//! between methods and against random init. Re-estimating puts every encoder on the images
//! it is evaluated on: a label-free pass in training mode over `images` un-augmented images
//! of the downstream train split (a seeded random choice, so the batches mix the classes),
//! in batches of `batch_size`, after which each batch norm's running mean and variance are
//! the equal-weight averages of its `K` batch statistics,
//!
//! ```text
//! μ = (1/K) Σₖ μₖ        σ² = (1/K) Σₖ σ²ₖ
//! ```
//!
//! computed exactly by running batch `k = 0, 1, …` with momentum `1/(k + 1)`. The batch
//! variances are the biased ones burn's batch norm keeps (docs/deviations.md). Nothing is
//! learned: weights and the affine parameters stay as they are.

use super::features::batch;
use crate::encoder::Encoder;
use crate::input::InputSpec;
use anyhow::{Result, ensure};
use burn::module::Module;
use burn::prelude::*;
use pretext_data::ImageSource;

/// The seed of the images' choice: fixed, so every encoder evaluated on a dataset is
/// re-estimated on the same images.
const SEED: u64 = 0x5052_4543_4953_4542; // "PRECISEB"

/// `encoder` with every batch norm's running statistics re-estimated on `images` images of
/// `source` (all of them when it has fewer), `batch_size` at a time. Works on `device`'s
/// training (autodiff) form and returns the encoder on `device`.
///
/// # Errors
/// When an image cannot be read, or `images` or `batch_size` is 0.
pub fn reestimate(
    encoder: &Encoder,
    input: &InputSpec,
    source: &dyn ImageSource,
    images: usize,
    batch_size: usize,
    device: &Device,
) -> Result<Encoder> {
    ensure!(
        images > 0 && batch_size > 0,
        "precise batch norm needs at least one image and a batch size above 0"
    );
    let training = device.clone().without_autodiff().autodiff();
    // Training mode for the batch norms, but nothing tracked: without `no_grad` every
    // batch's activations stayed in the autodiff graph, waiting for a backward pass that
    // never comes (24 GB after a few dozen batches of 64-px images).
    let mut net = encoder.valid().to_device(&training).train().no_grad();
    let momenta: Vec<f64> = net.batch_norms_mut().iter().map(|bn| bn.momentum).collect();
    let mut chosen = pretext_data::loader::epoch_order(source.len(), SEED, 0, true);
    chosen.truncate(images);
    for (k, indices) in chosen.chunks(batch_size).enumerate() {
        for bn in net.batch_norms_mut() {
            bn.momentum = 1.0 / (k + 1) as f64;
        }
        let _ = net.forward(batch(input, source, indices, &training)?);
    }
    for (bn, momentum) in net.batch_norms_mut().into_iter().zip(momenta) {
        bn.momentum = momentum;
    }
    Ok(net.valid().to_device(device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{Architecture, EncoderConfig};
    use pretext_data::Image;

    /// Ten 4×4 gray images of varied pixels.
    fn images() -> pretext_data::source::InMemory {
        let images = (0..10)
            .map(|i| {
                let data = (0..16)
                    .map(|p| ((i * 7 + p * 3) % 11) as f32 / 11.0)
                    .collect();
                Image {
                    channels: 1,
                    height: 4,
                    width: 4,
                    data,
                }
            })
            .collect();
        pretext_data::source::InMemory::new(images, vec![Some(0); 10])
    }

    fn stats(encoder: &mut Encoder) -> Vec<(Vec<f32>, Vec<f32>)> {
        encoder
            .batch_norms_mut()
            .into_iter()
            .map(|bn| {
                let values = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
                (
                    values(bn.running_mean.value()),
                    values(bn.running_var.value()),
                )
            })
            .collect()
    }

    /// The first layer's batch statistics, computed by hand: its input is the convolution
    /// of the prepared images, so run that convolution alone on each batch and average the
    /// per-channel means and biased variances with equal weight.
    #[test]
    fn running_statistics_are_the_average_of_the_batch_statistics() {
        let device = Device::flex();
        let config = EncoderConfig {
            arch: Architecture::ConvnetSmall,
            width: 0.25,
            in_channels: 1,
            ..Default::default()
        }
        .resolved(1, 4);
        let encoder = crate::device::seeded(&device, 7, || config.init(&device));
        let input = InputSpec {
            space: crate::input::InputSpace::Native,
            channels: 1,
            image_size: 4,
            mean: vec![0.5],
            std: vec![0.25],
        };
        let source = images();
        // 10 images in batches of 4: batches of 4, 4 and 2, each weighted 1/3.
        let mut out = reestimate(&encoder, &input, &source, 10, 4, &device).unwrap();
        let Encoder::ConvNet(net) = &encoder else {
            unreachable!()
        };
        let conv = &net.layers[0].conv;
        let order = pretext_data::loader::epoch_order(10, SEED, 0, true);
        let channels = conv.weight.dims()[0];
        let (mut mean, mut var) = (vec![0.0f64; channels], vec![0.0f64; channels]);
        for indices in order.chunks(4) {
            let x = batch(&input, &source, indices, &device).unwrap();
            let y = conv.forward(x); // [n, c, 4, 4]
            let [n, c, h, w] = y.dims();
            let v: Vec<f32> = y.into_data().try_to_vec().unwrap();
            for ch in 0..c {
                let values: Vec<f64> = (0..n)
                    .flat_map(|i| (0..h * w).map(move |p| (i * c + ch) * h * w + p))
                    .map(|at| f64::from(v[at]))
                    .collect();
                let m = values.iter().sum::<f64>() / values.len() as f64;
                let s = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / values.len() as f64;
                mean[ch] += m / 3.0;
                var[ch] += s / 3.0;
            }
        }
        let (got_mean, got_var) = &stats(&mut out)[0];
        for ch in 0..channels {
            assert!((f64::from(got_mean[ch]) - mean[ch]).abs() < 1e-5, "{ch}");
            assert!((f64::from(got_var[ch]) - var[ch]).abs() < 1e-5, "{ch}");
        }
        // Every layer moved off the identity statistics, and the momenta are restored.
        let mut before = encoder.clone();
        for ((m0, v0), (m1, v1)) in stats(&mut before).iter().zip(stats(&mut out)) {
            assert!(m0 != &m1 && v0 != &v1);
        }
        let momenta: Vec<f64> = out.batch_norms_mut().iter().map(|bn| bn.momentum).collect();
        assert!(momenta.iter().all(|&m| m == 0.1), "{momenta:?}");
    }

    #[test]
    fn resnets_list_every_batch_norm() {
        let device = Device::flex();
        let config = EncoderConfig {
            arch: Architecture::Resnet18,
            width: 0.125,
            in_channels: 1,
            ..Default::default()
        }
        .resolved(1, 8);
        let mut net = config.init(&device);
        // Stem 1 + 8 blocks × 2 + 3 shortcuts.
        assert_eq!(net.batch_norms_mut().len(), 20);
        let resnet50 = EncoderConfig {
            arch: Architecture::Resnet50,
            ..config
        };
        // Stem 1 + 16 blocks × 3 + 4 shortcuts.
        assert_eq!(resnet50.init(&device).batch_norms_mut().len(), 53);
    }
}

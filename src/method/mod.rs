//! Self-supervised methods and the one trait they all implement.
//!
//! A method is one file: how it turns a raw image into training inputs and labels (CPU side,
//! in the data loader's threads), which modules it adds on top of the encoder, and its loss.
//! The trainer drives any [`Method`] without knowing which one it is; the `methods!` list
//! below maps names to types ([`registry`]).

pub mod embedding;
pub mod gather;
pub mod registry;
pub mod siamese;
pub mod target;
pub mod views;

registry::methods! {
    "rotation" => rotation::Rotation,
    "relative-patch" => relative_patch::RelativePatch,
    "jigsaw" => jigsaw::Jigsaw,
    "colorization" => colorization::Colorization,
    "inpainting" => inpainting::Inpainting,
    "byol" => byol::Byol,
    "simclr" => simclr::Simclr,
    "simsiam" => simsiam::Simsiam,
    "barlow-twins" => barlow_twins::BarlowTwins,
    "vicreg" => vicreg::Vicreg,
    "moco" => moco::Moco,
    "dino" => dino::Dino,
    "mae" => mae::Mae,
    "simmim" => simmim::SimMim,
    "ijepa" => ijepa::Ijepa,
    "supervised" => supervised::Supervised,
    "detection" => detection::ObjectDetection,
    "segmentation" => segmentation::Segmentation,
}

use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use burn::prelude::*;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use pretext_data::{Image, Target};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Work to do with a method whose type is only known at run time.
pub trait MethodJob {
    /// What the job returns.
    type Output;
    /// Runs the job for method type `M`.
    fn run<M: Method>(self) -> Self::Output;
}

/// The trainable network of a run: the transferable encoder plus the method's heads.
#[derive(Module, Debug)]
pub struct Network<H: Module> {
    /// The backbone that transfers to downstream tasks.
    pub encoder: Encoder,
    /// Everything else the method trains (classifier, projector, predictor, decoder…).
    pub head: H,
}

/// What a method knows when it is built.
#[derive(Clone)]
pub struct MethodContext {
    /// The resolved encoder configuration.
    pub encoder: EncoderConfig,
    /// The input contract of the encoder (channels, size, normalisation).
    pub input: InputSpec,
    /// The training images, for methods that need statistics of the data (e.g. the colour
    /// distribution for colorization's class rebalancing).
    pub source: std::sync::Arc<dyn pretext_data::ImageSource>,
    /// How long the run is, for methods whose state or schedules depend on it (MoCo's
    /// queue, DINO's teacher-temperature warm-up).
    pub run: RunLength,
}

/// The length of a run, in optimiser steps and images (zeros when unknown, as in tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunLength {
    /// Optimiser steps this run trains (`train.max_steps`, or every epoch's).
    pub steps: u64,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: u64,
    /// Images per optimiser step (batch size × accumulated batches).
    pub images_per_step: u64,
}

impl RunLength {
    /// Images the run trains on, from its first step to its last.
    pub fn images(&self) -> u64 {
        self.steps * self.images_per_step
    }
}

/// Where training stands, for schedules inside methods (e.g. BYOL's EMA rate).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Optimiser steps done, including the current one.
    pub step: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
}

/// The result of one forward pass: the loss to minimise and extra scalar metrics to log
/// (e.g. the pretext task's accuracy).
pub struct StepOutput {
    /// Scalar loss (shape `[1]`).
    pub loss: Tensor<1>,
    /// Named scalar metrics (shape `[1]` each), detached.
    pub metrics: Vec<(&'static str, Tensor<1>)>,
    /// The `[N, D]` embeddings the loss compares (joint-embedding methods: the online
    /// projection of the first view), from which the trainer computes the collapse
    /// indicators. `None` for methods that cannot collapse (the pretext tasks).
    pub embedding: Option<Tensor<2>>,
}

impl StepOutput {
    /// A loss with no metrics and no embedding.
    pub fn loss(loss: Tensor<1>) -> Self {
        StepOutput {
            loss,
            metrics: Vec::new(),
            embedding: None,
        }
    }
}

/// A self-supervised method.
pub trait Method: Sized + Send + Sync + 'static {
    /// The method's options, read from the `[method]` table of the run config.
    type Config: Serialize + DeserializeOwned + Default + Clone + std::fmt::Debug;
    /// The modules the method trains besides the encoder.
    type Head: Module + burn::module::ModuleDisplay + std::fmt::Debug;
    /// One image's worth of prepared inputs and labels, built on the CPU by the data loader
    /// (and read by every device's replica when training data-parallel).
    type Sample: Send + Sync + 'static;

    /// Builds the method from its options.
    fn new(config: Self::Config, context: &MethodContext) -> anyhow::Result<Self>;

    /// The options, with every default filled in (written to the resolved run config).
    fn config(&self) -> &Self::Config;

    /// The channel count and normalisation the encoder sees, when the method changes them
    /// (colorization feeds the L channel only). The default keeps the data's.
    fn input_spec(&self, data_input: InputSpec) -> InputSpec {
        data_input
    }

    /// Fresh heads on an encoder of configuration `encoder`; `online` is the network's own
    /// encoder, already initialised, which a target network starts as a copy of
    /// ([`target`]).
    fn init_head(&self, encoder: &EncoderConfig, online: &Encoder, device: &Device) -> Self::Head;

    /// Builds one training example from a raw image (already converted to the encoder's
    /// channels, values in `[0, 1]`) and what it is labelled with ([`Target`]: class, objects), drawing
    /// all randomness from `rng`. Self-supervised methods ignore the target. Runs in the data
    /// loader's threads.
    fn sample(
        &self,
        image: Image,
        target: Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<Self::Sample>;

    /// Builds one example for evaluating the task on held-out images (`pretext eval task`,
    /// the test score of `pretext finetune`): the method's deterministic view where it has
    /// one. Default: the training example.
    fn sample_eval(
        &self,
        image: Image,
        target: Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<Self::Sample> {
        self.sample(image, target, rng)
    }

    /// Forward pass and loss on a batch of examples, for the optimiser step `progress`
    /// (counting this one), which the method's per-step schedules read (DINO's teacher
    /// temperature).
    fn step(
        &self,
        net: &Network<Self::Head>,
        batch: &[Self::Sample],
        device: &Device,
        progress: Progress,
    ) -> StepOutput;

    /// The encoder that transfers, when it is not the online one: its name and the module
    /// (DINO's teacher, which its paper evaluates). The checkpoint keeps it beside the
    /// online encoder, and evaluations, `export` and `train.init_encoder` read it. Default:
    /// `None`, the online encoder.
    fn transfer_encoder<'a>(
        &self,
        _net: &'a Network<Self::Head>,
    ) -> Option<(&'static str, &'a Encoder)> {
        None
    }

    /// Called after every optimiser step (e.g. to update a momentum encoder). Default: no-op.
    fn after_step(&self, net: Network<Self::Head>, _progress: Progress) -> Network<Self::Head> {
        net
    }

    /// The objects the network finds in held-out examples, per example the image's id in its
    /// annotation file and the detections in the image's own pixels: what `pretext detect`
    /// scores. Default: `None`, a method that detects nothing.
    fn detect(
        &self,
        _net: &Network<Self::Head>,
        _batch: &[Self::Sample],
        _device: &Device,
    ) -> Option<Vec<(u64, Vec<crate::detect::detector::Detection>)>> {
        None
    }

    /// The confusion matrix of the network's per-pixel classes on held-out examples: what
    /// `pretext segment` scores. Default: `None`, a method that labels no pixels.
    fn segment(
        &self,
        _net: &Network<Self::Head>,
        _batch: &[Self::Sample],
        _device: &Device,
    ) -> Option<crate::detect::segmentation::Confusion> {
        None
    }

    /// Draws a few examples of the task next to the network's answers, for people:
    /// `pretext show` and the pictures training writes at checkpoints. Default: none.
    fn render(
        &self,
        _net: &Network<Self::Head>,
        _batch: &[Self::Sample],
        _device: &Device,
    ) -> Option<Grid> {
        None
    }
}

/// Arg-max class of each row.
pub fn predictions(logits: Tensor<2>) -> Vec<usize> {
    let [n, _] = logits.dims();
    logits
        .argmax(1)
        .reshape([n])
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v as usize)
        .collect()
}

/// Rescales an image's values to `[0, 1]` (per image min–max) so that normalised inputs can
/// be looked at.
pub fn display(mut image: Image) -> Image {
    let (lo, hi) = image
        .data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = (hi - lo).max(1e-6);
    image.data.iter_mut().for_each(|v| *v = (*v - lo) / span);
    image
}

/// Stacks planar images of one shape into a `[N, C, H, W]` tensor.
pub fn stack_images<'a>(
    images: impl IntoIterator<Item = &'a [f32]>,
    shape: [usize; 3],
    device: &Device,
) -> Tensor<4> {
    let mut data = Vec::new();
    let mut n = 0;
    for image in images {
        data.extend_from_slice(image);
        n += 1;
    }
    let [c, h, w] = shape;
    Tensor::from_data(TensorData::new(data, [n, c, h, w]), device)
}

/// Class labels as an integer tensor.
pub fn label_tensor(labels: impl IntoIterator<Item = usize>, device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = labels.into_iter().map(|l| l as i64).collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

/// Mean cross-entropy of `logits` (`[N, K]`) against integer `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    smoothed_cross_entropy(logits, labels, 0.0)
}

/// Mean cross-entropy against labels smoothed by `epsilon` (Szegedy et al. 2016, §7;
/// PyTorch's `label_smoothing`): the target puts `1 − ε + ε/K` on the label and `ε/K` on
/// every other class, so the loss is `(1 − ε)·CE + ε·mean_k(−log p_k)`.
pub fn smoothed_cross_entropy(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    epsilon: f64,
) -> Tensor<1> {
    let [n, _] = logits.dims();
    let log_probs = burn::tensor::activation::log_softmax(logits, 1);
    let picked = log_probs.clone().gather(1, labels.reshape([n, 1]));
    let loss = picked.mean().neg();
    let loss = match epsilon > 0.0 {
        true => loss.mul_scalar(1.0 - epsilon) + log_probs.mean().neg().mul_scalar(epsilon),
        false => loss,
    };
    loss.reshape([1])
}

/// Fraction of rows of `logits` whose arg-max equals the label (detached).
pub fn accuracy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let predicted = logits.detach().argmax(1).reshape([n]);
    predicted.equal(labels).float().mean().reshape([1])
}

/// A method context for unit tests: a quarter-width ConvNet on 8×8 one-channel images
/// normalised with `mean` and `std`, over `source`.
#[cfg(test)]
pub(crate) fn test_context(
    source: std::sync::Arc<dyn pretext_data::ImageSource>,
    mean: f32,
    std: f32,
) -> MethodContext {
    use crate::encoder::{Architecture, Stem};
    MethodContext {
        encoder: EncoderConfig {
            arch: Architecture::ConvnetSmall,
            width: 0.25,
            in_channels: 1,
            stem: Stem::Cifar,
            ..Default::default()
        },
        input: InputSpec {
            space: crate::input::InputSpace::Native,
            channels: 1,
            image_size: 8,
            mean: vec![mean],
            std: vec![std],
        },
        source,
        run: RunLength::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;

    impl MethodJob for Name {
        type Output = &'static str;
        fn run<M: Method>(self) -> &'static str {
            std::any::type_name::<M>()
        }
    }

    #[test]
    fn every_listed_name_dispatches_to_its_own_method() {
        let types: Vec<_> = NAMES.iter().map(|n| dispatch(n, Name).unwrap()).collect();
        let mut unique = types.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), NAMES.len(), "{types:?}");
        let err = dispatch("byol2", Name).unwrap_err().to_string();
        assert!(err.contains("byol2") && err.contains("jigsaw"), "{err}");
    }

    #[test]
    fn cross_entropy_matches_a_hand_computed_value() {
        let device = Device::flex();
        // logits [0, ln 3] → p = [1/4, 3/4]; label 1 → -ln(3/4) = 0.2876821
        let logits =
            Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 3f32.ln()], [1, 2]), &device);
        let loss = cross_entropy(logits.clone(), label_tensor([1], &device));
        let v: f32 = loss.into_scalar();
        assert!((v - 0.287_682_1).abs() < 1e-6, "{v}");
        let acc: f32 = accuracy(logits.clone(), label_tensor([0], &device)).into_scalar();
        assert_eq!(acc, 0.0);
        // ε = 0.1: 0.9 · 0.2876821 + 0.1 · (ln 4 + 0.2876821) / 2 = 0.3426127
        let smoothed = smoothed_cross_entropy(logits, label_tensor([1], &device), 0.1);
        let v: f32 = smoothed.into_scalar();
        assert!((v - 0.342_612_7).abs() < 1e-6, "{v}");
    }
}

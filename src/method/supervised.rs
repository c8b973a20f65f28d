//! Supervised classification: the downstream side of transfer (`pretext finetune`) and the
//! from-scratch baseline self-supervision has to beat.
//!
//! The encoder's pooled features go through a freshly initialised classifier (linear by
//! default) trained with cross-entropy on the labels. As in the semi-supervised fine-tuning
//! of SimCLR (Chen et al. 2020, appendix B.5) the only augmentation is a random resized crop
//! with a horizontal flip; evaluation uses the deterministic centre view. Combined with
//! `train.init_encoder` (a pretrained encoder), `optim.encoder_lr_scale`, `optim.layer_decay`,
//! `train.freeze_stages` and `data.label_fraction`, this is fine-tuning on 1 %, 10 % or 100 %
//! of the labels.

use super::{
    Method, MethodContext, Network, Progress, StepOutput, accuracy, smoothed_cross_entropy, display, label_tensor,
    predictions, stack_images,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::Mlp;
use crate::input::{InputSpace, InputSpec};
use crate::kernels::batch_norm_layer_1d;
use anyhow::{Context, bail, ensure};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use pretext_data::{Image, ImageSource};
use serde::{Deserialize, Serialize};

/// Options of supervised training.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisedConfig {
    /// Training augmentation; `size` 0 means the run's image size.
    pub view: ViewConfig,
    /// The view the test score is computed on (resize and centre crop).
    pub test_view: ViewConfig,
    /// Hidden widths of the classifier; empty = linear, the usual fine-tuning head.
    pub head_hidden: Vec<usize>,
    /// Normalise the encoder's features with a batch norm before the classifier, as MAE's
    /// linear probe does (He et al. 2022, appendix A.2). The classifier's effective step
    /// then does not depend on the scale of the pretrained features, which varies 20-fold
    /// between methods (Barlow Twins' features are ~17× SimCLR's on Fashion-MNIST; without
    /// the norm its fine-tuning diverges at the recipe's learning rate).
    pub head_norm: bool,
    /// Number of classes; 0 = the dataset's class count (or its largest label + 1).
    pub classes: usize,
    /// The colour representation the encoder takes: `native`, or `lightness` for an encoder
    /// pretrained by colorization (`pretext finetune` sets it from the checkpoint).
    pub input_space: InputSpace,
    /// Label smoothing ε of the cross-entropy (Szegedy et al. 2016; MAE's ViT fine-tuning
    /// uses 0.1). 0 = plain cross-entropy.
    pub label_smoothing: f64,
}

impl Default for SupervisedConfig {
    fn default() -> Self {
        SupervisedConfig {
            view: ViewConfig::simple(0),
            test_view: ViewConfig::eval(0),
            head_hidden: vec![],
            head_norm: true,
            classes: 0,
            input_space: InputSpace::Native,
            label_smoothing: 0.0,
        }
    }
}

/// The fresh head: an optional batch norm of the pooled features, then the classifier.
#[derive(Module, Debug)]
pub struct Classifier {
    /// Feature normalisation (`head_norm`).
    pub norm: Option<BatchNorm>,
    /// Linear layer (or MLP) to the class logits.
    pub classifier: Mlp,
}

impl Classifier {
    /// Class logits of pooled features `[N, D]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let features = match &self.norm {
            Some(norm) => batch_norm_layer_1d(norm, features, false),
            None => features,
        };
        self.classifier.forward(features)
    }
}

/// Supervised classification with a fresh head.
pub struct Supervised {
    config: SupervisedConfig,
    input: InputSpec,
    names: Vec<String>,
}

/// One augmented image and its class.
pub struct LabeledImage {
    image: Vec<f32>,
    shape: [usize; 3],
    label: u32,
}

/// The class count of `source`: its class names, else its largest label + 1.
fn class_count(source: &dyn ImageSource) -> anyhow::Result<usize> {
    if let Some(names) = source.classes() {
        return Ok(names.len());
    }
    let largest = (0..source.len()).filter_map(|i| source.label(i)).max();
    largest
        .map(|l| l as usize + 1)
        .with_context(|| format!("{} has no labels", source.origin()))
}

impl Method for Supervised {
    type Config = SupervisedConfig;
    type Head = Classifier;
    type Sample = LabeledImage;

    fn new(mut config: SupervisedConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let source = context.source.as_ref();
        if source.is_empty() || source.label(0).is_none() {
            bail!(
                "supervised training needs labelled images; {} has none",
                source.origin()
            );
        }
        ensure!(
            (0.0..1.0).contains(&config.label_smoothing),
            "method.label_smoothing must be in [0, 1), got {}",
            config.label_smoothing
        );
        if config.classes == 0 {
            config.classes = class_count(source)?;
        }
        for view in [&mut config.view, &mut config.test_view] {
            if view.size == 0 {
                view.size = context.input.image_size;
            }
            view.validate()?;
        }
        let names = source
            .classes()
            .map(<[String]>::to_vec)
            .unwrap_or_else(|| (0..config.classes).map(|c| c.to_string()).collect());
        let input = InputSpec {
            space: config.input_space,
            ..context.input.clone()
        };
        Ok(Supervised {
            config,
            input,
            names,
        })
    }

    fn config(&self) -> &SupervisedConfig {
        &self.config
    }

    fn input_spec(&self, _data_input: InputSpec) -> InputSpec {
        self.input.clone()
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> Classifier {
        let dim = encoder.feature_dim();
        Classifier {
            norm: self
                .config
                .head_norm
                .then(|| BatchNormConfig::new(dim).init(device)),
            classifier: Mlp::new(dim, &self.config.head_hidden, self.config.classes, device),
        }
    }

    fn sample(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<LabeledImage> {
        self.labeled(&self.config.view, image, target.class, rng)
    }

    fn sample_eval(
        &self,
        image: Image,
        target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<LabeledImage> {
        self.labeled(&self.config.test_view, image, target.class, rng)
    }

    fn step(
        &self,
        net: &Network<Classifier>,
        batch: &[LabeledImage],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let logits = logits(net, batch, device);
        let labels = label_tensor(batch.iter().map(|s| s.label as usize), device);
        StepOutput {
            loss: smoothed_cross_entropy(logits.clone(), labels.clone(), self.config.label_smoothing),
            metrics: vec![("top1", accuracy(logits, labels))],
            embedding: None,
        }
    }

    fn render(
        &self,
        net: &Network<Classifier>,
        batch: &[LabeledImage],
        device: &Device,
    ) -> Option<Grid> {
        let shown = &batch[..batch.len().min(16)];
        let guesses = predictions(logits(net, shown, device));
        let mut grid = Grid::new(8, 64);
        let name = |c: usize| self.names.get(c).cloned().unwrap_or_else(|| c.to_string());
        for (sample, guess) in shown.iter().zip(guesses) {
            let [channels, height, width] = sample.shape;
            let image = display(Image {
                channels,
                height,
                width,
                data: sample.image.clone(),
            });
            let mark = if guess == sample.label as usize {
                "+"
            } else {
                "-"
            };
            grid.push(&image, &format!("{mark} {}", name(guess)));
        }
        Some(grid)
    }
}

impl Supervised {
    fn labeled(
        &self,
        view: &ViewConfig,
        image: Image,
        label: Option<u32>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<LabeledImage> {
        let label = label.context("an image has no label; supervised training needs them all")?;
        ensure!(
            (label as usize) < self.config.classes,
            "label {label} is out of range for {} classes (method.classes)",
            self.config.classes
        );
        let view = self
            .input
            .normalize(self.input.convert(view.apply(&image, rng)));
        Ok(LabeledImage {
            shape: [view.channels, view.height, view.width],
            image: view.data,
            label,
        })
    }
}

fn logits(net: &Network<Classifier>, batch: &[LabeledImage], device: &Device) -> Tensor<2> {
    let shape = batch.first().map_or([0; 3], |s| s.shape);
    let images = stack_images(batch.iter().map(|s| s.image.as_slice()), shape, device);
    net.head.forward(net.encoder.forward(images))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretext_data::source::InMemory;

    fn context(labels: Vec<Option<u32>>) -> MethodContext {
        let images = labels.iter().map(|_| Image::filled(1, 8, 8, 0.5)).collect();
        super::super::test_context(
            std::sync::Arc::new(InMemory::new(images, labels)),
            0.5,
            0.25,
        )
    }

    #[test]
    fn the_class_count_comes_from_the_labels_and_unlabelled_data_is_refused() {
        let method = Supervised::new(
            SupervisedConfig::default(),
            &context(vec![Some(0), Some(4), Some(2)]),
        )
        .unwrap();
        assert_eq!(method.config().classes, 5);
        let err = Supervised::new(SupervisedConfig::default(), &context(vec![None, None]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("labelled"), "{err}");
    }

    #[test]
    fn test_samples_are_the_normalised_centre_view_with_their_label() {
        let method = Supervised::new(
            SupervisedConfig::default(),
            &context(vec![Some(1), Some(2)]),
        )
        .unwrap();
        let mut rng = pretext_data::rng::sample_rng(0, 0, 0);
        let sample = method
            .sample_eval(Image::filled(1, 8, 8, 0.75), Some(2).into(), &mut rng)
            .unwrap();
        assert_eq!(sample.label, 2);
        assert_eq!(sample.shape, [1, 8, 8]);
        // (0.75 - 0.5) / 0.25 = 1 everywhere.
        assert!(sample.image.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        let err = method
            .sample(Image::filled(1, 8, 8, 0.0), Some(7).into(), &mut rng)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("out of range"), "{err}");
        assert!(
            method
                .sample(Image::filled(1, 8, 8, 0.0), Default::default(), &mut rng)
                .is_err()
        );
    }

    /// With `head_norm` the fresh head's logits do not depend on the scale of the features
    /// (batch statistics in training), so a pretrained encoder with large features starts
    /// fine-tuning with the same logits as one with small features.
    #[test]
    fn the_head_norm_makes_the_logits_independent_of_the_feature_scale() {
        let device = Device::flex().autodiff();
        let method = Supervised::new(
            SupervisedConfig::default(),
            &context(vec![Some(0), Some(1), Some(2)]),
        )
        .unwrap();
        let encoder = context(vec![]).encoder;
        let online = encoder.init(&device);
        let head = crate::device::seeded(&device, 0, || method.init_head(&encoder, &online, &device));
        let features = Tensor::<2>::random(
            [16, encoder.feature_dim()],
            burn::tensor::Distribution::Default,
            &device,
        );
        let small: Vec<f32> = head
            .forward(features.clone())
            .into_data()
            .try_to_vec()
            .unwrap();
        let large: Vec<f32> = head
            .forward(features.mul_scalar(100.0))
            .into_data()
            .try_to_vec()
            .unwrap();
        let gap = small
            .iter()
            .zip(&large)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(gap < 1e-3, "{gap}");
    }

    /// An encoder pretrained by colorization takes lightness: colour images become one
    /// channel of L*/100 before normalisation.
    #[test]
    fn lightness_encoders_get_one_channel_of_lightness() {
        let config = SupervisedConfig {
            input_space: InputSpace::Lightness,
            ..SupervisedConfig::default()
        };
        let method = Supervised::new(config, &context(vec![Some(0), Some(1)])).unwrap();
        let spec = method.input_spec(context(vec![]).input);
        assert_eq!(spec.space, InputSpace::Lightness);
        let mut rng = pretext_data::rng::sample_rng(0, 0, 0);
        // White in any colour space is L* = 100: (1 - 0.5) / 0.25 = 2 after normalisation.
        let sample = method
            .sample_eval(Image::filled(3, 8, 8, 1.0), Some(1).into(), &mut rng)
            .unwrap();
        assert_eq!(sample.shape, [1, 8, 8]);
        assert!(
            sample.image.iter().all(|&v| (v - 2.0).abs() < 1e-3),
            "{:?}",
            &sample.image[..4]
        );
    }
}

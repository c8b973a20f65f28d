//! DINO, "Emerging Properties in Self-Supervised Vision Transformers" (Caron et al., ICCV
//! 2021): self-distillation with no labels.
//!
//! A student network sees every crop of an image, two global crops and several small local
//! ones (multi-crop); a teacher, the student's exponential moving average, sees the global
//! crops only. Both end in a projection head whose `K` outputs are turned into
//! distributions; the student learns to match the teacher's distribution of every *other*
//! crop (eq. 3):
//!
//! ```text
//! L = Σ_{x ∈ global} Σ_{x′ ≠ x} H(P_t(x), P_s(x′)),   H(a, b) = −a·log b
//! P_s = softmax(g_s / τ_s),   P_t = softmax((g_t − c) / τ_t)
//! ```
//!
//! Collapse is avoided by *centring* (subtracting `c`, a moving average of the teacher's
//! outputs, which discourages one dimension from dominating) and *sharpening* (τ_t < τ_s,
//! which discourages the uniform distribution), §3.1. The teacher temperature may warm up
//! linearly over the first epochs (`warmup_teacher_temp` → `teacher_temp`, the reference
//! code's schedule, here per step).
//!
//! The teacher is the encoder that transfers: the paper evaluates it (§3.1, "the teacher
//! performs better than the student"), so checkpoints keep it for the evaluations, `export`
//! and `train.init_encoder` (`evaluate = "student"` picks the student instead).

use super::embedding::l2_normalize;
use super::gather;
use super::views::{self, Sampler, Views};
use super::{Method, MethodContext, Network, Progress, StepOutput};
use super::target::{self, TargetHead};
use crate::ema::Target;
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::{Activation, Mlp, MlpConfig};
use burn::module::{Param, RunningState};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{log_softmax, softmax};
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use serde::{Deserialize, Serialize};

/// Options of DINO (defaults: the paper's and its reference code's: head of three layers,
/// 2048 hidden with GELU and no batch norm, bottleneck 256, K = 65536; two global crops and
/// eight local crops at the scales the reference README gives for ResNets (0.14–1 and
/// 0.05–0.14; its ViT default is 0.4–1 and 0.05–0.4); τ_s = 0.1, τ_t = 0.04 without warm-up,
/// centre momentum 0.9, teacher momentum 0.996 → 1; the teacher evaluated).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DinoConfig {
    /// First global crop; `size` 0 = the run's image size.
    pub global1: ViewConfig,
    /// Second global crop.
    pub global2: ViewConfig,
    /// Local crops; `size` 0 = 96/224 of the run's image size (the paper's 96 px at 224).
    pub local: ViewConfig,
    /// Number of local crops (0 turns multi-crop off).
    pub local_crops: usize,
    /// The head's MLP up to the bottleneck (paper: 2048, 2048 hidden, 256 out, GELU).
    pub head: MlpConfig,
    /// Output dimension K of the weight-normalised last layer (paper: 65536).
    pub out_dim: usize,
    /// Student temperature τ_s (paper: 0.1).
    pub student_temp: f64,
    /// Teacher temperature τ_t after the warm-up (paper: 0.04; 0.07 for its longer ViT runs).
    pub teacher_temp: f64,
    /// Teacher temperature at the first step (reference code: 0.04).
    pub warmup_teacher_temp: f64,
    /// Epochs over which τ_t rises linearly from `warmup_teacher_temp` to `teacher_temp`
    /// (reference code: 0; 30 in the paper's ViT runs); may be fractional.
    pub warmup_teacher_temp_epochs: f64,
    /// Epochs during which the student's last layer (the prototypes) takes no gradient, so
    /// neither moves nor decays (reference code: `freeze_last_layer` = 1, "helps the
    /// training"); may be fractional.
    pub freeze_last_layer_epochs: f64,
    /// The encoder that transfers: `teacher` (the paper's) or `student`.
    pub evaluate: Branch,
    /// Momentum m of the centre, c ← m c + (1 − m) mean(g_t) (paper: 0.9).
    pub center_momentum: f64,
    /// Teacher momentum at the first step (paper: 0.996).
    pub tau_base: f64,
    /// Teacher momentum at the last step (paper: 1).
    pub tau_end: f64,
}

/// Which of DINO's two networks transfers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Branch {
    /// The teacher (the moving average), as the paper evaluates.
    Teacher,
    /// The student (the network the gradient trains).
    Student,
}

impl Default for DinoConfig {
    fn default() -> Self {
        let scales = |view: ViewConfig, crop_scale| ViewConfig { crop_scale, ..view };
        DinoConfig {
            global1: scales(ViewConfig::dino_global1(0), (0.14, 1.0)),
            global2: scales(ViewConfig::dino_global2(0), (0.14, 1.0)),
            local: scales(ViewConfig::dino_local(0), (0.05, 0.14)),
            local_crops: 8,
            head: MlpConfig {
                batch_norm: false,
                activation: Activation::Gelu,
                ..MlpConfig::new(&[2048, 2048], 256)
            },
            out_dim: 65536,
            student_temp: 0.1,
            teacher_temp: 0.04,
            warmup_teacher_temp: 0.04,
            warmup_teacher_temp_epochs: 0.0,
            freeze_last_layer_epochs: 1.0,
            evaluate: Branch::Teacher,
            center_momentum: 0.9,
            tau_base: 0.996,
            tau_end: 1.0,
        }
    }
}

/// DINO.
pub struct Dino {
    config: DinoConfig,
    views: Sampler,
    /// Optimiser steps per epoch, for the warm-up given in epochs.
    steps_per_epoch: u64,
}

impl Dino {
    /// The teacher temperature of optimiser step `progress` (1-based): linear from
    /// `warmup_teacher_temp` at the first step to `teacher_temp` after
    /// `warmup_teacher_temp_epochs` epochs, constant after.
    pub fn teacher_temp(&self, progress: Progress) -> f64 {
        let c = &self.config;
        let warmup = c.warmup_teacher_temp_epochs * self.steps_per_epoch as f64;
        if warmup <= 0.0 {
            return c.teacher_temp;
        }
        let t = (progress.step.saturating_sub(1) as f64 / warmup).min(1.0);
        c.warmup_teacher_temp + t * (c.teacher_temp - c.warmup_teacher_temp)
    }

    /// Whether optimiser step `progress` (1-based) falls in the first
    /// `freeze_last_layer_epochs` epochs, when the prototypes take no gradient.
    pub fn last_layer_frozen(&self, progress: Progress) -> bool {
        let frozen = self.config.freeze_last_layer_epochs * self.steps_per_epoch as f64;
        (progress.step as f64) <= frozen
    }
}

/// DINO's projection head: an MLP to an ℓ2-normalised bottleneck, then a weight-normalised
/// linear layer with its norm fixed to 1 (the reference code's `norm_last_layer`), so that
/// outputs are cosine similarities to `K` prototypes.
#[derive(Module, Debug)]
pub struct DinoProjection {
    /// MLP up to the bottleneck.
    pub mlp: Mlp,
    /// `[bottleneck, K]` prototype directions (columns are normalised in the forward pass).
    pub prototypes: Param<Tensor<2>>,
}

impl DinoProjection {
    /// `[N, K]` outputs of `[N, D]` features.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_frozen(x, false)
    }

    /// [`forward`](Self::forward), with the prototypes cut from the gradient when `frozen`
    /// (DINO's first epoch).
    pub fn forward_frozen(&self, x: Tensor<2>, frozen: bool) -> Tensor<2> {
        let w = match frozen {
            true => self.prototypes.val().detach(),
            false => self.prototypes.val(),
        };
        let norm = w.clone().powi_scalar(2).sum_dim(0).sqrt().clamp_min(1e-12);
        l2_normalize(self.mlp.forward(x)).matmul(w / norm)
    }
}

/// The student's head, the teacher (encoder and head), and the centre of the teacher's
/// outputs.
#[derive(Module, Debug)]
pub struct DinoHead {
    /// Student projection head.
    pub student: DinoProjection,
    /// Teacher encoder and projection head.
    pub teacher: Target<DinoProjection>,
    /// `[1, K]` moving average of the teacher's outputs.
    pub center: RunningState<Tensor<2>>,
}

impl TargetHead for DinoHead {
    type Online = DinoProjection;

    fn map_target(
        self,
        f: impl FnOnce(Target<DinoProjection>, &DinoProjection) -> Target<DinoProjection>,
    ) -> Self {
        let teacher = f(self.teacher, &self.student);
        DinoHead { teacher, ..self }
    }
}

/// DINO's loss (eq. 3) between the teacher's outputs on the global crops and the student's
/// outputs on all crops (global crops first, in the same order), and the mean entropy of the
/// teacher's distributions. A crop is never compared with itself; terms are averaged.
pub fn dino_loss(
    student: &[Tensor<2>],
    teacher: &[Tensor<2>],
    center: Tensor<2>,
    student_temp: f64,
    teacher_temp: f64,
) -> (Tensor<1>, Tensor<1>) {
    let targets: Vec<Tensor<2>> = teacher
        .iter()
        .map(|t| softmax((t.clone() - center.clone()).div_scalar(teacher_temp), 1).detach())
        .collect();
    let log_probs: Vec<Tensor<2>> = student
        .iter()
        .map(|s| log_softmax(s.clone().div_scalar(student_temp), 1))
        .collect();
    let mut terms = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        for (v, log_p) in log_probs.iter().enumerate() {
            if v != i {
                terms.push((target.clone() * log_p.clone()).sum_dim(1).mean().neg());
            }
        }
    }
    let count = terms.len().max(1);
    let loss = Tensor::cat(terms, 0).sum().div_scalar(count as f64);
    let entropy = targets
        .iter()
        .map(|p| {
            (p.clone() * p.clone().clamp_min(1e-12).log())
                .sum_dim(1)
                .mean()
                .neg()
        })
        .reduce(|a, b| a + b)
        .map_or_else(
            || Tensor::zeros([1], &center.device()),
            |e| e.div_scalar(targets.len() as f64),
        );
    (loss.reshape([1]), entropy.reshape([1]))
}

impl Method for Dino {
    type Config = DinoConfig;
    type Head = DinoHead;
    type Sample = Views;

    fn new(mut config: DinoConfig, context: &MethodContext) -> anyhow::Result<Self> {
        let size = context.input.image_size;
        if config.local.size == 0 {
            let local = ((size * 96) as f64 / 224.0).round() as usize;
            views::resolve(&mut config.local, local.max(4))?;
        }
        for view in [&mut config.global1, &mut config.global2, &mut config.local] {
            views::resolve(view, size)?;
        }
        config.head.validate("head")?;
        anyhow::ensure!(config.out_dim > 0, "method.out_dim must be positive");
        anyhow::ensure!(
            config.student_temp > 0.0 && config.teacher_temp > 0.0 && config.warmup_teacher_temp > 0.0,
            "method.student_temp, teacher_temp and warmup_teacher_temp must be positive"
        );
        anyhow::ensure!(
            config.warmup_teacher_temp_epochs >= 0.0 && config.freeze_last_layer_epochs >= 0.0,
            "method.warmup_teacher_temp_epochs and method.freeze_last_layer_epochs must not be negative"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&config.center_momentum)
                && (0.0..=1.0).contains(&config.tau_base)
                && (0.0..=1.0).contains(&config.tau_end),
            "method.center_momentum, tau_base and tau_end must be in [0, 1]"
        );
        let crops = [&config.global1, &config.global2]
            .into_iter()
            .chain(std::iter::repeat_n(&config.local, config.local_crops))
            .cloned();
        let views = Sampler::new(crops, &context.input);
        Ok(Dino {
            config,
            views,
            steps_per_epoch: context.run.steps_per_epoch,
        })
    }

    fn config(&self) -> &DinoConfig {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, online: &Encoder, device: &Device) -> DinoHead {
        let c = &self.config;
        let student = DinoProjection {
            mlp: c.head.init(encoder.feature_dim(), device),
            prototypes: Param::from_tensor(Tensor::random(
                [c.head.out, c.out_dim],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
        };
        DinoHead {
            teacher: Target::copy_of(online, &student),
            student,
            center: RunningState::new(Tensor::zeros([1, c.out_dim], device)),
        }
    }

        fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<Views> {
        self.views.sample(&image, rng)
    }

    fn step(
        &self,
        net: &Network<DinoHead>,
        batch: &[Views],
        device: &Device,
        progress: Progress,
    ) -> StepOutput {
        let head = &net.head;
        let crops = batch.first().map_or(0, Views::len);
        let frozen = self.last_layer_frozen(progress);
        let student = views::forward(batch, 0..crops, device, |x| {
            head.student.forward_frozen(net.encoder.forward(x), frozen)
        });
        let teacher = views::forward(batch, 0..2, device, |x| {
            let teacher = &head.teacher;
            teacher.head.forward(teacher.encoder.forward(x)).detach()
        });
        let c = &self.config;
        let center = head.center.value_sync();
        let teacher_temp = self.teacher_temp(progress);
        let (loss, entropy) = dino_loss(
            &student,
            &teacher,
            center.clone(),
            c.student_temp,
            teacher_temp,
        );
        // The centre follows the global batch's mean over several ranks.
        let batch_center = gather::mean_across_ranks(Tensor::cat(teacher, 0).mean_dim(0));
        let m = c.center_momentum;
        head.center
            .update((center.mul_scalar(m) + batch_center.mul_scalar(1.0 - m)).detach());
        let embedding = student[0].clone().detach();
        StepOutput {
            loss,
            metrics: vec![
                ("teacher_entropy", entropy.detach()),
                ("teacher_temp", Tensor::from_floats([teacher_temp as f32], device)),
            ],
            embedding: Some(embedding),
        }
    }

    fn transfer_encoder<'a>(
        &self,
        net: &'a Network<DinoHead>,
    ) -> Option<(&'static str, &'a Encoder)> {
        match self.config.evaluate {
            Branch::Teacher => Some(("teacher", &net.head.teacher.encoder)),
            Branch::Student => None,
        }
    }

    fn after_step(&self, net: Network<DinoHead>, progress: Progress) -> Network<DinoHead> {
        target::follow(net, self.config.tau_base, self.config.tau_end, progress)
    }

    fn render(&self, net: &Network<DinoHead>, batch: &[Views], device: &Device) -> Option<Grid> {
        views::render(batch, device, |x| {
            net.head.student.mlp.forward(net.encoder.forward(x))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// τ_t rises linearly over the warm-up's steps (2 epochs of 10 steps: 0.04 at step 1,
    /// 0.055 at step 11, 0.07 from step 21 on); without a warm-up it is `teacher_temp`.
    #[test]
    fn the_teacher_temperature_warms_up_per_step() {
        let source = std::sync::Arc::new(pretext_data::source::InMemory::new(vec![], vec![]));
        let mut context = super::super::test_context(source, 0.5, 0.25);
        context.run.steps_per_epoch = 10;
        let config = DinoConfig {
            teacher_temp: 0.07,
            warmup_teacher_temp_epochs: 2.0,
            ..DinoConfig::default()
        };
        let dino = Dino::new(config.clone(), &context).unwrap();
        let at = |step| {
            dino.teacher_temp(Progress {
                step,
                total_steps: 100,
            })
        };
        for (step, want) in [(1, 0.04), (11, 0.055), (21, 0.07), (90, 0.07)] {
            assert!((at(step) - want).abs() < 1e-12, "step {step}: {}", at(step));
        }
        let constant = DinoConfig {
            warmup_teacher_temp_epochs: 0.0,
            ..config
        };
        let dino = Dino::new(constant, &context).unwrap();
        let first = Progress {
            step: 1,
            total_steps: 100,
        };
        assert_eq!(dino.teacher_temp(first), 0.07);
    }

    /// The prototypes take no gradient during the first `freeze_last_layer_epochs` (1.5
    /// epochs of 10 steps: steps 1–15), and do from step 16; the MLP below always does.
    #[test]
    fn the_last_layer_is_frozen_for_its_epochs() {
        let source = std::sync::Arc::new(pretext_data::source::InMemory::new(vec![], vec![]));
        let mut context = super::super::test_context(source, 0.5, 0.25);
        context.run.steps_per_epoch = 10;
        let config = DinoConfig {
            freeze_last_layer_epochs: 1.5,
            ..DinoConfig::default()
        };
        let dino = Dino::new(config, &context).unwrap();
        let frozen = |step| {
            dino.last_layer_frozen(Progress {
                step,
                total_steps: 100,
            })
        };
        assert!(frozen(1) && frozen(15) && !frozen(16) && !frozen(90));

        let device = Device::flex().autodiff();
        // Drawn under the seeding lock, so that tests in other threads keep their draws.
        let projection = crate::device::seeded(&device, 0, || DinoProjection {
            mlp: MlpConfig::new(&[], 4).init(3, &device),
            prototypes: Param::from_tensor(Tensor::random([4, 5], Distribution::Default, &device)),
        });
        let x = Tensor::<2>::from_floats([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], &device);
        for frozen in [true, false] {
            let out = projection.forward_frozen(x.clone(), frozen);
            let grads = out.powi_scalar(2).sum().backward();
            let prototypes = projection.prototypes.val().grad(&grads);
            assert_eq!(prototypes.is_none(), frozen);
            assert!(projection.mlp.out.weight.val().grad(&grads).is_some());
        }
    }

    /// One global crop pair and one local crop, K = 2, zero centre, τ_t = τ_s = 1.
    /// Teacher logits [0, ln 3] → P_t = [1/4, 3/4] for both global crops.
    /// Student logits: crop 0 [0, 0] → log P = ln ½ each; crop 1 [ln 3, 0] → [ln ¾, ln ¼];
    /// crop 2 [0, ln 3] → [ln ¼, ln ¾].
    /// Terms (teacher i, student v ≠ i): (0,1): −(¼ ln ¾ + ¾ ln ¼); (0,2): −(¼ ln ¼ + ¾ ln ¾);
    /// (1,0): ln 2; (1,2): as (0,2). Loss = mean of the four.
    #[test]
    fn loss_skips_same_crop_pairs_and_matches_cross_entropies_by_hand() {
        let device = Device::flex();
        let l3 = 3f32.ln();
        let t = Tensor::<2>::from_floats([[0.0, l3]], &device);
        let s = [
            Tensor::<2>::from_floats([[0.0, 0.0]], &device),
            Tensor::<2>::from_floats([[l3, 0.0]], &device),
            Tensor::<2>::from_floats([[0.0, l3]], &device),
        ];
        let (loss, entropy) = dino_loss(
            &s,
            &[t.clone(), t],
            Tensor::zeros([1, 2], &device),
            1.0,
            1.0,
        );
        let h = |p: [f64; 2], q: [f64; 2]| -(p[0] * q[0].ln() + p[1] * q[1].ln());
        let pt = [0.25, 0.75];
        let want = (h(pt, [0.75, 0.25]) + h(pt, pt) + h(pt, [0.5, 0.5]) + h(pt, pt)) / 4.0;
        let got: f32 = loss.into_scalar();
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
        let e: f32 = entropy.into_scalar();
        assert!((f64::from(e) - h(pt, pt)).abs() < 1e-5);
    }

    #[test]
    fn centring_changes_the_teacher_target() {
        let device = Device::flex();
        let t = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let s = vec![Tensor::<2>::zeros([1, 2], &device); 2];
        let centred = |c: [f32; 2]| {
            let (_, e) = dino_loss(
                &s,
                std::slice::from_ref(&t),
                Tensor::from_floats([c], &device),
                0.1,
                1.0,
            );
            e.into_scalar::<f32>()
        };
        // Subtracting the teacher's own output makes its distribution uniform (entropy ln 2).
        assert!((centred([1.0, 0.0]) - 2f32.ln()).abs() < 1e-6);
        assert!(centred([0.0, 0.0]) < 2f32.ln() - 0.1);
    }
}

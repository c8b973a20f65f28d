//! Optimisers with PyTorch semantics on top of burn's, and LARS, which burn lacks.

use crate::config::{OptimConfig, OptimizerKind};
use crate::encoder::Encoder;
use crate::method::Network;
use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrSchedulerConfig};
use burn::module::{ModuleVisitor, Param, ParamGroup};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClipping;
use burn::optim::momentum::{Momentum, MomentumConfig, MomentumState};
use burn::optim::{
    AdamWConfig, AdamWState, GradientsAccumulator, GradientsParams, ModuleOptimizer, Optimizer,
    SgdConfig,
};
use burn::prelude::*;
use burn::tensor::Gradients;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The weight decay of the current optimiser step, shared by the trainer, which sets it from
/// the run's schedule before every step ([`super::schedule::Plan::weight_decay`]), and the
/// optimisers that read it (AdamW and LARS; every replica's copy reads the same value).
#[derive(Clone, Debug)]
pub struct DecayRate(Arc<AtomicU64>);

impl DecayRate {
    /// A rate of `value`.
    pub fn new(value: f64) -> Self {
        DecayRate(Arc::new(AtomicU64::new(value.to_bits())))
    }

    /// Sets the rate for the steps that follow.
    pub fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    /// The current rate.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Builds the optimiser `config` describes, with its weight decay fixed at
/// `optim.weight_decay`.
pub fn build(config: &OptimConfig) -> ModuleOptimizer {
    build_scheduled(config, &DecayRate::new(config.weight_decay))
}

/// Builds the optimiser `config` describes; AdamW and LARS read their weight decay from
/// `decay` at every step.
///
/// SGD follows `torch.optim.SGD`: momentum without dampening (burn's default dampening is
/// 0.1, PyTorch's 0), optional Nesterov, weight decay added to the gradient. AdamW is
/// [`AdamW`], LARS [`Lars`]. With `optim.clip_grad` each parameter's gradient is first
/// scaled to that L2 norm at most (burn's per-tensor norm clipping, DINO's `clip_gradients`).
pub fn build_scheduled(config: &OptimConfig, decay: &DecayRate) -> ModuleOptimizer {
    let optimizer = match config.name {
        OptimizerKind::Lars => ModuleOptimizer::from(Lars {
            momentum: Momentum::new(&MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: config.nesterov,
            }),
            weight_decay: decay.clone(),
            trust_coefficient: config.trust_coefficient,
            clip_lr: config.clip_lr,
        }),
        OptimizerKind::Sgd => {
            let momentum = (config.momentum > 0.0).then_some(MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: config.nesterov,
            });
            let decay = (config.weight_decay > 0.0).then_some(WeightDecayConfig {
                penalty: config.weight_decay as f32,
            });
            SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay(decay)
                .init()
        }
        OptimizerKind::Adamw => ModuleOptimizer::from(AdamW {
            adam: AdamWConfig::new()
                .with_beta_1(config.beta1 as f32)
                .with_beta_2(config.beta2 as f32)
                .with_epsilon(config.eps as f32)
                .with_weight_decay(0.0)
                .build(),
            weight_decay: decay.clone(),
        }),
    };
    match config.clip_grad > 0.0 {
        true => optimizer.with_grad_clipping(GradientClipping::Norm(config.clip_grad as f32)),
        false => optimizer,
    }
}

/// `torch.optim.AdamW` (Loshchilov & Hutter 2019, decoupled decay `w ← w − lr·λ·w` before
/// Adam's step) whose weight decay spares biases and normalisation parameters (the
/// one-dimensional tensors), as DINO's and MAE's reference code and timm group them.
#[derive(Clone)]
pub struct AdamW {
    adam: burn::optim::AdamW,
    weight_decay: DecayRate,
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamWState<D>>,
    ) -> (Tensor<D>, Option<AdamWState<D>>) {
        let tensor = match D > 1 {
            true => tensor.mul_scalar(1.0 - lr * self.weight_decay.get()),
            false => tensor,
        };
        self.adam.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: AdamWState<D>, device: &Device) -> AdamWState<D> {
        burn::optim::AdamW::to_device(state, device)
    }
}

/// LARS, "Large Batch Training of Convolutional Networks" (You, Gitman & Ginsburg 2017), in
/// the form BYOL (Grill et al. 2020, appendix C), SimCLR and Barlow Twins train with.
///
/// For each weight tensor `w` with gradient `∇`:
///
/// ```text
/// g = ∇ + λ w                     (weight decay)
/// g ← η ‖w‖ / ‖g‖ · g             (trust ratio; 1 when either norm is 0)
/// v ← μ v + g;   w ← w − lr · v   (momentum, as PyTorch's SGD)
/// ```
///
/// With `clip_lr` (solo-learn's `clip_lr`, from PyTorch Lightning Bolts' LARS) the ratio
/// becomes `min(η ‖w‖ / ‖g‖ / lr, 1)`: the layer's step is `min(η ‖w‖ / ‖g‖, lr) · g`, the
/// trust ratio capped at the learning rate instead of multiplied by it.
///
/// Biases and batch-norm parameters (the one-dimensional tensors, the rule solo-learn and
/// lightly apply) are excluded from both the trust ratio and the weight decay: they take
/// plain SGD with momentum.
#[derive(Clone)]
pub struct Lars {
    momentum: Momentum,
    weight_decay: DecayRate,
    trust_coefficient: f64,
    clip_lr: bool,
}

impl Optimizer for Lars {
    type State<const D: usize> = MomentumState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<MomentumState<D>>,
    ) -> (Tensor<D>, Option<MomentumState<D>>) {
        let grad = if D > 1 {
            let g = grad + tensor.clone().mul_scalar(self.weight_decay.get());
            let w_norm = tensor.clone().powi_scalar(2).sum().sqrt();
            let g_norm = g.clone().powi_scalar(2).sum().sqrt();
            let degenerate = w_norm
                .clone()
                .equal_elem(0.0)
                .bool_or(g_norm.clone().equal_elem(0.0));
            let mut ratio = w_norm.mul_scalar(self.trust_coefficient) / g_norm.clamp_min(1e-30);
            if self.clip_lr && lr > 0.0 {
                ratio = ratio.div_scalar(lr).clamp_max(1.0);
            }
            let ratio = ratio.mask_fill(degenerate, 1.0);
            g * ratio.reshape([1; D])
        } else {
            grad
        };
        let (velocity, state) = self.momentum.transform(grad, state);
        (tensor - velocity.mul_scalar(lr), Some(state))
    }

    fn to_device<const D: usize>(state: MomentumState<D>, device: &Device) -> MomentumState<D> {
        state.to_device(device)
    }
}

/// How the encoder's learning rates follow the head's `lr` (`optim.encoder_lr_scale`,
/// `optim.layer_decay`): fine-tuning a pretrained encoder more gently than a fresh head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderLr {
    /// The encoder's learning rate as a fraction of the head's.
    pub scale: f64,
    /// Layer-wise decay `d` (BEiT, Bao et al. 2022; MAE's fine-tuning, He et al. 2022,
    /// appendix A.3): layer `l` of the encoder's `L` [`Encoder::layers`] learns at
    /// `lr × scale × d^(L − l)`, so the embeddings move least and the last block at `d` times
    /// the rate of the parameters above it (a ViT's final norm, which learns at `lr × scale`).
    /// 1 = the same rate throughout.
    pub layer_decay: f64,
}

impl EncoderLr {
    /// The encoder's learning rate per parameter when the head's is `lr`.
    fn rates(self, encoder: &Encoder, lr: f64) -> ModuleLearningRate {
        let base = lr * self.scale;
        if self.layer_decay == 1.0 {
            return base.into();
        }
        let layers = encoder.layers();
        let count = layers.len();
        let constant = LrSchedulerConfig::Constant;
        let config = layers.into_iter().enumerate().fold(
            ModuleLrSchedulerConfig::new(constant(base)),
            |config, (l, ids)| {
                let rate = base * self.layer_decay.powi((count - l) as i32);
                config.with_group(ParamGroup::from_ids(ids), constant(rate))
            },
        );
        config
            .init()
            .expect("constant learning rates always build")
            .step()
    }
}

/// The gradients of a network's encoder and head, summed over the batches of one optimiser
/// step and applied with separate learning rates: the head's `lr`, the encoder's as
/// [`EncoderLr`] says. One optimiser holds the state of both: its state is keyed by
/// parameter.
pub struct NetworkGradients<H: Module> {
    encoder: GradientsAccumulator<Encoder>,
    head: GradientsAccumulator<H>,
}

impl<H: Module> Default for NetworkGradients<H> {
    fn default() -> Self {
        NetworkGradients {
            encoder: GradientsAccumulator::new(),
            head: GradientsAccumulator::new(),
        }
    }
}

impl<H: Module> NetworkGradients<H> {
    /// Adds the gradients of one backward pass.
    pub fn accumulate(&mut self, net: &Network<H>, mut grads: Gradients) {
        let encoder = GradientsParams::from_module(&mut grads, &net.encoder);
        let head = GradientsParams::from_module(&mut grads, &net.head);
        self.encoder.accumulate(&net.encoder, encoder);
        self.head.accumulate(&net.head, head);
    }

    /// Adds `other`, the gradients of another replica of `net` (same parameters, another
    /// device), moved to `device`: the gather half of data parallelism's all-reduce on the
    /// host ([`super::parallel::Reduction::Host`]).
    pub fn absorb(&mut self, net: &Network<H>, mut other: Self, device: &Device) {
        let encoder = other.encoder.grads().to_device(device, &net.encoder);
        let head = other.head.grads().to_device(device, &net.head);
        self.encoder.accumulate(&net.encoder, encoder);
        self.head.accumulate(&net.head, head);
    }

    /// A copy of these gradients on `device`, for `net`, the replica there: the broadcast half
    /// of the all-reduce on the host.
    pub fn copy_to(&mut self, net: &Network<H>, device: &Device) -> Self {
        let mut copy = Self::default();
        copy.encoder.accumulate(
            &net.encoder,
            copied(&mut self.encoder, &net.encoder, device),
        );
        copy.head
            .accumulate(&net.head, copied(&mut self.head, &net.head, device));
        copy
    }

    /// Lays every gradient end to end, in the order of `net`'s parameters, in one buffer,
    /// hands it to `reduce` to change in place (MPI's all-reduce across processes,
    /// [`crate::distributed::all_reduce_sum`]), and takes the changed values back onto
    /// `device` as the gradients.
    pub fn reduce_flat(
        &mut self,
        net: &Network<H>,
        device: &Device,
        reduce: impl FnOnce(&mut [f32]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut grads = [self.encoder.grads(), self.head.grads()];
        let mut flat = Vec::new();
        let [encoder, head] = &grads;
        net.encoder.visit(&mut Flatten {
            from: encoder,
            into: &mut flat,
        });
        net.head.visit(&mut Flatten {
            from: head,
            into: &mut flat,
        });
        reduce(&mut flat)?;
        let mut values = &flat[..];
        let [encoder, head] = &mut grads;
        net.encoder.visit(&mut Unflatten {
            grads: encoder,
            values: &mut values,
            device,
        });
        net.head.visit(&mut Unflatten {
            grads: head,
            values: &mut values,
            device,
        });
        let [encoder, head] = grads;
        self.encoder.accumulate(&net.encoder, encoder);
        self.head.accumulate(&net.head, head);
        Ok(())
    }

    /// One optimiser step: the head at `lr`, the encoder as `encoder_lr` says.
    pub fn step(
        mut self,
        optimizer: &mut ModuleOptimizer,
        mut net: Network<H>,
        lr: f64,
        encoder_lr: EncoderLr,
    ) -> Network<H> {
        let rates = encoder_lr.rates(&net.encoder, lr);
        net.encoder = optimizer.step(rates, net.encoder, self.encoder.grads());
        net.head = optimizer.step(lr, net.head, self.head.grads());
        net
    }
}

/// A copy on `device` of the gradients in `accumulator` (which keeps them) for the parameters
/// of `module`.
fn copied<M: Module>(
    accumulator: &mut GradientsAccumulator<M>,
    module: &M,
    device: &Device,
) -> GradientsParams {
    let grads = accumulator.grads();
    let mut copy = CopyGradients {
        from: &grads,
        to: GradientsParams::new(),
        device,
    };
    module.visit(&mut copy);
    let copy = copy.to;
    accumulator.accumulate(module, grads);
    copy
}

/// Registers in `to` a copy on `device` of each gradient of `from` a visited parameter has.
struct CopyGradients<'a> {
    from: &'a GradientsParams,
    to: GradientsParams,
    device: &'a Device,
}

impl ModuleVisitor for CopyGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.from.get::<D>(param.id) {
            self.to.register(param.id, grad.to_device(self.device));
        }
    }
}

/// Appends the values of each gradient of `from` a visited parameter has to `into`.
struct Flatten<'a> {
    from: &'a GradientsParams,
    into: &'a mut Vec<f32>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.from.get::<D>(param.id) {
            let data = grad.into_data().convert::<f32>();
            self.into.extend(data.iter::<f32>());
        }
    }
}

/// Replaces each gradient of `grads` a visited parameter has by the next values of `values`
/// (as many as it has elements), on `device`: [`Flatten`] undone.
struct Unflatten<'a, 'v> {
    grads: &'a mut GradientsParams,
    values: &'a mut &'v [f32],
    device: &'a Device,
}

impl ModuleVisitor for Unflatten<'_, '_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return;
        };
        let shape = grad.shape();
        let (taken, rest) = self.values.split_at(shape.num_elements());
        *self.values = rest;
        let data = burn::tensor::TensorData::new(taken.to_vec(), shape);
        self.grads
            .register(param.id, Tensor::<D>::from_data(data, self.device));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Module, Debug)]
    struct Scalar {
        w: Param<Tensor<1>>,
    }

    #[derive(Module, Debug)]
    struct Matrix {
        w: Param<Tensor<2>>,
        b: Param<Tensor<1>>,
    }

    /// Two LARS steps on f = Σ w²/2 + Σ b (gradients w and 1) with lr 0.5, η 0.1,
    /// λ 0.5, μ 0.9, computed by hand: the matrix follows the trust ratio, the bias does not.
    /// w₀ = [[3, 4]] (‖w‖ = 5): g = w + λw = 1.5 w, ‖g‖ = 7.5, ratio = 0.1·5/7.5 = 1/15,
    /// so g = 0.1 w₀ = [[0.3, 0.4]], v = g, w₁ = w₀ − 0.5 v = [[2.85, 3.8]].
    /// Step 2: g = 1.5 w₁, ratio = 0.1‖w₁‖/(1.5‖w₁‖) = 1/15 → g = 0.1 w₁ = [[0.285, 0.38]],
    /// v = 0.9·[[0.3, 0.4]] + g = [[0.555, 0.74]], w₂ = w₁ − 0.5 v = [[2.5725, 3.43]].
    /// The bias: g = 1 twice (no decay, no ratio): b₁ = −0.5, v = 1.9, b₂ = −1.45.
    #[test]
    fn lars_matches_the_update_rule_by_hand_and_spares_biases() {
        let device = Device::flex().autodiff();
        let mut model = Matrix {
            w: Param::from_tensor(Tensor::from_floats([[3.0, 4.0]], &device)),
            b: Param::from_tensor(Tensor::from_floats([0.0], &device)),
        };
        let config = OptimConfig {
            name: OptimizerKind::Lars,
            lr: 0.5,
            momentum: 0.9,
            weight_decay: 0.5,
            trust_coefficient: 0.1,
            ..OptimConfig::default()
        };
        let mut optim = build(&config);
        for _ in 0..2 {
            let loss = model.w.val().powi_scalar(2).sum().mul_scalar(0.5) + model.b.val().sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.5, model, grads);
        }
        let w: Vec<f32> = model.w.val().into_data().try_into_vec().unwrap();
        let b: f32 = model.b.val().into_scalar();
        assert!(
            (w[0] - 2.5725).abs() < 1e-5 && (w[1] - 3.43).abs() < 1e-5,
            "{w:?}"
        );
        assert!((b + 1.45).abs() < 1e-6, "{b}");
    }

    /// AdamW's decoupled decay shrinks the matrix and spares the bias: with zero gradients
    /// (Adam's step is then 0) one step at lr 0.1, λ 0.5 multiplies w by 1 − 0.05 and leaves
    /// b where it was.
    #[test]
    fn adamw_decays_matrices_and_spares_one_dimensional_tensors() {
        let device = Device::flex().autodiff();
        let mut model = Matrix {
            w: Param::from_tensor(Tensor::from_floats([[3.0, 4.0]], &device)),
            b: Param::from_tensor(Tensor::from_floats([2.0], &device)),
        };
        let config = OptimConfig {
            name: OptimizerKind::Adamw,
            weight_decay: 0.5,
            ..OptimConfig::default()
        };
        let loss = (model.w.val().sum() + model.b.val().sum()).mul_scalar(0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = build(&config).step(0.1, model, grads);
        let w: Vec<f32> = model.w.val().into_data().try_into_vec().unwrap();
        let b: f32 = model.b.val().into_scalar();
        assert!(
            (w[0] - 2.85).abs() < 1e-6 && (w[1] - 3.8).abs() < 1e-6,
            "{w:?}"
        );
        assert_eq!(b, 2.0);
    }

    /// A scheduled decay is read at every step: zero gradients (Adam's step is then 0), lr
    /// 0.1, λ 0.5 then 0.1: w is multiplied by 1 − 0.05, then by 1 − 0.01.
    #[test]
    fn adamw_reads_the_scheduled_decay_at_every_step() {
        let device = Device::flex().autodiff();
        let mut model = Matrix {
            w: Param::from_tensor(Tensor::from_floats([[3.0, 4.0]], &device)),
            b: Param::from_tensor(Tensor::from_floats([2.0], &device)),
        };
        let config = OptimConfig {
            name: OptimizerKind::Adamw,
            ..OptimConfig::default()
        };
        let decay = DecayRate::new(0.5);
        let mut optimizer = build_scheduled(&config, &decay);
        for rate in [0.5, 0.1] {
            decay.set(rate);
            let loss = (model.w.val().sum() + model.b.val().sum()).mul_scalar(0.0);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(0.1, model, grads);
        }
        let w: Vec<f32> = model.w.val().into_data().try_into_vec().unwrap();
        let kept = 0.95 * 0.99;
        assert!(
            (w[0] - 3.0 * kept).abs() < 1e-6 && (w[1] - 4.0 * kept).abs() < 1e-6,
            "{w:?}"
        );
    }

    /// `clip_grad` scales each parameter's gradient to that norm at most (DINO's clipping):
    /// plain SGD at lr 1 on f = 10·Σw from w = [[3, 4]] has gradient [[10, 10]] (norm 10√2);
    /// clipped to norm 1 the step is [[1, 1]]/√2. The bias's gradient, 1, is under the cap.
    #[test]
    fn clip_grad_caps_each_parameters_gradient_norm() {
        let device = Device::flex().autodiff();
        let mut model = Matrix {
            w: Param::from_tensor(Tensor::from_floats([[3.0, 4.0]], &device)),
            b: Param::from_tensor(Tensor::from_floats([0.0], &device)),
        };
        let config = OptimConfig {
            momentum: 0.0,
            weight_decay: 0.0,
            clip_grad: 1.0,
            ..OptimConfig::default()
        };
        let loss = model.w.val().sum().mul_scalar(10.0) + model.b.val().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = build(&config).step(1.0, model, grads);
        let w: Vec<f32> = model.w.val().into_data().try_into_vec().unwrap();
        let step = 0.5f32.sqrt();
        assert!(
            (w[0] - (3.0 - step)).abs() < 1e-5 && (w[1] - (4.0 - step)).abs() < 1e-5,
            "{w:?}"
        );
        let b: f32 = model.b.val().into_scalar();
        assert!((b + 1.0).abs() < 1e-6, "{b}");
    }

    /// One clipped LARS step from w₀ = [[3, 4]] (as above: λ 0.5, η 0.1, ratio 1/15, no
    /// momentum yet): at lr 0.5 the ratio over lr is 2/15 < 1, so the step is ratio · g =
    /// 0.1 w₀ and w₁ = [[2.7, 3.6]]; at lr 0.05 it is 4/3, clipped to 1, so the step is
    /// lr · g = 0.05 · 1.5 w₀ and w₁ = [[2.775, 3.7]].
    #[test]
    fn clipped_lars_caps_the_trust_ratio_at_the_learning_rate() {
        let device = Device::flex().autodiff();
        for (lr, expected) in [(0.5, [2.7, 3.6]), (0.05, [2.775, 3.7])] {
            let mut model = Matrix {
                w: Param::from_tensor(Tensor::from_floats([[3.0, 4.0]], &device)),
                b: Param::from_tensor(Tensor::from_floats([0.0], &device)),
            };
            let config = OptimConfig {
                name: OptimizerKind::Lars,
                momentum: 0.9,
                weight_decay: 0.5,
                trust_coefficient: 0.1,
                clip_lr: true,
                ..OptimConfig::default()
            };
            let loss = model.w.val().powi_scalar(2).sum().mul_scalar(0.5) + model.b.val().sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = build(&config).step(lr, model, grads);
            let w: Vec<f32> = model.w.val().into_data().try_into_vec().unwrap();
            assert!(
                (w[0] - expected[0]).abs() < 1e-5 && (w[1] - expected[1]).abs() < 1e-5,
                "lr {lr}: {w:?}"
            );
        }
    }

    /// A fixed, smooth 2 × 1 × 8 × 8 input batch.
    fn wave(device: &Device) -> Tensor<4> {
        Tensor::<1, Int>::arange(0..128, device)
            .float()
            .div_scalar(9.0)
            .sin()
            .reshape([2, 1, 8, 8])
    }

    /// `Σ features ⊙ c` with fixed, uneven coefficients `c`: unlike `Σ features` or
    /// `Σ features²`, which batch and layer normalisation make (nearly) constant, its gradient
    /// reaches every layer.
    fn uneven_loss(features: Tensor<2>, device: &Device) -> Tensor<1> {
        let [n, d] = features.dims();
        let c = Tensor::<1, Int>::arange(0..(n * d) as i64, device)
            .float()
            .mul_scalar(0.7)
            .cos()
            .reshape([n, d]);
        (features * c).sum()
    }

    /// With `encoder_lr_scale` 0 the encoder stays where it was while the head moves; with
    /// 0.5 the encoder's SGD step is half the head's step for the same gradient.
    #[test]
    fn the_encoder_learning_rate_is_scaled_and_the_head_takes_the_full_rate() {
        use crate::encoder::{Architecture, EncoderConfig, Stem};
        let device = Device::flex().autodiff();
        let encoder = EncoderConfig {
            arch: Architecture::ConvnetSmall,
            width: 0.125,
            in_channels: 1,
            stem: Stem::Cifar,
            ..Default::default()
        };
        let flat = |t: Tensor<4>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
        let weight = |net: &Network<Scalar>| match &net.encoder {
            Encoder::ConvNet(c) => flat(c.layers[0].conv.weight.val()),
            _ => unreachable!("the test builds a ConvNet"),
        };
        let config = OptimConfig {
            momentum: 0.0,
            weight_decay: 0.0,
            ..OptimConfig::default()
        };
        // One initialisation for every scale, and a loss whose gradient normalisation does not
        // cancel (a plain sum of batch-normalised features is constant in the weights).
        let start = Network {
            encoder: crate::device::seeded(&device, 1, || encoder.init(&device)),
            head: Scalar {
                w: Param::from_tensor(Tensor::from_floats([1.0], &device)),
            },
        };
        let mut moved = Vec::new();
        for scale in [0.0, 0.5, 1.0] {
            let mut net = start.clone();
            let before = weight(&net);
            let loss =
                uneven_loss(net.encoder.forward(wave(&device)), &device) * net.head.w.val().sum();
            let mut gradients = NetworkGradients::default();
            gradients.accumulate(&net, loss.backward());
            let mut optimizer = build(&config);
            let encoder_lr = EncoderLr {
                scale,
                layer_decay: 1.0,
            };
            net = gradients.step(&mut optimizer, net, 0.1, encoder_lr);
            let head: f32 = net.head.w.val().into_scalar();
            assert!(head != 1.0, "the head moves at every scale");
            let delta: f32 = weight(&net)
                .iter()
                .zip(&before)
                .map(|(a, b)| (a - b).abs())
                .sum();
            moved.push(delta);
        }
        assert_eq!(moved[0], 0.0);
        assert!(moved[2] > 0.0);
        assert!((moved[1] / moved[2] - 0.5).abs() < 1e-3, "{moved:?}");
    }

    /// Layer-wise decay 0.5 on a two-block ViT (layers: embeddings, block 0, block 1): one
    /// plain SGD step moves each weight by `d^(3 − l)` of what the undecayed step moves it —
    /// 1/8 for the patch projection and the CLS token, 1/4 in block 0, 1/2 in block 1 — and
    /// the final norm and the head as much as without decay.
    #[test]
    fn layer_decay_scales_each_layer_by_its_depth() {
        use crate::encoder::{Architecture, EncoderConfig};
        let device = Device::flex().autodiff();
        let encoder = EncoderConfig {
            arch: Architecture::VitTiny,
            width: 0.1,
            in_channels: 1,
            depth: 2,
            ..Default::default()
        }
        .resolved(1, 8);
        fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
            t.into_data().try_to_vec().unwrap()
        }
        let weights = |net: &Network<Scalar>| -> Vec<Vec<f32>> {
            let Encoder::Vit(vit) = &net.encoder else {
                unreachable!("the test builds a ViT")
            };
            vec![
                flat(vit.patch_embed.proj.weight.val()),
                flat(vit.cls_token.val()),
                flat(vit.blocks[0].attn.qkv.weight.val()),
                flat(vit.blocks[1].mlp.fc2.weight.val()),
                flat(vit.norm.gamma.val()),
                flat(net.head.w.val()),
            ]
        };
        let config = OptimConfig {
            momentum: 0.0,
            weight_decay: 0.0,
            ..OptimConfig::default()
        };
        let start = Network {
            encoder: crate::device::seeded(&device, 3, || encoder.init(&device)),
            head: Scalar {
                w: Param::from_tensor(Tensor::from_floats([1.0], &device)),
            },
        };
        let moves = |layer_decay: f64| -> Vec<f32> {
            let mut net = start.clone();
            let before = weights(&net);
            let loss =
                uneven_loss(net.encoder.forward(wave(&device)), &device) * net.head.w.val().sum();
            let mut gradients = NetworkGradients::default();
            gradients.accumulate(&net, loss.backward());
            let encoder_lr = EncoderLr {
                scale: 1.0,
                layer_decay,
            };
            net = gradients.step(&mut build(&config), net, 0.1, encoder_lr);
            let after = weights(&net);
            let moved = |(a, b): (&Vec<f32>, &Vec<f32>)| -> f32 {
                a.iter().zip(b).map(|(a, b)| (a - b).abs()).sum()
            };
            after.iter().zip(&before).map(moved).collect()
        };
        let (plain, decayed) = (moves(1.0), moves(0.5));
        for (i, expected) in [0.125, 0.125, 0.25, 0.5, 1.0, 1.0].into_iter().enumerate() {
            assert!(plain[i] > 0.0, "weight {i} moves: {plain:?}");
            let ratio = decayed[i] / plain[i];
            assert!(
                (ratio - expected).abs() < 1e-3,
                "weight {i}: {ratio} ≠ {expected}"
            );
        }
    }

    /// Three SGD steps on f(w) = w²/2 (gradient w) from w = 1 with lr 0.1, momentum 0.9,
    /// weight decay 0.1 and no dampening, computed by hand with PyTorch's update rule
    /// g = ∇ + λw; b = μb + g (b = g at the first step); w -= lr·b.
    #[test]
    fn sgd_matches_pytorch_update_rule() {
        let device = Device::flex().autodiff();
        let mut model = Scalar {
            w: Param::from_tensor(Tensor::from_floats([1.0], &device)),
        };
        let config = OptimConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.1,
            ..OptimConfig::default()
        };
        let mut optim = build(&config);
        let (mut w, mut b) = (1.0f64, 0.0f64);
        for step in 0..3 {
            let loss = model.w.val().powi_scalar(2).sum().mul_scalar(0.5);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.1, model, grads);
            let g = w + 0.1 * w;
            b = if step == 0 { g } else { 0.9 * b + g };
            w -= 0.1 * b;
            let got: f32 = model.w.val().into_scalar();
            assert!((got as f64 - w).abs() < 1e-6, "step {step}: {got} vs {w}");
        }
    }
}

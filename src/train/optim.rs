//! Optimisers with PyTorch semantics on top of burn's.

use crate::config::{OptimConfig, OptimizerKind};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer, SgdConfig};

/// Builds the optimiser `config` describes.
///
/// SGD follows `torch.optim.SGD`: momentum without dampening (burn's default dampening is
/// 0.1, PyTorch's 0), optional Nesterov, weight decay added to the gradient. AdamW follows
/// `torch.optim.AdamW` (decoupled decay).
pub fn build(config: &OptimConfig) -> ModuleOptimizer {
    match config.name {
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
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(config.beta1 as f32)
            .with_beta_2(config.beta2 as f32)
            .with_epsilon(config.eps as f32)
            .with_weight_decay(config.weight_decay as f32)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::prelude::*;

    #[derive(Module, Debug)]
    struct Scalar {
        w: Param<Tensor<1>>,
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

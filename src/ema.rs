//! Exponential moving averages of networks: the target networks of BYOL (Grill et al. 2020,
//! §3.1), MoCo and DINO's teacher.
//!
//! After each optimiser step the target's weights ξ move toward the online weights θ:
//! ξ ← τ ξ + (1 − τ) θ, with τ rising from `τ_base` to `τ_end` (1 in BYOL and DINO) over
//! training on BYOL's cosine schedule τ_k = τ_end − (τ_end − τ_base)(cos(π k / K) + 1) / 2;
//! `τ_base = τ_end` gives a constant rate (MoCo's 0.999).

use crate::encoder::Encoder;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// A target ("momentum", "teacher") network: a copy of the online encoder and of one online
/// head that receives no gradient and only follows the online weights by [`update`]. BYOL's
/// target, MoCo's key encoder and DINO's teacher are each one of these.
#[derive(Module, Debug)]
pub struct Target<H: Module> {
    /// Copy of the online encoder.
    pub encoder: Encoder,
    /// Copy of the online head (projector, or DINO's projection head).
    pub head: H,
}

impl<H: Module> Target<H> {
    /// A frozen copy of `encoder` and `head` (the target's starting point).
    pub fn copy_of(encoder: &Encoder, head: &H) -> Self {
        Target {
            encoder: frozen_copy(encoder),
            head: frozen_copy(head),
        }
    }

    /// One EMA step toward the online `encoder` and `head` with decay rate `tau`.
    pub fn follow(self, encoder: &Encoder, head: &H, tau: f64) -> Self {
        Target {
            encoder: update(self.encoder, encoder, tau),
            head: update(self.head, head, tau),
        }
    }
}

/// BYOL's target decay rate at step `step` of `total` (Grill et al. 2020, §3.2):
/// `end − (end − base)(cos(π k/K) + 1)/2`, `base` at the first step and `end` at the last.
pub fn cosine_tau(base: f64, end: f64, step: u64, total: u64) -> f64 {
    let progress = step.min(total) as f64 / total.max(1) as f64;
    end - (end - base) * ((std::f64::consts::PI * progress).cos() + 1.0) / 2.0
}

/// I-JEPA's target decay rate at step `step` of `total` (Assran et al. 2023; the reference's
/// momentum scheduler): linear from `base` at the first step to `end` at the last.
pub fn linear_tau(base: f64, end: f64, step: u64, total: u64) -> f64 {
    let progress = step.min(total) as f64 / total.max(1) as f64;
    base + (end - base) * progress
}

/// Moves every floating-point tensor of `target` (parameters and running statistics) toward
/// the matching tensor of `online`: `target ← τ·target + (1 − τ)·online`. The two modules
/// must have the same structure (the target is a copy of the online network); no gradient
/// flows through the update.
pub fn update<M: Module>(target: M, online: &M, tau: f64) -> M {
    let mut collect = Collect(Vec::new());
    online.visit(&mut collect);
    let mut blend = Blend {
        online: collect.0.into_iter(),
        tau,
    };
    target.map(&mut blend)
}

/// A copy of `module` that takes no gradient: the starting point of a target network.
///
/// The copy's parameters get fresh ids. burn's optimisers find gradients and their state by
/// parameter id, so a copy that kept the online ids would be stepped with the online
/// network's gradients whenever both live in the same trained module.
pub fn frozen_copy<M: Module>(module: &M) -> M {
    module.clone().map(&mut FreshIds).no_grad()
}

struct FreshIds;

impl ModuleMapper for FreshIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        Param::from_mapped_value(ParamId::new(), value.detach(), mapper)
    }
}

struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().detach();
        let n = value.shape().num_elements();
        self.0.push(value.reshape([n]));
    }
}

struct Blend {
    online: std::vec::IntoIter<Tensor<1>>,
    tau: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(online) = self.online.next() else {
            return param;
        };
        let tau = self.tau;
        param.map(|target| {
            let online = online.reshape(target.shape());
            (target.detach().mul_scalar(tau) + online.mul_scalar(1.0 - tau)).detach()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Pair {
        online: Linear,
        target: Linear,
    }

    #[test]
    fn an_optimiser_step_moves_the_online_network_and_not_its_frozen_copy() {
        use burn::optim::{GradientsParams, SgdConfig};
        let device = Device::flex().autodiff();
        let online = set(LinearConfig::new(2, 1).init(&device), [1.0, 2.0], 3.0);
        let target = frozen_copy(&online);
        assert_ne!(online.weight.id, target.weight.id);
        let pair = Pair { online, target };
        let x = Tensor::<2>::from_floats([[1.0, 1.0]], &device);
        let loss = (pair.online.forward(x.clone()) + pair.target.forward(x)).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &pair);
        let pair = SgdConfig::new().init().step(0.1, pair, grads);
        let values = |l: &Linear| l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            values(&pair.target),
            vec![1.0, 2.0],
            "the copy must not move"
        );
        assert_ne!(
            values(&pair.online),
            vec![1.0, 2.0],
            "the online network must move"
        );
    }

    #[test]
    fn a_copy_of_a_module_not_yet_drawn_holds_the_same_weights() {
        // burn draws parameters lazily: a target copied in `init_head`, before the trainer
        // materialises the network, must still start equal to its online module.
        let device = Device::flex();
        let online = LinearConfig::new(8, 4).init(&device);
        let target = frozen_copy(&online);
        let values = |l: &Linear| l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values(&target), values(&online));
    }

    #[test]
    fn tau_schedule_endpoints_and_midpoint() {
        assert!((cosine_tau(0.996, 1.0, 0, 100) - 0.996).abs() < 1e-12);
        assert!((cosine_tau(0.996, 1.0, 100, 100) - 1.0).abs() < 1e-12);
        assert!((cosine_tau(0.99, 1.0, 50, 100) - 0.995).abs() < 1e-12);
        assert_eq!(cosine_tau(0.999, 0.999, 37, 100), 0.999);
        assert_eq!(cosine_tau(0.0, 0.0, 37, 100), 0.0);
        // I-JEPA's linear rate: a quarter of the way at a quarter of the run.
        assert!((linear_tau(0.996, 1.0, 25, 100) - 0.997).abs() < 1e-12);
        assert!((linear_tau(0.996, 1.0, 0, 100) - 0.996).abs() < 1e-12);
        assert!((linear_tau(0.996, 1.0, 150, 100) - 1.0).abs() < 1e-12);
    }

    fn set(linear: Linear, w: [f32; 2], b: f32) -> Linear {
        let device = linear.weight.val().device();
        Linear {
            weight: Param::from_tensor(Tensor::<2>::from_floats([[w[0]], [w[1]]], &device)),
            bias: Some(Param::from_tensor(Tensor::<1>::from_floats([b], &device))),
        }
    }

    #[test]
    fn update_matches_hand_computed_values_and_tracks_no_gradient() {
        let device = Device::flex().autodiff();
        let online = set(LinearConfig::new(2, 1).init(&device), [1.0, 2.0], 3.0);
        let target = frozen_copy(&set(
            LinearConfig::new(2, 1).init(&device),
            [0.0, 10.0],
            -1.0,
        ));
        let target = update(target, &online, 0.9);
        // 0.9·0 + 0.1·1 = 0.1; 0.9·10 + 0.1·2 = 9.2; 0.9·(−1) + 0.1·3 = −0.6
        let w: Vec<f32> = target.weight.val().into_data().try_to_vec().unwrap();
        let b: Vec<f32> = target
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec()
            .unwrap();
        for (got, want) in w.iter().chain(&b).zip([0.1, 9.2, -0.6]) {
            assert!((got - want).abs() < 1e-6, "{w:?} {b:?}");
        }
        assert!(!target.weight.val().is_require_grad());
        // τ = 1 keeps the target, τ = 0 copies the online network.
        let same = update(target.clone(), &online, 1.0);
        assert_eq!(
            same.weight.val().into_data().try_to_vec::<f32>().unwrap(),
            target.weight.val().into_data().try_to_vec::<f32>().unwrap()
        );
        let copied = update(target, &online, 0.0);
        assert_eq!(
            copied.weight.val().into_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 2.0]
        );
    }
}

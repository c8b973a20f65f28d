//! Heads shared by methods: classifiers, projectors and predictors as one configurable MLP.

use crate::kernels::batch_norm_layer_1d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu};
use serde::{Deserialize, Serialize};

/// The non-linearity between an [`Mlp`]'s layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(0, x)`: SimCLR, BYOL, SimSiam, Barlow Twins, VICReg, MoCo v2.
    #[default]
    Relu,
    /// Gaussian error linear unit: DINO's projection head.
    Gelu,
}

/// The shape of a projector or predictor, as written in a run config, e.g.
/// `projector = { hidden = [4096], out = 256 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers (empty: a single linear map).
    pub hidden: Vec<usize>,
    /// Output width.
    pub out: usize,
    /// Batch norm after every hidden linear layer (before the activation).
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Batch norm on the output too (SimSiam's projector).
    #[serde(default)]
    pub out_batch_norm: bool,
    /// The output batch norm learns its scale and shift (γ, β); `false` keeps them at 1
    /// and 0, untrained (SimSiam's reference: `BatchNorm1d(dim, affine=False)`).
    #[serde(default = "yes")]
    pub out_affine: bool,
    /// Non-linearity after each hidden layer.
    #[serde(default)]
    pub activation: Activation,
}

fn yes() -> bool {
    true
}

impl MlpConfig {
    /// `Linear → BN → ReLU` hidden layers of the given widths, then a linear output layer: the
    /// projector and predictor of SimCLR and BYOL.
    pub fn new(hidden: &[usize], out: usize) -> Self {
        MlpConfig {
            hidden: hidden.to_vec(),
            out,
            batch_norm: true,
            out_batch_norm: false,
            out_affine: true,
            activation: Activation::Relu,
        }
    }

    /// Checks that every width is positive; `name` is the option's name in error messages.
    pub fn validate(&self, name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.out > 0 && self.hidden.iter().all(|&h| h > 0),
            "method.{name}: layer widths must be positive, got hidden {:?} out {}",
            self.hidden,
            self.out
        );
        Ok(())
    }

    /// A fresh MLP taking `d_in` features.
    pub fn init(&self, d_in: usize, device: &Device) -> Mlp {
        let mut d = d_in;
        let hidden = self
            .hidden
            .iter()
            .map(|&h| {
                let layer = HiddenLayer {
                    linear: LinearConfig::new(d, h).init(device),
                    bn: self
                        .batch_norm
                        .then(|| BatchNormConfig::new(h).init(device)),
                };
                d = h;
                layer
            })
            .collect();
        Mlp {
            hidden,
            out: LinearConfig::new(d, self.out).init(device),
            out_bn: self.out_batch_norm.then(|| {
                let bn = BatchNormConfig::new(self.out).init(device);
                // No gradient: γ = 1 and β = 0 stay as initialised (and the optimiser,
                // which steps only what has a gradient, never decays them).
                if self.out_affine { bn } else { bn.no_grad() }
            }),
            activation: self.activation,
        }
    }
}

/// `Linear → [BatchNorm] → activation → … → Linear [→ BatchNorm]`: the projector and
/// predictor of the joint-embedding methods (Grill et al. 2020, §3.3) and the classifiers of
/// the pretext tasks. Built from an [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers.
    pub hidden: Vec<HiddenLayer>,
    /// Output layer.
    pub out: Linear,
    /// Batch norm of the output, when configured.
    pub out_bn: Option<BatchNorm>,
    /// Non-linearity after each hidden layer.
    #[module(skip)]
    pub activation: Activation,
}

/// One hidden layer of an [`Mlp`]: linear map, optional batch norm (the activation follows).
#[derive(Module, Debug)]
pub struct HiddenLayer {
    /// The linear map.
    pub linear: Linear,
    /// Its batch norm.
    pub bn: Option<BatchNorm>,
}

impl Mlp {
    /// An MLP `d_in → hidden… → d_out` with batch norm and ReLU after each hidden layer;
    /// `hidden` may be empty (a linear layer).
    pub fn new(d_in: usize, hidden: &[usize], d_out: usize, device: &Device) -> Self {
        MlpConfig::new(hidden, d_out).init(d_in, device)
    }

    /// Applies the MLP to `[N, d_in]` features.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.hidden {
            x = layer.linear.forward(x);
            // A ReLU after a batch norm is fused into it.
            x = match (&layer.bn, self.activation) {
                (Some(bn), Activation::Relu) => batch_norm_layer_1d(bn, x, true),
                (Some(bn), Activation::Gelu) => gelu(batch_norm_layer_1d(bn, x, false)),
                (None, Activation::Relu) => relu(x),
                (None, Activation::Gelu) => gelu(x),
            };
        }
        let x = self.out.forward(x);
        match &self.out_bn {
            Some(bn) => batch_norm_layer_1d(bn, x, false),
            None => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_builds_the_layers_it_names() {
        let device = Device::flex();
        let config: MlpConfig =
            toml::from_str("hidden = [8, 6]\nout = 4\nbatch_norm = false\nout_batch_norm = true")
                .unwrap();
        let mlp = config.init(5, &device);
        assert_eq!(mlp.hidden.len(), 2);
        assert!(mlp.hidden.iter().all(|l| l.bn.is_none()));
        assert!(mlp.out_bn.is_some());
        let y = mlp.forward(Tensor::zeros([3, 5], &device));
        assert_eq!(y.dims(), [3, 4]);
        assert!(MlpConfig::new(&[0], 3).validate("projector").is_err());
    }

    /// `out_affine = false`: after an SGD step the output batch norm's γ and β are still 1
    /// and 0 while the linear layers moved, and a network rebuilt from the config and loaded
    /// from the record (a resumed run) keeps them untrained.
    #[test]
    fn a_non_affine_output_batch_norm_is_not_trained() {
        use burn::module::Module;
        use burn::optim::{GradientsParams, SgdConfig};
        let device = Device::flex().autodiff();
        let config = MlpConfig {
            out_batch_norm: true,
            out_affine: false,
            ..MlpConfig::new(&[6], 4)
        };
        let values = |t: Tensor<1>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
        let mut mlp = config.init(5, &device);
        let x = Tensor::<2>::random([8, 5], burn::tensor::Distribution::Default, &device);
        let target = Tensor::<2>::random([8, 4], burn::tensor::Distribution::Default, &device);
        let before = mlp.out.weight.val().into_data();
        for _ in 0..2 {
            let loss = (mlp.forward(x.clone()) * target.clone()).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &mlp);
            mlp = SgdConfig::new().init().step(0.1, mlp, grads);
            let bn = mlp.out_bn.as_ref().unwrap();
            assert_eq!(values(bn.gamma.val()), vec![1.0; 4]);
            assert_eq!(values(bn.beta.val()), vec![0.0; 4]);
        }
        assert_ne!(mlp.out.weight.val().into_data(), before);
        let reloaded = config.init(5, &device).load_record(mlp.into_record());
        let bn = reloaded.out_bn.as_ref().unwrap();
        assert!(!bn.gamma.val().is_require_grad() && !bn.beta.val().is_require_grad());
        assert!(reloaded.out.weight.val().is_require_grad());
        let _ = reloaded.valid();
    }
}

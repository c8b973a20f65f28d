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
            out_bn: self
                .out_batch_norm
                .then(|| BatchNormConfig::new(self.out).init(device)),
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
}

//! Heads shared by methods: a linear classifier or an MLP with batch norm.

use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// `Linear → BatchNorm → ReLU → … → Linear`, the projector/predictor shape of SimCLR and
/// BYOL (Grill et al. 2020, §3.3), or a single `Linear` when there are no hidden layers.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers.
    pub hidden: Vec<HiddenLayer>,
    /// Output layer.
    pub out: Linear,
}

/// One hidden layer of an [`Mlp`]: linear map, batch norm (ReLU follows).
#[derive(Module, Debug)]
pub struct HiddenLayer {
    /// The linear map.
    pub linear: Linear,
    /// Its batch norm.
    pub bn: BatchNorm,
}

impl Mlp {
    /// An MLP `d_in → hidden… → d_out`; `hidden` may be empty (a linear layer).
    pub fn new(d_in: usize, hidden: &[usize], d_out: usize, device: &Device) -> Self {
        let mut d = d_in;
        let hidden = hidden
            .iter()
            .map(|&h| {
                let layer = HiddenLayer {
                    linear: LinearConfig::new(d, h).init(device),
                    bn: BatchNormConfig::new(h).init(device),
                };
                d = h;
                layer
            })
            .collect();
        Mlp {
            hidden,
            out: LinearConfig::new(d, d_out).init(device),
        }
    }

    /// Applies the MLP to `[N, d_in]` features.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.hidden {
            x = relu(layer.bn.forward(layer.linear.forward(x)));
        }
        self.out.forward(x)
    }
}

//! SimCLR, "A Simple Framework for Contrastive Learning of Visual Representations" (Chen et
//! al., ICML 2020).
//!
//! Both views of every image go through the encoder and a projection MLP; each projection
//! must pick out its partner among the `2N − 1` other projections of the batch. The loss is
//! NT-Xent (eq. 1), the normalised-temperature cross-entropy over cosine similarities,
//! averaged over all `2N` anchors.
//!
//! ```text
//! ℓ(i, j) = −log  exp(sim(z_i, z_j)/T) / Σ_{k ≠ i} exp(sim(z_i, z_k)/T)
//! ```

use super::embedding::l2_normalize;
use super::siamese::{PairLoss, Siamese};
use super::{accuracy, cross_entropy, label_tensor};
use crate::head::MlpConfig;
use burn::prelude::*;
use pretext_data::augment::ViewConfig;
use serde::{Deserialize, Serialize};

/// Options of SimCLR (defaults: the paper's appendix B.9 CIFAR-10 recipe: temperature 0.5,
/// projection 2048 → 128; views of appendix A).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimclrConfig {
    /// First view's augmentations; `size` 0 = the run's image size.
    pub view1: ViewConfig,
    /// Second view's augmentations (the paper uses the same recipe for both).
    pub view2: ViewConfig,
    /// Projection head g (paper: one hidden layer, 128 out; 2048 hidden as solo-learn).
    pub projector: MlpConfig,
    /// Temperature T of the softmax (paper: 0.5 for CIFAR-10, 0.1 for ImageNet).
    pub temperature: f64,
}

impl Default for SimclrConfig {
    fn default() -> Self {
        SimclrConfig {
            view1: ViewConfig::simclr(0),
            view2: ViewConfig::simclr(0),
            projector: MlpConfig::new(&[2048], 128),
            temperature: 0.5,
        }
    }
}

/// SimCLR: the encoder and projector of [`Siamese`] trained with [`NtXent`].
pub type Simclr = Siamese<NtXent>;

/// The NT-Xent loss at a temperature.
pub struct NtXent {
    temperature: f64,
}

/// NT-Xent over the `2N` projections of two views (rows `i` of `z1` and `z2` are the two
/// views of image `i`), with the accuracy of picking the partner as the most similar row.
pub fn nt_xent(z1: Tensor<2>, z2: Tensor<2>, temperature: f64) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = z1.dims();
    let device = z1.device();
    let z = l2_normalize(Tensor::cat(vec![z1, z2], 0));
    let self_pairs = Tensor::<2, Bool>::diag_mask([2 * n, 2 * n], 0, &device).bool_not();
    let logits = z
        .clone()
        .matmul(z.transpose())
        .div_scalar(temperature)
        .mask_fill(self_pairs, -1e9);
    let partners = label_tensor((0..2 * n).map(|i| (i + n) % (2 * n)), &device);
    (
        cross_entropy(logits.clone(), partners.clone()),
        accuracy(logits, partners),
    )
}

impl PairLoss for NtXent {
    type Config = SimclrConfig;

    fn new(config: &SimclrConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.temperature > 0.0,
            "method.temperature must be positive"
        );
        Ok(NtXent {
            temperature: config.temperature,
        })
    }

    fn views(config: &mut SimclrConfig) -> [&mut ViewConfig; 2] {
        [&mut config.view1, &mut config.view2]
    }

    fn projector(config: &SimclrConfig) -> (&MlpConfig, &'static str) {
        (&config.projector, "projector")
    }

    fn loss(&self, z1: Tensor<2>, z2: Tensor<2>) -> (Tensor<1>, Vec<(&'static str, Tensor<1>)>) {
        let (loss, acc) = nt_xent(z1, z2, self.temperature);
        (loss, vec![("contrast_acc", acc)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images, two views each, with orthogonal unit projections: every anchor's partner
    /// has similarity s and the two others similarity 0, so the loss is
    /// `−log(e^{s/T} / (e^{s/T} + 2))`.
    #[test]
    fn nt_xent_matches_the_formula_by_hand() {
        let device = Device::flex();
        let z1 = Tensor::<2>::from_floats([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]], &device);
        let s = 0.6f64;
        let c = (1.0 - s * s).sqrt();
        let z2 = Tensor::<2>::from_floats(
            [
                [s as f32, c as f32, 0.0, 0.0],
                [0.0, 0.0, s as f32, c as f32],
            ],
            &device,
        );
        let t = 0.5;
        let (loss, acc) = nt_xent(z1, z2.mul_scalar(3.0), t);
        let want = -((s / t).exp() / ((s / t).exp() + 2.0)).ln();
        let got: f32 = loss.into_scalar();
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
        assert_eq!(acc.into_scalar::<f32>(), 1.0);
    }
}

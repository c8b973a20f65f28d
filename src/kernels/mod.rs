//! pretext's own CPU kernels for the hot operations of a training step, plugged into burn
//! through its backend-extension mechanism (`#[backend_extension]`): on the flex backend,
//! with or without autodiff, the operations here run pretext's kernels and their hand-written
//! gradients; on any other backend (CUDA) they are burn's own operations.
//!
//! Why an extension and not a backend decorator: burn 0.22 reaches backends through its
//! `Dispatch` enum, which a crate cannot add a variant to; an extension adds operations to the
//! existing flex variant, and everything else (optimisers, checkpoints, other operations)
//! stays burn's.

pub mod batch_norm;
pub mod conv;
pub mod conv_shape;
pub mod matmul;
pub mod precision;
pub mod profile;
pub mod thin;
pub mod vectorize;
pub mod winograd;
pub mod written;

use batch_norm::{ChannelStats, NormShape};
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    AutodiffBackend, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata, backend_extension,
};
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation;
use burn::tensor::ops::ConvOptions;
use burn_flex::{FlexTensor, Layout};
use conv_shape::ConvShape;
pub use precision::{Precision, precision, set_precision};
use profile::Kernel;

/// Operations pretext implements itself on the flex backend.
#[backend_extension(Flex, Autodiff)]
pub trait Kernels: Backend {
    /// 2-D convolution without bias, groups or dilation: `x` `N × C_in × H × W`, `weight`
    /// `C_out × C_in × k_h × k_w`.
    fn conv2d_nobias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;

    /// Batch normalisation with the batch's own statistics over `N × C × H × W`, then a
    /// ReLU when `relu`; returns the output, the batch mean and the biased batch variance.
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// 2-D convolution without bias (groups 1, dilation 1) with symmetric zero `padding`: the
/// convolutions of every encoder pretext builds. pretext's kernels ([`conv`]) on flex, burn's
/// `conv2d` elsewhere.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    if !on_flex(&x) {
        return burn::tensor::module::conv2d(
            x,
            weight,
            None,
            ConvOptions::new(stride, padding, [1, 1], 1),
        );
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::conv2d_nobias(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ))
}

/// `conv.forward(x)`, through [`conv2d`] when the layer is one pretext's kernels cover (no
/// bias, one group, no dilation, symmetric or no padding), through burn's forward otherwise.
pub fn conv2d_layer(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        PaddingConfig2d::Valid => Some([0, 0]),
        _ => None,
    };
    match padding {
        Some(padding) if conv.bias.is_none() && conv.groups == 1 && conv.dilation == [1, 1] => {
            conv2d(x, conv.weight.val(), conv.stride, padding)
        }
        _ => conv.forward(x),
    }
}

/// `bn.forward(x)`, followed by a ReLU when `relu`. In training (an autodiff device and a
/// batch norm that is not frozen) on flex, one fused operation ([`batch_norm`]); the running
/// statistics are updated as burn's `BatchNorm` updates them (momentum, biased variance).
/// Elsewhere burn's forward.
pub fn batch_norm_layer(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    if !training || !on_flex(&x) {
        let y = bn.forward(x);
        return if relu { activation::relu(y) } else { y };
    }
    let (y, mean, var) = <Dispatch as Kernels>::batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        relu,
    );
    let m = bn.momentum;
    for (state, batch) in [(&bn.running_mean, mean), (&bn.running_var, var)] {
        let batch = Tensor::<1>::from_dispatch(batch).detach();
        let running = state.value_sync().to_device(&device);
        state.update(
            running
                .mul_scalar(1.0 - m)
                .add(batch.mul_scalar(m))
                .detach(),
        );
    }
    Tensor::from_dispatch(y)
}

/// `bn.forward(x)` on `N × C` features (the hidden layers of an MLP head), followed by a ReLU
/// when `relu`: [`batch_norm_layer`] on `N × C × 1 × 1`, which in training takes the fused
/// kernel's row layout ([`batch_norm`]).
pub fn batch_norm_layer_1d(bn: &BatchNorm, x: Tensor<2>, relu: bool) -> Tensor<2> {
    let [n, c] = x.dims();
    batch_norm_layer(bn, x.reshape([n, c, 1, 1]), relu).reshape([n, c])
}

/// The environment variable that, set to `burn`, makes every layer use burn's own operations
/// instead of pretext's kernels (to compare the two, or to rule the kernels out).
pub const SWITCH: &str = "PRETEXT_KERNELS";

/// Whether pretext's kernels are on: unless [`SWITCH`] is `burn` (read once per process).
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var(SWITCH).map_or(true, |v| v != "burn"))
}

/// Whether `x` is an `f32` tensor on the flex backend (with or without autodiff) and the
/// kernels are [`enabled`]: where pretext's kernels run.
fn on_flex(x: &Tensor<4>) -> bool {
    run_on(&x.device()) && x.dtype() == DType::F32
}

/// Whether pretext's kernels run on `device`: the flex backend (with or without autodiff),
/// the kernels [`enabled`].
pub fn run_on(device: &Device) -> bool {
    enabled()
        && matches!(
            device.clone().inner().as_dispatch(),
            DispatchDevice::Flex(_)
        )
}

/// The geometry of `conv2d_nobias(x, weight, stride, padding)`.
fn conv_shape(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
) -> ConvShape {
    let [batch, c_in, h, w] = dims4(x);
    let [c_out, c_in_w, kh, kw] = dims4(weight);
    assert_eq!(
        c_in, c_in_w,
        "convolution: input has {c_in} channels, weight expects {c_in_w}"
    );
    ConvShape {
        batch,
        c_in,
        h,
        w,
        c_out,
        kh,
        kw,
        stride,
        padding,
        precision: precision(),
    }
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.shape();
    assert_eq!(
        shape.num_dims(),
        4,
        "expected a 4-d tensor, got shape {shape:?}"
    );
    [shape[0], shape[1], shape[2], shape[3]]
}

/// The tensor's `f32` values in row-major order (copied only when the layout is not plain).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) if t.is_contiguous() => std::borrow::Cow::Borrowed(v),
        _ => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .map(<[f32]>::to_vec)
                .unwrap_or_default(),
        ),
    }
}

/// A contiguous `f32` flex tensor of `shape` holding `values` (no copy).
fn flex_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::new(
        burn::tensor::Bytes::from_elems(values),
        Layout::contiguous(Shape::new(shape)),
        DType::F32,
    )
}

impl Kernels for Flex {
    fn conv2d_nobias(
        x: FlexTensor,
        weight: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FlexTensor {
        let shape = conv_shape(&x, &weight, stride, padding);
        let y = profile::time_layer(
            Kernel::ConvForward,
            shape.flops(),
            || shape.label(),
            || conv::forward(&shape, &values(&x), &values(&weight)),
        );
        flex_tensor(y, [shape.batch, shape.c_out, shape.h_out(), shape.w_out()])
    }

    fn batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (y, stats) = norm_forward(&x, &gamma, &beta, epsilon, relu);
        let (mean, var) = stats_tensors(&stats);
        (y, mean, var)
    }
}

/// The fused batch-norm forward on flex tensors: the output and each channel's statistics.
fn norm_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
    relu: bool,
) -> (FlexTensor, Vec<ChannelStats>) {
    let dims = dims4(x);
    let shape = norm_shape(dims);
    profile::time(Kernel::NormForward, 0, || {
        let x = values(x);
        let stats = batch_norm::statistics(&shape, &x, epsilon);
        let y = batch_norm::forward(&shape, &x, &stats, &values(gamma), &values(beta), relu);
        (flex_tensor(y, dims), stats)
    })
}

fn norm_shape([batch, channels, h, w]: [usize; 4]) -> NormShape {
    NormShape {
        batch,
        channels,
        spatial: h * w,
    }
}

/// The mean and variance of each channel as two `[C]` tensors.
fn stats_tensors(stats: &[ChannelStats]) -> (FlexTensor, FlexTensor) {
    let vector =
        |f: fn(&ChannelStats) -> f32| flex_tensor(stats.iter().map(f).collect(), [stats.len()]);
    (vector(|s| s.mean), vector(|s| s.var))
}

/// The backward step of [`Kernels::conv2d_nobias`]: input and weight gradients from
/// [`conv::backward_input`] and [`conv::backward_weight`].
#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 2> for Conv2dBackward {
    type State = (FlexTensor, FlexTensor, [usize; 2], [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, padding) = ops.state;
        let shape = conv_shape(&x, &weight, stride, padding);
        let dy = values(&dy);
        if let Some(node) = node_x {
            let dx = profile::time_layer(
                Kernel::ConvInputGrad,
                shape.flops(),
                || shape.label(),
                || conv::backward_input(&shape, &dy, &values(&weight)),
            );
            grads.register::<Flex>(node.id, flex_tensor(dx, dims4(&x)));
        }
        if let Some(node) = node_weight {
            let dw = profile::time_layer(
                Kernel::ConvWeightGrad,
                shape.flops(),
                || shape.label(),
                || conv::backward_weight(&shape, &values(&x), &dy),
            );
            grads.register::<Flex>(node.id, flex_tensor(dw, dims4(&weight)));
        }
    }
}

/// The backward step of [`Kernels::batch_norm_train`]: [`batch_norm::backward`].
#[derive(Debug)]
struct BatchNormBackward;

/// What the batch-norm backward keeps: input, output when a ReLU was fused, statistics, γ.
type NormState = (
    FlexTensor,
    Option<FlexTensor>,
    Vec<ChannelStats>,
    FlexTensor,
);

impl Backward<Flex, 3> for BatchNormBackward {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, y, stats, gamma) = ops.state;
        let dims = dims4(&x);
        let y = y.as_ref().map(values);
        let (dx, d_gamma, d_beta) = profile::time(Kernel::NormBackward, 0, || {
            batch_norm::backward(
                &norm_shape(dims),
                &values(&x),
                y.as_deref(),
                &values(&dy),
                &stats,
                &values(&gamma),
            )
        });
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(dx, dims));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_tensor(d_gamma, [dims[1]]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_tensor(d_beta, [dims[1]]));
        }
    }
}

impl<C: CheckpointStrategy> Kernels for Autodiff<Flex, C> {
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let prep = BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.primitive().clone(),
            gamma.primitive().clone(),
            beta.primitive().clone(),
        );
        let (y, stats) = norm_forward(&x, &gamma, &beta, epsilon, relu);
        let (mean, var) = stats_tensors(&stats);
        let (mean, var) = (Self::from_inner(mean), Self::from_inner(var));
        let y = match prep {
            OpsKind::Tracked(prep) => {
                let saved_y = relu.then(|| y.clone());
                prep.finish((x, saved_y, stats, gamma), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, mean, var)
    }

    fn conv2d_nobias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match Conv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let y = Flex::conv2d_nobias(x.clone(), weight.clone(), stride, padding);
                prep.finish((x, weight, stride, padding), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d_nobias(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                padding,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};
    use proptest::prelude::*;

    /// The largest difference between two tensors, relative to the larger magnitude.
    fn max_rel_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale: f32 = b.clone().abs().max().into_scalar::<f32>().max(1.0);
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    /// pretext's convolution and burn's give the same output and the same gradients for the
    /// input and the weight, under a random upstream gradient.
    fn agrees_with_burn(shape: ConvShape) {
        assert!(enabled(), "unset {SWITCH} to test the kernels");
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random(
            [shape.batch, shape.c_in, shape.h, shape.w],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random(
            [shape.c_out, shape.c_in, shape.kh, shape.kw],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let dy = Tensor::<4>::random(
            [shape.batch, shape.c_out, shape.h_out(), shape.w_out()],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let run = |ours: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let y = match ours {
                true => conv2d(x.clone(), w.clone(), shape.stride, shape.padding),
                false => burn::tensor::module::conv2d(
                    x.clone(),
                    w.clone(),
                    None,
                    ConvOptions::new(shape.stride, shape.padding, [1, 1], 1),
                ),
            };
            let grads = (y.clone() * dy.clone()).sum().backward();
            let gx = x.grad(&grads).expect("input gradient");
            let gw = w.grad(&grads).expect("weight gradient");
            (y.inner(), gx, gw)
        };
        let (y, gx, gw) = run(true);
        let (y0, gx0, gw0) = run(false);
        assert_eq!(y.dims(), y0.dims(), "{shape:?}");
        for (name, diff) in [
            ("output", max_rel_diff(y, y0)),
            ("input gradient", max_rel_diff(gx, gx0)),
            ("weight gradient", max_rel_diff(gw, gw0)),
        ] {
            assert!(diff < 1e-4, "{name} differs by {diff} for {shape:?}");
        }
    }

    #[test]
    fn resnet_layers_agree_with_burn() {
        for (c_in, c_out, h, k, stride, pad) in [
            (3, 8, 11, 7, 2, 3),   // ImageNet stem
            (3, 8, 9, 3, 1, 1),    // CIFAR stem
            (8, 16, 9, 3, 2, 1),   // first block of a stage
            (8, 16, 9, 1, 2, 0),   // downsample
            (16, 4, 5, 1, 1, 0),   // bottleneck 1×1
            (16, 16, 10, 3, 1, 1), // a narrow stage's 3×3 (the thin kernel)
            (64, 64, 7, 3, 1, 1),  // a stage's 3×3, wide enough for Winograd
        ] {
            // 5 images: groups that share one product, and a partial last group.
            agrees_with_burn(conv::tests::layer([5, c_in, c_out], [h, h], k, stride, pad));
        }
    }

    /// pretext's fused batch norm (+ ReLU) and burn's `BatchNorm` (then `relu`) give the same
    /// output, the same running statistics and the same gradients for x, γ and β.
    fn batch_norm_agrees_with_burn(dims: [usize; 4], relu: bool) {
        assert!(enabled(), "unset {SWITCH} to test the kernels");
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.5, 2.0);
        let x = Tensor::<4>::random(dims, normal, &device);
        let dy = Tensor::<4>::random(dims, normal, &device);
        let gamma = Tensor::<1>::random([dims[1]], normal, &device);
        let beta = Tensor::<1>::random([dims[1]], normal, &device);
        let run = |ours: bool| {
            // A fresh layer each time: clones would share their running statistics.
            let mut bn = burn::nn::BatchNormConfig::new(dims[1]).init(&device);
            bn.gamma = burn::module::Param::from_tensor(gamma.clone());
            bn.beta = burn::module::Param::from_tensor(beta.clone());
            let x = x.clone().require_grad();
            let y = match ours {
                true => batch_norm_layer(&bn, x.clone(), relu),
                false if relu => activation::relu(bn.forward(x.clone())),
                false => bn.forward(x.clone()),
            };
            let grads = (y.clone() * dy.clone()).sum().backward();
            (
                y.inner(),
                x.grad(&grads).expect("input gradient"),
                bn.gamma.grad(&grads).expect("γ gradient"),
                bn.beta.grad(&grads).expect("β gradient"),
                bn.running_mean.value(),
                bn.running_var.value(),
            )
        };
        let ours = run(true);
        let theirs = run(false);
        for (name, diff) in [
            ("output", max_rel_diff(ours.0, theirs.0)),
            ("input gradient", max_rel_diff(ours.1, theirs.1)),
            ("γ gradient", max_rel_diff(ours.2, theirs.2)),
            ("β gradient", max_rel_diff(ours.3, theirs.3)),
            ("running mean", max_rel_diff(ours.4, theirs.4)),
            ("running variance", max_rel_diff(ours.5, theirs.5)),
        ] {
            assert!(
                diff < 1e-4,
                "{name} differs by {diff} for {dims:?}, relu {relu}"
            );
        }
    }

    /// The row layout of MLP heads' features (`N × C`, spatial size 1), with more channels
    /// than one block of the row kernels' reductions.
    #[test]
    fn head_batch_norms_agree_with_burn() {
        for relu in [false, true] {
            batch_norm_agrees_with_burn([7, 300, 1, 1], relu);
            batch_norm_agrees_with_burn([2, 5, 1, 1], relu);
        }
    }

    #[test]
    fn a_frozen_batch_norm_keeps_its_statistics() {
        let device = Device::flex().autodiff();
        let bn = burn::nn::BatchNormConfig::new(3).init(&device).freeze();
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(5.0, 1.0), &device);
        let y = batch_norm_layer(&bn, x.clone(), false);
        // Running statistics 0 and 1: the output is x/√(1 + ε), and nothing was updated.
        assert!(max_rel_diff(y.inner(), x.inner().div_scalar((1.0 + bn.epsilon).sqrt())) < 1e-5);
        assert_eq!(
            bn.running_mean.value().into_data(),
            TensorData::from([0f32; 3])
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_batch_norms_agree_with_burn(
            batch in 1usize..5,
            channels in 1usize..6,
            h in 1usize..7,
            w in 1usize..12,
            relu: bool,
        ) {
            prop_assume!(batch * h * w > 1);
            batch_norm_agrees_with_burn([batch, channels, h, w], relu);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn random_geometries_agree_with_burn(
            batch in 1usize..4,
            c_in in 1usize..6,
            c_out in 1usize..7,
            h in 1usize..10,
            w in 1usize..10,
            kh in 1usize..5,
            kw in 1usize..5,
            sy in 1usize..4,
            sx in 1usize..4,
            py in 0usize..3,
            px in 0usize..3,
        ) {
            prop_assume!(h + 2 * py >= kh && w + 2 * px >= kw);
            agrees_with_burn(ConvShape {
                batch, c_in, h, w, c_out, kh, kw, stride: [sy, sx], padding: [py, px],
                precision: Precision::F32,
            });
        }
    }
}

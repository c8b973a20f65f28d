//! Batch-wide losses over the global batch when training as several MPI ranks
//! ([`crate::distributed`]): SimCLR's negatives, Barlow Twins' cross-correlation and
//! VICReg's variance and covariance see every rank's images, MoCo's queue takes every rank's
//! keys and DINO's centre their mean, as the peers' `gather_distributed` (lightly, solo-learn)
//! and MoCo's `concat_all_gather` do. In a world of one every function here returns its input.
//!
//! The gradient. Each rank computes the whole global loss `L` from the gathered rows (the same
//! value on every rank), and the trainer divides every rank's loss by the number of ranks `R`
//! before its backward pass, so that summing the ranks' gradients averages them. Of the
//! gathered rows only the rank's own carry a gradient, scaled by `R`: rank `r` then holds
//! `∂L/∂z_r` exactly, and the sum over ranks is `Σ_r ∂L/∂z_r · ∂z_r/∂θ = ∂L/∂θ`, the gradient
//! of one process training on the global batch. (lightly instead computes each rank's rows of
//! the loss and all-reduces the gathered gradient in the backward pass; the total is the same,
//! with the loss computed once rather than `R` times and one more collective per step.)

use crate::distributed;
use burn::prelude::*;

/// The `[N, D]` rows of every rank, rank 0's first (`[R·N, D]`); only this rank's rows carry
/// a gradient, `R` times the gathered tensor's (see the module documentation). Every rank must
/// call it at the same point of its step.
pub fn across_ranks(local: Tensor<2>) -> Tensor<2> {
    let ranks = distributed::ranks();
    if ranks.size < 2 {
        return local;
    }
    let [n, d] = local.dims();
    let device = local.device();
    let values = local
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    let gathered = distributed::all_gather(&values);
    let total = gathered.len() / d.max(1);
    // The loader gives every rank an equal slice of each global batch.
    assert_eq!(
        total,
        n * ranks.size,
        "rank {} gathered {total} rows, not {n} from each of {} ranks",
        ranks.rank,
        ranks.size
    );
    let all = Tensor::<2>::from_data(TensorData::new(gathered, [total, d]), &device);
    // The value of `local` exactly, with R times its gradient.
    let frozen = local.clone().detach();
    let own = frozen.clone() + (local - frozen).mul_scalar(ranks.size as f64);
    let start = ranks.rank * n;
    let mut parts = Vec::with_capacity(3);
    if start > 0 {
        parts.push(all.clone().narrow(0, 0, start));
    }
    parts.push(own);
    if start + n < total {
        parts.push(all.narrow(0, start + n, total - start - n));
    }
    Tensor::cat(parts, 0)
}

/// The mean over the ranks of `local` (detached), on every rank: with equal batches, the mean
/// of per-rank batch means is the global batch's (DINO's centre).
pub fn mean_across_ranks<const D: usize>(local: Tensor<D>) -> Tensor<D> {
    let ranks = distributed::ranks();
    if ranks.size < 2 {
        return local;
    }
    let (shape, device) = (local.shape(), local.device());
    let mut values = local
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    distributed::all_reduce_sum(&mut values);
    Tensor::<D>::from_data(TensorData::new(values, shape), &device).div_scalar(ranks.size as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alone, the gathered rows are the rows, with their own gradient.
    #[test]
    fn alone_gathering_is_the_identity() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device).require_grad();
        let all = across_ranks(x.clone());
        assert_eq!(all.to_data(), x.to_data());
        let grads = all.sum().backward();
        let g = x.grad(&grads).unwrap().into_data();
        assert_eq!(g.try_to_vec::<f32>().unwrap(), vec![1.0; 4]);
        let m = mean_across_ranks(x.clone().detach());
        assert_eq!(m.to_data(), x.detach().to_data());
    }
}

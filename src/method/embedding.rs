//! Operations on batches of embeddings (`[N, D]` tensors) that the joint-embedding losses and
//! the collapse indicators share.

use burn::prelude::*;

/// Rows scaled to unit ℓ2 norm (rows of zeros stay zero).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Cosine similarity of matching rows of `a` and `b`, as an `[N]` tensor.
pub fn row_cosine(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let [n, _] = a.dims();
    (l2_normalize(a) * l2_normalize(b)).sum_dim(1).reshape([n])
}

/// Columns shifted to zero mean over the batch.
pub fn center(x: Tensor<2>) -> Tensor<2> {
    x.clone() - x.mean_dim(0)
}

/// The diagonal of a square matrix, as a `[D]` tensor.
pub fn diagonal(c: Tensor<2>) -> Tensor<1> {
    let [d, _] = c.dims();
    let eye = Tensor::<2>::eye(d, &c.device());
    (c * eye).sum_dim(1).reshape([d])
}

/// Sum of the squares of the off-diagonal entries of a square matrix (the redundancy terms of
/// Barlow Twins and VICReg).
pub fn off_diagonal_square_sum(c: Tensor<2>) -> Tensor<1> {
    let [d, _] = c.dims();
    let off = Tensor::<2, Bool>::diag_mask([d, d], 0, &c.device());
    c.powi_scalar(2).mask_fill(off.bool_not(), 0.0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_cosine_by_hand() {
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[1.0, 0.0], [3.0, 4.0]], &device);
        let b = Tensor::<2>::from_floats([[1.0, 1.0], [-3.0, -4.0]], &device);
        let got: Vec<f32> = row_cosine(a, b).into_data().try_into_vec().unwrap();
        assert!((got[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((got[1] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn off_diagonal_and_center_by_hand() {
        let device = Device::flex();
        let c = Tensor::<2>::from_floats([[1.0, 2.0], [-3.0, 4.0]], &device);
        let v: f32 = off_diagonal_square_sum(c).into_scalar();
        assert_eq!(v, 13.0);
        let c = Tensor::<2>::from_floats([[1.0, 2.0], [-3.0, 4.0]], &device);
        let d: Vec<f32> = diagonal(c).into_data().try_into_vec().unwrap();
        assert_eq!(d, vec![1.0, 4.0]);
        let x = Tensor::<2>::from_floats([[1.0, 10.0], [3.0, 20.0]], &device);
        let got: Vec<f32> = center(x).into_data().try_into_vec().unwrap();
        assert_eq!(got, vec![-1.0, -5.0, 1.0, 5.0]);
    }
}

//! Conversions between [`ndarray`] arrays and [`tch::Tensor`]s.
//!
//! Works for every element type tch knows ([`tch::kind::Element`]: `i64`, `f32`, `f64`, `u8`,
//! ...) and any rank. Arrays in any memory layout (transposed, sliced with steps) are accepted;
//! tensors in any layout or on any device are copied to a standard-layout CPU array.
//! Converting a tensor into an array of the wrong dtype or, for the fixed-rank helpers, the
//! wrong rank is an error, never a panic or a silent cast.

use crate::{Error, Result};
use ndarray::{Array, Array1, Array2, Array3, Array4, ArrayBase, ArrayD, Data, Dimension, IxDyn};
use tch::kind::Element;
use tch::{Device, Tensor};

/// Copies an array into a new CPU tensor with the same shape and element type.
///
/// Non-contiguous arrays are first copied into standard (row-major) layout.
pub fn array_to_tensor<S, D>(array: &ArrayBase<S, D>) -> Result<Tensor>
where
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    let standard = array.as_standard_layout();
    Ok(Tensor::try_from(&standard)?)
}

/// Copies a tensor (any device, layout or rank) into a CPU array of element type `T`.
///
/// Fails with [`Error::KindMismatch`] when the tensor's dtype is not `T`'s (no silent casts).
pub fn tensor_to_arrayd<T: Element + Copy>(tensor: &Tensor) -> Result<ArrayD<T>> {
    let kind = tensor.f_kind()?;
    if kind != T::KIND {
        return Err(Error::KindMismatch {
            op: "tensor_to_array",
            expected: format!("{:?}", T::KIND),
            got: kind,
        });
    }
    let size = tensor.size();
    let dims = size
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| Error::shape("tensor_to_array", "non-negative sizes", size.clone()))?;
    let numel: usize = dims.iter().product();
    let mut data = vec![T::ZERO; numel];
    if numel > 0 {
        let cpu = tensor
            .f_detach()?
            .f_to_device(Device::Cpu)?
            .f_contiguous()?;
        cpu.f_copy_data(&mut data, numel)?;
    }
    ArrayD::from_shape_vec(IxDyn(&dims), data).map_err(|e| {
        Error::shape(
            "tensor_to_array",
            format!("a valid array shape ({e})"),
            size,
        )
    })
}

/// Copies a tensor into a CPU array of fixed rank `D::NDIM` and element type `T`.
///
/// Fails with [`Error::ShapeMismatch`] on a rank mismatch and [`Error::KindMismatch`] on a
/// dtype mismatch.
pub fn tensor_to_array<T: Element + Copy, D: Dimension>(tensor: &Tensor) -> Result<Array<T, D>> {
    if let Some(rank) = D::NDIM {
        if tensor.dim() != rank {
            return Err(Error::shape(
                "tensor_to_array",
                format!("rank {rank}"),
                tensor.size(),
            ));
        }
    }
    let dyn_array = tensor_to_arrayd::<T>(tensor)?;
    let size = tensor.size();
    dyn_array
        .into_dimensionality::<D>()
        .map_err(|e| Error::shape("tensor_to_array", format!("a fixed-rank array ({e})"), size))
}

/// [`tensor_to_array`] for rank 1.
pub fn tensor_to_array1<T: Element + Copy>(tensor: &Tensor) -> Result<Array1<T>> {
    tensor_to_array(tensor)
}

/// [`tensor_to_array`] for rank 2.
pub fn tensor_to_array2<T: Element + Copy>(tensor: &Tensor) -> Result<Array2<T>> {
    tensor_to_array(tensor)
}

/// [`tensor_to_array`] for rank 3.
pub fn tensor_to_array3<T: Element + Copy>(tensor: &Tensor) -> Result<Array3<T>> {
    tensor_to_array(tensor)
}

/// [`tensor_to_array`] for rank 4.
pub fn tensor_to_array4<T: Element + Copy>(tensor: &Tensor) -> Result<Array4<T>> {
    tensor_to_array(tensor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Axis, Ix2, Slice, array};

    #[test]
    fn wrong_rank_is_an_error() {
        let t = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]).reshape([2, 3]);
        let err = tensor_to_array3::<i64>(&t).unwrap_err();
        assert!(
            matches!(err, Error::ShapeMismatch { op: "tensor_to_array", ref expected, ref got }
                if expected == "rank 3" && got == &vec![2, 3]),
            "{err}"
        );
        assert_eq!(
            tensor_to_array2::<i64>(&t).unwrap(),
            array![[1, 2, 3], [4, 5, 6]]
        );
        assert!(tensor_to_array1::<i64>(&t).is_err());
        assert!(tensor_to_array4::<i64>(&t).is_err());
        assert_eq!(tensor_to_arrayd::<i64>(&t).unwrap().shape(), &[2, 3]);
    }

    #[test]
    fn wrong_dtype_is_an_error() {
        let t = Tensor::from_slice(&[1.5f32, 2.5]);
        for err in [
            tensor_to_array1::<i64>(&t).unwrap_err(),
            tensor_to_array1::<u8>(&t).unwrap_err(),
            tensor_to_arrayd::<f64>(&t).unwrap_err(),
        ] {
            assert!(
                matches!(
                    err,
                    Error::KindMismatch {
                        got: tch::Kind::Float,
                        ..
                    }
                ),
                "{err}"
            );
        }
        assert_eq!(tensor_to_array1::<f32>(&t).unwrap(), array![1.5f32, 2.5]);
    }

    #[test]
    fn non_contiguous_array_and_tensor() {
        let a = array![[1u8, 2, 3], [4, 5, 6]];
        let t = array_to_tensor(&a.t()).unwrap();
        assert_eq!(t.size(), vec![3, 2]);
        assert_eq!(tensor_to_array2::<u8>(&t).unwrap(), a.t());
        let stepped = a.slice_axis(Axis(1), Slice::new(0, None, 2));
        let t = array_to_tensor(&stepped).unwrap();
        assert_eq!(
            tensor_to_array2::<u8>(&t).unwrap(),
            array![[1u8, 3], [4, 6]]
        );
        // A transposed (non-contiguous) tensor comes back in its logical order.
        let tt = array_to_tensor(&a).unwrap().tr();
        assert!(!tt.is_contiguous());
        assert_eq!(tensor_to_array::<u8, Ix2>(&tt).unwrap(), a.t());
    }

    #[test]
    fn scalars_and_empty() {
        let a0 = ndarray::arr0(7i64);
        let t = array_to_tensor(&a0).unwrap();
        assert_eq!(t.dim(), 0);
        assert_eq!(tensor_to_array::<i64, ndarray::Ix0>(&t).unwrap(), a0);
        let empty = Array2::<f32>::zeros((0, 3));
        let t = array_to_tensor(&empty).unwrap();
        assert_eq!(t.size(), vec![0, 3]);
        assert_eq!(tensor_to_array2::<f32>(&t).unwrap(), empty);
    }

    #[test]
    fn gradient_tracking_tensor_converts() {
        let t = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
        let y = &t * 2.0;
        assert_eq!(tensor_to_array1::<f64>(&y).unwrap(), array![2.0, 4.0]);
    }
}

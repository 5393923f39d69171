//! ndarray <-> Tensor roundtrips over random shapes and values, for i64, f32 and u8.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_core::{Error, array_to_tensor, tensor_to_array, tensor_to_arrayd};
use ndarray::{ArrayD, Ix3, IxDyn};
use proptest::prelude::*;
use tch::Kind;

/// A shape of rank 0..=4 (sizes 0..=4) and enough values to fill it.
fn shaped<T: std::fmt::Debug + Clone>(
    values: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (Vec<usize>, Vec<T>)> {
    prop::collection::vec(0usize..5, 0..5).prop_flat_map(move |shape| {
        let n = shape.iter().product::<usize>();
        (Just(shape), prop::collection::vec(values.clone(), n))
    })
}

fn roundtrip<T>(shape: &[usize], values: Vec<T>, kind: Kind) -> (ArrayD<T>, ArrayD<T>, ArrayD<T>)
where
    T: tch::kind::Element + Copy,
{
    let array = ArrayD::from_shape_vec(IxDyn(shape), values).unwrap();
    let tensor = array_to_tensor(&array).unwrap();
    assert_eq!(tensor.kind(), kind);
    let want: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    assert_eq!(tensor.size(), want);
    let back = tensor_to_arrayd::<T>(&tensor).unwrap();
    // A non-contiguous view (axes reversed) converts to its logical contents.
    let reversed = array.view().reversed_axes();
    let back_reversed = tensor_to_arrayd::<T>(&array_to_tensor(&reversed).unwrap()).unwrap();
    (array, back, back_reversed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn i64_roundtrip((shape, values) in shaped(any::<i64>())) {
        let (a, back, back_rev) = roundtrip(&shape, values, Kind::Int64);
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back_rev, a.view().reversed_axes());
    }

    #[test]
    fn u8_roundtrip((shape, values) in shaped(any::<u8>())) {
        let (a, back, back_rev) = roundtrip(&shape, values, Kind::Uint8);
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back_rev, a.view().reversed_axes());
    }

    #[test]
    fn f32_roundtrip_is_bit_exact((shape, values) in shaped(any::<f32>())) {
        let (a, back, back_rev) = roundtrip(&shape, values, Kind::Float);
        // Compare bit patterns so NaNs and signed zeros count too.
        let bits = |x: &ArrayD<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&back), bits(&a));
        prop_assert_eq!(back.shape(), a.shape());
        let rev = a.view().reversed_axes().to_owned();
        prop_assert_eq!(bits(&back_rev), bits(&rev));
        prop_assert_eq!(back_rev.shape(), rev.shape());
    }

    #[test]
    fn wrong_rank_or_dtype_never_panics((shape, values) in shaped(any::<u8>())) {
        let array = ArrayD::from_shape_vec(IxDyn(&shape), values).unwrap();
        let tensor = array_to_tensor(&array).unwrap();
        let fixed = tensor_to_array::<u8, Ix3>(&tensor);
        if shape.len() == 3 {
            prop_assert_eq!(fixed.unwrap().into_dyn(), array);
        } else {
            let is_shape_error = matches!(fixed, Err(Error::ShapeMismatch { .. }));
            prop_assert!(is_shape_error);
        }
        let wrong = tensor_to_arrayd::<f32>(&tensor);
        let is_kind_error = matches!(wrong, Err(Error::KindMismatch { got: Kind::Uint8, .. }));
        prop_assert!(is_kind_error);
    }
}

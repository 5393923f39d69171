//! Perplexity, bits per token and accuracy: closed forms and padding invariance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_core::{Accuracy, CrossEntropyOptions, NllAccumulator, accuracy, cross_entropy_sum};
use proptest::prelude::*;
use tch::{Kind, Tensor};

#[test]
fn uniform_predictions_have_perplexity_equal_to_the_vocabulary() {
    // Uniform logits over C classes: NLL = ln C per token, perplexity C, log2 C bits.
    for classes in [2i64, 5, 65, 256] {
        let logits = Tensor::zeros([3, 7, classes], (Kind::Double, tch::Device::Cpu));
        let targets = Tensor::zeros([3, 7], (Kind::Int64, tch::Device::Cpu));
        let mut acc = NllAccumulator::new();
        acc.add_batch(&logits, &targets, None).unwrap();
        assert_eq!(acc.count, 21);
        let c = classes as f64;
        assert!((acc.perplexity().unwrap() - c).abs() < 1e-9 * c);
        assert!((acc.bits_per_token().unwrap() - c.log2()).abs() < 1e-12);
    }
}

#[test]
fn padding_never_counts() {
    // The same two sequences, batched alone and padded into one batch with ignore index 0.
    let a_logits = Tensor::from_slice(&[2.0f64, 0.5, -1.0, 0.3, 0.1, 3.0]).reshape([1, 2, 3]);
    let a_targets = Tensor::from_slice(&[1i64, 2]).reshape([1, 2]);
    let b_logits = Tensor::from_slice(&[0.0f64, 1.0, 2.0]).reshape([1, 1, 3]);
    let b_targets = Tensor::from_slice(&[1i64]).reshape([1, 1]);
    let mut separate = NllAccumulator::new();
    separate.add_batch(&a_logits, &a_targets, Some(0)).unwrap();
    separate.add_batch(&b_logits, &b_targets, Some(0)).unwrap();

    // Padded position: arbitrary logits, target 0 (= padding here).
    let pad = Tensor::from_slice(&[9.0f64, -9.0, 4.0]).reshape([1, 1, 3]);
    let padded_logits = Tensor::cat(&[a_logits, Tensor::cat(&[b_logits, pad], 1)], 0);
    let padded_targets = Tensor::from_slice(&[1i64, 2, 1, 0]).reshape([2, 2]);
    let mut batched = NllAccumulator::new();
    batched
        .add_batch(&padded_logits, &padded_targets, Some(0))
        .unwrap();
    assert_eq!(batched.count, 3);
    assert_eq!(separate.count, 3);
    assert!((batched.nll_sum - separate.nll_sum).abs() < 1e-12);
    // Closed form: NLL of target k under logits l is logsumexp(l) - l_k.
    let lse = |l: [f64; 3]| l.iter().map(|x| x.exp()).sum::<f64>().ln();
    let want =
        (lse([2.0, 0.5, -1.0]) - 0.5) + (lse([0.3, 0.1, 3.0]) - 3.0) + (lse([0.0, 1.0, 2.0]) - 1.0);
    assert!((batched.nll_sum - want).abs() < 1e-12);
    assert!((batched.perplexity().unwrap() - (want / 3.0).exp()).abs() < 1e-12);

    let acc = accuracy(&padded_logits, &padded_targets, Some(0)).unwrap();
    // argmaxes: [0, 2], [2, 0] -> hits at (0,1) only among the non-padding targets.
    assert_eq!(
        acc,
        Accuracy {
            correct: 1,
            total: 3
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn accumulating_batches_equals_one_batch(
        rows in prop::collection::vec(
            (prop::collection::vec(-20.0f64..20.0, 3), prop_oneof![Just(-1i64), 0i64..3]),
            2..16,
        ),
        split in 1usize..15,
    ) {
        let n = rows.len();
        let split = split.min(n - 1);
        let to_tensors = |r: &[(Vec<f64>, i64)]| {
            let l: Vec<f64> = r.iter().flat_map(|(l, _)| l.clone()).collect();
            let t: Vec<i64> = r.iter().map(|(_, t)| *t).collect();
            (Tensor::from_slice(&l).reshape([r.len() as i64, 3]), Tensor::from_slice(&t))
        };
        let (all_l, all_t) = to_tensors(&rows);
        let mut whole = NllAccumulator::new();
        whole.add_batch(&all_l, &all_t, Some(-1)).unwrap();
        let mut parts = NllAccumulator::new();
        for part in [&rows[..split], &rows[split..]] {
            let (l, t) = to_tensors(part);
            let mut p = NllAccumulator::new();
            p.add_batch(&l, &t, Some(-1)).unwrap();
            parts.merge(&p);
        }
        prop_assert_eq!(whole.count, parts.count);
        prop_assert!((whole.nll_sum - parts.nll_sum).abs() <= 1e-10 * (1.0 + whole.nll_sum));
        let opts = CrossEntropyOptions { ignore_index: Some(-1), label_smoothing: 0.0 };
        let (sum, count) = cross_entropy_sum(&all_l, &all_t, &opts).unwrap();
        prop_assert_eq!(count, whole.count);
        prop_assert!((sum.double_value(&[]) - whole.nll_sum).abs() <= 1e-12 * (1.0 + whole.nll_sum));
        match whole.perplexity() {
            None => prop_assert_eq!(whole.count, 0),
            Some(p) => prop_assert!(p >= 1.0 && p.is_finite()),
        }
        let a = accuracy(&all_l, &all_t, Some(-1)).unwrap();
        prop_assert_eq!(a.total, whole.count);
        prop_assert!(a.correct <= a.total);
    }
}

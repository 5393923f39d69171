//! Scores on a classifier's predicted class probabilities: the Inception Score computed with the
//! dataset's own classifier, and class coverage (mode collapse shows as missing classes).

use super::frechet::finite_f64;
use crate::Result;
use tch::Kind;
use tch::Tensor;

/// How far a row of probabilities may sum from 1 (float32 softmax rounding is ~1e-7).
const SUM_TOLERANCE: f64 = 1e-3;

/// Checks `probs` `[N, C]` (N, C >= 1, finite, in `[0, 1]` up to rounding, rows summing to 1)
/// and returns them as `f64`, clamped to `[0, 1]`.
fn checked_probabilities(op: &'static str, probs: &Tensor, classes: Option<i64>) -> Result<Tensor> {
    let size = probs.size();
    let ok = match (size.as_slice(), classes) {
        ([n, c], None) => *n >= 1 && *c >= 1,
        ([n, c], Some(k)) => *n >= 1 && *c == k,
        _ => false,
    };
    if !ok {
        let expected = match classes {
            Some(k) => format!("[N, {k}] with N >= 1"),
            None => "[N, C] with N, C >= 1".into(),
        };
        return Err(gen_core::Error::ShapeMismatch {
            op,
            expected,
            got: size,
        }
        .into());
    }
    let p = finite_f64(probs, "probs")?;
    let min = p.f_min()?.f_double_value(&[])?;
    let max = p.f_max()?.f_double_value(&[])?;
    let sums = p.f_sum_dim_intlist(1, false, Kind::Double)?;
    let worst = sums
        .f_sub_scalar(1.0)?
        .f_abs()?
        .f_max()?
        .f_double_value(&[])?;
    if min < -SUM_TOLERANCE || max > 1.0 + SUM_TOLERANCE || worst > SUM_TOLERANCE {
        return Err(gen_core::Error::InvalidArgument {
            name: "probs",
            reason: format!(
                "{op}: rows must be probabilities (min {min}, max {max}, a row sum is off by {worst})"
            ),
        }
        .into());
    }
    Ok(p.f_clamp(0.0, 1.0)?)
}

/// The Inception Score computed on a classifier's probabilities `probs` `[N, C]`:
///
/// `IS = exp(E_x KL(p(y|x) || p(y)))`, with `p(y) = mean_x p(y|x)` (Salimans et al. 2016),
///
/// using `0 log 0 = 0`. It is 1 when every sample gets the same prediction and `C` when the
/// predictions are confident (one-hot) and spread evenly over the `C` classes.
pub fn classifier_inception_score(probs: &Tensor) -> Result<f64> {
    let p = checked_probabilities("classifier_inception_score", probs, None)?;
    let marginal = p.f_mean_dim(0, true, Kind::Double)?;
    let kl = p
        .f_xlogy(&p)?
        .f_sub(&p.f_xlogy(&marginal)?)?
        .f_sum_dim_intlist(1, false, Kind::Double)?;
    Ok(kl.f_mean(Kind::Double)?.f_double_value(&[])?.exp())
}

/// How many of the `classes` classes receive at least half of their uniform share (`N / (2 C)`)
/// of the argmax predictions of `probs` `[N, classes]` (ties go to the lowest class).
/// A generator covering every class evenly scores `classes`; a collapsed one scores few.
pub fn class_coverage(probs: &Tensor, classes: usize) -> Result<usize> {
    let (counts, n) = argmax_counts("class_coverage", probs, classes)?;
    let threshold = 0.5 * n / classes as f64;
    let covered = counts
        .f_to_kind(Kind::Double)?
        .f_ge(threshold)?
        .f_sum(Kind::Int64)?
        .f_int64_value(&[])?;
    Ok(covered as usize)
}

/// The share of the rows of `probs` `[N, classes]` whose argmax is each class (ties go to the
/// lowest class); all zero when `N` is 0.
pub fn class_shares(probs: &Tensor, classes: usize) -> Result<Vec<f64>> {
    let (counts, n) = argmax_counts("class_shares", probs, classes)?;
    let counts = Vec::<f64>::try_from(counts.f_to_kind(Kind::Double)?)?;
    Ok(counts.iter().map(|&c| c / n.max(1.0)).collect())
}

/// Per class, how many rows of `probs` `[N, classes]` have their argmax there; and `N`.
fn argmax_counts(op: &'static str, probs: &Tensor, classes: usize) -> Result<(Tensor, f64)> {
    let k = i64::try_from(classes).map_err(|_| gen_core::Error::InvalidArgument {
        name: "classes",
        reason: format!("{classes} is too large"),
    })?;
    let p = checked_probabilities(op, probs, Some(k))?;
    let n = p.size().first().copied().unwrap_or(0) as f64;
    Ok((p.f_argmax(1, false)?.f_bincount(None::<Tensor>, k)?, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn one_hot(classes: &[i64], c: i64) -> Tensor {
        Tensor::from_slice(classes).one_hot(c).to_kind(Kind::Float)
    }

    #[test]
    fn inception_score_extremes() {
        // Every sample predicts class 3 with certainty: p(y|x) = p(y), KL = 0, IS = 1.
        let same = one_hot(&[3; 20], 10);
        assert!((classifier_inception_score(&same).unwrap() - 1.0).abs() < 1e-12);
        // One-hot, 2 samples per class: KL = log 10 for every sample, IS = 10.
        let spread: Vec<i64> = (0..20).map(|i| i % 10).collect();
        let is = classifier_inception_score(&one_hot(&spread, 10)).unwrap();
        assert!((is - 10.0).abs() < 1e-9, "{is}");
        // Uniform predictions carry no information: IS = 1.
        let uniform = Tensor::full([7, 10], 0.1, (Kind::Double, Device::Cpu));
        assert!((classifier_inception_score(&uniform).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn inception_score_hand_computed_mixture() {
        // Rows (1, 0) and (0.5, 0.5): p(y) = (0.75, 0.25).
        // KL1 = log(1 / 0.75); KL2 = 0.5 log(0.5 / 0.75) + 0.5 log(0.5 / 0.25).
        let p = Tensor::from_slice(&[1.0, 0.0, 0.5, 0.5]).reshape([2, 2]);
        let kl1 = (1.0f64 / 0.75).ln();
        let kl2 = 0.5 * (0.5f64 / 0.75).ln() + 0.5 * 2f64.ln();
        let expected = (0.5 * (kl1 + kl2)).exp();
        assert!((classifier_inception_score(&p).unwrap() - expected).abs() < 1e-12);
        // Order of samples does not matter.
        let q = Tensor::from_slice(&[0.5, 0.5, 1.0, 0.0]).reshape([2, 2]);
        assert!((classifier_inception_score(&q).unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn coverage_counts_classes_with_half_their_share() {
        // 100 samples over 10 classes: the threshold is 5 predictions.
        // Classes 0..=5 get 10 each (60), class 6 gets 5 (exactly the threshold), class 7 gets
        // 4 (below), 31 go to class 8 and none to class 9: covered = 0..=6 and 8 = 8 classes.
        let mut labels: Vec<i64> = Vec::new();
        for c in 0..6 {
            labels.extend(std::iter::repeat_n(c, 10));
        }
        labels.extend(std::iter::repeat_n(6, 5));
        labels.extend(std::iter::repeat_n(7, 4));
        labels.extend(std::iter::repeat_n(8, 31));
        assert_eq!(labels.len(), 100);
        assert_eq!(class_coverage(&one_hot(&labels, 10), 10).unwrap(), 8);
        // Total collapse onto one class.
        assert_eq!(class_coverage(&one_hot(&[2; 50], 10), 10).unwrap(), 1);
        // Soft predictions count by their argmax.
        let soft = Tensor::from_slice(&[0.6, 0.4, 0.3, 0.7]).reshape([2, 2]);
        assert_eq!(class_coverage(&soft, 2).unwrap(), 2);
    }

    #[test]
    fn shares_are_argmax_counts_over_rows() {
        let shares = class_shares(&one_hot(&[0, 2, 2, 1], 3), 3).unwrap();
        assert_eq!(shares, [0.25, 0.25, 0.5]);
        assert!(class_shares(&one_hot(&[0, 1], 3), 2).is_err());
    }

    #[test]
    fn bad_probabilities_are_errors() {
        let p = one_hot(&[0, 1], 3);
        assert!(class_coverage(&p, 4).is_err());
        let not_normalised = Tensor::from_slice(&[0.5, 0.2, 0.1, 0.9]).reshape([2, 2]);
        let err = classifier_inception_score(&not_normalised).unwrap_err();
        assert!(err.to_string().contains("probs"), "{err}");
        let negative = Tensor::from_slice(&[1.5, -0.5]).reshape([1, 2]);
        assert!(classifier_inception_score(&negative).is_err());
        assert!(classifier_inception_score(&Tensor::from_slice(&[1.0])).is_err());
        let empty = Tensor::zeros([0, 10], (Kind::Float, Device::Cpu));
        assert!(classifier_inception_score(&empty).is_err());
    }
}

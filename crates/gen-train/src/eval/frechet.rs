//! The Fréchet distance between Gaussians fitted to two sets of feature vectors.

use crate::Result;
use tch::{Device, Kind, Tensor};

/// The mean and covariance of a set of feature vectors, in `f64` on the CPU.
#[derive(Debug)]
pub struct FeatureStats {
    /// Mean `[D]`.
    pub mu: Tensor,
    /// Unbiased covariance `[D, D]` (divided by `n - 1`, like `numpy.cov(x, rowvar=False)`).
    pub sigma: Tensor,
    /// Number of vectors the statistics were computed from.
    pub n: usize,
}

impl FeatureStats {
    /// The Fréchet distance to `other` (see [`frechet_distance`]).
    pub fn frechet_distance(&self, other: &FeatureStats) -> Result<f64> {
        frechet_distance(&self.mu, &self.sigma, &other.mu, &other.sigma)
    }
}

fn shape_error(op: &'static str, expected: impl Into<String>, got: Vec<i64>) -> crate::Error {
    gen_core::Error::ShapeMismatch {
        op,
        expected: expected.into(),
        got,
    }
    .into()
}

fn invalid(name: &'static str, reason: impl Into<String>) -> crate::Error {
    gen_core::Error::InvalidArgument {
        name,
        reason: reason.into(),
    }
    .into()
}

/// `t` as `f64` on the CPU, failing when it holds NaN or infinity.
pub(crate) fn finite_f64(t: &Tensor, name: &'static str) -> Result<Tensor> {
    let t = t
        .f_detach()?
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Double)?;
    if t.numel() > 0 && t.f_isfinite()?.f_all()?.f_int64_value(&[])? == 0 {
        return Err(invalid(name, "holds NaN or infinite values"));
    }
    Ok(t)
}

/// The mean and unbiased covariance of the rows of `features` `[N, D]`, `N >= 2`, computed in
/// `f64` (the covariance by libtorch's `cov`, i.e. `numpy.cov(features, rowvar=False)`).
pub fn feature_stats(features: &Tensor) -> Result<FeatureStats> {
    const OP: &str = "feature_stats";
    let size = features.size();
    let (n, d) = match size.as_slice() {
        [n, d] if *n >= 2 && *d >= 1 => (*n, *d),
        _ => return Err(shape_error(OP, "[N, D] with N >= 2 and D >= 1", size)),
    };
    let x = finite_f64(features, "features")?;
    let mu = x.f_mean_dim(0, false, Kind::Double)?;
    let sigma = x
        .f_t_copy()?
        .f_cov(1, None::<Tensor>, None::<Tensor>)?
        .f_reshape([d, d])?;
    Ok(FeatureStats {
        mu,
        sigma,
        n: n as usize,
    })
}

/// The Fréchet distance between `N(mu1, sigma1)` and `N(mu2, sigma2)`:
///
/// `||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`,
///
/// the FID formula of Heusel et al. (2017). Computed in `f64` through symmetric
/// eigendecompositions, which stay real and stable for singular covariances (fewer samples than
/// dimensions): `Tr (S1 S2)^(1/2) = Tr (A S2 A)^(1/2)` with `A = S1^(1/2) = V diag(sqrt(l)) V^T`
/// from `eigh(S1)`, and the trace is the sum of the square roots of the eigenvalues of the
/// symmetric `A S2 A`. Eigenvalues that rounding makes slightly negative are taken as 0, and so
/// is a result that rounding makes slightly negative (the distance is never below 0).
///
/// `mu1`, `mu2` must be `[D]` and `sigma1`, `sigma2` `[D, D]`, all finite; the covariances are
/// symmetrised as `(S + S^T) / 2`.
pub fn frechet_distance(
    mu1: &Tensor,
    sigma1: &Tensor,
    mu2: &Tensor,
    sigma2: &Tensor,
) -> Result<f64> {
    const OP: &str = "frechet_distance";
    let d = match mu1.size().as_slice() {
        [d] if *d >= 1 => *d,
        _ => return Err(shape_error(OP, "mu1 of shape [D], D >= 1", mu1.size())),
    };
    if mu2.size() != [d] {
        return Err(shape_error(
            OP,
            format!("mu2 of shape [{d}] like mu1"),
            mu2.size(),
        ));
    }
    for (name, s) in [("sigma1", sigma1), ("sigma2", sigma2)] {
        if s.size() != [d, d] {
            return Err(shape_error(
                OP,
                format!("{name} of shape [{d}, {d}]"),
                s.size(),
            ));
        }
    }
    let mu1 = finite_f64(mu1, "mu1")?;
    let mu2 = finite_f64(mu2, "mu2")?;
    let symmetric = |s: &Tensor, name| -> Result<Tensor> {
        let s = finite_f64(s, name)?;
        Ok(s.f_add(&s.f_t_copy()?)?.f_mul_scalar(0.5)?)
    };
    let s1 = symmetric(sigma1, "sigma1")?;
    let s2 = symmetric(sigma2, "sigma2")?;

    let diff = mu1.f_sub(&mu2)?;
    let mean_term = diff.f_dot(&diff)?.f_double_value(&[])?;

    let (l1, v1) = s1.f_linalg_eigh("L")?;
    let root_l1 = l1.f_clamp_min(0.0)?.f_sqrt()?;
    let sqrt_s1 = v1
        .f_mul(&root_l1.f_unsqueeze(0)?)?
        .f_matmul(&v1.f_t_copy()?)?;
    let m = sqrt_s1.f_matmul(&s2)?.f_matmul(&sqrt_s1)?;
    let m = m.f_add(&m.f_t_copy()?)?.f_mul_scalar(0.5)?;
    let tr_covmean = m
        .f_linalg_eigvalsh("L")?
        .f_clamp_min(0.0)?
        .f_sqrt()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?;
    let traces = s1.f_trace()?.f_double_value(&[])? + s2.f_trace()?.f_double_value(&[])?;
    let fd = mean_term + traces - 2.0 * tr_covmean;
    if !fd.is_finite() {
        return Err(invalid("frechet_distance", format!("the result is {fd}")));
    }
    Ok(fd.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::serial;
    use super::*;

    fn t1(v: &[f64]) -> Tensor {
        Tensor::from_slice(v)
    }

    fn t2(v: &[f64], d: i64) -> Tensor {
        Tensor::from_slice(v).reshape([d, d])
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} vs {b}");
    }

    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        // For diagonal covariances: ||mu1 - mu2||^2 + sum_i (s1 + s2 - 2 sqrt(s1 s2)).
        let (m1, m2): ([f64; 3], [f64; 3]) = ([1.0, -2.0, 0.5], [0.0, 1.0, 0.5]);
        let (s1, s2): ([f64; 3], [f64; 3]) = ([4.0, 1.0, 0.25], [1.0, 9.0, 0.25]);
        let expected: f64 = m1
            .iter()
            .zip(&m2)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            + s1.iter()
                .zip(&s2)
                .map(|(a, b)| a + b - 2.0 * (a * b).sqrt())
                .sum::<f64>();
        // 1 + 9 + 0 + (4 + 1 - 4) + (1 + 9 - 6) + 0 = 15.
        close(expected, 15.0, 1e-15);
        let fd = frechet_distance(&t1(&m1), &t1(&s1).diag(0), &t1(&m2), &t1(&s2).diag(0)).unwrap();
        close(fd, 15.0, 1e-12);
    }

    #[test]
    fn non_commuting_two_by_two_matches_the_closed_form() {
        // For 2x2 M with non-negative eigenvalues, Tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
        // S1 = [[2,1],[1,2]], S2 = diag(1, 4): S1 S2 = [[2,4],[1,8]], tr 10, det 3 * 4 = 12.
        let tr_sqrt = (10.0 + 2.0 * 12f64.sqrt()).sqrt();
        let expected = (1.0 + 4.0) + (4.0 + 5.0) - 2.0 * tr_sqrt;
        let fd = frechet_distance(
            &t1(&[1.0, 2.0]),
            &t2(&[2.0, 1.0, 1.0, 2.0], 2),
            &t1(&[0.0, 0.0]),
            &t2(&[1.0, 0.0, 0.0, 4.0], 2),
        )
        .unwrap();
        close(fd, expected, 1e-12);
    }

    #[test]
    fn matches_scipy_sqrtm_on_a_dense_case() {
        // Golden number from the reference FID code (pytorch-fid's calculate_frechet_distance):
        //   import numpy as np; from scipy import linalg
        //   a = np.array([[1.0, 0.5, -0.3, 0.2], [0.1, 2.0, 0.4, -0.6],
        //                 [0.0, -0.7, 1.5, 0.3], [0.9, 0.2, -0.1, 0.8]])
        //   b = np.array([[0.3, -1.2, 0.5, 0.0], [1.1, 0.4, 0.0, 0.7],
        //                 [-0.2, 0.6, 0.9, -0.4], [0.5, 0.0, 0.3, 1.6]])
        //   s1, s2 = a @ a.T, b @ b.T
        //   mu1, mu2 = np.array([0.5, -1.0, 2.0, 0.0]), np.array([0.0, 0.3, 1.0, -0.5])
        //   covmean = linalg.sqrtm(s1 @ s2)
        //   d = mu1 - mu2
        //   print(repr(float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))))
        // -> 6.175948498550694 (numpy 2.4.6, scipy 1.17.1)
        let a = t2(
            &[
                1.0, 0.5, -0.3, 0.2, 0.1, 2.0, 0.4, -0.6, 0.0, -0.7, 1.5, 0.3, 0.9, 0.2, -0.1, 0.8,
            ],
            4,
        );
        let b = t2(
            &[
                0.3, -1.2, 0.5, 0.0, 1.1, 0.4, 0.0, 0.7, -0.2, 0.6, 0.9, -0.4, 0.5, 0.0, 0.3, 1.6,
            ],
            4,
        );
        let s1 = a.matmul(&a.tr());
        let s2 = b.matmul(&b.tr());
        let mu1 = t1(&[0.5, -1.0, 2.0, 0.0]);
        let mu2 = t1(&[0.0, 0.3, 1.0, -0.5]);
        let fd = frechet_distance(&mu1, &s1, &mu2, &s2).unwrap();
        close(fd, 6.175948498550694, 1e-10);
        // Symmetric in its two Gaussians.
        let back = frechet_distance(&mu2, &s2, &mu1, &s1).unwrap();
        close(back, fd, 1e-10);
    }

    #[test]
    fn singular_covariances_stay_finite_and_zero_for_identical_sets() {
        let _serial = serial();
        tch::manual_seed(3);
        // 5 samples in 20 dimensions: rank-deficient covariance.
        let x = Tensor::randn([5, 20], (Kind::Double, Device::Cpu));
        let s = feature_stats(&x).unwrap();
        let fd = s.frechet_distance(&s).unwrap();
        assert!(fd.abs() < 1e-9, "{fd}");
        let y = Tensor::randn([5, 20], (Kind::Double, Device::Cpu));
        let t = feature_stats(&y).unwrap();
        let ab = s.frechet_distance(&t).unwrap();
        let ba = t.frechet_distance(&s).unwrap();
        assert!(ab > 1.0 && ab.is_finite());
        // The square roots of the ~15 zero eigenvalues that rounding leaves at ~1e-15 add
        // ~1e-7 each way; the two orders agree to that.
        close(ab, ba, 1e-7);
    }

    #[test]
    fn feature_stats_match_a_hand_computed_covariance() {
        // Rows (1, 2), (3, 6), (5, 7): mean (3, 5); deviations (-2, -3), (0, 1), (2, 2).
        // Sum of outer products: [[8, 10], [10, 14]]; divided by n - 1 = 2: [[4, 5], [5, 7]].
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 6.0, 5.0, 7.0]).reshape([3, 2]);
        let s = feature_stats(&x).unwrap();
        assert_eq!(s.n, 3);
        assert_eq!(s.mu.kind(), Kind::Double);
        assert!(s.mu.allclose(&t1(&[3.0, 5.0]), 0.0, 1e-12, false));
        assert!(
            s.sigma
                .allclose(&t2(&[4.0, 5.0, 5.0, 7.0], 2), 0.0, 1e-12, false)
        );
        // One dimension still gives a [1, 1] matrix.
        let one = feature_stats(&Tensor::from_slice(&[1.0, 3.0]).reshape([2, 1])).unwrap();
        assert_eq!(one.sigma.size(), [1, 1]);
        close(one.sigma.double_value(&[0, 0]), 2.0, 1e-15);
    }

    #[test]
    fn translation_adds_the_squared_shift() {
        let _serial = serial();
        tch::manual_seed(1);
        let x = Tensor::randn([50, 6], (Kind::Double, Device::Cpu));
        let shift = t1(&[1.0, 0.0, -2.0, 0.0, 0.0, 0.5]);
        let a = feature_stats(&x).unwrap();
        let b = feature_stats(&(&x + &shift)).unwrap();
        close(a.frechet_distance(&b).unwrap(), 1.0 + 4.0 + 0.25, 1e-9);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mu = t1(&[0.0, 0.0]);
        let eye = t2(&[1.0, 0.0, 0.0, 1.0], 2);
        let err = frechet_distance(&mu, &eye, &t1(&[0.0]), &eye).unwrap_err();
        assert!(err.to_string().contains("mu2"), "{err}");
        let err = frechet_distance(&mu, &t1(&[1.0, 1.0]), &mu, &eye).unwrap_err();
        assert!(err.to_string().contains("sigma1"), "{err}");
        let nan = t1(&[f64::NAN, 0.0]);
        let err = frechet_distance(&nan, &eye, &mu, &eye).unwrap_err();
        assert!(err.to_string().contains("mu1"), "{err}");
        assert!(feature_stats(&Tensor::zeros([1, 3], (Kind::Float, Device::Cpu))).is_err());
        assert!(feature_stats(&Tensor::zeros([4], (Kind::Float, Device::Cpu))).is_err());
        let inf = Tensor::from_slice(&[1.0, f64::INFINITY, 0.0, 0.0]).reshape([2, 2]);
        let err = feature_stats(&inf).unwrap_err();
        assert!(err.to_string().contains("features"), "{err}");
    }
}

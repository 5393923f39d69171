use super::*;
use crate::splitmix::SplitMix64;
use ndarray::Array2;

#[test]
fn quantile_and_mann_whitney_match_numpy_and_scipy() {
    // import numpy as np; from scipy.stats import mannwhitneyu, norm
    // a = [0.1, 0.4, 0.4, 0.9, 1.3, 2.0]; b = [0.4, 0.8, 1.1, 1.5, 1.5, 2.2, 3.0]
    // r = mannwhitneyu(a, b, alternative='two-sided', method='asymptotic', use_continuity=False)
    // r.statistic == 11.0; -norm.isf(r.pvalue / 2) == -1.4384852978909133  (U < n_a n_b / 2)
    // np.quantile(b, 0.05) == 0.52; np.quantile(b, 0.5) == 1.5
    // np.quantile([3.0, 1.0, 2.0, 10.0], 0.3) == 1.9
    let a = [0.1, 0.4, 0.4, 0.9, 1.3, 2.0];
    let b = [0.4, 0.8, 1.1, 1.5, 1.5, 2.2, 3.0];
    let z = mann_whitney_z(&a, &b).unwrap();
    assert!((z + 1.438_485_297_890_913_3).abs() < 1e-12, "{z}");
    assert!((mann_whitney_z(&b, &a).unwrap() - 1.438_485_297_890_913_3).abs() < 1e-12);
    assert!((quantile(&b, 0.05).unwrap() - 0.52).abs() < 1e-12);
    assert!((quantile(&b, 0.5).unwrap() - 1.5).abs() < 1e-12);
    assert!((quantile(&[3.0, 1.0, 2.0, 10.0], 0.3).unwrap() - 1.9).abs() < 1e-12);
    assert_eq!(quantile(&[4.0], 0.05).unwrap(), 4.0);
    assert_eq!(mann_whitney_z(&[1.0, 1.0], &[1.0]).unwrap(), 0.0);
    assert!(quantile(&[], 0.5).is_err());
    assert!(quantile(&[1.0], 1.5).is_err());
    assert!(CopyTest::new(&[f64::NAN], &[1.0], 0.05).is_err());
}

/// Gaussian points: a training set, a held-out set from the same distribution, and two
/// "generators": one that returns training points with a little noise (a memorising model),
/// one that returns fresh draws (a model that generalises).
fn sets(seed: u64) -> (Array2<f64>, Array2<f64>, Array2<f64>, Array2<f64>) {
    let mut rng = SplitMix64::new(seed);
    let d = 8;
    // Uniform in [-1, 1) from the top 53 bits.
    let mut draw = |n: usize| {
        Array2::from_shape_fn((n, d), |_| {
            (rng.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
    };
    let train = draw(400);
    let heldout = draw(200);
    let fresh = draw(200);
    let noise = draw(200);
    let copies = Array2::from_shape_fn((200, d), |(i, j)| {
        train[[(i * 7) % 400, j]] + 0.01 * noise[[i, j]]
    });
    (train, heldout, fresh, copies)
}

fn nearest(q: &Array2<f64>, r: &Array2<f64>) -> Vec<f64> {
    nearest_euclidean(q.view(), r.view())
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

#[test]
fn a_memorising_generator_is_flagged_and_fresh_samples_are_not() {
    for seed in 0..5 {
        let (train, heldout, fresh, copies) = sets(seed);
        let base = nearest(&heldout, &train);
        let copied = CopyTest::new(&nearest(&copies, &train), &base, DEFAULT_QUANTILE).unwrap();
        assert!(copied.copying, "seed {seed}: {copied:?}");
        assert!(copied.fraction_below > 0.9, "{copied:?}");
        assert!(copied.mann_whitney_z < -10.0, "{copied:?}");
        let honest = CopyTest::new(&nearest(&fresh, &train), &base, DEFAULT_QUANTILE).unwrap();
        assert!(!honest.copying, "seed {seed}: {honest:?}");
        assert!(honest.mann_whitney_z.abs() < 3.5, "{honest:?}");
    }
}

#[test]
fn a_generator_that_copies_a_quarter_of_the_time_is_flagged() {
    let (train, heldout, fresh, copies) = sets(11);
    let mut mixed = fresh.clone();
    for i in 0..50 {
        mixed.row_mut(i).assign(&copies.row(i));
    }
    let base = nearest(&heldout, &train);
    let t = CopyTest::new(&nearest(&mixed, &train), &base, DEFAULT_QUANTILE).unwrap();
    assert!(t.copying, "{t:?}");
}

#[test]
fn nearest_dtw_finds_the_copied_demo() {
    let line = |slope: f64| {
        Array2::from_shape_fn((20, 2), |(i, j)| {
            i as f64 * if j == 0 { 1.0 } else { slope }
        })
    };
    let demos = [line(0.0), line(1.0), line(2.0)];
    let refs: Vec<_> = demos.iter().map(|d| d.view()).collect();
    let query = line(1.0);
    let got = nearest_dtw(&[query.view()], &refs).unwrap();
    assert_eq!(got, vec![(0.0, 1)]);
    assert!(nearest_dtw(&[query.view()], &[]).is_err());
}

#[test]
fn nearest_euclidean_closed_form() {
    let refs = ndarray::array![[0.0, 0.0], [3.0, 4.0]];
    let q = ndarray::array![[3.0, 4.5], [-1.0, 0.0]];
    assert_eq!(
        nearest_euclidean(q.view(), refs.view()).unwrap(),
        vec![(0.5, 1), (1.0, 0)]
    );
    assert!(nearest_euclidean(q.view(), ndarray::Array2::<f64>::zeros((0, 2)).view()).is_err());
}

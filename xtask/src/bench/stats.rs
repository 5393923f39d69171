//! The statistics of the bench: medians and gen/peer ratios.

/// The median of `samples` (the mean of the two middle values for an even count), or `None`
/// when there are none or one is not a number.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() || samples.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted.get(mid).copied()
    } else {
        Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0)
    }
}

/// gen's median over the peer's: below 1 means gen is faster. `None` unless both are finite
/// and the peer's is positive.
pub fn ratio(r#gen: f64, peer: f64) -> Option<f64> {
    (r#gen.is_finite() && peer.is_finite() && peer > 0.0).then(|| r#gen / peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.5]), Some(7.5));
        // numpy: np.median([10, 1, 1000, 2, 3]) == 3.0; an outlier does not move it.
        assert_eq!(median(&[10.0, 1.0, 1000.0, 2.0, 3.0]), Some(3.0));
    }

    #[test]
    fn median_of_nothing_or_nan_is_none() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn ratio_is_gen_over_peer() {
        assert_eq!(ratio(100.0, 200.0), Some(0.5));
        assert_eq!(ratio(300.0, 200.0), Some(1.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::INFINITY, 2.0), None);
    }
}

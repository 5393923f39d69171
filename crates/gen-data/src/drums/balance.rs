//! Class rebalancing of a training split by repetition: rare drum classes (17 claps among 487
//! labelled clips) are seen more often per epoch, so that a GAN trained on them learns them.

use super::{ClassCounts, DrumClass};
use crate::{Error, Result};

/// How many times each class's clips are repeated for `power`: class `c` with `n_c` of the
/// labelled clips in `indices` gets `max(1, round((n_max / n_c)^power))`, where `n_max` is the
/// largest class. `power` 0 repeats nothing; 1 brings every class to about `n_max` clips.
/// Classes absent from `indices` get 1.
pub fn repeat_factors(
    indices: &[usize],
    labels: &[Option<DrumClass>],
    power: f64,
) -> Result<[usize; DrumClass::COUNT]> {
    if !(0.0..=1.0).contains(&power) {
        return Err(Error::invalid(
            "balance",
            format!("{power} is outside [0, 1]"),
        ));
    }
    let counts = ClassCounts::of_indices(indices, labels)?.per_class;
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    Ok(counts.map(|n| {
        if n == 0 {
            1
        } else {
            ((max / n as f64).powf(power).round() as usize).max(1)
        }
    }))
}

/// `indices` with each labelled clip repeated by its class's [`repeat_factors`] (in place: the
/// copies follow the clip), and each unlabelled clip kept once. With `power` 0 it returns
/// `indices` unchanged.
pub fn rebalance(
    indices: &[usize],
    labels: &[Option<DrumClass>],
    power: f64,
) -> Result<Vec<usize>> {
    let factors = repeat_factors(indices, labels, power)?;
    let mut out = Vec::with_capacity(indices.len());
    for &i in indices {
        let times = labels
            .get(i)
            .copied()
            .flatten()
            .and_then(|c| factors.get(c.index()).copied())
            .unwrap_or(1);
        out.extend(std::iter::repeat_n(i, times));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KICK: Option<DrumClass> = Some(DrumClass::Kick);
    const SNARE: Option<DrumClass> = Some(DrumClass::Snare);
    const CLAP: Option<DrumClass> = Some(DrumClass::Clap);

    #[test]
    fn factors_follow_the_power_law() {
        // 100 snares, 44 kicks, 13 claps, 5 unlabelled.
        let labels: Vec<Option<DrumClass>> = [(SNARE, 100), (KICK, 44), (CLAP, 13), (None, 5)]
            .iter()
            .flat_map(|&(l, n)| std::iter::repeat_n(l, n))
            .collect();
        let all: Vec<usize> = (0..labels.len()).collect();
        let f = repeat_factors(&all, &labels, 1.0).unwrap();
        // round(100/44) = 2, round(100/13) = round(7.69) = 8; absent classes 1.
        assert_eq!(f, [2, 1, 1, 1, 1, 8]);
        let f = repeat_factors(&all, &labels, 0.5).unwrap();
        // round(sqrt(2.27)) = round(1.51) = 2, round(sqrt(7.69)) = round(2.77) = 3.
        assert_eq!(f, [2, 1, 1, 1, 1, 3]);
        let out = rebalance(&all, &labels, 1.0).unwrap();
        assert_eq!(out.len(), 100 + 88 + 104 + 5);
        assert_eq!(rebalance(&all, &labels, 0.0).unwrap(), all);
    }

    #[test]
    fn bad_power_and_indices_are_errors() {
        let labels = [KICK, SNARE];
        for p in [-0.1, 1.5, f64::NAN] {
            let e = rebalance(&[0, 1], &labels, p).unwrap_err().to_string();
            assert!(e.contains("balance"), "{e}");
        }
        let e = rebalance(&[0, 2], &labels, 1.0).unwrap_err().to_string();
        assert!(e.contains("past the 2 labels"), "{e}");
    }

    fn label(k: u8) -> Option<DrumClass> {
        DrumClass::ALL.get(usize::from(k)).copied()
    }

    proptest! {
        /// Every clip appears, in order, its class's factor times; with power 1 no class ends
        /// up with more than 1.5x the largest class's clips, nor (when present) fewer than
        /// half of them.
        #[test]
        fn repeats_are_the_factors(ks in proptest::collection::vec(0u8..7, 0..200), power in 0.0f64..=1.0) {
            let labels: Vec<Option<DrumClass>> = ks.iter().map(|&k| label(k)).collect();
            let all: Vec<usize> = (0..labels.len()).collect();
            let f = repeat_factors(&all, &labels, power).unwrap();
            let out = rebalance(&all, &labels, power).unwrap();
            let mut expect = Vec::new();
            for (i, l) in labels.iter().enumerate() {
                let t = l.map_or(1, |c| f[c.index()]);
                expect.extend(std::iter::repeat_n(i, t));
            }
            prop_assert_eq!(&out, &expect);
            let full = rebalance(&all, &labels, 1.0).unwrap();
            let mut per = [0usize; DrumClass::COUNT];
            let mut raw = [0usize; DrumClass::COUNT];
            for &i in &full { if let Some(c) = labels[i] { per[c.index()] += 1; } }
            for c in labels.iter().flatten() { raw[c.index()] += 1; }
            let max = raw.iter().copied().max().unwrap_or(0) as f64;
            for c in 0..DrumClass::COUNT {
                if raw[c] > 0 {
                    prop_assert!(per[c] as f64 <= 1.5 * max && per[c] as f64 >= 0.5 * max);
                }
            }
        }
    }
}

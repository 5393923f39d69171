//! Per-class counts, and the seeded train/valid/test split stratified by class.

use super::{Clip, DrumClass};
use crate::numpy_rng::RandomState;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Clip counts per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassCounts {
    /// Clips of each class, indexed by [`DrumClass::index`].
    pub per_class: [usize; DrumClass::COUNT],
    /// Clips outside the six classes.
    pub unlabelled: usize,
}

impl ClassCounts {
    /// Counts the classes of `clips`.
    pub fn of(clips: &[Clip]) -> ClassCounts {
        let mut counts = ClassCounts::default();
        for clip in clips {
            match clip.class {
                Some(c) => {
                    if let Some(n) = counts.per_class.get_mut(c.index()) {
                        *n += 1;
                    }
                }
                None => counts.unlabelled += 1,
            }
        }
        counts
    }

    /// Counts the classes of the clips at `indices` into `labels`; an index past `labels` is
    /// an error.
    pub fn of_indices(indices: &[usize], labels: &[Option<DrumClass>]) -> Result<ClassCounts> {
        let mut counts = ClassCounts::default();
        for &i in indices {
            let label = labels.get(i).ok_or_else(|| {
                Error::invalid(
                    "indices",
                    format!("{i} is past the {} labels", labels.len()),
                )
            })?;
            match label {
                Some(c) => {
                    if let Some(n) = counts.per_class.get_mut(c.index()) {
                        *n += 1;
                    }
                }
                None => counts.unlabelled += 1,
            }
        }
        Ok(counts)
    }

    /// The clips of class `class`.
    pub fn get(&self, class: DrumClass) -> usize {
        self.per_class.get(class.index()).copied().unwrap_or(0)
    }

    /// The labelled clips.
    pub fn labelled(&self) -> usize {
        self.per_class.iter().sum()
    }
}

impl fmt::Display for ClassCounts {
    /// `kick 54, snare 89, hi-hat 125, tom 78, cymbal 124, clap 17; labelled 487, unlabelled 265`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, class) in DrumClass::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{class} {}", self.get(*class))?;
        }
        write!(
            f,
            "; labelled {}, unlabelled {}",
            self.labelled(),
            self.unlabelled
        )
    }
}

/// How [`split_clips`] splits. Defaults: 10% valid, 10% test, seed 113.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitSpec {
    /// Percentage of each class that goes to the validation split. Default 10.
    pub valid_percent: u32,
    /// Percentage of each class that goes to the test split. Default 10.
    pub test_percent: u32,
    /// Seed of the shuffles (numpy's `RandomState`). Default 113.
    pub seed: u32,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            valid_percent: 10,
            test_percent: 10,
            seed: 113,
        }
    }
}

/// Indices into the clips of each split, each ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrumsSplit {
    /// Training clips.
    pub train: Vec<usize>,
    /// Validation clips.
    pub valid: Vec<usize>,
    /// Test clips.
    pub test: Vec<usize>,
}

/// The share of `n` items that `percent` takes: `round(n * percent / 100)`, halves up.
pub fn share(n: usize, percent: u32) -> usize {
    (n * percent as usize + 50) / 100
}

/// Splits clip indices by class: the strata are the classes in [`DrumClass::ALL`] order, then
/// the unlabelled clips. One `RandomState(seed)` shuffles each stratum's indices (ascending
/// before the shuffle) in that order; the first [`share`]`(n, test_percent)` go to test, the
/// next `share(n, valid_percent)` to valid, the rest to train. Each split is then sorted.
///
/// The same in Python with numpy (`labels[i]` the class index, 6 for unlabelled):
///
/// ```python
/// rs = np.random.RandomState(seed); train, valid, test = [], [], []
/// for c in range(7):
///     idx = [i for i, l in enumerate(labels) if l == c]; rs.shuffle(idx)
///     nt = (len(idx) * test_pct + 50) // 100; nv = (len(idx) * valid_pct + 50) // 100
///     test += idx[:nt]; valid += idx[nt:nt + nv]; train += idx[nt + nv:]
/// train, valid, test = sorted(train), sorted(valid), sorted(test)
/// ```
pub fn split_clips(clips: &[Clip], spec: &SplitSpec) -> Result<DrumsSplit> {
    let labels: Vec<Option<DrumClass>> = clips.iter().map(|c| c.class).collect();
    split_labels(&labels, spec)
}

/// [`split_clips`] on the labels alone.
pub fn split_labels(labels: &[Option<DrumClass>], spec: &SplitSpec) -> Result<DrumsSplit> {
    if spec.valid_percent + spec.test_percent > 100 {
        return Err(Error::invalid(
            "split",
            format!(
                "valid_percent {} + test_percent {} is over 100",
                spec.valid_percent, spec.test_percent
            ),
        ));
    }
    let mut rng = RandomState::new(spec.seed);
    let mut split = DrumsSplit::default();
    let strata = DrumClass::ALL.map(Some).into_iter().chain([None]);
    for stratum in strata {
        let mut idx: Vec<usize> = (0..labels.len())
            .filter(|&i| labels.get(i).copied().flatten() == stratum)
            .collect();
        rng.shuffle(&mut idx);
        let n_test = share(idx.len(), spec.test_percent).min(idx.len());
        let n_valid = share(idx.len(), spec.valid_percent).min(idx.len() - n_test);
        let (test, rest) = idx.split_at(n_test);
        let (valid, train) = rest.split_at(n_valid);
        split.test.extend_from_slice(test);
        split.valid.extend_from_slice(valid);
        split.train.extend_from_slice(train);
    }
    split.train.sort_unstable();
    split.valid.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(counts: &[(Option<DrumClass>, usize)]) -> Vec<Option<DrumClass>> {
        // Interleave the classes so strata are not contiguous.
        let mut out = Vec::new();
        let max = counts.iter().map(|c| c.1).max().unwrap_or(0);
        for k in 0..max {
            for (class, n) in counts {
                if k < *n {
                    out.push(*class);
                }
            }
        }
        out
    }

    #[test]
    fn split_is_a_stratified_partition_and_deterministic() {
        let labels = labels(&[
            (Some(DrumClass::Kick), 46),
            (Some(DrumClass::Snare), 84),
            (Some(DrumClass::Clap), 13),
            (None, 300),
        ]);
        let spec = SplitSpec::default();
        let split = split_labels(&labels, &spec).unwrap();
        let mut all: Vec<usize> = [&split.train[..], &split.valid[..], &split.test[..]].concat();
        all.sort_unstable();
        assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
        let count =
            |idx: &[usize], c: Option<DrumClass>| idx.iter().filter(|&&i| labels[i] == c).count();
        // round(46 * 0.1) = 5, round(84 * 0.1) = 8, round(13 * 0.1) = 1, round(300 * 0.1) = 30.
        for (c, n) in [
            (Some(DrumClass::Kick), 5),
            (Some(DrumClass::Snare), 8),
            (Some(DrumClass::Clap), 1),
            (None, 30),
        ] {
            assert_eq!(count(&split.test, c), n, "{c:?}");
            assert_eq!(count(&split.valid, c), n, "{c:?}");
        }
        assert_eq!(split_labels(&labels, &spec).unwrap(), split);
        let other = split_labels(&labels, &SplitSpec { seed: 1, ..spec }).unwrap();
        assert_ne!(other.test, split.test);
    }

    #[test]
    fn split_matches_numpy() {
        // The Python of `split_clips`'s docs, numpy 2.4.6, with
        // labels = [0, 1, 6, 0, 1, 6, ...] (0 kick, 1 snare, 6 unlabelled) for 20 triples,
        // seed 113, 10% / 10%:
        //   test [19, 33, 40, 42, 44, 59]  valid [7, 8, 13, 20, 51, 57]
        let labels: Vec<Option<DrumClass>> = (0..60)
            .map(|i| [Some(DrumClass::Kick), Some(DrumClass::Snare), None][i % 3])
            .collect();
        let split = split_labels(&labels, &SplitSpec::default()).unwrap();
        assert_eq!(split.test, [19, 33, 40, 42, 44, 59]);
        assert_eq!(split.valid, [7, 8, 13, 20, 51, 57]);
    }

    #[test]
    fn counts_and_bad_specs() {
        let c = ClassCounts {
            per_class: [1, 2, 3, 4, 5, 6],
            unlabelled: 7,
        };
        assert_eq!(
            c.to_string(),
            "kick 1, snare 2, hi-hat 3, tom 4, cymbal 5, clap 6; labelled 21, unlabelled 7"
        );
        // Of some indices: repeats count again; an index past the labels is an error.
        let l = [Some(DrumClass::Kick), None, Some(DrumClass::Clap)];
        let c = ClassCounts::of_indices(&[0, 2, 2, 1], &l).unwrap();
        assert_eq!((c.per_class, c.unlabelled), ([1, 0, 0, 0, 0, 2], 1));
        assert!(ClassCounts::of_indices(&[3], &l).is_err());
        let bad = SplitSpec {
            valid_percent: 60,
            test_percent: 50,
            seed: 0,
        };
        assert!(split_labels(&[], &bad).is_err());
        let one = split_labels(&[Some(DrumClass::Tom)], &SplitSpec::default()).unwrap();
        assert_eq!(
            (one.train.len(), one.valid.len(), one.test.len()),
            (1, 0, 0)
        );
    }
}

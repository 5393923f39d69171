//! Seeded, deterministic batching over index sets.
//!
//! * [`Batcher`] follows Keras `Model.fit`: `validation_split` takes the **last** fraction of
//!   the samples before any shuffling, the training part is reshuffled every epoch, and the
//!   partial last batch is kept (unless [`BatchConfig::drop_last`]).
//! * [`k_fold`] splits `0..n` into `k` cross-validation folds.
//! * [`BucketSampler`] groups sequences of similar length into batches so that padding is
//!   small; [`max_len`] gives a batch's longest real length.
//!
//! # Randomness
//!
//! All shuffles use [`SplitMix64`] (see [`crate::splitmix`]): the same seed gives the same
//! batches on every platform and every build. Each shuffle draws from its own stream,
//! [`SplitMix64::stream`]`(seed, purpose, epoch)`, so the order of epoch `e` is a pure function
//! of `(seed, e)`: resuming training at epoch `e` reproduces it without replaying earlier
//! epochs. These are not numpy's streams; for numpy-exact shuffles see [`crate::numpy_rng`].

mod bucket;

use crate::splitmix::SplitMix64;
use crate::{Error, Result};
pub use bucket::{BucketConfig, BucketSampler, max_len, padded_size};

/// Stream purpose of the per-epoch training shuffle of [`Batcher`].
const PURPOSE_EPOCH: u64 = 0x6261_7463_685f_6570; // "batch_ep"
/// Stream purpose of the one-off shuffle of [`k_fold`].
const PURPOSE_KFOLD: u64 = 0x6b5f_666f_6c64_7300; // "k_folds"
/// Stream purpose of the chunk shuffle of [`BucketSampler`].
const PURPOSE_BUCKET_CHUNKS: u64 = 0x6275_636b_5f63_6b00; // "buck_ck"
/// Stream purpose of the batch-order shuffle of [`BucketSampler`].
const PURPOSE_BUCKET_ORDER: u64 = 0x6275_636b_5f6f_7200; // "buck_or"

/// Keras `fit(validation_split=...)`: `(train, val)` index ranges of `n` samples, where the
/// validation part is the **last** fraction, taken before any shuffling.
///
/// Matches Keras 3 `train_validation_split`
/// (`keras/src/trainers/data_adapters/array_slicing.py`):
/// `split_at = int(math.floor(n * (1.0 - validation_split)))`, computed here in the same `f64`
/// arithmetic; train is `0..split_at`, val is `split_at..n`.
///
/// `validation_split == 0.0` means no validation set (Keras does not split then). Errors, as
/// Keras does, when the split would leave either side empty, and when `validation_split` is not
/// in `[0, 1)`.
pub fn validation_split(n: usize, validation_split: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    let split_at = split_point(n, validation_split)?;
    Ok(((0..split_at).collect(), (split_at..n).collect()))
}

/// The index where validation starts; see [`validation_split`].
fn split_point(n: usize, validation_split: f64) -> Result<usize> {
    if !(0.0..1.0).contains(&validation_split) {
        return Err(Error::invalid(
            "validation_split",
            format!("{validation_split} is not in [0, 1)"),
        ));
    }
    if validation_split == 0.0 {
        return Ok(n);
    }
    // n < 2^53 for any index set that fits in memory, so `n as f64` is exact; the product is
    // in [0, n] and its floor converts back exactly.
    let split_at = (n as f64 * (1.0 - validation_split)).floor() as usize;
    if split_at == 0 || split_at >= n {
        return Err(Error::invalid(
            "validation_split",
            format!(
                "{n} samples are not enough to split into a training and a validation set \
                 with validation_split={validation_split} (split at {split_at})"
            ),
        ));
    }
    Ok(split_at)
}

/// Options of a [`Batcher`]. Defaults follow Keras `fit`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchConfig {
    /// Samples per batch. Default 32 (Keras).
    pub batch_size: usize,
    /// The last fraction of the samples, taken before shuffling, kept for validation; in
    /// `[0, 1)`. Default 0.0 (no validation set).
    pub validation_split: f64,
    /// Reshuffle the training indices every epoch. Default `true` (Keras). Validation batches
    /// are never shuffled.
    pub shuffle: bool,
    /// Drop the last training batch when it is smaller than `batch_size`. Default `false`
    /// (Keras keeps the partial batch).
    pub drop_last: bool,
    /// Seed of the per-epoch shuffles. Default 0.
    pub seed: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            validation_split: 0.0,
            shuffle: true,
            drop_last: false,
            seed: 0,
        }
    }
}

/// Splits samples into training and validation indices and deals out training batches per
/// epoch, as Keras `fit` does. See the [module docs](self) for the random streams.
#[derive(Clone, Debug, PartialEq)]
pub struct Batcher {
    config: BatchConfig,
    train: Vec<usize>,
    val: Vec<usize>,
}

impl Batcher {
    /// A batcher over samples `0..n`, split by `config.validation_split` (see
    /// [`validation_split`]). Errors when `n` is 0, `batch_size` is 0 or the split is invalid.
    pub fn new(n: usize, config: BatchConfig) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("n", "there are no samples to batch"));
        }
        let (train, val) = validation_split(n, config.validation_split)?;
        Self::checked(train, val, config)
    }

    /// A batcher over explicit training and validation indices, e.g. one fold of [`k_fold`].
    /// `config.validation_split` must be 0 (the split is already given). Errors when `train`
    /// is empty or `batch_size` is 0.
    pub fn from_split(train: Vec<usize>, val: Vec<usize>, config: BatchConfig) -> Result<Self> {
        if config.validation_split != 0.0 {
            return Err(Error::invalid(
                "validation_split",
                format!(
                    "must be 0 when the split is given explicitly, got {}",
                    config.validation_split
                ),
            ));
        }
        if train.is_empty() {
            return Err(Error::invalid("train", "there are no training indices"));
        }
        Self::checked(train, val, config)
    }

    fn checked(train: Vec<usize>, val: Vec<usize>, config: BatchConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        Ok(Self { config, train, val })
    }

    /// The options.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// The training indices, unshuffled.
    pub fn train_indices(&self) -> &[usize] {
        &self.train
    }

    /// The validation indices (empty without a validation split).
    pub fn val_indices(&self) -> &[usize] {
        &self.val
    }

    /// Training batches per epoch: `ceil(train / batch_size)`, or `floor` with `drop_last`.
    pub fn num_train_batches(&self) -> usize {
        let (full, rest) = (
            self.train.len() / self.config.batch_size,
            self.train.len() % self.config.batch_size,
        );
        if rest > 0 && !self.config.drop_last {
            full + 1
        } else {
            full
        }
    }

    /// The training batches of epoch `epoch` (0-based). With `shuffle`, the order is a pure
    /// function of `(seed, epoch)`; without, batches follow the index order. Every training
    /// index appears exactly once, except those of a partial last batch under `drop_last`.
    pub fn epoch_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut order = self.train.clone();
        if self.config.shuffle {
            SplitMix64::stream(self.config.seed, PURPOSE_EPOCH, epoch).shuffle(&mut order);
        }
        chunk(&order, self.config.batch_size, self.config.drop_last)
    }

    /// The validation batches, in order and never shuffled; the partial last batch is kept.
    pub fn val_batches(&self) -> Vec<Vec<usize>> {
        chunk(&self.val, self.config.batch_size, false)
    }
}

/// Cuts `items` into consecutive batches of `batch_size` (`batch_size >= 1`).
fn chunk(items: &[usize], batch_size: usize, drop_last: bool) -> Vec<Vec<usize>> {
    items
        .chunks(batch_size.max(1))
        .filter(|batch| !drop_last || batch.len() == batch_size)
        .map(<[usize]>::to_vec)
        .collect()
}

/// `k`-fold cross-validation over `0..n`: `k` pairs `(train, val)`.
///
/// The indices are shuffled once with `seed`, then cut into `k` consecutive folds; the first
/// `n % k` folds hold one index more, so fold sizes differ by at most 1 (scikit-learn's
/// `KFold` sizes). Fold `i` is the validation set of pair `i` and the other folds its training
/// set; every index is in exactly one validation set. Both lists are sorted ascending.
/// Errors when `k < 2` or `k > n`.
pub fn k_fold(n: usize, k: usize, seed: u64) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if k < 2 || k > n {
        return Err(Error::invalid(
            "k",
            format!("{k} folds of {n} samples; need 2 <= k <= n"),
        ));
    }
    let order = SplitMix64::stream(seed, PURPOSE_KFOLD, 0).permutation(n);
    let (base, extra) = (n / k, n % k);
    let mut fold_of = vec![0usize; n];
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for fold in 0..k {
        let size = base + usize::from(fold < extra);
        let mut val: Vec<usize> = order.iter().skip(start).take(size).copied().collect();
        for &i in &val {
            if let Some(slot) = fold_of.get_mut(i) {
                *slot = fold;
            }
        }
        val.sort_unstable();
        folds.push(val);
        start += size;
    }
    Ok(folds
        .into_iter()
        .enumerate()
        .map(|(fold, val)| {
            let train = (0..n).filter(|&i| fold_of.get(i) != Some(&fold)).collect();
            (train, val)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sorted concatenation of all batches.
    pub(super) fn flat_sorted(batches: &[Vec<usize>]) -> Vec<usize> {
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn validation_split_matches_keras_rounding() {
        // Keras 3: split_at = int(math.floor(n * (1.0 - validation_split)))
        //   math.floor(10 * (1.0 - 0.3))   -> 7   (0.7 * 10 == 7.0)
        //   math.floor(100 * (1.0 - 0.7))  -> 30  (30.000000000000004)
        //   math.floor(3 * (1.0 - 0.1))    -> 2   (2.7)
        //   math.floor(1000 * (1.0 - 0.2)) -> 800
        for (n, split, expected) in [(10, 0.3, 7), (100, 0.7, 30), (3, 0.1, 2), (1000, 0.2, 800)] {
            let (train, val) = validation_split(n, split).unwrap();
            assert_eq!(
                train,
                (0..expected).collect::<Vec<_>>(),
                "n={n} split={split}"
            );
            assert_eq!(
                val,
                (expected..n).collect::<Vec<_>>(),
                "n={n} split={split}"
            );
        }
        // Keras raises when a side would be empty: floor(1 * (1.0 - 0.5)) = 0 and
        // floor(2 * (1.0 - 0.99)) = 0 leave no training samples.
        assert!(validation_split(1, 0.5).is_err());
        assert!(validation_split(2, 0.99).is_err());
        assert!(validation_split(10, 1.0).is_err());
        assert!(validation_split(10, -0.1).is_err());
        assert!(validation_split(10, f64::NAN).is_err());
        let (train, val) = validation_split(10, 0.0).unwrap();
        assert_eq!((train.len(), val.len()), (10, 0));
    }

    #[test]
    fn batcher_keeps_partial_last_batch_like_keras() {
        // 100 samples, batch 32: Keras runs ceil(100 / 32) = 4 steps, the last with 4 samples.
        let batcher = Batcher::new(100, BatchConfig::default()).unwrap();
        let batches = batcher.epoch_batches(0);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [32, 32, 32, 4]);
        assert_eq!(batcher.num_train_batches(), 4);

        let dropping = Batcher::new(
            100,
            BatchConfig {
                drop_last: true,
                ..BatchConfig::default()
            },
        )
        .unwrap();
        assert_eq!(dropping.epoch_batches(0).len(), 3);
        assert_eq!(dropping.num_train_batches(), 3);
    }

    #[test]
    fn unshuffled_batches_follow_index_order() {
        let config = BatchConfig {
            batch_size: 4,
            validation_split: 0.2,
            shuffle: false,
            ..BatchConfig::default()
        };
        let batcher = Batcher::new(10, config).unwrap();
        assert_eq!(
            batcher.epoch_batches(3),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
        assert_eq!(batcher.val_batches(), vec![vec![8, 9]]);
    }

    #[test]
    fn batcher_rejects_bad_options() {
        assert!(Batcher::new(0, BatchConfig::default()).is_err());
        let zero = BatchConfig {
            batch_size: 0,
            ..BatchConfig::default()
        };
        assert!(Batcher::new(10, zero).is_err());
        let split = BatchConfig {
            validation_split: 0.1,
            ..BatchConfig::default()
        };
        assert!(Batcher::from_split(vec![0], vec![1], split).is_err());
        assert!(Batcher::from_split(vec![], vec![1], BatchConfig::default()).is_err());
    }

    #[test]
    fn batcher_over_a_k_fold_split() {
        let folds = k_fold(10, 5, 3).unwrap();
        let (train, val) = folds[0].clone();
        let batcher = Batcher::from_split(
            train.clone(),
            val.clone(),
            BatchConfig {
                batch_size: 3,
                ..BatchConfig::default()
            },
        )
        .unwrap();
        assert_eq!(flat_sorted(&batcher.epoch_batches(1)), train);
        assert_eq!(flat_sorted(&batcher.val_batches()), val);
    }

    #[test]
    fn k_fold_rejects_bad_k() {
        assert!(k_fold(10, 1, 0).is_err());
        assert!(k_fold(10, 11, 0).is_err());
        assert!(k_fold(0, 2, 0).is_err());
        assert_eq!(k_fold(10, 10, 0).unwrap().len(), 10);
    }

    proptest! {
        #[test]
        fn every_train_index_exactly_once_per_epoch(
            n in 1usize..300,
            batch_size in 1usize..50,
            split_pct in 0u32..90,
            seed: u64,
            epoch in 0u64..1_000,
        ) {
            let validation_split = f64::from(split_pct) / 100.0;
            let config = BatchConfig { batch_size, validation_split, seed, ..BatchConfig::default() };
            let Ok(batcher) = Batcher::new(n, config) else {
                // Only a split that leaves a side empty may fail.
                let at = (n as f64 * (1.0 - validation_split)).floor() as usize;
                prop_assert!(validation_split > 0.0 && (at == 0 || at == n));
                return Ok(());
            };
            let batches = batcher.epoch_batches(epoch);
            prop_assert_eq!(flat_sorted(&batches), batcher.train_indices().to_vec());
            prop_assert_eq!(batches.len(), batcher.num_train_batches());
            for b in batches.iter().take(batches.len().saturating_sub(1)) {
                prop_assert_eq!(b.len(), batch_size);
            }
            // Train and val partition 0..n and val is the last fraction.
            let split_at = batcher.train_indices().len();
            prop_assert_eq!(batcher.train_indices().to_vec(), (0..split_at).collect::<Vec<_>>());
            prop_assert_eq!(batcher.val_indices().to_vec(), (split_at..n).collect::<Vec<_>>());
            prop_assert_eq!(
                batcher.val_indices().len(),
                n - (n as f64 * (1.0 - validation_split)).floor() as usize
            );
        }

        #[test]
        fn drop_last_keeps_only_full_batches(n in 1usize..300, batch_size in 1usize..50, seed: u64) {
            let config = BatchConfig { batch_size, drop_last: true, seed, ..BatchConfig::default() };
            let batches = Batcher::new(n, config).unwrap().epoch_batches(0);
            prop_assert_eq!(batches.len(), n / batch_size);
            prop_assert!(batches.iter().all(|b| b.len() == batch_size));
            let all = flat_sorted(&batches);
            let mut dedup = all.clone();
            dedup.dedup();
            prop_assert_eq!(all.len(), dedup.len());
        }

        #[test]
        fn same_seed_same_batches_and_epochs_differ(n in 20usize..300, seed: u64, epoch in 0u64..10_000) {
            let config = BatchConfig { batch_size: 7, seed, ..BatchConfig::default() };
            let a = Batcher::new(n, config.clone()).unwrap();
            let b = Batcher::new(n, config).unwrap();
            // Resuming: a fresh batcher reproduces epoch `epoch` without earlier epochs.
            prop_assert_eq!(a.epoch_batches(epoch), b.epoch_batches(epoch));
            // Two permutations of >= 20 items coincide with probability <= 1/20! (~4e-19).
            prop_assert_ne!(a.epoch_batches(epoch), a.epoch_batches(epoch + 1));
            let other = Batcher::new(n, BatchConfig { batch_size: 7, seed: seed ^ 1, ..BatchConfig::default() }).unwrap();
            prop_assert_ne!(a.epoch_batches(epoch), other.epoch_batches(epoch));
        }

        #[test]
        fn k_fold_partitions_indices(n in 2usize..200, k_raw in 2usize..20, seed: u64) {
            let k = k_raw.min(n);
            let folds = k_fold(n, k, seed).unwrap();
            prop_assert_eq!(folds.len(), k);
            let mut in_val = vec![0usize; n];
            let sizes: Vec<usize> = folds.iter().map(|(_, v)| v.len()).collect();
            for (train, val) in &folds {
                prop_assert_eq!(train.len() + val.len(), n);
                let mut union: Vec<usize> = train.iter().chain(val).copied().collect();
                union.sort_unstable();
                prop_assert_eq!(union, (0..n).collect::<Vec<_>>());
                for &i in val {
                    in_val[i] += 1;
                }
            }
            prop_assert!(in_val.iter().all(|&c| c == 1));
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(hi - lo <= 1, "{:?}", sizes);
            prop_assert_eq!(k_fold(n, k, seed).unwrap(), folds);
        }
    }
}

//! Length bucketing: [`BucketSampler`] batches sequences of similar length so padding is small;
//! [`max_len`] and [`padded_size`] measure a batch's padding.

use super::{PURPOSE_BUCKET_CHUNKS, PURPOSE_BUCKET_ORDER, chunk};
use crate::splitmix::SplitMix64;
use crate::{Error, Result};

/// Options of a [`BucketSampler`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketConfig {
    /// Sequences per batch. Default 32.
    pub batch_size: usize,
    /// Sort window, in batches: each epoch the indices are shuffled and cut into chunks of
    /// `batch_size * bucket_factor`, each chunk is sorted by length, then cut into batches.
    /// Larger values pad less but randomise less. Default 100 (torchtext's `BucketIterator`
    /// pool).
    pub bucket_factor: usize,
    /// Drop the one batch smaller than `batch_size` (there is at most one). Default `false`.
    pub drop_last: bool,
    /// Seed of the shuffles. Default 0.
    pub seed: u64,
}

impl Default for BucketConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            bucket_factor: 100,
            drop_last: false,
            seed: 0,
        }
    }
}

/// A length-bucketing batch sampler: batches hold sequences of similar length, so padding each
/// batch to its [`max_len`] wastes little compute.
///
/// Each epoch: shuffle the indices, cut them into chunks of `batch_size * bucket_factor`, sort
/// each chunk by length (stable, so ties stay in shuffled order), cut the chunks into batches
/// and shuffle the batch order. Every index appears exactly once per epoch (except the partial
/// batch under `drop_last`); the result is a pure function of `(seed, epoch)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketSampler {
    config: BucketConfig,
    lengths: Vec<usize>,
    indices: Vec<usize>,
}

impl BucketSampler {
    /// A sampler over all sequences, `lengths[i]` being the length of sequence `i`.
    /// Errors when `batch_size` or `bucket_factor` is 0.
    pub fn new(lengths: Vec<usize>, config: BucketConfig) -> Result<Self> {
        let indices = (0..lengths.len()).collect();
        Self::for_indices(lengths, indices, config)
    }

    /// A sampler over a subset of the sequences, e.g. the training part of a
    /// [`validation_split`]. Errors when an index is out of range of `lengths` or repeated, or
    /// `batch_size` or `bucket_factor` is 0.
    ///
    /// [`validation_split`]: super::validation_split
    pub fn for_indices(
        lengths: Vec<usize>,
        indices: Vec<usize>,
        config: BucketConfig,
    ) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        if config.bucket_factor == 0 {
            return Err(Error::invalid("bucket_factor", "must be at least 1"));
        }
        let mut seen = vec![false; lengths.len()];
        for &i in &indices {
            match seen.get_mut(i) {
                None => {
                    return Err(Error::invalid(
                        "indices",
                        format!("index {i} is out of range of {} lengths", lengths.len()),
                    ));
                }
                Some(true) => {
                    return Err(Error::invalid("indices", format!("index {i} is repeated")));
                }
                Some(slot) => *slot = true,
            }
        }
        Ok(Self {
            config,
            lengths,
            indices,
        })
    }

    /// The options.
    pub fn config(&self) -> &BucketConfig {
        &self.config
    }

    /// The sequence lengths.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The batches of epoch `epoch` (0-based).
    pub fn epoch_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let seed = self.config.seed;
        let mut order = self.indices.clone();
        SplitMix64::stream(seed, PURPOSE_BUCKET_CHUNKS, epoch).shuffle(&mut order);
        let window = self
            .config
            .batch_size
            .saturating_mul(self.config.bucket_factor);
        let mut batches = Vec::with_capacity(order.len() / self.config.batch_size + 1);
        for bucket in order.chunks_mut(window.max(1)) {
            bucket.sort_by_key(|&i| self.lengths.get(i).copied().unwrap_or(0));
            // Chunks are whole multiples of batch_size, so only the very last batch can be
            // partial.
            batches.extend(chunk(bucket, self.config.batch_size, self.config.drop_last));
        }
        SplitMix64::stream(seed, PURPOSE_BUCKET_ORDER, epoch).shuffle(&mut batches);
        batches
    }
}

/// The longest length among the sequences of `batch`, so a batch can be run only to its
/// longest real length; 0 for an empty batch. Errors when an index is out of range.
pub fn max_len(batch: &[usize], lengths: &[usize]) -> Result<usize> {
    batch.iter().try_fold(0, |longest, &i| {
        lengths.get(i).map(|&len| longest.max(len)).ok_or_else(|| {
            Error::invalid(
                "batch",
                format!("index {i} is out of range of {} lengths", lengths.len()),
            )
        })
    })
}

/// The total padded size of `batches`: the sum over batches of `batch.len() * max_len(batch)`,
/// i.e. the number of sequence steps computed when every batch is padded to its longest
/// sequence. Errors when an index is out of range.
pub fn padded_size(batches: &[Vec<usize>], lengths: &[usize]) -> Result<usize> {
    batches.iter().try_fold(0usize, |total, batch| {
        Ok(total.saturating_add(batch.len().saturating_mul(max_len(batch, lengths)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::flat_sorted;
    use super::super::{BatchConfig, Batcher};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn max_len_and_padded_size() {
        let lengths = [3, 9, 1, 4];
        assert_eq!(max_len(&[0, 2, 3], &lengths).unwrap(), 4);
        assert_eq!(max_len(&[], &lengths).unwrap(), 0);
        assert!(max_len(&[4], &lengths).is_err());
        // [0, 1] padded to 9 -> 18; [2, 3] padded to 4 -> 8.
        assert_eq!(
            padded_size(&[vec![0, 1], vec![2, 3]], &lengths).unwrap(),
            26
        );
    }

    #[test]
    fn bucket_sampler_rejects_bad_input() {
        let config = BucketConfig::default();
        assert!(BucketSampler::for_indices(vec![1, 2], vec![2], config.clone()).is_err());
        assert!(BucketSampler::for_indices(vec![1, 2], vec![1, 1], config.clone()).is_err());
        let zero = BucketConfig {
            bucket_factor: 0,
            ..config
        };
        assert!(BucketSampler::new(vec![1, 2], zero).is_err());
    }

    #[test]
    fn bucket_batches_are_sorted_within_one_window() {
        // One window covers everything: batches are consecutive runs of the sorted lengths.
        let lengths: Vec<usize> = (0..20).map(|i| (i * 7) % 20).collect();
        let sampler = BucketSampler::new(
            lengths.clone(),
            BucketConfig {
                batch_size: 5,
                bucket_factor: 10,
                ..BucketConfig::default()
            },
        )
        .unwrap();
        let mut spans: Vec<(usize, usize)> = sampler
            .epoch_batches(0)
            .iter()
            .map(|b| {
                let ls: Vec<usize> = b.iter().map(|&i| lengths[i]).collect();
                (*ls.iter().min().unwrap(), *ls.iter().max().unwrap())
            })
            .collect();
        spans.sort_unstable();
        assert_eq!(spans, [(0, 4), (5, 9), (10, 14), (15, 19)]);
    }

    /// A skewed length distribution: mostly short, a long tail.
    fn skewed_lengths(n: usize, seed: u64) -> Vec<usize> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                // Pareto-like: 1 / (1 - u)^2, capped.
                (5.0 / (1.0 - u * 0.999).powi(2)).min(2_000.0) as usize + 1
            })
            .collect()
    }

    proptest! {
        #[test]
        fn bucket_sampler_covers_each_index_once_and_is_seeded(
            lengths in proptest::collection::vec(0usize..500, 0..400),
            batch_size in 1usize..40,
            bucket_factor in 1usize..8,
            seed: u64,
            epoch in 0u64..100,
        ) {
            let config = BucketConfig { batch_size, bucket_factor, seed, drop_last: false };
            let sampler = BucketSampler::new(lengths.clone(), config).unwrap();
            let batches = sampler.epoch_batches(epoch);
            prop_assert_eq!(flat_sorted(&batches), (0..lengths.len()).collect::<Vec<_>>());
            prop_assert!(batches.iter().filter(|b| b.len() < batch_size).count() <= 1);
            prop_assert!(batches.iter().all(|b| !b.is_empty()));
            prop_assert_eq!(sampler.epoch_batches(epoch), batches);
        }

        #[test]
        fn bucketing_pads_less_than_random_batches(seed: u64, n in 500usize..2_000) {
            let lengths = skewed_lengths(n, seed);
            let bucketed = BucketSampler::new(
                lengths.clone(),
                BucketConfig { batch_size: 32, bucket_factor: 20, seed, drop_last: false },
            )
            .unwrap()
            .epoch_batches(0);
            let random = Batcher::new(n, BatchConfig { seed, ..BatchConfig::default() })
                .unwrap()
                .epoch_batches(0);
            let real: usize = lengths.iter().sum();
            let bucket_pad = padded_size(&bucketed, &lengths).unwrap();
            let random_pad = padded_size(&random, &lengths).unwrap();
            prop_assert!(bucket_pad >= real);
            // Bucketing must save a lot on a long-tailed distribution, not just a little.
            prop_assert!(
                (bucket_pad as f64) < 0.6 * random_pad as f64,
                "bucketed {} vs random {} (real {})", bucket_pad, random_pad, real
            );
        }
    }
}

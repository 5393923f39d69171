//! What every epoch runs: the training batches, the validation batches, the step budget and
//! libtorch's seed per step. All are pure functions of the config and the step or epoch, so a
//! resumed run repeats the uninterrupted one.

use super::{Dataset, TrainerConfig};
use crate::{Error, Result};
use gen_data::batch::{BatchConfig, Batcher, BucketConfig, BucketSampler, validation_split};
use gen_data::splitmix::SplitMix64;

/// Where a validation batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ValSource {
    /// The separate validation set.
    Separate,
    /// The validation split of the training data.
    Split,
}

/// The batches and the step budget of one `fit`.
pub(super) struct Plan {
    sampler: Sampler,
    /// The validation batches, the same every epoch.
    pub(super) val_batches: Vec<(ValSource, Vec<usize>)>,
    /// Optimiser steps in all: the epochs' batches, capped by `max_steps`.
    pub(super) total_steps: u64,
}

impl Plan {
    /// Splits `data` (validation from the end, unless `valid` is given) and orders the
    /// validation batches: by length when bucketing (stable; the metrics are sums over every
    /// sample, so only the speed changes), else in order.
    pub(super) fn new<D: Dataset>(c: &TrainerConfig, data: &D, valid: Option<&D>) -> Result<Self> {
        let (train_idx, val_idx) = match valid {
            Some(_) => ((0..data.len()).collect(), Vec::new()),
            None if c.validation_split > 0.0 => validation_split(data.len(), c.validation_split)?,
            None => ((0..data.len()).collect(), Vec::new()),
        };
        let sampler = Sampler::new(c, data, train_idx)?;
        let val_order = |indices: Vec<usize>, lengths: Option<Vec<usize>>| match lengths {
            Some(lengths) if c.bucket_factor.is_some() => {
                let mut indices = indices;
                indices.sort_by_key(|&i| lengths.get(i).copied().unwrap_or(0));
                indices
            }
            _ => indices,
        };
        let (source, order) = match valid {
            Some(v) => (
                ValSource::Separate,
                val_order((0..v.len()).collect(), v.lengths()),
            ),
            None => (ValSource::Split, val_order(val_idx, data.lengths())),
        };
        let val_batches = order
            .chunks(c.batch_size.max(1))
            .map(|b| (source, b.to_vec()))
            .collect();
        let per_epoch = sampler.num_batches() as u64;
        let all = per_epoch * c.epochs as u64;
        let total_steps = c.max_steps.map_or(all, |m| m.min(all));
        Ok(Plan {
            sampler,
            val_batches,
            total_steps,
        })
    }

    /// The training batches of 0-based `epoch`.
    pub(super) fn epoch_batches(&self, epoch: usize) -> Vec<Vec<usize>> {
        match &self.sampler {
            Sampler::Plain(b) => b.epoch_batches(epoch as u64),
            Sampler::Bucket(b) => b.epoch_batches(epoch as u64),
        }
    }
}

/// libtorch's seed for global step `step`.
pub(super) fn step_seed(seed: u64, step: u64) -> i64 {
    (SplitMix64::mix(seed ^ SplitMix64::mix(step.wrapping_add(0x5eed))) >> 1) as i64
}

/// Plain Keras-style batching or length bucketing over the training indices.
enum Sampler {
    Plain(Batcher),
    Bucket(BucketSampler),
}

impl Sampler {
    fn new<D: Dataset>(c: &TrainerConfig, data: &D, train: Vec<usize>) -> Result<Self> {
        match c.bucket_factor {
            None => Ok(Sampler::Plain(Batcher::from_split(
                train,
                Vec::new(),
                BatchConfig {
                    batch_size: c.batch_size,
                    validation_split: 0.0,
                    shuffle: c.shuffle,
                    drop_last: c.drop_last,
                    seed: c.seed,
                },
            )?)),
            Some(factor) => {
                let lengths = data.lengths().ok_or_else(|| {
                    Error::config(
                        "trainer.bucket_factor",
                        "this dataset has no per-sample lengths to bucket by",
                    )
                })?;
                Ok(Sampler::Bucket(BucketSampler::for_indices(
                    lengths,
                    train,
                    BucketConfig {
                        batch_size: c.batch_size,
                        bucket_factor: factor,
                        drop_last: c.drop_last,
                        seed: c.seed,
                    },
                )?))
            }
        }
    }

    fn num_batches(&self) -> usize {
        match self {
            Sampler::Plain(b) => b.num_train_batches(),
            Sampler::Bucket(b) => b.epoch_batches(0).len(),
        }
    }
}

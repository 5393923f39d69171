//! Data-parallel training with DDP's semantics, on a c10d process group ([`gen_dist`]).
//!
//! With a [`DataParallel`], [`Trainer::fit`](super::Trainer::fit) runs one rank of a run:
//!
//! - every rank checks that it runs the same config (a hash, compared across the ranks);
//! - rank 0 restores the `last` checkpoint when resuming, then broadcasts its model, optimiser
//!   and trainer state, so every rank starts from rank 0's;
//! - every rank computes the same batches (a pure function of the config and the epoch) and
//!   takes its contiguous shard of each: the global batch is the one a single process takes;
//! - after backward, each optimiser averages its gradients over the ranks (flat buckets of
//!   [`DistConfig::bucket_mib`], [`GradBuckets`]) before clipping and updating; a shard of a
//!   partial batch is weighted by its size, so the average is the batch's mean gradient;
//! - an epoch's training metrics are summed (sums and counts) over the ranks; validation runs
//!   on every rank, whose weights are equal;
//! - only rank 0 writes checkpoints, metrics and samples; the others wait at a barrier;
//! - the stop flag (Ctrl-C, SIGTERM) stops every rank at the same step.
//!
//! libtorch's seed per step mixes in the rank (rank 0 keeps the single-process seed), so
//! dropout and noise differ between shards as they would within one batch.

use super::{TrainStep, TrainerConfig, TrainerState};
use crate::metrics::Metrics;
use crate::optim::GradSync;
use crate::{Error, Result};
use gen_data::splitmix::SplitMix64;
use gen_dist::{DistConfig, GradBuckets, ProcessGroup, broadcast_parameters};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

/// One rank of a data-parallel run: the process group and how gradients travel.
#[derive(Debug, Clone)]
pub struct DataParallel {
    group: Rc<ProcessGroup>,
    bucket_bytes: usize,
    fingerprint: Vec<u8>,
    /// This step's weight of the local gradient: shard size × world size / batch size.
    weight: Rc<Cell<f64>>,
}

impl DataParallel {
    /// Trains on `group`, with gradient buckets of `config`'s size.
    pub fn new(group: Rc<ProcessGroup>, config: &DistConfig) -> Result<Self> {
        Ok(DataParallel {
            group,
            bucket_bytes: config.bucket_bytes()?,
            fingerprint: Vec::new(),
            weight: Rc::new(Cell::new(1.0)),
        })
    }

    /// Bytes every rank must agree on besides the trainer's config (e.g. the whole resolved
    /// run config); checked at the start of `fit`.
    pub fn fingerprint(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.fingerprint = bytes.into();
        self
    }

    /// The process group.
    pub fn group(&self) -> &ProcessGroup {
        &self.group
    }

    /// Whether this is rank 0, the one that writes.
    pub fn is_main(&self) -> bool {
        self.group.is_main()
    }

    /// Fails on every rank, naming the ranks that differ, unless all run the same trainer
    /// config and fingerprint on training sets of the same size.
    pub(super) fn check_config(&self, config: &TrainerConfig, samples: usize) -> Result<()> {
        let mut bytes = serde_json::to_vec(config)
            .map_err(|e| Error::config("trainer", format!("cannot serialise: {e}")))?;
        bytes.extend_from_slice(&(samples as u64).to_le_bytes());
        bytes.extend_from_slice(&self.fingerprint);
        Ok(self
            .group
            .check_same("the run config and training set size", &bytes)?)
    }

    /// Makes every optimiser of `task` average its gradients over the ranks, as `fit` does at
    /// its start: after this, each update first all-reduces its gradients in buckets. For a
    /// step outside `fit` (e.g. `cargo xtask bench`'s `ddp-step`), call it once after the
    /// task is built; every shard then weighs 1 (equal shards).
    pub fn attach<T: TrainStep>(&self, task: &mut T) -> Result<()> {
        let optimizers = task.optimizers_mut();
        if optimizers.is_empty() {
            return Err(Error::config(
                "dist",
                "this task exposes no optimiser (TrainStep::optimizers_mut), so its gradients \
                 cannot be averaged over the ranks",
            ));
        }
        for optimizer in optimizers {
            let params = optimizer.params();
            let mut planned = params;
            planned.push(Tensor::f_zeros(
                [planned.len() as i64],
                (Kind::Float, Device::Cpu),
            )?);
            let buckets = GradBuckets::new(&planned, self.bucket_bytes)?;
            optimizer.set_grad_sync(Some(GradSync::new(
                self.group.clone(),
                buckets,
                self.weight.clone(),
            )));
        }
        Ok(())
    }

    /// Undoes [`DataParallel::attach`]: the optimisers train alone again.
    pub fn detach<T: TrainStep>(&self, task: &mut T) {
        for optimizer in task.optimizers_mut() {
            optimizer.set_grad_sync(None);
        }
    }

    /// This rank's contiguous shard of the batch `indices` (sizes differ by at most one), and
    /// its gradient weight for the step. Fails when the batch has fewer samples than ranks.
    pub(super) fn shard<'a>(&self, indices: &'a [usize]) -> Result<&'a [usize]> {
        let (rank, world) = (self.group.rank(), self.group.world_size());
        let (start, len) = shard_range(indices.len(), rank, world).ok_or_else(|| {
            Error::config(
                "trainer.batch_size",
                format!(
                    "a batch of {} samples cannot be split over {world} ranks; use a larger \
                     batch_size, or drop_last = true when the last batch is the short one",
                    indices.len()
                ),
            )
        })?;
        self.weight.set((len * world) as f64 / indices.len() as f64);
        Ok(indices.get(start..start + len).unwrap_or_default())
    }

    /// The seed whose [`step_seed`](super::plan::step_seed)s this rank uses: `seed` on rank
    /// 0, a mix of it with the rank elsewhere.
    pub(super) fn rank_seed(&self, seed: u64) -> u64 {
        match self.group.rank() {
            0 => seed,
            rank => seed ^ SplitMix64::mix(0xd1b5_4a32_d192_ed03 ^ rank as u64),
        }
    }

    /// The sums and counts of `metrics`, summed over the ranks (the same names on each).
    pub(super) fn sum_metrics(&self, metrics: &Metrics) -> Result<Metrics> {
        let names: Vec<&str> = metrics.entries().map(|(name, _, _)| name).collect();
        self.group.check_same(
            "the names of the training metrics",
            names.join("\n").as_bytes(),
        )?;
        let values: Vec<f64> = metrics.entries().flat_map(|(_, s, c)| [s, c]).collect();
        let summed = self.group.sum_f64(&values)?;
        let mut out = Metrics::new();
        for (name, pair) in names.iter().zip(summed.chunks_exact(2)) {
            if let [sum, count] = pair {
                out.add(name, *sum, *count);
            }
        }
        Ok(out)
    }

    /// Whether `flag` is raised on any rank.
    pub(super) fn any(&self, flag: bool) -> Result<bool> {
        let sum = self.group.sum_f64(&[f64::from(u8::from(flag))])?;
        Ok(sum.first().is_some_and(|&s| s > 0.0))
    }

    /// Waits for every rank.
    pub(super) fn barrier(&self) -> Result<()> {
        Ok(self.group.barrier()?)
    }

    /// Copies rank 0's trainer state and task state (model and optimisers) to every rank, as
    /// DDP broadcasts the parameters at the start. Other ranks drop the partial epoch's
    /// metrics they receive: rank 0 holds the whole run's, and the epoch's end sums them.
    pub(super) fn sync_from_main<T: TrainStep>(
        &self,
        task: &mut T,
        state: &mut TrainerState,
    ) -> Result<()> {
        let main = self.is_main();
        let mut json = if main {
            serde_json::to_vec(state)
                .map_err(|e| Error::config("trainer state", format!("cannot serialise: {e}")))?
        } else {
            Vec::new()
        };
        self.broadcast_bytes(&mut json)?;
        if !main {
            *state = serde_json::from_slice(&json).map_err(|e| {
                Error::config(
                    "trainer state",
                    format!("rank 0 sent an unreadable one: {e}"),
                )
            })?;
            state.epoch_metrics = Metrics::new();
        }
        let named = task.state()?;
        let layout: String = named
            .iter()
            .map(|(name, t)| format!("{name}:{:?}:{:?}\n", t.size(), t.f_kind().ok()))
            .collect();
        self.group.check_same(
            "the names and shapes of the model and optimiser state",
            layout.as_bytes(),
        )?;
        let mut tensors = named
            .iter()
            .map(|(_, t)| {
                if main {
                    t.f_detach()?.f_contiguous()
                } else {
                    Tensor::f_zeros(t.size(), (t.f_kind()?, Device::Cpu))
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        broadcast_parameters(&self.group, &mut tensors)?;
        if !main {
            let received: HashMap<String, Tensor> = named
                .into_iter()
                .map(|(name, _)| name)
                .zip(tensors)
                .collect();
            task.load_state(&received, Path::new("<rank 0's state>"))?;
        }
        Ok(())
    }

    /// Copies rank 0's `bytes` into `bytes` on every rank.
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let mut len = Tensor::f_from_slice(&[bytes.len() as i64])?;
        self.group.broadcast(&mut len, 0)?;
        let len = usize::try_from(len.f_int64_value(&[0])?).unwrap_or(0);
        let mut tensor = if self.is_main() {
            Tensor::f_from_slice(bytes.as_slice())?
        } else {
            Tensor::f_zeros([len as i64], (Kind::Uint8, Device::Cpu))?
        };
        self.group.broadcast(&mut tensor, 0)?;
        if !self.is_main() {
            *bytes = Vec::<u8>::try_from(&tensor)?;
        }
        Ok(())
    }
}

/// The start and length of rank `rank`'s shard of `n` samples over `world` ranks: contiguous,
/// in rank order, the first `n % world` one longer. `None` when a shard would be empty.
pub(super) fn shard_range(n: usize, rank: usize, world: usize) -> Option<(usize, usize)> {
    if world == 0 || n < world || rank >= world {
        return None;
    }
    let (base, extra) = (n / world, n % world);
    Some((
        rank * base + rank.min(extra),
        base + usize::from(rank < extra),
    ))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::shard_range;

    #[test]
    fn shards_cover_the_batch_in_order_with_sizes_within_one() {
        for n in 1..40 {
            for world in 1..6 {
                let shards: Vec<_> = (0..world).map(|r| shard_range(n, r, world)).collect();
                if n < world {
                    assert!(shards.iter().all(Option::is_none));
                    continue;
                }
                let mut next = 0;
                for shard in shards {
                    let (start, len) = shard.expect("a shard");
                    assert_eq!(start, next);
                    assert!(len == n / world || len == n / world + 1);
                    next += len;
                }
                assert_eq!(next, n);
            }
        }
    }
}

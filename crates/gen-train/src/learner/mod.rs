//! The one training loop: a [`Trainer`] drives any [`TrainStep`] over any [`Dataset`].
//!
//! It gives Keras `fit` semantics (validation split from the end, reshuffle every epoch, the
//! partial last batch kept), an optional step limit, length bucketing, learning-rate schedules,
//! early stopping, `last`/`best` checkpoints, `metrics.jsonl` and `metrics.csv`, a NaN guard,
//! interruption with a final checkpoint, and exact resume.
//!
//! Determinism: batch order is a pure function of `(seed, epoch)`, and libtorch's generator is
//! re-seeded from `(seed, step)` before every step, so a resumed run repeats the uninterrupted
//! one bit for bit on CPU.

mod progress;

pub use progress::{Verbosity, format_metrics};

use crate::callbacks::{EarlyStoppingConfig, EarlyStoppingState};
use crate::checkpoint;
use crate::metrics::Metrics;
use crate::monitor::Monitor;
use crate::schedule::{LrSchedule, ScheduleState};
use crate::{Error, Result};
use gen_core::Precision;
use gen_data::batch::{
    BatchConfig, Batcher, BucketConfig, BucketSampler, SplitMix64, validation_split,
};
use progress::EpochProgress;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tch::Tensor;

/// Indexed samples that can be gathered into batches.
pub trait Dataset {
    /// What one batch is (e.g. padded token ids and labels as tensors).
    type Batch;
    /// The number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Gathers the samples `indices` into a batch.
    fn batch(&self, indices: &[usize]) -> Result<Self::Batch>;
    /// Per-sample lengths, for length bucketing. Default: none (bucketing unavailable).
    fn lengths(&self) -> Option<Vec<usize>> {
        None
    }
}

/// The samples `indices` of another dataset, in that order: a cross-validation fold, or any
/// subset, without copying the data.
#[derive(Debug)]
pub struct Subset<'a, D> {
    data: &'a D,
    indices: Vec<usize>,
}

impl<'a, D: Dataset> Subset<'a, D> {
    /// The samples `indices` of `data`; errors when an index is out of range.
    pub fn new(data: &'a D, indices: Vec<usize>) -> Result<Self> {
        if let Some(&i) = indices.iter().find(|&&i| i >= data.len()) {
            return Err(Error::config(
                "indices",
                format!("index {i} is out of range for {} samples", data.len()),
            ));
        }
        Ok(Subset { data, indices })
    }
}

impl<D: Dataset> Dataset for Subset<'_, D> {
    type Batch = D::Batch;

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<D::Batch> {
        let mapped = indices
            .iter()
            .map(|&i| {
                self.indices.get(i).copied().ok_or_else(|| {
                    Error::config(
                        "batch",
                        format!("index {i} is out of range for {} samples", self.len()),
                    )
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        self.data.batch(&mapped)
    }

    fn lengths(&self) -> Option<Vec<usize>> {
        let all = self.data.lengths()?;
        self.indices.iter().map(|&i| all.get(i).copied()).collect()
    }
}

/// What the trainer needs from a task: one optimisation step, one evaluation step, and its
/// whole state (model and optimiser) as named tensors for checkpoints.
///
/// Each step returns [`Metrics`] as sums and counts; the trainer averages them over the epoch.
/// `loss` must be among a training step's metrics: the trainer stops with an error when it is
/// missing, NaN or infinite.
pub trait TrainStep {
    /// The batch type it consumes.
    type Batch;
    /// Runs forward, backward and the optimiser update(s) on `batch`.
    fn train_step(&mut self, batch: &Self::Batch) -> Result<Metrics>;
    /// Evaluates `batch` without updating anything.
    fn valid_step(&mut self, batch: &Self::Batch) -> Result<Metrics>;
    /// Sets the schedule's factor on every optimiser's base learning rate.
    fn set_lr_factor(&mut self, factor: f64);
    /// Every tensor needed to resume: model variables and optimiser state.
    fn state(&self) -> Result<Vec<(String, Tensor)>>;
    /// Restores what [`TrainStep::state`] returned; `path` names the checkpoint in errors.
    fn load_state(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()>;
    /// Called after each epoch's checkpoint (e.g. to write samples). Default: nothing.
    fn on_epoch_end(&mut self, _epoch: usize, _run_dir: &Path) -> Result<()> {
        Ok(())
    }
}

/// Settings of the training loop. Defaults follow Keras `fit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    /// Passes over the training data. Default: 10.
    pub epochs: usize,
    /// Samples per batch. Default: 32.
    pub batch_size: usize,
    /// The last fraction of the data, taken before shuffling, used for validation when no
    /// separate validation set is given. Default: 0.0.
    pub validation_split: f64,
    /// Reshuffle the training data every epoch. Default: true.
    pub shuffle: bool,
    /// Drop a partial last batch. Default: false.
    pub drop_last: bool,
    /// Group training samples of similar length into batches (needs per-sample lengths), with
    /// this sort window in batches; validation batches are then sorted by length too (their
    /// metrics are sums, so only speed changes). Default: none (plain shuffling).
    pub bucket_factor: Option<usize>,
    /// Stop after this many optimiser steps in all. Default: none.
    pub max_steps: Option<u64>,
    /// Seed of batch order and of libtorch's generator. Default: 0.
    pub seed: u64,
    /// Also write the `last` checkpoint every this many steps. Default: none (each epoch).
    pub checkpoint_every: Option<u64>,
    /// The metric that selects the `best` checkpoint and drives `ReduceOnPlateau`, with its
    /// direction: a name (`"val_accuracy"`, direction by Keras's `auto`: higher is better when
    /// it has `acc` or ends with `auc`) or `{ name = "...", mode = "min" | "max" }`. An epoch
    /// whose log lacks it (e.g. `val_*` without validation data) uses the training `loss`,
    /// minimised. Default: `val_loss`.
    pub monitor: Monitor,
    /// Learning-rate schedule. Default: constant.
    pub lr_schedule: LrSchedule,
    /// Early stopping. Default: off.
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Precision of convolutions and linear layers in training steps: `bf16` runs them in
    /// bfloat16 ([`gen_core::precision`]) with `f32` weights, gradients and optimiser state;
    /// validation, evaluation and sampling stay `f32`. Default: `fp32`.
    pub precision: Precision,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            epochs: 10,
            batch_size: 32,
            validation_split: 0.0,
            shuffle: true,
            drop_last: false,
            bucket_factor: None,
            max_steps: None,
            seed: 0,
            checkpoint_every: None,
            monitor: Monitor::auto("val_loss"),
            lr_schedule: LrSchedule::Constant,
            early_stopping: None,
            precision: Precision::Fp32,
        }
    }
}

/// One epoch's line in `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: u64,
    /// Training means and `val_`-prefixed validation means.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

/// Everything, beside tensors, that resume needs. Saved as the checkpoint's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// The 0-based epoch in progress.
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub batch_in_epoch: usize,
    /// Optimiser steps so far.
    pub global_step: u64,
    /// Sums of the epoch in progress.
    pub epoch_metrics: Metrics,
    /// Learning-rate schedule state.
    pub schedule: ScheduleState,
    /// Early-stopping state.
    pub early_stopping: EarlyStoppingState,
    /// The best monitored value so far.
    pub best: Option<f64>,
    /// Finished epochs.
    pub history: Vec<EpochLog>,
    /// Training ended (epochs done, step limit or early stop).
    pub finished: bool,
}

/// How [`Trainer::fit`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All epochs ran, or the step limit was reached.
    Completed,
    /// Early stopping ended training.
    EarlyStopped,
    /// The stop flag was raised; a checkpoint was written and `resume` continues.
    Interrupted,
}

/// Drives a [`TrainStep`] over a [`Dataset`].
pub struct Trainer {
    config: TrainerConfig,
    run_dir: PathBuf,
    verbosity: Verbosity,
    stop: Option<Arc<AtomicBool>>,
}

/// The file names inside a run folder.
pub mod files {
    /// Folder of the checkpoints.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// One JSON object per epoch.
    pub const METRICS_JSONL: &str = "metrics.jsonl";
    /// The same, as CSV.
    pub const METRICS_CSV: &str = "metrics.csv";
}

impl Trainer {
    /// A trainer writing checkpoints and logs into `run_dir`.
    pub fn new(config: TrainerConfig, run_dir: impl Into<PathBuf>) -> Self {
        Trainer {
            config,
            run_dir: run_dir.into(),
            verbosity: Verbosity::Normal,
            stop: None,
        }
    }

    /// Sets how much is printed. Default: [`Verbosity::Normal`].
    pub fn verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// A flag that, once raised (e.g. by Ctrl-C), makes the trainer write a checkpoint and
    /// return [`Outcome::Interrupted`] after the current step. Default: none.
    pub fn stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// The settings.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.run_dir.join(files::CHECKPOINTS)
    }

    /// Whether `run_dir` has a checkpoint to resume from.
    pub fn can_resume(&self) -> bool {
        checkpoint::exists(&self.checkpoint_dir(), "last")
    }

    fn validate(&self, n: usize) -> Result<()> {
        let c = &self.config;
        if c.batch_size == 0 {
            return Err(Error::config("trainer.batch_size", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&c.validation_split) {
            return Err(Error::config(
                "trainer.validation_split",
                format!("must be in [0, 1), got {}", c.validation_split),
            ));
        }
        if n == 0 {
            return Err(Error::config("data", "the training set is empty"));
        }
        Ok(())
    }

    /// Trains `task` on `data`, validating on `valid` when given, else on the trainer's
    /// `validation_split` of `data`. With `resume`, continues from the run folder's `last`
    /// checkpoint when there is one.
    pub fn fit<T, D>(
        &self,
        task: &mut T,
        data: &D,
        valid: Option<&D>,
        resume: bool,
    ) -> Result<(Outcome, TrainerState)>
    where
        T: TrainStep<Batch = D::Batch>,
        D: Dataset,
    {
        let c = &self.config;
        self.validate(data.len())?;
        let (train_idx, val_idx) = match valid {
            Some(_) => ((0..data.len()).collect(), Vec::new()),
            None if c.validation_split > 0.0 => validation_split(data.len(), c.validation_split)?,
            None => ((0..data.len()).collect(), Vec::new()),
        };
        let sampler = Sampler::new(c, data, train_idx)?;
        // With bucketing, validation batches also group similar lengths (sorted, stable):
        // the metrics are sums over every sample, so only the speed changes.
        let val_order = |indices: Vec<usize>, lengths: Option<Vec<usize>>| match lengths {
            Some(lengths) if c.bucket_factor.is_some() => {
                let mut indices = indices;
                indices.sort_by_key(|&i| lengths.get(i).copied().unwrap_or(0));
                indices
            }
            _ => indices,
        };
        let val_batches: Vec<(bool, Vec<usize>)> = match valid {
            Some(v) => chunks(val_order((0..v.len()).collect(), v.lengths()), c.batch_size)
                .map(|b| (true, b))
                .collect(),
            None => chunks(val_order(val_idx, data.lengths()), c.batch_size)
                .map(|b| (false, b))
                .collect(),
        };
        let per_epoch = sampler.num_batches() as u64;
        let total_steps = c.max_steps.map_or(per_epoch * c.epochs as u64, |m| {
            m.min(per_epoch * c.epochs as u64)
        });

        let ckpt_dir = self.checkpoint_dir();
        let mut state = TrainerState::default();
        if resume && self.can_resume() {
            let (tensors, saved): (HashMap<String, Tensor>, TrainerState) =
                checkpoint::load(&ckpt_dir, "last")?;
            task.load_state(&tensors, &checkpoint::paths(&ckpt_dir, "last").0)?;
            state = saved;
            tracing::info!(
                epoch = state.epoch + 1,
                step = state.global_step,
                "resuming"
            );
        }
        if state.finished {
            return Ok((Outcome::Completed, state));
        }

        while state.epoch < c.epochs {
            let epoch = state.epoch;
            let batches = sampler.epoch_batches(epoch as u64);
            let mut progress = EpochProgress::start(
                epoch + 1,
                c.epochs,
                batches.len() as u64,
                state.batch_in_epoch as u64,
                self.verbosity,
            );
            let mut limit_hit = false;
            for (i, indices) in batches.iter().enumerate().skip(state.batch_in_epoch) {
                if state.global_step >= total_steps {
                    limit_hit = true;
                    break;
                }
                task.set_lr_factor(c.lr_schedule.factor(
                    &state.schedule,
                    state.global_step,
                    total_steps,
                ));
                tch::manual_seed(step_seed(c.seed, state.global_step));
                let batch = data.batch(indices)?;
                let metrics = gen_core::autocast(c.precision, || task.train_step(&batch))?;
                check_loss(&metrics, state.global_step + 1, epoch + 1)?;
                state.epoch_metrics.merge(&metrics);
                state.global_step += 1;
                state.batch_in_epoch = i + 1;
                progress.step(&state.epoch_metrics.means());
                if c.checkpoint_every
                    .is_some_and(|k| k > 0 && state.global_step % k == 0)
                {
                    self.save(task, &state, "last")?;
                }
                if self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                    self.save(task, &state, "last")?;
                    progress.finish(&state.epoch_metrics.means());
                    return Ok((Outcome::Interrupted, state));
                }
            }
            limit_hit |= state.global_step >= total_steps;

            // Epoch end: validation, logs, schedule, checkpoints, early stopping.
            let mut log = state.epoch_metrics.means();
            if !val_batches.is_empty() {
                let mut val = Metrics::new();
                for (separate, indices) in &val_batches {
                    let batch = match (separate, valid) {
                        (true, Some(v)) => v.batch(indices)?,
                        _ => data.batch(indices)?,
                    };
                    val.merge(&tch::no_grad(|| task.valid_step(&batch))?);
                }
                log.extend(
                    val.means()
                        .into_iter()
                        .map(|(k, v)| (format!("val_{k}"), v)),
                );
            }
            progress.finish(&log);
            // The monitored value, or the training loss (minimised) when it is absent.
            let improved = match c.monitor.read_or_loss(&log) {
                Some((monitor, value)) => {
                    c.lr_schedule
                        .on_epoch_end(&mut state.schedule, &monitor, value);
                    let improved = monitor.improves(value, state.best, 0.0);
                    if improved {
                        state.best = Some(value);
                    }
                    improved
                }
                None => false,
            };
            let mut stop_early = false;
            if let Some(es) = &c.early_stopping {
                let decision = es.on_epoch_end(
                    &mut state.early_stopping,
                    epoch,
                    log.get(&es.monitor).copied(),
                );
                stop_early = decision.stop;
            }
            state.history.push(EpochLog {
                epoch: epoch + 1,
                step: state.global_step,
                metrics: log,
            });
            state.epoch += 1;
            state.batch_in_epoch = 0;
            state.epoch_metrics = Metrics::new();
            state.finished = limit_hit || stop_early || state.epoch >= c.epochs;
            self.write_logs(&state.history)?;
            if improved {
                self.save(task, &state, "best")?;
            }
            self.save(task, &state, "last")?;
            task.on_epoch_end(epoch + 1, &self.run_dir)?;
            if stop_early {
                if c.early_stopping
                    .as_ref()
                    .is_some_and(|es| es.restore_best_weights)
                    && checkpoint::exists(&ckpt_dir, "best")
                {
                    let (tensors, _): (HashMap<String, Tensor>, TrainerState) =
                        checkpoint::load(&ckpt_dir, "best")?;
                    task.load_state(&tensors, &checkpoint::paths(&ckpt_dir, "best").0)?;
                }
                return Ok((Outcome::EarlyStopped, state));
            }
            if limit_hit {
                break;
            }
        }
        Ok((Outcome::Completed, state))
    }

    fn save<T: TrainStep>(&self, task: &T, state: &TrainerState, name: &str) -> Result<()> {
        checkpoint::save(
            &self.checkpoint_dir(),
            name,
            state.global_step,
            &task.state()?,
            state,
        )
    }

    /// Rewrites `metrics.jsonl` and `metrics.csv` from the whole history (atomically), so a
    /// crash or resume never duplicates or loses a line.
    fn write_logs(&self, history: &[EpochLog]) -> Result<()> {
        std::fs::create_dir_all(&self.run_dir).map_err(|e| Error::io(&self.run_dir, e))?;
        let mut jsonl = String::new();
        for line in history {
            let json =
                serde_json::to_string(line).map_err(|e| Error::config("metrics", e.to_string()))?;
            jsonl.push_str(&json);
            jsonl.push('\n');
        }
        checkpoint::write_atomic(&self.run_dir.join(files::METRICS_JSONL), jsonl.as_bytes())?;
        let mut columns: Vec<&String> = history.iter().flat_map(|h| h.metrics.keys()).collect();
        columns.sort();
        columns.dedup();
        let mut csv = String::from("epoch,step");
        for col in &columns {
            csv.push(',');
            csv.push_str(col);
        }
        csv.push('\n');
        for h in history {
            csv.push_str(&format!("{},{}", h.epoch, h.step));
            for col in &columns {
                csv.push(',');
                if let Some(v) = h.metrics.get(*col) {
                    csv.push_str(&v.to_string());
                }
            }
            csv.push('\n');
        }
        checkpoint::write_atomic(&self.run_dir.join(files::METRICS_CSV), csv.as_bytes())
    }
}

/// The NaN guard: a training step's `loss` must be present and finite. `step` and `epoch`
/// (1-based) name the step in the error.
fn check_loss(metrics: &Metrics, step: u64, epoch: usize) -> Result<()> {
    if !metrics.contains("loss") {
        return Err(Error::MissingLoss { step, epoch });
    }
    match metrics.mean("loss") {
        Some(value) if !value.is_finite() => Err(Error::NonFiniteLoss { step, epoch, value }),
        _ => Ok(()),
    }
}

/// libtorch's seed for global step `step`.
fn step_seed(seed: u64, step: u64) -> i64 {
    (SplitMix64::mix(seed ^ SplitMix64::mix(step.wrapping_add(0x5eed))) >> 1) as i64
}

fn chunks(indices: Vec<usize>, size: usize) -> impl Iterator<Item = Vec<usize>> {
    let batches: Vec<Vec<usize>> = indices.chunks(size.max(1)).map(<[usize]>::to_vec).collect();
    batches.into_iter()
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

    fn epoch_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        match self {
            Sampler::Plain(b) => b.epoch_batches(epoch),
            Sampler::Bucket(b) => b.epoch_batches(epoch),
        }
    }
}

//! The one training loop: a [`Trainer`] drives any [`TrainStep`] over any [`Dataset`].
//!
//! It gives Keras `fit` semantics (validation split from the end, reshuffle every epoch, the
//! partial last batch kept), an optional step limit, length bucketing, learning-rate schedules,
//! early stopping, `last`/`best` checkpoints, `metrics.jsonl` and `metrics.csv`, TensorBoard
//! events in `tb/` (metrics, the task's sample images, the config), a NaN guard,
//! interruption with a final checkpoint, and exact resume.
//!
//! [`Trainer::fit`] runs in named phases (`fit.rs`): restore the `last` checkpoint, then per
//! epoch `train_epoch` (one step per batch, with the NaN guard, step checkpoints and the stop
//! flag), `validate` (the `val_` metrics) and `end_epoch` (schedule, best value and early
//! stopping through one [`Monitor`], logs, the `best` and `last` checkpoints).
//!
//! With a [`DataParallel`] ([`Trainer::data_parallel`]), `fit` runs one rank of a
//! data-parallel run with DDP's semantics (`dist.rs`).
//!
//! Determinism: batch order is a pure function of `(seed, epoch)`, and libtorch's generator is
//! re-seeded from `(seed, step)` before every step (`plan.rs`), so a resumed run repeats the
//! uninterrupted one bit for bit on CPU.

mod dataset;
mod dist;
mod fit;
mod logs;
mod plan;
mod progress;

pub use dataset::{Dataset, Subset};
pub use dist::DataParallel;
pub use progress::{Verbosity, format_metrics};

use crate::Result;
use crate::callbacks::{EarlyStoppingConfig, EarlyStoppingState};
use crate::checkpoint;
use crate::metrics::Metrics;
use crate::monitor::Monitor;
use crate::optim::Optimizer;
use crate::schedule::{LrSchedule, ScheduleState};
use gen_core::Precision;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::Tensor;

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
    /// Called after each epoch's checkpoint (e.g. to write samples); in a data-parallel run,
    /// on rank 0 only. Default: nothing.
    fn on_epoch_end(&mut self, _epoch: usize, _run_dir: &Path) -> Result<()> {
        Ok(())
    }
    /// The generated files that [`TrainStep::on_epoch_end`] wrote for `epoch` (not copies of
    /// real data), so that the trainer's labeller ([`Trainer::label_samples`]) can mark them
    /// as generated. Default: none.
    fn epoch_samples(&self, _epoch: usize, _run_dir: &Path) -> Option<EpochSamples> {
        None
    }
    /// Every optimiser of the task: a data-parallel run makes each average its gradients over
    /// the ranks before it updates. Default: none (the task cannot train on several ranks).
    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        Vec::new()
    }
}

/// Generated files written at an epoch's end ([`TrainStep::epoch_samples`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochSamples {
    /// The seed of their inputs (e.g. a GAN's fixed latents).
    pub seed: u64,
    /// The files.
    pub files: Vec<PathBuf>,
}

/// Marks an epoch's generated files (e.g. with a provenance label), called with them and the
/// 1-based epoch right after the task wrote them, while the `last` checkpoint holds the
/// weights that drew them.
pub type SampleLabeller = Box<dyn Fn(&EpochSamples, usize) -> Result<()>>;

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
    /// Epochs between the task's epoch samples ([`TrainStep::on_epoch_end`]: sample grids,
    /// audio clips, plots, text; TensorBoard logs them): every `samples_every`-th epoch, and
    /// the last one. Drawing them never changes training. Default: 1 (every epoch).
    pub samples_every: usize,
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
            samples_every: 1,
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
    dist: Option<DataParallel>,
    labeller: Option<SampleLabeller>,
}

/// The file names inside a run folder.
pub mod files {
    /// Folder of the checkpoints.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// One JSON object per epoch.
    pub const METRICS_JSONL: &str = "metrics.jsonl";
    /// The same, as CSV.
    pub const METRICS_CSV: &str = "metrics.csv";
    /// Folder of the TensorBoard event files.
    pub const TENSORBOARD: &str = "tb";
    /// The run's resolved config, when the CLI wrote one; the trainer logs it to `tb/`.
    pub const CONFIG_TOML: &str = "config.toml";
}

impl Trainer {
    /// A trainer writing checkpoints and logs into `run_dir`.
    pub fn new(config: TrainerConfig, run_dir: impl Into<PathBuf>) -> Self {
        Trainer {
            config,
            run_dir: run_dir.into(),
            verbosity: Verbosity::Normal,
            stop: None,
            dist: None,
            labeller: None,
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

    /// Trains as one rank of a data-parallel run (see the module docs). Default: alone.
    pub fn data_parallel(mut self, dist: DataParallel) -> Self {
        self.dist = Some(dist);
        self
    }

    /// Calls `labeller` on the generated files each epoch's end writes
    /// ([`TrainStep::epoch_samples`]), before TensorBoard reads them. Default: none.
    pub fn label_samples(mut self, labeller: SampleLabeller) -> Self {
        self.labeller = Some(labeller);
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
}

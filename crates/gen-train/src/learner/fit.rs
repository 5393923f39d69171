//! [`Trainer::fit`] in named phases: `restore`, then per epoch `train_epoch`, `validate` and
//! `end_epoch`.

use super::plan::{Plan, ValSource, step_seed};
use super::progress::{EpochProgress, Verbosity};
use super::{Dataset, EpochLog, Outcome, TrainStep, Trainer, TrainerState, logs};
use crate::checkpoint;
use crate::metrics::Metrics;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use tch::Tensor;

/// How an epoch's training phase ended.
enum Trained {
    /// Every batch ran, or the step budget ran out.
    Epoch,
    /// The stop flag was raised; the `last` checkpoint is written.
    Interrupted,
}

impl Trainer {
    /// Trains `task` on `data`, validating on `valid` when given, else on the trainer's
    /// `validation_split` of `data`. With `resume`, continues from the run folder's `last`
    /// checkpoint when there is one. With [`Trainer::data_parallel`], as one rank of the run.
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
        self.check(data.len())?;
        let plan = Plan::new(&self.config, data, valid)?;
        let Some(dist) = &self.dist else {
            return self.run(task, data, valid, resume, &plan);
        };
        dist.check_config(&self.config, data.len())?;
        dist.attach(task)?;
        let result = self.run(task, data, valid, resume, &plan);
        dist.detach(task);
        result
    }

    /// Restores (or starts) the state, then runs the epochs.
    fn run<T, D>(
        &self,
        task: &mut T,
        data: &D,
        valid: Option<&D>,
        resume: bool,
        plan: &Plan,
    ) -> Result<(Outcome, TrainerState)>
    where
        T: TrainStep<Batch = D::Batch>,
        D: Dataset,
    {
        let mut state = self.restore(task, resume)?;
        if let Some(dist) = &self.dist {
            dist.sync_from_main(task, &mut state)?;
        }
        if state.finished {
            return Ok((Outcome::Completed, state));
        }
        // Only rank 0 writes the run folder, TensorBoard events included.
        let mut board = if self.is_main() {
            Some(logs::Board::open(&self.run_dir, &state, &self.config)?)
        } else {
            None
        };
        while state.epoch < self.config.epochs {
            let batches = plan.epoch_batches(state.epoch);
            let mut progress = EpochProgress::start(
                state.epoch + 1,
                self.config.epochs,
                batches.len() as u64,
                state.batch_in_epoch as u64,
                self.shown_verbosity(),
            );
            let (first_step, started) = (state.global_step, std::time::Instant::now());
            let trained =
                self.train_epoch(task, data, &batches, plan, &mut state, &mut progress)?;
            let steps = state.global_step - first_step;
            let step_seconds = (steps > 0).then(|| started.elapsed().as_secs_f64() / steps as f64);
            if let Trained::Interrupted = trained {
                progress.finish(&state.epoch_metrics.means());
                return Ok((Outcome::Interrupted, state));
            }
            if let Some(dist) = &self.dist {
                state.epoch_metrics = dist.sum_metrics(&state.epoch_metrics)?;
            }
            let log = self.validate(task, data, valid, plan, state.epoch_metrics.means())?;
            progress.finish(&log);
            let epoch_board = board.as_mut().map(|b| (b, step_seconds));
            if let Some(outcome) = self.end_epoch(task, &mut state, log, plan, epoch_board)? {
                return Ok((outcome, state));
            }
        }
        Ok((Outcome::Completed, state))
    }

    /// Rejects settings and data the loop cannot run.
    fn check(&self, n: usize) -> Result<()> {
        let c = &self.config;
        if c.batch_size == 0 {
            return Err(Error::config("trainer.batch_size", "must be at least 1"));
        }
        if c.samples_every == 0 {
            return Err(Error::config("trainer.samples_every", "must be at least 1"));
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

    /// Whether this process writes checkpoints, logs and samples: rank 0, or the only one.
    fn is_main(&self) -> bool {
        self.dist.as_ref().is_none_or(|d| d.is_main())
    }

    /// Progress output: the configured verbosity on the main process, silent elsewhere.
    fn shown_verbosity(&self) -> Verbosity {
        if self.is_main() {
            self.verbosity
        } else {
            Verbosity::Silent
        }
    }

    /// The state to start from: with `resume`, the run folder's `last` checkpoint (its tensors
    /// loaded into `task`) when there is one; else a fresh state. In a data-parallel run only
    /// rank 0 reads it (the others receive it from rank 0).
    fn restore<T: TrainStep>(&self, task: &mut T, resume: bool) -> Result<TrainerState> {
        if !(resume && self.is_main() && self.can_resume()) {
            return Ok(TrainerState::default());
        }
        let state = self.load(task, "last")?;
        tracing::info!(
            epoch = state.epoch + 1,
            step = state.global_step,
            "resuming"
        );
        Ok(state)
    }

    /// Trains the rest of the epoch in progress, from batch `state.batch_in_epoch`, until its
    /// batches or the step budget run out; writes the `last` checkpoint every
    /// `checkpoint_every` steps, and when the stop flag is raised.
    fn train_epoch<T, D>(
        &self,
        task: &mut T,
        data: &D,
        batches: &[Vec<usize>],
        plan: &Plan,
        state: &mut TrainerState,
        progress: &mut EpochProgress,
    ) -> Result<Trained>
    where
        T: TrainStep<Batch = D::Batch>,
        D: Dataset,
    {
        for (i, indices) in batches.iter().enumerate().skip(state.batch_in_epoch) {
            if state.global_step >= plan.total_steps {
                break;
            }
            let metrics = self.train_step(task, data, indices, plan, state)?;
            state.epoch_metrics.merge(&metrics);
            state.global_step += 1;
            state.batch_in_epoch = i + 1;
            progress.step(&state.epoch_metrics.means());
            let stop = self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst));
            let stop = match &self.dist {
                Some(dist) => dist.any(stop)?,
                None => stop,
            };
            if self
                .config
                .checkpoint_every
                .is_some_and(|k| k > 0 && state.global_step % k == 0)
            {
                self.save_mid_epoch(task, state)?;
            }
            if stop {
                self.save_mid_epoch(task, state)?;
                return Ok(Trained::Interrupted);
            }
        }
        Ok(Trained::Epoch)
    }

    /// One optimiser step on the batch `indices`: the schedule's learning rate, libtorch's
    /// seed for this step, the step in the configured precision, then the NaN guard.
    fn train_step<T, D>(
        &self,
        task: &mut T,
        data: &D,
        indices: &[usize],
        plan: &Plan,
        state: &TrainerState,
    ) -> Result<Metrics>
    where
        T: TrainStep<Batch = D::Batch>,
        D: Dataset,
    {
        let c = &self.config;
        task.set_lr_factor(c.lr_schedule.factor(
            &state.schedule,
            state.global_step,
            plan.total_steps,
        ));
        let (indices, seed) = match &self.dist {
            Some(dist) => (dist.shard(indices)?, dist.rank_seed(c.seed)),
            None => (indices, c.seed),
        };
        tch::manual_seed(step_seed(seed, state.global_step));
        let batch = data.batch(indices)?;
        let metrics = gen_core::autocast(c.precision, || task.train_step(&batch))?;
        check_loss(&metrics, state.global_step + 1, state.epoch + 1)?;
        Ok(metrics)
    }

    /// The epoch's log: the training means `train`, plus the validation means prefixed
    /// `val_` when there is validation data (every batch without gradients, in `f32`).
    fn validate<T, D>(
        &self,
        task: &mut T,
        data: &D,
        valid: Option<&D>,
        plan: &Plan,
        train: BTreeMap<String, f64>,
    ) -> Result<BTreeMap<String, f64>>
    where
        T: TrainStep<Batch = D::Batch>,
        D: Dataset,
    {
        let mut log = train;
        if plan.val_batches.is_empty() {
            return Ok(log);
        }
        let mut val = Metrics::new();
        for (source, indices) in &plan.val_batches {
            let batch = match (source, valid) {
                (ValSource::Separate, Some(v)) => v.batch(indices)?,
                _ => data.batch(indices)?,
            };
            val.merge(&tch::no_grad(|| task.valid_step(&batch))?);
        }
        log.extend(
            val.means()
                .into_iter()
                .map(|(k, v)| (format!("val_{k}"), v)),
        );
        Ok(log)
    }

    /// Ends the epoch with its `log`: the schedule and the best value ([`Trainer::track_best`]),
    /// early stopping, the history, log files and TensorBoard scalars (with the learning rate
    /// and the mean seconds per step that come with `board`), the `best` checkpoint when the
    /// epoch improved, the `last` checkpoint, then, every `samples_every` epochs and at the
    /// last, the task's `on_epoch_end` (the media it writes go to TensorBoard). Returns how training ends, when it ends here (early stopping
    /// restores the best weights when asked).
    fn end_epoch<T: TrainStep>(
        &self,
        task: &mut T,
        state: &mut TrainerState,
        log: BTreeMap<String, f64>,
        plan: &Plan,
        mut board: Option<(&mut logs::Board, Option<f64>)>,
    ) -> Result<Option<Outcome>> {
        let c = &self.config;
        let epoch = state.epoch;
        let limit_hit = state.global_step >= plan.total_steps;
        let improved = self.track_best(state, &log);
        let stop_early = c.early_stopping.as_ref().is_some_and(|es| {
            let value = es.monitor().read(&log);
            es.on_epoch_end(&mut state.early_stopping, epoch, value)
                .stop
        });
        state.history.push(EpochLog {
            epoch: epoch + 1,
            step: state.global_step,
            metrics: log,
        });
        state.epoch += 1;
        state.batch_in_epoch = 0;
        state.epoch_metrics = Metrics::new();
        state.finished = limit_hit || stop_early || state.epoch >= c.epochs;
        if self.is_main() {
            logs::write(&self.run_dir, &state.history)?;
            if let (Some((board, step_seconds)), Some(last)) =
                (board.as_mut(), state.history.last())
            {
                let lrs: Vec<f64> = task.optimizers_mut().iter().map(|o| o.lr()).collect();
                board.epoch(last, &lrs, *step_seconds)?;
            }
            if improved {
                self.save(task, state, "best")?;
            }
            self.save(task, state, "last")?;
            if state.finished || (epoch + 1) % c.samples_every.max(1) == 0 {
                let started = std::time::Instant::now();
                match board {
                    Some((board, _)) => board.samples(&self.run_dir, state.global_step, || {
                        self.write_samples(task, epoch + 1)
                    })?,
                    None => self.write_samples(task, epoch + 1)?,
                }
                let seconds = started.elapsed().as_secs_f64();
                tracing::debug!(epoch = epoch + 1, seconds, "epoch samples written");
            }
        }
        if let Some(dist) = &self.dist {
            dist.barrier()?;
        }
        if stop_early {
            let restore = c
                .early_stopping
                .as_ref()
                .is_some_and(|es| es.restore_best_weights);
            if restore && self.is_main() && checkpoint::exists(&self.checkpoint_dir(), "best") {
                self.load(task, "best")?;
            }
            if let (true, Some(dist)) = (restore, &self.dist) {
                dist.sync_from_main(task, state)?;
            }
            return Ok(Some(Outcome::EarlyStopped));
        }
        Ok(limit_hit.then_some(Outcome::Completed))
    }

    /// The task's `on_epoch_end` for the 1-based `epoch`, then the labeller on the generated
    /// files it wrote.
    fn write_samples<T: TrainStep>(&self, task: &mut T, epoch: usize) -> Result<()> {
        task.on_epoch_end(epoch, &self.run_dir)?;
        if let Some(label) = &self.labeller {
            if let Some(samples) = task.epoch_samples(epoch, &self.run_dir) {
                label(&samples, epoch)?;
            }
        }
        Ok(())
    }

    /// Reads the monitored value from `log` (the training `loss`, minimised, when it is
    /// absent), feeds it to the schedule, and keeps it as `state.best` when it improves on
    /// it; returns whether it did.
    fn track_best(&self, state: &mut TrainerState, log: &BTreeMap<String, f64>) -> bool {
        let Some((monitor, value)) = self.config.monitor.read_or_loss(log) else {
            return false;
        };
        self.config
            .lr_schedule
            .on_epoch_end(&mut state.schedule, &monitor, value);
        let improved = monitor.improves(value, state.best, 0.0);
        if improved {
            state.best = Some(value);
        }
        improved
    }

    /// Writes the `last` checkpoint in the middle of an epoch. In a data-parallel run, the
    /// epoch's metrics so far are summed over the ranks into it, rank 0 writes it and the
    /// others wait.
    fn save_mid_epoch<T: TrainStep>(&self, task: &T, state: &TrainerState) -> Result<()> {
        let Some(dist) = &self.dist else {
            return self.save(task, state, "last");
        };
        let mut saved = state.clone();
        saved.epoch_metrics = dist.sum_metrics(&state.epoch_metrics)?;
        if dist.is_main() {
            self.save(task, &saved, "last")?;
        }
        dist.barrier()
    }

    /// Writes checkpoint `name`: the task's tensors and `state`.
    fn save<T: TrainStep>(&self, task: &T, state: &TrainerState, name: &str) -> Result<()> {
        checkpoint::save(
            &self.checkpoint_dir(),
            name,
            state.global_step,
            &task.state()?,
            state,
        )
    }

    /// Loads checkpoint `name` into `task`; returns its state.
    fn load<T: TrainStep>(&self, task: &mut T, name: &str) -> Result<TrainerState> {
        let dir = self.checkpoint_dir();
        let (tensors, state): (HashMap<String, Tensor>, TrainerState) =
            checkpoint::load(&dir, name)?;
        task.load_state(&tensors, &checkpoint::paths(&dir, name).0)?;
        Ok(state)
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

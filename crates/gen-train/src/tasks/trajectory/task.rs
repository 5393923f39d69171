//! The task: the model's objective, the run's config, and training through the one
//! [`Trainer`].

use super::TrajectoryEvalConfig;
use super::data::{TrajectoryBatch, select_shapes, training_data};
use super::plot::{OverlayPanel, write_overlay_png};
use crate::checkpoint::{self, write_atomic};
use crate::learner::{Verbosity, files};
use crate::metrics::Metrics;
use crate::optim::{AdamConfig, GradClip, OptimizerConfig};
use crate::tasks::{Objective, Supervised};
use crate::{EpochSamples, Error, Outcome, Result, Trainer, TrainerConfig, TrainerState};
use gen_data::lasa::LasaShape;
use gen_models::{Module, TrajectoryMdn, TrajectoryMdnConfig, TrajectorySampling};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::{Device, Tensor, nn::VarStore};

/// The file [`train_trajectories`] writes into the run folder: the resolved
/// [`TrajectoryTaskConfig`] (shape names and data scales filled in), which
/// [`load_trajectory_model`] reads back.
pub const RESOLVED_CONFIG: &str = "trajectory.json";

/// The mean negative log-likelihood per point ([`TrajectoryMdn::nll`]); metric `loss`, as a
/// sum over trajectories.
impl Objective for TrajectoryMdn {
    type Batch = TrajectoryBatch;

    fn forward_loss(&self, batch: &TrajectoryBatch, train: bool) -> Result<(Tensor, Metrics)> {
        let loss = self.nll(&batch.shapes, &batch.points, train)?;
        Ok((loss.shallow_clone(), trajectory_metrics(&loss, batch)?))
    }

    /// Trains through the GRU's hand-written backward passes (`TrajectoryMdn::nll_taped`).
    fn backward_loss(&self, batch: &TrajectoryBatch) -> Result<Metrics> {
        let (loss, tapes) = self.nll_taped(&batch.shapes, &batch.points)?;
        tapes.backward_after(&loss)?;
        trajectory_metrics(&loss, batch)
    }
}

/// The `loss` metric of a batch's mean NLL, as a sum over trajectories.
fn trajectory_metrics(loss: &Tensor, batch: &TrajectoryBatch) -> Result<Metrics> {
    let n = batch.shapes.size().first().copied().unwrap_or(0) as f64;
    let mut metrics = Metrics::new();
    metrics.add("loss", loss.f_double_value(&[])? * n, n);
    Ok(metrics)
}

/// Everything of a trajectory run: data selection, model, optimiser, loop, evaluation.
///
/// `model.num_shapes`, `model.position_scale`, `model.step_scale` and `shapes` are filled in
/// from the data by [`train_trajectories`] (the values given are replaced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrajectoryTaskConfig {
    /// The shapes to use, by name, in id order; empty means every shape given to
    /// [`train_trajectories`], sorted by name. Default: empty.
    pub shapes: Vec<String>,
    /// The demo of every shape left out of training and used for evaluation (0-based);
    /// `None` trains on every demo. Default: `Some(0)`.
    pub holdout: Option<usize>,
    /// The model. Default: [`TrajectoryMdnConfig::default`] (50 points, 2x128 GRU, 8
    /// Gaussians, offset augmentation 0.4).
    pub model: TrajectoryMdnConfig,
    /// The optimiser. Default: Adam, lr 5e-3.
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: global norm 1.
    pub grad_clip: GradClip,
    /// Each training demo appears this many times per epoch
    /// ([`super::TrajectoryData::with_repeats`]).
    /// Default: 4.
    pub epoch_repeats: usize,
    /// The training loop. Default: 200 epochs (of `epoch_repeats` passes) in batches of 60,
    /// seed 0, cosine learning-rate decay to 0: 2400 updates on LASA's 180 training demos;
    /// the overlay of drawn trajectories every 10 epochs (`samples_every`: drawing it takes
    /// about a tenth of an epoch).
    pub trainer: TrainerConfig,
    /// Evaluation sampling. Default: [`TrajectoryEvalConfig::default`].
    pub eval: TrajectoryEvalConfig,
}

impl Default for TrajectoryTaskConfig {
    fn default() -> Self {
        TrajectoryTaskConfig {
            shapes: Vec::new(),
            holdout: Some(0),
            model: TrajectoryMdnConfig::default(),
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 5e-3,
                ..Default::default()
            }),
            grad_clip: GradClip::Norm(1.0),
            epoch_repeats: 4,
            trainer: TrainerConfig {
                epochs: 200,
                batch_size: 60,
                samples_every: 10,
                lr_schedule: crate::schedule::LrSchedule::Cosine {
                    warmup_steps: 0,
                    min_factor: 0.0,
                },
                ..Default::default()
            },
            eval: TrajectoryEvalConfig::default(),
        }
    }
}

/// The result of [`train_trajectories`].
pub struct TrainedTrajectories {
    /// The model, its variables and optimiser.
    pub task: Supervised<TrajectoryMdn>,
    /// The resolved config (shape names and scales filled in).
    pub config: TrajectoryTaskConfig,
    /// How training ended.
    pub outcome: Outcome,
    /// The trainer's final state (history, steps).
    pub state: TrainerState,
}

/// Trains a [`TrajectoryMdn`] on the demos of `all` (selected by `config.shapes`, minus
/// demo `config.holdout` of each) with the generic [`Trainer`], writing checkpoints, logs,
/// [`RESOLVED_CONFIG`] and an overlay of drawn trajectories every `samples_every` epochs
/// (`samples/trajectories_<epoch>.png`) into `run_dir`. Seeds libtorch with `config.trainer.seed` first, so a
/// run is reproducible on CPU. `stop` interrupts training (a checkpoint is written).
pub fn train_trajectories(
    all: &[LasaShape],
    config: &TrajectoryTaskConfig,
    run_dir: &Path,
    verbosity: Verbosity,
    stop: Option<Arc<AtomicBool>>,
) -> Result<TrainedTrajectories> {
    let configure = |trainer: Trainer| {
        let trainer = trainer.verbosity(verbosity);
        match stop {
            Some(flag) => trainer.stop_flag(flag),
            None => trainer,
        }
    };
    fit_trajectories(all, config, run_dir, configure, false)
}

/// [`train_trajectories`] with a [`Trainer`] that `configure` sets up (verbosity, stop flag,
/// a labeller of the epoch samples), continuing from the run's `last` checkpoint when
/// `resume` is set (what `gen resume` does after an interruption).
pub fn fit_trajectories(
    all: &[LasaShape],
    config: &TrajectoryTaskConfig,
    run_dir: &Path,
    configure: impl FnOnce(Trainer) -> Trainer,
    resume: bool,
) -> Result<TrainedTrajectories> {
    let shapes = select_shapes(all, &config.shapes)?;
    let length = usize::try_from(config.model.length)
        .map_err(|_| Error::config("model.length", "must be at least 2"))?;
    let data = training_data(&shapes, config.holdout, length, Device::Cpu)?
        .with_repeats(config.epoch_repeats);
    let (position_scale, step_scale) = data.scales();
    let mut resolved = config.clone();
    resolved.shapes = shapes.iter().map(|s| s.name.clone()).collect();
    resolved.model.num_shapes = shapes.len() as i64;
    resolved.model.position_scale = position_scale;
    resolved.model.step_scale = step_scale;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let json = serde_json::to_vec_pretty(&resolved)
        .map_err(|e| Error::config("trajectory config", e.to_string()))?;
    write_atomic(&run_dir.join(RESOLVED_CONFIG), &json)?;

    gen_core::seed_everything(resolved.trainer.seed);
    let epoch_panels = EpochPanels::new(&shapes, length, &resolved)?;
    let mut task = build_task(&resolved, Device::Cpu)?
        .with_epoch_samples(move |model, epoch, dir| epoch_panels.write(model, epoch, dir));
    let trainer = configure(Trainer::new(resolved.trainer.clone(), run_dir));
    let (outcome, state) = trainer.fit(&mut task, &data, None, resume)?;
    Ok(TrainedTrajectories {
        task,
        config: resolved,
        outcome,
        state,
    })
}

/// Shapes drawn after each epoch (the first of the run's).
const EPOCH_SHAPES: usize = 6;
/// Trajectories drawn per shape after each epoch.
const EPOCH_SAMPLES: usize = 3;

/// What [`fit_trajectories`] draws after each epoch: [`EPOCH_SAMPLES`] trajectories of each
/// of the first [`EPOCH_SHAPES`] shapes over their demos, as the overlay
/// `samples/trajectories_<epoch, 3 digits>.png` (TensorBoard's `samples/trajectories`).
struct EpochPanels {
    /// Every demo of each shape drawn, resampled to the model's length.
    real: Vec<Vec<Array2<f64>>>,
    /// The evaluation's sampling settings (the model's own seeded streams).
    sampling: TrajectorySampling,
}

impl EpochPanels {
    fn new(shapes: &[&LasaShape], length: usize, config: &TrajectoryTaskConfig) -> Result<Self> {
        let real = shapes
            .iter()
            .take(EPOCH_SHAPES)
            .map(|shape| {
                shape
                    .demos
                    .iter()
                    .map(|d| Ok(gen_data::trajectory::resample(d.pos.view(), length)?))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let sampling = TrajectorySampling {
            seed: config.trainer.seed,
            bias: config.eval.bias,
            spread: config.eval.spread,
            ..Default::default()
        };
        Ok(EpochPanels { real, sampling })
    }

    fn write(&self, model: &TrajectoryMdn, epoch: usize, run_dir: &Path) -> Result<EpochSamples> {
        let mut panels = Vec::with_capacity(self.real.len());
        for (id, real) in self.real.iter().enumerate() {
            panels.push(OverlayPanel {
                real: real.clone(),
                highlight: None,
                generated: sample_trajectories(model, id as i64, EPOCH_SAMPLES, &self.sampling)?,
            });
        }
        let path = run_dir
            .join("samples")
            .join(format!("trajectories_{epoch:03}.png"));
        write_overlay_png(&path, &panels, panels.len().max(1), 120)?;
        Ok(EpochSamples {
            seed: self.sampling.seed,
            files: vec![path],
        })
    }
}

/// A fresh model and optimiser for the resolved `config`, on `device`.
pub fn build_task(
    config: &TrajectoryTaskConfig,
    device: Device,
) -> Result<Supervised<TrajectoryMdn>> {
    let vs = VarStore::new(device);
    let model = TrajectoryMdn::init(&vs.root(), &config.model)?;
    Supervised::new(model, vs, config.optimizer.clone(), config.grad_clip)
}

/// Reads a trained model back from `run_dir`: the resolved config ([`RESOLVED_CONFIG`]) and
/// the `last` checkpoint's variables.
pub fn load_trajectory_model(
    run_dir: &Path,
    device: Device,
) -> Result<(Supervised<TrajectoryMdn>, TrajectoryTaskConfig)> {
    let path = run_dir.join(RESOLVED_CONFIG);
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let config: TrajectoryTaskConfig =
        serde_json::from_slice(&text).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            field: "config".into(),
            reason: e.to_string(),
        })?;
    let mut task = build_task(&config, device)?;
    let dir = run_dir.join(files::CHECKPOINTS);
    let (tensors, _): (_, TrainerState) = checkpoint::load(&dir, "last")?;
    crate::TrainStep::load_state(&mut task, &tensors, &checkpoint::paths(&dir, "last").0)?;
    Ok((task, config))
}

/// Samples `n` trajectories of shape id `shape` as `[length, 2]` arrays in data units.
pub fn sample_trajectories(
    model: &TrajectoryMdn,
    shape: i64,
    n: usize,
    sampling: &TrajectorySampling,
) -> Result<Vec<Array2<f64>>> {
    let samples = model.sample(shape, n, sampling)?;
    let array = gen_core::tensor_to_array3::<f64>(&samples)?;
    Ok(array.outer_iter().map(|a| a.to_owned()).collect())
}

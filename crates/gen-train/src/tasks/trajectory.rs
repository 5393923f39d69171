//! Behaviour generation: a [`TrajectoryMdn`] learns the LASA handwriting motions, and is
//! measured against held-out demonstrations.
//!
//! # Data
//!
//! Every demonstration is resampled to the model's `length` points ([`resample`], uniform in
//! time). [`TrajectoryData`] holds `(shape id, points)` pairs; [`TrajectoryMdn`] implements
//! [`Objective`] (its per-point NLL), so it trains through [`super::Supervised`] and the one
//! [`crate::Trainer`]. [`train_trajectories`] does all of it: split, scales, model, loop.
//!
//! # Evaluation ([`evaluate_trajectories`])
//!
//! Leave-one-out: with `holdout = k`, demo `k` of every shape is left out of training (one
//! model for all shapes; running `k = 0..7` gives the full leave-one-out). For each shape, with
//! `h` the held-out demo and `T` the length, and every DTW divided by `T` (so it reads as a
//! mean distance per point, in data units):
//!
//! - `dtw`: mean [`dtw`] from `h` to samples that start at `h`'s first point (the robot task:
//!   move from a new start to the target the way the demonstrations do);
//! - `dtw_best`: the smallest of those DTWs (best of `samples`, as minADE in trajectory
//!   forecasting): whether the model can produce the unseen demo, not whether an average
//!   sample matches it;
//! - `dtw_free`: the mean DTW for samples whose start the model draws itself;
//! - `nearest`: mean DTW from each free sample to the nearest of all the shape's demos;
//! - `baseline`: DTW from `h` to the mean of the training demos, replayed as is (the
//!   mean-demo baseline; it does not know `h`'s start);
//! - `endpoint`: the largest distance of any sample's last point from the target `(0, 0)`;
//! - `diversity`: [`mean_pairwise_dtw`] among the samples that start at `h` (zero for copies);
//! - `heldout_nll`: the model's per-point NLL of `h`.

use super::{Objective, Supervised};
use crate::checkpoint::{self, write_atomic};
use crate::learner::{Verbosity, files};
use crate::metrics::Metrics;
use crate::optim::{AdamConfig, GradClip, OptimizerConfig};
use crate::{Dataset, Error, Outcome, Result, Trainer, TrainerConfig, TrainerState};
use gen_data::lasa::LasaShape;
use gen_data::trajectory::{dtw, endpoint_error, mean_pairwise_dtw, mean_trajectory, resample};
use gen_models::{Module, TrajectoryMdn, TrajectoryMdnConfig, TrajectorySampling};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::{Device, Tensor, nn::VarStore};

/// The file [`train_trajectories`] writes into the run folder: the resolved
/// [`TrajectoryTaskConfig`] (shape names and data scales filled in), which
/// [`load_trajectory_model`] reads back.
pub const RESOLVED_CONFIG: &str = "trajectory.json";

/// A batch of trajectories.
#[derive(Debug)]
pub struct TrajectoryBatch {
    /// Shape ids `[B]`, int64.
    pub shapes: Tensor,
    /// Points `[B, T, 2]`, float, data units.
    pub points: Tensor,
}

/// Fixed-length trajectories with their shape ids.
#[derive(Debug, Clone)]
pub struct TrajectoryData {
    shapes: Vec<i64>,
    trajectories: Vec<Array2<f64>>,
    length: usize,
    repeats: usize,
    device: Device,
}

impl TrajectoryData {
    /// Resamples every trajectory (`[n, 2]`) of `items` to `length` points. Errors when a
    /// trajectory is not 2-D or empty, a shape id is negative, or `length < 2`.
    pub fn new(
        items: &[(i64, ArrayView2<'_, f64>)],
        length: usize,
        device: Device,
    ) -> Result<Self> {
        let mut shapes = Vec::with_capacity(items.len());
        let mut trajectories = Vec::with_capacity(items.len());
        for (i, (shape, points)) in items.iter().enumerate() {
            if *shape < 0 || points.ncols() != 2 {
                return Err(Error::config(
                    "data",
                    format!(
                        "trajectory {i}: shape id {shape}, {} columns (expected id >= 0, 2 columns)",
                        points.ncols()
                    ),
                ));
            }
            shapes.push(*shape);
            trajectories.push(resample(*points, length)?);
        }
        Ok(TrajectoryData {
            shapes,
            trajectories,
            length,
            repeats: 1,
            device,
        })
    }

    /// Makes every trajectory appear `repeats` times per epoch (sample `i` is trajectory
    /// `i mod n`), so that an epoch holds more steps: with few demos and a random
    /// augmentation per step, this trades fewer epoch-end checkpoints for the same number of
    /// updates. `repeats` of 0 is read as 1. Default: 1.
    pub fn with_repeats(mut self, repeats: usize) -> Self {
        self.repeats = repeats.max(1);
        self
    }

    /// The points per trajectory.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The resampled trajectories `[length, 2]`, in order.
    pub fn trajectories(&self) -> &[Array2<f64>] {
        &self.trajectories
    }

    /// The shape id of each trajectory.
    pub fn shape_ids(&self) -> &[i64] {
        &self.shapes
    }

    /// `(position_scale, step_scale)`: the root mean square of all point coordinates and of
    /// all displacement coordinates (1 when zero). The model divides by them.
    pub fn scales(&self) -> (f64, f64) {
        let (mut pos, mut step, mut n_pos, mut n_step) = (0.0, 0.0, 0usize, 0usize);
        for t in &self.trajectories {
            pos += t.iter().map(|v| v * v).sum::<f64>();
            n_pos += t.len();
            for w in t.outer_iter().collect::<Vec<_>>().windows(2) {
                if let [a, b] = w {
                    step += (b - a).mapv(|v| v * v).sum();
                    n_step += 2;
                }
            }
        }
        let rms = |s: f64, n: usize| {
            let r = (s / n.max(1) as f64).sqrt();
            if r.is_finite() && r > 0.0 { r } else { 1.0 }
        };
        (rms(pos, n_pos), rms(step, n_step))
    }
}

impl Dataset for TrajectoryData {
    type Batch = TrajectoryBatch;

    fn len(&self) -> usize {
        self.trajectories.len() * self.repeats
    }

    fn batch(&self, indices: &[usize]) -> Result<TrajectoryBatch> {
        let mut shapes = Vec::with_capacity(indices.len());
        let mut points = Vec::with_capacity(indices.len() * self.length * 2);
        let n = self.trajectories.len().max(1);
        for &i in indices {
            let item = if i < self.len() { Some(i % n) } else { None };
            let (Some(s), Some(t)) = (
                item.and_then(|j| self.shapes.get(j)),
                item.and_then(|j| self.trajectories.get(j)),
            ) else {
                return Err(Error::config(
                    "batch",
                    format!("index {i} out of range of {} trajectories", self.len()),
                ));
            };
            shapes.push(*s);
            points.extend(t.iter().map(|v| *v as f32));
        }
        Ok(TrajectoryBatch {
            shapes: Tensor::f_from_slice(&shapes)?.f_to_device(self.device)?,
            points: Tensor::f_from_slice(&points)?
                .f_view([indices.len() as i64, self.length as i64, 2])?
                .f_to_device(self.device)?,
        })
    }
}

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

/// How [`evaluate_trajectories`] samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrajectoryEvalConfig {
    /// Samples per shape, for each of the two starts (held-out start, drawn start).
    /// Default: 8.
    pub samples: usize,
    /// Graves' sampling bias ([`TrajectorySampling::bias`]). Default: 1.0.
    pub bias: f64,
    /// Pull toward the mixture mean ([`TrajectorySampling::spread`]). Default: 0.25: over
    /// LASA's full leave-one-out (7 folds), 1.0 beat the mean-demo baseline on 118 of the 210
    /// (shape, held-out demo) pairs and 0.25 on 154, with every sample still distinct.
    pub spread: f64,
    /// Seed of the samples (shape `s` uses `seed + s`). Default: 0.
    pub seed: u64,
}

impl Default for TrajectoryEvalConfig {
    fn default() -> Self {
        TrajectoryEvalConfig {
            samples: 8,
            bias: 1.0,
            spread: 0.25,
            seed: 0,
        }
    }
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
    /// Each training demo appears this many times per epoch ([`TrajectoryData::with_repeats`]).
    /// Default: 4.
    pub epoch_repeats: usize,
    /// The training loop. Default: 200 epochs (of `epoch_repeats` passes) in batches of 60,
    /// seed 0, cosine learning-rate decay to 0: 2400 updates on LASA's 180 training demos.
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

/// The shapes of `all` selected by `names` (every shape, sorted by name, when empty).
/// Errors naming a shape that is missing.
pub fn select_shapes<'a>(all: &'a [LasaShape], names: &[String]) -> Result<Vec<&'a LasaShape>> {
    if names.is_empty() {
        let mut shapes: Vec<&LasaShape> = all.iter().collect();
        shapes.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(shapes);
    }
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|s| &s.name == n)
                .ok_or_else(|| Error::config("shapes", format!("no shape named {n:?} in the data")))
        })
        .collect()
}

/// The training trajectories of `shapes` (shape id = position in `shapes`), leaving out
/// demo `holdout` of each. Errors when a shape has no demo `holdout` or none left.
pub fn training_data(
    shapes: &[&LasaShape],
    holdout: Option<usize>,
    length: usize,
    device: Device,
) -> Result<TrajectoryData> {
    let mut items = Vec::new();
    for (id, shape) in shapes.iter().enumerate() {
        if let Some(k) = holdout.filter(|k| *k >= shape.demos.len()) {
            return Err(Error::config(
                "holdout",
                format!("{k} but {} has {} demos", shape.name, shape.demos.len()),
            ));
        }
        let before = items.len();
        for (i, demo) in shape.demos.iter().enumerate() {
            if Some(i) != holdout {
                items.push((id as i64, demo.pos.view()));
            }
        }
        if items.len() == before {
            return Err(Error::config(
                "holdout",
                format!("leaves no training demo for {}", shape.name),
            ));
        }
    }
    TrajectoryData::new(&items, length, device)
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
/// demo `config.holdout` of each) with the generic [`Trainer`], writing checkpoints, logs and
/// [`RESOLVED_CONFIG`] into `run_dir`. Seeds libtorch with `config.trainer.seed` first, so a
/// run is reproducible on CPU. `stop` interrupts training (a checkpoint is written).
pub fn train_trajectories(
    all: &[LasaShape],
    config: &TrajectoryTaskConfig,
    run_dir: &Path,
    verbosity: Verbosity,
    stop: Option<Arc<AtomicBool>>,
) -> Result<TrainedTrajectories> {
    fit_trajectories(all, config, run_dir, verbosity, stop, false)
}

/// [`train_trajectories`], continuing from the run's `last` checkpoint when `resume` is set
/// (what `gen resume` does after an interruption).
pub fn fit_trajectories(
    all: &[LasaShape],
    config: &TrajectoryTaskConfig,
    run_dir: &Path,
    verbosity: Verbosity,
    stop: Option<Arc<AtomicBool>>,
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
    let mut task = build_task(&resolved, Device::Cpu)?;
    let mut trainer = Trainer::new(resolved.trainer.clone(), run_dir).verbosity(verbosity);
    if let Some(flag) = stop {
        trainer = trainer.stop_flag(flag);
    }
    let (outcome, state) = trainer.fit(&mut task, &data, None, resume)?;
    Ok(TrainedTrajectories {
        task,
        config: resolved,
        outcome,
        state,
    })
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

/// The figures of one shape (see the [module docs](self); DTW values are per point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeReport {
    /// The shape's name.
    pub name: String,
    /// DTW from the held-out demo to samples starting at its first point (mean over them).
    pub dtw: f64,
    /// The same, for the closest of those samples (best of `eval.samples`).
    pub dtw_best: f64,
    /// DTW from the held-out demo to samples with a drawn start.
    pub dtw_free: f64,
    /// DTW from drawn-start samples to their nearest real demo.
    pub nearest: f64,
    /// DTW from the held-out demo to the mean training demo.
    pub baseline: f64,
    /// The largest distance of a sample's last point from `(0, 0)`.
    pub endpoint: f64,
    /// Mean pairwise DTW among the samples starting at the held-out start.
    pub diversity: f64,
    /// Per-point NLL of the held-out demo.
    pub heldout_nll: f64,
}

/// A whole evaluation: per-shape figures, plus the trajectories for plots.
#[derive(Debug, Clone)]
pub struct TrajectoryReport {
    /// The held-out demo index.
    pub holdout: usize,
    /// One entry per shape, in id order.
    pub shapes: Vec<ShapeReport>,
    /// For each shape: the held-out demo, the training demos and the samples that start at
    /// the held-out start (all `[length, 2]`), for [`write_overlay_png`] and CSV output.
    pub trajectories: Vec<ShapeTrajectories>,
}

/// The trajectories behind one [`ShapeReport`].
#[derive(Debug, Clone)]
pub struct ShapeTrajectories {
    /// The held-out demo, resampled.
    pub heldout: Array2<f64>,
    /// The training demos, resampled.
    pub train: Vec<Array2<f64>>,
    /// The mean of the training demos (the baseline).
    pub mean: Array2<f64>,
    /// Samples starting at the held-out start.
    pub samples: Vec<Array2<f64>>,
    /// Samples with a drawn start.
    pub free_samples: Vec<Array2<f64>>,
}

/// The summary line of a [`TrajectoryReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectorySummary {
    /// Shapes evaluated.
    pub shapes: usize,
    /// Shapes where `dtw < baseline`.
    pub beat_baseline: usize,
    /// Shapes where `dtw_best < baseline`.
    pub beat_baseline_best: usize,
    /// Shapes where `dtw_free < baseline`.
    pub beat_baseline_free: usize,
    /// Mean of `dtw` over shapes.
    pub mean_dtw: f64,
    /// Mean of `dtw_best`.
    pub mean_dtw_best: f64,
    /// Mean of `dtw_free`.
    pub mean_dtw_free: f64,
    /// Mean of `nearest`.
    pub mean_nearest: f64,
    /// Mean of `baseline`.
    pub mean_baseline: f64,
    /// The largest `endpoint` over shapes.
    pub max_endpoint: f64,
    /// The smallest `diversity` over shapes.
    pub min_diversity: f64,
    /// Mean of `heldout_nll`.
    pub mean_heldout_nll: f64,
}

impl TrajectoryReport {
    /// Totals and means over shapes.
    pub fn summary(&self) -> TrajectorySummary {
        let n = self.shapes.len();
        let mean =
            |f: fn(&ShapeReport) -> f64| self.shapes.iter().map(f).sum::<f64>() / n.max(1) as f64;
        TrajectorySummary {
            shapes: n,
            beat_baseline: self.shapes.iter().filter(|s| s.dtw < s.baseline).count(),
            beat_baseline_best: self
                .shapes
                .iter()
                .filter(|s| s.dtw_best < s.baseline)
                .count(),
            beat_baseline_free: self
                .shapes
                .iter()
                .filter(|s| s.dtw_free < s.baseline)
                .count(),
            mean_dtw: mean(|s| s.dtw),
            mean_dtw_best: mean(|s| s.dtw_best),
            mean_dtw_free: mean(|s| s.dtw_free),
            mean_nearest: mean(|s| s.nearest),
            mean_baseline: mean(|s| s.baseline),
            max_endpoint: self.shapes.iter().map(|s| s.endpoint).fold(0.0, f64::max),
            min_diversity: self
                .shapes
                .iter()
                .map(|s| s.diversity)
                .fold(f64::INFINITY, f64::min),
            mean_heldout_nll: mean(|s| s.heldout_nll),
        }
    }

    /// The per-shape table and a summary row, as aligned text. The summary holds means over
    /// shapes, except `endpoint` (the largest) and `diversity` (the smallest); `beats` counts
    /// the shapes where `dtw` and `best` are below `baseline`.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>6} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9} {:>7}  beats (dtw, best)\n",
            "shape",
            "dtw",
            "best",
            "dtw_free",
            "nearest",
            "baseline",
            "endpoint",
            "diversity",
            "nll"
        );
        let yes = |b: bool| if b { "yes" } else { "no" };
        for s in &self.shapes {
            out.push_str(&format!(
                "{:<16} {:>6.3} {:>6.3} {:>8.3} {:>7.3} {:>8.3} {:>8.3} {:>9.3} {:>7.3}  {}, {}\n",
                s.name,
                s.dtw,
                s.dtw_best,
                s.dtw_free,
                s.nearest,
                s.baseline,
                s.endpoint,
                s.diversity,
                s.heldout_nll,
                yes(s.dtw < s.baseline),
                yes(s.dtw_best < s.baseline),
            ));
        }
        let m = self.summary();
        out.push_str(&format!(
            "{:<16} {:>6.3} {:>6.3} {:>8.3} {:>7.3} {:>8.3} {:>8.3} {:>9.3} {:>7.3}  {}/{}, {}/{}\n",
            "summary",
            m.mean_dtw,
            m.mean_dtw_best,
            m.mean_dtw_free,
            m.mean_nearest,
            m.mean_baseline,
            m.max_endpoint,
            m.min_diversity,
            m.mean_heldout_nll,
            m.beat_baseline,
            m.shapes,
            m.beat_baseline_best,
            m.shapes
        ));
        out
    }
}

/// Evaluates `model` on demo `holdout` of every shape of `shapes` (shape id = position in
/// `shapes`, as in training); see the [module docs](self). Errors when `eval.samples < 2`
/// (diversity needs two) or a shape lacks demo `holdout`.
pub fn evaluate_trajectories(
    model: &TrajectoryMdn,
    shapes: &[&LasaShape],
    holdout: usize,
    eval: &TrajectoryEvalConfig,
) -> Result<TrajectoryReport> {
    if eval.samples < 2 {
        return Err(Error::config("eval.samples", "must be at least 2"));
    }
    let length = usize::try_from(model.config().length).unwrap_or(2);
    let per_point = length as f64;
    let mut reports = Vec::with_capacity(shapes.len());
    let mut trajectories = Vec::with_capacity(shapes.len());
    for (id, shape) in shapes.iter().enumerate() {
        let Some(held) = shape.demos.get(holdout) else {
            return Err(Error::config(
                "holdout",
                format!(
                    "{holdout} but {} has {} demos",
                    shape.name,
                    shape.demos.len()
                ),
            ));
        };
        let heldout = resample(held.pos.view(), length)?;
        let all: Vec<Array2<f64>> = shape
            .demos
            .iter()
            .map(|d| resample(d.pos.view(), length))
            .collect::<gen_data::Result<_>>()?;
        let train: Vec<Array2<f64>> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != holdout)
            .map(|(_, a)| a.clone())
            .collect();
        let train_views: Vec<ArrayView2<'_, f64>> = train.iter().map(|a| a.view()).collect();
        let mean = if train_views.is_empty() {
            heldout.clone()
        } else {
            mean_trajectory(&train_views, length)?
        };
        let start = [
            heldout.row(0).get(0).copied().unwrap_or(0.0),
            heldout.row(0).get(1).copied().unwrap_or(0.0),
        ];
        let seed = eval.seed.wrapping_add(id as u64);
        let sampling = TrajectorySampling {
            seed,
            bias: eval.bias,
            spread: eval.spread,
            start: Some(start),
            length: Some(length),
        };
        let samples = sample_trajectories(model, id as i64, eval.samples, &sampling)?;
        let free_samples = sample_trajectories(
            model,
            id as i64,
            eval.samples,
            &TrajectorySampling {
                start: None,
                seed: seed.wrapping_add(1 << 32),
                ..sampling
            },
        )?;
        let mean_of = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
        let dtw_to = |set: &[Array2<f64>], target: &Array2<f64>| -> Result<f64> {
            Ok(mean_of(
                set.iter()
                    .map(|s| dtw(s.view(), target.view()))
                    .collect::<gen_data::Result<Vec<f64>>>()?,
            ) / per_point)
        };
        let all_views: Vec<ArrayView2<'_, f64>> = all.iter().map(|a| a.view()).collect();
        let nearest = mean_of(
            free_samples
                .iter()
                .map(|s| gen_data::trajectory::nearest_dtw(s.view(), &all_views).map(|(_, d)| d))
                .collect::<gen_data::Result<Vec<f64>>>()?,
        ) / per_point;
        let endpoint = samples
            .iter()
            .chain(&free_samples)
            .map(|s| endpoint_error(s.view(), &[0.0, 0.0]))
            .collect::<gen_data::Result<Vec<f64>>>()?
            .into_iter()
            .fold(0.0, f64::max);
        let sample_views: Vec<ArrayView2<'_, f64>> = samples.iter().map(|a| a.view()).collect();
        let heldout_nll = tch::no_grad(|| -> Result<f64> {
            let points =
                Tensor::f_from_slice(&heldout.iter().map(|v| *v as f32).collect::<Vec<f32>>())?
                    .f_view([1, length as i64, 2])?
                    .f_to_device(model.device())?;
            let ids = Tensor::f_from_slice(&[id as i64])?.f_to_device(model.device())?;
            Ok(model.nll(&ids, &points, false)?.f_double_value(&[])?)
        })?;
        reports.push(ShapeReport {
            name: shape.name.clone(),
            dtw: dtw_to(&samples, &heldout)?,
            dtw_best: samples
                .iter()
                .map(|s| dtw(s.view(), heldout.view()))
                .collect::<gen_data::Result<Vec<f64>>>()?
                .into_iter()
                .fold(f64::INFINITY, f64::min)
                / per_point,
            dtw_free: dtw_to(&free_samples, &heldout)?,
            nearest,
            baseline: dtw(mean.view(), heldout.view())? / per_point,
            endpoint,
            diversity: mean_pairwise_dtw(&sample_views)? / per_point,
            heldout_nll,
        });
        trajectories.push(ShapeTrajectories {
            heldout,
            train,
            mean,
            samples,
            free_samples,
        });
    }
    Ok(TrajectoryReport {
        holdout,
        shapes: reports,
        trajectories,
    })
}

/// One panel of an overlay plot: trajectories drawn in colour layers, bottom to top.
#[derive(Debug, Clone, Default)]
pub struct OverlayPanel {
    /// Real demonstrations (drawn grey-blue).
    pub real: Vec<Array2<f64>>,
    /// A highlighted real demonstration, e.g. the held-out one (drawn black).
    pub highlight: Option<Array2<f64>>,
    /// Generated trajectories (drawn red).
    pub generated: Vec<Array2<f64>>,
}

impl OverlayPanel {
    /// The panel of shape `i` of `report`: training demos, the held-out demo highlighted, and
    /// the samples that start at its first point.
    pub fn from_report(report: &TrajectoryReport, i: usize) -> Option<Self> {
        let t = report.trajectories.get(i)?;
        Some(OverlayPanel {
            real: t.train.clone(),
            highlight: Some(t.heldout.clone()),
            generated: t.samples.clone(),
        })
    }
}

const BACKGROUND: [u8; 3] = [255, 255, 255];
const REAL: [u8; 3] = [120, 150, 200];
const HIGHLIGHT: [u8; 3] = [0, 0, 0];
const GENERATED: [u8; 3] = [220, 30, 30];
const TARGET: [u8; 3] = [0, 160, 0];
const BORDER: [u8; 3] = [200, 200, 200];

/// Draws `panels` in a grid of `columns` panels of `panel_px` square pixels each and returns
/// `(rgb bytes, width, height)`. Each panel fits its own trajectories (equal scale on both
/// axes, 8% margin, y up), marks the target `(0, 0)` with a green cross and has a light grey
/// border. Lines are 2 pixels wide.
pub fn overlay_pixels(
    panels: &[OverlayPanel],
    columns: usize,
    panel_px: usize,
) -> Result<(Vec<u8>, usize, usize)> {
    if panels.is_empty() || columns == 0 || panel_px < 16 {
        return Err(Error::config(
            "overlay",
            format!(
                "needs panels, columns >= 1 and panel_px >= 16 (got {}, {columns}, {panel_px})",
                panels.len()
            ),
        ));
    }
    let cols = columns.min(panels.len());
    let rows = panels.len().div_ceil(columns);
    let (width, height) = (cols * panel_px, rows * panel_px);
    let mut canvas = Canvas {
        bytes: vec![255; width * height * 3],
        width,
        height,
    };
    for (k, panel) in panels.iter().enumerate() {
        let (x0, y0) = ((k % columns) * panel_px, (k / columns) * panel_px);
        canvas.fill_rect(x0, y0, panel_px, panel_px, BACKGROUND);
        let all: Vec<&Array2<f64>> = panel
            .real
            .iter()
            .chain(panel.highlight.iter())
            .chain(panel.generated.iter())
            .collect();
        let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for t in &all {
            for p in t.outer_iter() {
                let (x, y) = (
                    p.get(0).copied().unwrap_or(0.0),
                    p.get(1).copied().unwrap_or(0.0),
                );
                if x.is_finite() && y.is_finite() {
                    lo_x = lo_x.min(x);
                    hi_x = hi_x.max(x);
                    lo_y = lo_y.min(y);
                    hi_y = hi_y.max(y);
                }
            }
        }
        let span = (hi_x - lo_x).max(hi_y - lo_y).max(1e-9) * 1.16;
        let (cx, cy) = ((lo_x + hi_x) / 2.0, (lo_y + hi_y) / 2.0);
        let px = panel_px as f64;
        let to_px = |x: f64, y: f64| -> (f64, f64) {
            (
                x0 as f64 + (0.5 + (x - cx) / span) * (px - 1.0),
                y0 as f64 + (0.5 - (y - cy) / span) * (px - 1.0),
            )
        };
        let mut draw = |t: &Array2<f64>, color: [u8; 3]| {
            let pts: Vec<(f64, f64)> = t
                .outer_iter()
                .map(|p| {
                    to_px(
                        p.get(0).copied().unwrap_or(0.0),
                        p.get(1).copied().unwrap_or(0.0),
                    )
                })
                .collect();
            for w in pts.windows(2) {
                if let [a, b] = w {
                    canvas.line(*a, *b, color, (x0, y0, panel_px));
                }
            }
        };
        for t in &panel.real {
            draw(t, REAL);
        }
        if let Some(h) = &panel.highlight {
            draw(h, HIGHLIGHT);
        }
        for t in &panel.generated {
            draw(t, GENERATED);
        }
        let (tx, ty) = to_px(0.0, 0.0);
        let arm = (panel_px as f64 / 40.0).max(3.0);
        canvas.line((tx - arm, ty), (tx + arm, ty), TARGET, (x0, y0, panel_px));
        canvas.line((tx, ty - arm), (tx, ty + arm), TARGET, (x0, y0, panel_px));
        for i in 0..panel_px {
            for (x, y) in [
                (x0 + i, y0),
                (x0 + i, y0 + panel_px - 1),
                (x0, y0 + i),
                (x0 + panel_px - 1, y0 + i),
            ] {
                canvas.set(x, y, BORDER);
            }
        }
    }
    Ok((canvas.bytes, width, height))
}

/// Writes [`overlay_pixels`] as an RGB PNG to `path` (through a temporary file), creating
/// the folder when needed.
pub fn write_overlay_png(
    path: &Path,
    panels: &[OverlayPanel],
    columns: usize,
    panel_px: usize,
) -> Result<()> {
    let (bytes, width, height) = overlay_pixels(panels, columns, panel_px)?;
    let too_large = || Error::config("overlay", format!("{width}x{height} pixels is too large"));
    let (w, h) = (
        u32::try_from(width).map_err(|_| too_large())?,
        u32::try_from(height).map_err(|_| too_large())?,
    );
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&bytes, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_atomic(path, &png)
}

/// Writes the trajectories of `report` as CSV (see [`gen_data::trajectory::write_csv`]):
/// kinds `heldout`, `train`, `mean`, `generated` (held-out start) and `generated_free`.
pub fn write_report_csv(path: &Path, report: &TrajectoryReport) -> Result<()> {
    let mut rows = Vec::new();
    for (s, t) in report.shapes.iter().zip(&report.trajectories) {
        let sets: [(&'static str, &[Array2<f64>]); 5] = [
            ("heldout", std::slice::from_ref(&t.heldout)),
            ("train", &t.train),
            ("mean", std::slice::from_ref(&t.mean)),
            ("generated", &t.samples),
            ("generated_free", &t.free_samples),
        ];
        for (kind, set) in sets {
            for (index, a) in set.iter().enumerate() {
                rows.push(gen_data::trajectory::LabeledTrajectory {
                    shape: s.name.as_str(),
                    kind,
                    index,
                    points: a.view(),
                });
            }
        }
    }
    gen_data::trajectory::write_csv(path, &rows)?;
    Ok(())
}

/// An RGB canvas with clipped, 2-pixel-wide line drawing.
struct Canvas {
    bytes: Vec<u8>,
    width: usize,
    height: usize,
}

impl Canvas {
    fn set(&mut self, x: usize, y: usize, color: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            if let Some(px) = self.bytes.get_mut(i..i + 3) {
                px.copy_from_slice(&color);
            }
        }
    }

    fn fill_rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, color: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.set(x, y, color);
            }
        }
    }

    /// A line from `a` to `b` (pixel coordinates), sampled every half pixel, each sample
    /// painting a 2x2 block; clipped to the panel `(x0, y0, size)`.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: [u8; 3], clip: (usize, usize, usize)) {
        let (cx, cy, size) = clip;
        if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
            return;
        }
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0)
            .ceil()
            .min(1e5) as usize
            + 1;
        for i in 0..=steps {
            let f = i as f64 / steps as f64;
            let (x, y) = (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1));
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                let (px, py) = ((x + dx - 0.5).round(), (y + dy - 0.5).round());
                if px >= cx as f64
                    && py >= cy as f64
                    && px < (cx + size) as f64
                    && py < (cy + size) as f64
                {
                    self.set(px as usize, py as usize, color);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn pixel(bytes: &[u8], width: usize, x: usize, y: usize) -> [u8; 3] {
        let i = (y * width + x) * 3;
        [bytes[i], bytes[i + 1], bytes[i + 2]]
    }

    /// A horizontal generated line from (-1, 0) to (1, 0) crosses the middle row of the
    /// panel; its ends sit at the 8% margins; the target cross is green, the border grey.
    #[test]
    fn overlay_draws_where_the_points_are() {
        let panel = OverlayPanel {
            generated: vec![array![[-1.0, 0.0], [1.0, 0.0]]],
            ..Default::default()
        };
        let (bytes, w, h) = overlay_pixels(&[panel.clone(), panel], 2, 101).unwrap();
        assert_eq!((w, h), (202, 101));
        assert_eq!(bytes.len(), 202 * 101 * 3);
        // Span 2 * 1.16; x = -1 maps to (0.5 - 1 / 2.32) * 100 = 6.9 pixels.
        let row = 50;
        assert_eq!(pixel(&bytes, w, 10, row), GENERATED);
        assert_eq!(pixel(&bytes, w, 90, row), GENERATED);
        assert_eq!(pixel(&bytes, w, 3, row), BACKGROUND);
        assert_eq!(pixel(&bytes, w, 50, 20), BACKGROUND);
        // The target cross at the centre, drawn over the line.
        assert_eq!(pixel(&bytes, w, 50, 47), TARGET);
        assert_eq!(pixel(&bytes, w, 0, 0), BORDER);
        // The second panel is the same, shifted right by one panel.
        assert_eq!(pixel(&bytes, w, 101 + 10, row), GENERATED);
        assert!(overlay_pixels(&[], 2, 100).is_err());
        assert!(overlay_pixels(&[OverlayPanel::default()], 0, 100).is_err());
    }
}

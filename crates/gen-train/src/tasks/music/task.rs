//! The task: the model's objective, the run's config, training through the one [`Trainer`],
//! and the test score.

use super::data::{RollBatch, RollData};
use crate::callbacks::EarlyStoppingConfig;
use crate::checkpoint::{self, write_atomic};
use crate::learner::files;
use crate::metrics::Metrics;
use crate::monitor::{Mode, ModeSetting, Monitor};
use crate::optim::{AdamConfig, GradClip, OptimizerConfig};
use crate::tasks::{Objective, Supervised};
use crate::{Dataset, EpochSamples, Error, Outcome, Result, Trainer, TrainerConfig, TrainerState};
use gen_data::music::{NllPerFrame, PianoRoll, RollImageOptions, write_roll_png};
use gen_models::music::frame_nll_sum;
use gen_models::{FrameGru, FrameGruConfig, Module};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor, nn::VarStore};

/// The file [`fit_music`] writes into the run folder: the [`MusicTaskConfig`], which
/// [`load_music_model`] reads back.
pub const RESOLVED_CONFIG: &str = "music.json";

/// The mean NLL per real frame ([`FrameGru::nll`]); metric `loss`, as a sum over frames (so
/// an epoch's `val_loss` is the validation NLL per frame, every frame weighted equally).
impl Objective for FrameGru {
    type Batch = RollBatch;

    fn forward_loss(&self, batch: &RollBatch, train: bool) -> Result<(Tensor, Metrics)> {
        let (loss, frames) = self.nll(&batch.rolls, &batch.lengths, train)?;
        Ok((loss.shallow_clone(), frame_metrics(&loss, frames)?))
    }

    /// Trains through the GRU's hand-written backward passes (`FrameGru::nll_taped`).
    fn backward_loss(&self, batch: &RollBatch) -> Result<Metrics> {
        let (loss, frames, tapes) = self.nll_taped(&batch.rolls, &batch.lengths)?;
        tapes.backward_after(&loss)?;
        frame_metrics(&loss, frames)
    }
}

/// The `loss` metric of a batch's mean NLL per frame, as a sum over its `frames`.
fn frame_metrics(loss: &Tensor, frames: i64) -> Result<Metrics> {
    let n = frames as f64;
    let mut metrics = Metrics::new();
    metrics.add("loss", loss.f_double_value(&[])? * n, n);
    Ok(metrics)
}

/// Everything of a music run: model, optimiser, loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MusicTaskConfig {
    /// The model. Default: [`FrameGruConfig::default`].
    pub model: FrameGruConfig,
    /// The optimiser. Default: Adam, lr 5e-3.
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: global norm 5.
    pub grad_clip: GradClip,
    /// The training loop. Default: up to 60 epochs in batches of 8 (bucketed by length,
    /// window 4), seed 0, monitor `val_loss` (min), early stopping after 8 epochs without a
    /// lower `val_loss`.
    pub trainer: TrainerConfig,
}

impl Default for MusicTaskConfig {
    fn default() -> Self {
        MusicTaskConfig {
            model: FrameGruConfig::default(),
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 5e-3,
                ..Default::default()
            }),
            grad_clip: GradClip::Norm(5.0),
            trainer: TrainerConfig {
                epochs: 60,
                batch_size: 8,
                bucket_factor: Some(4),
                monitor: Monitor::new("val_loss", Mode::Min),
                early_stopping: Some(EarlyStoppingConfig {
                    monitor: "val_loss".into(),
                    patience: 8,
                    mode: ModeSetting::Min,
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }
}

/// The result of [`fit_music`].
pub struct TrainedMusic {
    /// The model, its variables and optimiser, as at the end of training.
    pub task: Supervised<FrameGru>,
    /// How training ended.
    pub outcome: Outcome,
    /// The trainer's final state (history, steps).
    pub state: TrainerState,
}

/// Trains a [`FrameGru`] on `train`, validating on `valid` each epoch, with the generic
/// [`Trainer`]; writes checkpoints, logs and [`RESOLVED_CONFIG`] into `run_dir`, and after
/// each epoch the piano-roll of a chorale it composes ([`write_epoch_roll`]). Seeds
/// libtorch with `config.trainer.seed` first, so a run is reproducible on CPU. `configure`
/// sets up the [`Trainer`] of `config.trainer` (verbosity, a stop flag that interrupts
/// training with a checkpoint, a labeller of the epoch samples); `resume` continues from
/// `last`.
pub fn fit_music(
    train: &RollData,
    valid: &RollData,
    config: &MusicTaskConfig,
    run_dir: &Path,
    configure: impl FnOnce(Trainer) -> Trainer,
    resume: bool,
) -> Result<TrainedMusic> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let json = serde_json::to_vec_pretty(config)
        .map_err(|e| Error::config("music config", e.to_string()))?;
    write_atomic(&run_dir.join(RESOLVED_CONFIG), &json)?;
    gen_core::seed_everything(config.trainer.seed);
    let seed = config.trainer.seed;
    let mut task = build_task(config, Device::Cpu)?
        .with_epoch_samples(move |model, epoch, dir| write_epoch_roll(model, epoch, dir, seed));
    let trainer = configure(Trainer::new(config.trainer.clone(), run_dir));
    let valid = (!valid.is_empty()).then_some(valid);
    let (outcome, state) = trainer.fit(&mut task, train, valid, resume)?;
    Ok(TrainedMusic {
        task,
        outcome,
        state,
    })
}

/// Frames of the chorale composed after each epoch: 16 bars of quarter notes.
pub const EPOCH_ROLL_FRAMES: usize = 64;

/// Composes one chorale of [`EPOCH_ROLL_FRAMES`] frames with `seed` (the model's own sampler
/// streams, not libtorch's generator) and writes its piano-roll to
/// `samples/roll_<epoch, 3 digits>.png` in `run_dir`: TensorBoard's `samples/roll`. Returns
/// the file with the seed.
pub fn write_epoch_roll(
    model: &FrameGru,
    epoch: usize,
    run_dir: &Path,
    seed: u64,
) -> Result<EpochSamples> {
    let drawn = model.sample(1, EPOCH_ROLL_FRAMES, None, seed)?;
    let roll = roll_of(&drawn.frames.f_select(0, 0)?)?;
    let path = run_dir.join("samples").join(format!("roll_{epoch:03}.png"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_roll_png(&path, &roll, &RollImageOptions::default())?;
    Ok(EpochSamples {
        seed,
        files: vec![path],
    })
}

/// A `[frames, 88]` tensor of 0/1 floats (a drawn roll) as a [`PianoRoll`].
pub fn roll_of(frames: &Tensor) -> Result<PianoRoll> {
    let size = frames.size();
    let &[t, k] = size.as_slice() else {
        return Err(Error::config(
            "roll",
            format!("a drawn roll has shape {size:?}, expected [frames, 88]"),
        ));
    };
    let cells = Vec::<u8>::try_from(&frames.f_to_kind(Kind::Uint8)?.f_reshape([-1])?)?;
    let cells = Array2::from_shape_vec((t as usize, k as usize), cells)
        .map_err(|e| Error::config("roll", e.to_string()))?;
    Ok(PianoRoll::new(cells)?)
}

/// A fresh model and optimiser for `config`, on `device`.
pub fn build_task(config: &MusicTaskConfig, device: Device) -> Result<Supervised<FrameGru>> {
    let vs = VarStore::new(device);
    let model = FrameGru::init(&vs.root(), &config.model)?;
    Supervised::new(model, vs, config.optimizer.clone(), config.grad_clip)
}

/// Reads a trained model back from `run_dir`: [`RESOLVED_CONFIG`] and the variables of the
/// checkpoint `name` (`best`: the epoch of lowest validation NLL; `last`).
pub fn load_music_model(
    run_dir: &Path,
    name: &str,
    device: Device,
) -> Result<(Supervised<FrameGru>, MusicTaskConfig)> {
    let path = run_dir.join(RESOLVED_CONFIG);
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let config: MusicTaskConfig = serde_json::from_slice(&text).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        field: "config".into(),
        reason: e.to_string(),
    })?;
    let mut task = build_task(&config, device)?;
    let dir = run_dir.join(files::CHECKPOINTS);
    let (tensors, _): (_, TrainerState) = checkpoint::load(&dir, name)?;
    crate::TrainStep::load_state(&mut task, &tensors, &checkpoint::paths(&dir, name).0)?;
    Ok((task, config))
}

/// The NLL per frame of `model` on `rolls` (evaluation mode, batches of `batch_size`): the
/// exact Bernoulli NLL of the model's logits ([`frame_nll_sum`]), summed as
/// [`NllPerFrame`] sums it.
pub fn evaluate_nll(
    model: &FrameGru,
    rolls: &[PianoRoll],
    batch_size: usize,
) -> Result<NllPerFrame> {
    let data = RollData::new(rolls.to_vec(), Device::Cpu)?;
    let mut nll = NllPerFrame::new();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = data.batch(chunk)?;
        let sum = tch::no_grad(|| -> Result<f64> {
            let logits = model.logits(&batch.rolls, false)?;
            Ok(frame_nll_sum(&logits, &batch.rolls, &batch.lengths)?.f_double_value(&[])?)
        })?;
        let frames: usize = chunk
            .iter()
            .filter_map(|&i| rolls.get(i).map(PianoRoll::frames))
            .sum();
        nll.add_sum(sum, frames);
    }
    Ok(nll)
}

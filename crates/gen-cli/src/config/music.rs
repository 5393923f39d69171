//! The music run's config: the chorales, the frame GRU's task settings, and what `gen sample`
//! writes.

use super::RuntimeConfig;
use gen_models::FrameGruConfig;
use gen_train::tasks::music::MusicTaskConfig;
use gen_train::{GradClip, OptimizerConfig, TrainerConfig};
use serde::{Deserialize, Serialize};

/// A music run: the fields of `gen_train::tasks::music::MusicTaskConfig`, with the data,
/// sampling and runtime sections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MusicRun {
    /// The chorales.
    #[serde(default)]
    pub data: MusicDataSpec,
    /// The model. Default: one GRU layer of 128, dropout 0.3 before an independent Bernoulli
    /// per key (`output = "nade"`: a NADE over the keys, `nade_hidden` units).
    #[serde(default)]
    pub model: FrameGruConfig,
    /// The optimiser. Default: Adam, lr 5e-3.
    #[serde(default = "default_music_optimizer")]
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: global norm 5.
    #[serde(default = "default_music_clip")]
    pub grad_clip: GradClip,
    /// The training loop. Default: up to 60 epochs in batches of 8, monitor `val_loss` (min),
    /// early stopping after 8 epochs without improvement.
    #[serde(default = "default_music_trainer")]
    pub trainer: TrainerConfig,
    /// What `gen sample` writes.
    #[serde(default)]
    pub sample: MusicSampleSpec,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

fn default_music_optimizer() -> OptimizerConfig {
    MusicTaskConfig::default().optimizer
}
fn default_music_clip() -> GradClip {
    MusicTaskConfig::default().grad_clip
}
fn default_music_trainer() -> TrainerConfig {
    MusicTaskConfig::default().trainer
}

impl MusicRun {
    /// The task config these settings make.
    pub fn task(&self) -> MusicTaskConfig {
        MusicTaskConfig {
            model: self.model.clone(),
            optimizer: self.optimizer.clone(),
            grad_clip: self.grad_clip,
            trainer: self.trainer.clone(),
        }
    }
}

/// Which chorales a music model learns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MusicDataSpec {
    /// The dataset folder of `.mxl` files (`cargo xtask fetch-data bach-chorales`). Default:
    /// `bach-chorales`.
    pub dataset: String,
}

impl Default for MusicDataSpec {
    fn default() -> Self {
        MusicDataSpec {
            dataset: "bach-chorales".into(),
        }
    }
}

/// What `gen sample` writes for a music run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MusicSampleSpec {
    /// Frames (quarter notes) per generated roll. Default: 64 (16 bars of 4/4).
    pub frames: usize,
    /// Frames of the first test chorale given as the opening; 0 composes from silence.
    /// Default: 0.
    pub opening: usize,
    /// Quarter notes per minute, for MIDI and WAV. Default: 80.
    pub bpm: f64,
    /// WAV samples per second. Default: 22,050.
    pub sample_rate: u32,
}

impl Default for MusicSampleSpec {
    fn default() -> Self {
        MusicSampleSpec {
            frames: 64,
            opening: 0,
            bpm: 80.0,
            sample_rate: 22_050,
        }
    }
}

//! Run configs: what each kind of run trains and how, read from and written to TOML.

use anyhow::{Context, Result};
use gen_core::DeviceChoice;
use gen_core::spectrogram::SpectrogramConfig;
use gen_data::drums::SplitSpec;
use gen_data::sequence::{Padding, Truncating};
use gen_models::gan::{GanConfig, GanKind};
use gen_models::image_classifier::ImageClassifierConfig;
use gen_models::trajectory::TrajectoryMdnConfig;
use gen_models::{GruClassifierConfig, GruLanguageModelConfig, SamplingConfig};
use gen_train::eval::EvaluatorTrainingConfig;
use gen_train::tasks::gan::GanTaskConfig;
use gen_train::tasks::trajectory::{TrajectoryEvalConfig, TrajectoryTaskConfig};
use gen_train::{GradClip, OptimizerConfig, TrainerConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

mod music;
pub use music::MusicRun;

/// A whole run: what to train and how. Saved as `config.toml` in the run folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // One config per process; boxing would only add noise.
pub enum RunConfig {
    /// A sequence classifier (the source text's IMDB model).
    TextClassifier(TextClassifierRun),
    /// A language model over words or characters.
    LanguageModel(LanguageModelRun),
    /// A GAN on images.
    ImageGan(ImageGanRun),
    /// A generator of motion trajectories (LASA handwriting).
    Trajectory(TrajectoryRun),
    /// A composer of piano-rolls (Bach's chorales).
    Music(MusicRun),
    /// A GAN on sounds: spectrogram images, back to audio by Griffin-Lim.
    SoundGan(SoundGanRun),
}

/// A trajectory run: the fields of `gen_train::tasks::trajectory::TrajectoryTaskConfig`, with
/// the data and runtime sections every run has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryRun {
    /// The demonstrations.
    #[serde(default)]
    pub data: TrajectoryDataSpec,
    /// Shapes to learn, by name (e.g. `["Angle", "Sshape"]`). Default: all 30.
    #[serde(default)]
    pub shapes: Vec<String>,
    /// The demo of each shape held out for evaluation (0-based); none trains on all. Default: 0.
    #[serde(default = "default_holdout")]
    pub holdout: Option<usize>,
    /// The model. Default: 50 points, 2x128 GRU, 8 Gaussians, offset augmentation 0.4.
    #[serde(default)]
    pub model: TrajectoryMdnConfig,
    /// The optimiser. Default: Adam, lr 5e-3.
    #[serde(default = "default_trajectory_optimizer")]
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: global norm 1.
    #[serde(default = "default_trajectory_clip")]
    pub grad_clip: GradClip,
    /// Each training demo appears this many times per epoch. Default: 4.
    #[serde(default = "default_repeats")]
    pub epoch_repeats: usize,
    /// The training loop. Default: 200 epochs in batches of 60, cosine decay to 0.
    #[serde(default = "default_trajectory_trainer")]
    pub trainer: TrainerConfig,
    /// Evaluation sampling. Default: 8 samples per shape and start, bias 1, spread 0.25.
    #[serde(default)]
    pub eval: TrajectoryEvalConfig,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

fn default_holdout() -> Option<usize> {
    TrajectoryTaskConfig::default().holdout
}
fn default_trajectory_optimizer() -> OptimizerConfig {
    TrajectoryTaskConfig::default().optimizer
}
fn default_trajectory_clip() -> GradClip {
    TrajectoryTaskConfig::default().grad_clip
}
fn default_repeats() -> usize {
    TrajectoryTaskConfig::default().epoch_repeats
}
fn default_trajectory_trainer() -> TrainerConfig {
    TrajectoryTaskConfig::default().trainer
}

impl TrajectoryRun {
    /// The task config these settings make.
    pub fn task(&self) -> TrajectoryTaskConfig {
        TrajectoryTaskConfig {
            shapes: self.shapes.clone(),
            holdout: self.holdout,
            model: self.model.clone(),
            optimizer: self.optimizer.clone(),
            grad_clip: self.grad_clip,
            epoch_repeats: self.epoch_repeats,
            trainer: self.trainer.clone(),
            eval: self.eval.clone(),
        }
    }
}

/// Which demonstrations a trajectory model learns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrajectoryDataSpec {
    /// The dataset folder (`cargo xtask fetch-data lasa`). Default: `lasa`.
    pub dataset: String,
}

impl Default for TrajectoryDataSpec {
    fn default() -> Self {
        TrajectoryDataSpec {
            dataset: "lasa".into(),
        }
    }
}

/// Settings shared by every kind of run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `cpu`, `cuda`, `cuda:N` or `auto`. Default: `cpu`.
    pub device: DeviceChoice,
    /// libtorch intra-op threads. Default: libtorch's choice.
    pub threads: Option<usize>,
    /// Treat denormal floats as zero on the CPU, as TensorFlow does (`torch.set_flush_denormal`):
    /// GRU gradients decay into the denormal range, where x86 arithmetic crawls. Default: true.
    pub flush_denormals: bool,
    /// Keep freed memory in the process for the next step instead of handing it back to the
    /// kernel (`gen_core::retain_freed_memory`; glibc only): saves the page faults that made
    /// a GRU train step 1.5 times slower. Default: true.
    pub retain_memory: bool,
    /// Timeouts and gradient bucket size of a run on several processes (`--nproc-per-node`,
    /// torchrun, SLURM). Default: `gen_dist::DistConfig`'s (init 300 s, collectives 1800 s,
    /// 25 MiB buckets).
    pub dist: gen_dist::DistConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            device: DeviceChoice::default(),
            threads: None,
            flush_denormals: true,
            retain_memory: true,
            dist: gen_dist::DistConfig::default(),
        }
    }
}

/// A text-classifier run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextClassifierRun {
    /// The data pipeline.
    pub data: TextDataConfig,
    /// The model.
    #[serde(default)]
    pub model: GruClassifierConfig,
    /// The optimiser. Default: Adam with PyTorch's settings.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: none.
    #[serde(default)]
    pub grad_clip: GradClip,
    /// The training loop.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

/// Keras's `imdb.load_data` and `pad_sequences` options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextDataConfig {
    /// The dataset (`cargo xtask fetch-data NAME`). Default: `imdb`.
    pub dataset: String,
    /// Keep the `num_words` most frequent words; others become the OOV id. Default: 10000.
    pub num_words: Option<usize>,
    /// Skip the most frequent words. Default: 0.
    pub skip_top: usize,
    /// `load_data`'s `maxlen`: drop reviews this long or longer. Default: none.
    pub load_maxlen: Option<usize>,
    /// `pad_sequences`' `maxlen`. Default: 256.
    pub maxlen: usize,
    /// `pad_sequences`' `padding`. Default: `post` (the source text's).
    pub padding: Padding,
    /// `pad_sequences`' `truncating`. Default: `pre` (Keras's).
    pub truncating: Truncating,
    /// `load_data`'s shuffle seed. Default: 113.
    pub seed: u64,
}

impl Default for TextDataConfig {
    fn default() -> Self {
        TextDataConfig {
            dataset: "imdb".into(),
            num_words: Some(10000),
            skip_top: 0,
            load_maxlen: None,
            maxlen: 256,
            padding: Padding::Post,
            truncating: Truncating::Pre,
            seed: 113,
        }
    }
}

/// A language-model run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageModelRun {
    /// The corpus and how it is cut.
    pub data: LmDataSpec,
    /// The model; `vocab_size` is set from the data (the `num_words` of word models, the
    /// number of distinct characters of char models).
    #[serde(default)]
    pub model: GruLanguageModelConfig,
    /// The optimiser. Default: Adam with PyTorch's settings.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: none.
    #[serde(default)]
    pub grad_clip: GradClip,
    /// The training loop.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// Sampling for the samples written after training and for `gen generate`'s defaults.
    #[serde(default)]
    pub sample: SampleSpec,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

/// The token level of a language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLevel {
    /// Words (IMDB's word ids, with Keras's start and OOV ids).
    Word,
    /// Characters.
    Char,
}

/// A language model's corpus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmDataSpec {
    /// `imdb` (words), `canterbury` or `fortunes` (characters). Default: `canterbury`.
    pub dataset: String,
    /// `word` (imdb only) or `char`. Default: `char`.
    pub level: TokenLevel,
    /// Word models: keep the `num_words` most frequent words (Keras's `num_words`). Default:
    /// 10000.
    pub num_words: usize,
    /// Tokens per training window. Default: 128.
    pub seq_len: usize,
    /// Fractions of each text (char) or of the training reviews (word) held out for validation
    /// and test; IMDB word models test on IMDB's test reviews. Default: 0.05 each.
    pub valid_fraction: f64,
    /// See `valid_fraction`. Default: 0.05.
    pub test_fraction: f64,
    /// Word models: use only the first `max_reviews` training reviews. Default: all.
    pub max_reviews: Option<usize>,
}

impl Default for LmDataSpec {
    fn default() -> Self {
        LmDataSpec {
            dataset: "canterbury".into(),
            level: TokenLevel::Char,
            num_words: 10000,
            seq_len: 128,
            valid_fraction: 0.05,
            test_fraction: 0.05,
            max_reviews: None,
        }
    }
}

/// Samples written after training.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleSpec {
    /// The prompt. Default: `The ` (a char model) or `this movie` (a word model).
    pub prompt: Option<String>,
    /// How many samples. Default: 3.
    pub num: usize,
    /// Sampling settings (`[sample.sampling]`: `max_tokens`, `temperature`, `top_k`, `top_p`,
    /// `greedy`, `seed`). Default: 300 tokens at temperature 0.8.
    pub sampling: SamplingConfig,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            prompt: None,
            num: 3,
            sampling: SamplingConfig {
                max_tokens: 300,
                temperature: 0.8,
                ..SamplingConfig::default()
            },
        }
    }
}

/// A GAN run on MNIST-like images.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageGanRun {
    /// The images.
    pub data: ImageDataSpec,
    /// The GAN. Default: DCGAN, widths 32.
    #[serde(default)]
    pub model: GanConfig,
    /// Loss, optimisers, stabilisers and sample grids. Default: non-saturating loss, DCGAN's
    /// Adam (2e-4, betas 0.5/0.999).
    #[serde(default)]
    pub gan: GanTaskConfig,
    /// The training loop.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// The quality report (`gen evaluate`).
    #[serde(default)]
    pub eval: GanEvalSpec,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

/// Which images a GAN learns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageDataSpec {
    /// `mnist` or `fashion-mnist`. Default: `fashion-mnist`.
    pub dataset: String,
    /// Train on the first `limit` training images only. Default: all.
    pub limit: Option<usize>,
    /// Test images scored by D each epoch (`val_*` metrics). Default: 1000.
    pub valid: usize,
}

impl Default for ImageDataSpec {
    fn default() -> Self {
        ImageDataSpec {
            dataset: "fashion-mnist".into(),
            limit: None,
            valid: 1000,
        }
    }
}

/// The GAN quality report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GanEvalSpec {
    /// Generated and real images compared (capped by the test split). Default: 10000.
    pub n: usize,
    /// Seed of the generated images. Default: 0.
    pub seed: u64,
    /// Also score an untrained generator (the FD ceiling). Default: true.
    pub untrained: bool,
    /// How the dataset's evaluator classifier is trained (it is cached per dataset and these
    /// settings in `<data folder>/.evaluators`). Default: see `EvaluatorTrainingConfig`
    /// (about 0.98 test accuracy on MNIST, 0.89 on Fashion-MNIST).
    pub evaluator: EvaluatorTrainingConfig,
}

impl Default for GanEvalSpec {
    fn default() -> Self {
        GanEvalSpec {
            n: 10_000,
            seed: 0,
            untrained: true,
            evaluator: EvaluatorTrainingConfig::default(),
        }
    }
}

/// A GAN run on drum sounds: clips become normalised log-magnitude spectrogram images, a GAN
/// learns them, and Griffin-Lim turns generated images back into audio.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoundGanRun {
    /// The clips.
    #[serde(default)]
    pub data: SoundDataSpec,
    /// Clips to images and back. Default: n_fft 256, hop 128, 128x128, 100 Griffin-Lim
    /// iterations.
    #[serde(default)]
    pub spectrogram: SpectrogramConfig,
    /// The GAN. Default: SpecGAN, width 8, 128x128.
    #[serde(default = "default_sound_model")]
    pub model: GanConfig,
    /// Loss, optimisers and sample grids. Default: as image GANs.
    #[serde(default)]
    pub gan: GanTaskConfig,
    /// The training loop.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// The quality report (`gen evaluate`).
    #[serde(default)]
    pub eval: SoundEvalSpec,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

fn default_sound_model() -> GanConfig {
    GanConfig {
        kind: GanKind::Specgan,
        image_size: 128,
        ..GanConfig::default()
    }
}

/// Which clips a sound GAN learns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoundDataSpec {
    /// The dataset. Default: `drums` (the only one).
    pub dataset: String,
    /// The seeded split, stratified by class. Default: 80/10/10, seed 113.
    pub split: SplitSpec,
    /// Also train on the clips outside the six classes (cowbells, effects, ...). The
    /// evaluator and the real reference use labelled clips only. Default: false.
    pub unlabelled: bool,
    /// Class rebalancing of the training clips, a power in `[0, 1]`: each clip of class `c`
    /// is seen `round((n_max / n_c)^balance)` times per epoch (`n_max` the largest class's
    /// training clips), so that rare classes (13 training claps against 100 hi-hats) are
    /// learnt. 0 repeats nothing; 1 brings each class to about `n_max`. Default: 0.
    pub balance: f64,
}

impl Default for SoundDataSpec {
    fn default() -> Self {
        SoundDataSpec {
            dataset: "drums".into(),
            split: SplitSpec::default(),
            unlabelled: false,
            balance: 0.0,
        }
    }
}

/// The sound-GAN quality report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoundEvalSpec {
    /// Generated clips scored, and real clips per reference split (capped by the labelled
    /// test clips, 49 of the drums). Default: 10000 (so: all test clips).
    pub n: usize,
    /// Seed of the generated clips. Default: 0.
    pub seed: u64,
    /// Also score an untrained generator (the FD ceiling). Default: true.
    pub untrained: bool,
    /// How the spectrogram evaluator is trained (cached in `<data folder>/.evaluators`).
    /// Default: the image CNN on 128x128 spectrograms pooled to 64x64, widths 16/32, 64
    /// features, 6 classes, 600 steps of 64, shifts of up to 2 pixels.
    pub evaluator: EvaluatorTrainingConfig,
}

impl Default for SoundEvalSpec {
    fn default() -> Self {
        SoundEvalSpec {
            n: 10_000,
            seed: 0,
            untrained: true,
            evaluator: EvaluatorTrainingConfig {
                model: ImageClassifierConfig {
                    image_size: 128,
                    input_pool: 2,
                    conv1_channels: 16,
                    conv2_channels: 32,
                    feature_dim: 64,
                    num_classes: 6,
                    ..ImageClassifierConfig::default()
                },
                epochs: 2,
                min_steps: 600,
                batch_size: 64,
                augment_shift: 2,
                ..EvaluatorTrainingConfig::default()
            },
        }
    }
}

impl RunConfig {
    /// The training-loop settings.
    pub fn trainer(&self) -> &TrainerConfig {
        match self {
            RunConfig::TextClassifier(r) => &r.trainer,
            RunConfig::LanguageModel(r) => &r.trainer,
            RunConfig::ImageGan(r) => &r.trainer,
            RunConfig::Trajectory(r) => &r.trainer,
            RunConfig::Music(r) => &r.trainer,
            RunConfig::SoundGan(r) => &r.trainer,
        }
    }

    /// Device and threads.
    pub fn runtime(&self) -> &RuntimeConfig {
        match self {
            RunConfig::TextClassifier(r) => &r.runtime,
            RunConfig::LanguageModel(r) => &r.runtime,
            RunConfig::ImageGan(r) => &r.runtime,
            RunConfig::Trajectory(r) => &r.runtime,
            RunConfig::Music(r) => &r.runtime,
            RunConfig::SoundGan(r) => &r.runtime,
        }
    }

    /// The runtime settings, to change.
    pub fn runtime_mut(&mut self) -> &mut RuntimeConfig {
        match self {
            RunConfig::TextClassifier(r) => &mut r.runtime,
            RunConfig::LanguageModel(r) => &mut r.runtime,
            RunConfig::ImageGan(r) => &mut r.runtime,
            RunConfig::Trajectory(r) => &mut r.runtime,
            RunConfig::Music(r) => &mut r.runtime,
            RunConfig::SoundGan(r) => &mut r.runtime,
        }
    }

    /// The kind's name, as in `config.toml`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunConfig::TextClassifier(_) => "text-classifier",
            RunConfig::LanguageModel(_) => "language-model",
            RunConfig::ImageGan(_) => "image-gan",
            RunConfig::Trajectory(_) => "trajectory",
            RunConfig::Music(_) => "music",
            RunConfig::SoundGan(_) => "sound-gan",
        }
    }
}

/// Reads a config file into a TOML table.
pub fn read_file(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))
}

/// Turns the (overridden) table into a typed config. Unknown keys, wrong types and numbers out
/// of their key's range ([`crate::limits`]) are errors that name the key; `origin` says where
/// the config came from.
pub fn resolve(table: &toml::Table, origin: &str) -> Result<RunConfig> {
    // The values as written first: serde's errors inside a tagged enum lose the key's name.
    crate::limits::check(table, origin)?;
    let text = toml::to_string(table).context("cannot re-encode the config")?;
    let config: RunConfig =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config ({origin}):\n{e}"))?;
    crate::limits::check(&to_table(&config)?, origin)?;
    Ok(config)
}

/// The resolved config as a table, defaults included.
pub fn to_table(config: &RunConfig) -> Result<toml::Table> {
    toml::Table::try_from(config).context("cannot encode the resolved config")
}

/// The resolved config as TOML, defaults included.
pub fn to_toml(config: &RunConfig) -> Result<String> {
    toml::to_string_pretty(config).context("cannot encode the resolved config")
}

//! The settings of a [`super::GanTask`]: the loss, instance noise, samples and optimisers.

use super::augment::DiffAugmentConfig;
use crate::optim::{AdamConfig, OptimizerConfig};
use crate::{Error, Result};
use gen_models::gan::Gan;
use serde::{Deserialize, Serialize};

/// The adversarial loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GanLoss {
    /// Goodfellow et al.'s minimax game: G minimises `E[log(1 - D(G(z)))]`.
    Minimax,
    /// The non-saturating variant: G minimises `-E[log D(G(z))]`. The default.
    #[default]
    NonSaturating,
    /// Wasserstein loss with gradient penalty (weight [`GanTaskConfig::gp_lambda`]).
    WganGp,
    /// Hinge loss.
    Hinge,
}

impl GanLoss {
    /// Whether D's output is a logit trained with binary cross-entropy.
    fn is_sigmoid(self) -> bool {
        matches!(self, GanLoss::Minimax | GanLoss::NonSaturating)
    }
}

/// The labels a conditional generator is asked for in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FakeLabels {
    /// The real batch's own labels, so fakes follow the data's class frequencies. The default.
    #[default]
    Batch,
    /// Drawn uniformly over the classes (class-balanced), so rare classes get as many
    /// generator updates as common ones; D still sees the real batch with its own labels.
    Uniform,
}

/// Gaussian noise added to every input of D, real and fake (Sønderby et al. 2017; Arjovsky
/// & Bottou 2017), to blur the supports early in training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceNoise {
    /// Standard deviation at the start. Default: 0.0 (off).
    pub std: f64,
    /// Decrease the std linearly to 0 over this many D updates, then keep it at 0; `None`
    /// keeps it constant. Default: none.
    pub anneal_steps: Option<u64>,
}

impl Default for InstanceNoise {
    fn default() -> Self {
        InstanceNoise {
            std: 0.0,
            anneal_steps: None,
        }
    }
}

impl InstanceNoise {
    /// The std at D update `step` (0-based): `std * max(0, 1 - step / anneal_steps)`.
    pub fn std_at(&self, step: u64) -> f64 {
        match self.anneal_steps {
            None => self.std,
            Some(0) => 0.0,
            Some(t) => self.std * (1.0 - step as f64 / t as f64).max(0.0),
        }
    }
}

/// What [`crate::TrainStep::on_epoch_end`] writes under `<run_dir>/samples/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Write sample grids at all. Default: true.
    pub enabled: bool,
    /// Images per row of the sample grid. Default: 8.
    pub columns: usize,
    /// Rows of the sample grid (the conditional model has one per class instead). Default: 8.
    pub rows: usize,
    /// Rows of the interpolation strip. Default: 8.
    pub interp_rows: usize,
    /// Images per interpolation row, both ends included (at least 2). Default: 10.
    pub interp_steps: usize,
    /// Seed of the fixed latents. Default: 0.
    pub seed: u64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            enabled: true,
            columns: 8,
            rows: 8,
            interp_rows: 8,
            interp_steps: 10,
            seed: 0,
        }
    }
}

/// DCGAN's Adam: lr 2e-4, betas 0.5 / 0.999.
fn dcgan_adam() -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig {
        lr: 2e-4,
        beta1: 0.5,
        ..Default::default()
    })
}

/// Settings of a [`super::GanTask`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GanTaskConfig {
    /// The adversarial loss. Default: `non_saturating`.
    pub loss: GanLoss,
    /// Weight of the WGAN-GP gradient penalty. Default: 10.
    pub gp_lambda: f64,
    /// D updates per G update (5 is usual for `wgan_gp`). Default: 1.
    pub n_critic: u64,
    /// The generator's optimiser. Default: Adam, lr 2e-4, betas 0.5 / 0.999 (DCGAN).
    pub optimizer_g: OptimizerConfig,
    /// The discriminator's optimiser. Default: as `optimizer_g`. A larger learning rate here
    /// than in `optimizer_g` is the two-time-scale update rule (TTUR, Heusel et al. 2017;
    /// e.g. 4e-4 for D and 1e-4 for G, as SAGAN uses).
    pub optimizer_d: OptimizerConfig,
    /// One-sided label smoothing: D's target for real samples (e.g. 0.9; fakes keep 0).
    /// Sigmoid losses only. Default: none (target 1).
    pub label_smoothing: Option<f64>,
    /// Instance noise on D's inputs. Default: off.
    pub instance_noise: InstanceNoise,
    /// Differentiable augmentation of every input of D, real and fake (DiffAugment).
    /// Default: off.
    pub diff_augment: DiffAugmentConfig,
    /// Sample grids. Default: see [`SampleConfig`].
    pub samples: SampleConfig,
    /// Decay of an exponential moving average of the generator's weights (e.g. 0.999),
    /// updated after each generator step with a warm-up (see [`crate::ema`]). When set, the
    /// sample grids, `gen sample` and `gen evaluate` use the average, and checkpoints keep it
    /// as `g_ema.<name>`. Default: none (the trained weights).
    pub ema_decay: Option<f64>,
    /// The labels of the fakes of a conditional GAN. Default: `batch`.
    pub fake_labels: FakeLabels,
}

impl Default for GanTaskConfig {
    fn default() -> Self {
        GanTaskConfig {
            loss: GanLoss::NonSaturating,
            gp_lambda: 10.0,
            n_critic: 1,
            optimizer_g: dcgan_adam(),
            optimizer_d: dcgan_adam(),
            label_smoothing: None,
            instance_noise: InstanceNoise::default(),
            diff_augment: DiffAugmentConfig::default(),
            samples: SampleConfig::default(),
            ema_decay: None,
            fake_labels: FakeLabels::Batch,
        }
    }
}

impl GanTaskConfig {
    pub(super) fn validate(&self, gan: &Gan) -> Result<()> {
        if self.n_critic == 0 {
            return Err(Error::config("gan.n_critic", "must be at least 1"));
        }
        if !(self.gp_lambda.is_finite() && self.gp_lambda >= 0.0) {
            return Err(Error::config(
                "gan.gp_lambda",
                format!("must be >= 0, got {}", self.gp_lambda),
            ));
        }
        if self.loss == GanLoss::WganGp && !gan.discriminator.per_sample() {
            return Err(Error::config(
                "gan.loss",
                "wgan_gp needs a discriminator that scores each sample on its own: set the \
                 model's dcgan.d_norm to `layer` or `none` (batch norm couples the batch)",
            ));
        }
        if self.fake_labels == FakeLabels::Uniform {
            if gan.generator.num_classes().is_none() {
                return Err(Error::config(
                    "gan.fake_labels",
                    "`uniform` needs a conditional model",
                ));
            }
            if self.loss == GanLoss::WganGp {
                return Err(Error::config(
                    "gan.fake_labels",
                    "`uniform` does not combine with wgan_gp, whose penalty scores real and \
                     fake images mixed under one label",
                ));
            }
        }
        if let Some(t) = self.label_smoothing {
            if !self.loss.is_sigmoid() {
                return Err(Error::config(
                    "gan.label_smoothing",
                    "only applies to the minimax and non_saturating losses",
                ));
            }
            if !(0.0..=1.0).contains(&t) {
                return Err(Error::config(
                    "gan.label_smoothing",
                    format!("must be in [0, 1], got {t}"),
                ));
            }
        }
        if let Some(d) = self.ema_decay {
            if !(0.0..1.0).contains(&d) {
                return Err(Error::config(
                    "gan.ema_decay",
                    format!("must be in [0, 1), got {d}"),
                ));
            }
        }
        for (field, ratio) in [
            (
                "gan.diff_augment.translation",
                self.diff_augment.translation,
            ),
            ("gan.diff_augment.cutout", self.diff_augment.cutout),
        ] {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(Error::config(
                    field,
                    format!("must be in [0, 1], got {ratio}"),
                ));
            }
        }
        let noise = self.instance_noise.std;
        if !(noise.is_finite() && noise >= 0.0) {
            return Err(Error::config(
                "gan.instance_noise.std",
                format!("must be >= 0, got {noise}"),
            ));
        }
        let s = &self.samples;
        if s.enabled && (s.columns == 0 || s.rows == 0 || s.interp_rows == 0 || s.interp_steps < 2)
        {
            return Err(Error::config(
                "gan.samples",
                "columns, rows and interp_rows must be at least 1 and interp_steps at least 2",
            ));
        }
        Ok(())
    }
}

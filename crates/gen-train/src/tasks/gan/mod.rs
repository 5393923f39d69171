//! GAN training: [`GanTask`] drives any [`gen_models::Gan`] (fully connected, DCGAN,
//! conditional DCGAN) through the one [`crate::Trainer`], with two optimisers.
//!
//! # One training step
//!
//! Each [`TrainStep::train_step`] takes one batch of real images `x` (and labels `y`):
//!
//! 1. draws `z` and makes `G(z, y)` (conditional models get the batch's own labels, so fakes
//!    follow the data's class frequencies);
//! 2. updates D once on `x` and `G(z).detach()` with the configured loss;
//! 3. on every `n_critic`-th step (counted by D updates, so resume keeps the rhythm) updates G
//!    once, on the same `G(z)` scored by the updated D; D's weights get no gradient.
//!
//! Each network's gradients come from [`crate::Optimizer::backward`], which computes them for
//! that network's variables only and hands them to its update without `.grad`.
//!
//! So each critic update sees a fresh real batch, as in WGAN-GP's algorithm, and an epoch
//! makes `batches` D updates and `batches / n_critic` G updates.
//!
//! # Losses ([`GanLoss`])
//!
//! With `l = D(.)` the raw score (a logit for the first two):
//!
//! - `minimax`: D minimises `-E[log D(x)] - E[log(1 - D(G(z)))]`; G minimises
//!   `E[log(1 - D(G(z)))]` (Goodfellow et al.'s value function, exactly).
//! - `non_saturating` (default): the same D loss; G minimises `-E[log D(G(z))]`.
//! - `wgan_gp`: D minimises `E[l(G(z))] - E[l(x)] + lambda GP` (Gulrajani et al. 2017); G
//!   minimises `-E[l(G(z))]`. Needs a discriminator without batch norm; use `n_critic = 5`.
//! - `hinge`: D minimises `E[relu(1 - l(x))] + E[relu(1 + l(G(z)))]`; G minimises
//!   `-E[l(G(z))]`.
//!
//! # Metrics (per step, as sums over the batch's samples)
//!
//! - `loss_d`: D's loss on this step's batch, before its update (with the penalty for
//!   `wgan_gp`);
//! - `loss_g`: G's loss: on generator steps the loss G's update minimises; on critic-only
//!   steps (`n_critic > 1`) the same loss measured on this step's fakes before D's update;
//! - `loss = loss_d + loss_g` (what the trainer checks for NaN; it has no meaning as a
//!   quality measure, so prefer a fixed number of epochs to "best" checkpoints);
//! - `d_x = mean sigmoid(l(x))` and `d_g_z = mean sigmoid(l(G(z)))`, on D's inputs before its
//!   update (for `wgan_gp` and `hinge` the sigmoid of a critic score is only a monotone
//!   summary, not a probability);
//! - `gp`, the gradient penalty, and `w_dist = E[l(x)] - E[l(G(z))]`, the critic's estimate
//!   of the Wasserstein-1 distance (`wgan_gp` only).
//!
//! [`TrainStep::valid_step`] computes the same on a batch without updating anything: both
//! networks in evaluation mode (batch norm uses running statistics), no instance noise.
//!
//! # Samples
//!
//! [`TrainStep::on_epoch_end`] writes, under `<run_dir>/samples/`:
//! - `epoch_NNN.png`: the generator (evaluation mode) on fixed latents, an 8x8 grid; for the
//!   conditional model one row per class and one latent per column (the same latent along a
//!   column, so a column shows one "style" across classes);
//! - `interp_NNN.png`: 8 rows of 10 images, each row a linear interpolation (ends included)
//!   between two fixed latents (conditional: row `r` keeps class `r mod classes`);
//! - `real.png`, once: the first 64 real training images seen.
//!
//! The fixed latents come from a SplitMix64 stream of `samples.seed` (not libtorch's
//! generator), so they are the same in every run and after a resume, and drawing them
//! changes no training randomness.

mod data;
mod grid;

pub use data::{ImageBatch, ImageData};
pub use grid::{GRID_PADDING, grid_pixels, grid_png, to_byte};

use super::named_variables;
use crate::checkpoint::copy_into;
use crate::metrics::Metrics;
use crate::optim::{AdamConfig, Optimizer, OptimizerConfig};
use crate::{Error, Result, TrainStep};
use gen_core::{
    DiscriminatorLossOptions, discriminator_loss, generator_loss_minimax,
    generator_loss_non_saturating, gradient_penalty, hinge_discriminator_loss,
    hinge_generator_loss, interpolation_epsilon, wasserstein_critic_loss,
    wasserstein_generator_loss,
};
use gen_data::batch::SplitMix64;
use gen_models::gan::{Gan, LatentDistribution};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor, nn::VarStore};

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

/// What [`TrainStep::on_epoch_end`] writes under `<run_dir>/samples/`.
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

/// Settings of a [`GanTask`].
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
    /// The discriminator's optimiser. Default: as `optimizer_g`.
    pub optimizer_d: OptimizerConfig,
    /// One-sided label smoothing: D's target for real samples (e.g. 0.9; fakes keep 0).
    /// Sigmoid losses only. Default: none (target 1).
    pub label_smoothing: Option<f64>,
    /// Instance noise on D's inputs. Default: off.
    pub instance_noise: InstanceNoise,
    /// Sample grids. Default: see [`SampleConfig`].
    pub samples: SampleConfig,
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
            samples: SampleConfig::default(),
        }
    }
}

impl GanTaskConfig {
    fn validate(&self, gan: &Gan) -> Result<()> {
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

/// The fixed inputs of the sample grids.
#[derive(Debug)]
struct FixedSamples {
    /// Latents of the sample grid, `[rows * columns, latent]`.
    grid_z: Tensor,
    /// Labels of the sample grid (conditional only).
    grid_labels: Option<Tensor>,
    /// Latents of the interpolation strip, `[interp_rows * interp_steps, latent]`.
    interp_z: Tensor,
    /// Labels of the interpolation strip (conditional only).
    interp_labels: Option<Tensor>,
}

impl FixedSamples {
    fn new(
        config: &SampleConfig,
        latent: LatentDistribution,
        dim: i64,
        classes: Option<i64>,
        device: Device,
    ) -> Result<Self> {
        let mut rng = SplitMix64::stream(config.seed, 0x6a4e_5eed, 0);
        let dim_u = usize::try_from(dim)
            .map_err(|_| Error::config("gan.latent_dim", "must be positive"))?;
        let mut draw = |count: usize| -> Vec<f32> {
            (0..count * dim_u)
                .map(|_| {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    let v = 1.0 - (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    latent.map_uniforms(u, v) as f32
                })
                .collect()
        };
        let cols = config.columns;
        let to_tensor = |values: &[f32], rows: usize| -> Result<Tensor> {
            Ok(Tensor::f_from_slice(values)?
                .f_reshape([rows as i64, dim])?
                .f_to_device(device)?)
        };
        // Grid: conditional -> one row per class, the same latent down each column.
        let (grid_z, grid_labels) = match classes {
            Some(k) => {
                let column_z = to_tensor(&draw(cols), cols)?;
                let z = column_z.f_repeat([k, 1])?;
                let labels = Tensor::f_arange(k, (Kind::Int64, device))?
                    .f_repeat_interleave_self_int(cols as i64, 0, None)?;
                (z, Some(labels))
            }
            None => (
                to_tensor(&draw(config.rows * cols), config.rows * cols)?,
                None,
            ),
        };
        // Interpolation: row r goes from a_r to b_r in `steps` evenly spaced points.
        let (rows, steps) = (config.interp_rows, config.interp_steps);
        let a = to_tensor(&draw(rows), rows)?;
        let b = to_tensor(&draw(rows), rows)?;
        let t = Tensor::f_linspace(0.0, 1.0, steps as i64, (Kind::Float, device))?.f_reshape([
            1,
            steps as i64,
            1,
        ])?;
        let (a3, b3) = (a.f_unsqueeze(1)?, b.f_unsqueeze(1)?);
        let interp_z = a3
            .f_add(&b3.f_sub(&a3)?.f_mul(&t)?)?
            .f_reshape([(rows * steps) as i64, dim])?;
        let interp_labels = match classes {
            Some(k) => Some(
                Tensor::f_arange(rows as i64, (Kind::Int64, device))?
                    .f_remainder(k)?
                    .f_repeat_interleave_self_int(steps as i64, 0, None)?,
            ),
            None => None,
        };
        Ok(FixedSamples {
            grid_z,
            grid_labels,
            interp_z,
            interp_labels,
        })
    }
}

/// A GAN with its two optimisers: a [`TrainStep`] for the generic [`crate::Trainer`].
///
/// Checkpoint state: the generator's variables as `g.<name>`, the discriminator's as
/// `d.<name>` (batch-norm running statistics included), and the optimisers' state as
/// `opt_g.` and `opt_d.`.
pub struct GanTask {
    /// The networks.
    pub gan: Gan,
    /// The generator's variables.
    pub g_vs: VarStore,
    /// The discriminator's variables.
    pub d_vs: VarStore,
    opt_g: Optimizer,
    opt_d: Optimizer,
    base_lr: (f64, f64),
    config: GanTaskConfig,
    device: Device,
    fixed: Option<FixedSamples>,
    real_seen: Vec<Tensor>,
    real_written: bool,
}

impl std::fmt::Debug for GanTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GanTask")
            .field("gan", &self.gan)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GanTask {
    /// Wraps `gan`, whose generator lives in `g_vs` and discriminator in `d_vs`, with the
    /// optimisers and settings of `config`.
    pub fn new(gan: Gan, g_vs: VarStore, d_vs: VarStore, config: GanTaskConfig) -> Result<Self> {
        config.validate(&gan)?;
        let device = g_vs.device();
        let opt_g = Optimizer::new(&g_vs, config.optimizer_g.clone())?;
        let opt_d = Optimizer::new(&d_vs, config.optimizer_d.clone())?;
        let fixed = if config.samples.enabled {
            let c = gan.config();
            let classes = gan.generator.num_classes();
            Some(FixedSamples::new(
                &config.samples,
                c.latent,
                c.latent_dim,
                classes,
                device,
            )?)
        } else {
            None
        };
        Ok(GanTask {
            gan,
            g_vs,
            d_vs,
            base_lr: (config.optimizer_g.lr(), config.optimizer_d.lr()),
            opt_g,
            opt_d,
            config,
            device,
            fixed,
            real_seen: Vec::new(),
            real_written: false,
        })
    }

    /// The settings.
    pub fn config(&self) -> &GanTaskConfig {
        &self.config
    }

    /// The generator's optimiser.
    pub fn optimizer_g(&self) -> &Optimizer {
        &self.opt_g
    }

    /// The discriminator's optimiser.
    pub fn optimizer_d(&self) -> &Optimizer {
        &self.opt_d
    }

    /// The labels D and G get: the batch's when the model is conditional, else none.
    fn labels<'a>(&self, batch: &'a ImageBatch) -> Option<&'a Tensor> {
        self.gan.generator.num_classes().map(|_| &batch.labels)
    }

    /// D's loss on scores of real and fake inputs (penalty excluded).
    fn d_loss(&self, d_real: &Tensor, d_fake: &Tensor) -> Result<Tensor> {
        Ok(match self.config.loss {
            GanLoss::Minimax | GanLoss::NonSaturating => {
                let options = DiscriminatorLossOptions {
                    real_target: self.config.label_smoothing.unwrap_or(1.0),
                };
                discriminator_loss(d_real, d_fake, &options)?
            }
            GanLoss::WganGp => wasserstein_critic_loss(d_real, d_fake)?,
            GanLoss::Hinge => hinge_discriminator_loss(d_real, d_fake)?,
        })
    }

    /// G's loss on D's scores of fakes.
    fn g_loss(&self, d_fake: &Tensor) -> Result<Tensor> {
        Ok(match self.config.loss {
            GanLoss::Minimax => generator_loss_minimax(d_fake)?,
            GanLoss::NonSaturating => generator_loss_non_saturating(d_fake)?,
            GanLoss::WganGp => wasserstein_generator_loss(d_fake)?,
            GanLoss::Hinge => hinge_generator_loss(d_fake)?,
        })
    }

    /// The WGAN-GP penalty `lambda * GP` on D (train mode), or `None` for other losses.
    fn penalty(
        &self,
        real: &Tensor,
        fake: &Tensor,
        labels: Option<&Tensor>,
        train: bool,
    ) -> Result<Option<Tensor>> {
        if self.config.loss != GanLoss::WganGp {
            return Ok(None);
        }
        let eps = interpolation_epsilon(real)?;
        let d = &self.gan.discriminator;
        // gradient_penalty's critic returns gen-core errors: keep the model's own error.
        let mut model_error = None;
        let gp = gradient_penalty(
            |xhat| {
                d.forward_t(xhat, labels, train).map_err(|e| {
                    let reason = e.to_string();
                    model_error = Some(e);
                    gen_core::Error::InvalidArgument {
                        name: "critic",
                        reason,
                    }
                })
            },
            real,
            fake,
            &eps,
        );
        match (gp, model_error) {
            (Err(_), Some(e)) => Err(e.into()),
            (gp, _) => Ok(Some(gp?)),
        }
    }

    fn add_noise(x: &Tensor, std: f64) -> Result<Tensor> {
        if std > 0.0 {
            Ok(x.f_add(&x.f_randn_like()?.f_mul_scalar(std)?)?)
        } else {
            Ok(x.shallow_clone())
        }
    }

    /// Keeps the first real images seen for `samples/real.png`.
    fn remember_real(&mut self, images: &Tensor) -> Result<()> {
        let Some(fixed) = &self.fixed else {
            return Ok(());
        };
        if self.real_written {
            return Ok(());
        }
        let want = fixed.grid_z.size().first().copied().unwrap_or(0);
        let have: i64 = self
            .real_seen
            .iter()
            .map(|t| t.size().first().copied().unwrap_or(0))
            .sum();
        let batch = images.size().first().copied().unwrap_or(0);
        let take = (want - have).min(batch);
        if take > 0 {
            // A copy, so that the batch's storage is not kept alive.
            let first = images
                .f_narrow(0, 0, take)?
                .f_detach()?
                .f_to_device(Device::Cpu)?;
            let mut copy = first.f_zeros_like()?;
            copy.f_copy_(&first)?;
            self.real_seen.push(copy);
        }
        Ok(())
    }

    /// Writes the sample grid and interpolation strip of `epoch`, and the real grid once.
    pub fn write_samples(&mut self, epoch: usize, run_dir: &Path) -> Result<()> {
        let Some(fixed) = &self.fixed else {
            return Ok(());
        };
        let dir = run_dir.join("samples");
        let g = &self.gan.generator;
        let (grid, interp) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
            Ok((
                g.forward_t(&fixed.grid_z, fixed.grid_labels.as_ref(), false)?,
                g.forward_t(&fixed.interp_z, fixed.interp_labels.as_ref(), false)?,
            ))
        })?;
        let s = &self.config.samples;
        grid_png(&grid, s.columns, &dir.join(format!("epoch_{epoch:03}.png")))?;
        grid_png(
            &interp,
            s.interp_steps,
            &dir.join(format!("interp_{epoch:03}.png")),
        )?;
        if !self.real_written && !self.real_seen.is_empty() {
            let path: PathBuf = dir.join("real.png");
            if !path.exists() {
                grid_png(&Tensor::f_cat(&self.real_seen, 0)?, s.columns, &path)?;
            }
            self.real_written = true;
            self.real_seen.clear();
        }
        Ok(())
    }
}

/// Mean of `sigmoid(scores)`, as a float.
fn mean_sigmoid(scores: &Tensor) -> Result<f64> {
    Ok(scores
        .f_detach()?
        .f_sigmoid()?
        .f_mean(Kind::Double)?
        .f_double_value(&[])?)
}

/// The critic's Wasserstein-1 estimate `E[D(x)] - E[D(G(z))]`, as a float.
fn w_dist(d_real: &Tensor, d_fake: &Tensor) -> Result<f64> {
    let mean = |t: &Tensor| -> Result<f64> {
        Ok(t.f_detach()?.f_mean(Kind::Double)?.f_double_value(&[])?)
    };
    Ok(mean(d_real)? - mean(d_fake)?)
}

fn value(t: &Tensor) -> Result<f64> {
    Ok(t.f_double_value(&[])?)
}

impl TrainStep for GanTask {
    type Batch = ImageBatch;

    fn train_step(&mut self, batch: &ImageBatch) -> Result<Metrics> {
        self.remember_real(&batch.images)?;
        let real = &batch.images;
        let labels = self.labels(batch);
        let n = real.size().first().copied().unwrap_or(0);
        let step = self.opt_d.step_count().max(0) as u64;
        let generator_step = (step + 1) % self.config.n_critic == 0;
        let noise = self.config.instance_noise.std_at(step);

        let z = self.gan.sample_latent(n, self.device)?;
        let fake = if generator_step {
            self.gan.generator.forward_t(&z, labels, true)?
        } else {
            tch::no_grad(|| self.gan.generator.forward_t(&z, labels, true))?
        };

        // Discriminator update.
        let real_in = Self::add_noise(real, noise)?;
        let fake_in = Self::add_noise(&fake.f_detach()?, noise)?;
        let d = &self.gan.discriminator;
        let d_real = d.forward_t(&real_in, labels, true)?;
        let d_fake = d.forward_t(&fake_in, labels, true)?;
        let mut loss_d = self.d_loss(&d_real, &d_fake)?;
        let gp = self.penalty(&real_in, &fake_in, labels, true)?;
        if let Some(gp) = &gp {
            loss_d = loss_d.f_add(&gp.f_mul_scalar(self.config.gp_lambda)?)?;
        }
        self.opt_d.backward(&loss_d)?;
        self.opt_d.step()?;

        // Generator update (or, on critic-only steps, its loss on these fakes). opt_g's
        // backward computes no gradient for D's weights.
        let loss_g = if generator_step {
            let fake_in = Self::add_noise(&fake, noise)?;
            let d_fake = self.gan.discriminator.forward_t(&fake_in, labels, true)?;
            let loss_g = self.g_loss(&d_fake)?;
            self.opt_g.backward(&loss_g)?;
            self.opt_g.step()?;
            value(&loss_g)?
        } else {
            value(&self.g_loss(&d_fake.f_detach()?)?)?
        };

        let nf = n as f64;
        let loss_d = value(&loss_d)?;
        let mut metrics = Metrics::new();
        metrics.add("loss", (loss_d + loss_g) * nf, nf);
        metrics.add("loss_d", loss_d * nf, nf);
        metrics.add("loss_g", loss_g * nf, nf);
        metrics.add("d_x", mean_sigmoid(&d_real)? * nf, nf);
        metrics.add("d_g_z", mean_sigmoid(&d_fake)? * nf, nf);
        if let Some(gp) = gp {
            metrics.add("gp", value(&gp)? * nf, nf);
            metrics.add("w_dist", w_dist(&d_real, &d_fake)? * nf, nf);
        }
        Ok(metrics)
    }

    fn valid_step(&mut self, batch: &ImageBatch) -> Result<Metrics> {
        let real = &batch.images;
        let labels = self.labels(batch);
        let n = real.size().first().copied().unwrap_or(0);
        let z = self.gan.sample_latent(n, self.device)?;
        let (fake, d_real, d_fake) = tch::no_grad(|| -> Result<(Tensor, Tensor, Tensor)> {
            let fake = self.gan.generator.forward_t(&z, labels, false)?;
            let d = &self.gan.discriminator;
            let d_real = d.forward_t(real, labels, false)?;
            let d_fake = d.forward_t(&fake, labels, false)?;
            Ok((fake, d_real, d_fake))
        })?;
        let mut loss_d = value(&self.d_loss(&d_real, &d_fake)?)?;
        // The penalty needs an input gradient, even under the trainer's no_grad.
        let gp = tch::with_grad(|| self.penalty(real, &fake, labels, false))?;
        let gp = match gp {
            Some(gp) => Some(value(&gp)?),
            None => None,
        };
        if let Some(gp) = gp {
            loss_d += self.config.gp_lambda * gp;
        }
        let loss_g = value(&self.g_loss(&d_fake)?)?;
        let nf = n as f64;
        let mut metrics = Metrics::new();
        metrics.add("loss", (loss_d + loss_g) * nf, nf);
        metrics.add("loss_d", loss_d * nf, nf);
        metrics.add("loss_g", loss_g * nf, nf);
        metrics.add("d_x", mean_sigmoid(&d_real)? * nf, nf);
        metrics.add("d_g_z", mean_sigmoid(&d_fake)? * nf, nf);
        if let Some(gp) = gp {
            metrics.add("gp", gp * nf, nf);
            metrics.add("w_dist", w_dist(&d_real, &d_fake)? * nf, nf);
        }
        Ok(metrics)
    }

    fn set_lr_factor(&mut self, factor: f64) {
        self.opt_g.set_lr(self.base_lr.0 * factor);
        self.opt_d.set_lr(self.base_lr.1 * factor);
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut state = named_variables(&self.g_vs, "g.");
        state.extend(named_variables(&self.d_vs, "d."));
        state.extend(self.opt_g.state_tensors("opt_g.")?);
        state.extend(self.opt_d.state_tensors("opt_d.")?);
        Ok(state)
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        copy_into(&named_variables(&self.g_vs, "g."), tensors, path)?;
        copy_into(&named_variables(&self.d_vs, "d."), tensors, path)?;
        self.opt_g.load_state_tensors("opt_g.", tensors, path)?;
        self.opt_d.load_state_tensors("opt_d.", tensors, path)
    }

    fn on_epoch_end(&mut self, epoch: usize, run_dir: &Path) -> Result<()> {
        self.write_samples(epoch, run_dir)
    }
}

//! GAN training: [`GanTask`] drives any [`gen_models::Gan`] (fully connected, DCGAN,
//! conditional DCGAN) through the one [`crate::Trainer`], with two optimisers.
//!
//! # One training step
//!
//! Each [`TrainStep::train_step`] takes one batch of real images `x` (and labels `y`):
//!
//! 1. draws `z` and makes `G(z, y)` (conditional models get the batch's own labels, so fakes
//!    follow the data's class frequencies; with [`FakeLabels::Uniform`], labels `y'` drawn
//!    uniformly after `z`, which D then scores the fakes under);
//! 2. updates D once on `x` and `G(z).detach()` with the configured loss (both through the
//!    [`augment`] of [`GanTaskConfig::diff_augment`] when set, then instance noise);
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
//! With [`GanTaskConfig::ema_decay`] the grids come from the exponential moving average of
//! the generator's weights ([`crate::ema`]), updated after every generator step.
//!
//! The fixed latents come from a SplitMix64 stream of `samples.seed` (not libtorch's
//! generator), so they are the same in every run and after a resume, and drawing them
//! changes no training randomness.

pub mod augment;
mod config;
mod data;
mod grid;
mod samples;

pub use config::{FakeLabels, GanLoss, GanTaskConfig, InstanceNoise, SampleConfig};
pub use data::{ImageBatch, ImageData};
pub use grid::{GRID_PADDING, grid_pixels, grid_png, to_byte};

use super::named_variables;
use crate::checkpoint::copy_into;
use crate::ema::Ema;
use crate::metrics::Metrics;
use crate::optim::Optimizer;
use crate::{Result, TrainStep};
use gen_core::{
    DiscriminatorLossOptions, discriminator_loss, generator_loss_minimax,
    generator_loss_non_saturating, gradient_penalty, hinge_discriminator_loss,
    hinge_generator_loss, interpolation_epsilon, wasserstein_critic_loss,
    wasserstein_generator_loss,
};
use gen_models::gan::{Gan, Generator};
use samples::FixedSamples;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor, nn::VarStore};

/// A GAN with its two optimisers: a [`TrainStep`] for the generic [`crate::Trainer`].
///
/// Checkpoint state: the generator's variables as `g.<name>`, the discriminator's as
/// `d.<name>` (batch-norm running statistics included), the optimisers' state as
/// `opt_g.` and `opt_d.`, and with [`GanTaskConfig::ema_decay`] the generator's weight
/// average as `g_ema.<name>`.
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
    average: Option<AveragedGenerator>,
    grid_samples: Option<GridRenderer>,
    /// The epoch the renderer last ran for, and the files it wrote.
    rendered: Option<(usize, Vec<PathBuf>)>,
}

/// Renders a [`GanTask`]'s epoch sample grid in another form (e.g. spectrograms as audio
/// clips): called after each epoch's `samples/epoch_<epoch>.png` with the grid's images (the
/// generator's output from the fixed latents), the epoch (1-based) and the run folder;
/// returns the files it wrote, which are labelled as generated with the grid
/// ([`crate::TrainStep::epoch_samples`]) and go to TensorBoard (images, audio clips, text:
/// see [`crate::Trainer`]'s logs). It must not draw from libtorch's global generator.
pub type GridRenderer = Box<dyn FnMut(&Tensor, usize, &Path) -> Result<Vec<PathBuf>>>;

/// The exponential moving average of the generator's weights, in a generator of its own.
struct AveragedGenerator {
    vs: VarStore,
    generator: Box<dyn Generator>,
    ema: Ema,
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
        let average = match config.ema_decay {
            Some(decay) => {
                let vs = VarStore::new(device);
                let generator = Gan::new_generator(&vs.root(), gan.config())?;
                let ema = Ema::new(&g_vs, &vs, decay)?;
                Some(AveragedGenerator { vs, generator, ema })
            }
            None => None,
        };
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
            average,
            grid_samples: None,
            rendered: None,
        })
    }

    /// Hands each epoch's sample grid to `render` as well (when samples are enabled).
    #[must_use]
    pub fn with_grid_samples(
        mut self,
        render: impl FnMut(&Tensor, usize, &Path) -> Result<Vec<PathBuf>> + 'static,
    ) -> Self {
        self.grid_samples = Some(Box::new(render));
        self
    }

    /// The generator that samples: the weight average when [`GanTaskConfig::ema_decay`] is
    /// set, else the trained one.
    pub fn sampling_generator(&self) -> &dyn Generator {
        match &self.average {
            Some(a) => a.generator.as_ref(),
            None => self.gan.generator.as_ref(),
        }
    }

    /// Copies the weight average (if any) into `self.gan`'s generator, so that everything
    /// that samples through [`Gan`] uses it. For evaluation and sampling after training; a
    /// run that goes on training afterwards would start from the average.
    pub fn adopt_average(&mut self) -> Result<()> {
        if let Some(a) = &self.average {
            let from = named_variables(&a.vs, "");
            let to = named_variables(&self.g_vs, "");
            tch::no_grad(|| -> Result<()> {
                for ((_, src), (_, dst)) in from.iter().zip(&to) {
                    dst.shallow_clone().f_copy_(src)?;
                }
                Ok(())
            })?;
        }
        Ok(())
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

    /// The labels of this step's fakes: the batch's, or (`fake_labels = uniform`) `n` drawn
    /// uniformly over the classes; none when unconditional.
    fn fake_labels(&self, batch: &ImageBatch, n: i64) -> Result<Option<Tensor>> {
        match (self.gan.generator.num_classes(), self.config.fake_labels) {
            (None, _) => Ok(None),
            (Some(_), FakeLabels::Batch) => Ok(Some(batch.labels.shallow_clone())),
            (Some(classes), FakeLabels::Uniform) => Ok(Some(Tensor::f_randint(
                classes,
                [n],
                (Kind::Int64, self.device),
            )?)),
        }
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

    /// What D reads of images `x`: the configured augmentation, then instance noise.
    fn d_input(&self, x: &Tensor, noise: f64) -> Result<Tensor> {
        let x = if self.config.diff_augment.is_active() {
            self.config.diff_augment.apply(x)?
        } else {
            x.shallow_clone()
        };
        Self::add_noise(&x, noise)
    }

    fn add_noise(x: &Tensor, std: f64) -> Result<Tensor> {
        if std > 0.0 {
            Ok(x.f_add(&x.f_randn_like()?.f_mul_scalar(std)?)?)
        } else {
            Ok(x.shallow_clone())
        }
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
        let fake_labels = self.fake_labels(batch, n)?;
        let fake_labels = fake_labels.as_ref();
        let fake = if generator_step {
            self.gan.generator.forward_t(&z, fake_labels, true)?
        } else {
            tch::no_grad(|| self.gan.generator.forward_t(&z, fake_labels, true))?
        };

        // Discriminator update.
        let real_in = self.d_input(real, noise)?;
        let fake_in = self.d_input(&fake.f_detach()?, noise)?;
        let d = &self.gan.discriminator;
        let d_real = d.forward_t(&real_in, labels, true)?;
        let d_fake = d.forward_t(&fake_in, fake_labels, true)?;
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
            let fake_in = self.d_input(&fake, noise)?;
            let d_fake = self
                .gan
                .discriminator
                .forward_t(&fake_in, fake_labels, true)?;
            let loss_g = self.g_loss(&d_fake)?;
            self.opt_g.backward(&loss_g)?;
            self.opt_g.step()?;
            if let Some(a) = &self.average {
                a.ema.update(self.opt_g.step_count().max(0) as u64)?;
            }
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

    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        vec![&mut self.opt_g, &mut self.opt_d]
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut state = named_variables(&self.g_vs, "g.");
        state.extend(named_variables(&self.d_vs, "d."));
        if let Some(a) = &self.average {
            state.extend(named_variables(&a.vs, "g_ema."));
        }
        state.extend(self.opt_g.state_tensors("opt_g.")?);
        state.extend(self.opt_d.state_tensors("opt_d.")?);
        Ok(state)
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        copy_into(&named_variables(&self.g_vs, "g."), tensors, path)?;
        copy_into(&named_variables(&self.d_vs, "d."), tensors, path)?;
        if let Some(a) = &self.average {
            copy_into(&named_variables(&a.vs, "g_ema."), tensors, path)?;
        }
        self.opt_g.load_state_tensors("opt_g.", tensors, path)?;
        self.opt_d.load_state_tensors("opt_d.", tensors, path)
    }

    fn on_epoch_end(&mut self, epoch: usize, run_dir: &Path) -> Result<()> {
        self.write_samples(epoch, run_dir)
    }

    /// The sample grid and interpolation strip of `epoch` (not `real.png`).
    fn epoch_samples(&self, epoch: usize, run_dir: &Path) -> Option<crate::EpochSamples> {
        self.sample_files(epoch, run_dir)
    }
}

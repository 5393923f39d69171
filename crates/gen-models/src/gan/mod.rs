//! GANs for small images: the original fully connected GAN (Goodfellow et al. 2014), DCGAN
//! (Radford et al. 2016) and SpecGAN (Donahue et al. 2019) for 128x128 spectrograms, the
//! last two optionally class-conditional.
//!
//! A [`Gan`] is built from one [`GanConfig`] into two `VarStore` paths, one for the
//! generator and one for the discriminator, so that each gets its own optimiser. Both sides
//! are driven through the [`Generator`] and [`Discriminator`] traits, whatever the kind:
//!
//! - the generator maps latents `z` `[batch, latent_dim]` (and labels, when conditional) to
//!   images `[batch, channels, size, size]` in `[-1, 1]` (tanh);
//! - the discriminator maps images (and labels) to one raw score per sample `[batch]`: a
//!   logit for the sigmoid losses, a critic value for the Wasserstein and hinge losses.
//!
//! Unconditional models ignore labels. Conditional models need int64 labels `[batch]` in
//! `0..num_classes`. Your own models join by implementing the two traits (see the crate's
//! `examples/custom_gan.rs`). The files: `config.rs` (the [`GanConfig`] and its checks),
//! `mlp.rs`, `dcgan.rs` and `specgan.rs` (the three families), `conditioning.rs` (the label
//! embedding and projection of the conditional kinds), this one (the traits and [`Gan`]).
//!
//! ```
//! use gen_models::gan::{Gan, GanConfig, GanKind};
//! use tch::{nn::VarStore, Device};
//!
//! let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
//! let config = GanConfig { kind: GanKind::ConditionalDcgan, ..Default::default() };
//! let gan = Gan::new(&g_vs.root(), &d_vs.root(), &config)?;
//! let images = gan.sample(4, Some(7), Device::Cpu)?; // four images of class 7
//! assert_eq!(images.size(), [4, 1, 28, 28]);
//! let labels = tch::Tensor::from_slice(&[7i64; 4]);
//! let logits = gan.discriminator.forward_t(&images, Some(&labels), false)?;
//! assert_eq!(logits.size(), [4]);
//! # Ok::<(), gen_models::Error>(())
//! ```

mod conditioning;
mod config;
mod dcgan;
mod mlp;
mod specgan;

pub use config::{
    DcganConfig, DiscriminatorNorm, GanConfig, GanKind, LatentDistribution, MlpGanConfig,
    SpecganConfig,
};
pub use dcgan::{DcganDiscriminator, DcganGenerator};
pub use mlp::{MlpDiscriminator, MlpGenerator};
pub use specgan::{SpecganDiscriminator, SpecganGenerator};

use crate::{Error, Module, Result};
use tch::{Device, Kind, Tensor, nn};

/// The generator side of a GAN.
pub trait Generator {
    /// The size of `z`.
    fn latent_dim(&self) -> i64;
    /// The number of classes when conditional, else `None`.
    fn num_classes(&self) -> Option<i64>;
    /// Maps `z` `[batch, latent_dim]` (and labels `[batch]` when conditional) to images
    /// `[batch, channels, size, size]` in `[-1, 1]`. `train` selects batch-norm statistics.
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor>;
}

/// The discriminator (or critic) side of a GAN.
pub trait Discriminator {
    /// The number of classes when conditional, else `None`.
    fn num_classes(&self) -> Option<i64>;
    /// Whether each sample's score depends on that sample only (no batch norm), as the
    /// WGAN-GP penalty requires.
    fn per_sample(&self) -> bool;
    /// Maps images `[batch, channels, size, size]` (and labels `[batch]` when conditional) to
    /// one raw score per sample `[batch]`.
    fn forward_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor>;
}

/// Checks conditional labels: int64 `[batch]` in `0..classes`.
fn check_labels(labels: Option<&Tensor>, batch: i64, classes: i64) -> Result<&Tensor> {
    let expected = || format!("int64 class labels [{batch}] in 0..{classes}");
    let Some(labels) = labels else {
        return Err(Error::Shape {
            what: "gan labels (the model is conditional)",
            expected: expected(),
            got: Vec::new(),
        });
    };
    if labels.size() != [batch] || labels.f_kind()? != Kind::Int64 {
        return Err(Error::Shape {
            what: "gan labels",
            expected: expected(),
            got: labels.size(),
        });
    }
    if batch > 0 {
        let lo = labels.f_min()?.f_int64_value(&[])?;
        let hi = labels.f_max()?.f_int64_value(&[])?;
        if lo < 0 || hi >= classes {
            return Err(Error::Config {
                field: "gan labels",
                reason: format!(
                    "label {} is outside 0..{classes}",
                    if lo < 0 { lo } else { hi }
                ),
            });
        }
    }
    Ok(labels)
}

/// Checks `z` is `[batch, dim]`; returns `batch`.
fn check_latent(z: &Tensor, dim: i64) -> Result<i64> {
    match z.size().as_slice() {
        [b, d] if *d == dim => Ok(*b),
        _ => Err(Error::Shape {
            what: "gan latent z",
            expected: format!("[batch, {dim}]"),
            got: z.size(),
        }),
    }
}

/// Checks images are `[batch, c, h, w]` of the configured shape; returns `batch`.
fn check_images(x: &Tensor, shape: [i64; 3]) -> Result<i64> {
    let size = x.size();
    match size.as_slice() {
        [b, c, h, w] if [*c, *h, *w] == shape => Ok(*b),
        _ => Err(Error::Shape {
            what: "gan discriminator input",
            expected: format!("[batch, {}, {}, {}]", shape[0], shape[1], shape[2]),
            got: size,
        }),
    }
}

/// A generator and a discriminator built from one [`GanConfig`].
pub struct Gan {
    /// The generator.
    pub generator: Box<dyn Generator>,
    /// The discriminator (critic).
    pub discriminator: Box<dyn Discriminator>,
    config: GanConfig,
}

impl std::fmt::Debug for Gan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gan")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Gan {
    /// Creates the generator's variables under `g` and the discriminator's under `d` (use two
    /// `VarStore`s, one per optimiser).
    pub fn new(g: &nn::Path<'_>, d: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        let generator = Self::new_generator(g, config)?;
        let discriminator: Box<dyn Discriminator> = match config.kind {
            GanKind::Mlp => Box::new(MlpDiscriminator::init(d, config)?),
            GanKind::Dcgan | GanKind::ConditionalDcgan => {
                Box::new(DcganDiscriminator::init(d, config)?)
            }
            GanKind::Specgan | GanKind::ConditionalSpecgan => {
                Box::new(SpecganDiscriminator::init(d, config)?)
            }
        };
        Ok(Gan {
            generator,
            discriminator,
            config: config.clone(),
        })
    }

    /// Creates only the generator of `config` under `g`, with the variable names and shapes
    /// [`Gan::new`] gives it (e.g. for a weight average of the trained one).
    pub fn new_generator(g: &nn::Path<'_>, config: &GanConfig) -> Result<Box<dyn Generator>> {
        Ok(match config.kind {
            GanKind::Mlp => Box::new(MlpGenerator::init(g, config)?),
            GanKind::Dcgan | GanKind::ConditionalDcgan => {
                Box::new(DcganGenerator::init(g, config)?)
            }
            GanKind::Specgan | GanKind::ConditionalSpecgan => {
                Box::new(SpecganGenerator::init(g, config)?)
            }
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GanConfig {
        &self.config
    }

    /// Draws `n` latents `[n, latent_dim]` from the configured distribution.
    pub fn sample_latent(&self, n: i64, device: Device) -> Result<Tensor> {
        self.config.latent.sample(n, self.config.latent_dim, device)
    }

    /// Generates `n` images `[n, channels, size, size]` in `[-1, 1]` with the generator in
    /// evaluation mode and no gradient. Conditional models make `class` when given, else
    /// classes drawn uniformly; unconditional models reject a `class`.
    pub fn sample(&self, n: i64, class: Option<i64>, device: Device) -> Result<Tensor> {
        let z = self.sample_latent(n, device)?;
        let labels = match (self.generator.num_classes(), class) {
            (Some(_), Some(c)) => Some(Tensor::f_full([n], c, (Kind::Int64, device))?),
            (Some(classes), None) => Some(Tensor::f_randint(classes, [n], (Kind::Int64, device))?),
            (None, Some(_)) => {
                return Err(Error::Config {
                    field: "class",
                    reason: "the model is not conditional".into(),
                });
            }
            (None, None) => None,
        };
        tch::no_grad(|| self.generator.forward_t(&z, labels.as_ref(), false))
    }

    /// Generates one image per label of `labels` (int64 `[n]` in `0..num_classes`) with a
    /// conditional generator in evaluation mode and no gradient; an unconditional one is an
    /// error.
    pub fn sample_labelled(&self, labels: &Tensor, device: Device) -> Result<Tensor> {
        if self.generator.num_classes().is_none() {
            return Err(Error::Config {
                field: "labels",
                reason: "the model is not conditional".into(),
            });
        }
        let n = labels.size().first().copied().unwrap_or(0);
        let z = self.sample_latent(n, device)?;
        let labels = labels.f_to_device(device)?;
        tch::no_grad(|| self.generator.forward_t(&z, Some(&labels), false))
    }
}

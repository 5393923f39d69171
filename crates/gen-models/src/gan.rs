//! GANs for small images: the original fully connected GAN (Goodfellow et al. 2014), DCGAN
//! (Radford et al. 2016) and a class-conditional DCGAN.
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
//! `0..num_classes`.
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

use crate::conv::{BatchNorm2d, Conv2d, ConvConfig, ConvTranspose2d, GroupNorm, Init, leaky_relu};
use crate::error::ensure_config;
use crate::layers::{Embedding, Linear};
use crate::{Error, Module, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

/// The distribution of the generator's latent vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LatentDistribution {
    /// Standard normal `N(0, 1)` per component. The default (DCGAN's PyTorch example).
    #[default]
    Normal,
    /// Uniform in `[-1, 1)` per component (the DCGAN paper).
    Uniform,
}

impl LatentDistribution {
    /// Draws `n` latents `[n, dim]` from libtorch's generator.
    pub fn sample(self, n: i64, dim: i64, device: Device) -> Result<Tensor> {
        let options = (Kind::Float, device);
        Ok(match self {
            LatentDistribution::Normal => Tensor::f_randn([n, dim], options)?,
            LatentDistribution::Uniform => Tensor::f_rand([n, dim], options)?
                .f_mul_scalar(2.0)?
                .f_sub_scalar(1.0)?,
        })
    }

    /// Maps `u`, uniform in `[0, 1)`, and `v`, uniform in `(0, 1]`, to one draw: the
    /// Box-Muller transform for `Normal`, `2u - 1` for `Uniform`. Lets callers make latents
    /// from their own random stream (e.g. fixed sample noise) without libtorch's generator.
    pub fn map_uniforms(self, u: f64, v: f64) -> f64 {
        match self {
            LatentDistribution::Normal => {
                (-2.0 * v.max(f64::MIN_POSITIVE).ln()).sqrt() * (std::f64::consts::TAU * u).cos()
            }
            LatentDistribution::Uniform => 2.0 * u - 1.0,
        }
    }
}

/// Which GAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GanKind {
    /// Fully connected generator and discriminator ([`MlpGanConfig`]).
    Mlp,
    /// Convolutional generator and discriminator ([`DcganConfig`]). The default.
    #[default]
    Dcgan,
    /// DCGAN with the class label fed to both sides: an embedding concatenated with `z` in the
    /// generator, a projection (Miyato & Koyama 2018) in the discriminator.
    ConditionalDcgan,
}

/// The normalisation of the discriminator's hidden convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DiscriminatorNorm {
    /// Batch normalisation, as in DCGAN. The default. Couples the samples of a batch, so it
    /// cannot be used with the WGAN-GP gradient penalty.
    #[default]
    Batch,
    /// Layer normalisation (group norm with one group), per sample: what WGAN-GP recommends.
    Layer,
    /// None.
    None,
}

/// Sizes of the fully connected GAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpGanConfig {
    /// Widths of the generator's hidden layers. Default: `[256, 512, 1024]`.
    pub g_hidden: Vec<i64>,
    /// Widths of the discriminator's hidden layers. Default: `[512, 256]`.
    pub d_hidden: Vec<i64>,
    /// Negative slope of the LeakyReLU after each hidden layer. Default: 0.2.
    pub slope: f64,
}

impl Default for MlpGanConfig {
    fn default() -> Self {
        MlpGanConfig {
            g_hidden: vec![256, 512, 1024],
            d_hidden: vec![512, 256],
            slope: 0.2,
        }
    }
}

/// Sizes of the (conditional) DCGAN.
///
/// The default widths are 32, half the DCGAN paper's 64: the middle layers dominate and scale
/// with `ngf^2`, and a 64-image training step measured 155 ms at width 32 against 556 ms at
/// 64 (one CPU thread), so 32 lets two CPU cores train an epoch of Fashion-MNIST (938 steps)
/// in about 2.5 minutes of compute; 28x28 grey images need no more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DcganConfig {
    /// Generator width: its layers have `4 ngf`, `2 ngf` and `channels` channels. Default: 32.
    pub ngf: i64,
    /// Discriminator width: its layers have `ndf` and `2 ndf` channels. Default: 32.
    pub ndf: i64,
    /// Normalisation in the discriminator (never on its first layer). Default: `batch`.
    pub d_norm: DiscriminatorNorm,
    /// Size of the label embedding concatenated with `z` (conditional only). Default: 10.
    pub label_dim: i64,
    /// Negative slope of the discriminator's LeakyReLU. Default: 0.2.
    pub slope: f64,
    /// Standard deviation of the `N(0, std)` weight init (batch-norm weights `N(1, std)`).
    /// Default: 0.02, the paper's.
    pub init_std: f64,
}

impl Default for DcganConfig {
    fn default() -> Self {
        DcganConfig {
            ngf: 32,
            ndf: 32,
            d_norm: DiscriminatorNorm::Batch,
            label_dim: 10,
            slope: 0.2,
            init_std: 0.02,
        }
    }
}

/// A GAN: its kind, data shape, latent and the sizes of each kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GanConfig {
    /// Which GAN. Default: `dcgan`.
    pub kind: GanKind,
    /// Size of `z`. Default: 100.
    pub latent_dim: i64,
    /// Distribution of `z`. Default: `normal`.
    pub latent: LatentDistribution,
    /// Image channels. Default: 1.
    pub channels: i64,
    /// Image height and width; a multiple of 4 for the DCGANs. Default: 28.
    pub image_size: i64,
    /// Number of classes (conditional only). Default: 10.
    pub num_classes: i64,
    /// Sizes of the `mlp` kind.
    pub mlp: MlpGanConfig,
    /// Sizes of the `dcgan` and `conditional_dcgan` kinds.
    pub dcgan: DcganConfig,
}

impl Default for GanConfig {
    fn default() -> Self {
        GanConfig {
            kind: GanKind::Dcgan,
            latent_dim: 100,
            latent: LatentDistribution::Normal,
            channels: 1,
            image_size: 28,
            num_classes: 10,
            mlp: MlpGanConfig::default(),
            dcgan: DcganConfig::default(),
        }
    }
}

impl GanConfig {
    /// The shape of one image, `[channels, size, size]`.
    pub fn image_shape(&self) -> [i64; 3] {
        [self.channels, self.image_size, self.image_size]
    }

    /// Whether the models take labels.
    pub fn is_conditional(&self) -> bool {
        self.kind == GanKind::ConditionalDcgan
    }

    fn validate(&self) -> Result<()> {
        ensure_config(self.latent_dim > 0, "gan.latent_dim", || {
            format!("must be positive, got {}", self.latent_dim)
        })?;
        ensure_config(self.channels > 0, "gan.channels", || {
            format!("must be positive, got {}", self.channels)
        })?;
        ensure_config(self.image_size > 0, "gan.image_size", || {
            format!("must be positive, got {}", self.image_size)
        })?;
        match self.kind {
            GanKind::Mlp => {
                let slope = self.mlp.slope;
                ensure_config((0.0..=1.0).contains(&slope), "gan.mlp.slope", || {
                    format!("must be in [0, 1], got {slope}")
                })
            }
            GanKind::Dcgan | GanKind::ConditionalDcgan => {
                let d = &self.dcgan;
                ensure_config(self.image_size % 4 == 0, "gan.image_size", || {
                    format!("the DCGANs need a multiple of 4, got {}", self.image_size)
                })?;
                ensure_config(d.ngf > 0 && d.ndf > 0, "gan.dcgan", || {
                    format!("ngf and ndf must be positive, got {} and {}", d.ngf, d.ndf)
                })?;
                ensure_config((0.0..=1.0).contains(&d.slope), "gan.dcgan.slope", || {
                    format!("must be in [0, 1], got {}", d.slope)
                })?;
                ensure_config(d.init_std > 0.0, "gan.dcgan.init_std", || {
                    format!("must be positive, got {}", d.init_std)
                })?;
                if self.is_conditional() {
                    ensure_config(self.num_classes >= 2, "gan.num_classes", || {
                        format!("must be at least 2, got {}", self.num_classes)
                    })?;
                    ensure_config(d.label_dim > 0, "gan.dcgan.label_dim", || {
                        format!("must be positive, got {}", d.label_dim)
                    })?;
                }
                Ok(())
            }
        }
    }
}

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

/// The fully connected generator: `z -> [Linear -> LeakyReLU] x hidden -> Linear -> tanh`,
/// reshaped to `[batch, channels, size, size]`.
#[derive(Debug)]
pub struct MlpGenerator {
    hidden: Vec<Linear>,
    out: Linear,
    slope: f64,
    latent_dim: i64,
    shape: [i64; 3],
}

impl Module for MlpGenerator {
    type Config = GanConfig;
    /// `z` and (ignored) labels.
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let mut hidden = Vec::new();
        let mut width = config.latent_dim;
        for (i, &h) in config.mlp.g_hidden.iter().enumerate() {
            hidden.push(Linear::new(&(vs / "hidden" / i), width, h)?);
            width = h;
        }
        let shape = config.image_shape();
        let out = Linear::new(&(vs / "out"), width, shape.iter().product())?;
        Ok(MlpGenerator {
            hidden,
            out,
            slope: config.mlp.slope,
            latent_dim: config.latent_dim,
            shape,
        })
    }

    fn forward_t(&self, (z, _labels): Self::Input<'_>, _train: bool) -> Result<Tensor> {
        let batch = check_latent(z, self.latent_dim)?;
        let mut xs = z.shallow_clone();
        for layer in &self.hidden {
            xs = leaky_relu(&layer.forward(&xs)?, self.slope)?;
        }
        let [c, h, w] = self.shape;
        Ok(self
            .out
            .forward(&xs)?
            .f_tanh()?
            .f_reshape([batch, c, h, w])?)
    }
}

/// The fully connected discriminator: flattened image `-> [Linear -> LeakyReLU] x hidden ->
/// Linear` to one logit.
#[derive(Debug)]
pub struct MlpDiscriminator {
    hidden: Vec<Linear>,
    out: Linear,
    slope: f64,
    shape: [i64; 3],
}

impl Module for MlpDiscriminator {
    type Config = GanConfig;
    /// Images and (ignored) labels.
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let shape = config.image_shape();
        let mut hidden = Vec::new();
        let mut width = shape.iter().product();
        for (i, &h) in config.mlp.d_hidden.iter().enumerate() {
            hidden.push(Linear::new(&(vs / "hidden" / i), width, h)?);
            width = h;
        }
        let out = Linear::new(&(vs / "out"), width, 1)?;
        Ok(MlpDiscriminator {
            hidden,
            out,
            slope: config.mlp.slope,
            shape,
        })
    }

    fn forward_t(&self, (x, _labels): Self::Input<'_>, _train: bool) -> Result<Tensor> {
        let batch = check_images(x, self.shape)?;
        let mut xs = x.f_reshape([batch, -1])?;
        for layer in &self.hidden {
            xs = leaky_relu(&layer.forward(&xs)?, self.slope)?;
        }
        Ok(self.out.forward(&xs)?.f_reshape([batch])?)
    }
}

/// The DCGAN generator for `size x size` images (`b = size / 4`):
///
/// `z (+ label embedding) -> ConvT(k b) -> b x b, 4 ngf -> BN, ReLU -> ConvT(4, 2, 1) ->
/// 2b x 2b, 2 ngf -> BN, ReLU -> ConvT(4, 2, 1) -> size x size, channels -> tanh`.
///
/// For 28x28: 7x7 -> 14x14 -> 28x28. Weights `N(0, init_std)`, batch-norm weights
/// `N(1, init_std)`, biases 0; convolutions followed by batch norm have no bias.
#[derive(Debug)]
pub struct DcganGenerator {
    label_embedding: Option<Embedding>,
    deconv1: ConvTranspose2d,
    bn1: BatchNorm2d,
    deconv2: ConvTranspose2d,
    bn2: BatchNorm2d,
    deconv3: ConvTranspose2d,
    latent_dim: i64,
    num_classes: Option<i64>,
}

impl Module for DcganGenerator {
    type Config = GanConfig;
    /// `z` and labels (required when the config is conditional, else ignored).
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let d = &config.dcgan;
        let init = Init::Normal { std: d.init_std };
        let (label_embedding, num_classes, label_dim) = if config.is_conditional() {
            let e = Embedding::new(
                &(vs / "label_embedding"),
                config.num_classes,
                d.label_dim,
                None,
            )?;
            (Some(e), Some(config.num_classes), d.label_dim)
        } else {
            (None, None, 0)
        };
        let base = config.image_size / 4;
        let input = config.latent_dim + label_dim;
        let up = ConvConfig::new(4, 2, 1);
        Ok(DcganGenerator {
            label_embedding,
            deconv1: ConvTranspose2d::new(
                &(vs / "deconv1"),
                input,
                4 * d.ngf,
                ConvConfig::new(base, 1, 0).no_bias(),
                init,
            )?,
            bn1: BatchNorm2d::new(&(vs / "bn1"), 4 * d.ngf, init)?,
            deconv2: ConvTranspose2d::new(
                &(vs / "deconv2"),
                4 * d.ngf,
                2 * d.ngf,
                up.no_bias(),
                init,
            )?,
            bn2: BatchNorm2d::new(&(vs / "bn2"), 2 * d.ngf, init)?,
            deconv3: ConvTranspose2d::new(&(vs / "deconv3"), 2 * d.ngf, config.channels, up, init)?,
            latent_dim: config.latent_dim,
            num_classes,
        })
    }

    fn forward_t(&self, (z, labels): Self::Input<'_>, train: bool) -> Result<Tensor> {
        let batch = check_latent(z, self.latent_dim)?;
        let input = match (&self.label_embedding, self.num_classes) {
            (Some(embedding), Some(classes)) => {
                let labels = check_labels(labels, batch, classes)?;
                Tensor::f_cat(&[z, &embedding.forward(labels)?], 1)?
            }
            _ => z.shallow_clone(),
        };
        let xs = input.f_reshape([batch, -1, 1, 1])?;
        // Under bf16 autocast the hidden activations stay bf16 (batch norm reads them with f32
        // statistics and parameters); the image comes back f32.
        let xs = self
            .bn1
            .forward_t(&self.deconv1.forward_autocast(&xs)?, train)?
            .f_relu()?;
        let xs = self
            .bn2
            .forward_t(&self.deconv2.forward_autocast(&xs)?, train)?
            .f_relu()?;
        Ok(self.deconv3.forward(&xs)?.f_tanh()?)
    }
}

/// The normalisation layer of the discriminator's second convolution.
#[derive(Debug)]
enum Norm {
    Batch(BatchNorm2d),
    Layer(GroupNorm),
    None,
}

/// The DCGAN discriminator for `size x size` images (`b = size / 4`):
///
/// `x -> Conv(4, 2, 1) -> size/2, ndf -> LeakyReLU -> Conv(4, 2, 1) -> b x b, 2 ndf -> norm,
/// LeakyReLU = h -> Conv(k b) -> one logit`. No normalisation on the first layer.
///
/// Conditional: adds the projection `<embed(y), sum_{i,j} h[:, :, i, j]>` to the logit
/// (Miyato & Koyama 2018), with the class embedding `[classes, 2 ndf]` drawn from
/// `N(0, init_std)`.
#[derive(Debug)]
pub struct DcganDiscriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    norm2: Norm,
    conv3: Conv2d,
    label_embedding: Option<Tensor>,
    slope: f64,
    shape: [i64; 3],
    num_classes: Option<i64>,
}

impl Module for DcganDiscriminator {
    type Config = GanConfig;
    /// Images and labels (required when the config is conditional, else ignored).
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let d = &config.dcgan;
        let init = Init::Normal { std: d.init_std };
        let down = ConvConfig::new(4, 2, 1);
        let (norm2, conv2_config) = match d.d_norm {
            DiscriminatorNorm::Batch => (
                Norm::Batch(BatchNorm2d::new(&(vs / "norm2"), 2 * d.ndf, init)?),
                down.no_bias(),
            ),
            DiscriminatorNorm::Layer => (
                Norm::Layer(GroupNorm::new(&(vs / "norm2"), 1, 2 * d.ndf, init)?),
                down.no_bias(),
            ),
            DiscriminatorNorm::None => (Norm::None, down),
        };
        let base = config.image_size / 4;
        let (label_embedding, num_classes) = if config.is_conditional() {
            let e = (vs / "label_embedding").f_randn(
                "weight",
                &[config.num_classes, 2 * d.ndf],
                0.0,
                d.init_std,
            )?;
            (Some(e), Some(config.num_classes))
        } else {
            (None, None)
        };
        Ok(DcganDiscriminator {
            conv1: Conv2d::new(&(vs / "conv1"), config.channels, d.ndf, down, init)?,
            conv2: Conv2d::new(&(vs / "conv2"), d.ndf, 2 * d.ndf, conv2_config, init)?,
            norm2,
            conv3: Conv2d::new(
                &(vs / "conv3"),
                2 * d.ndf,
                1,
                ConvConfig::new(base, 1, 0),
                init,
            )?,
            label_embedding,
            slope: d.slope,
            shape: config.image_shape(),
            num_classes,
        })
    }

    fn forward_t(&self, (x, labels): Self::Input<'_>, train: bool) -> Result<Tensor> {
        let batch = check_images(x, self.shape)?;
        let labels = match self.num_classes {
            Some(classes) => Some(check_labels(labels, batch, classes)?),
            None => None,
        };
        // Under bf16 autocast the hidden activations stay bf16 up to the logit (f32).
        let h = leaky_relu(&self.conv1.forward_autocast(x)?, self.slope)?;
        let h = self.conv2.forward_autocast(&h)?;
        let h = match &self.norm2 {
            Norm::Batch(bn) => bn.forward_t(&h, train)?,
            Norm::Layer(ln) => ln.forward(&h.f_to_kind(Kind::Float)?)?,
            Norm::None => h,
        };
        let h = leaky_relu(&h, self.slope)?;
        let logit = self.conv3.forward(&h)?.f_reshape([batch])?;
        match (&self.label_embedding, labels) {
            (Some(embedding), Some(labels)) => {
                let pooled = h.f_sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Float)?;
                let e = embedding.f_index_select(0, labels)?;
                let projection = pooled.f_mul(&e)?.f_sum_dim_intlist(1, false, Kind::Float)?;
                Ok(logit.f_add(&projection)?)
            }
            _ => Ok(logit),
        }
    }
}

impl Generator for MlpGenerator {
    fn latent_dim(&self) -> i64 {
        self.latent_dim
    }
    fn num_classes(&self) -> Option<i64> {
        None
    }
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (z, labels), train)
    }
}

impl Generator for DcganGenerator {
    fn latent_dim(&self) -> i64 {
        self.latent_dim
    }
    fn num_classes(&self) -> Option<i64> {
        self.num_classes
    }
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (z, labels), train)
    }
}

impl Discriminator for MlpDiscriminator {
    fn num_classes(&self) -> Option<i64> {
        None
    }
    fn per_sample(&self) -> bool {
        true
    }
    fn forward_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (x, labels), train)
    }
}

impl Discriminator for DcganDiscriminator {
    fn num_classes(&self) -> Option<i64> {
        self.num_classes
    }
    fn per_sample(&self) -> bool {
        !matches!(self.norm2, Norm::Batch(_))
    }
    fn forward_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (x, labels), train)
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
        let (generator, discriminator): (Box<dyn Generator>, Box<dyn Discriminator>) =
            match config.kind {
                GanKind::Mlp => (
                    Box::new(MlpGenerator::init(g, config)?),
                    Box::new(MlpDiscriminator::init(d, config)?),
                ),
                GanKind::Dcgan | GanKind::ConditionalDcgan => (
                    Box::new(DcganGenerator::init(g, config)?),
                    Box::new(DcganDiscriminator::init(d, config)?),
                ),
            };
        Ok(Gan {
            generator,
            discriminator,
            config: config.clone(),
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
}

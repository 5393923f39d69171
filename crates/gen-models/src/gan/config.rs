//! The configuration of a [`super::Gan`]: its kind, data shape, latent and the sizes of each
//! kind, with their checks.

use crate::Result;
use crate::error::ensure_config;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

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
    /// SpecGAN (Donahue et al. 2019): a DCGAN deepened to `log2(size / 4)` stride-2 layers on
    /// each side, for 128x128 spectrograms ([`SpecganConfig`]).
    Specgan,
    /// SpecGAN with the class label fed to both sides, as in `conditional_dcgan`.
    ConditionalSpecgan,
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
    /// Spectral normalisation of the discriminator's convolutions (Miyato et al. 2018; see
    /// [`crate::spectral`]), usually with `d_norm = "none"`. Default: false.
    pub spectral_norm: bool,
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
            spectral_norm: false,
        }
    }
}

/// Sizes of SpecGAN.
///
/// The default width is 8, an eighth of SpecGAN's 64: at 128x128 the generator then has
/// channels 128, 64, 32, 16, 8 and costs about 9 M multiply-adds per image (the discriminator
/// about as much), which two shared CPU cores train for a few hundred steps in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpecganConfig {
    /// Width `d`: the generator starts at `2^(L-1) d` channels and halves them each layer; the
    /// discriminator starts at `d` and doubles them. Default: 8.
    pub dim: i64,
    /// Normalisation in the discriminator's hidden layers (never the first). Default: `none`
    /// (SpecGAN's, and what `wgan_gp` needs).
    pub d_norm: DiscriminatorNorm,
    /// Negative slope of the discriminator's LeakyReLU. Default: 0.2.
    pub slope: f64,
    /// Standard deviation of the `N(0, std)` weight init. Default: 0.02.
    pub init_std: f64,
    /// Size of the label embedding concatenated with `z` (conditional only). Default: 10.
    pub label_dim: i64,
}

impl Default for SpecganConfig {
    fn default() -> Self {
        SpecganConfig {
            dim: 8,
            d_norm: DiscriminatorNorm::None,
            slope: 0.2,
            init_std: 0.02,
            label_dim: 10,
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
    /// Sizes of the `specgan` and `conditional_specgan` kinds.
    pub specgan: SpecganConfig,
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
            specgan: SpecganConfig::default(),
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
        matches!(
            self.kind,
            GanKind::ConditionalDcgan | GanKind::ConditionalSpecgan
        )
    }

    pub(super) fn validate(&self) -> Result<()> {
        ensure_config(self.latent_dim > 0, "gan.latent_dim", || {
            format!("must be positive, got {}", self.latent_dim)
        })?;
        ensure_config(self.channels > 0, "gan.channels", || {
            format!("must be positive, got {}", self.channels)
        })?;
        ensure_config(self.image_size > 0, "gan.image_size", || {
            format!("must be positive, got {}", self.image_size)
        })?;
        if self.is_conditional() {
            ensure_config(self.num_classes >= 2, "gan.num_classes", || {
                format!("must be at least 2, got {}", self.num_classes)
            })?;
        }
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
                    ensure_config(d.label_dim > 0, "gan.dcgan.label_dim", || {
                        format!("must be positive, got {}", d.label_dim)
                    })?;
                }
                Ok(())
            }
            GanKind::Specgan | GanKind::ConditionalSpecgan => {
                let s = &self.specgan;
                let power_of_two = self.image_size >= 8 && self.image_size.count_ones() == 1;
                ensure_config(power_of_two, "gan.image_size", || {
                    format!(
                        "specgan needs a power of two of at least 8, got {}",
                        self.image_size
                    )
                })?;
                let layers = super::specgan::depth(self.image_size);
                ensure_config(s.dim > 0 && s.dim < (1 << 20), "gan.specgan.dim", || {
                    format!("must be in 1..2^20, got {}", s.dim)
                })?;
                ensure_config(layers <= 10, "gan.image_size", || {
                    format!("at most 4096 for specgan, got {}", self.image_size)
                })?;
                ensure_config((0.0..=1.0).contains(&s.slope), "gan.specgan.slope", || {
                    format!("must be in [0, 1], got {}", s.slope)
                })?;
                ensure_config(s.init_std > 0.0, "gan.specgan.init_std", || {
                    format!("must be positive, got {}", s.init_std)
                })?;
                if self.is_conditional() {
                    ensure_config(s.label_dim > 0, "gan.specgan.label_dim", || {
                        format!("must be positive, got {}", s.label_dim)
                    })?;
                }
                Ok(())
            }
        }
    }
}

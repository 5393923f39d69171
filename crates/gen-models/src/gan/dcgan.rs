//! The DCGAN (Radford et al. 2016) and its class-conditional variant.

use super::conditioning::{LabelInput, Projection};
use super::{Discriminator, DiscriminatorNorm, GanConfig, Generator, check_images, check_latent};
use crate::conv::{BatchNorm2d, Conv2d, ConvConfig, ConvTranspose2d, GroupNorm, Init, leaky_relu};
use crate::layers::{autocast_kind_for, uncast};
use crate::spectral::SpectralNorm;
use crate::{Module, Result};
use tch::{Kind, Tensor, nn};

/// The DCGAN generator for `size x size` images (`b = size / 4`):
///
/// `z (+ label embedding) -> ConvT(k b) -> b x b, 4 ngf -> BN, ReLU -> ConvT(4, 2, 1) ->
/// 2b x 2b, 2 ngf -> BN, ReLU -> ConvT(4, 2, 1) -> size x size, channels -> tanh`.
///
/// For 28x28: 7x7 -> 14x14 -> 28x28. Weights `N(0, init_std)`, batch-norm weights
/// `N(1, init_std)`, biases 0; convolutions followed by batch norm have no bias.
#[derive(Debug)]
pub struct DcganGenerator {
    label_input: Option<LabelInput>,
    deconv1: ConvTranspose2d,
    bn1: BatchNorm2d,
    deconv2: ConvTranspose2d,
    bn2: BatchNorm2d,
    deconv3: ConvTranspose2d,
    latent_dim: i64,
}

impl Module for DcganGenerator {
    type Config = GanConfig;
    /// `z` and labels (required when the config is conditional, else ignored).
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let d = &config.dcgan;
        let init = Init::Normal { std: d.init_std };
        let label_input = if config.is_conditional() {
            Some(LabelInput::new(vs, config.num_classes, d.label_dim)?)
        } else {
            None
        };
        let base = config.image_size / 4;
        let input = config.latent_dim + label_input.as_ref().map_or(0, LabelInput::dim);
        let up = ConvConfig::new(4, 2, 1);
        Ok(DcganGenerator {
            label_input,
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
        })
    }

    fn forward_t(&self, (z, labels): Self::Input<'_>, train: bool) -> Result<Tensor> {
        let batch = check_latent(z, self.latent_dim)?;
        let input = match &self.label_input {
            Some(label_input) => label_input.concat(z, labels, batch)?,
            None => z.shallow_clone(),
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
///
/// With `spectral_norm`, each convolution's weight is divided by its largest singular value
/// (one power iteration per training forward; the vectors live under `convN/sn_u`, `sn_v`).
#[derive(Debug)]
pub struct DcganDiscriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    norm2: Norm,
    conv3: Conv2d,
    spectral: Option<[SpectralNorm; 3]>,
    projection: Option<Projection>,
    slope: f64,
    shape: [i64; 3],
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
        let projection = if config.is_conditional() {
            Some(Projection::new(
                vs,
                config.num_classes,
                2 * d.ndf,
                d.init_std,
            )?)
        } else {
            None
        };
        let conv1 = Conv2d::new(&(vs / "conv1"), config.channels, d.ndf, down, init)?;
        let conv2 = Conv2d::new(&(vs / "conv2"), d.ndf, 2 * d.ndf, conv2_config, init)?;
        let conv3 = Conv2d::new(
            &(vs / "conv3"),
            2 * d.ndf,
            1,
            ConvConfig::new(base, 1, 0),
            init,
        )?;
        let spectral = if d.spectral_norm {
            Some([
                SpectralNorm::new(&(vs / "conv1"), &conv1.weight)?,
                SpectralNorm::new(&(vs / "conv2"), &conv2.weight)?,
                SpectralNorm::new(&(vs / "conv3"), &conv3.weight)?,
            ])
        } else {
            None
        };
        Ok(DcganDiscriminator {
            conv1,
            conv2,
            norm2,
            conv3,
            spectral,
            projection,
            slope: d.slope,
            shape: config.image_shape(),
        })
    }

    fn forward_t(&self, (x, labels): Self::Input<'_>, train: bool) -> Result<Tensor> {
        let batch = check_images(x, self.shape)?;
        let labels = match &self.projection {
            Some(p) => Some(p.labels(labels, batch)?),
            None => None,
        };
        let (w1, w2, w3) = match &self.spectral {
            Some([s1, s2, s3]) => (
                s1.normalise(&self.conv1.weight, train)?,
                s2.normalise(&self.conv2.weight, train)?,
                s3.normalise(&self.conv3.weight, train)?,
            ),
            None => (
                self.conv1.weight.shallow_clone(),
                self.conv2.weight.shallow_clone(),
                self.conv3.weight.shallow_clone(),
            ),
        };
        // Under bf16 autocast the hidden activations stay bf16 up to the logit (f32).
        let h = leaky_relu(&self.conv1.forward_autocast_with(x, &w1)?, self.slope)?;
        let h = self.conv2.forward_autocast_with(&h, &w2)?;
        let h = match &self.norm2 {
            Norm::Batch(bn) => bn.forward_t(&h, train)?,
            Norm::Layer(ln) => ln.forward(&h.f_to_kind(Kind::Float)?)?,
            Norm::None => h,
        };
        let h = leaky_relu(&h, self.slope)?;
        let logit = uncast(
            self.conv3.forward_autocast_with(&h, &w3)?,
            autocast_kind_for(&h),
        )?
        .f_reshape([batch])?;
        match (&self.projection, labels) {
            (Some(p), Some(labels)) => p.add(&logit, &h, labels),
            _ => Ok(logit),
        }
    }
}

impl Generator for DcganGenerator {
    fn latent_dim(&self) -> i64 {
        self.latent_dim
    }
    fn num_classes(&self) -> Option<i64> {
        self.label_input.as_ref().map(LabelInput::classes)
    }
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (z, labels), train)
    }
}

impl Discriminator for DcganDiscriminator {
    fn num_classes(&self) -> Option<i64> {
        self.projection.as_ref().map(Projection::classes)
    }
    fn per_sample(&self) -> bool {
        !matches!(self.norm2, Norm::Batch(_))
    }
    fn forward_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (x, labels), train)
    }
}

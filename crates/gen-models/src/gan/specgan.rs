//! SpecGAN (Donahue et al. 2019): DCGAN-style generator and discriminator, deepened to reach
//! 128x128 spectrogram images from a 4x4 start, and its class-conditional variant (the
//! conditional DCGAN's label embedding and projection).

use super::conditioning::{LabelInput, Projection};
use super::{Discriminator, DiscriminatorNorm, GanConfig, Generator, check_images, check_latent};
use crate::conv::{BatchNorm2d, Conv2d, ConvConfig, ConvTranspose2d, GroupNorm, Init, leaky_relu};
use crate::{Module, Result};
use tch::{Kind, Tensor, nn};

/// The number of stride-2 layers between 4x4 and `size x size`: `log2(size / 4)`.
pub(super) fn depth(size: i64) -> i64 {
    let mut layers = 0;
    let mut s = 4;
    while s < size {
        s *= 2;
        layers += 1;
    }
    layers
}

/// Channels after the 4x4 projection: `dim 2^(layers - 1)` (SpecGAN's `16 d` at 128x128).
fn top_channels(dim: i64, layers: i64) -> i64 {
    dim << (layers - 1).max(0)
}

/// The SpecGAN generator for `size x size` images, `L = log2(size / 4)` upsamplings:
///
/// `z -> ConvT(4) -> 4x4, 2^(L-1) d -> BN, ReLU -> [ConvT(4, 2, 1) -> BN, ReLU] x (L - 1),
/// halving the channels -> ConvT(4, 2, 1) -> size x size, channels -> tanh`.
///
/// At 128x128: 4x4x16d -> 8x8x8d -> 16x16x4d -> 32x32x2d -> 64x64xd -> 128x128. SpecGAN's
/// kernels are 5x5 with "same" padding; 4x4 with padding 1 keeps the sizes exact in
/// libtorch's transposed convolution. Weights `N(0, init_std)`.
///
/// Conditional: `z` is concatenated with a label embedding of `label_dim` first.
#[derive(Debug)]
pub struct SpecganGenerator {
    label_input: Option<LabelInput>,
    project: ConvTranspose2d,
    project_bn: BatchNorm2d,
    ups: Vec<(ConvTranspose2d, BatchNorm2d)>,
    last: ConvTranspose2d,
    latent_dim: i64,
}

impl Module for SpecganGenerator {
    type Config = GanConfig;
    /// `z` and labels (required when the config is conditional, else ignored).
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let s = &config.specgan;
        let init = Init::Normal { std: s.init_std };
        let layers = depth(config.image_size);
        let mut channels = top_channels(s.dim, layers);
        let label_input = if config.is_conditional() {
            Some(LabelInput::new(vs, config.num_classes, s.label_dim)?)
        } else {
            None
        };
        let project = ConvTranspose2d::new(
            &(vs / "project"),
            config.latent_dim + label_input.as_ref().map_or(0, LabelInput::dim),
            channels,
            ConvConfig::new(4, 1, 0).no_bias(),
            init,
        )?;
        let project_bn = BatchNorm2d::new(&(vs / "project_bn"), channels, init)?;
        let up = ConvConfig::new(4, 2, 1);
        let mut ups = Vec::new();
        for i in 1..layers {
            let conv = ConvTranspose2d::new(
                &(vs / format!("up{i}")),
                channels,
                channels / 2,
                up.no_bias(),
                init,
            )?;
            let bn = BatchNorm2d::new(&(vs / format!("bn{i}")), channels / 2, init)?;
            ups.push((conv, bn));
            channels /= 2;
        }
        let last = ConvTranspose2d::new(&(vs / "last"), channels, config.channels, up, init)?;
        Ok(SpecganGenerator {
            label_input,
            project,
            project_bn,
            ups,
            last,
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
        let mut xs = self
            .project_bn
            .forward_t(&self.project.forward_autocast(&xs)?, train)?
            .f_relu()?;
        for (conv, bn) in &self.ups {
            xs = bn
                .forward_t(&conv.forward_autocast(&xs)?, train)?
                .f_relu()?;
        }
        Ok(self.last.forward(&xs)?.f_tanh()?)
    }
}

/// The normalisation after one of the discriminator's hidden convolutions.
#[derive(Debug)]
enum Norm {
    Batch(BatchNorm2d),
    Layer(GroupNorm),
    None,
}

/// The SpecGAN discriminator, the generator's mirror: `[Conv(4, 2, 1) -> norm, LeakyReLU] x
/// L`, doubling the channels from `d` (no norm on the first), then `Conv(4)` on the 4x4 map
/// -> one score.
///
/// Conditional: adds the projection `<embed(y), sum_{i,j} h[:, :, i, j]>` of the last 4x4
/// map `h` to the score, with the class embedding drawn from `N(0, init_std)`.
#[derive(Debug)]
pub struct SpecganDiscriminator {
    downs: Vec<(Conv2d, Norm)>,
    last: Conv2d,
    projection: Option<Projection>,
    slope: f64,
    shape: [i64; 3],
}

impl Module for SpecganDiscriminator {
    type Config = GanConfig;
    /// Images and labels (required when the config is conditional, else ignored).
    type Input<'a> = (&'a Tensor, Option<&'a Tensor>);

    fn init(vs: &nn::Path<'_>, config: &GanConfig) -> Result<Self> {
        config.validate()?;
        let s = &config.specgan;
        let init = Init::Normal { std: s.init_std };
        let layers = depth(config.image_size);
        let down = ConvConfig::new(4, 2, 1);
        let mut downs = Vec::new();
        let (mut input, mut output) = (config.channels, s.dim);
        for i in 0..layers {
            let name = format!("down{i}");
            let (norm, conv_config) = match (i, s.d_norm) {
                (0, _) | (_, DiscriminatorNorm::None) => (Norm::None, down),
                (_, DiscriminatorNorm::Batch) => (
                    Norm::Batch(BatchNorm2d::new(&(vs / format!("norm{i}")), output, init)?),
                    down.no_bias(),
                ),
                (_, DiscriminatorNorm::Layer) => (
                    Norm::Layer(GroupNorm::new(&(vs / format!("norm{i}")), 1, output, init)?),
                    down.no_bias(),
                ),
            };
            downs.push((
                Conv2d::new(&(vs / name), input, output, conv_config, init)?,
                norm,
            ));
            input = output;
            output *= 2;
        }
        let last = Conv2d::new(&(vs / "last"), input, 1, ConvConfig::new(4, 1, 0), init)?;
        let projection = if config.is_conditional() {
            Some(Projection::new(vs, config.num_classes, input, s.init_std)?)
        } else {
            None
        };
        Ok(SpecganDiscriminator {
            downs,
            last,
            projection,
            slope: s.slope,
            shape: config.image_shape(),
        })
    }

    fn forward_t(&self, (x, labels): Self::Input<'_>, train: bool) -> Result<Tensor> {
        let batch = check_images(x, self.shape)?;
        let labels = match &self.projection {
            Some(p) => Some(p.labels(labels, batch)?),
            None => None,
        };
        let mut h = x.shallow_clone();
        for (conv, norm) in &self.downs {
            let c = conv.forward_autocast(&h)?;
            let c = match norm {
                Norm::Batch(bn) => bn.forward_t(&c, train)?,
                Norm::Layer(ln) => ln.forward(&c.f_to_kind(Kind::Float)?)?,
                Norm::None => c,
            };
            h = leaky_relu(&c, self.slope)?;
        }
        let score = self.last.forward(&h)?.f_reshape([batch])?;
        match (&self.projection, labels) {
            (Some(p), Some(labels)) => p.add(&score, &h, labels),
            _ => Ok(score),
        }
    }
}

impl Generator for SpecganGenerator {
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

impl Discriminator for SpecganDiscriminator {
    fn num_classes(&self) -> Option<i64> {
        self.projection.as_ref().map(Projection::classes)
    }
    fn per_sample(&self) -> bool {
        !self.downs.iter().any(|(_, n)| matches!(n, Norm::Batch(_)))
    }
    fn forward_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Module::forward_t(self, (x, labels), train)
    }
}

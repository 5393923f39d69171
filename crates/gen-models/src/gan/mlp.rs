//! The fully connected GAN (Goodfellow et al. 2014).

use super::{Discriminator, GanConfig, Generator, check_images, check_latent};
use crate::conv::leaky_relu;
use crate::layers::Linear;
use crate::{Module, Result};
use tch::{Tensor, nn};

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

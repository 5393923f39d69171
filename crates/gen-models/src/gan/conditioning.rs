//! The class conditioning shared by the conditional GANs (DCGAN and SpecGAN): a label
//! embedding concatenated with `z` in the generator, and a projection (Miyato & Koyama 2018)
//! in the discriminator.

use super::check_labels;
use crate::Result;
use crate::layers::Embedding;
use tch::{Kind, Tensor, nn};

/// The generator's side: `[z, embed(y)]`, with an `N(0, 1)` table `[classes, dim]` under
/// `vs / "label_embedding"`.
#[derive(Debug)]
pub(super) struct LabelInput {
    embedding: Embedding,
    classes: i64,
    dim: i64,
}

impl LabelInput {
    /// Creates the table.
    pub(super) fn new(vs: &nn::Path<'_>, classes: i64, dim: i64) -> Result<Self> {
        let embedding = Embedding::new(&(vs / "label_embedding"), classes, dim, None)?;
        Ok(LabelInput {
            embedding,
            classes,
            dim,
        })
    }

    /// The number of classes.
    pub(super) fn classes(&self) -> i64 {
        self.classes
    }

    /// The width it adds to `z`.
    pub(super) fn dim(&self) -> i64 {
        self.dim
    }

    /// `[z, embed(labels)]` `[batch, latent + dim]`, after checking the labels.
    pub(super) fn concat(&self, z: &Tensor, labels: Option<&Tensor>, batch: i64) -> Result<Tensor> {
        let labels = check_labels(labels, batch, self.classes)?;
        Ok(Tensor::f_cat(&[z, &self.embedding.forward(labels)?], 1)?)
    }
}

/// The discriminator's side: adds `<e(y), sum_{i,j} h[:, :, i, j]>` to the logit, with the
/// class table `e` `[classes, features]` drawn from `N(0, std)` under `vs / "label_embedding"`.
#[derive(Debug)]
pub(super) struct Projection {
    embedding: Tensor,
    classes: i64,
}

impl Projection {
    /// Creates the table for hidden maps of `features` channels.
    pub(super) fn new(vs: &nn::Path<'_>, classes: i64, features: i64, std: f64) -> Result<Self> {
        let embedding =
            (vs / "label_embedding").f_randn("weight", &[classes, features], 0.0, std)?;
        Ok(Projection { embedding, classes })
    }

    /// The number of classes.
    pub(super) fn classes(&self) -> i64 {
        self.classes
    }

    /// Checks the labels of a batch of `batch` inputs.
    pub(super) fn labels<'a>(&self, labels: Option<&'a Tensor>, batch: i64) -> Result<&'a Tensor> {
        check_labels(labels, batch, self.classes)
    }

    /// `logit [batch] + <e(labels), sum over space of h [batch, features, h, w]>`; `labels`
    /// as [`Projection::labels`] returned them.
    pub(super) fn add(&self, logit: &Tensor, h: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let pooled = h.f_sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Float)?;
        let e = self.embedding.f_index_select(0, labels)?;
        let projection = pooled.f_mul(&e)?.f_sum_dim_intlist(1, false, Kind::Float)?;
        Ok(logit.f_add(&projection)?)
    }
}

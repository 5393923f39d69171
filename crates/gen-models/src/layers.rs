//! Building blocks: linear and embedding layers on tch's fallible API, and the helpers that
//! run a layer in a [`gen_core::autocast`] scope's precision. (The GRU is [`crate::gru`].)
//!
//! Parameter names and initialisations follow PyTorch (`weight`, `bias`), so checkpoints map
//! one-to-one onto the PyTorch modules.

use crate::Result;
use crate::error::ensure_config;
use tch::{Kind, Tensor, nn};

/// A fully connected layer `y = x W^T + b`, initialised like PyTorch's `nn.Linear`
/// (both weight and bias uniform in `±1/sqrt(in)`).
#[derive(Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Tensor,
}

impl Linear {
    /// Creates the layer's variables under `vs`.
    pub fn new(vs: &nn::Path<'_>, input: i64, output: i64) -> Result<Self> {
        ensure_config(input > 0 && output > 0, "linear", || {
            format!("sizes must be positive, got {input} -> {output}")
        })?;
        let bound = 1.0 / (input as f64).sqrt();
        Ok(Linear {
            weight: vs.f_uniform("weight", &[output, input], -bound, bound)?,
            bias: vs.f_uniform("bias", &[output], -bound, bound)?,
        })
    }

    /// Applies the layer to the last dimension of `xs`.
    /// `xs W^T + b`; in bfloat16 inside a [`gen_core::autocast`] scope (the output is `f32`).
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let kind = autocast_kind_for(xs);
        uncast(
            cast(xs, kind)?.f_linear(&cast(&self.weight, kind)?, Some(&cast(&self.bias, kind)?))?,
            kind,
        )
    }
}

/// The kind a [`gen_core::autocast`] scope asks for, when `xs` is `f32` or already in that
/// kind (else `None`).
pub(crate) fn autocast_kind_for(xs: &Tensor) -> Option<Kind> {
    gen_core::autocast_kind().filter(|k| xs.kind() == Kind::Float || xs.kind() == *k)
}

/// `t` in `kind` (itself when `None`); autograd records the cast, so gradients come back in
/// `t`'s own kind.
pub(crate) fn cast(t: &Tensor, kind: Option<Kind>) -> Result<Tensor> {
    match kind {
        Some(k) => Ok(t.f_to_kind(k)?),
        None => Ok(t.shallow_clone()),
    }
}

/// A result computed in an autocast `kind`, back in `f32` (as is when `kind` is `None`).
pub(crate) fn uncast(t: Tensor, kind: Option<Kind>) -> Result<Tensor> {
    match kind {
        Some(_) => Ok(t.f_to_kind(Kind::Float)?),
        None => Ok(t),
    }
}

/// A lookup table of `num` vectors of size `dim`, initialised N(0, 1) like PyTorch's
/// `nn.Embedding`. The row at `padding_idx`, when given, starts at zero and gets no gradient.
#[derive(Debug)]
pub struct Embedding {
    /// `[num, dim]`.
    pub weight: Tensor,
    padding_idx: Option<i64>,
}

impl Embedding {
    /// Creates the table under `vs`.
    pub fn new(vs: &nn::Path<'_>, num: i64, dim: i64, padding_idx: Option<i64>) -> Result<Self> {
        ensure_config(num > 0 && dim > 0, "embedding", || {
            format!("sizes must be positive, got {num} x {dim}")
        })?;
        if let Some(p) = padding_idx {
            ensure_config((0..num).contains(&p), "embedding.padding_idx", || {
                format!("{p} is outside the vocabulary 0..{num}")
            })?;
        }
        let weight = vs.f_randn_standard("weight", &[num, dim])?;
        if let Some(p) = padding_idx {
            tch::no_grad(|| weight.f_get(p)?.f_zero_().map(|_| ()))?;
        }
        Ok(Embedding {
            weight,
            padding_idx,
        })
    }

    /// The table as a lookup reads it: equal to `weight`, with no gradient reaching the
    /// padding row.
    pub fn lookup_weight(&self) -> Result<Tensor> {
        match self.padding_idx {
            None => Ok(self.weight.shallow_clone()),
            Some(p) => {
                let rows = self.weight.size().first().copied().unwrap_or(0);
                let trained = Tensor::f_arange(rows, (Kind::Int64, self.weight.device()))?
                    .f_ne(p)?
                    .f_unsqueeze(1)?;
                Ok(self
                    .weight
                    .f_where_self(&trained, &self.weight.f_detach()?)?)
            }
        }
    }

    /// Looks up `ids` (any shape, int64) and appends the embedding dimension.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(Tensor::f_embedding(
            &self.weight,
            ids,
            self.padding_idx.unwrap_or(-1),
            false,
            false,
        )?)
    }
}

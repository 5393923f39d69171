//! Building blocks: linear, embedding and GRU layers on tch's fallible API.
//!
//! Parameter names and initialisations follow PyTorch (`weight`, `bias`, `weight_ih_l0`, ...),
//! so checkpoints map one-to-one onto the PyTorch modules.

use crate::error::ensure_config;
use crate::Result;
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

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
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_linear(&self.weight, Some(&self.bias))?)
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

/// Configuration of a [`Gru`] layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GruConfig {
    /// Number of stacked layers. Default: 1.
    pub num_layers: i64,
    /// Dropout between stacked layers (not after the last), during training. Default: 0.0.
    pub dropout: f64,
    /// Run a second GRU backwards and concatenate both. Default: false.
    pub bidirectional: bool,
}

impl Default for GruConfig {
    fn default() -> Self {
        GruConfig {
            num_layers: 1,
            dropout: 0.0,
            bidirectional: false,
        }
    }
}

/// A multi-layer GRU over batch-first sequences `[batch, time, features]`.
///
/// It wraps libtorch's fused GRU kernels (`gru`, and `gru_data` over packed sequences), with
/// PyTorch's parameter layout and `U(±1/sqrt(hidden))` initialisation. The wrapper exists so
/// that the implementation can be swapped for a faster one without touching the models.
#[derive(Debug)]
pub struct Gru {
    params: Vec<Tensor>,
    hidden: i64,
    config: GruConfig,
}

impl Gru {
    /// Creates the GRU's variables under `vs`.
    pub fn new(vs: &nn::Path<'_>, input: i64, hidden: i64, config: &GruConfig) -> Result<Self> {
        ensure_config(input > 0 && hidden > 0, "gru", || {
            format!("sizes must be positive, got input {input}, hidden {hidden}")
        })?;
        ensure_config(config.num_layers >= 1, "gru.num_layers", || {
            format!("must be at least 1, got {}", config.num_layers)
        })?;
        ensure_config((0.0..1.0).contains(&config.dropout), "gru.dropout", || {
            format!("must be in [0, 1), got {}", config.dropout)
        })?;
        let dirs = if config.bidirectional { 2 } else { 1 };
        let bound = 1.0 / (hidden as f64).sqrt();
        let mut params = Vec::new();
        for layer in 0..config.num_layers {
            let layer_in = if layer == 0 { input } else { hidden * dirs };
            for dir in 0..dirs {
                let suffix = if dir == 1 { "_reverse" } else { "" };
                let name = |p: &str| format!("{p}_l{layer}{suffix}");
                params.push(vs.f_uniform(&name("weight_ih"), &[3 * hidden, layer_in], -bound, bound)?);
                params.push(vs.f_uniform(&name("weight_hh"), &[3 * hidden, hidden], -bound, bound)?);
                params.push(vs.f_uniform(&name("bias_ih"), &[3 * hidden], -bound, bound)?);
                params.push(vs.f_uniform(&name("bias_hh"), &[3 * hidden], -bound, bound)?);
            }
        }
        Ok(Gru {
            params,
            hidden,
            config: config.clone(),
        })
    }

    /// The size of each output step: `hidden`, or `2 * hidden` when bidirectional.
    pub fn output_size(&self) -> i64 {
        if self.config.bidirectional {
            2 * self.hidden
        } else {
            self.hidden
        }
    }

    fn state_rows(&self) -> i64 {
        self.config.num_layers * if self.config.bidirectional { 2 } else { 1 }
    }

    /// A zero initial state `[layers * directions, batch, hidden]`.
    pub fn zero_state(&self, batch: i64, device: tch::Device) -> Result<Tensor> {
        Ok(Tensor::f_zeros(
            [self.state_rows(), batch, self.hidden],
            (Kind::Float, device),
        )?)
    }

    /// Runs over every step of `xs` `[batch, time, input]`, from `h0` (zeros when `None`).
    /// Returns the outputs `[batch, time, output_size]` and the final state.
    pub fn forward(&self, xs: &Tensor, h0: Option<&Tensor>, train: bool) -> Result<(Tensor, Tensor)> {
        let batch = batch_size(xs)?;
        let zero;
        let h0 = match h0 {
            Some(h) => h,
            None => {
                zero = self.zero_state(batch, xs.device())?;
                &zero
            }
        };
        Ok(xs.f_gru(
            h0,
            &self.params,
            true,
            self.config.num_layers,
            self.config.dropout,
            train,
            self.config.bidirectional,
            true,
        )?)
    }

    /// Runs over the first `lengths[b]` steps of each sequence `b` of `xs` only, through a
    /// packed sequence: padding after a sequence's end is never read and costs no compute.
    ///
    /// Returns the outputs `[batch, time, output_size]` (zero past each length) and the final
    /// state `[layers * directions, batch, hidden]`, taken at each sequence's last real step
    /// (for the backward direction: after reading back to the first step). Lengths below 1 are
    /// read as 1 and lengths above `time` as `time`.
    pub fn forward_packed(&self, xs: &Tensor, lengths: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let size = xs.size();
        let (batch, time) = match size.as_slice() {
            [b, t, _] => (*b, *t),
            _ => {
                return Err(crate::Error::Shape {
                    what: "gru input",
                    expected: "[batch, time, features]".into(),
                    got: size,
                })
            }
        };
        if lengths.size() != [batch] {
            return Err(crate::Error::Shape {
                what: "gru lengths",
                expected: format!("[{batch}]"),
                got: lengths.size(),
            });
        }
        let lengths = lengths
            .f_to_kind(Kind::Int64)?
            .f_clamp(1, time.max(1))?
            .f_to_device(tch::Device::Cpu)?;
        // libtorch packs sequences sorted by decreasing length.
        let (sorted, order) = lengths.f_sort(0, true)?;
        let inverse = order.f_argsort(0, false)?;
        let device = xs.device();
        let xs_sorted = xs.f_index_select(0, &order.f_to_device(device)?)?;
        let (data, batch_sizes) = xs_sorted.f_internal_pack_padded_sequence(&sorted, true)?;
        let h0 = self.zero_state(batch, device)?;
        let (out_data, h_n) = Tensor::f_gru_data(
            &data,
            &batch_sizes,
            &h0,
            &self.params,
            true,
            self.config.num_layers,
            self.config.dropout,
            train,
            self.config.bidirectional,
        )?;
        let (out, _) =
            Tensor::f_internal_pad_packed_sequence(&out_data, &batch_sizes, true, 0.0, time)?;
        let inverse = inverse.f_to_device(device)?;
        Ok((
            out.f_index_select(0, &inverse)?,
            h_n.f_index_select(1, &inverse)?,
        ))
    }
}

fn batch_size(xs: &Tensor) -> Result<i64> {
    match xs.size().as_slice() {
        [b, _, _] => Ok(*b),
        _ => Err(crate::Error::Shape {
            what: "gru input",
            expected: "[batch, time, features]".into(),
            got: xs.size(),
        }),
    }
}

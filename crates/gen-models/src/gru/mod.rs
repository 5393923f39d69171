//! The GRU layer, [`Gru`], and everything that runs it.
//!
//! One public entry per input kind, both in `forward.rs`: [`Gru::forward`] reads features
//! `[batch, time, input]`, [`Gru::forward_tokens`] reads token ids through an [`Embedding`]
//! (`crate::layers::Embedding`) with per-sequence lengths. A [`GruMode`] says what the pass is
//! for; each entry's docs say when it takes the fast path and when it falls back. The files,
//! each with one job (dependencies run one way, from the top of this list down to this file):
//!
//! - `forward.rs`: the entries, and the driver that runs a stack's layers and directions over
//!   a padded batch, each recurrence under autograd or recorded;
//! - `taped.rs`: the recorded recurrence and its hand-written backpropagation through time
//!   ([`GruTapes`]), sharded over libtorch's threads;
//! - `stepper.rs`: one step at a time without autograd, for generation ([`GruStepper`]);
//! - `autograd.rs`: libtorch's fused `gru` op (the reference) and gen's step-by-step
//!   recurrence under autograd;
//! - `fused.rs`: the CPU kernels of one step's element-wise work (private);
//! - this file: the layer's parameters and the helpers the others share.
//!
//! Parameter names, layout and initialisation follow PyTorch's `nn.GRU` (`weight_ih_l0`,
//! `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, then `_reverse` and the next layers; gates
//! stacked reset, update, candidate; `U(±1/sqrt(hidden))`), so checkpoints map one-to-one.
//!
//! [`Embedding`]: crate::layers::Embedding

mod autograd;
mod forward;
mod fused;
mod stepper;
mod taped;

pub use forward::{GruMode, GruOutput};
pub use stepper::GruStepper;
pub use taped::GruTapes;

use crate::Result;
use crate::error::ensure_config;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

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

/// A multi-layer GRU over batch-first sequences, PyTorch's `nn.GRU(batch_first=True)`.
///
/// Run it with [`Gru::forward`] (features) or [`Gru::forward_tokens`] (token ids), and one step
/// at a time with [`Gru::stepper`].
#[derive(Debug)]
pub struct Gru {
    /// Per layer and direction: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
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
                params.push(vs.f_uniform(
                    &name("weight_ih"),
                    &[3 * hidden, layer_in],
                    -bound,
                    bound,
                )?);
                params.push(vs.f_uniform(
                    &name("weight_hh"),
                    &[3 * hidden, hidden],
                    -bound,
                    bound,
                )?);
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
        self.directions() as i64 * self.hidden
    }

    /// 2 when bidirectional, else 1.
    fn directions(&self) -> usize {
        if self.config.bidirectional { 2 } else { 1 }
    }

    /// A zero initial state `[layers * directions, batch, hidden]`, in the weights' kind.
    pub fn zero_state(&self, batch: i64, device: tch::Device) -> Result<Tensor> {
        let rows = self.config.num_layers * self.directions() as i64;
        let kind = match self.params.first() {
            Some(w) => w.f_kind()?,
            None => Kind::Float,
        };
        Ok(Tensor::f_zeros([rows, batch, self.hidden], (kind, device))?)
    }
}

/// The error of a parameter list that does not hold four tensors per layer and direction.
fn incomplete() -> crate::Error {
    crate::Error::Config {
        field: "gru",
        reason: "parameter list is incomplete".into(),
    }
}

/// `b_ih` plus `b_hh`'s reset and update parts: plain additions before the gates, so they
/// fold into the input projection's bias.
fn folded_bias(b_ih: &Tensor, b_hh: &Tensor, hidden: i64) -> Result<Tensor> {
    Ok(b_ih.f_add(&Tensor::f_cat(
        &[
            b_hh.f_narrow(0, 0, 2 * hidden)?,
            b_hh.f_narrow(0, 2 * hidden, hidden)?.f_zeros_like()?,
        ],
        0,
    )?)?)
}

/// `[0, 0, b_hn]`: the part of `b_hh` that stays with the recurrent product `h W_hh^T` (the
/// reset gate scales it); the other parts are in [`folded_bias`].
fn recurrent_bias(b_hh: &Tensor, hidden: i64) -> Result<Tensor> {
    Ok(Tensor::f_cat(
        &[
            b_hh.f_narrow(0, 0, 2 * hidden)?.f_zeros_like()?,
            b_hh.f_narrow(0, 2 * hidden, hidden)?,
        ],
        0,
    )?)
}

/// The ids occurring in `ids` (ascending, `[U]`) and, for each id, its row among them (shaped
/// like `ids`): a table built over the present ids serves `ids` through those rows, and every
/// product and scatter on it shrinks with the batch's vocabulary. A presence mask and a row
/// map, O(vocab + tokens); libtorch's `unique` with inverse indices took 160 ms on 32k ids.
fn present_rows(ids: &Tensor, vocab: i64) -> Result<(Tensor, Tensor)> {
    tch::no_grad(|| {
        let flat = ids.f_reshape([-1])?;
        let opts = (Kind::Int64, ids.device());
        let present = Tensor::f_zeros([vocab], (Kind::Bool, ids.device()))?
            .f_index_fill_(0, &flat, 1)?
            .f_nonzero()?
            .f_reshape([-1])?;
        let count = present.size().first().copied().unwrap_or(0);
        let map = Tensor::f_zeros([vocab], opts)?.f_index_copy(
            0,
            &present,
            &Tensor::f_arange(count, opts)?,
        )?;
        let rows = map.f_index_select(0, &flat)?.f_reshape(ids.size())?;
        Ok((present, rows))
    })
}

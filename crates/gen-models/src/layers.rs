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
    pub fn forward(
        &self,
        xs: &Tensor,
        h0: Option<&Tensor>,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
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
    pub fn forward_packed(
        &self,
        xs: &Tensor,
        lengths: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
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
    /// Runs over the first `lengths[b]` steps of each sequence `b` of `xs` `[batch, time,
    /// input]`, with gen's own recurrence: the input projection of every step is ONE matrix
    /// product (`[batch * time, input] x [input, 3 * hidden]`), leaving only `h W_hh^T` in the
    /// loop, and a sequence's state is frozen past its length. Reverse directions read each
    /// sequence backwards from its own last real step.
    ///
    /// Same results as [`Gru::forward_packed`] (tested within 1e-5), without libtorch's
    /// packed-sequence kernels, whose CPU backward is several times slower. Lengths are
    /// clamped to `[1, time]`.
    pub fn forward_masked(
        &self,
        xs: &Tensor,
        lengths: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
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
        let device = xs.device();
        let lengths = lengths
            .f_to_kind(Kind::Int64)?
            .f_clamp(1, time.max(1))?
            .f_to_device(device)?;
        let steps = Tensor::f_arange(time, (Kind::Int64, device))?.f_unsqueeze(0)?;
        let lens = lengths.f_unsqueeze(1)?;
        let valid = steps.f_lt_tensor(&lens)?; // [B, T]
        let all_full = lengths.f_min()?.f_int64_value(&[])? == time;
        let mask = if all_full {
            None
        } else {
            Some(valid.f_to_kind(xs.kind())?.f_unsqueeze(2)?)
        };
        // rev[b, t] = len_b - 1 - t inside the sequence, t past it: an involution.
        let rev = lens
            .f_sub_scalar(1)?
            .f_sub(&steps)?
            .f_where_self(&valid, &steps.f_expand([batch, time], false)?)?;
        let dirs = if self.config.bidirectional { 2 } else { 1 };
        let mut input = xs.shallow_clone();
        let mut finals = Vec::with_capacity((self.config.num_layers * dirs) as usize);
        let mut params = self.params.iter();
        for layer in 0..self.config.num_layers {
            let mut outs = Vec::with_capacity(dirs as usize);
            for dir in 0..dirs {
                let (Some(w_ih), Some(w_hh), Some(b_ih), Some(b_hh)) =
                    (params.next(), params.next(), params.next(), params.next())
                else {
                    return Err(crate::Error::Config {
                        field: "gru",
                        reason: "parameter list is incomplete".into(),
                    });
                };
                let x = if dir == 1 {
                    gather_time(&input, &rev)?
                } else {
                    input.shallow_clone()
                };
                let (out, h) = self.recur(&x, mask.as_ref(), w_ih, w_hh, b_ih, b_hh)?;
                outs.push(if dir == 1 {
                    gather_time(&out, &rev)?
                } else {
                    out
                });
                finals.push(h);
            }
            input = if dirs == 2 {
                Tensor::f_cat(&outs, 2)?
            } else {
                outs.swap_remove(0)
            };
            if layer + 1 < self.config.num_layers {
                input = input.f_dropout(self.config.dropout, train)?;
            }
        }
        Ok((input, Tensor::f_stack(&finals, 0)?))
    }

    /// One direction of one layer; returns all outputs `[B, T, H]` and the final state.
    fn recur(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        w_ih: &Tensor,
        w_hh: &Tensor,
        b_ih: &Tensor,
        b_hh: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let size = xs.size();
        let (batch, time) = (size[0], size[1]);
        let h2 = 2 * self.hidden;
        // [B, T, 3H]: one GEMM for every step. Unbinding once (rather than selecting per step)
        // keeps the backward pass linear in T: select's backward would zero-fill all of gi.
        let gis = xs.f_linear(w_ih, Some(b_ih))?.f_unbind(1)?;
        let w_hh_t = w_hh.f_transpose(0, 1)?;
        let mut h = Tensor::f_zeros([batch, self.hidden], (xs.kind(), xs.device()))?;
        let mut outs = Vec::with_capacity(time as usize);
        for (t, git) in gis.iter().enumerate() {
            let t = t as i64;
            let gh = b_hh.f_addmm(&h, &w_hh_t)?;
            let rz = git
                .f_narrow(1, 0, h2)?
                .f_add(&gh.f_narrow(1, 0, h2)?)?
                .f_sigmoid()?;
            let r = rz.f_narrow(1, 0, self.hidden)?;
            let z = rz.f_narrow(1, self.hidden, self.hidden)?;
            let n = git
                .f_narrow(1, h2, self.hidden)?
                .f_add(&r.f_mul(&gh.f_narrow(1, h2, self.hidden)?)?)?
                .f_tanh()?;
            // h' = (1 - z) n + z h = n + z (h - n)
            let h_new = n.f_add(&z.f_mul(&h.f_sub(&n)?)?)?;
            h = match mask {
                None => h_new,
                // Past its length a sequence keeps its state.
                Some(m) => {
                    let m = m.f_select(1, t)?;
                    h.f_add(&m.f_mul(&h_new.f_sub(&h)?)?)?
                }
            };
            outs.push(match mask {
                None => h.shallow_clone(),
                Some(m) => h.f_mul(&m.f_select(1, t)?)?,
            });
        }
        Ok((Tensor::f_stack(&outs, 1)?, h))
    }
}

/// Reorders the time axis of `xs` `[B, T, F]` per row: `out[b, t] = xs[b, index[b, t]]`.
fn gather_time(xs: &Tensor, index: &Tensor) -> Result<Tensor> {
    let size = xs.size();
    let idx = index
        .f_unsqueeze(2)?
        .f_expand([size[0], size[1], size[2]], false)?;
    Ok(xs.f_gather(1, &idx, false)?)
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

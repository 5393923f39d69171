//! Building blocks: linear, embedding and GRU layers on tch's fallible API.
//!
//! Parameter names and initialisations follow PyTorch (`weight`, `bias`, `weight_ih_l0`, ...),
//! so checkpoints map one-to-one onto the PyTorch modules.

use crate::Result;
use crate::error::ensure_config;
use crate::fused;
use crate::tape;
pub use crate::tape::{GruTape, GruTapes};
use serde::{Deserialize, Serialize};
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
        let (batch, _) = batch_time(xs)?;
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
                });
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
    /// loop. Reverse directions read each sequence backwards from its own last real step.
    ///
    /// Same results as [`Gru::forward_packed`] (tested within 1e-5), without libtorch's
    /// packed-sequence kernels, whose CPU backward is several times slower. Returns the outputs
    /// `[batch, time, output_size]` (zero past each length) and the state at each sequence's
    /// last real step. Lengths are clamped to `[1, time]`.
    pub fn forward_masked(
        &self,
        xs: &Tensor,
        lengths: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (batch, time) = batch_time(xs)?;
        self.run_masked(FirstInput::Features(xs), batch, time, lengths, train)
    }

    /// [`Gru::forward_masked`] over `embedding.forward(tokens)`, computed without the
    /// embedded sequence: the first layer's input projection of a token is a row of the table
    /// `E W_ih^T + b_ih` over the ids present in `tokens` (at most `[vocab, 3 * hidden]`), so
    /// one `[present, dim] x [dim, 3 * hidden]` product and a row gather replace the
    /// `[batch * time, dim] x [dim, 3 * hidden]` product, and the backward pass scatters into
    /// the table instead of running two more such products. That pays when `vocab <= batch *
    /// time` (the seed model: 10,000 <= 32,768);
    /// otherwise this embeds the tokens first. Either way the padding row gets no gradient, as
    /// in [`Embedding::forward`].
    ///
    /// Without autograd (under `tch::no_grad`), it runs the recorded recurrences of
    /// [`Gru::forward_tokens_taped`], sharded over threads.
    pub fn forward_tokens(
        &self,
        embedding: &Embedding,
        tokens: &Tensor,
        lengths: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (batch, time) = self.token_shape(embedding, tokens)?;
        if !grad_enabled()? {
            // Inference: the recorded (sharded) recurrence, when this GRU has one.
            if let Some((out, h_n, _)) = self.tokens_stack(embedding, tokens, lengths, train)? {
                return Ok((out, h_n));
            }
        }
        let vocab = embedding.weight.size().first().copied().unwrap_or(0);
        if vocab > batch * time {
            let xs = embedding.forward(tokens)?;
            return self.run_masked(FirstInput::Features(&xs), batch, time, lengths, train);
        }
        let (present, rows) = present_rows(tokens, vocab)?;
        let first = FirstInput::Tokens {
            table: embedding.lookup_weight()?.f_index_select(0, &present)?,
            tokens: &rows,
        };
        self.run_masked(first, batch, time, lengths, train)
    }

    /// [`Gru::forward_tokens`] for training with hand-written backward passes, for a GRU of
    /// any depth and direction (`None` only without steps).
    ///
    /// Each layer's recurrence runs without autograd, per direction; the returned outputs and
    /// final states hang off one recorded leaf per layer and direction. The first layer reads
    /// the tokens as [`Gru::forward_tokens`] does (a gather from the projected embedding
    /// table); each layer above projects the one below's outputs (after the dropout between
    /// layers) in one GEMM under autograd. A reverse direction reads each sequence backwards
    /// from its own last real step (a gather of the ids or inputs, undone on its outputs).
    /// Every direction runs all `time` steps: a recurrence is causal, so the steps past a
    /// sequence's length change nothing that is read (the outputs are zeroed there, the final
    /// states are taken at the last real step). After back-propagating a
    /// loss computed from them, call [`GruTapes::backward`]: per layer, backpropagation
    /// through time by hand (per step one `[B, 3H] x [3H, H]` product and one fused
    /// element-wise pass, no autograd bookkeeping), `W_hh`'s gradient as ONE `[3H, T*B] x
    /// [T*B, H]` product, and the gradients passed into the variables. Same gradients as the
    /// autograd path (tested within 1e-5 for 1-3 layers, both directions); forgetting `backward` leaves the
    /// GRU's and the embedding's gradients unset.
    pub fn forward_tokens_taped(
        &self,
        embedding: &Embedding,
        tokens: &Tensor,
        lengths: &Tensor,
    ) -> Result<Option<(Tensor, Tensor, GruTapes)>> {
        self.tokens_stack(embedding, tokens, lengths, true)
    }

    /// [`Gru::forward_tokens_taped`] with the dropout between layers on or off (`train`).
    fn tokens_stack(
        &self,
        embedding: &Embedding,
        tokens: &Tensor,
        lengths: &Tensor,
        train: bool,
    ) -> Result<Option<(Tensor, Tensor, GruTapes)>> {
        let (batch, time) = self.token_shape(embedding, tokens)?;
        if time == 0 {
            return Ok(None);
        }
        let lens = self.checked_lengths(lengths, batch, time, tokens.device())?;
        let first = TapedInput::Tokens { embedding, tokens };
        self.record_stack(first, &lens, (batch, time), train)
            .map(Some)
    }

    /// Records every layer and direction over `first`, reading each sequence to its clamped
    /// length in `lens` `[B]`; returns the top layer's outputs (zeroed past each length),
    /// every layer's and direction's final state, and the tapes.
    fn record_stack(
        &self,
        first: TapedInput<'_>,
        lens: &Tensor,
        (batch, time): (i64, i64),
        train: bool,
    ) -> Result<(Tensor, Tensor, GruTapes)> {
        let rev = reversal(lens, time)?;
        let dirs = if self.config.bidirectional { 2 } else { 1 };
        let mut params = self.params.chunks(4);
        let (mut tapes, mut finals) = (Vec::new(), Vec::new());
        // The input of the layer to record; `None` while it is the first layer's tokens.
        let mut below = match first {
            TapedInput::Features(xs) => Some(xs.shallow_clone()),
            TapedInput::Tokens { .. } => None,
        };
        for layer in 0..self.config.num_layers {
            let mut outs = Vec::with_capacity(dirs);
            let mut layer_tapes = Vec::with_capacity(dirs);
            for dir in 0..dirs {
                let params = params.next().ok_or_else(incomplete)?;
                // A reverse direction reads each sequence backwards from its last real step.
                let reversed = |x: &Tensor| -> Result<Tensor> {
                    if dir == 1 {
                        gather_time(x, &rev)
                    } else {
                        Ok(x.shallow_clone())
                    }
                };
                let tape = match (&below, &first) {
                    (Some(x), _) => self.record_projected(params, &reversed(x)?, time, batch)?,
                    (None, TapedInput::Tokens { embedding, tokens }) => {
                        let ids = if dir == 1 {
                            tokens.f_gather(1, &rev, false)?
                        } else {
                            tokens.shallow_clone()
                        };
                        self.record_tokens(embedding, params, &ids, batch, time)?
                    }
                    (None, TapedInput::Features(_)) => return Err(incomplete()),
                };
                finals.push(last_step(&tape.leaf, lens)?);
                outs.push(reversed(&tape.leaf)?);
                layer_tapes.push(tape);
            }
            tapes.push(layer_tapes);
            let mut out = if dirs == 2 {
                Tensor::f_cat(&outs, 2)?
            } else {
                outs.pop().ok_or_else(incomplete)?
            };
            if layer + 1 < self.config.num_layers {
                out = out.f_dropout(self.config.dropout, train)?;
            }
            below = Some(out);
        }
        let top = below.ok_or_else(incomplete)?;
        Ok((
            zero_past(&top, lens)?,
            Tensor::f_stack(&finals, 0)?,
            GruTapes(tapes),
        ))
    }

    /// [`Gru::forward`] from a zero state, for training with hand-written backward passes, for
    /// a one-direction GRU of any depth (`None` when bidirectional or without steps). Each
    /// layer projects its input (the features, then the layer below's outputs after the
    /// dropout between layers) in one GEMM under autograd and records its recurrence as
    /// [`Gru::forward_tokens_taped`] does. After back-propagating a loss computed from the
    /// outputs `[B, T, H]` and final states `[layers, B, H]`, call [`GruTapes::backward`].
    /// Same outputs and gradients as [`Gru::forward`] (tested within 1e-5 without dropout).
    pub fn forward_taped(
        &self,
        xs: &Tensor,
        train: bool,
    ) -> Result<Option<(Tensor, Tensor, GruTapes)>> {
        let (batch, time) = batch_time(xs)?;
        if self.config.bidirectional || time == 0 {
            return Ok(None);
        }
        // Every sequence is read to the end.
        let lens = Tensor::f_full([batch], time, (Kind::Int64, xs.device()))?;
        let first = TapedInput::Features(xs);
        self.record_stack(first, &lens, (batch, time), train)
            .map(Some)
    }

    /// One layer's taped recurrence over `input` `[B, T, features]`: its time-major input
    /// projections `[T * B, 3H]` (`b_hh`'s reset and update parts folded in) in one GEMM under
    /// autograd, then the recorded recurrence.
    fn record_projected(
        &self,
        params: &[Tensor],
        input: &Tensor,
        time: i64,
        batch: i64,
    ) -> Result<GruTape> {
        let [w_ih, w_hh, b_ih, b_hh] = params else {
            return Err(incomplete());
        };
        let hidden = self.hidden;
        let features = input.size().last().copied().unwrap_or(0);
        let gi = input
            .f_transpose(0, 1)?
            .f_reshape([-1, features])?
            .f_linear(w_ih, Some(&folded_bias(b_ih, b_hh, hidden)?))?;
        let source = tape::Input::Projections(gi);
        let steps = tch::no_grad(|| tape::record(&source, (time, batch), w_hh, b_hh, hidden))?;
        GruTape::new(steps, source, w_hh, b_hh)
    }

    /// The first layer's taped recurrence (one direction, `params`) over `tokens` `[B, T]`,
    /// recorded without autograd.
    fn record_tokens(
        &self,
        embedding: &Embedding,
        params: &[Tensor],
        tokens: &Tensor,
        batch: i64,
        time: i64,
    ) -> Result<GruTape> {
        let hidden = self.hidden;
        let [w_ih, w_hh, b_ih, b_hh] = params else {
            return Err(incomplete());
        };
        let bias = folded_bias(b_ih, b_hh, hidden)?;
        // What the input projections come from, and what the tape back-propagates into: the
        // table over the present ids (scattering the gradient into its rows is cheaper than
        // back-propagating a [T, B, 3H] gather), or the projections themselves.
        let ids = tokens.f_transpose(0, 1)?.f_reshape([-1])?;
        let vocab = embedding.weight.size().first().copied().unwrap_or(0);
        let input = if vocab <= batch * time {
            let (present, rows) = present_rows(&ids, vocab)?;
            let table = embedding
                .lookup_weight()?
                .f_index_select(0, &present)?
                .f_linear(w_ih, Some(&bias))?;
            tape::Input::Table { table, ids: rows }
        } else {
            tape::Input::Projections(embedding.forward(&ids)?.f_linear(w_ih, Some(&bias))?)
        };
        let steps = tch::no_grad(|| tape::record(&input, (time, batch), w_hh, b_hh, hidden))?;
        GruTape::new(steps, input, w_hh, b_hh)
    }

    /// `(batch, time)` of token ids `[batch, time]`, checked against `embedding`'s size.
    fn token_shape(&self, embedding: &Embedding, tokens: &Tensor) -> Result<(i64, i64)> {
        let dim = embedding.weight.size().get(1).copied();
        let input = self.params.first().and_then(|w| w.size().get(1).copied());
        if input != dim {
            return Err(crate::Error::Shape {
                what: "gru input (embedding size)",
                expected: format!("{input:?}"),
                got: embedding.weight.size(),
            });
        }
        match tokens.size().as_slice() {
            [batch, time] => Ok((*batch, *time)),
            _ => Err(crate::Error::Shape {
                what: "gru tokens",
                expected: "[batch, time]".into(),
                got: tokens.size(),
            }),
        }
    }

    /// Lengths as int64 on `device`, checked against `[batch]` and clamped to `[1, time]`.
    fn checked_lengths(
        &self,
        lengths: &Tensor,
        batch: i64,
        time: i64,
        device: tch::Device,
    ) -> Result<Tensor> {
        if lengths.size() != [batch] {
            return Err(crate::Error::Shape {
                what: "gru lengths",
                expected: format!("[{batch}]"),
                got: lengths.size(),
            });
        }
        Ok(lengths
            .f_to_kind(Kind::Int64)?
            .f_clamp(1, time.max(1))?
            .f_to_device(device)?)
    }

    fn run_masked(
        &self,
        first: FirstInput<'_>,
        batch: i64,
        time: i64,
        lengths: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let device = match &first {
            FirstInput::Features(xs) => xs.device(),
            FirstInput::Tokens { tokens, .. } => tokens.device(),
        };
        let lengths = self.checked_lengths(lengths, batch, time, device)?;
        let rev = reversal(&lengths, time)?;
        let dirs = if self.config.bidirectional { 2 } else { 1 };
        let mut input: Option<Tensor> = None;
        let mut finals = Vec::with_capacity((self.config.num_layers * dirs) as usize);
        let mut params = self.params.iter();
        for layer in 0..self.config.num_layers {
            let mut outs = Vec::with_capacity(dirs as usize);
            for dir in 0..dirs {
                let (Some(w_ih), Some(w_hh), Some(b_ih), Some(b_hh)) =
                    (params.next(), params.next(), params.next(), params.next())
                else {
                    return Err(incomplete());
                };
                let bias = folded_bias(b_ih, b_hh, self.hidden)?;
                // Time-major projections [T, B, 3H], so that each step's slice is contiguous.
                let gi = match (input.as_ref(), &first) {
                    (Some(x), _) | (None, &FirstInput::Features(x)) => {
                        let x = if dir == 1 {
                            gather_time(x, &rev)?
                        } else {
                            x.shallow_clone()
                        };
                        x.f_transpose(0, 1)?.f_linear(w_ih, Some(&bias))?
                    }
                    (None, FirstInput::Tokens { table, tokens }) => {
                        let ids = if dir == 1 {
                            tokens.f_gather(1, &rev, false)?
                        } else {
                            tokens.shallow_clone()
                        };
                        let table = table.f_linear(w_ih, Some(&bias))?;
                        table
                            .f_index_select(0, &ids.f_transpose(0, 1)?.f_reshape([-1])?)?
                            .f_reshape([time, batch, 3 * self.hidden])?
                    }
                };
                let out = self.recur(&gi, w_hh, b_hh)?; // [B, T, H]
                finals.push(last_step(&out, &lengths)?);
                outs.push(if dir == 1 {
                    gather_time(&out, &rev)?
                } else {
                    out
                });
            }
            let mut layer_out = if dirs == 2 {
                Tensor::f_cat(&outs, 2)?
            } else {
                outs.swap_remove(0)
            };
            if layer + 1 < self.config.num_layers {
                layer_out = layer_out.f_dropout(self.config.dropout, train)?;
            }
            input = Some(layer_out);
        }
        let Some(out) = input else {
            return Err(crate::Error::Config {
                field: "gru.num_layers",
                reason: "must be at least 1".into(),
            });
        };
        // Steps past a sequence's length ran on padding. They never feed its real steps (a
        // forward direction only runs later; a reverse one starts at each real end), so only
        // the returned outputs need zeroing.
        Ok((zero_past(&out, &lengths)?, Tensor::f_stack(&finals, 0)?))
    }

    /// One direction of one layer over time-major input projections `gi` `[T, B, 3H]` (with
    /// `b_hh`'s reset and update parts already added); returns every output `[B, T, H]`.
    /// Each step is a [`gru_cell`].
    fn recur(&self, gi: &Tensor, w_hh: &Tensor, b_hh: &Tensor) -> Result<Tensor> {
        let (hidden, h2) = (self.hidden, 2 * self.hidden);
        let batch = gi.size().get(1).copied().unwrap_or(0);
        // Unbinding once (rather than selecting per step) keeps the backward pass linear in
        // T: select's backward would zero-fill all of gi.
        let gis = gi.f_unbind(0)?;
        let w_rz = w_hh.f_narrow(0, 0, h2)?.f_transpose(0, 1)?;
        let w_n = w_hh.f_narrow(0, h2, hidden)?.f_transpose(0, 1)?;
        let b_n = b_hh.f_narrow(0, h2, hidden)?;
        let mut h = Tensor::f_zeros([batch, hidden], (gi.kind(), gi.device()))?;
        let mut outs = Vec::with_capacity(gis.len());
        for git in &gis {
            h = gru_cell(git, &h, &w_rz, &w_n, &b_n)?;
            outs.push(h.shallow_clone());
        }
        Ok(Tensor::f_stack(&outs, 1)?)
    }
}

/// One GRU step from the input projection `gi` `[B, 3H]` (with `b_hh`'s reset and update parts
/// already added) and the state `h` `[B, H]`, given `W_hrz^T` `[H, 2H]`, `W_hn^T` `[H, H]`
/// and `b_hn` `[H]`: `r, z = sigmoid(gi_rz + h W_hrz^T)`, `n = tanh(gi_n + r (h W_hn^T +
/// b_hn))`, `h' = n + z (h - n)`. Two matrix products and four element-wise kernels.
fn gru_cell(gi: &Tensor, h: &Tensor, w_rz: &Tensor, w_n: &Tensor, b_n: &Tensor) -> Result<Tensor> {
    let hidden = b_n.size().first().copied().unwrap_or(0);
    let rz = gi
        .f_narrow(1, 0, 2 * hidden)?
        .f_addmm(h, w_rz)?
        .f_sigmoid()?;
    let r = rz.f_narrow(1, 0, hidden)?;
    let z = rz.f_narrow(1, hidden, hidden)?;
    let n = gi
        .f_narrow(1, 2 * hidden, hidden)?
        .f_addcmul(&r, &b_n.f_addmm(h, w_n)?)?
        .f_tanh()?;
    Ok(n.f_lerp_tensor(h, &z)?)
}

/// A unidirectional [`Gru`] prepared for running one step at a time without autograd (token
/// by token generation): every weight matrix transposed and contiguous, `b_hh`'s reset and
/// update parts folded into the input bias, and layer 0's input projection left to the
/// caller, who can precompute it per token ([`GruStepper::input_table`]).
///
/// Each layer's step computes the GRU cell of [`Gru::forward_masked`]: on the CPU in f32 as
/// one GEMM and one fused element-wise pass, elsewhere with libtorch kernels.
#[derive(Debug)]
pub struct GruStepper {
    /// Per layer: `W_ih^T [in, 3H]` (unused for layer 0), folded input bias `[3H]`,
    /// `W_hh^T [H, 3H]`, `[0, 0, b_hn] [3H]`.
    layers: Vec<[Tensor; 4]>,
}

impl Gru {
    /// The weights as of now, prepared for [`GruStepper::step`]. Errors for a bidirectional
    /// GRU (it must read the whole sequence).
    pub fn stepper(&self) -> Result<GruStepper> {
        if self.config.bidirectional {
            return Err(crate::Error::Config {
                field: "gru.bidirectional",
                reason: "a bidirectional GRU cannot run one step at a time".into(),
            });
        }
        let hidden = self.hidden;
        tch::no_grad(|| {
            self.params
                .chunks(4)
                .map(|p| {
                    let [w_ih, w_hh, b_ih, b_hh] = p else {
                        return Err(incomplete());
                    };
                    let t = |w: &Tensor| -> Result<Tensor> {
                        Ok(w.f_detach()?.f_transpose(0, 1)?.f_contiguous()?)
                    };
                    let b_hh = b_hh.f_detach()?;
                    let b_n = recurrent_bias(&b_hh, hidden)?;
                    Ok([
                        t(w_ih)?,
                        folded_bias(b_ih, &b_hh, hidden)?.f_detach()?,
                        t(w_hh)?,
                        b_n,
                    ])
                })
                .collect::<Result<Vec<_>>>()
        })
        .map(|layers| GruStepper { layers })
    }
}

impl GruStepper {
    /// Layer 0's input projection of every row of `inputs` `[V, in]` (e.g. an embedding
    /// table): `inputs W_ih^T + b` `[V, 3H]`, ready for [`GruStepper::step`].
    pub fn input_table(&self, inputs: &Tensor) -> Result<Tensor> {
        let [w_ih_t, bias, ..] = self.layers.first().ok_or_else(incomplete)?;
        Ok(tch::no_grad(|| bias.f_addmm(inputs, w_ih_t))?)
    }

    /// One step of every layer. `gi0` `[N, 3H]` is layer 0's input projection (rows of
    /// [`GruStepper::input_table`]); `state` holds each layer's `[N, H]`, and is replaced by
    /// the new one. Returns the top layer's output (its new state).
    pub fn step(&self, gi0: &Tensor, state: &mut [Tensor]) -> Result<Tensor> {
        if state.len() != self.layers.len() {
            return Err(crate::Error::Shape {
                what: "gru step state",
                expected: format!("{} layers", self.layers.len()),
                got: vec![state.len() as i64],
            });
        }
        tch::no_grad(|| {
            let mut gi = gi0.f_contiguous()?;
            for (layer, ([w_ih_t, bias, w_hh_t, b_n], h)) in
                self.layers.iter().zip(state.iter_mut()).enumerate()
            {
                if layer > 0 {
                    gi = bias.f_addmm(&gi, w_ih_t)?;
                }
                let hidden = h.size().last().copied().unwrap_or(0);
                if (h.kind(), h.device()) == (Kind::Float, tch::Device::Cpu) {
                    // One GEMM and one fused pass (`crate::fused`) instead of two GEMMs and
                    // four kernels.
                    let (h_prev, gh) = (h.f_contiguous()?, b_n.f_addmm(h, w_hh_t)?);
                    let rows = h_prev.size().first().copied().unwrap_or(0);
                    let n = Tensor::f_empty_like(&h_prev)?;
                    let rz = Tensor::f_empty([rows, 2 * hidden], (Kind::Float, tch::Device::Cpu))?;
                    let ghn = Tensor::f_empty_like(&n)?;
                    *h = Tensor::f_empty_like(&n)?;
                    // SAFETY: all seven tensors are this call's own (fresh or made contiguous
                    // here) or the caller's inputs, and nothing else runs in this thread or
                    // holds the fresh ones while the views live.
                    #[allow(unsafe_code)]
                    let (inputs, outputs) = unsafe {
                        gen_core::slices::views([&gi, &gh, &h_prev], [&rz, &n, &ghn, &*h])
                    }?;
                    fused::gru_forward(inputs, outputs)?;
                } else {
                    let w_rz = w_hh_t.f_narrow(1, 0, 2 * hidden)?;
                    let w_n = w_hh_t.f_narrow(1, 2 * hidden, hidden)?;
                    let b_hn = b_n.f_narrow(0, 2 * hidden, hidden)?;
                    *h = gru_cell(&gi, h, &w_rz, &w_n, &b_hn)?;
                }
                gi = h.shallow_clone();
            }
            Ok(gi)
        })
    }
}

fn incomplete() -> crate::Error {
    crate::Error::Config {
        field: "gru",
        reason: "parameter list is incomplete".into(),
    }
}

/// Whether autograd records operations in this thread (tch has no getter): an operation on
/// a tensor that requires grad yields one that requires grad only then.
fn grad_enabled() -> Result<bool> {
    let probe = Tensor::f_zeros([1], (Kind::Float, tch::Device::Cpu))?.f_set_requires_grad(true)?;
    Ok(probe.f_mul_scalar(1.0)?.requires_grad())
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
pub(crate) fn recurrent_bias(b_hh: &Tensor, hidden: i64) -> Result<Tensor> {
    Ok(Tensor::f_cat(
        &[
            b_hh.f_narrow(0, 0, 2 * hidden)?.f_zeros_like()?,
            b_hh.f_narrow(0, 2 * hidden, hidden)?,
        ],
        0,
    )?)
}

/// Each sequence's output at its last real step: `out` `[B, T, H]`, clamped `lens` `[B]`.
fn last_step(out: &Tensor, lens: &Tensor) -> Result<Tensor> {
    let size = out.size();
    let [batch, _, hidden] = size.as_slice() else {
        return Err(crate::Error::Shape {
            what: "gru outputs",
            expected: "[batch, time, hidden]".into(),
            got: size,
        });
    };
    let last = lens
        .f_sub_scalar(1)?
        .f_view([*batch, 1, 1])?
        .f_expand([*batch, 1, *hidden], false)?;
    Ok(out.f_gather(1, &last, false)?.f_squeeze_dim(1)?)
}

/// `out` `[B, T, H]` with the steps past each clamped length in `lens` `[B]` zeroed.
fn zero_past(out: &Tensor, lens: &Tensor) -> Result<Tensor> {
    let time = out.size().get(1).copied().unwrap_or(0);
    if lens.f_min()?.f_int64_value(&[])? == time {
        return Ok(out.shallow_clone());
    }
    let steps = Tensor::f_arange(time, (Kind::Int64, out.device()))?.f_unsqueeze(0)?;
    let valid = steps.f_lt_tensor(&lens.f_unsqueeze(1)?)?;
    Ok(out.f_mul(&valid.f_to_kind(out.kind())?.f_unsqueeze(2)?)?)
}

/// The first layer's input: features `[B, T, F]`, or token ids `[B, T]` into an embedding
/// table.
enum FirstInput<'a> {
    Features(&'a Tensor),
    Tokens { table: Tensor, tokens: &'a Tensor },
}

/// What [`Gru::forward_tokens_taped`] and [`Gru::forward_taped`] record the first layer over.
enum TapedInput<'a> {
    /// Token ids `[B, T]` into `embedding` (the projected-table path).
    Tokens {
        embedding: &'a Embedding,
        tokens: &'a Tensor,
    },
    /// Features `[B, T, F]`.
    Features(&'a Tensor),
}

/// `rev[b, t] = len_b - 1 - t` inside each sequence and `t` past it, for clamped `lens`
/// `[B]`: reading a sequence in `rev`'s order reads it backwards from its last real step,
/// and the same index undoes it (an involution).
fn reversal(lens: &Tensor, time: i64) -> Result<Tensor> {
    let batch = lens.size().first().copied().unwrap_or(0);
    let steps = Tensor::f_arange(time, (Kind::Int64, lens.device()))?.f_unsqueeze(0)?;
    let lens = lens.f_unsqueeze(1)?;
    let valid = steps.f_lt_tensor(&lens)?; // [B, T]
    Ok(lens
        .f_sub_scalar(1)?
        .f_sub(&steps)?
        .f_where_self(&valid, &steps.f_expand([batch, time], false)?)?)
}

/// Reorders the time axis of `xs` `[B, T, F]` per row: `out[b, t] = xs[b, index[b, t]]`.
fn gather_time(xs: &Tensor, index: &Tensor) -> Result<Tensor> {
    let size = xs.size();
    let idx = index
        .f_unsqueeze(2)?
        .f_expand([size[0], size[1], size[2]], false)?;
    Ok(xs.f_gather(1, &idx, false)?)
}

/// `(batch, time)` of a GRU input `[batch, time, features]`.
fn batch_time(xs: &Tensor) -> Result<(i64, i64)> {
    match xs.size().as_slice() {
        [b, t, _] => Ok((*b, *t)),
        _ => Err(crate::Error::Shape {
            what: "gru input",
            expected: "[batch, time, features]".into(),
            got: xs.size(),
        }),
    }
}

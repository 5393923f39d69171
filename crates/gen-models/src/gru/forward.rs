//! The public passes of a [`Gru`], one per input kind ([`Gru::forward`], [`Gru::forward_tokens`]),
//! and the driver that runs a stack's layers and directions over a padded batch, each
//! direction's recurrence either under autograd (`autograd.rs`) or recorded (`taped.rs`).

use super::autograd::{self, TokenTable};
use super::taped::{self, GruTape, GruTapes};
use super::{Gru, incomplete};
use crate::Result;
use crate::layers::Embedding;
use tch::{Device, Kind, Tensor};

/// What a GRU pass is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GruMode {
    /// Evaluation: no dropout between layers.
    Eval,
    /// Training under autograd: dropout between layers, and `loss.backward()` reaches every
    /// variable.
    Train,
    /// Training through the hand-written backward pass where the entry has one (see
    /// [`Gru::forward`] and [`Gru::forward_tokens`]), under autograd elsewhere: dropout
    /// between layers, and [`GruTapes::backward_after`] back-propagates the loss.
    Taped,
}

impl GruMode {
    /// [`GruMode::Train`] when `train`, else [`GruMode::Eval`].
    pub fn train(train: bool) -> Self {
        if train { GruMode::Train } else { GruMode::Eval }
    }
}

/// What a GRU pass returns.
#[derive(Debug)]
pub struct GruOutput {
    /// The top layer's outputs `[batch, time, output_size]`, zero past each sequence's length.
    pub outputs: Tensor,
    /// The final state `[layers * directions, batch, hidden]`, taken at each sequence's last
    /// real step (for a reverse direction: after reading back to the first step).
    pub state: Tensor,
    /// The backward passes to run by hand; empty unless the pass was [`GruMode::Taped`] and
    /// took the fast path.
    pub tapes: GruTapes,
}

impl Gru {
    /// Runs over every step of the features `xs` `[batch, time, input]`, from the state `h0`
    /// (zeros when `None`).
    ///
    /// **Fast path**: [`GruMode::Taped`] from a zero state, with f32 input and weights on the
    /// CPU, records each layer and direction without autograd: the input projections of all
    /// steps in ONE GEMM under autograd, then per step one `[B, H] x [H, 3H]` GEMM and one
    /// fused element-wise pass, the batch sharded over libtorch's threads. The returned
    /// [`GruOutput::tapes`] run backpropagation through time by hand after the loss's
    /// backward ([`GruTapes::backward_after`]). Same outputs and gradients as the fallback
    /// (tested within 1e-5 without dropout).
    ///
    /// **Fallback**: every other case ([`GruMode::Eval`], [`GruMode::Train`], a given `h0`,
    /// another kind or device) runs libtorch's fused `gru` op under autograd, with no tapes.
    pub fn forward(&self, xs: &Tensor, h0: Option<&Tensor>, mode: GruMode) -> Result<GruOutput> {
        let (batch, time) = batch_time(xs)?;
        if mode == GruMode::Taped && h0.is_none() && time > 0 && self.records(xs) {
            // Every sequence is read to the end.
            let lens = Tensor::f_full([batch], time, (Kind::Int64, xs.device()))?;
            let first = Source::Features(xs.shallow_clone());
            return self.run_stack(first, &lens, (batch, time), true, Recurrence::Recorded);
        }
        let (outputs, state) = self.libtorch(xs, h0, mode != GruMode::Eval)?;
        Ok(GruOutput {
            outputs,
            state,
            tapes: GruTapes::default(),
        })
    }

    /// Runs over `embedding.forward(tokens)` for token ids `tokens` `[batch, time]` (at least
    /// one step), reading each sequence `b` only to its length `lengths[b]` (clamped to `[1,
    /// time]`), from a zero state; a reverse direction reads each sequence backwards from its
    /// own last real step. Padding after a sequence's end never changes its outputs or state.
    ///
    /// The first layer never embeds the tokens when `vocab <= batch * time` (the seed model:
    /// 10,000 <= 32,768): a token's input projection is a row of the table `E W_ih^T + b`
    /// over the ids present in `tokens`, so one `[present, dim] x [dim, 3 * hidden]` product
    /// and a row gather replace the `[batch * time, dim] x [dim, 3 * hidden]` product, and the
    /// backward pass scatters into the table. Larger vocabularies embed the tokens first.
    /// Either way the padding row gets no gradient, as in [`Embedding::forward`].
    ///
    /// **Fast path**: with f32 weights and embedding on the CPU, [`GruMode::Taped`], and
    /// any mode under `tch::no_grad` (inference), record each layer and direction without
    /// autograd, per step one `[B, H] x [H, 3H]` GEMM and one fused element-wise pass, the
    /// batch sharded over libtorch's threads; every direction runs all `time` steps (a
    /// recurrence is causal, so steps past a length change nothing that is read). Only
    /// `Taped` returns [`GruOutput::tapes`]: backpropagation through time by hand, after the
    /// loss's backward ([`GruTapes::backward_after`]). Same outputs and gradients as the
    /// fallback (tested within 1e-5 for 1-3 layers, both directions, ragged lengths).
    ///
    /// **Fallback**: otherwise ([`GruMode::Eval`] or [`GruMode::Train`] with autograd on,
    /// another kind or device), gen's own recurrence under autograd, per step two GEMMs and
    /// four element-wise kernels, with no tapes (libtorch's packed-sequence kernels give the
    /// same results, tested, but their CPU backward is several times slower).
    pub fn forward_tokens(
        &self,
        embedding: &Embedding,
        tokens: &Tensor,
        lengths: &Tensor,
        mode: GruMode,
    ) -> Result<GruOutput> {
        let (batch, time) = self.token_shape(embedding, tokens)?;
        let lens = checked_lengths(lengths, batch, time, tokens.device())?;
        let train = mode != GruMode::Eval;
        let recorded = self.records(&embedding.weight)
            && tokens.device() == Device::Cpu
            && (mode == GruMode::Taped || !grad_enabled()?);
        let tokens_first = Source::Tokens { embedding, tokens };
        if recorded {
            let mut out = self.run_stack(
                tokens_first,
                &lens,
                (batch, time),
                train,
                Recurrence::Recorded,
            )?;
            if mode != GruMode::Taped {
                // Inference: nothing to back-propagate.
                out.tapes = GruTapes::default();
            }
            return Ok(out);
        }
        let vocab = embedding.weight.size().first().copied().unwrap_or(0);
        let first = if vocab > batch * time {
            Source::Features(embedding.forward(tokens)?)
        } else {
            tokens_first
        };
        self.run_stack(
            first,
            &lens,
            (batch, time),
            train,
            Recurrence::Autograd(None),
        )
    }

    /// Whether the recorded recurrence (`taped.rs`) can run this GRU over `input` (the
    /// features, or the embedding table): its kernels take f32 on the CPU.
    fn records(&self, input: &Tensor) -> bool {
        let cpu_f32 =
            |t: &Tensor| t.f_kind().is_ok_and(|k| k == Kind::Float) && t.device() == Device::Cpu;
        cpu_f32(input) && self.params.iter().all(cpu_f32)
    }

    /// Runs every layer and direction over `first`, reading each sequence to its clamped
    /// length in `lens` `[B]`, with the dropout between layers when `train`; returns the top
    /// layer's outputs (zeroed past each length), every layer's and direction's final state,
    /// and the tapes of a recorded `recurrence`.
    fn run_stack(
        &self,
        first: Source<'_>,
        lens: &Tensor,
        (batch, time): (i64, i64),
        train: bool,
        mut recurrence: Recurrence,
    ) -> Result<GruOutput> {
        let rev = reversal(lens, time)?;
        let dirs = self.directions();
        let mut params = self.params.chunks(4);
        let mut finals = Vec::with_capacity(self.config.num_layers as usize * dirs);
        let mut tapes = Vec::new();
        // The input of the layer to run; `None` while it is the first layer's tokens.
        let mut below = match &first {
            Source::Features(xs) => Some(xs.shallow_clone()),
            Source::Tokens { .. } => None,
        };
        for layer in 0..self.config.num_layers {
            let mut outs = Vec::with_capacity(dirs);
            let mut layer_tapes = Vec::new();
            for dir in 0..dirs {
                let params = params.next().ok_or_else(incomplete)?;
                // A reverse direction reads each sequence backwards from its last real step.
                let order = (dir == 1).then_some(&rev);
                let reordered = |x: &Tensor| match order {
                    Some(rev) => gather_time(x, rev),
                    None => Ok(x.shallow_clone()),
                };
                let input = match (&below, &first) {
                    (Some(x), _) => DirInput::Features(reordered(x)?),
                    (None, Source::Tokens { embedding, tokens }) => DirInput::Tokens {
                        embedding,
                        tokens,
                        order,
                    },
                    (None, Source::Features(_)) => return Err(incomplete()),
                };
                let (out, tape) = recurrence.run(params, input, (batch, time), self.hidden)?;
                finals.push(last_step(&out, lens)?);
                outs.push(reordered(&out)?);
                layer_tapes.extend(tape);
            }
            if !layer_tapes.is_empty() {
                tapes.push(layer_tapes);
            }
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
        Ok(GruOutput {
            outputs: zero_past(&top, lens)?,
            state: Tensor::f_stack(&finals, 0)?,
            tapes: GruTapes(tapes),
        })
    }

    /// `(batch, time)` of token ids `[batch, time]` (at least one step), checked against
    /// `embedding`'s size.
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
            [batch, time] if *time > 0 => Ok((*batch, *time)),
            _ => Err(crate::Error::Shape {
                what: "gru tokens",
                expected: "[batch, time] with at least one step".into(),
                got: tokens.size(),
            }),
        }
    }
}

/// What the first layer reads.
enum Source<'a> {
    /// Features `[B, T, F]`.
    Features(Tensor),
    /// Token ids `[B, T]` into `embedding`.
    Tokens {
        embedding: &'a Embedding,
        tokens: &'a Tensor,
    },
}

/// What one direction of one layer reads.
enum DirInput<'a> {
    /// Features `[B, T, F]`, in the direction's reading order.
    Features(Tensor),
    /// The first layer's token ids `[B, T]` into `embedding`, read in the order `order`
    /// gives (`None`: as they are).
    Tokens {
        embedding: &'a Embedding,
        tokens: &'a Tensor,
        order: Option<&'a Tensor>,
    },
}

/// How [`Gru::run_stack`] runs each direction's recurrence.
enum Recurrence {
    /// Step by step under autograd; holds the first layer's token table once built (both
    /// directions read it).
    Autograd(Option<TokenTable>),
    /// Recorded without autograd, each direction leaving a tape.
    Recorded,
}

impl Recurrence {
    /// One direction of one layer (`params`) over `input`: its outputs `[B, T, H]` in its
    /// reading order, and its tape when recorded.
    fn run(
        &mut self,
        params: &[Tensor],
        input: DirInput<'_>,
        shape: (i64, i64),
        hidden: i64,
    ) -> Result<(Tensor, Option<GruTape>)> {
        match self {
            Recurrence::Autograd(table) => {
                let out = match input {
                    DirInput::Features(x) => autograd::features(params, &x, hidden)?,
                    DirInput::Tokens {
                        embedding,
                        tokens,
                        order,
                    } => {
                        if table.is_none() {
                            *table = Some(TokenTable::new(embedding, tokens)?);
                        }
                        let table = table.as_ref().ok_or_else(incomplete)?;
                        autograd::tokens(params, table, order, shape, hidden)?
                    }
                };
                Ok((out, None))
            }
            Recurrence::Recorded => {
                let tape = match input {
                    DirInput::Features(x) => taped::record_features(params, &x, shape, hidden)?,
                    DirInput::Tokens {
                        embedding,
                        tokens,
                        order,
                    } => {
                        let ids = match order {
                            Some(rev) => tokens.f_gather(1, rev, false)?,
                            None => tokens.shallow_clone(),
                        };
                        taped::record_tokens(embedding, params, &ids, shape, hidden)?
                    }
                };
                Ok((tape.outputs(), Some(tape)))
            }
        }
    }
}

/// Whether autograd records operations in this thread (tch has no getter): an operation on
/// a tensor that requires grad yields one that requires grad only then.
fn grad_enabled() -> Result<bool> {
    let probe = Tensor::f_zeros([1], (Kind::Float, Device::Cpu))?.f_set_requires_grad(true)?;
    Ok(probe.f_mul_scalar(1.0)?.requires_grad())
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

/// Lengths as int64 on `device`, checked against `[batch]` and clamped to `[1, time]`.
fn checked_lengths(lengths: &Tensor, batch: i64, time: i64, device: Device) -> Result<Tensor> {
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
    let [batch, time, features] = size.as_slice() else {
        return Err(crate::Error::Shape {
            what: "gru steps to reorder",
            expected: "[batch, time, features]".into(),
            got: size,
        });
    };
    let idx = index
        .f_unsqueeze(2)?
        .f_expand([*batch, *time, *features], false)?;
    Ok(xs.f_gather(1, &idx, false)?)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reordering_time_reverses_each_sequence_and_rejects_other_shapes() {
        // Sequences of lengths 3 and 1 over 4 steps: the real steps reverse, padding stays.
        let xs = Tensor::arange(8, (Kind::Float, Device::Cpu)).view([2, 4, 1]);
        let rev = reversal(&Tensor::from_slice(&[3i64, 1]), 4).unwrap();
        let got = gather_time(&xs, &rev).unwrap();
        let want = Tensor::from_slice(&[2.0f32, 1.0, 0.0, 3.0, 4.0, 5.0, 6.0, 7.0]).view([2, 4, 1]);
        assert!(got.equal(&want), "{got}");
        // Reading in `rev`'s order twice gives the sequence back.
        assert!(gather_time(&got, &rev).unwrap().equal(&xs));
        // Not [batch, time, features]: an error naming the shape, not a panic.
        let err = gather_time(&xs.view([2, 4]), &rev).unwrap_err();
        assert!(err.to_string().contains("[batch, time, features]"), "{err}");
    }
}

//! The GRU under autograd: libtorch's fused `gru` op, the reference, and gen's own
//! step-by-step recurrence, which reads each sequence only to its length (the driver in
//! `forward.rs` runs it per layer and direction).

use super::{Gru, folded_bias, incomplete, present_rows};
use crate::Result;
use crate::layers::Embedding;
use tch::Tensor;

impl Gru {
    /// libtorch's fused `gru` op over every step of `xs` `[batch, time, input]` from `h0`
    /// (zeros when `None`): the outputs `[batch, time, output_size]` and the final state.
    pub(super) fn libtorch(
        &self,
        xs: &Tensor,
        h0: Option<&Tensor>,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let batch = xs.size().first().copied().unwrap_or(0);
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
}

/// One direction of one layer (`params`) over features `x` `[B, T, F]`, in the order it
/// reads them: the time-major input projections `[T, B, 3H]` in one product, then
/// [`recur`]. Returns the outputs `[B, T, H]`.
pub(super) fn features(params: &[Tensor], x: &Tensor, hidden: i64) -> Result<Tensor> {
    let [w_ih, w_hh, b_ih, b_hh] = params else {
        return Err(incomplete());
    };
    let bias = folded_bias(b_ih, b_hh, hidden)?;
    // Time-major projections [T, B, 3H], so that each step's slice is contiguous.
    let gi = x.f_transpose(0, 1)?.f_linear(w_ih, Some(&bias))?;
    recur(&gi, w_hh, b_hh, hidden)
}

/// The first layer's token source under autograd: the embedding's rows of the ids present in
/// a batch, and each token's row among them.
#[derive(Debug)]
pub(super) struct TokenTable {
    /// `[U, dim]`, a differentiable selection of the embedding (padding row excluded).
    rows_of_present: Tensor,
    /// `[B, T]`: each token's row in `rows_of_present`.
    rows: Tensor,
}

impl TokenTable {
    /// The table of `tokens` `[B, T]`, built once for both directions.
    pub(super) fn new(embedding: &Embedding, tokens: &Tensor) -> Result<Self> {
        let vocab = embedding.weight.size().first().copied().unwrap_or(0);
        let (present, rows) = present_rows(tokens, vocab)?;
        Ok(TokenTable {
            rows_of_present: embedding.lookup_weight()?.f_index_select(0, &present)?,
            rows,
        })
    }
}

/// One direction of the first layer (`params`) over the tokens of `table`, read in the order
/// `rev` gives (`None`: as they are): the table's input projections `E W_ih^T + b` in one
/// product, gathered per token, then [`recur`]. Returns the outputs `[B, T, H]`.
pub(super) fn tokens(
    params: &[Tensor],
    table: &TokenTable,
    rev: Option<&Tensor>,
    (batch, time): (i64, i64),
    hidden: i64,
) -> Result<Tensor> {
    let [w_ih, w_hh, b_ih, b_hh] = params else {
        return Err(incomplete());
    };
    let bias = folded_bias(b_ih, b_hh, hidden)?;
    let ids = match rev {
        Some(rev) => table.rows.f_gather(1, rev, false)?,
        None => table.rows.shallow_clone(),
    };
    let gi = table
        .rows_of_present
        .f_linear(w_ih, Some(&bias))?
        .f_index_select(0, &ids.f_transpose(0, 1)?.f_reshape([-1])?)?
        .f_reshape([time, batch, 3 * hidden])?;
    recur(&gi, w_hh, b_hh, hidden)
}

/// One direction of one layer over time-major input projections `gi` `[T, B, 3H]` (with
/// `b_hh`'s reset and update parts already added); returns every output `[B, T, H]`.
/// Each step is a [`gru_cell`].
fn recur(gi: &Tensor, w_hh: &Tensor, b_hh: &Tensor, hidden: i64) -> Result<Tensor> {
    let h2 = 2 * hidden;
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

/// One GRU step from the input projection `gi` `[B, 3H]` (with `b_hh`'s reset and update parts
/// already added) and the state `h` `[B, H]`, given `W_hrz^T` `[H, 2H]`, `W_hn^T` `[H, H]`
/// and `b_hn` `[H]`: `r, z = sigmoid(gi_rz + h W_hrz^T)`, `n = tanh(gi_n + r (h W_hn^T +
/// b_hn))`, `h' = n + z (h - n)`. Two matrix products and four element-wise kernels.
pub(super) fn gru_cell(
    gi: &Tensor,
    h: &Tensor,
    w_rz: &Tensor,
    w_n: &Tensor,
    b_n: &Tensor,
) -> Result<Tensor> {
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

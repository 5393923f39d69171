//! The GRU's hand-written training pass: the recurrence recorded without autograd, and
//! backpropagation through time by hand ([`GruTapes::backward_after`]).
//!
//! The recurrence runs into preallocated time-major buffers. A step is a gather of its input
//! projections, ONE GEMM and one fused element-wise pass (`fused.rs`), with no allocation.
//! Each step's products go to small scratch buffers, and only what the backward pass reads is
//! kept. The kernels take f32 on the CPU; the entries (`forward.rs`) run every other kind and
//! device under autograd instead. (A libtorch-kernel variant of each step for those once lived
//! here; no test ran it, and autograd computes the same.)
//!
//! Both passes split the batch into one shard per libtorch thread and run the shards on
//! libtorch's OpenMP threads ([`gen_core::team`]), each with ONE libtorch thread: the
//! per-step kernels are far too small for libtorch's intra-op threads, whose hand-offs cost
//! more than they save (two threads were slower than one in a 2-core profile), while shards
//! need no synchronisation until the end.

use super::{folded_bias, fused, incomplete, present_rows, recurrent_bias};
use crate::Result;
use crate::layers::Embedding;
use tch::{Kind, Tensor};

/// One direction of one layer (`params`) recorded over features `input` `[B, T, F]`, in the
/// order it reads them: its time-major input projections `[T * B, 3H]` (`b_hh`'s reset and
/// update parts folded in) in one GEMM under autograd, then the recurrence.
pub(super) fn record_features(
    params: &[Tensor],
    input: &Tensor,
    (batch, time): (i64, i64),
    hidden: i64,
) -> Result<GruTape> {
    let [w_ih, w_hh, b_ih, b_hh] = params else {
        return Err(incomplete());
    };
    let features = input.size().last().copied().unwrap_or(0);
    let gi = input
        .f_transpose(0, 1)?
        .f_reshape([-1, features])?
        .f_linear(w_ih, Some(&folded_bias(b_ih, b_hh, hidden)?))?;
    let source = Input::Projections(gi);
    let steps = tch::no_grad(|| record(&source, (time, batch), w_hh, b_hh, hidden))?;
    GruTape::new(steps, source, w_hh, b_hh)
}

/// One direction of the first layer (`params`) recorded over `tokens` `[B, T]` into
/// `embedding`, in the order it reads them.
pub(super) fn record_tokens(
    embedding: &Embedding,
    params: &[Tensor],
    tokens: &Tensor,
    (batch, time): (i64, i64),
    hidden: i64,
) -> Result<GruTape> {
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
        Input::Table { table, ids: rows }
    } else {
        Input::Projections(embedding.forward(&ids)?.f_linear(w_ih, Some(&bias))?)
    };
    let steps = tch::no_grad(|| record(&input, (time, batch), w_hh, b_hh, hidden))?;
    GruTape::new(steps, input, w_hh, b_hh)
}

/// What the recorded recurrence keeps for the backward pass, time-major.
#[derive(Debug)]
struct Steps {
    /// States `h_0 = 0, h_1, ..., h_T`: `[T + 1, B, H]`.
    h: Tensor,
    /// Reset and update gates: `[T, B, 2H]`.
    rz: Tensor,
    /// Candidate states: `[T, B, H]`.
    n: Tensor,
    /// `h W_hn^T + b_hn`, the candidate's recurrent part: `[T, B, H]`.
    ghn: Tensor,
}

impl Steps {
    /// The outputs `h_1, ..., h_T` as a `[B, T, H]` view.
    fn outputs(&self) -> Result<Tensor> {
        let time = time_batch(&self.rz).0;
        Ok(self.h.f_narrow(0, 1, time)?.f_transpose(0, 1)?)
    }

    /// The rows `start..start + len` of the batch: views into the same buffers.
    fn rows(&self, start: i64, len: i64) -> Result<Steps> {
        Ok(Steps {
            h: self.h.f_narrow(1, start, len)?,
            rz: self.rz.f_narrow(1, start, len)?,
            n: self.n.f_narrow(1, start, len)?,
            ghn: self.ghn.f_narrow(1, start, len)?,
        })
    }
}

/// What the input projections come from (b_hh's reset and update parts included), and what
/// the tape back-propagates into.
#[derive(Debug)]
enum Input {
    /// Rows `ids` `[T * B]` (time-major) of the table `E W_ih^T + b` over the ids present,
    /// `[U, 3H]`: each step gathers its rows, so the `[T, B, 3H]` projections are never
    /// written out.
    Table { table: Tensor, ids: Tensor },
    /// The projections `[T * B, 3H]` themselves.
    Projections(Tensor),
}

impl Input {
    /// The projections of batch rows `start..start + len` at every step, detached.
    fn rows(&self, time: i64, batch: i64, start: i64, len: i64) -> Result<Input> {
        Ok(match self {
            Input::Table { table, ids } => Input::Table {
                table: table.f_detach()?,
                ids: ids.f_view([time, batch])?.f_narrow(1, start, len)?,
            },
            Input::Projections(gi) => Input::Projections(
                gi.f_detach()?
                    .f_view([time, batch, -1])?
                    .f_narrow(1, start, len)?,
            ),
        })
    }

    /// Step `t`'s projections `[len, 3H]` of a shard from [`Input::rows`], gathered into
    /// `scratch` from a table.
    fn step(&self, t: i64, scratch: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Input::Table { table, ids } => {
                table.f_index_select_out(scratch, 0, &ids.f_select(0, t)?)?
            }
            Input::Projections(gi) => gi.f_select(0, t)?,
        })
    }
}

/// Runs the recurrence over the input projections of `input` (`time` steps of `batch` rows)
/// without autograd.
fn record(
    input: &Input,
    (time, batch): (i64, i64),
    w_hh: &Tensor,
    b_hh: &Tensor,
    hidden: i64,
) -> Result<Steps> {
    let h2 = 2 * hidden;
    let opts = (w_hh.kind(), w_hh.device());
    let steps = Steps {
        h: Tensor::f_empty([time + 1, batch, hidden], opts)?,
        rz: Tensor::f_empty([time, batch, h2], opts)?,
        n: Tensor::f_empty([time, batch, hidden], opts)?,
        ghn: Tensor::f_empty([time, batch, hidden], opts)?,
    };
    let _ = steps.h.f_select(0, 0)?.f_zero_()?;
    let w_hh_t = w_hh.f_detach()?.f_transpose(0, 1)?;
    // gh = h W_hh^T + [0, 0, b_hn]: b_hh's reset and update parts are already in the input.
    let b_n = recurrent_bias(&b_hh.f_detach()?, hidden)?;
    let jobs = shards(batch)
        .into_iter()
        .map(|(start, len)| {
            Ok(RecordJob {
                input: input.rows(time, batch, start, len)?,
                w_hh_t: w_hh_t.shallow_clone(),
                b_n: b_n.shallow_clone(),
                steps: steps.rows(start, len)?,
                hidden,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    run_sharded(jobs, record_rows)?;
    Ok(steps)
}

struct RecordJob {
    input: Input,
    w_hh_t: Tensor,
    b_n: Tensor,
    steps: Steps,
    hidden: i64,
}

/// The forward recurrence of one shard, into its rows of the buffers. Each step's input
/// projections and `h W_hh^T` go to small scratch buffers that stay in cache; only what the
/// backward pass reads goes to the large recorded buffers (writing the product straight
/// into a `[T, B, 3H]` buffer made the step's GEMM twice as slow).
fn record_rows(job: RecordJob) -> Result<()> {
    let RecordJob {
        input,
        w_hh_t,
        b_n,
        steps,
        hidden,
    } = job;
    let (time, rows) = time_batch(&steps.rz);
    let opts = (w_hh_t.kind(), w_hh_t.device());
    let (gi_scratch, gh) = (
        Tensor::f_empty([rows, 3 * hidden], opts)?,
        Tensor::f_empty([rows, 3 * hidden], opts)?,
    );
    for t in 0..time {
        let gi = input.step(t, &gi_scratch)?;
        let h = steps.h.f_select(0, t)?;
        let (rz, n) = (steps.rz.f_select(0, t)?, steps.n.f_select(0, t)?);
        let (ghn, h_new) = (steps.ghn.f_select(0, t)?, steps.h.f_select(0, t + 1)?);
        let _ = b_n.f_addmm_out(&gh, &h, &w_hh_t)?;
        // SAFETY: this thread calls no libtorch op while the views live; the other shards
        // write only their own rows of the recorded buffers, and read their own rows and
        // their own scratch (`gi` from a table) or the shared projections, which nothing
        // writes; the spawning thread waits for the shards.
        #[allow(unsafe_code)]
        let (inputs, outputs) =
            unsafe { gen_core::slices::views([&gi, &gh, &h], [&rz, &n, &ghn, &h_new]) }?;
        fused::gru_forward(inputs, outputs)?;
    }
    Ok(())
}

/// The pending backward pass of one direction of one recorded layer.
#[derive(Debug)]
pub(super) struct GruTape {
    leaf: Tensor,
    input: Input,
    w_hh: Tensor,
    b_hh: Tensor,
    steps: Steps,
}

impl GruTape {
    /// The tape of a recorded recurrence over `input`: its outputs ([`Steps::outputs`]) hang
    /// off one new leaf, which the loss is computed from.
    fn new(steps: Steps, input: Input, w_hh: &Tensor, b_hh: &Tensor) -> Result<Self> {
        Ok(GruTape {
            leaf: steps.outputs()?.f_detach()?.f_set_requires_grad(true)?,
            input,
            w_hh: w_hh.shallow_clone(),
            b_hh: b_hh.shallow_clone(),
            steps,
        })
    }

    /// The recorded outputs `[B, T, H]` (in the order the direction read its input): the leaf
    /// whose gradient [`GruTapes::backward_after`] back-propagates through time.
    pub(super) fn outputs(&self) -> Tensor {
        self.leaf.shallow_clone()
    }

    /// Runs backpropagation through time and returns the scalar whose `backward` passes the
    /// gradients into the variables and the recorded input (`None` when no gradient reached
    /// the outputs). Directions that share their input are pulled in one `backward`.
    fn pull(self) -> Result<Option<Tensor>> {
        let grad = self.leaf.grad();
        if !grad.defined() {
            return Ok(None);
        }
        let GruTape {
            input,
            w_hh,
            b_hh,
            steps,
            ..
        } = self;
        let hidden = w_hh.size().get(1).copied().unwrap_or(0);
        let h2 = 2 * hidden;
        let (time, batch) = time_batch(&steps.rz);
        // Per step, the gradients of gh = h W_hh^T + [0, 0, b_hn] (whose reset and update
        // parts are also those of gi, the input projections) and of gi's candidate part.
        let (d_gh, d_gin) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
            let opts = (grad.kind(), grad.device());
            let d_gh = Tensor::f_empty([time, batch, 3 * hidden], opts)?;
            let d_gin = Tensor::f_empty([time, batch, hidden], opts)?;
            let w_hh = w_hh.f_detach()?;
            let jobs = shards(batch)
                .into_iter()
                .map(|(start, len)| {
                    Ok(BackwardJob {
                        d_out: grad.f_narrow(0, start, len)?,
                        steps: steps.rows(start, len)?,
                        d_gh: d_gh.f_narrow(1, start, len)?,
                        d_gin: d_gin.f_narrow(1, start, len)?,
                        w_hh: w_hh.shallow_clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            run_sharded(jobs, backward_rows)?;
            Ok((
                d_gh.f_reshape([-1, 3 * hidden])?,
                d_gin.f_reshape([-1, hidden])?,
            ))
        })?;
        let (d_w_hh, d_b_n, d_input) = tch::no_grad(|| -> Result<(Tensor, Tensor, Tensor)> {
            // W_hh's gradient over every step at once: [3H, T*B] x [T*B, H].
            let h_prev = steps.h.f_narrow(0, 0, time)?.f_reshape([-1, hidden])?;
            let d_w_hh = d_gh.f_transpose(0, 1)?.f_mm(&h_prev)?;
            let d_b_n = d_gh
                .f_narrow(1, h2, hidden)?
                .f_sum_dim_intlist(0, false, Kind::Float)?;
            // The input projections' gradient is d_gh with d_gin as its candidate part.
            let d_input = match &input {
                Input::Table { table, ids } => {
                    // Scatter d_gh's rows into the table (contiguous rows take libtorch's
                    // fast path), then overwrite the candidate columns with d_gin's.
                    let d_table = table
                        .f_detach()?
                        .f_zeros_like()?
                        .f_index_add(0, ids, &d_gh)?;
                    let d_n = d_table
                        .f_narrow(1, h2, hidden)?
                        .f_zeros_like()?
                        .f_index_add(0, ids, &d_gin)?;
                    d_table.f_narrow(1, h2, hidden)?.f_copy_(&d_n)?;
                    d_table
                }
                Input::Projections(_) => Tensor::f_cat(&[d_gh.f_narrow(1, 0, h2)?, d_gin], 1)?,
            };
            Ok((d_w_hh, d_b_n, d_input))
        })?;
        // Hand the gradients to autograd: d/dx <x, g> = g, for g without a graph.
        let pull = match &input {
            Input::Table { table, .. } => table,
            Input::Projections(gi) => gi,
        };
        Ok(Some(
            dot(pull, &d_input)?
                .f_add(&dot(&w_hh, &d_w_hh)?)?
                .f_add(&dot(&b_hh.f_narrow(0, h2, hidden)?, &d_b_n)?)?,
        ))
    }
}

/// `<x, g>` over all elements, as a scalar.
fn dot(x: &Tensor, g: &Tensor) -> Result<Tensor> {
    Ok(x.f_reshape([-1])?.f_dot(&g.f_reshape([-1])?)?)
}

/// The hand-written backward passes of a GRU pass ([`crate::gru::GruMode::Taped`]): per layer,
/// first layer first, one tape per direction; none when the pass ran under autograd.
///
/// Compute the loss from the pass's outputs, then call [`GruTapes::backward_after`] with it:
/// dropping the tapes leaves the GRU's (and the embedding's) gradients unset.
#[must_use = "run `backward_after(&loss)`, or the GRU gets no gradients"]
#[derive(Debug, Default)]
pub struct GruTapes(pub(super) Vec<Vec<GruTape>>);

impl GruTapes {
    /// Whether the pass left nothing to run by hand (it ran under autograd).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }

    /// Back-propagates `loss` (computed from the pass's outputs), then runs every layer's
    /// backpropagation through time, last layer first: per step one `[B, 3H] x [3H, H]`
    /// product and one fused element-wise pass, `W_hh`'s gradient as ONE `[3H, T*B] x [T*B,
    /// H]` product, and the gradients handed to autograd, which passes them on into `W_ih`,
    /// `b_ih`, the embedding and the layers below. Each layer's directions go together
    /// (they read the same input, whose graph one `backward` frees). Without tapes this is
    /// `loss.backward()`.
    pub fn backward_after(self, loss: &Tensor) -> Result<()> {
        loss.f_backward()?;
        for layer in self.0.into_iter().rev() {
            let mut total: Option<Tensor> = None;
            for tape in layer {
                if let Some(pull) = tape.pull()? {
                    total = Some(match total {
                        Some(t) => t.f_add(&pull)?,
                        None => pull,
                    });
                }
            }
            if let Some(total) = total {
                total.f_backward()?;
            }
        }
        Ok(())
    }
}

struct BackwardJob {
    /// `[b, T, H]`: the gradient that reached this shard's outputs.
    d_out: Tensor,
    steps: Steps,
    d_gh: Tensor,
    d_gin: Tensor,
    w_hh: Tensor,
}

/// Backpropagation through time for one shard, into its rows of `d_gh` and `d_gin`.
fn backward_rows(job: BackwardJob) -> Result<()> {
    let BackwardJob {
        d_out,
        steps,
        d_gh,
        d_gin,
        w_hh,
    } = job;
    let (time, batch) = time_batch(&steps.rz);
    let hidden = w_hh.size().get(1).copied().unwrap_or(0);
    let opts = (d_out.kind(), d_out.device());
    let dh = Tensor::f_zeros([batch, hidden], opts)?;
    let dhz = Tensor::f_empty([batch, hidden], opts)?;
    for t in (0..time).rev() {
        let (rz, n, h_prev) = (
            steps.rz.f_select(0, t)?,
            steps.n.f_select(0, t)?,
            steps.h.f_select(0, t)?,
        );
        let ghn = steps.ghn.f_select(0, t)?;
        let (gh_t, da_n) = (d_gh.f_select(0, t)?, d_gin.f_select(0, t)?);
        let d_out_t = d_out.f_select(1, t)?;
        // SAFETY: as in `record_rows`: no libtorch op in this thread while the views live;
        // the other shards write only their own rows of `d_gh`, `d_gin` and their own
        // scratch, and nothing writes the recorded steps or the output gradient.
        #[allow(unsafe_code)]
        let (inputs, outputs) = unsafe {
            gen_core::slices::views(
                [&dh, &d_out_t, &rz, &n, &h_prev, &ghn],
                [&dhz, &gh_t, &da_n],
            )
        }?;
        fused::gru_backward(inputs, outputs)?;
        // dh_prev = dh z + dgh W_hh
        let _ = dhz.f_addmm_out(&dh, &gh_t, &w_hh)?;
    }
    Ok(())
}

/// `(T, B)` of a time-major `[T, B, ...]` tensor.
fn time_batch(t: &Tensor) -> (i64, i64) {
    let size = t.size();
    (
        size.first().copied().unwrap_or(0),
        size.get(1).copied().unwrap_or(0),
    )
}

/// Contiguous row ranges `(start, len)`, one per libtorch thread (at most one per row).
fn shards(batch: i64) -> Vec<(i64, i64)> {
    let n = i64::from(tch::get_num_threads()).clamp(1, batch.max(1));
    (0..n)
        .map(|k| {
            let (start, end) = (batch * k / n, batch * (k + 1) / n);
            (start, end - start)
        })
        .filter(|&(_, len)| len > 0)
        .collect()
}

/// Runs `work` on every job: inline for one job, else on libtorch's OpenMP threads
/// ([`gen_core::team`]) with one libtorch thread each (libtorch's count is restored
/// afterwards). Jobs write disjoint rows.
fn run_sharded<J: Send>(jobs: Vec<J>, work: fn(J) -> Result<()>) -> Result<()> {
    if jobs.len() <= 1 {
        return jobs.into_iter().try_for_each(work);
    }
    let threads = tch::get_num_threads();
    let results = gen_core::team::map(jobs, |job| {
        // Grad mode is per thread; nothing here is recorded.
        tch::set_num_threads(1);
        tch::no_grad(|| work(job))
    });
    tch::set_num_threads(threads);
    results.into_iter().collect()
}

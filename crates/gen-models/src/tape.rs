//! The GRU's hand-written training pass ([`crate::layers::Gru::forward_tokens_taped`]).
//!
//! The recurrence runs without autograd into preallocated time-major buffers, and
//! [`GruTape::backward`] runs backpropagation through time by hand. A step is a gather of its
//! input projections, ONE GEMM and, on the CPU in f32, one fused element-wise pass
//! ([`crate::fused`]; elsewhere six libtorch kernels forward, ten backward), with no
//! allocation. Each step's products go to small scratch buffers, and only what the backward
//! pass reads is kept.
//!
//! Both passes split the batch into one shard per libtorch thread and run the shards on
//! libtorch's OpenMP threads ([`gen_core::team`]), each with ONE libtorch thread: the
//! per-step kernels are far too small for libtorch's intra-op threads, whose hand-offs cost
//! more than they save (two threads were slower than one in a 2-core profile), while shards
//! need no synchronisation until the end.

use crate::Result;
use crate::fused;
use tch::{Device, Kind, Tensor};

/// What the recorded recurrence keeps for the backward pass, time-major.
#[derive(Debug)]
pub(crate) struct Steps {
    /// States `h_0 = 0, h_1, ..., h_T`: `[T + 1, B, H]`.
    pub(crate) h: Tensor,
    /// Reset and update gates: `[T, B, 2H]`.
    rz: Tensor,
    /// Candidate states: `[T, B, H]`.
    n: Tensor,
    /// `h W_hn^T + b_hn`, the candidate's recurrent part: `[T, B, H]`.
    ghn: Tensor,
}

impl Steps {
    /// The outputs `h_1, ..., h_T` as a `[B, T, H]` view.
    pub(crate) fn outputs(&self) -> Result<Tensor> {
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
pub(crate) enum Input {
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
pub(crate) fn record(
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
    let b_n = crate::layers::recurrent_bias(&b_hh.f_detach()?, hidden)?;
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
    let h2 = 2 * hidden;
    let (time, rows) = time_batch(&steps.rz);
    let opts = (w_hh_t.kind(), w_hh_t.device());
    let (gi_scratch, gh) = (
        Tensor::f_empty([rows, 3 * hidden], opts)?,
        Tensor::f_empty([rows, 3 * hidden], opts)?,
    );
    let (gh_rz, gh_n) = (gh.f_narrow(1, 0, h2)?, gh.f_narrow(1, h2, hidden)?);
    let fused = opts == (Kind::Float, Device::Cpu);
    for t in 0..time {
        let gi = input.step(t, &gi_scratch)?;
        let h = steps.h.f_select(0, t)?;
        let (mut rz, mut n) = (steps.rz.f_select(0, t)?, steps.n.f_select(0, t)?);
        let (mut ghn, h_new) = (steps.ghn.f_select(0, t)?, steps.h.f_select(0, t + 1)?);
        let _ = b_n.f_addmm_out(&gh, &h, &w_hh_t)?;
        if fused {
            // SAFETY: this thread calls no libtorch op while the views live; the other shards
            // write only their own rows of the recorded buffers, and read their own rows and
            // their own scratch (`gi` from a table) or the shared projections, which nothing
            // writes; the spawning thread waits for the shards.
            #[allow(unsafe_code)]
            let (inputs, outputs) =
                unsafe { gen_core::slices::views([&gi, &gh, &h], [&rz, &n, &ghn, &h_new]) }?;
            fused::gru_forward(inputs, outputs)?;
            continue;
        }
        let _ = gi.f_narrow(1, 0, h2)?.f_add_out(&rz, &gh_rz)?;
        let _ = rz.f_sigmoid_()?;
        ghn.f_copy_(&gh_n)?;
        let _ =
            gi.f_narrow(1, h2, hidden)?
                .f_addcmul_out(&n, &rz.f_narrow(1, 0, hidden)?, &gh_n)?;
        let _ = n.f_tanh_()?;
        // h_t = n + z (h_{t-1} - n)
        let _ = n.f_lerp_tensor_out(&h_new, &h, &rz.f_narrow(1, hidden, hidden)?)?;
    }
    Ok(())
}

/// The pending backward pass of [`crate::layers::Gru::forward_tokens_taped`].
#[derive(Debug)]
pub struct GruTape {
    pub(crate) leaf: Tensor,
    pub(crate) input: Input,
    pub(crate) w_hh: Tensor,
    pub(crate) b_hh: Tensor,
    pub(crate) steps: Steps,
}

impl GruTape {
    /// The tape of a recorded recurrence over `input`: its outputs ([`Steps::outputs`]) hang
    /// off one new leaf, which the loss is computed from.
    pub(crate) fn new(steps: Steps, input: Input, w_hh: &Tensor, b_hh: &Tensor) -> Result<Self> {
        Ok(GruTape {
            leaf: steps.outputs()?.f_detach()?.f_set_requires_grad(true)?,
            input,
            w_hh: w_hh.shallow_clone(),
            b_hh: b_hh.shallow_clone(),
            steps,
        })
    }

    /// Back-propagates the gradient that reached the outputs and final state (call it after
    /// the loss's `backward`) through time, into `W_hh`, `b_hh` and, through the recorded
    /// input projection, `W_ih`, `b_ih` and the embedding. Does nothing when no gradient
    /// reached them.
    pub fn backward(self) -> Result<()> {
        match self.pull()? {
            Some(pull) => Ok(pull.f_backward()?),
            None => Ok(()),
        }
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

/// The tapes of a stacked GRU ([`crate::layers::Gru::forward_taped`],
/// [`crate::layers::Gru::forward_tokens_taped`]): per layer, first layer first, one tape per
/// direction.
#[derive(Debug)]
pub struct GruTapes(pub(crate) Vec<Vec<GruTape>>);

impl GruTapes {
    /// Runs every layer's backpropagation through time, last layer first, each layer's
    /// directions together (they read the same input, whose graph one `backward` frees): each
    /// pulls its gradient into the layer below's outputs before that layer's turn. Call it
    /// after the loss's `backward`.
    pub fn backward(self) -> Result<()> {
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
    let h2 = 2 * hidden;
    let opts = (d_out.kind(), d_out.device());
    let mut dh = Tensor::f_zeros([batch, hidden], opts)?;
    let (dhz, dn, hp_n) = (
        Tensor::f_empty([batch, hidden], opts)?,
        Tensor::f_empty([batch, hidden], opts)?,
        Tensor::f_empty([batch, hidden], opts)?,
    );
    let d_rz = Tensor::f_empty([batch, h2], opts)?;
    let fused = opts == (Kind::Float, Device::Cpu);
    for t in (0..time).rev() {
        let (rz, n, h_prev) = (
            steps.rz.f_select(0, t)?,
            steps.n.f_select(0, t)?,
            steps.h.f_select(0, t)?,
        );
        let ghn = steps.ghn.f_select(0, t)?;
        let (gh_t, da_n) = (d_gh.f_select(0, t)?, d_gin.f_select(0, t)?);
        let d_out_t = d_out.f_select(1, t)?;
        if fused {
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
        } else {
            let (r, z) = (rz.f_narrow(1, 0, hidden)?, rz.f_narrow(1, hidden, hidden)?);
            let _ = dh.f_add_(&d_out_t)?;
            // h_t = n + z (h_prev - n)
            let _ = dh.f_mul_out(&dhz, &z)?;
            let _ = dh.f_sub_out(&dn, &dhz)?;
            let _ = Tensor::f_tanh_backward_grad_input(&da_n, &dn, &n)?;
            let _ = h_prev.f_sub_out(&hp_n, &n)?;
            let _ = dh.f_mul_out(&d_rz.f_narrow(1, hidden, hidden)?, &hp_n)?;
            // n = tanh(gi_n + r ghn), (r, z) = sigmoid(gi_rz + gh_rz)
            let _ = da_n.f_mul_out(&d_rz.f_narrow(1, 0, hidden)?, &ghn)?;
            let _ = Tensor::f_sigmoid_backward_grad_input(&gh_t.f_narrow(1, 0, h2)?, &d_rz, &rz)?;
            let _ = da_n.f_mul_out(&gh_t.f_narrow(1, h2, hidden)?, &r)?;
        }
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

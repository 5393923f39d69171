//! The GRU's hand-written training pass ([`crate::layers::Gru::forward_tokens_taped`]).
//!
//! The recurrence runs without autograd into preallocated time-major buffers (six kernels and
//! no allocation per step), and [`GruTape::backward`] runs backpropagation through time by
//! hand. Both split the batch into one shard per libtorch thread and run the shards in
//! parallel OS threads, each with ONE libtorch thread: the per-step kernels are far too small
//! for libtorch's intra-op threads, whose hand-offs cost more than they save (two threads were
//! slower than one in a 2-core profile), while shards need no synchronisation until the end.

use crate::Result;
use tch::{Kind, Tensor};

/// What the recorded recurrence keeps for the backward pass, time-major.
#[derive(Debug)]
pub(crate) struct Steps {
    /// States `h_0 = 0, h_1, ..., h_T`: `[T + 1, B, H]`.
    pub(crate) h: Tensor,
    /// Reset and update gates: `[T, B, 2H]`.
    rz: Tensor,
    /// Candidate states: `[T, B, H]`.
    n: Tensor,
    /// `h W_hh^T + [0, 0, b_hn]`: `[T, B, 3H]`.
    gh: Tensor,
}

impl Steps {
    /// The rows `start..start + len` of the batch: views into the same buffers.
    fn rows(&self, start: i64, len: i64) -> Result<Steps> {
        Ok(Steps {
            h: self.h.f_narrow(1, start, len)?,
            rz: self.rz.f_narrow(1, start, len)?,
            n: self.n.f_narrow(1, start, len)?,
            gh: self.gh.f_narrow(1, start, len)?,
        })
    }
}

/// Runs the recurrence over the input projections `gi` `[T, B, 3H]` (b_hh's reset and update
/// parts included) without autograd.
pub(crate) fn record(gi: &Tensor, w_hh: &Tensor, b_hh: &Tensor, hidden: i64) -> Result<Steps> {
    let (time, batch) = time_batch(gi);
    let h2 = 2 * hidden;
    let opts = (gi.kind(), gi.device());
    let steps = Steps {
        h: Tensor::f_zeros([time + 1, batch, hidden], opts)?,
        rz: Tensor::f_empty([time, batch, h2], opts)?,
        n: Tensor::f_empty([time, batch, hidden], opts)?,
        gh: Tensor::f_empty([time, batch, 3 * hidden], opts)?,
    };
    let (gi, w_hh_t) = (gi.f_detach()?, w_hh.f_detach()?.f_transpose(0, 1)?);
    // gh = h W_hh^T + [0, 0, b_hn]: b_hh's reset and update parts are already in gi.
    let b_hh = b_hh.f_detach()?;
    let b_n = Tensor::f_cat(
        &[
            b_hh.f_narrow(0, 0, h2)?.f_zeros_like()?,
            b_hh.f_narrow(0, h2, hidden)?,
        ],
        0,
    )?;
    let jobs = shards(batch)
        .into_iter()
        .map(|(start, len)| {
            Ok(RecordJob {
                gi: gi.f_narrow(1, start, len)?,
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
    gi: Tensor,
    w_hh_t: Tensor,
    b_n: Tensor,
    steps: Steps,
    hidden: i64,
}

/// The forward recurrence of one shard, into its rows of the buffers.
fn record_rows(job: RecordJob) -> Result<()> {
    let RecordJob {
        gi,
        w_hh_t,
        b_n,
        steps,
        hidden,
    } = job;
    let h2 = 2 * hidden;
    for t in 0..time_batch(&gi).0 {
        let (git, h, gh) = (
            gi.f_select(0, t)?,
            steps.h.f_select(0, t)?,
            steps.gh.f_select(0, t)?,
        );
        let (mut rz, mut n) = (steps.rz.f_select(0, t)?, steps.n.f_select(0, t)?);
        let _ = b_n.f_addmm_out(&gh, &h, &w_hh_t)?;
        let _ = git
            .f_narrow(1, 0, h2)?
            .f_add_out(&rz, &gh.f_narrow(1, 0, h2)?)?;
        let _ = rz.f_sigmoid_()?;
        let _ = git.f_narrow(1, h2, hidden)?.f_addcmul_out(
            &n,
            &rz.f_narrow(1, 0, hidden)?,
            &gh.f_narrow(1, h2, hidden)?,
        )?;
        let _ = n.f_tanh_()?;
        // h_t = n + z (h_{t-1} - n)
        let _ = n.f_lerp_tensor_out(
            &steps.h.f_select(0, t + 1)?,
            &h,
            &rz.f_narrow(1, hidden, hidden)?,
        )?;
    }
    Ok(())
}

/// What the input projections came from, recorded for the backward pass.
#[derive(Debug)]
pub(crate) enum Input {
    /// Rows `ids` (time-major) of the table `E W_ih^T + b` over the ids present, `[U, 3H]`.
    Table { table: Tensor, ids: Tensor },
    /// The projections `[T * B, 3H]` themselves.
    Projections(Tensor),
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
    /// Back-propagates the gradient that reached the outputs and final state (call it after
    /// the loss's `backward`) through time, into `W_hh`, `b_hh` and, through the recorded
    /// input projection, `W_ih`, `b_ih` and the embedding. Does nothing when no gradient
    /// reached them.
    pub fn backward(self) -> Result<()> {
        let grad = self.leaf.grad();
        if !grad.defined() {
            return Ok(());
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
        let (d_gi, d_w_hh, d_b_n) = tch::no_grad(|| -> Result<(Tensor, Tensor, Tensor)> {
            let (time, batch) = time_batch(&steps.rz);
            let opts = (grad.kind(), grad.device());
            // Gradients of gi (reset, update, candidate pre-activations) and of gh (the same
            // reset and update parts; h W_hn^T + b_hn for the candidate), per step.
            let d_gi = Tensor::f_empty([time, batch, 3 * hidden], opts)?;
            let d_gh = Tensor::f_empty([time, batch, 3 * hidden], opts)?;
            let w_hh = w_hh.f_detach()?;
            let jobs = shards(batch)
                .into_iter()
                .map(|(start, len)| {
                    Ok(BackwardJob {
                        d_out: grad.f_narrow(0, start, len)?,
                        steps: steps.rows(start, len)?,
                        d_gi: d_gi.f_narrow(1, start, len)?,
                        d_gh: d_gh.f_narrow(1, start, len)?,
                        w_hh: w_hh.shallow_clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            run_sharded(jobs, backward_rows)?;
            // W_hh's gradient over every step at once: [3H, T*B] x [T*B, H].
            let d_gh = d_gh.f_reshape([-1, 3 * hidden])?;
            let h_prev = steps.h.f_narrow(0, 0, time)?.f_reshape([-1, hidden])?;
            let d_w_hh = d_gh.f_transpose(0, 1)?.f_mm(&h_prev)?;
            let d_b_n = d_gh
                .f_narrow(1, h2, hidden)?
                .f_sum_dim_intlist(0, false, Kind::Float)?;
            Ok((d_gi, d_w_hh, d_b_n))
        })?;
        // Hand the gradients to autograd: d/dx sum(x * g) = g, for g without a graph.
        let d_gi = d_gi.f_reshape([-1, 3 * hidden])?;
        let pull = match input {
            Input::Table { table, ids } => {
                let d_table = tch::no_grad(|| {
                    table
                        .f_detach()?
                        .f_zeros_like()?
                        .f_index_add_(0, &ids, &d_gi)
                })?;
                table.f_mul(&d_table)?.f_sum(Kind::Float)?
            }
            Input::Projections(gi) => gi.f_mul(&d_gi)?.f_sum(Kind::Float)?,
        }
        .f_add(&w_hh.f_mul(&d_w_hh)?.f_sum(Kind::Float)?)?
        .f_add(
            &b_hh
                .f_narrow(0, h2, hidden)?
                .f_mul(&d_b_n)?
                .f_sum(Kind::Float)?,
        )?;
        pull.f_backward()?;
        Ok(())
    }
}

struct BackwardJob {
    /// `[b, T, H]`: the gradient that reached this shard's outputs.
    d_out: Tensor,
    steps: Steps,
    d_gi: Tensor,
    d_gh: Tensor,
    w_hh: Tensor,
}

/// Backpropagation through time for one shard, into its rows of `d_gi` and `d_gh`.
fn backward_rows(job: BackwardJob) -> Result<()> {
    let BackwardJob {
        d_out,
        steps,
        d_gi,
        d_gh,
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
    for t in (0..time).rev() {
        let (rz, n, h_prev) = (
            steps.rz.f_select(0, t)?,
            steps.n.f_select(0, t)?,
            steps.h.f_select(0, t)?,
        );
        let ghn = steps.gh.f_select(0, t)?.f_narrow(1, h2, hidden)?;
        let (gi_t, gh_t) = (d_gi.f_select(0, t)?, d_gh.f_select(0, t)?);
        let (r, z) = (rz.f_narrow(1, 0, hidden)?, rz.f_narrow(1, hidden, hidden)?);
        let _ = dh.f_add_(&d_out.f_select(1, t)?)?;
        // h_t = n + z (h_prev - n)
        let _ = dh.f_mul_out(&dhz, &z)?;
        let _ = dh.f_sub_out(&dn, &dhz)?;
        let da_n = gi_t.f_narrow(1, h2, hidden)?;
        let _ = Tensor::f_tanh_backward_grad_input(&da_n, &dn, &n)?;
        let _ = h_prev.f_sub_out(&hp_n, &n)?;
        let _ = dh.f_mul_out(&d_rz.f_narrow(1, hidden, hidden)?, &hp_n)?;
        // n = tanh(gi_n + r ghn), (r, z) = sigmoid(gi_rz + gh_rz)
        let _ = da_n.f_mul_out(&d_rz.f_narrow(1, 0, hidden)?, &ghn)?;
        let da_rz = gi_t.f_narrow(1, 0, h2)?;
        let _ = Tensor::f_sigmoid_backward_grad_input(&da_rz, &d_rz, &rz)?;
        gh_t.f_narrow(1, 0, h2)?.f_copy_(&da_rz)?;
        let _ = da_n.f_mul_out(&gh_t.f_narrow(1, h2, hidden)?, &r)?;
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

/// Runs `work` on every job: inline for one job, else in parallel OS threads with one
/// libtorch thread each (libtorch's count is restored afterwards). Jobs write disjoint rows.
fn run_sharded<J: Send>(jobs: Vec<J>, work: fn(J) -> Result<()>) -> Result<()> {
    if jobs.len() <= 1 {
        return jobs.into_iter().try_for_each(work);
    }
    let threads = tch::get_num_threads();
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                scope.spawn(move || {
                    // Grad mode is per thread; nothing here is recorded.
                    tch::set_num_threads(1);
                    tch::no_grad(|| work(job))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(crate::Error::Config {
                        field: "gru",
                        reason: "a recurrence thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    tch::set_num_threads(threads);
    results.into_iter().collect()
}

//! The GRU one step at a time, without autograd: token-by-token generation.

use super::autograd::gru_cell;
use super::{Gru, folded_bias, fused, incomplete, recurrent_bias};
use crate::Result;
use tch::{Kind, Tensor};

/// A unidirectional [`Gru`] prepared for running one step at a time without autograd (token
/// by token generation): every weight matrix transposed and contiguous, `b_hh`'s reset and
/// update parts folded into the input bias, and layer 0's input projection left to the
/// caller, who can precompute it per token ([`GruStepper::input_table`]).
///
/// Each layer's step computes the GRU cell: on the CPU in f32 as one GEMM and one fused
/// element-wise pass, elsewhere with libtorch kernels (two GEMMs and four element-wise ones).
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
                    // One GEMM and one fused pass (`fused.rs`) instead of two GEMMs and
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

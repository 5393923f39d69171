//! Gradient averaging for data-parallel runs: what an optimiser holds to average its gradients
//! over the ranks before it steps ([`crate::learner::DataParallel`] attaches it).

use crate::Result;
use gen_dist::{GradBuckets, ProcessGroup};
use std::cell::Cell;
use std::rc::Rc;
use tch::Tensor;

/// What an [`Optimizer`](crate::Optimizer) of a data-parallel run holds to average its
/// gradients: the group, buckets planned for its parameters plus one mask of which had a
/// gradient, and the step's weight.
#[derive(Debug)]
pub(crate) struct GradSync {
    group: Rc<ProcessGroup>,
    buckets: GradBuckets,
    weight: Rc<Cell<f64>>,
}

impl GradSync {
    /// Averages over `group` in `buckets`, each gradient first scaled by `weight`'s value at
    /// the step (a short shard's share of the batch).
    pub(crate) fn new(
        group: Rc<ProcessGroup>,
        buckets: GradBuckets,
        weight: Rc<Cell<f64>>,
    ) -> Self {
        GradSync {
            group,
            buckets,
            weight,
        }
    }

    /// The ranks' mean of each gradient of `params` (`None` where this rank's loss did not
    /// reach it); `None` where no rank's did.
    pub(crate) fn average(
        &mut self,
        params: &[&Tensor],
        grads: Vec<Option<Tensor>>,
    ) -> Result<Vec<Option<Tensor>>> {
        let weight = self.weight.get();
        let mut mask = Vec::with_capacity(grads.len());
        let mut list = Vec::with_capacity(grads.len() + 1);
        tch::no_grad(|| -> Result<()> {
            for (param, grad) in params.iter().zip(grads) {
                mask.push(if grad.is_some() { 1.0f32 } else { 0.0 });
                list.push(match grad {
                    Some(mut g) => {
                        if weight != 1.0 {
                            let _ = g.f_mul_scalar_(weight)?;
                        }
                        g
                    }
                    None => param.f_zeros_like()?,
                });
            }
            Ok(())
        })?;
        list.push(Tensor::f_from_slice(&mask)?);
        self.buckets.average(&self.group, &mut list)?;
        let reached = list.pop().map(|m| Vec::<f32>::try_from(&m)).transpose()?;
        let reached = reached.unwrap_or_default();
        Ok(list
            .into_iter()
            .zip(reached)
            .map(|(g, r)| (r > 0.0).then_some(g))
            .collect())
    }
}

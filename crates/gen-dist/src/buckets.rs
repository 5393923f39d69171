//! DDP's gradient averaging and parameter broadcast, on flat buckets.
//!
//! c10d cannot all-reduce a list of tensors of mixed shapes in one call (a list means one
//! tensor per device), and one call per tensor pays the network's latency per tensor. So, as
//! `torch.nn.parallel.DistributedDataParallel` does, tensors are copied into a few flat buffers
//! of about 25 MiB, each all-reduced in one call, and copied back.

use crate::error::{Error, Result};
use crate::group::{ProcessGroup, check_tensor};
use tch::{Kind, Tensor};

/// DDP's default bucket for broadcasting module states at start-up (250 MiB).
pub const BROADCAST_BUCKET_BYTES: usize = 250 << 20;

/// Where each tensor of a list lives in a set of flat buckets, and the buckets themselves
/// (allocated once, reused at every step).
#[derive(Debug)]
pub struct GradBuckets {
    buckets: Vec<Bucket>,
    /// Every member's shape, in the order of the list the plan was made for.
    shapes: Vec<Vec<i64>>,
}

#[derive(Debug)]
struct Bucket {
    kind: Kind,
    /// (index in the list, offset in `flat`, number of elements).
    members: Vec<Member>,
    flat: Tensor,
}

/// One tensor's place in a bucket: (index in the list, offset in the flat buffer, elements).
type Member = (usize, i64, i64);

/// A bucket being filled by [`GradBuckets::new`].
struct Filling {
    kind: Kind,
    members: Vec<Member>,
    numel: i64,
}

impl GradBuckets {
    /// Plans buckets for `tensors` (their shapes and dtypes; e.g. the parameters, whose
    /// gradients match them): in list order, each bucket holds tensors of one dtype up to
    /// `bucket_bytes`; a larger tensor gets a bucket of its own.
    pub fn new(tensors: &[Tensor], bucket_bytes: usize) -> Result<GradBuckets> {
        if bucket_bytes == 0 {
            return Err(Error::InvalidArgument {
                name: "bucket_bytes",
                reason: "a bucket must hold at least one byte".into(),
            });
        }
        // One bucket being filled per dtype.
        let mut open: Vec<Filling> = Vec::new();
        let mut closed = Vec::new();
        let mut shapes = Vec::with_capacity(tensors.len());
        for (index, tensor) in tensors.iter().enumerate() {
            let kind = check_tensor("GradBuckets::new", tensor)?;
            let numel = i64::try_from(tensor.numel()).map_err(|_| Error::InvalidTensor {
                op: "GradBuckets::new",
                reason: format!("tensor {index} is too large"),
            })?;
            shapes.push(tensor.size());
            let cap = i64::try_from(bucket_bytes / kind.elt_size_in_bytes().max(1))
                .unwrap_or(i64::MAX)
                .max(1);
            let slot = match open.iter().position(|b| b.kind == kind) {
                Some(slot) => slot,
                None => {
                    open.push(Filling {
                        kind,
                        members: Vec::new(),
                        numel: 0,
                    });
                    open.len() - 1
                }
            };
            let Some(bucket) = open.get_mut(slot) else {
                continue;
            };
            if bucket.numel > 0 && bucket.numel + numel > cap {
                closed.push(Filling {
                    kind,
                    members: std::mem::take(&mut bucket.members),
                    numel: std::mem::take(&mut bucket.numel),
                });
            }
            bucket.members.push((index, bucket.numel, numel));
            bucket.numel += numel;
        }
        closed.extend(open.into_iter().filter(|b| !b.members.is_empty()));
        let buckets = closed
            .into_iter()
            .map(|b| {
                Ok(Bucket {
                    kind: b.kind,
                    members: b.members,
                    flat: Tensor::f_zeros([b.numel], (b.kind, tch::Device::Cpu))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GradBuckets { buckets, shapes })
    }

    /// How many buckets the plan has (one all-reduce each).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether the plan has no bucket (it was made for an empty list).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Replaces each of `grads` by its mean over the ranks, as DDP does after backward:
    /// each gradient is multiplied by `1 / world_size` as it is copied into its bucket, the
    /// buckets are summed over the ranks, and the results copied back.
    ///
    /// `grads` must match the tensors the plan was made for, in order, shape and dtype, and
    /// every one must be defined (a parameter that took no part in the loss has an undefined
    /// gradient: zero it first).
    pub fn average(&mut self, group: &ProcessGroup, grads: &mut [Tensor]) -> Result<()> {
        self.check_list("GradBuckets::average", grads)?;
        if group.world_size() == 1 {
            return Ok(());
        }
        let scale = 1.0 / group.world_size() as f64;
        tch::no_grad(|| -> Result<()> {
            for bucket in &mut self.buckets {
                bucket.gather(grads)?;
                let _ = bucket.flat.f_mul_scalar_(scale)?;
                group.all_reduce_sum(&mut bucket.flat)?;
                bucket.scatter(grads)?;
            }
            Ok(())
        })
    }

    /// Copies rank `root`'s `tensors` into `tensors` on every rank, bucket by bucket.
    pub fn broadcast(
        &mut self,
        group: &ProcessGroup,
        tensors: &mut [Tensor],
        root: usize,
    ) -> Result<()> {
        self.check_list("GradBuckets::broadcast", tensors)?;
        if group.world_size() == 1 {
            return Ok(());
        }
        tch::no_grad(|| -> Result<()> {
            for bucket in &mut self.buckets {
                if group.rank() == root {
                    bucket.gather(tensors)?;
                }
                group.broadcast(&mut bucket.flat, root)?;
                if group.rank() != root {
                    bucket.scatter(tensors)?;
                }
            }
            Ok(())
        })
    }

    fn check_list(&self, op: &'static str, tensors: &[Tensor]) -> Result<()> {
        if tensors.len() != self.shapes.len() {
            return Err(Error::InvalidTensor {
                op,
                reason: format!(
                    "{} tensors given, but the buckets were planned for {}",
                    tensors.len(),
                    self.shapes.len()
                ),
            });
        }
        for (index, (tensor, shape)) in tensors.iter().zip(&self.shapes).enumerate() {
            if !tensor.defined() {
                return Err(Error::InvalidTensor {
                    op,
                    reason: format!(
                        "tensor {index} is undefined (a parameter without a gradient: it took \
                         no part in the loss; zero its gradient first)"
                    ),
                });
            }
            if tensor.size() != *shape {
                return Err(Error::InvalidTensor {
                    op,
                    reason: format!(
                        "tensor {index} has shape {:?}, but the buckets were planned for {shape:?}",
                        tensor.size()
                    ),
                });
            }
        }
        for bucket in &self.buckets {
            for &(index, _, _) in &bucket.members {
                let kind = tensors.get(index).map(Tensor::f_kind).transpose()?;
                if kind != Some(bucket.kind) {
                    return Err(Error::InvalidTensor {
                        op,
                        reason: format!(
                            "tensor {index} has dtype {kind:?}, but the buckets were planned \
                             for {:?}",
                            bucket.kind
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Bucket {
    /// Copies the members of `tensors` into the flat buffer.
    fn gather(&mut self, tensors: &[Tensor]) -> Result<()> {
        for &(index, offset, numel) in &self.members {
            if let Some(tensor) = tensors.get(index) {
                let mut slot = self.flat.f_narrow(0, offset, numel)?;
                slot.f_copy_(&tensor.f_reshape([numel])?)?;
            }
        }
        Ok(())
    }

    /// Copies the flat buffer back into the members of `tensors`.
    fn scatter(&self, tensors: &mut [Tensor]) -> Result<()> {
        for &(index, offset, numel) in &self.members {
            if let Some(tensor) = tensors.get_mut(index) {
                let slot = self.flat.f_narrow(0, offset, numel)?;
                let shape = tensor.size();
                tensor.f_copy_(&slot.f_view(shape.as_slice())?)?;
            }
        }
        Ok(())
    }
}

/// Copies rank 0's `params` (parameters and buffers) into `params` on every rank, as DDP does
/// at start-up, in buckets of [`BROADCAST_BUCKET_BYTES`].
pub fn broadcast_parameters(group: &ProcessGroup, params: &mut [Tensor]) -> Result<()> {
    if group.world_size() == 1 || params.is_empty() {
        return Ok(());
    }
    GradBuckets::new(params, BROADCAST_BUCKET_BYTES)?.broadcast(group, params, 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_cap_and_split_by_dtype() {
        let t = |n: i64, kind| Tensor::zeros([n], (kind, tch::Device::Cpu));
        // 16-byte cap: four f32 or two f64 per bucket.
        let list = [
            t(2, Kind::Float),
            t(2, Kind::Float),
            t(1, Kind::Double),
            t(1, Kind::Float),
            t(9, Kind::Float),
            t(1, Kind::Double),
        ];
        let plan = GradBuckets::new(&list, 16).unwrap();
        let layout: Vec<(Kind, Vec<usize>)> = plan
            .buckets
            .iter()
            .map(|b| (b.kind, b.members.iter().map(|m| m.0).collect()))
            .collect();
        assert_eq!(
            layout,
            vec![
                (Kind::Float, vec![0, 1]),
                (Kind::Float, vec![3]),
                (Kind::Float, vec![4]),
                (Kind::Double, vec![2, 5]),
            ]
        );
    }

    #[test]
    fn gather_then_scatter_round_trips_mixed_shapes() {
        let list = [
            Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).view([2, 3]),
            Tensor::from_slice(&[7.0f32]),
            Tensor::from_slice(&[8.0f32, 9.0]).view([1, 2, 1]),
        ];
        let mut plan = GradBuckets::new(&list, 1 << 20).unwrap();
        assert_eq!(plan.len(), 1);
        let bucket = &mut plan.buckets[0];
        bucket.gather(&list).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(&bucket.flat).unwrap(),
            (1..=9).map(|v| v as f32).collect::<Vec<_>>()
        );
        let mut out: Vec<Tensor> = list.iter().map(Tensor::zeros_like).collect();
        bucket.scatter(&mut out).unwrap();
        for (a, b) in list.iter().zip(&out) {
            assert!(a.equal(b));
        }
    }

    #[test]
    fn a_list_that_does_not_match_the_plan_is_an_error() {
        let plan = GradBuckets::new(
            &[Tensor::zeros([2, 2], (Kind::Float, tch::Device::Cpu))],
            64,
        )
        .unwrap();
        let err = plan
            .check_list("t", &[Tensor::zeros([4], (Kind::Float, tch::Device::Cpu))])
            .unwrap_err();
        assert!(err.to_string().contains("shape [4]"), "{err}");
        let err = plan.check_list("t", &[Tensor::new()]).unwrap_err();
        assert!(err.to_string().contains("undefined"), "{err}");
        let err = plan
            .check_list(
                "t",
                &[Tensor::zeros([2, 2], (Kind::Double, tch::Device::Cpu))],
            )
            .unwrap_err();
        assert!(err.to_string().contains("Double"), "{err}");
    }
}

//! [`ProcessGroup`]: the ranks of a run joined in a Gloo process group, and its collectives.

use crate::config::DistConfig;
use crate::error::{Error, Result};
use crate::ffi::RawGroup;
use crate::rendezvous::Rendezvous;
use crate::store::Store;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// The ranks of a run, connected by c10d's Gloo backend (CPU tensors over TCP).
///
/// Every collective blocks until it is done on this rank, and must be called in the same order
/// with tensors of the same shapes and dtypes on every rank. The first failure (a peer died,
/// stopped answering past the timeout, or called something else) is returned as
/// [`Error::Collective`] and marks the group failed: later calls return an error at once
/// instead of waiting on a broken connection.
pub struct ProcessGroup {
    raw: RawGroup,
    rank: usize,
    world_size: usize,
    local_rank: usize,
    failed: Cell<bool>,
    /// Keeps the store alive: on the rank that hosts it, dropping it would stop the server.
    _store: Store,
}

impl ProcessGroup {
    /// Joins the group that the environment describes ([`Rendezvous::from_env`]); `Ok(None)`
    /// when no launcher's variables are set.
    pub fn from_env(config: &DistConfig) -> Result<Option<ProcessGroup>> {
        match Rendezvous::from_env()? {
            Some(rendezvous) => Self::init(&rendezvous, config).map(Some),
            None => Ok(None),
        }
    }

    /// Reaches (or, on rank 0 without an agent, hosts) the store, waits until every rank has
    /// joined with the same world size, connects the ranks and passes a barrier.
    ///
    /// Fails within [`DistConfig::init_timeout_s`] (plus connection set-up) when a rank is
    /// missing, the store cannot be reached, two ranks disagree on the world size, or two
    /// processes claim the same rank.
    pub fn init(rendezvous: &Rendezvous, config: &DistConfig) -> Result<ProcessGroup> {
        let init_timeout = config.init_timeout()?;
        let timeout = config.timeout()?;
        let store = rendezvous.store(init_timeout)?;
        let (rank, world_size) = (rendezvous.rank, rendezvous.world_size);
        let group_store = join(&store, rank, world_size, init_timeout)?;
        let ifnames = rendezvous.socket_ifname.as_deref().unwrap_or("");
        let raw = RawGroup::gloo(
            group_store.raw(),
            rank,
            world_size,
            init_timeout,
            timeout,
            ifnames,
        )
        .map_err(|message| Error::Group {
            rank,
            world_size,
            message,
        })?;
        let group = ProcessGroup {
            raw,
            rank,
            world_size,
            local_rank: rendezvous.local_rank,
            failed: Cell::new(false),
            _store: store,
        };
        // Every rank is done with the store's rendezvous keys before any goes on (and so
        // before the host could exit and take the store with it).
        group.barrier()?;
        tracing::info!(
            rank,
            world_size,
            addr = %rendezvous.master_addr,
            port = rendezvous.master_port,
            "joined the process group"
        );
        Ok(group)
    }

    /// This process's rank, `0..world_size`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// How many ranks the group has.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// This process's rank among those on its machine.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// Whether this is rank 0, the one that writes logs, samples and checkpoints.
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// Sums `tensor` over all ranks, in place.
    pub fn all_reduce_sum(&self, tensor: &mut Tensor) -> Result<()> {
        self.all_reduce_sum_each(std::slice::from_mut(tensor))
    }

    /// Sums each tensor of `tensors` over all ranks, in place. The tensors may differ in shape
    /// (not in dtype); c10d flattens them into one buffer for one all-reduce. For gradients,
    /// prefer [`GradBuckets`](crate::GradBuckets), which keeps its buffers between steps.
    pub fn all_reduce_sum_each(&self, tensors: &mut [Tensor]) -> Result<()> {
        const OP: &str = "all_reduce";
        if tensors.is_empty() {
            return Ok(());
        }
        let mut first = None;
        for tensor in tensors.iter() {
            let kind = check_tensor(OP, tensor)?;
            match first {
                Some(first) if first != kind => {
                    return Err(Error::InvalidTensor {
                        op: OP,
                        reason: format!("mixed dtypes ({first:?} and {kind:?}) in one call"),
                    });
                }
                _ => first = Some(kind),
            }
        }
        self.run(OP, || self.raw.all_reduce_sum(tensors))
    }

    /// Copies rank `root`'s `tensor` into `tensor` on every other rank.
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize) -> Result<()> {
        const OP: &str = "broadcast";
        check_tensor(OP, tensor)?;
        if root >= self.world_size {
            return Err(Error::InvalidArgument {
                name: "root",
                reason: format!(
                    "rank {root} is not below the world size {}",
                    self.world_size
                ),
            });
        }
        self.run(OP, || self.raw.broadcast(tensor, root))
    }

    /// Every rank's `tensor`, in rank order.
    pub fn all_gather(&self, tensor: &Tensor) -> Result<Vec<Tensor>> {
        const OP: &str = "all_gather";
        check_tensor(OP, tensor)?;
        let mut outputs = (0..self.world_size)
            .map(|_| tensor.f_empty_like())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.run(OP, || self.raw.all_gather(tensor, &mut outputs))?;
        Ok(outputs)
    }

    /// Returns once every rank has called it.
    pub fn barrier(&self) -> Result<()> {
        self.run("barrier", || self.raw.barrier())
    }

    /// The element-wise sum of `values` over all ranks (in f64; e.g. summed losses and counts).
    pub fn sum_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let mut tensor = Tensor::f_from_slice(values)?;
        self.all_reduce_sum(&mut tensor)?;
        Ok(Vec::<f64>::try_from(&tensor)?)
    }

    /// The element-wise mean of `values` over all ranks (in f64): metrics averaged as DDP
    /// users average them.
    pub fn mean_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        let n = self.world_size as f64;
        Ok(self.sum_f64(values)?.into_iter().map(|v| v / n).collect())
    }

    /// Checks that every rank passed the same `bytes` (e.g. the serialised config), comparing
    /// 64-bit SHA-256 prefixes; on a mismatch every rank returns [`Error::Disagreement`]
    /// naming `what` and which ranks differ.
    pub fn check_same(&self, what: &str, bytes: &[u8]) -> Result<()> {
        let digest = Sha256::digest(bytes);
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&digest[..8]);
        let hash = u64::from_le_bytes(prefix);
        // Reinterpreted as i64 for the tensor and back; no bits change.
        let local = Tensor::f_from_slice(&[i64::from_le_bytes(prefix)])?;
        let hashes = self
            .all_gather(&local)?
            .iter()
            .map(|t| {
                t.f_int64_value(&[0])
                    .map(|v| u64::from_le_bytes(v.to_le_bytes()))
            })
            .collect::<std::result::Result<Vec<u64>, _>>()?;
        if hashes.iter().all(|&h| h == hash) {
            Ok(())
        } else {
            Err(Error::Disagreement {
                what: what.to_owned(),
                rank: self.rank,
                hashes,
            })
        }
    }

    /// Runs one collective, turning a failure into [`Error::Collective`] and refusing to run
    /// on a group that failed before.
    fn run(&self, op: &'static str, call: impl FnOnce() -> Result<(), String>) -> Result<()> {
        if self.failed.get() {
            return Err(self.collective_error(
                op,
                "an earlier collective of this group failed; the group cannot be used again"
                    .to_owned(),
            ));
        }
        call().map_err(|message| {
            self.failed.set(true);
            self.collective_error(op, message)
        })
    }

    fn collective_error(&self, op: &'static str, message: String) -> Error {
        Error::Collective {
            op,
            rank: self.rank,
            world_size: self.world_size,
            message,
        }
    }
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("rank", &self.rank)
            .field("world_size", &self.world_size)
            .field("local_rank", &self.local_rank)
            .finish_non_exhaustive()
    }
}

/// Checks what Gloo needs of a tensor: defined, dense, contiguous, on the CPU. Returns its
/// dtype.
pub(crate) fn check_tensor(op: &'static str, tensor: &Tensor) -> Result<Kind> {
    if !tensor.defined() {
        return Err(Error::InvalidTensor {
            op,
            reason: "the tensor is undefined".into(),
        });
    }
    let reason = if tensor.device() != Device::Cpu {
        Some(format!(
            "the tensor is on {:?}; the Gloo backend takes CPU tensors",
            tensor.device()
        ))
    } else if tensor.is_sparse() {
        Some("the tensor is sparse; only dense tensors are supported".into())
    } else if !tensor.is_contiguous() {
        Some(format!(
            "the tensor (shape {:?}) is not contiguous; pass `.contiguous()`",
            tensor.size()
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidTensor { op, reason }),
        None => Ok(tensor.f_kind()?),
    }
}

/// How many groups this process has begun to join.
static GROUPS: AtomicUsize = AtomicUsize::new(0);

/// The join protocol, on top of the shared store, before Gloo connects the ranks.
///
/// Each process numbers the groups it joins (`GROUPS`), so the `g`-th group of every rank uses
/// the keys under `gen/<g>/` (as long as every rank joins the same groups in the same order):
/// 1. `claim/<rank>` is incremented: a second claimant of a rank fails at once;
/// 2. `rank/<rank>` is set to this rank's world size;
/// 3. every rank reads rank 0's world size, then waits for all ranks `0..world_size`,
///    comparing each world size with its own, until `timeout`.
///
/// Returns the view of the store under which Gloo exchanges its addresses (`gen/<g>/gloo`).
fn join(store: &Store, rank: usize, world_size: usize, timeout: Duration) -> Result<Store> {
    let deadline = Instant::now() + timeout;
    let group = GROUPS.fetch_add(1, Ordering::Relaxed);
    let scope = store.prefixed(&format!("gen/{group}"))?;
    if scope.add(&format!("claim/{rank}"), 1)? > 1 {
        return Err(Error::DuplicateRank { rank });
    }
    scope.set(&format!("rank/{rank}"), world_size.to_string().as_bytes())?;
    // Rank 0 first: it is there in every run, so a world-size mismatch shows at once.
    let order = std::iter::once(0).chain((0..world_size).filter(|&r| r != 0 && r != rank));
    let mut pending: Vec<usize> = order.collect();
    let mut pause = Duration::from_millis(1);
    loop {
        let mut still = Vec::new();
        for (i, &other) in pending.iter().enumerate() {
            let key = format!("rank/{other}");
            if !scope.check(&key)? {
                if other == 0 {
                    // Until rank 0 is there, only it is checked, so that a world-size
                    // mismatch is reported against rank 0 first.
                    still.extend_from_slice(&pending[i..]);
                    break;
                }
                still.push(other);
                continue;
            }
            let value = scope.get(&key)?;
            let other_world_size = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| Error::StoreOp {
                    op: "get",
                    key: key.clone(),
                    message: format!("unexpected value {value:?}"),
                })?;
            if other_world_size != world_size {
                return Err(Error::WorldSizeMismatch {
                    rank,
                    world_size,
                    other_rank: other,
                    other_world_size,
                });
            }
        }
        if still.is_empty() {
            return scope.prefixed("gloo");
        }
        if Instant::now() >= deadline {
            let mut missing = Vec::new();
            for &other in &still {
                if !scope.check(&format!("rank/{other}"))? {
                    missing.push(other);
                }
            }
            if !missing.is_empty() {
                missing.sort_unstable();
                return Err(Error::JoinTimeout {
                    rank,
                    world_size,
                    missing,
                    timeout,
                });
            }
            // Everyone arrived just now: one more pass compares their world sizes.
            pending = still;
            continue;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
        pending = still;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tensors_gloo_cannot_take_are_refused_with_a_reason() {
        let t = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        assert_eq!(check_tensor("op", &t).unwrap(), Kind::Float);
        let err = check_tensor("op", &t.tr()).unwrap_err().to_string();
        assert!(err.contains("not contiguous"), "{err}");
        let err = check_tensor("op", &Tensor::new()).unwrap_err().to_string();
        assert!(err.contains("undefined"), "{err}");
    }
}

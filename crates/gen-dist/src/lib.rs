//! gen-dist: data-parallel training on PyTorch's distributed runtime, c10d, which libtorch
//! already contains. A small C++ shim binds its TCP store and its Gloo backend (CPU tensors
//! over TCP); this crate wraps them in a safe [`ProcessGroup`].
//!
//! - [`Rendezvous`]: who this process is and where the ranks meet, from torchrun's or SLURM's
//!   environment variables.
//! - [`Store`]: c10d's TCP store, which a launcher can host on a free port before it starts the
//!   ranks ([`Store::host`] on port 0, then [`Store::port`]); [`LocalAgent`] does that and
//!   gives each local rank its environment, as `torchrun --standalone` does.
//! - [`ProcessGroup`]: all-reduce (sum), broadcast, all-gather and barrier; averaged metrics
//!   ([`ProcessGroup::mean_f64`]) and a check that every rank runs the same config
//!   ([`ProcessGroup::check_same`]).
//! - [`GradBuckets`] and [`broadcast_parameters`]: DDP's gradient averaging in flat buckets of
//!   about 25 MiB, and its start-up broadcast of rank 0's parameters.
//!
//! Every C++ exception comes back as an [`Error`], never an abort; every wait has a timeout
//! ([`DistConfig`]).
//!
//! # Rendezvous variables
//!
//! | variable | meaning |
//! |---|---|
//! | `RANK`, `WORLD_SIZE` | this process's rank and the number of ranks (set together) |
//! | `LOCAL_RANK`, `LOCAL_WORLD_SIZE` | the rank among, and number of, ranks on this machine |
//! | `MASTER_ADDR`, `MASTER_PORT` | where the store is: rank 0's machine, or the launcher's |
//! | `TORCHELASTIC_USE_AGENT_STORE=True`, `TORCHELASTIC_RESTART_COUNT` | torchrun's agent hosts the store; every rank is a client under `/worker/attempt_<count>` |
//! | `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID` | used when `RANK` and `WORLD_SIZE` are not set (one `srun` task per rank) |
//! | `SLURM_LAUNCH_NODE_IPADDR`, `SLURM_JOB_ID` | under SLURM, the defaults of `MASTER_ADDR` and of `MASTER_PORT` (`20000 + job id % 10000`) |
//! | `GLOO_SOCKET_IFNAME` | the network interface(s) Gloo binds to, comma separated |
//!
//! torchrun sets all of its variables. Without an agent store, rank 0 hosts the store on
//! `MASTER_PORT`, as torch's `env://` does.
//!
//! **Under SLURM**, `SLURM_LAUNCH_NODE_IPADDR` is the machine that ran `srun`. In a batch
//! script that is the first node of the allocation, where task 0 runs; when `srun` is run from
//! a login node (after `salloc`), set `MASTER_ADDR` to the first node yourself, e.g.
//! `export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)`.
//!
//! # Several machines
//!
//! Each rank tells its peers the address Gloo bound to. Without `GLOO_SOCKET_IFNAME`, that is
//! the address this machine's host name resolves to, and on many machines (Debian's and
//! Ubuntu's default `/etc/hosts`, containers) that is `127.0.0.1`. Peers on other machines then
//! connect to themselves and the group never forms: after the init timeout every rank fails
//! with [`Error::Group`]. Set `GLOO_SOCKET_IFNAME` to the interface the machines share (as
//! `ip -brief address` lists it, e.g. `eth0` or `ib0`) on every machine. On one machine the
//! default works.
//!
//! # Example
//!
//! ```no_run
//! use gen_dist::{DistConfig, GradBuckets, ProcessGroup, broadcast_parameters};
//! # fn main() -> gen_dist::Result<()> {
//! let config = DistConfig::default();
//! let Some(group) = ProcessGroup::from_env(&config)? else {
//!     return Ok(()); // not launched by torchrun or SLURM: train alone
//! };
//! group.check_same("the config", b"preset = mnist-dcgan")?;
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! // ... build the model in `vs` ...
//! let mut params = vs.trainable_variables();
//! broadcast_parameters(&group, &mut params)?;
//! let mut buckets = GradBuckets::new(&params, config.bucket_bytes()?)?;
//! // After each backward:
//! let mut grads: Vec<tch::Tensor> = params.iter().map(|p| p.grad()).collect();
//! buckets.average(&group, &mut grads)?;
//! let loss_mean = group.mean_f64(&[0.5])?;
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! A failure ends the group on the rank that sees it: a peer that dies is noticed at once
//! (its sockets close), one that hangs after [`DistConfig::timeout_s`], a missing peer or an
//! unreachable store after [`DistConfig::init_timeout_s`]. Each error names this rank and what
//! failed, e.g. `rank 0 of 2: all_reduce failed: Connection closed by peer [127.0.0.1]:41235`.
//!
//! CUDA tensors (c10d's NCCL backend) are not bound yet: the Gloo backend takes CPU tensors.

mod buckets;
mod config;
mod error;
mod ffi;
mod group;
mod launch;
mod rendezvous;
mod store;

pub use buckets::{BROADCAST_BUCKET_BYTES, GradBuckets, broadcast_parameters};
pub use config::DistConfig;
pub use error::{Error, Result};
pub use group::ProcessGroup;
pub use launch::LocalAgent;
pub use rendezvous::{DEFAULT_MASTER_PORT, Launcher, Rendezvous, StoreRole};
pub use store::Store;

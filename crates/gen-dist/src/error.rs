//! The crate's single error type.

use std::time::Duration;

/// Result alias used throughout gen-dist.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in gen-dist.
///
/// Each message names the rank, the variable, the address or the operation involved, and where
/// a user can act, what to do. A C++ exception from c10d or Gloo arrives as the `message` of
/// [`Error::Store`], [`Error::StoreOp`], [`Error::Group`] or [`Error::Collective`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error reported by libtorch through tch.
    #[error("torch error: {0}")]
    Torch(#[from] tch::TchError),

    /// An error from gen-core.
    #[error(transparent)]
    Core(#[from] gen_core::Error),

    /// A rendezvous variable is set to something unusable.
    #[error("rendezvous variable {variable}={value:?}: {reason}")]
    Env {
        /// The variable, e.g. `RANK`.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A rendezvous variable that the others require is not set.
    #[error("rendezvous variable {variable} is not set: {hint}")]
    MissingEnv {
        /// The variable, e.g. `MASTER_ADDR`.
        variable: &'static str,
        /// Why it is needed and what usually sets it.
        hint: String,
    },

    /// The rendezvous store could not be hosted or reached.
    #[error(
        "cannot {action} the rendezvous store at {addr}:{port} (timeout {:.1} s): {message}",
        .timeout.as_secs_f64()
    )]
    Store {
        /// `host` or `reach`.
        action: &'static str,
        /// The address (`MASTER_ADDR`).
        addr: String,
        /// The port (`MASTER_PORT`).
        port: u16,
        /// How long it waited.
        timeout: Duration,
        /// c10d's message.
        message: String,
    },

    /// A store operation failed after the store was reached (e.g. its host went away).
    #[error("rendezvous store: {op} `{key}` failed: {message}")]
    StoreOp {
        /// `set`, `get`, `add`, `check` or `prefix`.
        op: &'static str,
        /// The key.
        key: String,
        /// c10d's message.
        message: String,
    },

    /// Some ranks did not join the group in time.
    #[error(
        "rank {rank}: rank(s) {missing:?} of WORLD_SIZE={world_size} did not join within {:.1} s; \
         start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE",
        .timeout.as_secs_f64()
    )]
    JoinTimeout {
        /// This process's rank.
        rank: usize,
        /// The world size this process expects.
        world_size: usize,
        /// The ranks that never announced themselves.
        missing: Vec<usize>,
        /// How long it waited.
        timeout: Duration,
    },

    /// Two ranks were started with different world sizes.
    #[error(
        "rank {rank} has WORLD_SIZE={world_size}, but rank {other_rank} has \
         WORLD_SIZE={other_world_size}: start every rank with the same WORLD_SIZE"
    )]
    WorldSizeMismatch {
        /// This process's rank.
        rank: usize,
        /// This process's world size.
        world_size: usize,
        /// The rank it disagrees with.
        other_rank: usize,
        /// That rank's world size.
        other_world_size: usize,
    },

    /// Two processes claimed the same rank.
    #[error("two processes claim rank {rank}: start each rank once, with a distinct RANK")]
    DuplicateRank {
        /// The rank claimed twice.
        rank: usize,
    },

    /// The Gloo process group could not be built (connecting the ranks failed).
    #[error(
        "rank {rank} of {world_size}: cannot connect the ranks (Gloo): {message}; check \
         GLOO_SOCKET_IFNAME: on several machines it must name the network interface the ranks \
         share"
    )]
    Group {
        /// This process's rank.
        rank: usize,
        /// The world size.
        world_size: usize,
        /// c10d's message.
        message: String,
    },

    /// A collective failed: a peer died, stopped answering past the timeout, or the call did
    /// not match the peers' call. The group is unusable afterwards.
    #[error("rank {rank} of {world_size}: {op} failed: {message}")]
    Collective {
        /// `all_reduce`, `broadcast`, `all_gather` or `barrier`.
        op: &'static str,
        /// This process's rank.
        rank: usize,
        /// The world size.
        world_size: usize,
        /// c10d's or Gloo's message.
        message: String,
    },

    /// The ranks disagree on something that must be identical on all of them (e.g. the
    /// config).
    #[error(
        "rank {rank}: the ranks disagree on {what}: {}; start every rank with the same \
         settings",
        describe_hashes(.hashes)
    )]
    Disagreement {
        /// What was compared.
        what: String,
        /// This process's rank.
        rank: usize,
        /// Every rank's hash, in rank order.
        hashes: Vec<u64>,
    },

    /// A tensor cannot take part in a collective (device, layout, dtype or shape).
    #[error("{op}: {reason}")]
    InvalidTensor {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// An argument or option was out of its valid range.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// `rank 0: 0x…, rank 1: 0x…`, grouping ranks with equal hashes.
fn describe_hashes(hashes: &[u64]) -> String {
    let mut groups: Vec<(u64, Vec<usize>)> = Vec::new();
    for (rank, &hash) in hashes.iter().enumerate() {
        match groups.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, ranks)) => ranks.push(rank),
            None => groups.push((hash, vec![rank])),
        }
    }
    groups
        .iter()
        .map(|(hash, ranks)| format!("rank(s) {ranks:?} have {hash:#018x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disagreement_names_the_groups_of_ranks() {
        let err = Error::Disagreement {
            what: "the config".into(),
            rank: 1,
            hashes: vec![1, 2, 1],
        };
        assert_eq!(
            err.to_string(),
            "rank 1: the ranks disagree on the config: rank(s) [0, 2] have 0x0000000000000001, \
             rank(s) [1] have 0x0000000000000002; start every rank with the same settings"
        );
    }
}

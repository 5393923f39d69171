//! Where a rank learns who it is and where its peers meet: torchrun's environment variables,
//! or SLURM's as a fallback.

use crate::error::{Error, Result};
use crate::store::Store;
use std::time::Duration;

/// torch's default store port (`c10d::TCPStoreOptions::kDefaultPort`).
pub const DEFAULT_MASTER_PORT: u16 = 29500;

/// Who hosts the rendezvous store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreRole {
    /// Rank 0 hosts it on `MASTER_PORT`; the other ranks connect (torch's `env://`).
    Rank0Hosts,
    /// A launcher hosts it (torchrun's agent, with `TORCHELASTIC_USE_AGENT_STORE=True`, or gen's
    /// own `--nproc-per-node`): every rank is a client, and every key lives under `prefix`.
    Agent {
        /// `/worker/attempt_<TORCHELASTIC_RESTART_COUNT>`, as torch uses.
        prefix: String,
    },
}

/// Which launcher's variables gave the ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// `RANK` and `WORLD_SIZE` (torchrun, a Kubernetes PyTorchJob, or set by hand).
    Torchrun,
    /// `SLURM_PROCID` and `SLURM_NTASKS` (one `srun` task per rank).
    Slurm,
}

/// This process's place in a distributed run, read from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendezvous {
    /// This process's rank, `0..world_size`.
    pub rank: usize,
    /// How many ranks the run has.
    pub world_size: usize,
    /// The rank among those on this machine (`LOCAL_RANK` or `SLURM_LOCALID`; 0 when unset).
    pub local_rank: usize,
    /// How many ranks run on this machine (`LOCAL_WORLD_SIZE`), when the launcher says.
    pub local_world_size: Option<usize>,
    /// The store's address (`MASTER_ADDR`).
    pub master_addr: String,
    /// The store's port (`MASTER_PORT`).
    pub master_port: u16,
    /// Who hosts the store.
    pub store: StoreRole,
    /// The network interfaces Gloo binds to (`GLOO_SOCKET_IFNAME`, comma separated).
    pub socket_ifname: Option<String>,
    /// Which variables gave the ranks.
    pub launcher: Launcher,
}

impl Rendezvous {
    /// Reads the process's environment; `Ok(None)` when no launcher's variables are set (a
    /// plain single-process run). See [`Rendezvous::from_vars`].
    pub fn from_env() -> Result<Option<Rendezvous>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the rendezvous from `var` (a variable's value by name):
    ///
    /// - `RANK` and `WORLD_SIZE` (both or neither), `LOCAL_RANK`, `LOCAL_WORLD_SIZE`,
    ///   `MASTER_ADDR`, `MASTER_PORT`, as torchrun sets them;
    /// - otherwise `SLURM_PROCID`, `SLURM_NTASKS` and `SLURM_LOCALID`, with `MASTER_ADDR`
    ///   defaulting to `SLURM_LAUNCH_NODE_IPADDR` and `MASTER_PORT` to
    ///   `20000 + SLURM_JOB_ID % 10000` (or 29500 without a job id);
    /// - `TORCHELASTIC_USE_AGENT_STORE=True` with `TORCHELASTIC_RESTART_COUNT`: the store is
    ///   the launcher's ([`StoreRole::Agent`]);
    /// - `GLOO_SOCKET_IFNAME`.
    ///
    /// A world of one needs no address (it defaults to 127.0.0.1 and port 29500).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Rendezvous>> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let (launcher, rank, world_size, local_rank) = match (var("RANK"), var("WORLD_SIZE")) {
            (Some(rank), Some(world)) => (
                Launcher::Torchrun,
                parse_count("RANK", &rank)?,
                parse_count("WORLD_SIZE", &world)?,
                optional_count("LOCAL_RANK", var("LOCAL_RANK"))?,
            ),
            (Some(_), None) => return Err(missing("WORLD_SIZE", "RANK is set")),
            (None, Some(_)) => return Err(missing("RANK", "WORLD_SIZE is set")),
            (None, None) => match (var("SLURM_PROCID"), var("SLURM_NTASKS")) {
                (Some(rank), Some(world)) => (
                    Launcher::Slurm,
                    parse_count("SLURM_PROCID", &rank)?,
                    parse_count("SLURM_NTASKS", &world)?,
                    optional_count("SLURM_LOCALID", var("SLURM_LOCALID"))?,
                ),
                _ => return Ok(None),
            },
        };
        let world_variable = match launcher {
            Launcher::Torchrun => "WORLD_SIZE",
            Launcher::Slurm => "SLURM_NTASKS",
        };
        if world_size == 0 {
            return Err(Error::Env {
                variable: world_variable,
                value: "0".into(),
                reason: "the world size must be at least 1".into(),
            });
        }
        if rank >= world_size {
            return Err(Error::Env {
                variable: if launcher == Launcher::Torchrun {
                    "RANK"
                } else {
                    "SLURM_PROCID"
                },
                value: rank.to_string(),
                reason: format!("the rank must be below the world size, {world_size}"),
            });
        }
        let single = world_size == 1;
        let master_addr = match (var("MASTER_ADDR"), launcher) {
            (Some(addr), _) => addr.trim().to_owned(),
            (None, Launcher::Slurm) => match var("SLURM_LAUNCH_NODE_IPADDR") {
                Some(addr) => addr.trim().to_owned(),
                None if single => "127.0.0.1".to_owned(),
                None => {
                    return Err(missing(
                        "MASTER_ADDR",
                        "neither it nor SLURM_LAUNCH_NODE_IPADDR gives the address of rank 0's \
                         machine",
                    ));
                }
            },
            (None, Launcher::Torchrun) if single => "127.0.0.1".to_owned(),
            (None, Launcher::Torchrun) => {
                return Err(missing(
                    "MASTER_ADDR",
                    "it must name rank 0's machine (torchrun sets it)",
                ));
            }
        };
        let master_port = match (var("MASTER_PORT"), launcher) {
            (Some(port), _) => parse_port(&port)?,
            (None, Launcher::Slurm) => match var("SLURM_JOB_ID") {
                Some(job) => {
                    let job = parse_count("SLURM_JOB_ID", &job)?;
                    // Below 30000, clear of the usual ephemeral range; `job % 10000` fits u16.
                    20000 + u16::try_from(job % 10000).unwrap_or(0)
                }
                None => DEFAULT_MASTER_PORT,
            },
            (None, Launcher::Torchrun) if single => DEFAULT_MASTER_PORT,
            (None, Launcher::Torchrun) => {
                return Err(missing(
                    "MASTER_PORT",
                    "it must give the store's port (torchrun sets it)",
                ));
            }
        };
        let store = if var("TORCHELASTIC_USE_AGENT_STORE").as_deref() == Some("True") {
            let attempt = var("TORCHELASTIC_RESTART_COUNT").ok_or_else(|| {
                missing(
                    "TORCHELASTIC_RESTART_COUNT",
                    "TORCHELASTIC_USE_AGENT_STORE=True needs it (torchrun sets both)",
                )
            })?;
            let attempt = parse_count("TORCHELASTIC_RESTART_COUNT", &attempt)?;
            StoreRole::Agent {
                prefix: format!("/worker/attempt_{attempt}"),
            }
        } else {
            StoreRole::Rank0Hosts
        };
        let local_world_size = optional_count("LOCAL_WORLD_SIZE", var("LOCAL_WORLD_SIZE"))
            .map(|n| (n > 0).then_some(n))?;
        Ok(Some(Rendezvous {
            rank,
            world_size,
            local_rank,
            local_world_size,
            master_addr,
            master_port,
            store,
            socket_ifname: var("GLOO_SOCKET_IFNAME").map(|s| s.trim().to_owned()),
            launcher,
        }))
    }

    /// Hosts (rank 0 under [`StoreRole::Rank0Hosts`]) or reaches the store, and returns the
    /// view every rank shares (under the agent's prefix, if any). `timeout` bounds reaching it
    /// and every wait on it. A world of one hosts its store on a free port: no peer has to
    /// find it, and `MASTER_PORT` may be taken.
    pub fn store(&self, timeout: Duration) -> Result<Store> {
        match &self.store {
            StoreRole::Rank0Hosts if self.world_size == 1 => {
                Store::host(&self.master_addr, 0, timeout)
            }
            StoreRole::Rank0Hosts if self.rank == 0 => {
                Store::host(&self.master_addr, self.master_port, timeout)
            }
            StoreRole::Rank0Hosts => Store::connect(&self.master_addr, self.master_port, timeout),
            StoreRole::Agent { prefix } => {
                Store::connect(&self.master_addr, self.master_port, timeout)?.prefixed(prefix)
            }
        }
    }
}

fn missing(variable: &'static str, hint: &str) -> Error {
    Error::MissingEnv {
        variable,
        hint: hint.to_owned(),
    }
}

fn parse_count(variable: &'static str, value: &str) -> Result<usize> {
    value.trim().parse().map_err(|_| Error::Env {
        variable,
        value: value.to_owned(),
        reason: "expected a non-negative integer".into(),
    })
}

fn optional_count(variable: &'static str, value: Option<String>) -> Result<usize> {
    value.map_or(Ok(0), |v| parse_count(variable, &v))
}

fn parse_port(value: &str) -> Result<u16> {
    match value.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Error::Env {
            variable: "MASTER_PORT",
            value: value.to_owned(),
            reason: "expected a port number, 1 to 65535".into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<Rendezvous>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Rendezvous::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn no_launcher_is_no_rendezvous() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[("LOCAL_RANK", "0")]).unwrap(), None);
    }

    #[test]
    fn torchrun_variables() {
        let r = read(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "4"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29400"),
            ("GLOO_SOCKET_IFNAME", "eth0,eth1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            r,
            Rendezvous {
                rank: 3,
                world_size: 4,
                local_rank: 1,
                local_world_size: Some(2),
                master_addr: "node0".into(),
                master_port: 29400,
                store: StoreRole::Rank0Hosts,
                socket_ifname: Some("eth0,eth1".into()),
                launcher: Launcher::Torchrun,
            }
        );
    }

    #[test]
    fn torchrun_agent_store_uses_the_attempt_prefix() {
        let r = read(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "1234"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            r.store,
            StoreRole::Agent {
                prefix: "/worker/attempt_2".into()
            }
        );
        // torch compares with the string "True" exactly.
        let r = read(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "a"),
            ("MASTER_PORT", "1"),
            ("TORCHELASTIC_USE_AGENT_STORE", "False"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(r.store, StoreRole::Rank0Hosts);
        let err = read(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "a"),
            ("MASTER_PORT", "1"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("TORCHELASTIC_RESTART_COUNT"),
            "{err}"
        );
    }

    #[test]
    fn slurm_fallback_and_its_defaults() {
        let r = read(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"),
            ("SLURM_JOB_ID", "123456"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.launcher, r.rank, r.world_size, r.local_rank),
            (Launcher::Slurm, 5, 8, 1)
        );
        assert_eq!((r.master_addr.as_str(), r.master_port), ("10.0.0.7", 23456));
        // MASTER_ADDR and MASTER_PORT win over SLURM's.
        let r = read(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"),
            ("MASTER_ADDR", "node3"),
            ("MASTER_PORT", "4000"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((r.master_addr.as_str(), r.master_port), ("node3", 4000));
        // torchrun's variables win over SLURM's.
        let r = read(&[
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "2"),
            ("RANK", "0"),
            ("WORLD_SIZE", "1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.launcher, r.rank, r.world_size),
            (Launcher::Torchrun, 0, 1)
        );
    }

    #[test]
    fn a_world_of_one_needs_no_address() {
        let r = read(&[("RANK", "0"), ("WORLD_SIZE", "1")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.master_addr.as_str(), r.master_port),
            ("127.0.0.1", DEFAULT_MASTER_PORT)
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("RANK", "0")], "WORLD_SIZE is not set"),
            (&[("WORLD_SIZE", "2")], "RANK is not set"),
            (&[("RANK", "x"), ("WORLD_SIZE", "2")], "RANK=\"x\""),
            (
                &[("RANK", "2"), ("WORLD_SIZE", "2")],
                "below the world size",
            ),
            (&[("RANK", "0"), ("WORLD_SIZE", "0")], "at least 1"),
            (
                &[("RANK", "0"), ("WORLD_SIZE", "2")],
                "MASTER_ADDR is not set",
            ),
            (
                &[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "a")],
                "MASTER_PORT is not set",
            ),
            (
                &[
                    ("RANK", "0"),
                    ("WORLD_SIZE", "2"),
                    ("MASTER_ADDR", "a"),
                    ("MASTER_PORT", "70000"),
                ],
                "MASTER_PORT=\"70000\"",
            ),
            (
                &[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")],
                "SLURM_LAUNCH_NODE_IPADDR",
            ),
        ];
        for (vars, expected) in cases {
            let err = read(vars).unwrap_err().to_string();
            assert!(err.contains(expected), "{vars:?}: {err}");
        }
    }
}

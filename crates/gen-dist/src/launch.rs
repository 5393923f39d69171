//! [`LocalAgent`]: what a launcher of N local ranks does before it starts them, as torchrun's
//! agent does with `--standalone`.

use crate::error::{Error, Result};
use crate::store::Store;
use std::time::Duration;

/// A store hosted on a free port of 127.0.0.1, and the environment that makes a child process
/// rank `i` of `world_size` on it.
///
/// The children join as torchrun's workers do under its agent store
/// (`TORCHELASTIC_USE_AGENT_STORE=True`, keys under `/worker/attempt_0`), so
/// [`ProcessGroup::from_env`](crate::ProcessGroup::from_env) needs nothing else, and the port
/// is known before any child starts (no race for it). Keep the agent alive until every child
/// has exited: dropping it stops the store.
///
/// ```no_run
/// # fn main() -> gen_dist::Result<()> {
/// let agent = gen_dist::LocalAgent::host(2, std::time::Duration::from_secs(300))?;
/// let exe = std::env::current_exe().map_err(|e| gen_dist::Error::InvalidArgument {
///     name: "exe",
///     reason: e.to_string(),
/// })?;
/// let children: Vec<_> = (0..agent.world_size())
///     .map(|rank| std::process::Command::new(&exe).envs(agent.rank_env(rank)).spawn())
///     .collect();
/// // ... wait for every child, and stop the others when one fails ...
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LocalAgent {
    store: Store,
    world_size: usize,
}

impl LocalAgent {
    /// Hosts the store on 127.0.0.1 on a port the system picks. `timeout` bounds the store's
    /// own waits.
    pub fn host(world_size: usize, timeout: Duration) -> Result<LocalAgent> {
        if world_size == 0 {
            return Err(Error::InvalidArgument {
                name: "world_size",
                reason: "at least one rank is needed".into(),
            });
        }
        Ok(LocalAgent {
            store: Store::host("127.0.0.1", 0, timeout)?,
            world_size,
        })
    }

    /// The port the store listens on.
    pub fn port(&self) -> u16 {
        self.store.port()
    }

    /// How many ranks the agent is for.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// The variables that make a child rank `rank`: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
    /// `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`, `TORCHELASTIC_USE_AGENT_STORE=True`
    /// and `TORCHELASTIC_RESTART_COUNT=0`, as torchrun sets them.
    pub fn rank_env(&self, rank: usize) -> Vec<(String, String)> {
        [
            ("RANK", rank.to_string()),
            ("WORLD_SIZE", self.world_size.to_string()),
            ("LOCAL_RANK", rank.to_string()),
            ("LOCAL_WORLD_SIZE", self.world_size.to_string()),
            ("MASTER_ADDR", "127.0.0.1".to_owned()),
            ("MASTER_PORT", self.port().to_string()),
            ("TORCHELASTIC_USE_AGENT_STORE", "True".to_owned()),
            ("TORCHELASTIC_RESTART_COUNT", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

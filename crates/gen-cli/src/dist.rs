//! Runs on several processes: joining the process group that torchrun's (or SLURM's)
//! variables describe, and `--nproc-per-node`, which starts N local ranks as
//! `torchrun --standalone` does.

use crate::config::{self, RunConfig};
use anyhow::{Context, Result, bail};
use gen_dist::{LocalAgent, ProcessGroup, Rendezvous};
use gen_train::learner::DataParallel;
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// This process's rank when a launcher's variables are set (`RANK`/`WORLD_SIZE`, or SLURM's),
/// without joining anything; `None` for a plain single-process run.
pub fn env_rank() -> Result<Option<usize>> {
    Ok(Rendezvous::from_env()?.map(|r| r.rank))
}

/// Whether this process writes the run folder: rank 0, or the only process.
pub fn is_main() -> Result<bool> {
    Ok(env_rank()?.is_none_or(|rank| rank == 0))
}

/// Joins the process group the environment describes, with `config`'s timeouts and buckets,
/// and returns how the trainer trains on it; `None` when no launcher's variables are set.
/// Every rank checks that it runs the same `config` (its `runtime` section aside).
pub fn join(config: &RunConfig) -> Result<Option<DataParallel>> {
    let dist = &config.runtime().dist;
    let Some(group) = ProcessGroup::from_env(dist)? else {
        return Ok(None);
    };
    let mut fingerprint = config.clone();
    *fingerprint.runtime_mut() = Default::default();
    let bytes = config::to_toml(&fingerprint)?;
    Ok(Some(
        DataParallel::new(Rc::new(group), dist)?.fingerprint(bytes.into_bytes()),
    ))
}

/// `gen train --nproc-per-node N`: hosts the store, starts N ranks of `gen resume dir` (a run
/// folder without a checkpoint starts from scratch) with torchrun's variables, and waits for
/// them. When one fails, the others get `timeout` to fail too (their collectives notice the
/// dead peer at once), then are killed. Each rank gets `OMP_NUM_THREADS` = cores / N unless
/// it is set or the config sets `runtime.threads`.
pub fn launch_local(nproc: usize, dir: &Path, quiet: bool, timeout: Duration) -> Result<ExitCode> {
    if nproc == 0 {
        bail!("--nproc-per-node must be at least 1");
    }
    // Ctrl-C reaches every rank, which stop together at the next step; this process waits.
    crate::runtime::stop_flag()?;
    let agent = LocalAgent::host(nproc, timeout)?;
    let exe = std::env::current_exe().context("cannot find the gen executable")?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = (cores / nproc).max(1).to_string();
    let mut children = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let mut command = Command::new(&exe);
        if quiet {
            command.arg("--quiet");
        }
        command.arg("resume").arg(dir).envs(agent.rank_env(rank));
        if std::env::var_os("OMP_NUM_THREADS").is_none() {
            command.env("OMP_NUM_THREADS", &threads);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start rank {rank} ({})", exe.display()))?;
        children.push(Some(child));
    }
    let status = wait_all(&mut children, timeout)?;
    Ok(match status.and_then(|s| s.code()) {
        None | Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
    })
}

/// Waits for every child; returns the first failure's status (`None` when all succeeded).
/// After a failure, the others have `grace` to exit before they are killed.
fn wait_all(children: &mut [Option<Child>], grace: Duration) -> Result<Option<ExitStatus>> {
    let mut failure: Option<(ExitStatus, Instant)> = None;
    loop {
        let mut running = 0;
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            match child.try_wait().with_context(|| format!("rank {rank}"))? {
                Some(status) => {
                    if !status.success() && failure.is_none() {
                        // 130: interrupted (Ctrl-C); every rank stops at the same step.
                        if status.code() != Some(130) {
                            eprintln!("rank {rank} failed ({status}); stopping the other ranks");
                        }
                        failure = Some((status, Instant::now()));
                    }
                    *slot = None;
                }
                None => running += 1,
            }
        }
        if running == 0 {
            return Ok(failure.map(|(s, _)| s));
        }
        if failure.is_some_and(|(_, at)| at.elapsed() > grace) {
            for child in children.iter_mut().flatten() {
                // The child may have exited meanwhile; then there is nothing to kill.
                let _ = child.kill();
                let _ = child.wait();
            }
            return Ok(failure.map(|(s, _)| s));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

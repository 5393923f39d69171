//! `gen train`: a new run of a preset or config file.

use super::Global;
use crate::settings::{Resolved, Settings};
use crate::{dist, fit, runs, runtime};
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    settings: Settings,
    /// The run folder. Default: `runs/<preset>-<UTC time>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite an existing run folder.
    #[arg(long)]
    force: bool,
    /// Shorthand for `--set runtime.device=D` (cpu, cuda, cuda:N, auto).
    #[arg(long)]
    device: Option<String>,
    /// Shorthand for `--set runtime.threads=N`.
    #[arg(long)]
    threads: Option<usize>,
    /// Train on N local processes (data parallel, Gloo over 127.0.0.1), as
    /// `torchrun --standalone --nproc-per-node N` would: each takes 1/N of every batch.
    #[arg(long, value_name = "N")]
    nproc_per_node: Option<usize>,
}

/// Resolves the config, writes it into a new run folder, trains and evaluates.
pub fn run(args: TrainArgs, global: &Global) -> Result<ExitCode> {
    let runtime: Vec<String> = [
        args.device
            .as_ref()
            .map(|v| format!("runtime.device=\"{v}\"")),
        args.threads.map(|v| format!("runtime.threads={v}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let Resolved { name, config, .. } = args.settings.resolve(&runtime)?;
    let dir = args.out.unwrap_or_else(|| runs::default_dir(&name));
    // Under torchrun or SLURM, rank 0 makes the run folder; the other ranks write nothing.
    let main = dist::is_main()?;
    let _lock = if main {
        let lock = runs::lock(&dir)?;
        runs::create(&dir, args.force)?;
        runs::write_config(&dir, &config)?;
        Some(lock)
    } else {
        None
    };
    runtime::init_logging(global.level(), main.then_some(dir.as_path()))?;
    if let Some(nproc) = args.nproc_per_node {
        if dist::env_rank()?.is_some() {
            bail!("--nproc-per-node starts its own ranks; under torchrun or SLURM, leave it out");
        }
        let timeout = config.runtime().dist.init_timeout()?;
        // The ranks take the folder's lock themselves (`gen resume`).
        drop(_lock);
        return dist::launch_local(nproc, &dir, global.quiet, timeout);
    }
    fit::fit(&config, &dir, false, global.quiet)
}

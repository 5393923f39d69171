//! `gen train`: a new run of a preset or config file.

use super::Global;
use crate::settings::{Resolved, Settings};
use crate::{fit, runs, runtime};
use anyhow::Result;
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
    let _lock = runs::lock(&dir)?;
    runs::create(&dir, args.force)?;
    runs::write_config(&dir, &config)?;
    runtime::init_logging(global.level(), Some(&dir))?;
    fit::fit(&config, &dir, false, global.quiet)
}

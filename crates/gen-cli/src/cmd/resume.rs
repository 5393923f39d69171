//! `gen resume`: continue a run from its last checkpoint.

use super::Global;
use crate::{dist, fit, runs, runtime};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ResumeArgs {
    /// The run folder.
    dir: PathBuf,
}

/// Trains the run in `args.dir` on from its `last` checkpoint, then evaluates it.
pub fn run(args: ResumeArgs, global: &Global) -> Result<ExitCode> {
    let config = runs::read_config(&args.dir)?;
    // Only rank 0 of a run on several processes writes into the run folder, so only it takes
    // the folder's lock (the other ranks would find it taken and fail).
    let main = dist::is_main()?;
    let _lock = main.then(|| runs::lock(&args.dir)).transpose()?;
    let log_dir = main.then_some(args.dir.as_path());
    runtime::init_logging(global.level(), log_dir)?;
    fit::fit(&config, &args.dir, true, global.quiet)
}

//! `gen resume`: continue a run from its last checkpoint.

use super::Global;
use crate::{fit, runs, runtime};
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
    let _lock = runs::lock(&args.dir)?;
    runtime::init_logging(global.level(), Some(&args.dir))?;
    fit::fit(&config, &args.dir, true, global.quiet)
}

//! `gen evaluate`: a run's metrics on the test split, and for generative runs the
//! memorisation audit's headline numbers (`gen audit` with its defaults).

use super::Global;
use crate::audit::{Audit, AuditOptions};
use crate::config::RunConfig;
use crate::{fit, runs, runtime};
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct EvaluateArgs {
    /// The run folder.
    #[arg(long)]
    run: PathBuf,
    /// The split to evaluate; only `test` exists for now.
    #[arg(long, default_value = "test")]
    split: String,
    /// Print one JSON object on stdout and nothing else.
    #[arg(long)]
    json: bool,
}

/// Prints the metrics, as `name: value` lines or as one JSON object.
pub fn run(args: EvaluateArgs, global: &Global) -> Result<ExitCode> {
    runtime::init_logging(if args.json { "error" } else { global.level() }, None)?;
    if args.split != "test" {
        bail!("--split {}: only `test` is available", args.split);
    }
    let config = runs::read_config(&args.run)?;
    let device = runtime::setup(&config)?;
    let mut metrics = fit::evaluate(&config, &args.run, device)?;
    if let Some(audit) = headline_audit(&config, &args.run, device)? {
        metrics.extend(audit.headline());
    }
    if args.json {
        println!("{}", serde_json::to_string(&metrics)?);
    } else {
        for (k, v) in &metrics {
            println!("{k}: {v:.4}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The memorisation audit with `gen audit`'s defaults; `None` for a run that generates
/// nothing.
fn headline_audit(
    config: &RunConfig,
    dir: &std::path::Path,
    device: tch::Device,
) -> Result<Option<Audit>> {
    let opts = AuditOptions {
        num: None,
        seed: 0,
        quantile: gen_data::memorisation::DEFAULT_QUANTILE,
    };
    Audit::of_run(config, dir, device, &opts)
}

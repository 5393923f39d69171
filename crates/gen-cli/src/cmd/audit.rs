//! `gen audit`: the memorisation audit of a run (images, text, trajectories, music or sound).

use super::{Global, wrong_kind};
use crate::audit::{Audit, AuditOptions};
use crate::{runs, runtime};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct AuditArgs {
    /// The run folder (an image-GAN, language-model, trajectory, music or sound-GAN run).
    #[arg(long)]
    run: PathBuf,
    /// Generated samples: images (default 1000), texts (default 100), trajectories per shape
    /// (default 8), chorales (default 64) or sounds (default 256).
    #[arg(long)]
    num: Option<usize>,
    /// Seed of the generated samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The quantile of held-out nearest-training distances below which a generated sample
    /// counts as too close.
    #[arg(long, default_value_t = gen_data::memorisation::DEFAULT_QUANTILE)]
    quantile: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the audit, writes `<run>/audit/audit.json` and prints the report. Exit code 0 when the
/// model is not flagged, 3 when it is.
pub fn run(args: AuditArgs, global: &Global) -> Result<ExitCode> {
    runtime::init_logging(global.level(), None)?;
    if !(args.quantile > 0.0 && args.quantile < 0.5) {
        bail!("--quantile {} must be in (0, 0.5)", args.quantile);
    }
    let config = runs::read_config(&args.run)?;
    let device = runtime::setup(&config)?;
    let opts = AuditOptions {
        num: args.num,
        seed: args.seed,
        quantile: args.quantile,
    };
    let Some(report) = Audit::of_run(&config, &args.run, device, &opts)? else {
        return Err(wrong_kind(
            &args.run,
            &config,
            "audit",
            "a generative run: image GAN, language model, trajectory, music or sound GAN",
        ));
    };
    let json = serde_json::to_string_pretty(&report)?;
    let folder = args.run.join("audit");
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let path = folder.join("audit.json");
    std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.summary());
        println!("report: {}", path.display());
    }
    Ok(if report.copying() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

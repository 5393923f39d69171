//! `gen report`: one self-contained HTML page of one or more runs (gen-report).

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReportArgs {
    /// Run folders, or folders of runs (a `gen cv` or `gen tune` folder); several are overlaid.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The HTML file to write. Default: `report.html` in the run folder for one run, in the
    /// current folder for several.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the page and prints its path.
pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let runs = gen_report::Run::load_all(&args.runs)?;
    let out = match (args.out, runs.as_slice()) {
        (Some(out), _) => out,
        (None, [one]) => one.dir.join("report.html"),
        (None, _) => PathBuf::from("report.html"),
    };
    std::fs::write(&out, gen_report::render(&runs))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

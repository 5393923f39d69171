//! `gen rate`: a blind A/B test of two runs' samples, or the summary of the ratings.

use super::Global;
use crate::{rate, runtime};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct RateArgs {
    /// The two runs to compare (same kind: language-model or image-gan).
    #[arg(long, num_args = 2, value_names = ["A", "B"], required_unless_present = "summary")]
    runs: Vec<PathBuf>,
    /// Rounds.
    #[arg(long, default_value_t = 10)]
    num: usize,
    /// Seed of the samples and of the blind order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Ask for a 1-5 score of each sample instead of a preference.
    #[arg(long)]
    score: bool,
    /// The ratings file.
    #[arg(long, default_value = "ratings.csv")]
    out: PathBuf,
    /// Print the preference rate with its 95% confidence interval, and mean scores.
    #[arg(long)]
    summary: bool,
}

/// Runs a rating session on stdin and stdout, or prints the summary.
pub fn run(args: RateArgs, global: &Global) -> Result<ExitCode> {
    runtime::init_logging(
        if args.summary {
            "error"
        } else {
            global.level()
        },
        None,
    )?;
    let mut stdout = std::io::stdout().lock();
    if args.summary {
        rate::print_summary(&args.out, &mut stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    let [a, b] = <[PathBuf; 2]>::try_from(args.runs)
        .map_err(|_| anyhow::anyhow!("--runs takes two run folders"))?;
    let session = rate::Session {
        runs: [a, b],
        num: args.num,
        seed: args.seed,
        score: args.score,
        out: args.out,
    };
    rate::run(&session, &mut std::io::stdin().lock(), &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}

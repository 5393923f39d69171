//! `gen cv` and `gen tune`: many runs of one preset in the subfolders of a study folder.

use super::Global;
use crate::settings::{Resolved, Settings};
use crate::{runs, runtime, study};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `cv` and `tune` run, and where their study goes.
#[derive(Args)]
pub struct Source {
    #[command(flatten)]
    settings: Settings,
    /// The folder of the study. Default: `runs/<cv|tune>-<preset>-<UTC time>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite an existing folder (with `--shard`: this shard's own fold or trial folders).
    #[arg(long)]
    force: bool,
    /// Train only shard I of N: the folds or trials whose index (from 0) modulo N is I - 1,
    /// e.g. `--shard $((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT` or
    /// `--shard $((JOB_COMPLETION_INDEX + 1))/N`. Every shard writes into the same `--out`.
    #[arg(long, value_name = "I/N", conflicts_with = "collect")]
    shard: Option<study::Shard>,
    /// Train nothing: summarise the folds or trials in `--out` that the shards trained, as a
    /// whole run would (the same settings as the shards, and `--out`, are needed).
    #[arg(long, requires = "out")]
    collect: bool,
}

impl Source {
    /// Starts logging; returns the resolved settings and the study folder
    /// (`runs/<study>-<preset>-<UTC time>` unless `--out` names one).
    fn start(&self, study: &str, global: &Global) -> Result<(Resolved, PathBuf)> {
        runtime::init_logging(global.level(), None)?;
        let resolved = self.settings.resolve(&[])?;
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| runs::default_dir(&format!("{study}-{}", resolved.name)));
        Ok((resolved, out))
    }

    /// Which part of the study this process does.
    fn part(&self) -> study::Part {
        match (self.shard, self.collect) {
            (Some(shard), _) => study::Part::Shard(shard),
            (None, true) => study::Part::Collect,
            (None, false) => study::Part::All,
        }
    }
}

#[derive(Args)]
pub struct CvArgs {
    #[command(flatten)]
    source: Source,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
}

#[derive(Args)]
pub struct TuneArgs {
    #[command(flatten)]
    source: Source,
    /// `key.path=v1,v2,...` (repeatable): the values to try for one setting.
    #[arg(long = "search", value_name = "KEY=V1,V2,...", required = true)]
    search: Vec<String>,
    /// Random search: try this many combinations of the grid. Default: the whole grid.
    #[arg(long)]
    trials: Option<usize>,
    /// The metric of the final epoch to rank by; lower is better unless it names an accuracy.
    #[arg(long, default_value = "val_loss")]
    metric: String,
}

/// `gen cv`: k-fold cross-validation.
pub fn cv(args: CvArgs, global: &Global) -> Result<ExitCode> {
    let (settings, out) = args.source.start("cv", global)?;
    study::cross_validate(
        &settings,
        args.folds,
        &out,
        args.source.force,
        global.quiet,
        args.source.part(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `gen tune`: grid or random search.
pub fn tune(args: TuneArgs, global: &Global) -> Result<ExitCode> {
    let (settings, out) = args.source.start("tune", global)?;
    let axes = args
        .search
        .iter()
        .map(|s| study::SearchAxis::parse(s))
        .collect::<Result<Vec<_>>>()?;
    study::tune(
        &settings,
        &axes,
        args.trials,
        &args.metric,
        &out,
        args.source.force,
        global.quiet,
        args.source.part(),
    )?;
    Ok(ExitCode::SUCCESS)
}

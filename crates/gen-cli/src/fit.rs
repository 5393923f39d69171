//! A run of any kind, from data to report: [`fit`] trains (or resumes) and then evaluates on
//! the test split.

use crate::config::RunConfig;
use crate::{classifier, gan, lm, runs, runtime, trajectory};
use anyhow::{Context, Result};
use gen_train::Outcome;
use gen_train::learner::Verbosity;
use std::path::Path;
use std::process::ExitCode;

/// The kind's test metrics from the run's checkpoint.
pub fn evaluate(
    config: &RunConfig,
    dir: &Path,
    device: tch::Device,
) -> Result<std::collections::BTreeMap<String, f64>> {
    match config {
        RunConfig::TextClassifier(r) => classifier::evaluate(r, dir, device),
        RunConfig::LanguageModel(r) => lm::evaluate(r, dir, device),
        RunConfig::ImageGan(r) => gan::evaluate(r, dir, device),
        RunConfig::Trajectory(r) => trajectory::evaluate(r, dir, device),
    }
}

/// Trains the kind of `config` in `ctx.dir`.
pub fn train_kind(
    config: &RunConfig,
    ctx: &runs::FitContext,
) -> Result<(Outcome, gen_train::TrainerState)> {
    match config {
        RunConfig::TextClassifier(r) => classifier::train(r, ctx),
        RunConfig::LanguageModel(r) => lm::train(r, ctx),
        RunConfig::ImageGan(r) => gan::train(r, ctx),
        RunConfig::Trajectory(r) => trajectory::train(r, ctx),
    }
}

/// Trains (or resumes) the run in `dir`, evaluates it into `eval.json`, writes a language
/// model's samples, and prints the summary. Exit code 130 when interrupted.
pub fn fit(config: &RunConfig, dir: &Path, resume: bool, quiet: bool) -> Result<ExitCode> {
    let device = runtime::setup(config)?;
    let ctx = runs::FitContext {
        dir: dir.to_path_buf(),
        resume,
        stop: runtime::stop_flag()?,
        verbosity: if quiet {
            Verbosity::Silent
        } else {
            Verbosity::Normal
        },
        device,
        fold: None,
    };
    let start = std::time::Instant::now();
    let (outcome, _) = train_kind(config, &ctx)?;
    if outcome == Outcome::Interrupted {
        eprintln!(
            "interrupted: checkpoint written; continue with `gen resume {}`",
            dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    let train_seconds = start.elapsed().as_secs_f64();
    tracing::info!(seconds = train_seconds, "training finished ({outcome:?})");
    let mut metrics = evaluate(config, dir, device)?;
    metrics.insert("train_seconds".into(), train_seconds);
    let summary = serde_json::to_string_pretty(&metrics)?;
    std::fs::write(dir.join("eval.json"), &summary)
        .with_context(|| format!("cannot write {}", dir.join("eval.json").display()))?;
    if let RunConfig::LanguageModel(r) = config {
        let mut buffer = Vec::new();
        let out: &mut dyn std::io::Write = if quiet {
            &mut buffer
        } else {
            eprintln!("samples:");
            &mut std::io::stderr()
        };
        let texts = lm::generate_text(r, dir, device, &lm::GenerateOptions::default(), out)?;
        let path = dir.join("samples").join("samples.txt");
        std::fs::write(&path, texts.join("\n---\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !quiet {
        for (k, v) in &metrics {
            eprintln!("{k}: {v:.4}");
        }
        eprintln!(
            "run folder: {} (config.toml, metrics.jsonl, checkpoints/, eval.json)",
            dir.display()
        );
        let samples = dir.join("samples");
        let has_samples = std::fs::read_dir(&samples)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if has_samples {
            eprintln!("samples: {}", samples.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

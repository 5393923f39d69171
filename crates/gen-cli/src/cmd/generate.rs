//! `gen generate`: stream text from a language-model run.

use super::{Global, wrong_kind};
use crate::config::RunConfig;
use crate::{lm, provenance, runs, runtime};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct GenerateArgs {
    /// The run folder (a language-model run).
    #[arg(long)]
    run: PathBuf,
    /// The text to continue. Default: the run's `sample.prompt`.
    #[arg(long)]
    prompt: Option<String>,
    /// Tokens to write per sample. Default: the run's `sample.sampling.max_tokens` (300).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Softmax temperature; 0 is greedy. Default: the run's (0.8).
    #[arg(long)]
    temperature: Option<f64>,
    /// Keep only the K most likely tokens. Default: off.
    #[arg(long)]
    top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches P. Default: off.
    #[arg(long)]
    top_p: Option<f64>,
    /// Samples, drawn as one batch; the first streams. Default: 1.
    #[arg(long, default_value_t = 1)]
    num: usize,
    /// Seed: the same seed gives the same text. Default: the run's (0).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the samples to this file (separated by `---` lines), with its provenance in
    /// `<FILE>.provenance.json`.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Streams the samples to stdout.
pub fn run(args: GenerateArgs, global: &Global) -> Result<ExitCode> {
    runtime::init_logging(global.level(), None)?;
    let config = runs::read_config(&args.run)?;
    let RunConfig::LanguageModel(r) = &config else {
        return Err(wrong_kind(
            &args.run,
            &config,
            "generate",
            "a language-model run (imdb-lm, text-char)",
        ));
    };
    let device = runtime::setup(&config)?;
    let opts = lm::GenerateOptions {
        prompt: args.prompt,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        num: Some(args.num),
        seed: args.seed,
    };
    let texts = lm::generate_text(r, &args.run, device, &opts, &mut std::io::stdout().lock())?;
    if let Some(out) = &args.out {
        std::fs::write(out, texts.join("\n---\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
        let seed = lm::sampling_seed(r, &opts);
        let record = provenance::for_run(
            &args.run,
            &["best", "last"],
            seed,
            lm::sampling_record(r, &opts),
        )?;
        provenance::label(&[out.as_path()], &record)?;
    }
    Ok(ExitCode::SUCCESS)
}

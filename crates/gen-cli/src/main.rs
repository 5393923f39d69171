//! `gen`: train, resume, generate, sample and evaluate gen's models from TOML presets.
//!
//! ```text
//! gen train                      # the default preset (mnist-dcgan)
//! gen train imdb-gru --set trainer.epochs=2 --set model.hidden_size=64
//! gen resume runs/imdb-gru-20261129T101500Z
//! gen evaluate --run runs/imdb-gru-20261129T101500Z --json
//! gen generate --run runs/text-char-20261129T101500Z --prompt "Alice was"
//! gen sample --run runs/fashion-cgan-20261129T101500Z --class 7 --out sevens.png
//! ```
//!
//! Each command is one module of [`cmd`]; [`run`] only dispatches.

mod classifier;
mod cmd;
mod config;
mod dist;
mod fit;
mod gan;
mod lm;
mod presets;
mod rate;
mod runs;
mod runtime;
mod settings;
mod study;
mod trajectory;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cmd::Global;
use std::process::ExitCode;

/// gen: train, sample and evaluate generative models on libtorch.
#[derive(Parser)]
#[command(name = "gen", version, about)]
struct Cli {
    /// Print less (errors only).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more (debug logs); `RUST_LOG` overrides both.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a preset or a config file in a new run folder.
    ///
    /// Example: `gen train imdb-gru --set trainer.epochs=2 --out runs/quick`
    Train(cmd::train::TrainArgs),
    /// Continue a run from its last checkpoint.
    ///
    /// Example: `gen resume runs/imdb-gru-20261129T101500Z`
    Resume(cmd::resume::ResumeArgs),
    /// Stream text from a language-model run.
    ///
    /// Example: `gen generate --run runs/text-char-20261129T101500Z --prompt "Alice was" --temperature 0.7`
    Generate(cmd::generate::GenerateArgs),
    /// Write a PNG grid of images from a GAN run, or trajectories over the real
    /// demonstrations (PNG and CSV) from a trajectory run.
    ///
    /// Example: `gen sample --run runs/fashion-cgan-20261129T101500Z --num 16 --class 7 --out sevens.png`
    Sample(cmd::sample::SampleArgs),
    /// Print a run's metrics on the test split: accuracy (classifiers), perplexity and bits
    /// per token (language models), FD-score, inception score and coverage (GANs).
    ///
    /// Example: `gen evaluate --run runs/imdb-gru-20261129T101500Z --json`
    Evaluate(cmd::evaluate::EvaluateArgs),
    /// k-fold cross-validation: fold i trains on the other folds and validates on fold i.
    ///
    /// Example: `gen cv imdb-gru --folds 5 --set trainer.epochs=3`
    Cv(cmd::study::CvArgs),
    /// Search settings: a grid over every `--search`, or `--trials N` random combinations.
    ///
    /// Example: `gen tune imdb-gru --search optimizer.lr=0.001,0.003 --search model.hidden_size=64,128 --max-steps 300`
    Tune(cmd::study::TuneArgs),
    /// Human rating: a blind A/B test of two runs' samples, or the summary of the ratings.
    ///
    /// Example: `gen rate --runs runs/text-char-A runs/text-char-B --num 10`, then `gen rate --summary`
    Rate(cmd::rate::RateArgs),
    /// List the presets.
    ///
    /// Example: `gen presets`
    Presets,
    /// Show which datasets are fetched, with their licences and sources.
    ///
    /// Example: `gen data`
    Data,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let global = Global {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Train(args) => cmd::train::run(args, &global),
        Command::Resume(args) => cmd::resume::run(args, &global),
        Command::Generate(args) => cmd::generate::run(args, &global),
        Command::Sample(args) => cmd::sample::run(args, &global),
        Command::Evaluate(args) => cmd::evaluate::run(args, &global),
        Command::Cv(args) => cmd::study::cv(args, &global),
        Command::Tune(args) => cmd::study::tune(args, &global),
        Command::Rate(args) => cmd::rate::run(args, &global),
        Command::Presets => cmd::presets::run(),
        Command::Data => cmd::data::run(),
    }
}

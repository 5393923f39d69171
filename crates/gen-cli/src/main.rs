//! `gen`: train, resume, generate, sample and evaluate gen's models from TOML presets.
//!
//! ```text
//! gen train                      # the default preset (mnist-dcgan)
//! gen train imdb-gru --set trainer.epochs=2 --set model.hidden_size=64
//! gen resume runs/imdb-gru-20261129T101500Z
//! gen evaluate --run runs/imdb-gru-20261129T101500Z --json
//! gen generate --run runs/text-char-20261129T101500Z --prompt "Alice was"
//! gen sample --run runs/fashion-cgan-20261129T101500Z --class 7 --out sevens.png
//! gen report runs/imdb-gru-20261129T101500Z runs/imdb-gru-20261130T080000Z
//! ```
//!
//! Each command is one module of [`cmd`]; [`run`] only dispatches.

mod audit;
mod classifier;
mod cmd;
mod config;
mod dist;
mod fit;
mod gan;
mod limits;
mod lm;
mod music;
mod presets;
mod provenance;
mod rate;
mod runs;
mod runtime;
mod settings;
mod sound;
mod study;
mod trajectory;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use cmd::Global;
use std::process::ExitCode;

/// gen: train, sample and evaluate generative models on libtorch.
#[derive(Parser)]
#[command(name = "gen", version, about)]
struct Cli {
    /// Print less (errors only).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more (debug logs, and libtorch's C++ backtrace with its errors); `RUST_LOG`
    /// overrides both.
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
    /// Write a PNG grid of images from a GAN run, trajectories over the real
    /// demonstrations (PNG and CSV) from a trajectory run, or chorales (MIDI, WAV and
    /// piano-roll PNG) from a music run.
    ///
    /// Example: `gen sample --run runs/fashion-cgan-20261129T101500Z --num 16 --class 7 --out sevens.png`
    Sample(cmd::sample::SampleArgs),
    /// Print a run's metrics on the test split: accuracy (classifiers), perplexity and bits
    /// per token (language models), FD-score, inception score and coverage (GANs), NLL per
    /// frame beside three baselines (music).
    ///
    /// Example: `gen evaluate --run runs/imdb-gru-20261129T101500Z --json`
    Evaluate(cmd::evaluate::EvaluateArgs),
    /// Memorisation audit: are generated samples closer to the training data than held-out
    /// data is? Images (feature and pixel space), text (verbatim n-grams), trajectories (DTW),
    /// music (Hamming distance of 4-bar piano-roll windows), sound (feature and spectrogram
    /// space).
    /// Exit code 3 when the model is flagged.
    ///
    /// Example: `gen audit --run runs/mnist-dcgan-20261129T101500Z --num 1000`
    Audit(cmd::audit::AuditArgs),
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
    /// Write one self-contained HTML page of runs: every metric's curves (runs overlaid), the
    /// evaluation, the config differences, the sample grids epoch by epoch.
    ///
    /// Example: `gen report runs/imdb-gru-A runs/imdb-gru-B --out compare.html`
    Report(cmd::report::ReportArgs),
    /// Print the shell completion script.
    ///
    /// Example: `gen completions bash > ~/.local/share/bash-completion/completions/gen`
    Completions(cmd::completions::CompletionsArgs),
    /// Print the provenance label of a generated file (PNG, WAV, MIDI, CSV or text), or say
    /// that it has none (exit code 2).
    ///
    /// Example: `gen inspect runs/mnist-dcgan-20261129T101500Z/samples/sample-seed0.png`
    Inspect(cmd::inspect::InspectArgs),
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
    // Like other Unix tools, end quietly when the reader of stdout goes away (`gen data | head`):
    // Rust ignores SIGPIPE, so `println!` would panic on the broken pipe instead.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    runtime::quiet_caught_decoder_panics();
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", runtime::error_text(&err, verbose));
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
        Command::Audit(args) => cmd::audit::run(args, &global),
        Command::Cv(args) => cmd::study::cv(args, &global),
        Command::Tune(args) => cmd::study::tune(args, &global),
        Command::Rate(args) => cmd::rate::run(args, &global),
        Command::Report(args) => cmd::report::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Presets => cmd::presets::run(),
        Command::Data => cmd::data::run(),
    }
}

//! `gen`: train, resume and evaluate gen's models from TOML presets.
//!
//! ```text
//! gen train                      # the default preset (imdb-gru)
//! gen train imdb-gru --set trainer.epochs=2 --set model.hidden_size=64
//! gen resume runs/imdb-gru-20261129T101500Z
//! gen evaluate --run runs/imdb-gru-20261129T101500Z --json
//! ```

mod config;
mod runs;
mod text;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use config::RunConfig;
use gen_train::learner::Verbosity;
use gen_train::Outcome;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    Train(TrainArgs),
    /// Continue a run from its last checkpoint.
    ///
    /// Example: `gen resume runs/imdb-gru-20261129T101500Z`
    Resume {
        /// The run folder.
        dir: PathBuf,
    },
    /// Print a run's metrics on the test split (from its best checkpoint).
    ///
    /// Example: `gen evaluate --run runs/imdb-gru-20261129T101500Z --json`
    Evaluate {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// The split to evaluate; only `test` exists for now.
        #[arg(long, default_value = "test")]
        split: String,
        /// Print one JSON object on stdout and nothing else.
        #[arg(long)]
        json: bool,
    },
    /// List the presets.
    ///
    /// Example: `gen presets`
    Presets,
    /// Show which datasets are fetched.
    ///
    /// Example: `gen data`
    Data,
}

#[derive(Args)]
struct TrainArgs {
    /// A preset name (see `gen presets`). Default: imdb-gru.
    preset: Option<String>,
    /// A config file instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Override a setting: `key.path=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The run folder. Default: runs/<preset>-<UTC time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite an existing run folder.
    #[arg(long)]
    force: bool,
    /// Shorthand for `--set trainer.epochs=N`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Shorthand for `--set trainer.max_steps=N`.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Shorthand for `--set trainer.seed=S`.
    #[arg(long)]
    seed: Option<u64>,
    /// Shorthand for `--set runtime.device=D` (cpu, cuda, cuda:N, auto).
    #[arg(long)]
    device: Option<String>,
    /// Shorthand for `--set runtime.threads=N`.
    #[arg(long)]
    threads: Option<usize>,
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
    let level = if cli.quiet {
        "error"
    } else if cli.verbose {
        "debug"
    } else {
        "info"
    };
    match cli.command {
        Command::Train(args) => train(args, level, cli.quiet),
        Command::Resume { dir } => {
            let config = runs::read_config(&dir)?;
            init_logging(level, Some(&dir))?;
            fit(&config, &dir, true, cli.quiet)
        }
        Command::Evaluate { run, split, json } => {
            init_logging(if json { "error" } else { level }, None)?;
            if split != "test" {
                anyhow::bail!("--split {split}: only `test` is available");
            }
            let config = runs::read_config(&run)?;
            let device = setup_runtime(&config)?;
            let metrics = match &config {
                RunConfig::TextClassifier(r) => text::evaluate(r, &run, device)?,
            };
            if json {
                println!("{}", serde_json::to_string(&metrics)?);
            } else {
                for (k, v) in &metrics {
                    println!("{k}: {v:.4}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Presets => {
            for p in config::PRESETS {
                let default = if p.name == config::DEFAULT_PRESET {
                    " (default)"
                } else {
                    ""
                };
                println!("{:<12} {}{default}", p.name, p.about);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data => {
            let root = gen_data::paths::data_dir();
            println!("data folder: {}", root.display());
            for name in [
                "imdb",
                "fashion-mnist",
                "mnist",
                "canterbury",
                "fortunes",
                "lasa",
            ] {
                let state = if root.join(name).is_dir() {
                    "fetched"
                } else {
                    "missing: cargo xtask fetch-data NAME"
                };
                println!("{name:<14} {}", state.replace("NAME", name));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn train(args: TrainArgs, level: &str, quiet: bool) -> Result<ExitCode> {
    let (mut table, origin, name) = match (&args.config, &args.preset) {
        (Some(path), _) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("run")
                .to_string();
            (config::read_file(path)?, path.display().to_string(), stem)
        }
        (None, preset) => {
            let p = config::preset(preset.as_deref().unwrap_or(config::DEFAULT_PRESET))?;
            (
                config::parse_preset(p)?,
                format!("preset {}", p.name),
                p.name.to_string(),
            )
        }
    };
    let mut sets = args.set.clone();
    let shorthands = [
        args.epochs.map(|v| format!("trainer.epochs={v}")),
        args.max_steps.map(|v| format!("trainer.max_steps={v}")),
        args.seed.map(|v| format!("trainer.seed={v}")),
        args.device
            .as_ref()
            .map(|v| format!("runtime.device=\"{v}\"")),
        args.threads.map(|v| format!("runtime.threads={v}")),
    ];
    sets.extend(shorthands.into_iter().flatten());
    for s in &sets {
        config::apply_set(&mut table, s)?;
    }
    let origin = if sets.is_empty() {
        origin
    } else {
        format!("{origin} with --set {}", sets.join(" "))
    };
    let config = config::resolve(&table, &origin)?;
    let dir = args.out.unwrap_or_else(|| runs::default_dir(&name));
    runs::create(&dir, args.force)?;
    runs::write_config(&dir, &config)?;
    init_logging(level, Some(&dir))?;
    fit(&config, &dir, false, quiet)
}

/// Applies the device, threads and seed of `config`; returns the device.
fn setup_runtime(config: &RunConfig) -> Result<tch::Device> {
    let rt = config.runtime();
    gen_core::set_threads(rt.threads)?;
    gen_core::seed_everything(config.trainer().seed);
    Ok(rt.device.resolve()?)
}

fn fit(config: &RunConfig, dir: &Path, resume: bool, quiet: bool) -> Result<ExitCode> {
    let device = setup_runtime(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    let verbosity = if quiet {
        Verbosity::Silent
    } else {
        Verbosity::Normal
    };
    let start = std::time::Instant::now();
    let outcome = match config {
        RunConfig::TextClassifier(r) => text::train(r, dir, resume, stop, verbosity, device)?,
    };
    if outcome == Outcome::Interrupted {
        eprintln!(
            "interrupted: checkpoint written; continue with `gen resume {}`",
            dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    let metrics = match config {
        RunConfig::TextClassifier(r) => text::evaluate(r, dir, device)?,
    };
    let summary = serde_json::to_string_pretty(&metrics)?;
    std::fs::write(dir.join("eval.json"), &summary)
        .with_context(|| format!("cannot write {}", dir.join("eval.json").display()))?;
    tracing::info!(
        seconds = start.elapsed().as_secs_f64(),
        "training finished ({outcome:?})"
    );
    if !quiet {
        for (k, v) in &metrics {
            eprintln!("{k}: {v:.4}");
        }
        eprintln!(
            "run folder: {} (config.toml, metrics.jsonl, checkpoints/, eval.json)",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr at `level` (or `RUST_LOG`), and to `<run>/train.log` when given.
fn init_logging(level: &str, run_dir: Option<&Path>) -> Result<()> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter());
    let file = match run_dir {
        Some(dir) => {
            let path = dir.join("train.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(log))
                    .with_ansi(false)
                    .with_filter(EnvFilter::new("info")),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .ok();
    Ok(())
}

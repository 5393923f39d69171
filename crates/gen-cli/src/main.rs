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

mod classifier;
mod config;
mod gan;
mod lm;
mod rate;
mod runs;
mod study;
mod trajectory;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use config::RunConfig;
use gen_train::Outcome;
use gen_train::learner::Verbosity;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Stream text from a language-model run.
    ///
    /// Example: `gen generate --run runs/text-char-20261129T101500Z --prompt "Alice was" --temperature 0.7`
    Generate(GenerateArgs),
    /// Write a PNG grid of images from a GAN run, or trajectories over the real
    /// demonstrations (PNG and CSV) from a trajectory run.
    ///
    /// Example: `gen sample --run runs/fashion-cgan-20261129T101500Z --num 16 --class 7 --out sevens.png`
    Sample(SampleArgs),
    /// Print a run's metrics on the test split: accuracy (classifiers), perplexity and bits
    /// per token (language models), FD-score, inception score and coverage (GANs).
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
    /// k-fold cross-validation: fold i trains on the other folds and validates on fold i.
    ///
    /// Example: `gen cv imdb-gru --folds 5 --set trainer.epochs=3`
    Cv(CvArgs),
    /// Search settings: a grid over every `--search`, or `--trials N` random combinations.
    ///
    /// Example: `gen tune imdb-gru --search optimizer.lr=0.001,0.003 --search model.hidden_size=64,128 --max-steps 300`
    Tune(TuneArgs),
    /// Human rating: a blind A/B test of two runs' samples, or the summary of the ratings.
    ///
    /// Example: `gen rate --runs runs/text-char-A runs/text-char-B --num 10`, then `gen rate --summary`
    Rate(RateArgs),
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
struct GenerateArgs {
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
}

#[derive(Args)]
struct SampleArgs {
    /// The run folder (an image-GAN run).
    #[arg(long)]
    run: PathBuf,
    /// Images in the grid.
    #[arg(long, default_value_t = 64)]
    num: usize,
    /// Generate this class (conditional GANs) or this shape index (trajectory runs).
    /// Default: classes drawn uniformly; every shape.
    #[arg(long)]
    class: Option<i64>,
    /// Seed of the latents.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG to write. Default: `<run>/samples/sample-seed<S>[-class<K>].png`
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A preset or config file with overrides: what `train`, `cv` and `tune` start from.
#[derive(Args)]
struct Settings {
    /// A preset name (see `gen presets`). Default: mnist-dcgan.
    preset: Option<String>,
    /// A config file instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Override a setting: `key.path=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Shorthand for `--set trainer.epochs=N`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Shorthand for `--set trainer.max_steps=N`.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Shorthand for `--set trainer.seed=S`.
    #[arg(long)]
    seed: Option<u64>,
}

impl Settings {
    /// The config table with every override (and `extra` ones) applied, and what it
    /// resolves to.
    fn resolve(&self, extra: &[String]) -> Result<Resolved> {
        let (mut table, origin, name) = base_table(self.config.as_deref(), self.preset.as_deref())?;
        let mut sets = self.set.clone();
        sets.extend(trainer_shorthands(self.epochs, self.max_steps, self.seed));
        sets.extend_from_slice(extra);
        let origin = apply_sets(&mut table, origin, &sets)?;
        let config = config::resolve(&table, &origin)?;
        Ok(Resolved {
            table,
            origin,
            name,
            config,
        })
    }
}

/// [`Settings`] applied: the table (studies re-apply overrides to it per run), where it came
/// from, the preset's (or file's) name, and the config.
struct Resolved {
    table: toml::Table,
    origin: String,
    name: String,
    config: RunConfig,
}

/// What `cv` and `tune` run, and where their study goes.
#[derive(Args)]
struct Source {
    #[command(flatten)]
    settings: Settings,
    /// The folder of the study. Default: `runs/<cv|tune>-<preset>-<UTC time>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite an existing folder.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct CvArgs {
    #[command(flatten)]
    source: Source,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
}

#[derive(Args)]
struct TuneArgs {
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

#[derive(Args)]
struct RateArgs {
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

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    settings: Settings,
    /// The run folder. Default: `runs/<preset>-<UTC time>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite an existing run folder.
    #[arg(long)]
    force: bool,
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
            let metrics = evaluate(&config, &run, device)?;
            if json {
                println!("{}", serde_json::to_string(&metrics)?);
            } else {
                for (k, v) in &metrics {
                    println!("{k}: {v:.4}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            init_logging(level, None)?;
            let config = runs::read_config(&args.run)?;
            let RunConfig::LanguageModel(r) = &config else {
                return Err(wrong_kind(
                    &args.run,
                    &config,
                    "generate",
                    "a language-model run (imdb-lm, text-char)",
                ));
            };
            let device = setup_runtime(&config)?;
            let opts = lm::GenerateOptions {
                prompt: args.prompt,
                max_tokens: args.max_tokens,
                temperature: args.temperature,
                top_k: args.top_k,
                top_p: args.top_p,
                num: Some(args.num),
                seed: args.seed,
            };
            lm::generate_text(r, &args.run, device, &opts, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sample(args) => {
            init_logging(level, None)?;
            let config = runs::read_config(&args.run)?;
            let device = setup_runtime(&config)?;
            let out = args.out.unwrap_or_else(|| {
                let class = args.class.map(|k| format!("-class{k}")).unwrap_or_default();
                args.run
                    .join("samples")
                    .join(format!("sample-seed{}{class}.png", args.seed))
            });
            match &config {
                RunConfig::ImageGan(r) => {
                    let opts = gan::SampleOptions {
                        num: args.num,
                        class: args.class,
                        seed: args.seed,
                        out: out.clone(),
                    };
                    gan::sample(r, &args.run, device, &opts)?;
                    println!("{}", out.display());
                }
                RunConfig::Trajectory(r) => {
                    let opts = trajectory::SampleOptions {
                        num: args.num.min(64),
                        shape: args.class,
                        seed: args.seed,
                        out: out.clone(),
                    };
                    let csv = trajectory::sample(r, &args.run, device, &opts)?;
                    println!("{}\n{}", out.display(), csv.display());
                }
                _ => {
                    return Err(wrong_kind(
                        &args.run,
                        &config,
                        "sample",
                        "an image-GAN run (mnist-dcgan, fashion-cgan, ...) or a trajectory run (lasa-traj)",
                    ));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cv(args) => {
            init_logging(level, None)?;
            let Resolved {
                table,
                origin,
                name,
                ..
            } = args.source.settings.resolve(&[])?;
            let out = args
                .source
                .out
                .clone()
                .unwrap_or_else(|| runs::default_dir(&format!("cv-{name}")));
            study::cross_validate(
                &table,
                &origin,
                args.folds,
                &out,
                args.source.force,
                cli.quiet,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tune(args) => {
            init_logging(level, None)?;
            let Resolved {
                table,
                origin,
                name,
                ..
            } = args.source.settings.resolve(&[])?;
            let axes = args
                .search
                .iter()
                .map(|s| study::SearchAxis::parse(s))
                .collect::<Result<Vec<_>>>()?;
            let out = args
                .source
                .out
                .clone()
                .unwrap_or_else(|| runs::default_dir(&format!("tune-{name}")));
            study::tune(
                &table,
                &origin,
                &axes,
                args.trials,
                &args.metric,
                &out,
                args.source.force,
                cli.quiet,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rate(args) => {
            init_logging(if args.summary { "error" } else { level }, None)?;
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
                    dataset_counts(name, &root.join(name))
                        .unwrap_or_else(|e| format!("present but unreadable: {e:#}"))
                } else {
                    format!("missing: cargo xtask fetch-data {name}")
                };
                println!("{name:<14} {state}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The error of a command given a run of another kind.
fn wrong_kind(run: &Path, config: &RunConfig, command: &str, needs: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a {} run; `gen {command}` needs {needs}",
        run.display(),
        config.kind()
    )
}

/// A one-line description of a fetched dataset's size.
fn dataset_counts(name: &str, dir: &Path) -> Result<String> {
    use gen_data::idx::read_idx_labels;
    let idx_labels = |split: &str| -> Result<usize> {
        let plain = dir.join(format!("{split}-labels-idx1-ubyte"));
        let path = if plain.is_file() {
            plain
        } else {
            dir.join(format!("{split}-labels-idx1-ubyte.gz"))
        };
        Ok(read_idx_labels(&path)?.len())
    };
    Ok(match name {
        "imdb" => match gen_data::imdb::ImdbSource::find(dir)? {
            gen_data::imdb::ImdbSource::Csv { train, test } => {
                let count = |p: &Path| -> Result<usize> {
                    let mut r = csv::Reader::from_path(p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    Ok(r.records().count())
                };
                format!("{} train, {} test reviews", count(&train)?, count(&test)?)
            }
            other => format!("{other:?}"),
        },
        "fashion-mnist" | "mnist" => format!(
            "{} train, {} test images",
            idx_labels("train")?,
            idx_labels("t10k")?
        ),
        "canterbury" => {
            let files = gen_data::text::load_canterbury_from(dir)?;
            let chars: usize = files.iter().map(|f| f.text.chars().count()).sum();
            format!("{} texts, {chars} characters", files.len())
        }
        "fortunes" => format!(
            "{} fortunes",
            gen_data::text::load_fortunes_from(dir)?.len()
        ),
        _ => {
            let n = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .count();
            format!("{n} entries")
        }
    })
}

/// Reads a preset or config file into a table; returns it with its origin and run name.
fn base_table(
    config: Option<&Path>,
    preset: Option<&str>,
) -> Result<(toml::Table, String, String)> {
    Ok(match config {
        Some(path) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("run")
                .to_string();
            (config::read_file(path)?, path.display().to_string(), stem)
        }
        None => {
            let p = config::preset(preset.unwrap_or(config::DEFAULT_PRESET))?;
            (
                config::parse_preset(p)?,
                format!("preset {}", p.name),
                p.name.to_string(),
            )
        }
    })
}

/// Applies `--set` assignments; returns the origin with them appended.
fn apply_sets(table: &mut toml::Table, origin: String, sets: &[String]) -> Result<String> {
    for s in sets {
        config::apply_set(table, s)?;
    }
    Ok(if sets.is_empty() {
        origin
    } else {
        format!("{origin} with --set {}", sets.join(" "))
    })
}

fn trainer_shorthands(
    epochs: Option<usize>,
    max_steps: Option<u64>,
    seed: Option<u64>,
) -> Vec<String> {
    [
        epochs.map(|v| format!("trainer.epochs={v}")),
        max_steps.map(|v| format!("trainer.max_steps={v}")),
        seed.map(|v| format!("trainer.seed={v}")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn train(args: TrainArgs, level: &str, quiet: bool) -> Result<ExitCode> {
    let runtime: Vec<String> = [
        args.device
            .as_ref()
            .map(|v| format!("runtime.device=\"{v}\"")),
        args.threads.map(|v| format!("runtime.threads={v}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let Resolved { name, config, .. } = args.settings.resolve(&runtime)?;
    let dir = args.out.unwrap_or_else(|| runs::default_dir(&name));
    runs::create(&dir, args.force)?;
    runs::write_config(&dir, &config)?;
    init_logging(level, Some(&dir))?;
    fit(&config, &dir, false, quiet)
}

/// Applies the device, threads and seed of `config`; returns the device.
fn setup_runtime(config: &RunConfig) -> Result<tch::Device> {
    let rt = config.runtime();
    // Before the first tensor operation, so that libtorch's worker threads inherit it.
    gen_core::set_flush_denormal(rt.flush_denormals);
    if rt.retain_memory {
        gen_core::retain_freed_memory();
    }
    gen_core::set_threads(rt.threads)?;
    gen_core::seed_everything(config.trainer().seed);
    Ok(rt.device.resolve()?)
}

/// The kind's test metrics from the run's checkpoint.
fn evaluate(
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
fn train_kind(
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

/// Installs the Ctrl-C / SIGTERM handler once; returns the flag it raises.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(flag) = FLAG.get() {
        return Ok(flag.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    Ok(FLAG.get_or_init(|| stop).clone())
}

fn fit(config: &RunConfig, dir: &Path, resume: bool, quiet: bool) -> Result<ExitCode> {
    let device = setup_runtime(config)?;
    let ctx = runs::FitContext {
        dir: dir.to_path_buf(),
        resume,
        stop: stop_flag()?,
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

/// Logs to stderr at `level` (or `RUST_LOG`), and to `<run>/train.log` when given.
fn init_logging(level: &str, run_dir: Option<&Path>) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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

//! A run of any kind, from data to report: [`RunKind`] is what each kind provides (its data,
//! training, test metrics), and [`fit`] loads the data once, trains (or resumes) and then
//! evaluates on the test split.

use crate::config::RunConfig;
use crate::{lm, runtime};
use anyhow::{Context, Result};
use gen_train::learner::{DataParallel, Verbosity};
use gen_train::{Outcome, Trainer, TrainerConfig, TrainerState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Metrics by name.
pub type MetricMap = BTreeMap<String, f64>;

/// What each kind of run provides: its data, its training, and its test metrics.
pub trait RunKind {
    /// The loaded data that training and the test evaluation read.
    type Data;

    /// Reads the run's dataset (tensors on `device`).
    fn load(&self, device: tch::Device) -> Result<Self::Data>;

    /// Trains (or resumes) in `ctx.dir`; with `ctx.fold`, on the other folds of the training
    /// split, validating on this one.
    fn train(&self, data: &Self::Data, ctx: &FitContext) -> Result<(Outcome, TrainerState)>;

    /// The test metrics of the run in `dir`, from its checkpoint.
    fn evaluate(&self, data: &Self::Data, dir: &Path, device: tch::Device) -> Result<MetricMap>;
}

/// Evaluates `$body` with `$run` bound to the [`RunKind`] settings of the [`RunConfig`]
/// `$config`, whatever its kind: one generic body instead of one match arm per kind.
macro_rules! for_kind {
    ($config:expr, |$run:ident| $body:expr) => {
        match $config {
            $crate::config::RunConfig::TextClassifier($run) => $body,
            $crate::config::RunConfig::LanguageModel($run) => $body,
            $crate::config::RunConfig::ImageGan($run) => $body,
            $crate::config::RunConfig::Trajectory($run) => $body,
            $crate::config::RunConfig::Music($run) => $body,
            $crate::config::RunConfig::SoundGan($run) => $body,
        }
    };
}
pub(crate) use for_kind;

/// What every kind's `train` needs besides its config and data.
pub struct FitContext {
    /// The run folder.
    pub dir: PathBuf,
    /// Continue from the run's `last` checkpoint.
    pub resume: bool,
    /// Raised by Ctrl-C / SIGTERM: the trainer checkpoints and stops.
    pub stop: Arc<AtomicBool>,
    /// Progress output.
    pub verbosity: Verbosity,
    /// Where tensors live.
    pub device: tch::Device,
    /// Cross-validation: train on the other folds, validate on this one.
    pub fold: Option<Fold>,
    /// A run on several processes: this rank's process group.
    pub dist: Option<DataParallel>,
}

impl FitContext {
    /// A context for a run in `dir` (the Ctrl-C handler installed).
    pub fn new(dir: &Path, device: tch::Device, quiet: bool) -> Result<Self> {
        Ok(FitContext {
            dir: dir.to_path_buf(),
            resume: false,
            stop: runtime::stop_flag()?,
            verbosity: if quiet {
                Verbosity::Silent
            } else {
                Verbosity::Normal
            },
            device,
            fold: None,
            dist: None,
        })
    }

    /// A trainer with `config` for this context: its folder, verbosity, stop flag and, on
    /// several processes, its process group.
    pub fn trainer(&self, config: TrainerConfig) -> Trainer {
        let trainer = self.single(Trainer::new(config, &self.dir));
        match &self.dist {
            Some(dist) => trainer.data_parallel(dist.clone()),
            None => trainer,
        }
    }

    /// `trainer` with the run's verbosity, stop flag and labeller of epoch samples, for a
    /// task that trains in one process.
    pub fn single(&self, trainer: Trainer) -> Trainer {
        trainer
            .verbosity(self.verbosity)
            .stop_flag(self.stop.clone())
            .label_samples(epoch_labeller(&self.dir))
    }
}

/// Labels the files a task writes at an epoch's end (e.g. a GAN's sample grids) as
/// `gen sample` labels its output: from the `last` checkpoint, which the trainer has just
/// written with the weights that drew them.
fn epoch_labeller(dir: &Path) -> gen_train::SampleLabeller {
    let dir = dir.to_path_buf();
    Box::new(move |samples, epoch| {
        let mut sampling = crate::provenance::Sampling::new();
        sampling.insert("epoch".into(), epoch.into());
        sampling.insert("written_by".into(), "training".into());
        let files: Vec<&Path> = samples.files.iter().map(PathBuf::as_path).collect();
        crate::provenance::for_run(&dir, &["last"], samples.seed, sampling)
            .and_then(|record| crate::provenance::label(&files, &record))
            .map_err(|e| gen_train::Error::config("provenance label", format!("{e:#}")))
    })
}

/// One fold of k-fold cross-validation.
#[derive(Debug, Clone, Copy)]
pub struct Fold {
    /// 0-based fold index.
    pub index: usize,
    /// The number of folds.
    pub folds: usize,
    /// The shuffle seed of `gen_data::batch::k_fold`.
    pub seed: u64,
}

impl Fold {
    /// `(train, validation)` indices of this fold among `n` samples.
    pub fn split(&self, n: usize) -> Result<(Vec<usize>, Vec<usize>)> {
        gen_data::batch::k_fold(n, self.folds, self.seed)?
            .into_iter()
            .nth(self.index)
            .with_context(|| format!("fold {} of {}", self.index, self.folds))
    }
}

/// The test metrics of the run in `dir` (`gen evaluate`).
pub fn evaluate(config: &RunConfig, dir: &Path, device: tch::Device) -> Result<MetricMap> {
    for_kind!(config, |run| run.evaluate(&run.load(device)?, dir, device))
}

/// Loads the data once, trains, and evaluates on the same data: the test metrics with
/// `train_seconds` (data loading and training), or `None` when training was interrupted.
fn train_then_evaluate<K: RunKind>(run: &K, ctx: &FitContext) -> Result<Option<MetricMap>> {
    let start = std::time::Instant::now();
    let data = run.load(ctx.device)?;
    let (outcome, _) = run.train(&data, ctx)?;
    if outcome == Outcome::Interrupted {
        return Ok(None);
    }
    let train_seconds = start.elapsed().as_secs_f64();
    tracing::info!(seconds = train_seconds, "training finished ({outcome:?})");
    let mut metrics = run.evaluate(&data, &ctx.dir, ctx.device)?;
    metrics.insert("train_seconds".into(), train_seconds);
    Ok(Some(metrics))
}

/// Trains (or resumes) the run in `dir`, evaluates it into `eval.json`, writes a language
/// model's samples, and prints the summary. Exit code 130 when interrupted.
pub fn fit(config: &RunConfig, dir: &Path, resume: bool, quiet: bool) -> Result<ExitCode> {
    let device = runtime::setup(config)?;
    let dist = crate::dist::join(config)?;
    let main = dist.as_ref().is_none_or(DataParallel::is_main);
    let ctx = FitContext {
        resume,
        dist,
        ..FitContext::new(dir, device, quiet || !main)?
    };
    if !main {
        // Ranks other than 0 train and leave evaluation, samples and the summary to rank 0.
        let (outcome, _) = for_kind!(config, |run| run.train(&run.load(device)?, &ctx))?;
        return Ok(if outcome == Outcome::Interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        });
    }
    let Some(metrics) = for_kind!(config, |run| train_then_evaluate(run, &ctx))? else {
        eprintln!(
            "interrupted: checkpoint written; continue with `gen resume {}`",
            dir.display()
        );
        return Ok(ExitCode::from(130));
    };
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
        let opts = lm::GenerateOptions::default();
        let seed = lm::sampling_seed(r, &opts);
        let record = crate::provenance::for_run(
            dir,
            &["best", "last"],
            seed,
            lm::sampling_record(r, &opts),
        )?;
        crate::provenance::label(&[path.as_path()], &record)?;
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

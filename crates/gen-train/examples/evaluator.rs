//! Trains (or loads from the cache) the MNIST and Fashion-MNIST evaluators used to score image
//! GANs, reports their test accuracy, the real-vs-real Fréchet distance floor (training images
//! against test images) and the FD of noise images.
//!
//! The noise images are `tanh(N(0, 1))` per pixel: a STAND-IN for an untrained generator's
//! output (a real untrained generator's FD comes from `gen_train::eval::generator_report` with
//! the generator's sampler).
//!
//! Run from the project root (the data folder is found from the current directory; fetch the
//! data with `cargo xtask fetch-data mnist` and `cargo xtask fetch-data fashion-mnist`):
//!
//! ```text
//! cargo run --release -p gen-train --example evaluator -- --dataset all --threads 1
//! ```
//!
//! Options (`--name value`): `dataset` (`mnist`, `fashion-mnist` or `all`; default `all`),
//! `cache-dir` (`runs/evaluators`), `threads` (1: on a busy two-core machine one libtorch
//! thread ran 2.5x faster than two), `n` (10000 real images per set, capped by the test
//! split), `retrain` (false: use the cache when it fits), and the training settings of
//! `EvaluatorTrainingConfig` (changing one retrains): `epochs` (2), `min-steps` (900),
//! `batch` (128), `lr` (0.002, Adam), `schedule` (`cosine` or `constant`; `cosine`), `shift`
//! (1, pixels of random translation), `dropout` (0.25), `batch-norm` (false).

use anyhow::{bail, Context};
use gen_data::idx::{load_mnist_like, FASHION_MNIST, MNIST};
use gen_models::evaluator::ImageClassifierConfig;
use gen_train::eval::{
    evaluator_paths, gan_report, noise_images, train_or_load_evaluator_with,
    EvaluatorTrainingConfig, RealReference, DEFAULT_REAL_SAMPLES,
};
use gen_train::optim::{AdamConfig, OptimizerConfig};
use gen_train::schedule::LrSchedule;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use tch::Device;

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                bail!("expected --name value, got {key:?}");
            };
            let value = it
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value);
        }
        Ok(Args(map))
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| anyhow::anyhow!("--{name} {v:?}: {e}")),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let threads: usize = args.get("threads", 1)?;
    let n: usize = args.get("n", DEFAULT_REAL_SAMPLES)?;
    let retrain: bool = args.get("retrain", false)?;
    let cache_dir: PathBuf = args.get("cache-dir", PathBuf::from("runs/evaluators"))?;
    let which: String = args.get("dataset", "all".to_string())?;
    gen_core::set_threads(Some(threads))?;
    let defaults = EvaluatorTrainingConfig::default();
    let config = EvaluatorTrainingConfig {
        epochs: args.get("epochs", defaults.epochs)?,
        min_steps: args.get("min-steps", defaults.min_steps)?,
        batch_size: args.get("batch", defaults.batch_size)?,
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr: args.get("lr", defaults.optimizer.lr())?,
            ..Default::default()
        }),
        lr_schedule: match args.get("schedule", "cosine".to_string())?.as_str() {
            "cosine" => defaults.lr_schedule.clone(),
            "constant" => LrSchedule::Constant,
            other => bail!("--schedule {other:?}: expected cosine or constant"),
        },
        augment_shift: args.get("shift", defaults.augment_shift)?,
        model: ImageClassifierConfig {
            dropout: args.get("dropout", defaults.model.dropout)?,
            batch_norm: args.get("batch-norm", defaults.model.batch_norm)?,
            ..defaults.model.clone()
        },
        ..defaults
    };
    let names: Vec<&str> = match which.as_str() {
        "all" => vec![MNIST, FASHION_MNIST],
        "mnist" => vec![MNIST],
        "fashion-mnist" => vec![FASHION_MNIST],
        other => bail!("--dataset {other:?}: expected mnist, fashion-mnist or all"),
    };
    for name in names {
        let data = load_mnist_like(gen_data::paths::dataset_dir(name)?)?;
        println!(
            "== {name}: {} training, {} test images; {threads} threads",
            data.train_labels.len(),
            data.test_labels.len()
        );
        if retrain {
            for path in <[PathBuf; 2]>::from(evaluator_paths(&cache_dir, name)) {
                if path.is_file() {
                    std::fs::remove_file(&path).with_context(|| path.display().to_string())?;
                }
            }
        }
        let start = Instant::now();
        let evaluator =
            train_or_load_evaluator_with(name, &data, &cache_dir, &config, Device::Cpu)?;
        let info = evaluator.info();
        println!(
            "evaluator: test accuracy {:.4} on {} images; trained in {:.1} s ({} epochs); \
             this call took {:.1} s",
            info.test_accuracy,
            info.test_samples,
            info.train_seconds,
            info.epochs,
            start.elapsed().as_secs_f64()
        );

        let start = Instant::now();
        let reference = RealReference::new(&evaluator, &data, Some(n))?;
        println!(
            "real vs real (first {} train vs first {} test): FD {:.4}; test IS {:.3}, coverage {}/{} \
             ({:.1} s)",
            reference.n,
            reference.n,
            reference.real_vs_real_fd,
            reference.real_inception_score,
            reference.real_coverage,
            evaluator.model().config().num_classes,
            start.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        let noise = noise_images(reference.n as i64, 1, 28, 0)?;
        let report = gan_report(&evaluator, &reference, &noise)?;
        println!(
            "noise stand-in for an untrained generator (tanh(N(0,1)), n = {}): FD {:.4}; IS {:.3}, \
             coverage {} ({:.1} s)",
            report.n,
            report.fd,
            report.inception_score,
            report.coverage,
            start.elapsed().as_secs_f64()
        );
        println!("report: {}", serde_json::to_string(&report)?);
    }
    Ok(())
}

//! Trains a GAN on Fashion-MNIST or MNIST with the generic `Trainer`, writing sample grids
//! after every epoch, then prints each epoch's losses, D(x), D(G(z)) and wall time.
//!
//! Run from the project root (the data folder is found from the current directory; fetch it
//! with `cargo xtask fetch-data fashion-mnist`):
//!
//! ```text
//! cargo run --release -p gen-train --example gan -- --epochs 3 --threads 2
//! cargo run --release -p gen-train --example gan -- --data mnist --model mlp --loss minimax --epochs 2
//! ```
//!
//! The example sets `OMP_WAIT_POLICY=PASSIVE` unless it is set: on a machine whose cores
//! are shared, spinning OpenMP threads made each step about 5x slower.
//!
//! Options (`--name value`): `data` (fashion-mnist | mnist), `model` (dcgan | mlp |
//! conditional_dcgan), `loss` (non_saturating | minimax | wgan_gp | hinge), `epochs` (3),
//! `batch` (64), `limit` (all training images), `valid` (1000 test images), `ngf` and `ndf`
//! (32), `lr` (2e-4), `n-critic` (1, or 5 for wgan_gp), `smoothing` (none; e.g. 0.9),
//! `noise` (0: instance noise std, annealed to 0 over the run), `threads` (2), `seed` (0),
//! `seconds` (none: a time budget, after which the run stops with a checkpoint), `out`
//! (runs/gan-<data>-<model>: the run folder, with `samples/`, checkpoints and metrics),
//! `resume` (false: continue the run in `out` from its last checkpoint, with the same options).

use anyhow::{bail, Context};
use gen_data::idx::{load_fashion_mnist, load_mnist};
use gen_models::gan::{DiscriminatorNorm, Gan, GanConfig, GanKind};
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, OptimizerConfig};
use gen_train::tasks::gan::{GanLoss, GanTask, GanTaskConfig, ImageData, InstanceNoise};
use gen_train::{Dataset, Metrics, TrainStep, Trainer, TrainerConfig};
use ndarray::s;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tch::{nn::VarStore, Device, Tensor};

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

    /// A snake_case enum value through serde.
    fn choice<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        default: &str,
    ) -> anyhow::Result<T> {
        let v = self.0.get(name).map_or(default, String::as_str);
        serde_json::from_value(serde_json::Value::String(v.to_string()))
            .map_err(|e| anyhow::anyhow!("--{name} {v:?}: {e}"))
    }
}

/// The GAN task, printing each epoch's wall time and metrics as it ends.
struct Timed {
    inner: GanTask,
    epoch_start: Instant,
}

impl TrainStep for Timed {
    type Batch = <GanTask as TrainStep>::Batch;
    fn train_step(&mut self, batch: &Self::Batch) -> gen_train::Result<Metrics> {
        self.inner.train_step(batch)
    }
    fn valid_step(&mut self, batch: &Self::Batch) -> gen_train::Result<Metrics> {
        self.inner.valid_step(batch)
    }
    fn set_lr_factor(&mut self, factor: f64) {
        self.inner.set_lr_factor(factor)
    }
    fn state(&self) -> gen_train::Result<Vec<(String, Tensor)>> {
        self.inner.state()
    }
    fn load_state(&mut self, t: &HashMap<String, Tensor>, p: &Path) -> gen_train::Result<()> {
        self.inner.load_state(t, p)
    }
    fn on_epoch_end(&mut self, epoch: usize, run_dir: &Path) -> gen_train::Result<()> {
        let seconds = self.epoch_start.elapsed().as_secs_f64();
        self.inner.on_epoch_end(epoch, run_dir)?;
        let line = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
            .ok()
            .and_then(|s| s.lines().last().map(str::to_string))
            .unwrap_or_default();
        let m: HashMap<String, f64> = serde_json::from_str(&line).unwrap_or_default();
        let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        println!(
            "epoch {epoch}: {seconds:.1} s | loss_d {:.4} loss_g {:.4} D(x) {:.3} D(G(z)) {:.3} | val loss_d {:.4} loss_g {:.4} D(x) {:.3} D(G(z)) {:.3}",
            get("loss_d"),
            get("loss_g"),
            get("d_x"),
            get("d_g_z"),
            get("val_loss_d"),
            get("val_loss_g"),
            get("val_d_x"),
            get("val_d_g_z"),
        );
        self.epoch_start = Instant::now();
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    // OpenMP threads that spin while waiting make a step many times slower when other
    // processes share the cores; sleeping costs little on an idle machine. Set before
    // libtorch starts its thread pool; an explicit setting wins.
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        std::env::set_var("OMP_WAIT_POLICY", "PASSIVE");
    }
    let args = Args::parse()?;
    let data_name: String = args.get("data", "fashion-mnist".to_string())?;
    let kind: GanKind = args.choice("model", "dcgan")?;
    let loss: GanLoss = args.choice("loss", "non_saturating")?;
    let threads: usize = args.get("threads", 2)?;
    let seed: u64 = args.get("seed", 0)?;
    let epochs: usize = args.get("epochs", 3)?;
    gen_core::set_threads(Some(threads))?;

    let dataset = match data_name.as_str() {
        "fashion-mnist" => load_fashion_mnist()?,
        "mnist" => load_mnist()?,
        other => bail!("--data {other:?}: expected fashion-mnist or mnist"),
    };
    let limit: usize = args.get("limit", dataset.train_images.shape()[0])?;
    let limit = limit.min(dataset.train_images.shape()[0]);
    let valid_n: usize = args.get("valid", 1000)?;
    let valid_n = valid_n.min(dataset.test_images.shape()[0]);
    let device = Device::Cpu;
    let train = ImageData::from_u8(
        &dataset.train_images.slice(s![..limit, .., ..]).to_owned(),
        &dataset.train_labels.slice(s![..limit]).to_owned(),
        device,
    )?;
    let valid = ImageData::from_u8(
        &dataset.test_images.slice(s![..valid_n, .., ..]).to_owned(),
        &dataset.test_labels.slice(s![..valid_n]).to_owned(),
        device,
    )?;

    let mut model = GanConfig {
        kind,
        ..Default::default()
    };
    model.dcgan.ngf = args.get("ngf", model.dcgan.ngf)?;
    model.dcgan.ndf = args.get("ndf", model.dcgan.ndf)?;
    if loss == GanLoss::WganGp {
        model.dcgan.d_norm = DiscriminatorNorm::Layer;
    }
    let lr: f64 = args.get("lr", 2e-4)?;
    let adam = OptimizerConfig::Adam(AdamConfig {
        lr,
        beta1: 0.5,
        ..Default::default()
    });
    let smoothing: f64 = args.get("smoothing", 1.0)?;
    let noise: f64 = args.get("noise", 0.0)?;
    let batch_size: usize = args.get("batch", 64)?;
    let steps = (epochs * train.len().div_ceil(batch_size)) as u64;
    let task_config = GanTaskConfig {
        loss,
        n_critic: args.get("n-critic", if loss == GanLoss::WganGp { 5 } else { 1 })?,
        optimizer_g: adam.clone(),
        optimizer_d: adam,
        label_smoothing: (smoothing < 1.0).then_some(smoothing),
        instance_noise: InstanceNoise {
            std: noise,
            anneal_steps: Some(steps),
        },
        ..Default::default()
    };
    println!("model: {model:?}");
    println!("task: {task_config:?}");

    gen_core::seed_everything(seed);
    let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
    let gan = Gan::new(&g_vs.root(), &d_vs.root(), &model)?;
    let count = |vs: &VarStore| -> i64 {
        vs.trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>() as i64
    };
    println!("parameters: G {}, D {}", count(&g_vs), count(&d_vs));
    let mut task = Timed {
        inner: GanTask::new(gan, g_vs, d_vs, task_config)?,
        epoch_start: Instant::now(),
    };

    let default_out = format!(
        "runs/gan-{data_name}-{}",
        args.get("model", "dcgan".to_string())?
    );
    let out: PathBuf = args.get("out", default_out)?.into();
    let resume: bool = args.get("resume", false)?;
    if out.join("checkpoints").exists() && !resume {
        bail!(
            "{} already holds a run; pass another --out, or --resume true",
            out.display()
        );
    }
    let trainer_config = TrainerConfig {
        epochs,
        batch_size,
        seed,
        ..Default::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(seconds) = args.0.get("seconds") {
        let seconds: u64 = seconds.parse().context("--seconds")?;
        let stop = stop.clone();
        drop(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(seconds));
            stop.store(true, Ordering::SeqCst);
        }));
    }
    let trainer = Trainer::new(trainer_config, &out)
        .verbosity(Verbosity::Normal)
        .stop_flag(stop);
    println!(
        "training on {} {data_name} images ({} per batch, {threads} threads), validating on {}",
        train.len(),
        batch_size,
        valid.len()
    );
    let start = Instant::now();
    task.epoch_start = start;
    let (outcome, state) = trainer.fit(&mut task, &train, Some(&valid), resume)?;
    println!(
        "{outcome:?} after {} steps in {:.1} s; samples in {}",
        state.global_step,
        start.elapsed().as_secs_f64(),
        out.join("samples").display()
    );
    Ok(())
}

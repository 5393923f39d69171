//! Your own model, trained by gen-train's one `Trainer`: implement `Dataset` for the data and
//! `Objective` for the model, wrap the model in `Supervised` (optimiser, clipping), and `fit`.
//! The run folder gets `last`/`best` checkpoints and `metrics.csv`; a raised stop flag (what a
//! Ctrl-C handler sets) checkpoints and stops, and `fit(.., resume = true)` continues exactly.
//!
//! `cargo run -p gen-train --example custom_model`

use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, GradClip, OptimizerConfig};
use gen_train::tasks::{Objective, Supervised};
use gen_train::{Dataset, Metrics, Result, Trainer, TrainerConfig, TrainerState};
use std::{path::Path, sync::Arc, sync::atomic::AtomicBool};
use tch::{Device, Kind, Reduction, Tensor, nn, nn::Module};

/// Points `(x, sin 3x)`, with `x` uniform in [-1, 1].
pub struct Curve(Tensor, Tensor);

impl Dataset for Curve {
    type Batch = (Tensor, Tensor);
    fn len(&self) -> usize {
        self.0.size().first().map_or(0, |&n| n as usize)
    }
    fn batch(&self, indices: &[usize]) -> Result<Self::Batch> {
        let i = Tensor::f_from_slice(&indices.iter().map(|&i| i as i64).collect::<Vec<_>>())?;
        Ok((self.0.f_index_select(0, &i)?, self.1.f_index_select(0, &i)?))
    }
}

/// The model: a small perceptron, with the mean squared error as its objective.
pub struct Mlp(nn::Sequential);

impl Objective for Mlp {
    type Batch = (Tensor, Tensor);
    fn forward_loss(&self, (x, y): &Self::Batch, _train: bool) -> Result<(Tensor, Metrics)> {
        let loss = self.0.forward(x).f_mse_loss(y, Reduction::Mean)?;
        let n = x.size().first().copied().unwrap_or(0) as f64;
        let mut metrics = Metrics::new(); // sums and counts, so epoch means are exact
        metrics.add("loss", loss.f_double_value(&[])? * n, n);
        Ok((loss, metrics))
    }
}

/// A fresh model, with Adam.
pub fn model() -> Result<Supervised<Mlp>> {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = nn::seq()
        .add(nn::linear(vs.root() / "hidden", 1, 32, Default::default()))
        .add_fn(|x| x.tanh())
        .add(nn::linear(vs.root() / "out", 32, 1, Default::default()));
    let adam = OptimizerConfig::Adam(AdamConfig {
        lr: 0.01,
        ..Default::default()
    });
    Supervised::new(Mlp(net), vs, adam, GradClip::Norm(1.0))
}

/// 256 points, the last quarter for validation, 30 epochs.
pub fn setup() -> (Curve, TrainerConfig) {
    tch::manual_seed(0);
    let x = Tensor::rand([256, 1], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
    let y = (&x * 3.0).sin();
    (
        Curve(x, y),
        TrainerConfig {
            epochs: 30,
            validation_split: 0.25,
            ..Default::default()
        },
    )
}

/// Trains into `dir`, stopped after its first step by a raised stop flag, then resumed by a
/// fresh model (as a new process would) from the `last` checkpoint.
pub fn train(dir: &Path, verbosity: Verbosity) -> anyhow::Result<TrainerState> {
    let (data, config) = setup();
    let stop = Arc::new(AtomicBool::new(true)); // e.g. raised by a Ctrl-C handler
    let trainer = Trainer::new(config.clone(), dir)
        .verbosity(verbosity)
        .stop_flag(stop);
    trainer.fit(&mut model()?, &data, None, false)?; // Outcome::Interrupted, after one step
    let trainer = Trainer::new(config, dir).verbosity(verbosity);
    Ok(trainer.fit(&mut model()?, &data, None, true)?.1)
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join("gen-custom-model");
    let state = train(&dir, Verbosity::Normal)?;
    println!(
        "best val_loss {:?}, run folder {}",
        state.best,
        dir.display()
    );
    Ok(())
}

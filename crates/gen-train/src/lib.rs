//! # gen-train
//!
//! Optimisers with exportable state, learning-rate schedules, Keras's early stopping, and the
//! one generic training loop: a [`Trainer`] drives every model through the [`TrainStep`]
//! trait, so no model has a loop of its own.
//!
//! # Train your own model
//!
//! Implement [`Dataset`] for the data and [`tasks::Objective`] (the loss and its metrics) for
//! the model, wrap the model in [`tasks::Supervised`] (optimiser and clipping), and let a
//! [`Trainer`] fit it: `last`/`best` checkpoints, `metrics.csv`, schedules, early stopping and
//! exact resume come with it. This is `examples/custom_model.rs`, which `tests/custom_model.rs`
//! runs (`cargo run -p gen-train --example custom_model`):
//!
//! ```no_run
#![doc = include_str!("../examples/custom_model.rs")]
//! ```

pub mod callbacks;
pub mod checkpoint;
pub mod ema;
pub mod error;
pub mod eval;
pub mod learner;
pub mod metrics;
pub mod monitor;
pub mod optim;
pub mod schedule;
pub mod tasks;

pub use error::{Error, Result};
pub use learner::{
    Dataset, EpochSamples, Outcome, SampleLabeller, Subset, TrainStep, Trainer, TrainerConfig,
    TrainerState,
};
pub use metrics::Metrics;
pub use monitor::Monitor;
pub use optim::{GradClip, Optimizer, OptimizerConfig};

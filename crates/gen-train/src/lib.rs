//! # gen-train
//!
//! Optimisers with exportable state, learning-rate schedules, Keras's early stopping, and the
//! one generic training loop: a [`Trainer`] drives every model through the [`TrainStep`]
//! trait, so no model has a loop of its own.

pub mod callbacks;
pub mod checkpoint;
pub mod error;
pub mod eval;
pub mod learner;
pub mod metrics;
pub mod monitor;
pub mod optim;
pub mod schedule;
pub mod tasks;

pub use error::{Error, Result};
pub use learner::{Dataset, Outcome, Subset, TrainStep, Trainer, TrainerConfig, TrainerState};
pub use metrics::Metrics;
pub use monitor::Monitor;
pub use optim::{GradClip, Optimizer, OptimizerConfig};

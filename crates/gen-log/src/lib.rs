//! # gen-log
//!
//! Run logs that other tools read. [`tensorboard`] writes TensorBoard event files: scalars,
//! images, audio, text and hyperparameters, which `tensorboard --logdir runs` shows, and reads
//! them back with every checksum verified.
//!
//! gen-log has no libtorch dependency: it takes plain values (`f32` scalars, PNG or WAV bytes,
//! `f32` samples, text), so the trainer, the CLI and tools can all use it.

pub mod error;
pub mod tensorboard;

pub use error::{Error, Result};

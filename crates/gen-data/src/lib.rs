//! # gen-data
//!
//! Datasets, Keras-exact sequence tools, tokenizers and batching on [`ndarray`].
//! gen-data has no libtorch dependency: depend on it alone for, e.g., Keras-exact padding.
//!
//! Loaders only read disk. Fetch the data first with `cargo xtask fetch-data NAME`; the data
//! folder is `datasets/` in the project, or `GEN_DATA_DIR` when set.

pub mod batch;
pub mod error;
pub mod idx;
pub mod imdb;
pub mod numpy_rng;
pub mod paths;
pub mod sequence;
pub mod text;
pub mod tokenizer;

pub use error::{Error, Result};

//! # gen-data
//!
//! Datasets, Keras-exact sequence tools, tokenizers and batching on [`ndarray`].
//! gen-data has no libtorch dependency: depend on it alone for, e.g., Keras-exact padding.
//! Motion data: a strict MATLAB v5 reader ([`mat`]), the LASA handwriting shapes ([`lasa`])
//! and fixed-length trajectory tools with DTW ([`trajectory`]).
//!
//! Loaders only read disk. Fetch the data first with `cargo xtask fetch-data NAME`; the data
//! folder is `datasets/` in the project, or `GEN_DATA_DIR` when set. [`catalog`] lists the
//! datasets with their licences and sources.

pub mod batch;
pub mod catalog;
pub mod error;
pub mod idx;
pub mod imdb;
pub mod lasa;
pub mod mat;
pub mod numpy_rng;
pub mod paths;
pub mod sequence;
pub mod text;
pub mod tokenizer;
pub mod trajectory;

pub use error::{Error, Result};

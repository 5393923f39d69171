//! # gen-data
//!
//! Datasets, Keras-exact sequence tools, tokenizers and batching on [`ndarray`].
//! gen-data has no libtorch dependency: depend on it alone for, e.g., Keras-exact padding.
//! Motion data: a strict MATLAB v5 reader ([`mat`]), the LASA handwriting shapes ([`lasa`])
//! and fixed-length trajectory tools with DTW ([`trajectory`]).
//!
//! Loaders only read disk. Fetch the data first with `cargo xtask fetch-data NAME`; the data
//! folder is `GEN_DATA_DIR` when set, else the `datasets/` of the gen checkout above the current
//! folder, else the per-user `~/.local/share/gen/datasets` ([`paths`]).

pub mod batch;
mod data_dir_rule;
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

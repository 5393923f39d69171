//! # gen-data
//!
//! Datasets, Keras-exact sequence tools, tokenizers and batching on [`ndarray`].
//! gen-data has no libtorch dependency: depend on it alone for, e.g., Keras-exact padding.
//! Motion data: a strict MATLAB v5 reader ([`mat`]), the LASA handwriting shapes ([`lasa`])
//! and fixed-length trajectory tools with DTW ([`trajectory`]).
//! Music ([`music`]): Bach's chorales read from MusicXML into quarter-note piano-rolls, split by
//! file name, the NLL-per-frame metric with its baselines, MIDI files, a small additive
//! synthesiser and piano-roll pictures; WAV files in [`audio`].
//! Audio: drum one-shots ([`drums`]) decoded from WAV, FLAC and AIFF (symphonia), resampled to
//! 16 kHz (rubato), labelled from each kit's `drumkit.xml`, split and cached.
//!
//! Loaders only read the data folder and never write to it (it may be read-only or shared); the
//! drums loader keeps its cache of decoded clips in the per-user cache folder
//! (`$XDG_CACHE_HOME/gen` or `~/.cache/gen`, or `GEN_CACHE_DIR` when set). Fetch the data first
//! with `cargo xtask fetch-data NAME`; the data folder is `GEN_DATA_DIR` when set, else the
//! `datasets/` of the gen checkout above the current folder, else the per-user
//! `~/.local/share/gen/datasets` ([`paths`]). [`catalog`] lists the datasets with their licences
//! and sources. [`checkpoint_record`] verifies a checkpoint's state file against its tensor file
//! before gen-train reads a tensor from it.

pub mod audio;
pub mod batch;
pub mod catalog;
pub mod checkpoint_record;
mod data_dir_rule;
pub mod drums;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod idx;
pub mod imdb;
pub mod lasa;
pub mod mat;
pub mod memorisation;
pub mod mnist;
pub mod music;
pub mod numpy_rng;
pub mod paths;
pub mod provenance;
pub mod sequence;
pub mod splitmix;
pub mod text;
pub mod tokenizer;
pub mod trajectory;
mod zipped;

pub use error::{Error, Result};

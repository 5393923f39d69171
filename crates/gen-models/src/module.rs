//! The `Module` trait that every gen model implements.

use crate::Result;
use serde::{Serialize, de::DeserializeOwned};
use tch::nn;

/// A model built from a serde config on a [`nn::Path`] of a `VarStore`.
///
/// Configs are plain serde structs whose `Default` holds the documented defaults, so a run's
/// `config.toml` can nest them and rebuild the same model. `forward_t` takes `train` to switch
/// dropout and batch-norm, like tch's `ModuleT`, but returns a `Result` instead of panicking.
pub trait Module: Sized {
    /// The model's configuration.
    type Config: Serialize + DeserializeOwned + Default + Clone;
    /// What `forward_t` takes (a tensor, or a tuple of tensors).
    type Input<'a>;

    /// Creates the model's variables under `vs` and returns the model.
    fn init(vs: &nn::Path<'_>, config: &Self::Config) -> Result<Self>;

    /// Runs the model; `train` enables dropout and batch statistics.
    fn forward_t(&self, input: Self::Input<'_>, train: bool) -> Result<tch::Tensor>;
}

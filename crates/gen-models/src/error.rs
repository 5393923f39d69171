//! The one error type of gen-models.

/// Everything that can go wrong when building or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// libtorch rejected an operation (shapes, dtypes, devices).
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// An error from gen-core (losses, conversion, device).
    #[error(transparent)]
    Core(#[from] gen_core::Error),
    /// A config field holds a value the model cannot use.
    #[error("invalid config `{field}`: {reason}")]
    Config {
        /// The config field, as a dotted path (e.g. `gru.hidden_size`).
        field: &'static str,
        /// Why the value is invalid.
        reason: String,
    },
    /// An input tensor has the wrong shape or dtype.
    #[error("{what}: expected {expected}, got shape {got:?}")]
    Shape {
        /// Which input.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape received.
        got: Vec<i64>,
    },
}

/// `Result` with gen-models' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns [`Error::Config`] unless `ok`.
pub(crate) fn ensure_config(
    ok: bool,
    field: &'static str,
    reason: impl FnOnce() -> String,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            field,
            reason: reason(),
        })
    }
}

//! The one error type of gen-train.

use std::path::PathBuf;

/// Everything that can go wrong while training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// libtorch rejected an operation.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// An error from gen-core.
    #[error(transparent)]
    Core(#[from] gen_core::Error),
    /// An error from gen-data.
    #[error(transparent)]
    Data(#[from] gen_data::Error),
    /// An error from gen-models.
    #[error(transparent)]
    Model(#[from] gen_models::Error),
    /// Writing the run's TensorBoard events failed.
    #[error(transparent)]
    Log(#[from] gen_log::Error),

    /// A distributed run's process group failed (a peer died or disagreed, a timeout).
    #[error(transparent)]
    Dist(#[from] gen_dist::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint or state file is corrupt, truncated or does not fit the model.
    #[error("checkpoint {path}: {field}: {reason}")]
    Checkpoint {
        /// The file involved.
        path: PathBuf,
        /// The entry that is wrong.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A config value is out of range.
    #[error("invalid config `{field}`: {reason}")]
    Config {
        /// The field, as a dotted path.
        field: String,
        /// Why the value is invalid.
        reason: String,
    },
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "non-finite loss ({value}) at step {step} (epoch {epoch}); the last good checkpoint is kept"
    )]
    NonFiniteLoss {
        /// The global step (1-based) that produced it.
        step: u64,
        /// The epoch (1-based).
        epoch: usize,
        /// The loss value.
        value: f64,
    },
    /// A training step reported no `loss` metric, which the NaN guard reads.
    #[error(
        "the training step reported no `loss` metric at step {step} (epoch {epoch}); every \
         TrainStep must report `loss`"
    )]
    MissingLoss {
        /// The global step (1-based) that lacked it.
        step: u64,
        /// The epoch (1-based).
        epoch: usize,
    },
}

/// `Result` with gen-train's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Config`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

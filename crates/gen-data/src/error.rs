//! The one error type of gen-data.

use std::path::PathBuf;

/// Everything that can go wrong in gen-data. Variants name the file, field or shape involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what its format requires (truncated, corrupt, wrong magic...).
    #[error("{path}: {field}: {reason}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// The part of the file (field, entry, record) that is wrong.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A dataset is not on disk.
    #[error("dataset `{name}` not found at {path}; {}", crate::paths::fetch_hint(.name, .path))]
    MissingDataset {
        /// The dataset's name in `datasets/datasets.toml`.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// An argument or option is out of its valid range.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument or option.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// `Result` with gen-data's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Format`] for `path`.
    pub fn format(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }
}

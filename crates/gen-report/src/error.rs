//! The one error type of gen-report.

use std::path::PathBuf;

/// Everything that can go wrong while reading runs. Variants name the file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file or folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A run file does not parse: `line` is 1-based where the file has lines.
    #[error("{path}{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, in `metrics.jsonl`.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A folder is no run (no `metrics.jsonl` nor `config.toml`), nor holds runs one level down
    /// (a `gen cv` or `gen tune` folder).
    #[error("{0}: not a run folder (no metrics.jsonl or config.toml, nor runs inside)")]
    NotARun(PathBuf),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn parse(
        path: &std::path::Path,
        line: Option<usize>,
        reason: impl ToString,
    ) -> Error {
        Error::Parse {
            path: path.to_owned(),
            line,
            reason: reason.to_string(),
        }
    }
}

/// gen-report's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

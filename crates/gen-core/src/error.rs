//! The crate's single error type.

/// Result alias used throughout gen-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in gen-core.
///
/// Variants name the operation and the shape, dtype, field or device involved, so a message is
/// useful without a backtrace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error reported by libtorch (through tch), e.g. an out-of-range class index.
    #[error("torch error: {0}")]
    Torch(#[from] tch::TchError),

    /// A tensor or array had the wrong shape (or rank) for an operation.
    #[error("{op}: expected shape {expected}, got {got:?}")]
    ShapeMismatch {
        /// The operation (function name) that checked the shape.
        op: &'static str,
        /// What the operation needed, in words (e.g. `"rank 2"`, `"[N, C] with N = 4"`).
        expected: String,
        /// The shape that was passed in.
        got: Vec<i64>,
    },

    /// A tensor had the wrong element type for an operation.
    #[error("{op}: expected dtype {expected}, got {got:?}")]
    KindMismatch {
        /// The operation (function name) that checked the dtype.
        op: &'static str,
        /// The dtype(s) the operation accepts, in words (e.g. `"Int64"`, `"a floating kind"`).
        expected: String,
        /// The dtype that was passed in.
        got: tch::Kind,
    },

    /// A CUDA device was requested but libtorch cannot provide it.
    #[error(
        "CUDA device {requested} was requested but libtorch sees {available} CUDA device(s); \
         use a GPU machine, a CUDA libtorch (`cargo xtask setup --cuda`) and build with \
         `--features gen-core/cuda`, or choose `cpu` / `auto`"
    )]
    CudaUnavailable {
        /// The requested device, e.g. `cuda:1`.
        requested: String,
        /// How many CUDA devices libtorch reports (0 on CPU-only builds).
        available: i64,
    },

    /// A device string could not be parsed.
    #[error("invalid device `{input}`: expected `cpu`, `cuda`, `cuda:N` or `auto`")]
    ParseDevice {
        /// The text that failed to parse.
        input: String,
    },

    /// An argument or option was out of its valid range.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument or option field name.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::ShapeMismatch`].
    pub(crate) fn shape(op: &'static str, expected: impl Into<String>, got: Vec<i64>) -> Self {
        Error::ShapeMismatch {
            op,
            expected: expected.into(),
            got,
        }
    }
}

//! The one error type of gen-log.

use std::path::PathBuf;

/// Everything that can go wrong in gen-log. Variants name the file, tag or byte offset involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading, creating or writing a file or folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A value's input is invalid: an empty tag, a step beyond `i64`, bytes that are not a PNG
    /// or a WAV file, a sample that is not finite.
    #[error("TensorBoard value `{tag}`: {reason}")]
    InvalidValue {
        /// The tag of the value.
        tag: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An event file is damaged: a checksum does not match, a record is cut short or an event
    /// does not decode.
    #[error("{path}: record at byte {offset}: {problem}")]
    Corrupt {
        /// The event file.
        path: PathBuf,
        /// Where the record starts in the file.
        offset: u64,
        /// What is wrong with it.
        problem: Corruption,
    },
}

/// What is wrong with a record of an event file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The file ends inside the record: the writer was stopped, or is still writing it.
    #[error("cut short: {needed} bytes needed, {left} left in the file")]
    Truncated {
        /// The bytes the record's framing needs.
        needed: u64,
        /// The bytes left in the file.
        left: u64,
    },
    /// The masked CRC-32C of the 8 length bytes does not match.
    #[error("the length's checksum is {stored:#010x}, the length bytes give {computed:#010x}")]
    LengthChecksum {
        /// The checksum in the file.
        stored: u32,
        /// The checksum of the length bytes in the file.
        computed: u32,
    },
    /// The masked CRC-32C of the data does not match.
    #[error("the data's checksum is {stored:#010x}, the data gives {computed:#010x}")]
    DataChecksum {
        /// The checksum in the file.
        stored: u32,
        /// The checksum of the data in the file.
        computed: u32,
    },
    /// The data is not an `Event` protobuf.
    #[error("not an Event: {0}")]
    Decode(String),
}

/// `Result` with gen-log's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

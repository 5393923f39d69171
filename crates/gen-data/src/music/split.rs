//! The train/valid/test split of the chorales, fixed by a hash of each file name.
//!
//! A file's split depends on its name alone, so it never moves when other files are added,
//! dropped or read differently. Python gives the same answer:
//!
//! ```python
//! import hashlib
//! def split_of(name):
//!     bucket = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 10
//!     return "train" if bucket < 6 else "valid" if bucket < 8 else "test"
//! ```

use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// One of the three parts of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Fitting (60 %).
    Train,
    /// Model selection and early stopping (20 %).
    Valid,
    /// The reported figures (20 %).
    Test,
}

impl Split {
    /// All three, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// `train`, `valid` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The split of file `name`: the first 8 bytes of its UTF-8 sha256, as a big-endian integer,
/// modulo 10: 0-5 train, 6-7 valid, 8-9 test (60/20/20 in expectation).
pub fn split_of(name: &str) -> Split {
    let digest = Sha256::digest(name.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    match u64::from_be_bytes(head) % 10 {
        0..=5 => Split::Train,
        6 | 7 => Split::Valid,
        _ => Split::Test,
    }
}

/// A checksum of split lists: the hex sha256 of the lines `"<split>\t<name>\n"`, sorted by
/// split (train, valid, test) then name. Pins which file went where.
pub fn split_digest<'a>(entries: impl IntoIterator<Item = (Split, &'a str)>) -> String {
    let mut entries: Vec<(Split, &str)> = entries.into_iter().collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (split, name) in entries {
        hasher.update(format!("{split}\t{name}\n").as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_python_definition() {
        // Buckets from the Python above: bwv1.6.mxl 5 (train), bwv10.7.mxl 8 (test),
        // bwv101.7.mxl 2 (train), bwv102.7.mxl 7 (valid), bwv103.6.mxl 4 (train).
        let got: Vec<Split> = [
            "bwv1.6.mxl",
            "bwv10.7.mxl",
            "bwv101.7.mxl",
            "bwv102.7.mxl",
            "bwv103.6.mxl",
        ]
        .map(split_of)
        .to_vec();
        assert_eq!(
            got,
            [
                Split::Train,
                Split::Test,
                Split::Train,
                Split::Valid,
                Split::Train
            ]
        );
    }

    #[test]
    fn digest_ignores_order_and_sees_moves() {
        let a = split_digest([(Split::Test, "b"), (Split::Train, "a")]);
        let b = split_digest([(Split::Train, "a"), (Split::Test, "b")]);
        assert_eq!(a, b);
        assert_ne!(a, split_digest([(Split::Valid, "a"), (Split::Test, "b")]));
        // printf 'train\ta\ntest\tb\n' | sha256sum
        assert_eq!(
            a,
            "8d3f076932c1cfce6d2a0c6c24f27b107605a7539def38e88990632209ef7c01"
        );
    }
}

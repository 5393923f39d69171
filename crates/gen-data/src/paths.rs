//! Where datasets live on disk.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "GEN_DATA_DIR";

/// The data folder: `$GEN_DATA_DIR` when set, else the nearest `datasets/` folder holding
/// `datasets.toml` in the current directory or one of its parents, else `./datasets`.
///
/// `cargo xtask fetch-data` writes to the same folder.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join("datasets");
            if candidate.join("datasets.toml").is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("datasets")
}

/// The folder of dataset `name` under [`data_dir`], or [`Error::MissingDataset`] (which names
/// the `cargo xtask fetch-data NAME` command) when it does not exist.
pub fn dataset_dir(name: &str) -> Result<PathBuf> {
    dataset_dir_in(&data_dir(), name)
}

/// Like [`dataset_dir`], under an explicit data folder.
pub fn dataset_dir_in(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(Error::MissingDataset {
            name: name.to_string(),
            path: dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dataset_names_fetch_command() {
        let root = std::env::temp_dir().join("gen-data-paths-test-does-not-exist");
        let err = dataset_dir_in(&root, "imdb").unwrap_err();
        assert!(
            err.to_string().contains("cargo xtask fetch-data imdb"),
            "{err}"
        );
    }
}

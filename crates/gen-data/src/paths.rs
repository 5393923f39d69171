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
/// the `cargo xtask fetch-data NAME` command) when it does not exist. A name that is not one
/// plain folder name ([`check_dataset_name`]) is an [`Error::InvalidArgument`].
pub fn dataset_dir(name: &str) -> Result<PathBuf> {
    dataset_dir_in(&data_dir(), name)
}

/// Like [`dataset_dir`], under an explicit data folder.
pub fn dataset_dir_in(root: &Path, name: &str) -> Result<PathBuf> {
    check_dataset_name(name)?;
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

/// Checks that `name` names a folder directly inside the data folder: not empty, not starting
/// with `.` (so not `.`, `..` or gen's own `.cache`-style folders), no `/` or `\`, no control
/// character. So `../x`, `/abs`, `a/../../b` and `C:\x` cannot leave the data folder.
pub fn check_dataset_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('.') {
        Some("it starts with `.`")
    } else if name.contains(['/', '\\']) {
        Some("it holds a path separator")
    } else if name.chars().any(char::is_control) {
        Some("it holds a control character")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::invalid(
            "dataset name",
            format!(
                "{name:?} is not a folder name inside the data folder ({why}); use a name \
                 such as `mnist`, or set {DATA_DIR_ENV} to move the data folder"
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_data_folder_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("ok")).unwrap();
        assert_eq!(
            dataset_dir_in(root.path(), "ok").unwrap(),
            root.path().join("ok")
        );
        for bad in [
            "../x",
            "/abs",
            "a/../../b",
            "..",
            ".",
            "",
            "a\\..\\b",
            ".cache",
            "x\0y",
            "/",
        ] {
            let err = dataset_dir_in(root.path(), bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        name: "dataset name",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
            assert!(
                err.to_string()
                    .contains("not a folder name inside the data folder")
            );
        }
        // Even when the target exists outside: the check is on the name, not the disk.
        std::fs::create_dir(root.path().join("outside")).unwrap();
        let inner = root.path().join("data");
        std::fs::create_dir(&inner).unwrap();
        assert!(dataset_dir_in(&inner, "../outside").is_err());
    }

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

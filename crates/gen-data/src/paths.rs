//! Where datasets live on disk.
//!
//! The data folder is, first match wins: `$GEN_DATA_DIR`; the nearest `datasets/` holding
//! `datasets.toml` in the current folder or a parent (a gen checkout); the per-user data folder
//! (`~/.local/share/gen/datasets` on Linux, see [`user_data_dir`]); `./datasets` when there is
//! no home folder. `cargo xtask fetch-data` compiles the same rule (one shared source file), so
//! it fills the folder that `gen` reads.

use crate::{Error, Result};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

pub use crate::data_dir_rule::{DATA_DIR_ENV, Origin, resolve, user_data_dir};

/// The data folder (see the [module docs](self) for the rule).
pub fn data_dir() -> PathBuf {
    data_dir_and_origin().0
}

/// The data folder and the step of the rule that picked it.
pub fn data_dir_and_origin() -> (PathBuf, Origin) {
    crate::data_dir_rule::data_dir()
}

/// The folder of dataset `name` under [`data_dir`], or [`Error::MissingDataset`] (which names
/// the folder and the `cargo xtask fetch-data` command that fills it) when it does not exist. A
/// name that is not one plain folder name ([`check_dataset_name`]) is an [`Error::InvalidArgument`].
pub fn dataset_dir(name: &str) -> Result<PathBuf> {
    dataset_dir_in(&data_dir(), name)
}

/// The advice of [`Error::MissingDataset`] for dataset `name`, missing at `dataset_path`: the
/// plain `cargo xtask fetch-data NAME` when the folder above is a checkout's `datasets/` (where
/// that command writes), else the same command with `GEN_DATA_DIR` naming that folder.
pub(crate) fn fetch_hint(name: &str, dataset_path: &Path) -> String {
    match dataset_path.parent() {
        Some(root) if !root.join(crate::data_dir_rule::MANIFEST).is_file() => {
            let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
            let root = root.display().to_string();
            // Quoted for the shell (e.g. macOS's `Application Support`); a NUL cannot occur.
            let quoted = shlex::try_quote(&root).unwrap_or(Cow::Borrowed(root.as_str()));
            format!(
                "fetch it from a gen checkout with `GEN_DATA_DIR={quoted} cargo xtask fetch-data {name}`"
            )
        }
        _ => format!("run `cargo xtask fetch-data {name}`"),
    }
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
    fn missing_dataset_in_a_checkout_names_the_folder_and_the_plain_command() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("datasets.toml"), "").unwrap();
        let err = dataset_dir_in(root.path(), "imdb").unwrap_err().to_string();
        let path = root.path().join("imdb");
        assert!(
            err.contains(&format!("not found at {}", path.display())),
            "{err}"
        );
        assert!(err.ends_with("run `cargo xtask fetch-data imdb`"), "{err}");
    }

    #[test]
    fn missing_dataset_elsewhere_names_gen_data_dir_for_the_fetch() {
        let root = tempfile::tempdir().unwrap();
        let err = dataset_dir_in(root.path(), "mnist")
            .unwrap_err()
            .to_string();
        let want = format!(
            "`GEN_DATA_DIR={} cargo xtask fetch-data mnist`",
            root.path().display()
        );
        assert!(err.contains(&want), "{err}");

        let spaced = root.path().join("Application Support");
        let err = dataset_dir_in(&spaced, "mnist").unwrap_err().to_string();
        let want = format!("GEN_DATA_DIR='{}' cargo", spaced.display());
        assert!(err.contains(&want), "{err}");
    }

    #[test]
    fn present_dataset_is_its_folder() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("lasa")).unwrap();
        assert_eq!(
            dataset_dir_in(root.path(), "lasa").unwrap(),
            root.path().join("lasa")
        );
    }
}

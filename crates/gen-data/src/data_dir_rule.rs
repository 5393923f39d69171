//! Which folder holds gen's datasets. This one file is compiled into gen-data (behind
//! `gen_data::paths`) and, through `#[path]`, into xtask, which depends on no gen crate: so `gen`
//! and `cargo xtask fetch-data` follow one rule. It uses only std and `directories`.
//!
//! The rule, first match wins:
//! 1. `$GEN_DATA_DIR`, when set and not empty;
//! 2. the nearest `datasets/` holding `datasets.toml` in the current folder or one of its
//!    parents: the folder of a gen checkout;
//! 3. the per-user data folder: `gen/datasets` in the platform's data folder
//!    (`$XDG_DATA_HOME/gen/datasets`, by default `~/.local/share/gen/datasets`, on Linux);
//! 4. `./datasets`, when there is no home folder to place the per-user one in.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "GEN_DATA_DIR";

/// The file that marks a checkout's `datasets/` folder.
pub const MANIFEST: &str = "datasets.toml";

/// Which step of the rule picked the data folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `$GEN_DATA_DIR`.
    Env,
    /// A checkout's `datasets/` above the current folder.
    Checkout,
    /// The per-user data folder.
    User,
    /// `./datasets` (no home folder).
    Fallback,
}

/// The rule on explicit inputs: the value of `GEN_DATA_DIR`, the current folder and the
/// per-user folder. Returns the data folder and the step that picked it.
pub fn resolve(
    env: Option<OsString>,
    cwd: Option<&Path>,
    user: Option<PathBuf>,
) -> (PathBuf, Origin) {
    if let Some(dir) = env.filter(|d| !d.is_empty()) {
        return (PathBuf::from(dir), Origin::Env);
    }
    for dir in cwd.into_iter().flat_map(Path::ancestors) {
        let candidate = dir.join("datasets");
        if candidate.join(MANIFEST).is_file() {
            return (candidate, Origin::Checkout);
        }
    }
    match user {
        Some(dir) => (dir, Origin::User),
        None => (PathBuf::from("datasets"), Origin::Fallback),
    }
}

/// The per-user data folder, `gen/datasets` in the platform's data folder; `None` without a
/// home folder.
pub fn user_data_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.data_dir().join("gen").join("datasets"))
}

/// The rule for this process: its `GEN_DATA_DIR`, current folder and home.
pub fn data_dir() -> (PathBuf, Origin) {
    let cwd = std::env::current_dir().ok();
    resolve(
        std::env::var_os(DATA_DIR_ENV),
        cwd.as_deref(),
        user_data_dir(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary tree: `a/datasets/datasets.toml`, `a/b/datasets/` (no manifest) and the
    /// empty folder `a/b/c`.
    fn tree() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        std::fs::create_dir_all(a.join("datasets")).unwrap();
        std::fs::write(a.join("datasets").join(MANIFEST), "").unwrap();
        std::fs::create_dir_all(a.join("b").join("datasets")).unwrap();
        std::fs::create_dir_all(a.join("b").join("c")).unwrap();
        tmp
    }

    #[test]
    fn gen_data_dir_wins_over_a_checkout_unless_empty() {
        let tmp = tree();
        let cwd = tmp.path().join("a/b/c");
        let user = Some(PathBuf::from("/user/gen/datasets"));
        let env = Some(OsString::from("/elsewhere"));
        assert_eq!(
            resolve(env, Some(&cwd), user.clone()),
            (PathBuf::from("/elsewhere"), Origin::Env)
        );
        assert_eq!(
            resolve(Some(OsString::new()), Some(&cwd), user),
            (tmp.path().join("a/datasets"), Origin::Checkout)
        );
    }

    #[test]
    fn checkout_is_the_nearest_datasets_folder_with_a_manifest() {
        let tmp = tree();
        let user = Some(PathBuf::from("/user/gen/datasets"));
        let want = (tmp.path().join("a/datasets"), Origin::Checkout);
        // From a/b/c, a/b/datasets (no manifest) is passed over for a/datasets.
        for cwd in ["a/b/c", "a/b", "a", "a/datasets"] {
            let cwd = tmp.path().join(cwd);
            assert_eq!(resolve(None, Some(&cwd), user.clone()), want, "{cwd:?}");
        }
        // A nearer checkout wins.
        std::fs::write(tmp.path().join("a/b/datasets").join(MANIFEST), "").unwrap();
        let cwd = tmp.path().join("a/b/c");
        assert_eq!(
            resolve(None, Some(&cwd), user),
            (tmp.path().join("a/b/datasets"), Origin::Checkout)
        );
    }

    #[test]
    fn outside_a_checkout_the_per_user_folder_then_dot_datasets() {
        let tmp = tempfile::tempdir().unwrap();
        let user = PathBuf::from("/user/gen/datasets");
        assert_eq!(
            resolve(None, Some(tmp.path()), Some(user.clone())),
            (user.clone(), Origin::User)
        );
        assert_eq!(
            resolve(None, None, Some(user.clone())),
            (user, Origin::User)
        );
        assert_eq!(
            resolve(None, Some(tmp.path()), None),
            (PathBuf::from("datasets"), Origin::Fallback)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn per_user_folder_is_xdg_data_home_gen_datasets_on_linux() {
        // The XDG rule that `directories` follows: an absolute $XDG_DATA_HOME, else
        // $HOME/.local/share.
        let xdg = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let want = xdg
            .or_else(|| home.map(|h| h.join(".local/share")))
            .map(|d| d.join("gen/datasets"));
        assert_eq!(user_data_dir(), want);
    }
}

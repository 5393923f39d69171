//! `cargo xtask install [--root DIR] [--debug]`: a `gen` on `PATH` that runs from any folder.
//!
//! Sets up libtorch, then runs `cargo install --locked --force --path crates/gen-cli`. The build
//! scripts of the crates that link libtorch record its resolved folder (the per-user cache of
//! `cargo xtask setup`, not this clone's `.libtorch` link) as the binary's run path, so the
//! installed `gen` needs no `LD_LIBRARY_PATH` and keeps working after the clone is removed; it
//! stops if that libtorch is deleted (`cargo xtask setup` puts it back). Last, the installed
//! binary is started from a temporary folder, without `LD_LIBRARY_PATH`, to prove it.

use crate::util::{cargo, project_root, run_checked};
use crate::{data_dir_rule, setup};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `cargo xtask install`.
#[derive(clap::Args, Debug, Default)]
pub struct InstallArgs {
    /// Install into DIR/bin. Default: cargo's own (`$CARGO_INSTALL_ROOT`, else
    /// `$CARGO_HOME`, else `~/.cargo`).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Build the dev profile instead of release: builds faster, runs slower. Default off.
    #[arg(long)]
    pub debug: bool,
}

/// Runs `cargo xtask install`.
pub fn run(args: &InstallArgs) -> Result<()> {
    setup::run(&setup::SetupArgs::default())?;
    let profile = if args.debug { "dev" } else { "release" };
    eprintln!(
        "install: building gen ({profile} profile) and installing it; a first release build \
         compiles libtorch's bindings and every dependency, several minutes on a few cores"
    );
    let mut cmd = cargo();
    cmd.args(["install", "--locked", "--force", "--path", "crates/gen-cli"]);
    if let Some(root) = &args.root {
        cmd.arg("--root").arg(root);
    }
    if args.debug {
        cmd.arg("--debug");
    }
    // `cargo xtask` runs us with .cargo/config.toml's LIBTORCH; keep the same value for the
    // install, so that it reuses what `cargo build --release` built.
    if std::env::var_os("LIBTORCH").is_none() {
        cmd.env("LIBTORCH", project_root().join(".libtorch"));
    }
    run_checked(&mut cmd)?;

    let bin = installed_bin(args.root.as_deref())?;
    let version = check_starts(&bin)?;
    eprintln!(
        "install: {} ({version}) starts from any folder, with no LD_LIBRARY_PATH",
        bin.display()
    );
    if let Some(dir) = bin.parent().filter(|dir| !on_path(dir)) {
        eprintln!(
            "install: {} is not on PATH; add it, e.g. `export PATH=\"{}:$PATH\"`",
            dir.display(),
            dir.display()
        );
    }
    if let Some(user) = data_dir_rule::user_data_dir() {
        eprintln!(
            "install: outside a gen checkout, gen reads datasets from {} (or $GEN_DATA_DIR); \
             fill it from this checkout with `GEN_DATA_DIR={} cargo xtask fetch-data NAME`",
            user.display(),
            user.display()
        );
    }
    Ok(())
}

/// Where `cargo install` put `gen`: `ROOT/bin/gen`, with ROOT as cargo picks it (the
/// `install.root` setting of cargo's config is not read).
fn installed_bin(root: Option<&Path>) -> Result<PathBuf> {
    let root = match root {
        Some(root) => root.to_path_buf(),
        None => std::env::var_os("CARGO_INSTALL_ROOT")
            .or_else(|| std::env::var_os("CARGO_HOME"))
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .context("neither CARGO_INSTALL_ROOT, CARGO_HOME nor HOME is set")?,
    };
    let bin = root.join("bin").join("gen");
    if !bin.is_file() {
        bail!(
            "cargo install succeeded, but {} is missing (does cargo's `install.root` setting \
             send it elsewhere? pass --root)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Starts `bin --version` from the temporary folder without `LD_LIBRARY_PATH`; returns its
/// output line.
fn check_starts(bin: &Path) -> Result<String> {
    let out = Command::new(bin)
        .arg("--version")
        .current_dir(std::env::temp_dir())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .with_context(|| format!("could not start {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "the installed {} does not start ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether `dir` is one of the folders of `PATH`.
fn on_path(dir: &Path) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|p| p == dir))
}

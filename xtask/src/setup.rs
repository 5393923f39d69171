//! `cargo xtask setup`: libtorch for tch 0.26, in a per-user cache that every clone shares.
//!
//! PyPI's Linux `torch` wheel is a CUDA build, but three wheels (about 1.2 GB) are enough for
//! the CPU: `torch`, `nvidia-cuda-runtime` and `nvidia-cuda-cupti`, installed with `--no-deps`.
//! The wheel's `torch/` folder has the `include/` and `lib/` that torch-sys wants. The project
//! links it as `.libtorch`, which `.cargo/config.toml` names as `LIBTORCH` and in the rpath.

use crate::progress::run_with_heartbeat;
use crate::util::{have_program, project_root, user_cache_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The PyTorch version tch 0.26 is built against.
pub const TORCH_VERSION: &str = "2.13.0";

/// The wheels that make a CPU-usable libtorch out of PyPI's CUDA build.
const CPU_WHEELS: &[&str] = &[
    "torch==2.13.0",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-cupti==13.0.85",
];

/// Options of `cargo xtask setup`.
#[derive(clap::Args, Default)]
pub struct SetupArgs {
    /// Install the full CUDA wheel set instead (several GB), for `--features gen-core/cuda`.
    /// Untested until a GPU machine is at hand.
    #[arg(long)]
    pub cuda: bool,
    /// Reinstall even when a valid install is present.
    #[arg(long)]
    pub force: bool,
}

/// A libtorch folder (with `include/` and `lib/`).
pub struct Libtorch {
    root: PathBuf,
}

impl Libtorch {
    /// The folder holding `libtorch_cpu.so` and friends.
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
}

/// Makes `.libtorch` point at a libtorch of the right version, installing it if needed.
pub fn run(args: &SetupArgs) -> Result<Libtorch> {
    let link = project_root().join(".libtorch");

    // A LIBTORCH set by the user wins. Cargo sets ours (the link itself) from .cargo/config.toml.
    if let Some(user) = std::env::var_os("LIBTORCH").map(PathBuf::from) {
        if user != link {
            check_libtorch(&user).with_context(|| {
                format!(
                    "LIBTORCH={} is set but is not a usable libtorch",
                    user.display()
                )
            })?;
            ensure_link(&link, &user)?;
            eprintln!("setup: using LIBTORCH={}", user.display());
            return Ok(Libtorch { root: link });
        }
    }

    // Keep whatever valid install the link already points at (e.g. one from `setup --cuda`).
    if !args.force && !args.cuda && check_libtorch(&link).is_ok() {
        return Ok(Libtorch { root: link });
    }

    let flavour = if args.cuda { "cuda" } else { "cpu" };
    let cache = user_cache_dir()?.join(format!("libtorch-{TORCH_VERSION}-{flavour}"));
    let torch = cache.join("torch");
    if args.force || check_libtorch(&torch).is_err() {
        install(&cache, args.cuda)?;
    }
    let version = check_libtorch(&torch)?;
    ensure_link(&link, &torch)?;
    eprintln!(
        "setup: libtorch {version} at {} (linked as .libtorch)",
        torch.display()
    );
    Ok(Libtorch { root: link })
}

/// Checks that `dir` holds libtorch `TORCH_VERSION`; returns the full version string.
fn check_libtorch(dir: &Path) -> Result<String> {
    let lib = dir.join("lib").join("libtorch_cpu.so");
    if !lib.exists() {
        bail!("{} is missing", lib.display());
    }
    let version = read_version(dir)?;
    let base = version.split('+').next().unwrap_or_default();
    if base != TORCH_VERSION {
        bail!(
            "{} holds libtorch {version}, but tch 0.26 needs {TORCH_VERSION}",
            dir.display()
        );
    }
    Ok(version)
}

/// Reads the version from `build-version` (libtorch zips) or `version.py` (the Python wheel).
fn read_version(dir: &Path) -> Result<String> {
    let build_version = dir.join("build-version");
    if let Ok(text) = std::fs::read_to_string(&build_version) {
        return Ok(text.trim().to_string());
    }
    let version_py = dir.join("version.py");
    let text = std::fs::read_to_string(&version_py).with_context(|| {
        format!(
            "no build-version or version.py in {}: cannot tell the libtorch version",
            dir.display()
        )
    })?;
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .with_context(|| format!("{} has no __version__ line", version_py.display()))
}

/// Installs the wheels into a temporary folder beside `cache`, then renames it into place.
fn install(cache: &Path, cuda: bool) -> Result<()> {
    if !have_program("python3", &["--version"]) {
        bail!(
            "python3 is not on PATH: `cargo xtask setup` installs libtorch with pip, so install Python 3 first (or set LIBTORCH to an existing libtorch {TORCH_VERSION})"
        );
    }
    if !have_program("python3", &["-m", "pip", "--version"]) {
        bail!(
            "pip is missing for python3: install it (e.g. `apt-get install python3-pip`), or set LIBTORCH to an existing libtorch {TORCH_VERSION}"
        );
    }
    let parent = cache.parent().context("cache folder has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = cache.with_extension(format!("tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    eprintln!(
        "setup: installing libtorch {TORCH_VERSION} ({}) into {} ...",
        if cuda {
            "CUDA, several GB"
        } else {
            "CPU, about 1.2 GB"
        },
        cache.display()
    );
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .arg("--target")
    .arg(&tmp);
    if cuda {
        // The full dependency set of the CUDA wheel: cuBLAS, cuDNN and the rest.
        pip.arg(format!("torch=={TORCH_VERSION}"));
    } else {
        pip.arg("--no-deps").args(CPU_WHEELS);
    }
    // pip is --quiet: a line every 20 s says the download and unpacking go on.
    if let Err(err) = run_with_heartbeat(&mut pip, "setup: installing libtorch") {
        let _ = std::fs::remove_dir_all(&tmp);
        bail!(
            "pip could not install torch=={TORCH_VERSION} ({err:#}). Is the package registry (PyPI) reachable? Alternatively set LIBTORCH to an existing libtorch {TORCH_VERSION}."
        );
    }
    let torch = tmp.join("torch");
    let version = read_version(&torch)?;
    // torch-sys checks `build-version` when present, so mismatches are caught at build time too.
    std::fs::write(torch.join("build-version"), format!("{version}\n"))?;
    if cache.exists() {
        std::fs::remove_dir_all(cache)
            .with_context(|| format!("cannot replace {}", cache.display()))?;
    }
    std::fs::rename(&tmp, cache)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), cache.display()))?;
    Ok(())
}

/// Points the symlink `link` at `target`, replacing an older link.
fn ensure_link(link: &Path, target: &Path) -> Result<()> {
    if let Ok(current) = std::fs::read_link(link) {
        if current == target {
            return Ok(());
        }
        std::fs::remove_file(link)?;
    } else if link.exists() {
        bail!(
            "{} exists and is not a link; remove it so setup can link libtorch there",
            link.display()
        );
    }
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("cannot link {} -> {}", link.display(), target.display()))
}

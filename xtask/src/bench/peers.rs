//! The peers: PyTorch and Keras/TensorFlow in a virtual environment that is made on first
//! use in the git-ignored `bench/.peers/venv`, with pip from the package registry (PyPI).
//!
//! PyPI's Linux `torch` wheel is a CUDA build, and its Python extension links every CUDA
//! library (cuBLAS, cuDNN, NCCL, ...) even on a CPU, so the peer gets the full wheel set
//! (about 4 GB); the CPU-only libtorch of `cargo xtask setup` is not enough for `import torch`.

use crate::util::{have_program, project_root};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// What the environment holds: the peers' pinned versions.
pub const REQUIREMENTS: &[&str] = &["torch==2.13.0", "tensorflow-cpu==2.21.0"];

/// A peer framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// PyTorch, `bench/peers/torch_bench.py`.
    Torch,
    /// Keras 3 on TensorFlow, `bench/peers/keras_bench.py`.
    Keras,
}

impl Peer {
    /// Its name in tables, JSON keys (`ratio_vs_<name>`) and the protocol.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Torch => "torch",
            Peer::Keras => "keras",
        }
    }

    /// Its worker script.
    pub fn script(self) -> PathBuf {
        let file = match self {
            Peer::Torch => "torch_bench.py",
            Peer::Keras => "keras_bench.py",
        };
        project_root().join("bench").join("peers").join(file)
    }
}

/// The folder of the environment.
fn venv_dir() -> PathBuf {
    project_root().join("bench").join(".peers").join("venv")
}

/// The environment's Python, made (or remade, when the pinned versions changed) first.
pub fn python() -> Result<PathBuf> {
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let stamp = venv.join("gen-peers.txt");
    let wanted = REQUIREMENTS.join("\n");
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(python);
    }
    if !have_program("python3", &["-m", "venv", "--help"]) {
        bail!(
            "the bench peers need python3 with the venv module (e.g. `apt-get install python3-venv`)"
        );
    }
    eprintln!(
        "bench: installing the peers ({}) into {} (first use; about 4 GB) ...",
        REQUIREMENTS.join(", "),
        venv.display()
    );
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .context("could not start python3 -m venv")?;
    if !status.success() {
        bail!("python3 -m venv {} failed ({status})", venv.display());
    }
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(REQUIREMENTS)
        .status()
        .context("could not start pip in the peers' environment")?;
    if !status.success() {
        bail!(
            "pip could not install {} ({status}). Is the package registry (PyPI) reachable?",
            REQUIREMENTS.join(" ")
        );
    }
    let status = Command::new(&python)
        .args(["-c", "import torch, tensorflow, keras"])
        .status()?;
    if !status.success() {
        bail!(
            "the peers' environment in {} cannot import torch, tensorflow and keras",
            venv.display()
        );
    }
    std::fs::write(&stamp, format!("{wanted}\n"))
        .with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(python)
}

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
    /// Its name in the protocol, and the name of its configuration with defaults.
    pub const fn name(self) -> &'static str {
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

/// A setting of a tuned peer configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// A flag of the worker script, such as `--flush-denormal`; the worker reports it back
    /// in its `ready` line as `flush_denormal: true`.
    Flag(&'static str),
    /// A variable in the worker's environment, for what a library reads once, when it loads
    /// (libgomp's `OMP_WAIT_POLICY`); the worker reports the value it saw.
    Env(&'static str, &'static str),
}

impl Setting {
    /// The key the worker reports it under and the value it must report.
    pub fn reported(self) -> (String, serde_json::Value) {
        match self {
            Setting::Flag(flag) => (
                flag.trim_start_matches('-').replace('-', "_"),
                serde_json::Value::Bool(true),
            ),
            Setting::Env(name, value) => (name.to_string(), value.into()),
        }
    }

    /// How it reads in tables and the JSON: `--flush-denormal`, `OMP_WAIT_POLICY=PASSIVE`.
    pub fn label(self) -> String {
        match self {
            Setting::Flag(flag) => flag.to_string(),
            Setting::Env(name, value) => format!("{name}={value}"),
        }
    }
}

/// One peer configuration: a framework, as its users get it (no settings) or tuned. Each
/// configuration of a workload is its own worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Its name in tables, the JSON (`ratio_vs_<name>`) and the logs: `torch`,
    /// `torch-tuned`, ...
    pub name: &'static str,
    /// The framework.
    pub peer: Peer,
    /// What it changes from the framework's defaults.
    pub settings: &'static [Setting],
    /// A setting that lost when the tuned configuration was chosen: run only with `--trials`.
    pub trial: bool,
}

impl Config {
    /// The framework as its users get it.
    pub const fn defaults(peer: Peer) -> Config {
        Config {
            name: peer.name(),
            peer,
            settings: &[],
            trial: false,
        }
    }

    /// A tuned configuration named `name`.
    pub const fn tuned(name: &'static str, peer: Peer, settings: &'static [Setting]) -> Config {
        Config {
            name,
            peer,
            settings,
            trial: false,
        }
    }

    /// A configuration that is run only with `--trials`.
    pub const fn trial(name: &'static str, peer: Peer, settings: &'static [Setting]) -> Config {
        Config {
            name,
            peer,
            settings,
            trial: true,
        }
    }

    /// Adds its settings to the worker's command: flags to the arguments, variables to the
    /// environment (of this process only).
    pub fn apply(&self, cmd: &mut Command) {
        for s in self.settings {
            match *s {
                Setting::Flag(flag) => {
                    cmd.arg(flag);
                }
                Setting::Env(name, value) => {
                    cmd.env(name, value);
                }
            }
        }
    }

    /// Checks the worker's reported `settings` against this configuration's.
    pub fn check(&self, reported: &serde_json::Value) -> Result<()> {
        for s in self.settings {
            let (key, want) = s.reported();
            let got = reported.get(&key).unwrap_or(&serde_json::Value::Null);
            if *got != want {
                bail!(
                    "the {} worker reports {key} = {got}, but it was started with {}",
                    self.name,
                    s.label()
                );
            }
        }
        Ok(())
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

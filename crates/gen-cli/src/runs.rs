//! Run folders: `runs/<preset>-<UTC time>/` with `config.toml`, `metrics.jsonl`,
//! `checkpoints/`, `samples/`, `tb/` (TensorBoard), `train.log`, and `report.html` once `gen
//! report` wrote it.

use crate::config::{self, RunConfig};
use anyhow::{Context, Result, bail};
use gen_train::TrainStep;
use std::path::{Path, PathBuf};

/// The resolved config inside a run folder.
pub const CONFIG_FILE: &str = "config.toml";

/// A new run folder name for `preset` at the current UTC time, under `runs/`.
pub fn default_dir(preset: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from("runs").join(format!("{preset}-{stamp}"))
}

/// Creates `dir` for a new run; an existing non-empty folder is an error without `force`.
pub fn create(dir: &Path, force: bool) -> Result<()> {
    let busy = dir.is_dir()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
    if busy && !force {
        bail!(
            "run folder {} already exists; pass --force to overwrite it, or `gen resume {}` to continue it",
            dir.display(),
            dir.display()
        );
    }
    if busy {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("samples"))
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes the resolved config into the run folder.
pub fn write_config(dir: &Path, config: &RunConfig) -> Result<()> {
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, config::to_toml(config)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a run folder's config, with a clear error when `dir` is not a run folder.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CONFIG_FILE);
    if !path.is_file() {
        bail!(
            "{} is not a gen run folder (no {CONFIG_FILE})",
            dir.display()
        );
    }
    let table = config::read_file(&path)?;
    config::resolve(&table, &path.display().to_string())
}

/// Loads the first of the checkpoints `names` (e.g. `["best", "last"]`) that the run has
/// into `task`.
pub fn load_checkpoint<T: TrainStep>(task: &mut T, dir: &Path, names: &[&str]) -> Result<()> {
    let ckpt = dir.join(gen_train::learner::files::CHECKPOINTS);
    let name = names
        .iter()
        .copied()
        .find(|n| gen_train::checkpoint::exists(&ckpt, n))
        .with_context(|| format!("{} has no checkpoint yet", dir.display()))?;
    let (tensors, _): (_, gen_train::TrainerState) = gen_train::checkpoint::load(&ckpt, name)?;
    task.load_state(&tensors, &gen_train::checkpoint::paths(&ckpt, name).0)?;
    Ok(())
}

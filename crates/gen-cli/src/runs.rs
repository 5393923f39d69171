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

/// The lock file of a run folder (see [`lock`]).
pub const LOCK_FILE: &str = ".lock";

/// Creates `dir` for a new run; an existing non-empty folder is an error without `force`. The
/// caller holds the folder's [`lock`] (taken first, on a folder created empty), so clearing
/// it with `force` keeps the lock file.
pub fn create(dir: &Path, force: bool) -> Result<()> {
    let entries = || -> std::io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .filter(|e| !matches!(e, Ok(e) if e.file_name() == LOCK_FILE))
            .map(|e| e.map(|e| e.path()))
            .collect()
    };
    let existing = if dir.is_dir() {
        entries().with_context(|| format!("cannot read {}", dir.display()))?
    } else {
        Vec::new()
    };
    if !existing.is_empty() && !force {
        bail!(
            "run folder {} already exists; pass --force to overwrite it, or `gen resume {}` to continue it",
            dir.display(),
            dir.display()
        );
    }
    for path in existing {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("cannot clear {}", path.display()))?;
    }
    std::fs::create_dir_all(dir.join("samples"))
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Held while a process trains in a run folder; dropping it (or the process ending, however it
/// ends) releases the folder.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// Takes the run folder `dir` (created if needed) for this process: an exclusive advisory lock
/// on `dir/.lock`, which the operating system releases when the process exits, a crash or
/// SIGKILL included, so a lock file left behind is never stale. A second `gen train --out` or
/// `gen resume` on a folder in use is refused with an error naming the holder's process id.
pub fn lock(dir: &Path) -> Result<RunLock> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            bail!(
                "run folder {} is in use by another gen process{holder}; wait for it to finish or \
                 stop it, or train into another folder with --out",
                dir.display()
            );
        }
        Err(fs4::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    // The holder's process id, for the message above; only ever read, so a failure is harmless.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(RunLock { _file: file })
}

/// Writes the resolved config into the run folder (crash-consistently).
pub fn write_config(dir: &Path, config: &RunConfig) -> Result<()> {
    let path = dir.join(CONFIG_FILE);
    // Atomic, like the checkpoints: a process killed here leaves no half-written config.
    gen_train::checkpoint::write_atomic(&path, config::to_toml(config)?.as_bytes())
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

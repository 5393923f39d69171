//! Checkpoints: tensors as safetensors plus a JSON state, crash-consistent and verified.
//!
//! A checkpoint `name` is two files, `<name>.safetensors` and `<name>.json`. The JSON state
//! holds `[step, state, record]`: the [`FileRecord`] gives the tensor file's size and sha256 and
//! the state's own sha256, and a safetensors entry holds the step, so a torn, mixed or corrupt
//! pair is detected.
//!
//! Writing ([`save`]) keeps the pair that is being replaced as the previous generation
//! (`<name>.prev.*`, hard links, so nothing is copied) and moves each new file into place
//! through a temporary file: the file is synced, renamed, and the folder synced, so after a
//! crash or power loss each name holds either the old or the new bytes, never a mixture. At
//! every moment at least one generation is whole.
//!
//! Loading ([`load`]) verifies the size and sha256 of the tensor file against the state and
//! the step inside it; when the newest generation is missing, truncated or corrupt it falls
//! back to the previous one with a warning that names what was wrong, and fails with
//! [`Error::Checkpoint`] when neither is whole.

use crate::{Error, Result};
use gen_data::checkpoint_record::{self, STEP_KEY};
pub use gen_data::checkpoint_record::{FileRecord, state_digest};
use safetensors::tensor::{Dtype, View};
use serde::{Serialize, de::DeserializeOwned};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The suffix of the previous generation's name: `last` is kept as `last.prev`.
pub const PREVIOUS: &str = ".prev";

/// Milliseconds to sleep between the two renames of [`save`], read from this variable: a
/// hook that widens the window in which a kill tears a checkpoint (`cargo xtask torture`).
pub const WRITE_DELAY_ENV: &str = "GEN_CHECKPOINT_WRITE_DELAY_MS";

/// The two files of the checkpoint named `name` in `dir`: `<name>.safetensors`, `<name>.json`.
pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.safetensors")),
        dir.join(format!("{name}.json")),
    )
}

/// Whether the checkpoint `name` (or its previous generation) exists in `dir`. Whether it is
/// whole is checked by [`load`].
pub fn exists(dir: &Path, name: &str) -> bool {
    pair_exists(dir, name) || pair_exists(dir, &previous(name))
}

fn pair_exists(dir: &Path, name: &str) -> bool {
    let (t, s) = paths(dir, name);
    t.is_file() && s.is_file()
}

fn previous(name: &str) -> String {
    format!("{name}{PREVIOUS}")
}

/// Writes `bytes` to `path` crash-consistently: a temporary file in the same folder, synced,
/// renamed over `path`, then the folder synced. On failure (a full disk, say) the temporary
/// file is removed and `path` keeps its old bytes.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_tmp(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(path)
}

/// Writes and syncs `bytes` to `path`'s temporary file and returns its path; on failure,
/// removes it and names `path` in the error.
fn write_tmp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = tmp_path(path);
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            // Best effort: the space it took is what a full disk needs back.
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(path, e))
        }
    }
}

/// Syncs the folder that holds `path`, so that a rename in it survives a power loss. A no-op
/// where folders cannot be opened (Windows).
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Saves `tensors` and `state` as checkpoint `name` in `dir` (created if needed), for `step`.
/// The pair it replaces is kept as `<name>.prev` when it is whole (see the module docs).
pub fn save<S: Serialize>(
    dir: &Path,
    name: &str,
    step: u64,
    tensors: &[(String, Tensor)],
    state: &S,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (tensor_path, state_path) = paths(dir, name);
    let step_tensor = Tensor::f_from_slice(&[step as i64])?;
    let mut named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    named.push((STEP_KEY, &step_tensor));
    let bytes = safetensors_bytes(&tensor_path, &named)?;
    let unserialisable = |e: serde_json::Error| corrupt(&state_path, "state", e.to_string());
    let record = FileRecord::of(
        &bytes,
        &serde_json::to_value((step, state)).map_err(unserialisable)?,
    );
    let json = serde_json::to_vec_pretty(&(step, state, &record)).map_err(unserialisable)?;
    let tmp = write_tmp(&tensor_path, &bytes)?;
    drop(bytes);
    keep_previous(dir, name)?;
    std::fs::rename(&tmp, &tensor_path).map_err(|e| Error::io(&tensor_path, e))?;
    sync_dir(&tensor_path)?;
    write_delay();
    write_atomic(&state_path, &json)
}

/// One tensor's bytes for the safetensors serialiser (what tch's `write_safetensors` gives it,
/// copied out first so that no step can fail inside the serialiser).
struct OwnedView {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &OwnedView {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// `named` as a safetensors file in memory: the bytes that `Tensor::write_safetensors` writes
/// (the same serialiser and entries), so that the file can be hashed and then written through
/// [`write_tmp`], whose errors name the file (a full disk reads "No space left on device").
fn safetensors_bytes(path: &Path, named: &[(&str, &Tensor)]) -> Result<Vec<u8>> {
    let views = named
        .iter()
        .map(|(name, tensor)| {
            let tensor = tensor.f_contiguous()?;
            let numel = tensor.numel();
            let mut data = vec![0u8; numel * tensor.kind().elt_size_in_bytes()];
            tensor.f_copy_data_u8(&mut data, numel)?;
            let view = OwnedView {
                dtype: Dtype::try_from(tensor.kind())?,
                shape: tensor.size().iter().map(|&d| d as usize).collect(),
                data,
            };
            Ok((*name, view))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views.iter().map(|(n, v)| (*n, v)), &None)
        .map_err(|e| corrupt(path, "tensors", e.to_string()))
}

/// Makes the whole current pair `name` the previous generation. A pair that does not verify
/// (torn by a crash) is left alone, so the previous generation stays the last whole one.
fn keep_previous(dir: &Path, name: &str) -> Result<()> {
    if !pair_exists(dir, name) || verify_pair(dir, name).is_err() {
        return Ok(());
    }
    let (t, s) = paths(dir, name);
    let prev = previous(name);
    let (prev_t, prev_s) = paths(dir, &prev);
    // The state first: a pair with no state is not a generation, whatever its tensor file holds.
    for path in [&prev_s, &prev_t] {
        std::fs::remove_file(path)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| Error::io(path, e))?;
    }
    for (from, to) in [(&t, &prev_t), (&s, &prev_s)] {
        if std::fs::hard_link(from, to).is_err() {
            let tmp = tmp_path(to);
            std::fs::copy(from, &tmp).map_err(|e| Error::io(&tmp, e))?;
            sync_file(&tmp)?;
            std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))?;
        }
    }
    sync_dir(&prev_s)
}

fn write_delay() {
    let ms = std::env::var(WRITE_DELAY_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = ms {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// What a checkpoint holds once loaded: its tensors by name and its state.
#[derive(Debug)]
pub struct Loaded<S> {
    /// The tensors by name.
    pub tensors: HashMap<String, Tensor>,
    /// The state.
    pub state: S,
    /// The tensor file it was read from: `<name>.safetensors`, or the previous generation's.
    pub tensor_path: PathBuf,
    /// Why the newest generation was refused, when the previous one was loaded instead.
    pub fallback: Option<Error>,
}

/// Loads checkpoint `name` from `dir`: its tensors by name and its state. When the newest pair
/// is missing, truncated or corrupt, loads the previous generation with a `tracing` warning;
/// fails with [`Error::Checkpoint`] naming the file when neither is whole.
pub fn load<S: DeserializeOwned>(dir: &Path, name: &str) -> Result<(HashMap<String, Tensor>, S)> {
    let loaded = load_verified(dir, name)?;
    Ok((loaded.tensors, loaded.state))
}

/// [`load`], also telling which file was read and why the newest generation was refused.
pub fn load_verified<S: DeserializeOwned>(dir: &Path, name: &str) -> Result<Loaded<S>> {
    let newest = match load_pair(dir, name) {
        Ok(loaded) => return Ok(loaded),
        Err(e) => e,
    };
    let prev = previous(name);
    if !pair_exists(dir, &prev) {
        return Err(newest);
    }
    match load_pair::<S>(dir, &prev) {
        Ok(mut loaded) => {
            tracing::warn!(
                "{newest}; falling back to the previous checkpoint {}",
                loaded.tensor_path.display()
            );
            loaded.fallback = Some(newest);
            Ok(loaded)
        }
        Err(older) => Err(Error::Checkpoint {
            path: dir.join(name),
            field: "every generation".into(),
            reason: format!("no whole checkpoint left: {newest}; and {older}"),
        }),
    }
}

fn corrupt(path: &Path, field: &str, reason: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// Reads pair `name` and verifies it (see [`gen_data::checkpoint_record`]): its parsed state
/// and its tensor file's bytes.
fn verify_pair(dir: &Path, name: &str) -> Result<(checkpoint_record::StateFile, Vec<u8>)> {
    let (tensor_path, state_path) = paths(dir, name);
    let text = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let parsed = checkpoint_record::parse_state(&state_path, &text).map_err(as_checkpoint)?;
    let bytes = match std::fs::read(&tensor_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(&tensor_path, "file", "missing"));
        }
        Err(e) => return Err(Error::io(&tensor_path, e)),
    };
    checkpoint_record::verify_tensor_file(&parsed, &state_path, &tensor_path, &bytes)
        .map_err(as_checkpoint)?;
    Ok((parsed, bytes))
}

/// Loads pair `name` once [`verify_pair`] has passed it.
fn load_pair<S: DeserializeOwned>(dir: &Path, name: &str) -> Result<Loaded<S>> {
    let (tensor_path, state_path) = paths(dir, name);
    let (parsed, bytes) = verify_pair(dir, name)?;
    let state: S = serde_json::from_value(parsed.state)
        .map_err(|e| corrupt(&state_path, "state", e.to_string()))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| corrupt(&tensor_path, "safetensors", e.to_string()))?;
    let tensors = file
        .tensors()
        .into_iter()
        .map(|(name, view)| Ok((name, Tensor::try_from(view)?)))
        .collect::<std::result::Result<HashMap<String, Tensor>, tch::TchError>>()
        .map_err(|e| corrupt(&tensor_path, "safetensors", e.to_string()))?;
    Ok(Loaded {
        tensors,
        state,
        tensor_path,
        fallback: None,
    })
}

/// A verification failure as the checkpoint error it is.
fn as_checkpoint(e: gen_data::Error) -> Error {
    match e {
        gen_data::Error::Format {
            path,
            field,
            reason,
        } => Error::Checkpoint {
            path,
            field,
            reason,
        },
        other => other.into(),
    }
}

/// Copies the values of `saved` into the variables `vars`, checking that every variable is
/// present with the same shape. `path` names the checkpoint in errors.
pub fn copy_into(
    vars: &[(String, Tensor)],
    saved: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<()> {
    for (name, var) in vars {
        let value = saved.get(name).ok_or_else(|| Error::Checkpoint {
            path: path.to_path_buf(),
            field: name.clone(),
            reason: "missing".into(),
        })?;
        if value.size() != var.size() {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                field: name.clone(),
                reason: format!("shape {:?}, the model has {:?}", value.size(), var.size()),
            });
        }
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.f_copy_(value))?;
    }
    Ok(())
}

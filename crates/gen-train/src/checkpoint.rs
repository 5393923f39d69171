//! Checkpoints: tensors as safetensors plus a JSON state, each written to a temporary file and
//! renamed, so a crash never leaves a half-written checkpoint behind.

use crate::{Error, Result};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The entry that ties a safetensors file to its JSON state.
const STEP_KEY: &str = "__checkpoint.step";

/// The two files of the checkpoint named `name` in `dir`: `<name>.safetensors`, `<name>.json`.
pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.safetensors")),
        dir.join(format!("{name}.json")),
    )
}

/// Whether the checkpoint `name` exists in `dir`.
pub fn exists(dir: &Path, name: &str) -> bool {
    let (t, s) = paths(dir, name);
    t.is_file() && s.is_file()
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
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
    let tmp = tmp_path(&tensor_path);
    Tensor::write_safetensors(&named, &tmp)?;
    let json = serde_json::to_vec_pretty(&(step, state)).map_err(|e| Error::Checkpoint {
        path: state_path.clone(),
        field: "state".into(),
        reason: e.to_string(),
    })?;
    std::fs::rename(&tmp, &tensor_path).map_err(|e| Error::io(&tensor_path, e))?;
    write_atomic(&state_path, &json)
}

/// Loads checkpoint `name` from `dir`: its tensors by name and its state. Fails with
/// [`Error::Checkpoint`] naming the file when either file is missing, truncated or corrupt, or
/// when the two files belong to different steps.
pub fn load<S: DeserializeOwned>(dir: &Path, name: &str) -> Result<(HashMap<String, Tensor>, S)> {
    let (tensor_path, state_path) = paths(dir, name);
    let corrupt = |path: &Path, field: &str, reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        field: field.into(),
        reason,
    };
    let bytes = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let (step, state): (u64, S) =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(&state_path, "state", e.to_string()))?;
    if !tensor_path.is_file() {
        return Err(corrupt(&tensor_path, "file", "missing".into()));
    }
    let tensors = Tensor::read_safetensors(&tensor_path)
        .map_err(|e| corrupt(&tensor_path, "safetensors", e.to_string()))?;
    let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
    let saved_step = tensors
        .get(STEP_KEY)
        .ok_or_else(|| corrupt(&tensor_path, STEP_KEY, "missing".into()))?
        .f_int64_value(&[0])?;
    if saved_step != step as i64 {
        return Err(corrupt(
            &tensor_path,
            STEP_KEY,
            format!(
                "is step {saved_step}, but {} is step {step}",
                state_path.display()
            ),
        ));
    }
    Ok((tensors, state))
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

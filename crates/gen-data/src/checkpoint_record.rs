//! The verifiable part of a checkpoint, with no libtorch: its JSON state file and the checks
//! that tie it to its safetensors file. gen-train writes and loads checkpoints; this module is
//! what it trusts before a byte of a tensor is read, so it is also what `cargo xtask fuzz`
//! fuzzes (target `checkpoint`).
//!
//! The state file holds `[step, state, record]`. The [`FileRecord`] gives the tensor file's
//! size and sha256 and the sha256 of `[step, state]` ([`state_digest`]); the tensor file holds
//! the step again as the one-element i64 entry [`STEP_KEY`]. Files written before the record
//! existed hold `[step, state]` and are checked by their step alone.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The safetensors entry that holds the step, tying a tensor file to its JSON state.
pub const STEP_KEY: &str = "__checkpoint.step";

/// What the JSON state records to verify a checkpoint: the tensor file's size and sha256, and
/// the sha256 of the state itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// The tensor file's size in bytes.
    pub size: u64,
    /// The SHA-256 of the tensor file, lowercase hex.
    pub sha256: String,
    /// The SHA-256 of `[step, state]` as compact JSON with sorted keys ([`state_digest`]).
    pub state_sha256: String,
}

impl FileRecord {
    /// The record of `tensor_bytes` saved with `step_and_state` (the JSON `[step, state]`).
    pub fn of(tensor_bytes: &[u8], step_and_state: &serde_json::Value) -> Self {
        FileRecord {
            size: tensor_bytes.len() as u64,
            sha256: sha256_hex(tensor_bytes),
            state_sha256: state_digest(step_and_state),
        }
    }
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-256 of `[step, state]` written as compact JSON from a `serde_json::Value` (keys in
/// the order `Value` keeps them), so that the same value read back hashes the same.
pub fn state_digest(step_and_state: &serde_json::Value) -> String {
    sha256_hex(&serde_json::to_vec(step_and_state).unwrap_or_default())
}

/// A checkpoint's JSON state file, parsed and checked against its own digest.
#[derive(Debug, Clone, PartialEq)]
pub struct StateFile {
    /// The training step it was saved at.
    pub step: u64,
    /// The trainer's state, as JSON.
    pub state: serde_json::Value,
    /// The record of the tensor file; `None` for files written before records existed.
    pub record: Option<FileRecord>,
}

/// Parses the state file `path` from `bytes`: `[step, state, record]` (or the older
/// `[step, state]`), checking the state against the record's digest. Errors are
/// [`Error::Format`] naming the file and the field.
pub fn parse_state(path: &Path, bytes: &[u8]) -> Result<StateFile> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::format(path, "state", e.to_string()))?;
    let serde_json::Value::Array(mut parts) = value else {
        return Err(Error::format(
            path,
            "state",
            "not a [step, state, file] array",
        ));
    };
    let record = match parts.len() {
        2 => None,
        3 => {
            let record = parts.pop().unwrap_or_default();
            let record: FileRecord = serde_json::from_value(record)
                .map_err(|e| Error::format(path, "file record", e.to_string()))?;
            Some(record)
        }
        n => {
            return Err(Error::format(
                path,
                "state",
                format!("{n} entries, expected 3"),
            ));
        }
    };
    if let Some(record) = &record {
        let digest = state_digest(&serde_json::Value::Array(parts.clone()));
        if digest != record.state_sha256 {
            return Err(Error::format(
                path,
                "state_sha256",
                format!(
                    "the state hashes to {digest}, the file records {} (corrupt)",
                    record.state_sha256
                ),
            ));
        }
    }
    let state = parts.pop().unwrap_or_default();
    let step = parts
        .pop()
        .and_then(|s| s.as_u64())
        .ok_or_else(|| Error::format(path, "step", "not a whole number"))?;
    Ok(StateFile {
        step,
        state,
        record,
    })
}

/// Checks the tensor file `tensor_path` (its `bytes`) against the state file `state_path`
/// parsed as `state`: the recorded size and sha256, then the step entry inside it.
pub fn verify_tensor_file(
    state: &StateFile,
    state_path: &Path,
    tensor_path: &Path,
    bytes: &[u8],
) -> Result<()> {
    if let Some(record) = &state.record {
        if bytes.len() as u64 != record.size {
            return Err(Error::format(
                tensor_path,
                "size",
                format!(
                    "{} bytes, but {} records {} (truncated or replaced)",
                    bytes.len(),
                    state_path.display(),
                    record.size
                ),
            ));
        }
        let actual = sha256_hex(bytes);
        if actual != record.sha256 {
            return Err(Error::format(
                tensor_path,
                "sha256",
                format!(
                    "is {actual}, but {} records {} (corrupt or replaced)",
                    state_path.display(),
                    record.sha256
                ),
            ));
        }
    }
    let saved = saved_step(tensor_path, bytes)?;
    if saved != state.step as i64 {
        return Err(Error::format(
            tensor_path,
            STEP_KEY,
            format!(
                "is step {saved}, but {} is step {}",
                state_path.display(),
                state.step
            ),
        ));
    }
    Ok(())
}

/// The step stored in a checkpoint's tensor file: its [`STEP_KEY`] entry, one i64.
fn saved_step(path: &Path, bytes: &[u8]) -> Result<i64> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(path, "safetensors", e.to_string()))?;
    let view = file
        .tensor(STEP_KEY)
        .map_err(|_| Error::format(path, STEP_KEY, "missing"))?;
    let data: [u8; 8] = match (view.dtype(), view.shape(), view.data().try_into()) {
        (safetensors::Dtype::I64, [1], Ok(data)) => data,
        (dtype, shape, _) => {
            return Err(Error::format(
                path,
                STEP_KEY,
                format!("is {dtype:?} of shape {shape:?}, expected one I64"),
            ));
        }
    };
    Ok(i64::from_le_bytes(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file holding only the step entry, as gen-train writes it.
    fn step_file(step: i64) -> Vec<u8> {
        let data = step.to_le_bytes();
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1], &data).unwrap();
        safetensors::serialize([(STEP_KEY, view)], &None).unwrap()
    }

    fn state_bytes(step: u64, tensor: &[u8]) -> Vec<u8> {
        let state = serde_json::json!({"epoch": 2, "lr": 0.5});
        let record = FileRecord::of(tensor, &serde_json::json!([step, state]));
        serde_json::to_vec_pretty(&(step, state, record)).unwrap()
    }

    fn check(state: &[u8], tensor: &[u8]) -> Result<StateFile> {
        let parsed = parse_state(Path::new("s.json"), state)?;
        verify_tensor_file(&parsed, Path::new("s.json"), Path::new("t.st"), tensor)?;
        Ok(parsed)
    }

    #[test]
    fn a_whole_pair_verifies_and_gives_its_step_and_state() {
        let tensor = step_file(7);
        let parsed = check(&state_bytes(7, &tensor), &tensor).unwrap();
        assert_eq!(parsed.step, 7);
        assert_eq!(parsed.state["epoch"], 2);
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Format { field, .. } => field,
            other => panic!("not a format error: {other}"),
        }
    }

    #[test]
    fn every_kind_of_damage_is_named_by_its_field() {
        let tensor = step_file(7);
        let state = state_bytes(7, &tensor);
        let mut flipped = tensor.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let edited = String::from_utf8(state.clone())
            .unwrap()
            .replace("\"epoch\": 2", "\"epoch\": 3");
        let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
            ("size", state.clone(), tensor[..tensor.len() - 1].to_vec()),
            ("sha256", state.clone(), flipped),
            ("state_sha256", edited.into_bytes(), tensor.clone()),
            ("state", b"{\"a\": 1}".to_vec(), tensor.clone()),
            ("state", state[..state.len() / 2].to_vec(), tensor.clone()),
            ("state", b"[1, 2, 3, 4]".to_vec(), tensor.clone()),
            (
                "file record",
                b"[1, {}, {\"size\": 1}]".to_vec(),
                tensor.clone(),
            ),
            // An older `[step, state]` file with another run's step.
            (STEP_KEY, b"[8, {}]".to_vec(), tensor.clone()),
            ("step", b"[-1, {}]".to_vec(), tensor.clone()),
        ];
        for (field, state, tensor) in cases {
            let e = check(&state, &tensor).expect_err(field);
            assert_eq!(field_of(e), field);
        }
    }

    #[test]
    fn an_older_file_without_a_record_is_checked_by_its_step() {
        let tensor = step_file(4);
        assert_eq!(check(b"[4, {\"x\": 1}]", &tensor).unwrap().step, 4);
    }

    #[test]
    fn a_step_entry_of_the_wrong_type_is_refused() {
        let data = 7f64.to_le_bytes();
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![1], &data).unwrap();
        let tensor = safetensors::serialize([(STEP_KEY, view)], &None).unwrap();
        let e = check(&state_bytes(7, &tensor), &tensor).unwrap_err();
        assert_eq!(field_of(e), STEP_KEY);
    }
}

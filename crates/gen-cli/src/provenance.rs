//! The provenance record of a run's samples (see `gen_data::provenance`): gen's version, the
//! run, the checkpoint the samples came from (its step and SHA-256), the seed and the sampling
//! settings. The time is now, or `SOURCE_DATE_EPOCH` when set.

use anyhow::{Context, Result};
use gen_data::provenance::{Provenance, TRAINED_ALGORITHMIC_MEDIA, label_file};
use gen_train::learner::files::CHECKPOINTS;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The settings of one sampling call, by name.
pub type Sampling = BTreeMap<String, serde_json::Value>;

/// The preset in a default run-folder name `<preset>-<YYYYMMDDTHHMMSSZ>`; empty for other
/// names (`--out` folders, `--config` runs).
fn preset_of(run_id: &str) -> String {
    match run_id.rsplit_once('-') {
        Some((preset, stamp))
            if stamp.len() == 16
                && stamp.ends_with('Z')
                && stamp.chars().nth(8) == Some('T')
                && stamp
                    .chars()
                    .enumerate()
                    .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit()) =>
        {
            preset.to_string()
        }
        _ => String::new(),
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The record for samples of the run in `dir` drawn from the first of the checkpoints `names`
/// it has (as the sampling command loads them), with `seed` and `sampling`.
pub fn for_run(dir: &Path, names: &[&str], seed: u64, sampling: Sampling) -> Result<Provenance> {
    let ckpt = dir.join(CHECKPOINTS);
    let name = names
        .iter()
        .copied()
        .find(|n| gen_train::checkpoint::exists(&ckpt, n))
        .with_context(|| format!("{} has no checkpoint yet", dir.display()))?;
    let (tensors, state) = gen_train::checkpoint::paths(&ckpt, name);
    let text = std::fs::read_to_string(&state)
        .with_context(|| format!("cannot read {}", state.display()))?;
    let step = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get(0).and_then(serde_json::Value::as_u64))
        .with_context(|| format!("{}: no step at the start of the state", state.display()))?;
    let run_id = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Provenance {
        software: format!("gen {}", env!("CARGO_PKG_VERSION")),
        source_type: TRAINED_ALGORITHMIC_MEDIA.to_string(),
        preset: preset_of(&run_id),
        run_id,
        seed,
        checkpoint: name.to_string(),
        checkpoint_step: step,
        checkpoint_sha256: sha256_file(&tensors)?,
        sampling,
        created: humantime::format_rfc3339_seconds(created()?).to_string(),
    })
}

/// Now, or `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds convention) when
/// set, so that the same seed can give byte-identical files.
fn created() -> Result<std::time::SystemTime> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: u64 = s
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a count of seconds"))?;
            Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        }
        Err(_) => Ok(std::time::SystemTime::now()),
    }
}

/// Labels each of `files` with `provenance` (inside PNG, WAV and MIDI files; a sidecar for
/// others).
pub fn label(files: &[&Path], provenance: &Provenance) -> Result<()> {
    for file in files {
        label_file(file, provenance)
            .with_context(|| format!("cannot label {} with its provenance", file.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preset_is_read_from_a_default_run_name_only() {
        assert_eq!(preset_of("mnist-dcgan-20261129T101500Z"), "mnist-dcgan");
        assert_eq!(preset_of("text-char-20261129T101500Z"), "text-char");
        assert_eq!(preset_of("quick"), "");
        assert_eq!(preset_of("my-run-2026"), "");
        assert_eq!(preset_of("a-20261129X101500Z"), "");
    }
}

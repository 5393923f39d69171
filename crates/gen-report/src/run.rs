//! [`Run`]: what a report shows of one run folder, read from its files.

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    /// 1-based epoch.
    pub epoch: u64,
    /// Optimiser steps so far.
    pub step: u64,
    /// Every other numeric field: training and `val_` metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// A PNG of the run: one frame of a sequence (`samples/epoch_003.png` is frame 3 of
/// `samples/epoch`), or a figure on its own (`samples/real.png`).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The path relative to the run folder, without the extension and the frame number.
    pub key: String,
    /// The frame number (the epoch, for per-epoch grids), when the name ends in `_<digits>`.
    pub frame: Option<u64>,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

/// A WAV of the run (`gen sample` writes them beside its PNGs for sound and music runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// The path relative to the run folder, without the extension.
    pub key: String,
    /// The WAV file's bytes.
    pub wav: Vec<u8>,
}

/// What a report shows of one run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The folder's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// `metrics.jsonl`, line by line (empty when absent).
    pub history: Vec<EpochRow>,
    /// `config.toml`: its text and its table, when present.
    pub config: Option<(String, toml::Table)>,
    /// `eval.json`'s numbers, when present.
    pub eval: Option<BTreeMap<String, f64>>,
    /// Every PNG under the folder (outside `tb/` and `checkpoints/`), by key then frame.
    pub images: Vec<Image>,
    /// The first [`MAX_AUDIO`] WAVs under the folder (outside `tb/` and `checkpoints/`) of at
    /// most [`MAX_AUDIO_BYTES`] each, by path; of a sequence (a clip written every epoch,
    /// `samples/clip0_250` of `samples/clip0`) only its last frame.
    pub audio: Vec<Audio>,
}

/// At most this many frames of a sequence are embedded: evenly spaced, the first and last
/// included, so that a long run's page stays small.
pub const MAX_FRAMES: usize = 12;

/// At most this many WAVs are embedded, so that a page of many clips stays small.
pub const MAX_AUDIO: usize = 8;

/// A WAV larger than this (a 48-second chorale at 22 kHz is 2.1 MB) is left out of the page.
pub const MAX_AUDIO_BYTES: u64 = 4 << 20;

impl Run {
    /// Reads the run in `dir`.
    pub fn load(dir: &Path) -> Result<Run> {
        if !is_run(dir) {
            return Err(Error::NotARun(dir.to_owned()));
        }
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Run {
            name,
            dir: dir.to_owned(),
            history: read_history(&dir.join("metrics.jsonl"))?,
            config: read_config(&dir.join("config.toml"))?,
            eval: read_eval(&dir.join("eval.json"))?,
            images: read_images(dir)?,
            audio: read_audio(dir)?,
        })
    }

    /// Reads every run of `dirs`, in order: a run folder, or a folder of runs one level down
    /// (a `gen cv` or `gen tune` folder), taken in name order.
    pub fn load_all(dirs: &[PathBuf]) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        for dir in dirs {
            if is_run(dir) {
                runs.push(Run::load(dir)?);
                continue;
            }
            if !dir.is_dir() {
                return Err(Error::NotARun(dir.clone()));
            }
            let mut inner: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(Error::io(dir))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| is_run(path))
                .collect();
            if inner.is_empty() {
                return Err(Error::NotARun(dir.clone()));
            }
            inner.sort();
            for path in inner {
                runs.push(Run::load(&path)?);
            }
        }
        Ok(runs)
    }

    /// The metric names of the history, sorted.
    pub fn metric_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .history
            .iter()
            .flat_map(|row| row.metrics.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn is_run(dir: &Path) -> bool {
    dir.join("metrics.jsonl").is_file() || dir.join("config.toml").is_file()
}

/// Reads `path` as text; `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path)(e)),
    }
}

fn read_history(path: &Path) -> Result<Vec<EpochRow>> {
    let Some(text) = read_optional(path)? else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| Error::parse(path, Some(i + 1), reason);
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let count = |key: &str| {
            object
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| bad(&format!("`{key}` is missing or not a count")))
        };
        let (epoch, step) = (count("epoch")?, count("step")?);
        let metrics = object
            .iter()
            .filter(|(key, _)| *key != "epoch" && *key != "step")
            .filter_map(|(key, value)| Some((key.clone(), value.as_f64()?)))
            .collect();
        rows.push(EpochRow {
            epoch,
            step,
            metrics,
        });
    }
    Ok(rows)
}

fn read_config(path: &Path) -> Result<Option<(String, toml::Table)>> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let table = toml::from_str(&text).map_err(|e| Error::parse(path, None, e))?;
    Ok(Some((text, table)))
}

/// `eval.json`'s numeric fields (others, if any, are left out).
fn read_eval(path: &Path) -> Result<Option<BTreeMap<String, f64>>> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| Error::parse(path, None, e))?;
    Ok(Some(
        object
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), value.as_f64()?)))
            .collect(),
    ))
}

/// Every file with extension `ext` under `dir`, outside `tb/` and `checkpoints/`, sorted.
fn files_with(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).map_err(Error::io(&folder))? {
            let path = entry.map_err(Error::io(&folder))?.path();
            let name = path.file_name().unwrap_or_default();
            if path.is_dir() {
                if folder != dir || (name != "tb" && name != "checkpoints") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == ext) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    Ok(paths)
}

/// `path` relative to `dir`, without its extension, with `/` separators.
fn key_of(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path).with_extension("");
    relative.to_string_lossy().replace('\\', "/")
}

/// Every PNG under `dir` outside `tb/` and `checkpoints/`, sorted by key then frame, with at
/// most [`MAX_FRAMES`] frames per key.
fn read_images(dir: &Path) -> Result<Vec<Image>> {
    let mut by_key: BTreeMap<String, Vec<(Option<u64>, PathBuf)>> = BTreeMap::new();
    for path in files_with(dir, "png")? {
        let (key, frame) = split_frame(&key_of(dir, &path));
        by_key.entry(key).or_default().push((frame, path));
    }
    let mut images = Vec::new();
    for (key, mut frames) in by_key {
        frames.sort();
        for (frame, path) in spaced(frames, MAX_FRAMES) {
            let png = std::fs::read(&path).map_err(Error::io(&path))?;
            images.push(Image {
                key: key.clone(),
                frame,
                png,
            });
        }
    }
    Ok(images)
}

/// The first [`MAX_AUDIO`] WAVs under `dir` of at most [`MAX_AUDIO_BYTES`] each, the last
/// frame of each sequence alone (the latest epoch's clip: the training writes one per epoch).
fn read_audio(dir: &Path) -> Result<Vec<Audio>> {
    let mut last: BTreeMap<String, (Option<u64>, PathBuf)> = BTreeMap::new();
    for path in files_with(dir, "wav")? {
        let size = std::fs::metadata(&path).map_err(Error::io(&path))?.len();
        if size > MAX_AUDIO_BYTES {
            continue;
        }
        let (key, frame) = split_frame(&key_of(dir, &path));
        if last.get(&key).is_none_or(|(seen, _)| *seen < frame) {
            last.insert(key, (frame, path));
        }
    }
    let mut audio = Vec::new();
    for (_, path) in last.into_values().take(MAX_AUDIO) {
        let wav = std::fs::read(&path).map_err(Error::io(&path))?;
        audio.push(Audio {
            key: key_of(dir, &path),
            wav,
        });
    }
    Ok(audio)
}

/// `("samples/epoch", Some(3))` for `samples/epoch_003`; the name itself and `None` otherwise.
fn split_frame(name: &str) -> (String, Option<u64>) {
    if let Some((stem, digits)) = name.rsplit_once('_') {
        let file_stem = stem.rsplit('/').next().unwrap_or(stem);
        if !file_stem.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        {
            if let Ok(frame) = digits.parse() {
                return (stem.to_owned(), Some(frame));
            }
        }
    }
    (name.to_owned(), None)
}

/// At most `max` of `items`, evenly spaced, the first and the last included.
fn spaced<T>(items: Vec<T>, max: usize) -> Vec<T> {
    let n = items.len();
    if n <= max || max < 2 {
        return items;
    }
    let keep: Vec<usize> = (0..max).map(|i| i * (n - 1) / (max - 1)).collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.binary_search(i).is_ok())
        .map(|(_, item)| item)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_trailing_digits_of_the_file_name() {
        assert_eq!(
            split_frame("samples/epoch_003"),
            ("samples/epoch".into(), Some(3))
        );
        assert_eq!(split_frame("samples/real"), ("samples/real".into(), None));
        assert_eq!(split_frame("a_b/_12"), ("a_b/_12".into(), None));
        assert_eq!(split_frame("plot_x"), ("plot_x".into(), None));
    }

    #[test]
    fn spacing_keeps_the_ends_and_at_most_max() {
        assert_eq!(spaced((0..5).collect(), 12), [0, 1, 2, 3, 4]);
        assert_eq!(spaced((0..30).collect(), 4), [0, 9, 19, 29]);
        assert_eq!(spaced((0..13).collect(), 12).len(), 12);
    }
}

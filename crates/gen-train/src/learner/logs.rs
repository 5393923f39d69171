//! The run's logs: `metrics.jsonl` and `metrics.csv`, rewritten from the whole history at the
//! end of every epoch (atomically), so a crash or resume never duplicates or loses a line; and
//! [`Board`], the TensorBoard events in `tb/`.

use super::{EpochLog, TrainerConfig, TrainerState, files};
use crate::checkpoint::write_atomic;
use crate::{Error, Result};
use gen_log::tensorboard::{TbWriter, flatten_json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Writes both logs of `history` into `run_dir` (created if needed).
pub(super) fn write(run_dir: &Path, history: &[EpochLog]) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    write_atomic(&run_dir.join(files::METRICS_JSONL), &jsonl(history)?)?;
    let path = run_dir.join(files::METRICS_CSV);
    let csv = csv(history).map_err(|e| Error::io(&path, e))?;
    write_atomic(&path, &csv)
}

/// One JSON object per epoch: `epoch`, `step` and the metrics.
fn jsonl(history: &[EpochLog]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for line in history {
        serde_json::to_writer(&mut out, line)
            .map_err(|e| Error::config("metrics", e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// A header `epoch,step,<every metric, sorted>` and one row per epoch, with an empty cell
/// where an epoch lacks a metric. Values are Rust's shortest round-trip form.
fn csv(history: &[EpochLog]) -> std::io::Result<Vec<u8>> {
    let mut columns: Vec<&String> = history.iter().flat_map(|h| h.metrics.keys()).collect();
    columns.sort();
    columns.dedup();
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = ["epoch", "step"]
        .into_iter()
        .chain(columns.iter().map(|c| c.as_str()));
    out.write_record(header)?;
    for h in history {
        let cells =
            [h.epoch.to_string(), h.step.to_string()]
                .into_iter()
                .chain(columns.iter().map(|c| {
                    h.metrics
                        .get(c.as_str())
                        .map_or_else(String::new, f64::to_string)
                }));
        out.write_record(cells)?;
    }
    out.into_inner().map_err(|e| e.into_error())
}

/// The run's TensorBoard events in `<run>/tb/`: each epoch's metrics as scalars at the global
/// step, with the learning rate and the step time; the media the task writes at the end of an
/// epoch (images, audio clips, text); and the resolved config (as hparams and as text) at
/// step 0.
///
/// Tasks hand their media over as files: whatever PNG, WAV or text file under the run folder
/// `on_epoch_end` writes or rewrites is logged (see [`Board::samples`]).
pub(super) struct Board {
    writer: TbWriter,
}

/// The scalar tag of the learning rate (with several optimisers, `lr/<i>` for the `i`-th of
/// [`crate::TrainStep::optimizers_mut`]: a GAN's generator is `lr/0`).
pub(super) const LR_TAG: &str = "lr";

/// The scalar tag of the mean wall-clock seconds per training step over the epoch (the
/// steps alone: validation, checkpoints and samples excluded).
pub(super) const STEP_TIME_TAG: &str = "step_seconds";

impl Board {
    /// Opens `tb/` in `run_dir`. A fresh run (`state` at step 0) starts a new event file with
    /// the config; a resumed one appends a file whose events start after its last finished
    /// epoch, so readers drop what an interrupted run logged beyond its checkpoint and show
    /// each step once.
    pub(super) fn open(
        run_dir: &Path,
        state: &TrainerState,
        config: &TrainerConfig,
    ) -> Result<Self> {
        let dir = run_dir.join(files::TENSORBOARD);
        if state.global_step > 0 {
            let first_step = state.history.last().map_or(1, |h| h.step + 1);
            return Ok(Board {
                writer: TbWriter::resume(&dir, first_step)?,
            });
        }
        let mut writer = TbWriter::create(&dir)?;
        let (text, json) = resolved_config(run_dir, config)?;
        writer.hparams(&flatten_json(&json))?;
        writer.text_verbatim(CONFIG_TAG, 0, &text)?;
        writer.flush()?;
        Ok(Board { writer })
    }

    /// Logs every metric of `log` at its step (as `f32`, TensorBoard's scalar type), the
    /// learning rate of each optimiser (`lrs`, as its last step used it) and, when the epoch
    /// ran steps, the mean seconds per step.
    pub(super) fn epoch(
        &mut self,
        log: &EpochLog,
        lrs: &[f64],
        step_seconds: Option<f64>,
    ) -> Result<()> {
        for (name, value) in &log.metrics {
            self.writer.scalar(name, log.step, *value as f32)?;
        }
        match lrs {
            [lr] => self.writer.scalar(LR_TAG, log.step, *lr as f32)?,
            _ => {
                for (i, lr) in lrs.iter().enumerate() {
                    let tag = format!("{LR_TAG}/{i}");
                    self.writer.scalar(&tag, log.step, *lr as f32)?;
                }
            }
        }
        if let Some(seconds) = step_seconds {
            self.writer
                .scalar(STEP_TIME_TAG, log.step, seconds as f32)?;
        }
        Ok(self.writer.flush()?)
    }

    /// Runs `on_epoch_end` (the task's samples), then logs at `step` each file under
    /// `run_dir` it wrote or rewrote, tagged by its path without the extension and the epoch
    /// number (`samples/epoch_003.png` is `samples/epoch`): a `.png` as an image, a `.wav`
    /// as an audio clip, a `.txt` as text shown verbatim.
    pub(super) fn samples(
        &mut self,
        run_dir: &Path,
        step: u64,
        on_epoch_end: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let before = media_stamps(run_dir)?;
        on_epoch_end()?;
        for (path, stamp) in media_stamps(run_dir)? {
            if before.get(&path) == Some(&stamp) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let tag = media_tag(run_dir, &path);
            match Media::of(&path) {
                Some(Media::Image) => self.writer.image_png(&tag, step, &bytes)?,
                Some(Media::Audio) => self.writer.audio_wav(&tag, step, &bytes)?,
                Some(Media::Text) => {
                    let text = String::from_utf8_lossy(&bytes);
                    self.writer.text_verbatim(&tag, step, &text)?;
                }
                None => {}
            }
        }
        Ok(self.writer.flush()?)
    }
}

/// The kinds of file a task's epoch samples are, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `.png`
    Image,
    /// `.wav`
    Audio,
    /// `.txt`
    Text,
}

impl Media {
    fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "png" => Some(Media::Image),
            "wav" => Some(Media::Audio),
            "txt" => Some(Media::Text),
            _ => None,
        }
    }
}

/// The tag of the run's config text.
const CONFIG_TAG: &str = "config";

/// The run's resolved config as text and as JSON: `config.toml` in `run_dir` when the CLI wrote
/// one, else the trainer's settings under `trainer`.
fn resolved_config(run_dir: &Path, config: &TrainerConfig) -> Result<(String, serde_json::Value)> {
    let path = run_dir.join(files::CONFIG_TOML);
    let bad = |e: &dyn std::fmt::Display| Error::config(files::CONFIG_TOML, e.to_string());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let json = serde_json::json!({ "trainer": config });
            let text = serde_json::to_string_pretty(&json).map_err(|e| bad(&e))?;
            return Ok((text, json));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| bad(&e))?;
    let json = serde_json::to_value(table).map_err(|e| bad(&e))?;
    Ok((text, json))
}

/// Modification time and length of every media file ([`Media`]) under `dir`, outside `tb/`
/// and `checkpoints/`.
fn media_stamps(dir: &Path) -> Result<BTreeMap<PathBuf, (SystemTime, u64)>> {
    let mut stamps = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&folder, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let path = entry.path();
            let meta = entry.metadata().map_err(|e| Error::io(&path, e))?;
            let name = entry.file_name();
            if meta.is_dir() {
                if folder != dir || (name != files::TENSORBOARD && name != files::CHECKPOINTS) {
                    pending.push(path);
                }
            } else if Media::of(&path).is_some() {
                let modified = meta.modified().map_err(|e| Error::io(&path, e))?;
                stamps.insert(path, (modified, meta.len()));
            }
        }
    }
    Ok(stamps)
}

/// `path`'s tag: relative to `run_dir`, without the extension and a trailing `_<digits>`.
fn media_tag(run_dir: &Path, path: &Path) -> String {
    let relative = path
        .strip_prefix(run_dir)
        .unwrap_or(path)
        .with_extension("");
    let tag = relative.to_string_lossy().replace('\\', "/");
    match tag.rsplit_once('_') {
        Some((stem, digits))
            if !stem.is_empty()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            stem.to_owned()
        }
        _ => tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_tags_drop_the_extension_and_the_epoch_number() {
        let run = Path::new("/runs/a");
        assert_eq!(
            media_tag(run, &run.join("samples/epoch_003.png")),
            "samples/epoch"
        );
        assert_eq!(
            media_tag(run, &run.join("samples/real.png")),
            "samples/real"
        );
        assert_eq!(media_tag(run, &run.join("plot_a.png")), "plot_a");
        assert_eq!(media_tag(run, &run.join("_12.png")), "_12");
    }

    #[test]
    fn media_are_known_by_their_extension() {
        let of = |name: &str| Media::of(Path::new(name));
        assert_eq!(of("samples/epoch_001.png"), Some(Media::Image));
        assert_eq!(of("samples/clip0_001.wav"), Some(Media::Audio));
        assert_eq!(of("samples/text_001.txt"), Some(Media::Text));
        assert_eq!(of("samples/chorale.mid"), None);
        assert_eq!(of("metrics.jsonl"), None);
        assert_eq!(of("png"), None);
    }

    #[test]
    fn csv_has_every_column_and_empty_cells_for_missing_metrics() {
        let log = |epoch: usize, pairs: &[(&str, f64)]| EpochLog {
            epoch,
            step: 10 * epoch as u64,
            metrics: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        let history = [
            log(1, &[("loss", 0.5), ("accuracy", 0.25)]),
            log(2, &[("loss", 1e-7), ("val_loss", 0.1)]),
        ];
        let text = String::from_utf8(csv(&history).unwrap()).unwrap();
        assert_eq!(
            text,
            "epoch,step,accuracy,loss,val_loss\n1,10,0.25,0.5,\n2,20,,0.0000001,0.1\n"
        );
        let jsonl = String::from_utf8(jsonl(&history).unwrap()).unwrap();
        assert_eq!(
            jsonl.lines().next().unwrap(),
            r#"{"epoch":1,"step":10,"accuracy":0.25,"loss":0.5}"#
        );
    }
}

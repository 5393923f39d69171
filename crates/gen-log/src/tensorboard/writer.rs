//! [`TbWriter`]: writes a run's scalars, images, audio and text to a new event file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

use super::hparams::HParam;
use super::media::{encode_wav, png_info, wav_info};
use super::proto::{
    AudioEncoding, AudioPluginData, DataClass, DataType, Event, HParamsPluginData, PluginData,
    ProtoValue, SessionLog, SessionStartInfo, SessionStatus, Summary, SummaryMetadata, TensorProto,
    TensorShapeProto, TextPluginData, event, h_params_plugin_data, proto_value, summary,
    tensor_shape_proto,
};
use super::record::write_record;
use crate::error::{Error, Result};

/// The `file_version` of the first event of every file.
pub const FILE_VERSION: &str = "brain.Event:2";

/// The tag of the hparams plugin's session start (`tensorboard.plugins.hparams.metadata`).
pub const HPARAMS_TAG: &str = "_hparams_/session_start_info";

/// How long written events may wait in memory before [`TbWriter`] flushes them by itself.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// The buffer in front of the file: small scalars cost no system call each.
const BUFFER_BYTES: usize = 64 * 1024;

/// Writes events to a new event file in a folder; `tensorboard --logdir` shows the folder as a
/// run.
///
/// Each writer creates its own file, `events.out.tfevents.<unix seconds>.<hostname>`, named so
/// that it sorts after every event file already in the folder: TensorBoard reads a folder's
/// files in name order and merges them into one run. A resumed run therefore opens a new writer
/// with [`TbWriter::resume`] in the same folder.
///
/// Writes go through a 64 KiB buffer to the operating system, never to the disk synchronously,
/// so a call costs the protobuf encoding and a copy. [`flush`](Self::flush) (call it after each
/// epoch) hands the buffer to the operating system, as does any write once
/// [`DEFAULT_FLUSH_INTERVAL`] has passed since the last flush, and dropping the writer (which
/// cannot report an error then: call `flush` first to see one).
#[derive(Debug)]
pub struct TbWriter {
    path: PathBuf,
    out: BufWriter<File>,
    encoded: Vec<u8>,
    last_flush: Instant,
    flush_interval: Duration,
}

impl TbWriter {
    /// Creates `dir` if needed and a new event file in it for a new run. The file starts with
    /// the `file_version` event and a `SessionLog` START at step 0, so in a folder that holds
    /// earlier files, TensorBoard shows the new run in place of what they logged.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open(dir.as_ref(), 0)
    }

    /// Like [`create`](Self::create), for a run resumed from a checkpoint: the new file's
    /// START is at `first_step`, the first step the resumed run will log.
    ///
    /// A run killed after its checkpoint logged steps that the resumed run logs again. Readers
    /// show the later values: TensorBoard's `EventAccumulator`s (and [`TbRun`](super::TbRun))
    /// drop every earlier event at `first_step` or later when they meet a restart's START (the
    /// Python backend's takes a run's first START as its start, the later ones as restarts,
    /// which is why every file has one), and TensorBoard's data server drops, for each tag,
    /// the earlier values at or after any step logged again.
    pub fn resume(dir: impl AsRef<Path>, first_step: u64) -> Result<Self> {
        Self::open(dir.as_ref(), first_step)
    }

    fn open(dir: &Path, start_step: u64) -> Result<Self> {
        let start_step = step_i64("session start", start_step)?;
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let (path, file) = create_event_file(dir)?;
        let mut writer = Self {
            path,
            out: BufWriter::with_capacity(BUFFER_BYTES, file),
            encoded: Vec::new(),
            last_flush: Instant::now(),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
        };
        writer.write_event(&Event {
            wall_time: wall_time(),
            step: 0,
            what: Some(event::What::FileVersion(FILE_VERSION.to_owned())),
        })?;
        writer.write_event(&Event {
            wall_time: wall_time(),
            step: start_step,
            what: Some(event::What::SessionLog(SessionLog {
                status: SessionStatus::Start.into(),
                checkpoint_path: String::new(),
                msg: String::new(),
            })),
        })?;
        Ok(writer)
    }

    /// Sets how long written events may wait in memory before a write flushes them. By
    /// default, this is [`DEFAULT_FLUSH_INTERVAL`] (30 s).
    #[must_use]
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// The event file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logs a scalar; TensorBoard's Scalars tab draws each tag as a curve over the steps.
    /// NaN and infinities are written as they are.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f32) -> Result<()> {
        self.write_value(tag, step, None, summary::value::Value::SimpleValue(value))
    }

    /// Logs a PNG image (its size and colorspace are read from its header).
    pub fn image_png(&mut self, tag: &str, step: u64, png: &[u8]) -> Result<()> {
        let info = png_info(png).map_err(|reason| invalid(tag, reason))?;
        let dim = |n: u32| i32::try_from(n).map_err(|_| invalid(tag, format!("{n} pixels")));
        let image = summary::Image {
            height: dim(info.height)?,
            width: dim(info.width)?,
            colorspace: i32::from(info.colorspace),
            encoded_image_string: png.to_vec(),
        };
        self.write_value(tag, step, None, summary::value::Value::Image(image))
    }

    /// Logs a WAV clip (its sample rate, channels and length are read from its header).
    pub fn audio_wav(&mut self, tag: &str, step: u64, wav: &[u8]) -> Result<()> {
        let info = wav_info(wav).map_err(|reason| invalid(tag, reason))?;
        let audio = summary::Audio {
            // Sample rates are far below 2^24, where f32 is exact.
            sample_rate: info.sample_rate as f32,
            num_channels: i64::from(info.channels),
            length_frames: i64::from(info.frames),
            encoded_audio_string: wav.to_vec(),
            content_type: "audio/wav".to_owned(),
        };
        // Without it, TensorBoard's data server serves the clips as application/octet-stream.
        let content = AudioPluginData {
            version: 0,
            encoding: AudioEncoding::Wav.into(),
            converted_to_tensor: true,
        };
        let metadata = SummaryMetadata {
            data_class: DataClass::BlobSequence.into(),
            ..plugin_metadata("audio", content.encode_to_vec())
        };
        self.write_value(
            tag,
            step,
            Some(metadata),
            summary::value::Value::Audio(audio),
        )
    }

    /// Logs mono samples in `[-1, 1]` as a 16-bit PCM WAV clip, encoded as TensorFlow's
    /// `encode_wav` does (times 32768, rounded, clamped to the `i16` range); a sample that is
    /// not finite is an error.
    pub fn audio_samples(
        &mut self,
        tag: &str,
        step: u64,
        samples: &[f32],
        sample_rate: u32,
    ) -> Result<()> {
        let wav = encode_wav(samples, sample_rate).map_err(|reason| invalid(tag, reason))?;
        self.audio_wav(tag, step, &wav)
    }

    /// Logs text, which TensorBoard's Text tab renders as Markdown.
    pub fn text(&mut self, tag: &str, step: u64, markdown: &str) -> Result<()> {
        let metadata = plugin_metadata("text", TextPluginData { version: 0 }.encode_to_vec());
        let tensor = TensorProto {
            dtype: DataType::DtString.into(),
            tensor_shape: Some(TensorShapeProto::default()),
            float_val: Vec::new(),
            string_val: vec![markdown.as_bytes().to_vec()],
        };
        self.write_value(
            tag,
            step,
            Some(metadata),
            summary::value::Value::Tensor(tensor),
        )
    }

    /// Logs text shown as it is (generated text, a config file): each line is indented by four
    /// spaces, Markdown's code block, which renders it verbatim in a fixed-width font.
    pub fn text_verbatim(&mut self, tag: &str, step: u64, text: &str) -> Result<()> {
        self.text(tag, step, &verbatim_markdown(text))
    }

    /// Logs the run's hyperparameters (e.g. [`flatten_json`](super::flatten_json) of its
    /// config) for the HParams tab, at step 0.
    pub fn hparams(&mut self, hparams: &BTreeMap<String, HParam>) -> Result<()> {
        let hparams = hparams
            .iter()
            .map(|(name, value)| {
                let kind = match value {
                    HParam::Number(x) => proto_value::Kind::NumberValue(*x),
                    HParam::Text(s) => proto_value::Kind::StringValue(s.clone()),
                    HParam::Bool(b) => proto_value::Kind::BoolValue(*b),
                };
                (name.clone(), ProtoValue { kind: Some(kind) })
            })
            .collect();
        let content = HParamsPluginData {
            version: 0,
            data: Some(h_params_plugin_data::Data::SessionStartInfo(
                SessionStartInfo {
                    hparams,
                    group_name: String::new(),
                    start_time_secs: wall_time(),
                },
            )),
        };
        // The plugin's summaries carry an empty float tensor of shape [0]
        // (`tensorboard.plugins.hparams.metadata.NULL_TENSOR`).
        let tensor = TensorProto {
            dtype: DataType::DtFloat.into(),
            tensor_shape: Some(TensorShapeProto {
                dim: vec![tensor_shape_proto::Dim { size: 0 }],
            }),
            float_val: Vec::new(),
            string_val: Vec::new(),
        };
        let metadata = plugin_metadata("hparams", content.encode_to_vec());
        self.write_value(
            HPARAMS_TAG,
            0,
            Some(metadata),
            summary::value::Value::Tensor(tensor),
        )
    }

    /// Hands the buffered events to the operating system (no `fsync`): TensorBoard sees them.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(io_error(&self.path))?;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Appends one event (framed and checksummed), then flushes if the flush interval has
    /// passed.
    pub fn write_event(&mut self, event: &Event) -> Result<()> {
        self.encoded.clear();
        // Encoding into a Vec only fails for lack of capacity, which a Vec grows.
        event
            .encode(&mut self.encoded)
            .map_err(|e| invalid("event", e.to_string()))?;
        write_record(&mut self.out, &self.encoded).map_err(io_error(&self.path))?;
        if self.last_flush.elapsed() >= self.flush_interval {
            self.flush()?;
        }
        Ok(())
    }

    fn write_value(
        &mut self,
        tag: &str,
        step: u64,
        metadata: Option<SummaryMetadata>,
        value: summary::value::Value,
    ) -> Result<()> {
        if tag.is_empty() {
            return Err(invalid(tag, "the tag is empty".into()));
        }
        let step = step_i64(tag, step)?;
        let summary = Summary {
            value: vec![summary::Value {
                tag: tag.to_owned(),
                metadata,
                value: Some(value),
            }],
        };
        self.write_event(&Event {
            wall_time: wall_time(),
            step,
            what: Some(event::What::Summary(summary)),
        })
    }
}

/// Markdown that renders `text` verbatim: an indented code block.
fn verbatim_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4 * (text.lines().count() + 1));
    for line in text.lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn plugin_metadata(plugin_name: &str, content: Vec<u8>) -> SummaryMetadata {
    SummaryMetadata {
        plugin_data: Some(PluginData {
            plugin_name: plugin_name.to_owned(),
            content,
        }),
        ..SummaryMetadata::default()
    }
}

/// Creates `events.out.tfevents.<seconds>.<host>` in `dir`, with `<seconds>` the current time,
/// or one more than the latest such file already there so that the new file sorts last.
fn create_event_file(dir: &Path) -> Result<(PathBuf, File)> {
    let host = hostname();
    for _ in 0..16 {
        let mut latest = None::<u64>;
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let name = entry.map_err(io_error(dir))?.file_name();
            let secs = name
                .to_str()
                .and_then(|n| n.strip_prefix("events.out.tfevents."))
                .and_then(|rest| rest.split('.').next())
                .and_then(|secs| secs.parse::<u64>().ok());
            latest = latest.max(secs);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let secs = latest.map_or(now, |latest| now.max(latest.saturating_add(1)));
        let path = dir.join(format!("events.out.tfevents.{secs:010}.{host}"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            // Another writer took the name since the listing: list again.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
    Err(io_error(dir)(std::io::Error::new(
        ErrorKind::AlreadyExists,
        "no free event file name after 16 tries",
    )))
}

/// The host's name, kept to characters that are safe in a file name.
fn hostname() -> String {
    let name: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn step_i64(tag: &str, step: u64) -> Result<i64> {
    i64::try_from(step).map_err(|_| invalid(tag, format!("step {step} is beyond i64")))
}

fn invalid(tag: &str, reason: String) -> Error {
    Error::InvalidValue {
        tag: tag.to_owned(),
        reason,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_text_is_an_indented_code_block() {
        assert_eq!(
            verbatim_markdown("a *b*\n\n# c"),
            "    a *b*\n    \n    # c\n"
        );
        assert_eq!(verbatim_markdown(""), "");
    }

    #[test]
    fn hostnames_are_safe_in_file_names() {
        let host = hostname();
        assert!(!host.is_empty());
        assert!(!host.contains('/'));
    }
}

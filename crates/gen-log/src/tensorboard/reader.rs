//! Reading event files back: every record's checksums verified, every event decoded, and a run
//! folder resolved into what TensorBoard shows of it. For tests and tools; training only writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;

use super::hparams::HParam;
use super::proto::{Event, HParamsPluginData, SessionStatus, event, proto_value, summary};
use super::record::records;
use super::writer::HPARAMS_TAG;
use crate::error::{Corruption, Error, Result};

/// Reads every event of an event file, verifying both checksums of every record. Any damage,
/// a record cut short at the end included, is an error.
pub fn read_event_file(path: impl AsRef<Path>) -> Result<Vec<Event>> {
    let path = path.as_ref();
    let (events, tail) = read_events(path)?;
    match tail {
        None => Ok(events.into_iter().map(|(_, event)| event).collect()),
        Some((offset, problem)) => Err(Error::Corrupt {
            path: path.to_owned(),
            offset,
            problem,
        }),
    }
}

/// The event files of a folder (names containing `tfevents`, as TensorBoard selects them), in
/// the order TensorBoard reads them: by name.
pub fn event_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let is_events = entry.file_name().to_string_lossy().contains("tfevents");
        if is_events && entry.file_type().map_err(io)?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The events of a file with their offsets and, if it ends inside a record, that record's
/// offset.
type Events = Vec<(u64, Event)>;

fn read_events(path: &Path) -> Result<(Events, Option<(u64, Corruption)>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut events = Vec::new();
    for record in records(&bytes) {
        match record {
            Ok((offset, data)) => {
                let event = Event::decode(data).map_err(|e| Error::Corrupt {
                    path: path.to_owned(),
                    offset,
                    problem: Corruption::Decode(e.to_string()),
                })?;
                events.push((offset, event));
            }
            Err((offset, problem @ Corruption::Truncated { .. })) => {
                return Ok((events, Some((offset, problem))));
            }
            Err((offset, problem)) => {
                return Err(Error::Corrupt {
                    path: path.to_owned(),
                    offset,
                    problem,
                });
            }
        }
    }
    Ok((events, None))
}

/// An image as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedImage {
    /// Width in pixels, as the summary states it.
    pub width: i32,
    /// Height in pixels, as the summary states it.
    pub height: i32,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

/// An audio clip as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAudio {
    /// Samples per second.
    pub sample_rate: f32,
    /// Channels.
    pub channels: i64,
    /// Frames.
    pub frames: i64,
    /// The WAV file's bytes.
    pub wav: Vec<u8>,
}

/// What TensorBoard shows of a run folder: each tag's values by step, in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TbRun {
    /// The event files read, in order.
    pub files: Vec<PathBuf>,
    /// Scalars by tag.
    pub scalars: BTreeMap<String, Vec<(i64, f32)>>,
    /// Images by tag.
    pub images: BTreeMap<String, Vec<(i64, LoggedImage)>>,
    /// Audio clips by tag.
    pub audio: BTreeMap<String, Vec<(i64, LoggedAudio)>>,
    /// Text (the Markdown as written) by tag.
    pub text: BTreeMap<String, Vec<(i64, String)>>,
    /// The hyperparameters of the last hparams event, if any.
    pub hparams: Option<BTreeMap<String, HParam>>,
}

impl TbRun {
    /// Reads a run folder's event files in name order, as TensorBoard's `EventAccumulator`
    /// does: a `SessionLog` START at step `s` drops the values read so far at steps `>= s`,
    /// and a record cut short at the end of a file is left out (the writer was killed, or is
    /// still writing it). A checksum that does not match is an error.
    pub fn read(dir: impl AsRef<Path>) -> Result<Self> {
        let mut run = Self {
            files: event_files(dir)?,
            ..Self::default()
        };
        for path in run.files.clone() {
            let (events, _cut_short) = read_events(&path)?;
            for (offset, event) in events {
                run.add(&path, offset, event)?;
            }
        }
        Ok(run)
    }

    fn add(&mut self, path: &Path, offset: u64, event: Event) -> Result<()> {
        let step = event.step;
        match event.what {
            Some(event::What::SessionLog(log)) if log.status == SessionStatus::Start as i32 => {
                self.purge_from(step);
            }
            Some(event::What::Summary(summary)) => {
                for value in summary.value {
                    self.add_value(path, offset, step, value)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn add_value(
        &mut self,
        path: &Path,
        offset: u64,
        step: i64,
        value: summary::Value,
    ) -> Result<()> {
        use summary::value::Value;
        let summary::Value {
            tag,
            metadata,
            value,
        } = value;
        let plugin_data = metadata.and_then(|m| m.plugin_data);
        let plugin = plugin_data.as_ref().map(|p| p.plugin_name.as_str());
        match (value, plugin) {
            (Some(Value::SimpleValue(x)), _) => push(&mut self.scalars, tag, step, x),
            (Some(Value::Image(im)), _) => {
                let image = LoggedImage {
                    width: im.width,
                    height: im.height,
                    png: im.encoded_image_string,
                };
                push(&mut self.images, tag, step, image);
            }
            (Some(Value::Audio(au)), _) => {
                let audio = LoggedAudio {
                    sample_rate: au.sample_rate,
                    channels: au.num_channels,
                    frames: au.length_frames,
                    wav: au.encoded_audio_string,
                };
                push(&mut self.audio, tag, step, audio);
            }
            (Some(Value::Tensor(t)), Some("text")) => {
                let text = t.string_val.first().map(|s| String::from_utf8_lossy(s));
                let text = text.unwrap_or_default().into_owned();
                push(&mut self.text, tag, step, text);
            }
            (Some(Value::Tensor(_)), Some("hparams")) if tag == HPARAMS_TAG => {
                let content = plugin_data.as_ref().map(|p| p.content.as_slice());
                let hparams = decode_hparams(content.unwrap_or_default());
                self.hparams = Some(hparams.map_err(|e| Error::Corrupt {
                    path: path.to_owned(),
                    offset,
                    problem: Corruption::Decode(format!("hparams: {e}")),
                })?);
            }
            _ => {}
        }
        Ok(())
    }

    fn purge_from(&mut self, step: i64) {
        fn purge<T>(series: &mut BTreeMap<String, Vec<(i64, T)>>, step: i64) {
            for values in series.values_mut() {
                values.retain(|(s, _)| *s < step);
            }
            series.retain(|_, values| !values.is_empty());
        }
        purge(&mut self.scalars, step);
        purge(&mut self.images, step);
        purge(&mut self.audio, step);
        purge(&mut self.text, step);
    }
}

fn push<T>(series: &mut BTreeMap<String, Vec<(i64, T)>>, tag: String, step: i64, value: T) {
    series.entry(tag).or_default().push((step, value));
}

fn decode_hparams(content: &[u8]) -> Result<BTreeMap<String, HParam>, prost::DecodeError> {
    let data = HParamsPluginData::decode(content)?;
    let Some(super::proto::h_params_plugin_data::Data::SessionStartInfo(info)) = data.data else {
        return Ok(BTreeMap::new());
    };
    Ok(info
        .hparams
        .into_iter()
        .filter_map(|(name, value)| {
            let value = match value.kind? {
                proto_value::Kind::NumberValue(x) => HParam::Number(x),
                proto_value::Kind::StringValue(s) => HParam::Text(s),
                proto_value::Kind::BoolValue(b) => HParam::Bool(b),
            };
            Some((name, value))
        })
        .collect())
}

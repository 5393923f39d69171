//! Loading the drums dataset: every sample of every kit folder, decoded to a fixed-length clip
//! and labelled from its kit's `drumkit.xml`.

use super::decode::decode_mono;
use super::kit::{DRUMKIT_XML, KitInfo, label_of};
use super::resample::{clip, frames_needed};
use super::{CLIP_LEN, DrumClass, SAMPLE_RATE};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File extensions taken as samples (compared case-insensitively).
pub const AUDIO_EXTENSIONS: [&str; 4] = ["wav", "flac", "aif", "aiff"];

/// One decoded sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// [`CLIP_LEN`] mono samples at [`SAMPLE_RATE`]: the sound's start, zero-padded.
    pub samples: Vec<f32>,
    /// Its class, from the kit's instrument names; `None` outside the six classes.
    pub class: Option<DrumClass>,
    /// The kit (folder name).
    pub kit: String,
    /// The instruments of the kit that play it (empty when `drumkit.xml` does not name it).
    pub instruments: Vec<String>,
    /// Its path inside the dataset folder, `kit/file`.
    pub path: String,
    /// The recorded sample rate, in Hz.
    pub source_rate: u32,
    /// The recorded number of channels.
    pub source_channels: usize,
}

impl Clip {
    /// The largest absolute sample (1.0 is full scale).
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
    }
}

/// A file that was not loaded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The file, inside the dataset folder.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Where the clips of a [`DrumsSet`] came from.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheStatus {
    /// Decoded; no cache was asked for.
    NotUsed,
    /// Read from this cache file.
    Hit(PathBuf),
    /// Decoded, and written to this cache file.
    Written(PathBuf),
    /// Decoded, but the cache file could not be written (the reason names it, and the
    /// environment variable that moves the cache).
    Unwritable(String),
}

/// What loading did: counts, and each skipped file with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct DrumsReport {
    /// Clips loaded.
    pub loaded: usize,
    /// Files not loaded (unreadable, silent), with why.
    pub skipped: Vec<Skipped>,
    /// Things worth knowing that did not stop a file: a kit without `drumkit.xml`, a file it
    /// names that is missing, a file whose instruments disagree on the class.
    pub warnings: Vec<String>,
    /// Whether the clips came from the cache.
    pub cache: CacheStatus,
}

/// The loaded dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DrumsSet {
    /// The clips, by kit (folder name order), then file name.
    pub clips: Vec<Clip>,
    /// What loading did.
    pub report: DrumsReport,
}

/// One sample file to load, before decoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) path: String,
    pub(crate) kit: String,
    pub(crate) class: Option<DrumClass>,
    pub(crate) instruments: Vec<String>,
}

/// The decoded part of a clip (what the cache stores).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub(crate) samples: Vec<f32>,
    pub(crate) source_rate: u32,
    pub(crate) source_channels: usize,
}

/// Lists the kits under `dir` (every subfolder, sorted), their sample files (by extension,
/// sorted) and labels. A malformed `drumkit.xml` is an error naming it; a missing one, a file it
/// names that is absent, and instruments that disagree on a file's class are warnings.
pub(crate) fn scan(dir: &Path) -> Result<(Vec<Entry>, Vec<String>)> {
    let mut kits: Vec<String> = read_dir_sorted(dir)?
        .into_iter()
        .filter(|(_, is_dir)| *is_dir)
        .map(|(name, _)| name)
        .collect();
    kits.retain(|k| !k.starts_with('.'));
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for kit in kits {
        let kit_dir = dir.join(&kit);
        let xml = kit_dir.join(DRUMKIT_XML);
        let info = if xml.is_file() {
            KitInfo::read(&xml)?
        } else {
            warnings.push(format!(
                "{kit}: no {DRUMKIT_XML}, its samples are unlabelled"
            ));
            KitInfo::default()
        };
        let by_file = info.instruments_by_file();
        let files: Vec<String> = read_dir_sorted(&kit_dir)?
            .into_iter()
            .filter(|(name, is_dir)| !is_dir && is_audio(name))
            .map(|(name, _)| name)
            .collect();
        for named in by_file.keys() {
            if !files.iter().any(|f| f == named) {
                warnings.push(format!(
                    "{kit}/{DRUMKIT_XML} names {named}, which is not in the kit"
                ));
            }
        }
        for file in files {
            let names: Vec<&str> = by_file.get(file.as_str()).cloned().unwrap_or_default();
            let class = match label_of(&names) {
                Ok(class) => class,
                Err(classes) => {
                    let classes: Vec<&str> = classes.iter().map(|c| c.name()).collect();
                    warnings.push(format!(
                        "{kit}/{file}: its instruments ({}) disagree ({}), left unlabelled",
                        names.join(", "),
                        classes.join(" vs ")
                    ));
                    None
                }
            };
            entries.push(Entry {
                path: format!("{kit}/{file}"),
                kit: kit.clone(),
                class,
                instruments: names.iter().map(|n| (*n).to_owned()).collect(),
            });
        }
    }
    Ok((entries, warnings))
}

fn is_audio(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| e.eq_ignore_ascii_case(a)))
}

/// The entries of `dir` as (UTF-8 name, is a folder), sorted by name; other names are left out.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, is_dir));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and decodes the sample `dir/path` to a clip: the first [`CLIP_LEN`] samples at
/// [`SAMPLE_RATE`], mono, zero-padded. The error says why the file cannot be used (a file that
/// is silent over the clip is refused too: it is a placeholder, not a drum).
pub(crate) fn decode_clip(dir: &Path, path: &str) -> std::result::Result<Decoded, String> {
    let full = dir.join(path);
    let bytes = std::fs::read(&full).map_err(|e| format!("could not read it: {e}"))?;
    let extension = Path::new(path).extension().and_then(|e| e.to_str());
    decode_clip_bytes(bytes, extension)
}

/// [`decode_clip`] of a file's content; `extension` is the decoder's hint.
pub(crate) fn decode_clip_bytes(
    bytes: Vec<u8>,
    extension: Option<&str>,
) -> std::result::Result<Decoded, String> {
    let mono = decode_mono(bytes, extension, |rate| {
        frames_needed(CLIP_LEN, rate, SAMPLE_RATE)
    })?;
    let samples = clip(&mono.samples, mono.rate, SAMPLE_RATE, CLIP_LEN)
        .map_err(|e| format!("could not resample it: {e}"))?;
    if samples.iter().all(|&s| s == 0.0) {
        return Err(format!(
            "silent over its first {CLIP_LEN} samples at {SAMPLE_RATE} Hz"
        ));
    }
    Ok(Decoded {
        samples,
        source_rate: mono.rate,
        source_channels: mono.channels,
    })
}

/// Decodes every entry; each failure becomes a [`Skipped`] naming the file.
pub(crate) fn decode_all(
    dir: &Path,
    entries: &[Entry],
) -> (BTreeMap<String, Decoded>, Vec<Skipped>) {
    let mut decoded = BTreeMap::new();
    let mut skipped = Vec::new();
    for entry in entries {
        match decode_clip(dir, &entry.path) {
            Ok(d) => {
                decoded.insert(entry.path.clone(), d);
            }
            Err(reason) => skipped.push(Skipped {
                path: entry.path.clone(),
                reason,
            }),
        }
    }
    (decoded, skipped)
}

/// Joins scanned entries with their decoded audio into the set (entries without audio are the
/// skipped ones).
pub(crate) fn assemble(
    entries: Vec<Entry>,
    mut decoded: BTreeMap<String, Decoded>,
    skipped: Vec<Skipped>,
    warnings: Vec<String>,
    cache: CacheStatus,
) -> DrumsSet {
    let clips: Vec<Clip> = entries
        .into_iter()
        .filter_map(|e| {
            decoded.remove(&e.path).map(|d| Clip {
                samples: d.samples,
                class: e.class,
                kit: e.kit,
                instruments: e.instruments,
                path: e.path,
                source_rate: d.source_rate,
                source_channels: d.source_channels,
            })
        })
        .collect();
    DrumsSet {
        report: DrumsReport {
            loaded: clips.len(),
            skipped,
            warnings,
            cache,
        },
        clips,
    }
}

/// Loads the drums dataset folder `dir` (kit folders of samples, each with a `drumkit.xml`),
/// decoding every file; no cache. Unreadable and silent files are skipped and listed in the
/// report; a malformed `drumkit.xml` or an unreadable folder is an error.
pub fn load_drums(dir: &Path) -> Result<DrumsSet> {
    let (entries, warnings) = scan(dir)?;
    let (decoded, skipped) = decode_all(dir, &entries);
    Ok(assemble(
        entries,
        decoded,
        skipped,
        warnings,
        CacheStatus::NotUsed,
    ))
}

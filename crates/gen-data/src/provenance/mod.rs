//! Provenance labels on generated files: one [`Provenance`] record, written into every file
//! that gen generates and read back by `gen inspect`.
//!
//! Where it goes, by format ([`label_file`] picks from the file's first bytes):
//! - **PNG** ([`png`]): an XMP packet in an `iTXt` chunk (keyword `XML:com.adobe.xmp`) carrying
//!   IPTC's digital source type [`TRAINED_ALGORITHMIC_MEDIA`], plus `tEXt` chunks `Software`,
//!   `Comment`, `Creation Time` and one `gen:<field>` chunk per field.
//! - **WAV** ([`wav`]): a `LIST/INFO` chunk: `ISFT` (software), `ICRD` (time), `ICMT` (the
//!   record as JSON).
//! - **MIDI** ([`midi`]): text meta events `gen:<field>=<value>` at the start of the first track.
//! - **Anything else** (CSV, generated text): a JSON sidecar `<file>.provenance.json`
//!   ([`sidecar`]). CSV gets a sidecar rather than a `#` comment line because common readers
//!   (pandas' `read_csv`, Python's `csv`, the `csv` crate) do not skip comments by default.
//!
//! Metadata is easy to strip: a label says what a file is when it is kept, and proves nothing
//! when it is missing.

pub mod midi;
pub mod png;
pub mod sidecar;
pub mod wav;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// IPTC's digital source type for media made by a model trained on sampled content, the value
/// image platforms read to label AI-generated images.
pub const TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

/// The prefix of gen's own keys (PNG `tEXt` keywords, MIDI text events).
pub const KEY_PREFIX: &str = "gen:";

/// What made a generated file: gen's version, the run, the checkpoint, the seed and the
/// sampling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The program and its version, e.g. `gen 0.1.0`.
    pub software: String,
    /// IPTC digital source type; [`TRAINED_ALGORITHMIC_MEDIA`] for gen's samples.
    pub source_type: String,
    /// The run's id: its folder name, e.g. `mnist-dcgan-20261129T101500Z`.
    pub run_id: String,
    /// The preset the run was made from (empty when unknown, e.g. a `--config` file).
    pub preset: String,
    /// The seed of the samples.
    pub seed: u64,
    /// The checkpoint's name in the run (`best` or `last`).
    pub checkpoint: String,
    /// The training step the checkpoint was written at.
    pub checkpoint_step: u64,
    /// The SHA-256 of the checkpoint's tensors file, lower-case hex.
    pub checkpoint_sha256: String,
    /// The sampling settings (temperature, class, number, ...), by name.
    pub sampling: BTreeMap<String, serde_json::Value>,
    /// When the file was generated, RFC 3339 in UTC.
    pub created: String,
}

impl Provenance {
    /// The fields as `(name, value)` pairs in a fixed order: numbers in decimal, `sampling` as
    /// compact JSON. [`Provenance::from_pairs`] reads them back.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let sampling = serde_json::to_string(&self.sampling).unwrap_or_else(|_| "{}".into());
        vec![
            ("software", self.software.clone()),
            ("source_type", self.source_type.clone()),
            ("run_id", self.run_id.clone()),
            ("preset", self.preset.clone()),
            ("seed", self.seed.to_string()),
            ("checkpoint", self.checkpoint.clone()),
            ("checkpoint_step", self.checkpoint_step.to_string()),
            ("checkpoint_sha256", self.checkpoint_sha256.clone()),
            ("sampling", sampling),
            ("created", self.created.clone()),
        ]
    }

    /// The record from `(name, value)` pairs as [`Provenance::to_pairs`] writes them; unknown
    /// names are ignored. Errors name the field that is missing or malformed, in `origin`.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        origin: &Path,
    ) -> Result<Self> {
        let map: BTreeMap<&str, &str> = pairs.into_iter().collect();
        let get = |key: &str| {
            map.get(key)
                .map(|v| v.to_string())
                .ok_or_else(|| Error::format(origin, format!("{KEY_PREFIX}{key}"), "missing"))
        };
        let number = |key: &str| -> Result<u64> {
            get(key)?.parse().map_err(|e| {
                Error::format(
                    origin,
                    format!("{KEY_PREFIX}{key}"),
                    format!("not a count: {e}"),
                )
            })
        };
        let sampling = serde_json::from_str(&get("sampling")?)
            .map_err(|e| Error::format(origin, format!("{KEY_PREFIX}sampling"), e.to_string()))?;
        Ok(Self {
            software: get("software")?,
            source_type: get("source_type")?,
            run_id: get("run_id")?,
            preset: get("preset")?,
            seed: number("seed")?,
            checkpoint: get("checkpoint")?,
            checkpoint_step: number("checkpoint_step")?,
            checkpoint_sha256: get("checkpoint_sha256")?,
            sampling,
            created: get("created")?,
        })
    }

    /// One sentence for humans (PNG `Comment`): what made the file.
    pub fn comment(&self) -> String {
        format!(
            "Generated by a model ({}; run {}, checkpoint {} at step {}, seed {}). Not a photograph or recording.",
            self.software, self.run_id, self.checkpoint, self.checkpoint_step, self.seed
        )
    }

    /// The record as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The record from JSON, with errors that name `origin`.
    pub fn from_json(text: &str, origin: &Path) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::format(origin, "provenance", e.to_string()))
    }
}

/// A file's format, as far as provenance goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A PNG image.
    Png,
    /// A RIFF/WAVE sound.
    Wav,
    /// A standard MIDI file.
    Midi,
    /// Anything else: provenance goes into a sidecar.
    Other,
}

impl Format {
    /// The format of a file from its first bytes.
    pub fn sniff(bytes: &[u8]) -> Self {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Format::Png
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WAVE" {
            Format::Wav
        } else if bytes.starts_with(b"MThd") {
            Format::Midi
        } else {
            Format::Other
        }
    }
}

/// What [`inspect`] found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The file's format.
    pub format: Format,
    /// Where the record was read: the file itself or its sidecar.
    pub source: PathBuf,
    /// gen's record, when the file (or its sidecar) has one.
    pub provenance: Option<Provenance>,
    /// The IPTC digital source type declared by the file's own metadata (PNG's XMP), which
    /// other tools write too.
    pub declared_source_type: Option<String>,
    /// Every metadata entry found (PNG text chunks, WAV INFO entries, MIDI text events), in
    /// file order, gen's or not.
    pub entries: Vec<(String, String)>,
}

/// Labels the generated file `path` with `provenance`, in place: PNG, WAV and MIDI files get
/// the record inside (replacing an earlier one), anything else a sidecar. Returns the file that
/// holds the record.
pub fn label_file(path: &Path, provenance: &Provenance) -> Result<PathBuf> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let labelled = match Format::sniff(&bytes) {
        Format::Png => png::label(&bytes, provenance, path)?,
        Format::Wav => wav::label(&bytes, provenance, path)?,
        Format::Midi => midi::label(&bytes, provenance, path)?,
        Format::Other => return sidecar::write(path, provenance),
    };
    write_replacing(path, &labelled)?;
    Ok(path.to_path_buf())
}

/// Reads the provenance of `path`: from inside PNG, WAV and MIDI files, else from the sidecar
/// (`path` may also be the sidecar itself). `provenance` is `None` when the file carries none.
pub fn inspect(path: &Path) -> Result<Found> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = Format::sniff(&bytes);
    let mut found = match format {
        Format::Png => png::read(&bytes, path)?,
        Format::Wav => wav::read(&bytes, path)?,
        Format::Midi => midi::read(&bytes, path)?,
        Format::Other => Found {
            format,
            source: path.to_path_buf(),
            provenance: None,
            declared_source_type: None,
            entries: Vec::new(),
        },
    };
    if found.provenance.is_none() {
        if let Some(side) = sidecar::read(path)? {
            found.provenance = Some(side.1);
            found.source = side.0;
        }
    }
    Ok(found)
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every field set, for the format tests.
    pub(crate) fn example() -> Provenance {
        let mut sampling = BTreeMap::new();
        sampling.insert("temperature".to_string(), serde_json::json!(0.8));
        sampling.insert("class".to_string(), serde_json::json!(7));
        Provenance {
            software: "gen 0.1.0".into(),
            source_type: TRAINED_ALGORITHMIC_MEDIA.into(),
            run_id: "mnist-dcgan-20261129T101500Z".into(),
            preset: "mnist-dcgan".into(),
            seed: 42,
            checkpoint: "last".into(),
            checkpoint_step: 9380,
            checkpoint_sha256: "ab".repeat(32),
            sampling,
            created: "2026-12-07T01:00:00Z".into(),
        }
    }

    #[test]
    fn pairs_and_json_round_trip() {
        let p = example();
        let pairs = p.to_pairs();
        let back =
            Provenance::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())), Path::new("x"))
                .unwrap();
        assert_eq!(back, p);
        assert_eq!(
            Provenance::from_json(&p.to_json(), Path::new("x")).unwrap(),
            p
        );
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let p = example();
        let mut pairs = p.to_pairs();
        pairs.retain(|(k, _)| *k != "seed");
        let err = Provenance::from_pairs(
            pairs.iter().map(|(k, v)| (*k, v.as_str())),
            Path::new("f.png"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("f.png") && err.contains("gen:seed"), "{err}");
        let mut pairs = p.to_pairs();
        if let Some(step) = pairs.iter_mut().find(|(k, _)| *k == "checkpoint_step") {
            step.1 = "many".into();
        }
        let err = Provenance::from_pairs(
            pairs.iter().map(|(k, v)| (*k, v.as_str())),
            Path::new("f.png"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gen:checkpoint_step"), "{err}");
    }

    #[test]
    fn formats_are_sniffed_from_the_first_bytes() {
        assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\n...."), Format::Png);
        assert_eq!(Format::sniff(b"RIFF\0\0\0\0WAVEfmt "), Format::Wav);
        assert_eq!(Format::sniff(b"RIFF\0\0\0\0AVI "), Format::Other);
        assert_eq!(Format::sniff(b"MThd\0\0\0\x06"), Format::Midi);
        assert_eq!(Format::sniff(b"shape,kind,index"), Format::Other);
    }
}

//! The decoded-clip cache: one file holding every clip at 16 kHz, keyed by the dataset.
//!
//! Location ([`cache_dir`]): `$GEN_CACHE_DIR` when set, else the per-user cache folder
//! `$XDG_CACHE_HOME/gen` (or `~/.cache/gen`), never the data folder, which may be read-only or
//! shared. The file is `drums-<key>.bin`, where the key is the sha256 of the decoding
//! settings (rate, clip length, resampler, format version), the clip paths, and the dataset's
//! identity: its `SHA256SUMS` (written by `cargo xtask fetch-data drums`), or for a folder
//! without one, each file's size and modification time. Labels are not cached: they are read
//! from the `drumkit.xml` files each time (cheap), so a change of the name mapping needs no
//! new cache.
//!
//! Layout: the magic `GENDRUM1`, a little-endian u64 header length, a JSON header (key, clip
//! length, rate, each clip's path and source rate and channels, the skipped files), then each
//! clip's samples as little-endian f32. A cache that does not match (other key, wrong size,
//! unreadable) is ignored and rewritten. Writing goes to a temporary file renamed into place;
//! when the folder is not writable (a read-only data folder), loading still works and the
//! report says which variable moves the cache. The data folder itself is never written.

use super::load::{CacheStatus, Decoded, DrumsSet, Entry, Skipped, assemble, decode_all, scan};
use super::resample::MIN_FFT_FRAMES;
use super::{CLIP_LEN, SAMPLE_RATE};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The environment variable that sets the cache folder.
pub const CACHE_DIR_ENV: &str = "GEN_CACHE_DIR";

const MAGIC: &[u8; 8] = b"GENDRUM1";
/// Changes whenever decoding would give other samples for the same files.
const SETTINGS: &str =
    "gen-data drums clips v1: symphonia 0.6 mono mean, rubato 4 Fft FixedSync::Input";

/// The cache folder: `$GEN_CACHE_DIR` when set and not empty; else `$XDG_CACHE_HOME/gen` when
/// that is an absolute path (the XDG base-directory rule); else `$HOME/.cache/gen`; else
/// `gen-cache` in the system's temporary folder. Never inside the data folder.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`cache_dir`] with the environment read through `env`.
fn cache_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name: &str| env(name).filter(|d| !d.is_empty()).map(PathBuf::from);
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return dir;
    }
    if let Some(xdg) = var("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return xdg.join("gen");
    }
    match var("HOME") {
        Some(home) => home.join(".cache").join("gen"),
        None => std::env::temp_dir().join("gen-cache"),
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    key: String,
    clip_len: usize,
    sample_rate: u32,
    clips: Vec<ClipHeader>,
    skipped: Vec<SkippedHeader>,
}

#[derive(Serialize, Deserialize)]
struct ClipHeader {
    path: String,
    source_rate: u32,
    source_channels: usize,
}

#[derive(Serialize, Deserialize)]
struct SkippedHeader {
    path: String,
    reason: String,
}

/// Loads the drums folder `dir` like [`super::load_drums`], through the cache in `cache_dir`:
/// a matching cache file is read instead of decoding; otherwise the clips are decoded and the
/// cache written (see the module docs). `report.cache` says which happened.
pub fn load_drums_cached(dir: &Path, cache_dir: &Path) -> Result<DrumsSet> {
    let (entries, warnings) = scan(dir)?;
    let key = cache_key(dir, &entries)?;
    let file = cache_dir.join(format!("drums-{}.bin", key.get(..16).unwrap_or(&key)));
    if let Some((decoded, skipped)) = read_cache(&file, &key, &entries) {
        return Ok(assemble(
            entries,
            decoded,
            skipped,
            warnings,
            CacheStatus::Hit(file),
        ));
    }
    let (decoded, skipped) = decode_all(dir, &entries);
    let status = match write_cache(&file, &key, &entries, &decoded, &skipped) {
        Ok(()) => CacheStatus::Written(file),
        Err(e) => CacheStatus::Unwritable(format!(
            "could not write the decoded-clip cache {}: {e}; set {CACHE_DIR_ENV} to a writable \
             folder to keep the decoded clips between runs",
            file.display()
        )),
    };
    Ok(assemble(entries, decoded, skipped, warnings, status))
}

/// The hex sha256 that names the cache of `dir` with `entries` (see the module docs).
fn cache_key(dir: &Path, entries: &[Entry]) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!(
        "{SETTINGS}; {SAMPLE_RATE} Hz; {CLIP_LEN} samples; FFT block >= {MIN_FFT_FRAMES}, even\n"
    ));
    for e in entries {
        h.update(e.path.as_bytes());
        h.update(b"\n");
    }
    let sums = dir.join("SHA256SUMS");
    match std::fs::read(&sums) {
        Ok(bytes) => h.update(&bytes),
        Err(_) => {
            for e in entries {
                let path = dir.join(&e.path);
                let meta = std::fs::metadata(&path).map_err(|err| Error::io(&path, err))?;
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                h.update(format!("{} {} {mtime}\n", e.path, meta.len()));
            }
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The cached clips, if `file` is a cache of `key` for exactly `entries`.
fn read_cache(
    file: &Path,
    key: &str,
    entries: &[Entry],
) -> Option<(BTreeMap<String, Decoded>, Vec<Skipped>)> {
    let mut f = std::fs::File::open(file).ok()?;
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic).ok()?;
    if &magic != MAGIC {
        return None;
    }
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let header_len = usize::try_from(u64::from_le_bytes(len)).ok()?;
    let file_len = usize::try_from(f.metadata().ok()?.len()).ok()?;
    if header_len > file_len {
        return None;
    }
    let mut header = vec![0u8; header_len];
    f.read_exact(&mut header).ok()?;
    let header: Header = serde_json::from_slice(&header).ok()?;
    if header.key != key || header.clip_len != CLIP_LEN || header.sample_rate != SAMPLE_RATE {
        return None;
    }
    let expected = 16 + header_len + header.clips.len() * CLIP_LEN * 4;
    if file_len != expected {
        return None;
    }
    let mut cached: Vec<&str> = header.clips.iter().map(|c| c.path.as_str()).collect();
    cached.extend(header.skipped.iter().map(|s| s.path.as_str()));
    cached.sort_unstable();
    let mut wanted: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    wanted.sort_unstable();
    if cached != wanted {
        return None;
    }
    let mut bytes = vec![0u8; header.clips.len() * CLIP_LEN * 4];
    f.read_exact(&mut bytes).ok()?;
    let mut decoded = BTreeMap::new();
    for (clip, chunk) in header
        .clips
        .into_iter()
        .zip(bytes.chunks_exact(CLIP_LEN * 4))
    {
        let samples = chunk
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            .collect();
        decoded.insert(
            clip.path,
            Decoded {
                samples,
                source_rate: clip.source_rate,
                source_channels: clip.source_channels,
            },
        );
    }
    let skipped = header
        .skipped
        .into_iter()
        .map(|s| Skipped {
            path: s.path,
            reason: s.reason,
        })
        .collect();
    Some((decoded, skipped))
}

fn write_cache(
    file: &Path,
    key: &str,
    entries: &[Entry],
    decoded: &BTreeMap<String, Decoded>,
    skipped: &[Skipped],
) -> std::io::Result<()> {
    let present: Vec<(&String, &Decoded)> = entries
        .iter()
        .filter_map(|e| decoded.get_key_value(&e.path))
        .collect();
    let header = Header {
        key: key.to_owned(),
        clip_len: CLIP_LEN,
        sample_rate: SAMPLE_RATE,
        clips: present
            .iter()
            .map(|(path, d)| ClipHeader {
                path: (*path).clone(),
                source_rate: d.source_rate,
                source_channels: d.source_channels,
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|s| SkippedHeader {
                path: s.path.clone(),
                reason: s.reason.clone(),
            })
            .collect(),
    };
    let header = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        out.write_all(MAGIC)?;
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        for (_, d) in &present {
            if d.samples.len() != CLIP_LEN {
                return Err(std::io::Error::other("a clip has the wrong length"));
            }
            for s in &d.samples {
                out.write_all(&s.to_le_bytes())?;
            }
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_is_per_user_and_never_the_data_folder() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        const ALL: [(&str, &str); 4] = [
            (CACHE_DIR_ENV, "/c"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
            ("GEN_DATA_DIR", "/d"),
        ];
        assert_eq!(cache_dir_from(env(&ALL[..])), Path::new("/c"));
        assert_eq!(cache_dir_from(env(&ALL[1..])), Path::new("/x/gen"));
        assert_eq!(cache_dir_from(env(&ALL[2..])), Path::new("/h/.cache/gen"));
        // Empty values are unset; a relative XDG_CACHE_HOME is ignored (the XDG rule).
        const ODD: [(&str, &str); 3] = [
            (CACHE_DIR_ENV, ""),
            ("XDG_CACHE_HOME", "rel"),
            ("HOME", "/h"),
        ];
        assert_eq!(cache_dir_from(env(&ODD[..])), Path::new("/h/.cache/gen"));
        assert_eq!(
            cache_dir_from(env(&ALL[3..])),
            std::env::temp_dir().join("gen-cache")
        );
    }
}

//! Provenance in WAV files: a RIFF `LIST` chunk of type `INFO` with `ISFT` (software), `ICRD`
//! (creation date) and `ICMT` (the record as JSON), after the audio data.
//!
//! `hound` neither writes nor reads `LIST` chunks, so the RIFF framing is done here: a chunk
//! is a four-byte id, a little-endian `u32` size, the data and a pad byte when the size is odd.

use super::{Format, Found, Provenance};
use crate::{Error, Result};
use std::path::Path;

/// One RIFF chunk: its id and its data (without the pad byte).
struct Chunk<'a> {
    id: [u8; 4],
    data: &'a [u8],
}

/// The chunks inside a RIFF/WAVE file.
fn chunks<'a>(bytes: &'a [u8], path: &Path) -> Result<Vec<Chunk<'a>>> {
    let bad = |reason: String| Error::format(path, "RIFF", reason);
    if bytes.len() < 12 || !bytes.starts_with(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(bad("not a RIFF/WAVE file".into()));
    }
    let mut out = Vec::new();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id: [u8; 4] = bytes[at..at + 4].try_into().map_err(|_| bad("id".into()))?;
        let size = u32::from_le_bytes(
            bytes[at + 4..at + 8]
                .try_into()
                .map_err(|_| bad("size".into()))?,
        ) as usize;
        let start = at + 8;
        let data = bytes.get(start..start + size).ok_or_else(|| {
            bad(format!(
                "chunk {} at byte {at} claims {size} bytes; the file has {} after it",
                String::from_utf8_lossy(&id),
                bytes.len() - start
            ))
        })?;
        out.push(Chunk { id, data });
        at = start + size + size % 2;
    }
    Ok(out)
}

fn is_info(c: &Chunk<'_>) -> bool {
    &c.id == b"LIST" && c.data.starts_with(b"INFO")
}

fn push_chunk(out: &mut Vec<u8>, id: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// The `INFO` entries the label writes, `(id, text)`.
pub fn entries(p: &Provenance) -> Vec<([u8; 4], String)> {
    vec![
        (*b"ISFT", p.software.clone()),
        (*b"ICRD", p.created.clone()),
        (*b"ICMT", serde_json::to_string(p).unwrap_or_default()),
    ]
}

/// The WAV `bytes` with a `LIST/INFO` chunk holding `provenance` at the end (an earlier
/// `LIST/INFO` chunk is replaced; the other chunks are kept in order).
pub fn label(bytes: &[u8], provenance: &Provenance, path: &Path) -> Result<Vec<u8>> {
    let mut body = b"WAVE".to_vec();
    for c in chunks(bytes, path)?.iter().filter(|c| !is_info(c)) {
        push_chunk(&mut body, &c.id, c.data);
    }
    let mut info = b"INFO".to_vec();
    for (id, text) in entries(provenance) {
        let mut z = text.into_bytes();
        z.push(0);
        push_chunk(&mut info, &id, &z);
    }
    push_chunk(&mut body, b"LIST", &info);
    let size = u32::try_from(body.len())
        .map_err(|_| Error::format(path, "RIFF", "over 4 GiB with the label"))?;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The `INFO` entries of a WAV file and gen's record from its `ICMT`, when that holds one.
pub fn read(bytes: &[u8], path: &Path) -> Result<Found> {
    let mut entries = Vec::new();
    for c in chunks(bytes, path)?.iter().filter(|c| is_info(c)) {
        let mut at = 4;
        let data = c.data;
        while at + 8 <= data.len() {
            let id = String::from_utf8_lossy(&data[at..at + 4]).into_owned();
            let size = u32::from_le_bytes(
                data[at + 4..at + 8]
                    .try_into()
                    .map_err(|_| Error::format(path, "LIST/INFO", "size"))?,
            ) as usize;
            let text = data
                .get(at + 8..at + 8 + size)
                .ok_or_else(|| Error::format(path, format!("LIST/INFO/{id}"), "truncated"))?;
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            entries.push((id, String::from_utf8_lossy(text).into_owned()));
            at += 8 + size + size % 2;
        }
    }
    let provenance = entries
        .iter()
        .find(|(id, text)| id == "ICMT" && text.starts_with('{') && text.contains("\"run_id\""))
        .map(|(_, text)| Provenance::from_json(text, path))
        .transpose()?;
    let declared_source_type = provenance.as_ref().map(|p| p.source_type.clone());
    Ok(Found {
        format: Format::Wav,
        source: path.to_path_buf(),
        provenance,
        declared_source_type,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::example;
    use super::*;
    use crate::audio::wav::{read_wav, write_wav_i16};

    #[test]
    fn label_reads_back_and_hound_still_reads_the_audio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples = [0.0, 0.5, -0.5, 0.25, -1.0];
        write_wav_i16(&path, &samples, 16_000).unwrap();
        let plain = std::fs::read(&path).unwrap();
        assert_eq!(read(&plain, &path).unwrap().provenance, None);

        let p = example();
        let labelled = label(&plain, &p, &path).unwrap();
        // The RIFF size is the file's length less 8.
        let riff = u32::from_le_bytes(labelled[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff, labelled.len() - 8);
        let found = read(&labelled, &path).unwrap();
        assert_eq!(found.provenance.as_ref(), Some(&p));
        assert!(
            found
                .entries
                .iter()
                .any(|(id, t)| id == "ISFT" && t == "gen 0.1.0")
        );

        std::fs::write(&path, &labelled).unwrap();
        let back = read_wav(&path).unwrap();
        assert_eq!(back.samples.len(), samples.len());
        assert_eq!(back.sample_rate, 16_000);

        // Labelling twice keeps one INFO chunk, the newer.
        let mut q = p.clone();
        q.seed = 3;
        let twice = label(&labelled, &q, &path).unwrap();
        let lists = chunks(&twice, &path)
            .unwrap()
            .iter()
            .filter(|c| is_info(c))
            .count();
        assert_eq!(lists, 1);
        assert_eq!(
            read(&twice, &path).unwrap().provenance.map(|p| p.seed),
            Some(3)
        );
    }

    #[test]
    fn truncated_chunks_are_errors_naming_the_file() {
        let mut bytes = b"RIFF\x20\0\0\0WAVEdata\xff\0\0\0abc".to_vec();
        let err = read(&bytes, Path::new("t.wav")).unwrap_err().to_string();
        assert!(err.contains("t.wav") && err.contains("data"), "{err}");
        bytes.truncate(6);
        assert!(label(&bytes, &example(), Path::new("t.wav")).is_err());
    }
}

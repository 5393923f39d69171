//! Provenance in standard MIDI files: text meta events `gen:<field>=<value>` at tick 0 of the
//! first track, through `midly`.

use super::{Format, Found, KEY_PREFIX, Provenance};
use crate::{Error, Result};
use midly::num::u28;
use midly::{MetaMessage, Smf, TrackEvent, TrackEventKind};
use std::path::Path;

/// The text events the label writes, in order.
pub fn texts(p: &Provenance) -> Vec<String> {
    p.to_pairs()
        .into_iter()
        .map(|(k, v)| format!("{KEY_PREFIX}{k}={v}"))
        .collect()
}

fn gen_text(event: &TrackEvent<'_>) -> bool {
    matches!(event.kind, TrackEventKind::Meta(MetaMessage::Text(t)) if t.starts_with(KEY_PREFIX.as_bytes()))
}

/// The MIDI `bytes` with `provenance` as text events at the start of the first track (an
/// earlier label's events are removed; timing is kept).
pub fn label(bytes: &[u8], provenance: &Provenance, path: &Path) -> Result<Vec<u8>> {
    let bad = |e: midly::Error| Error::format(path, "MIDI", e.to_string());
    let mut smf = Smf::parse(bytes).map_err(bad)?;
    let lines = texts(provenance);
    let Some(track) = smf.tracks.first_mut() else {
        return Err(Error::format(path, "MIDI", "no track to label"));
    };
    // Drop an earlier label, moving its delta times onto the next event.
    let mut kept: Vec<TrackEvent<'_>> = Vec::with_capacity(track.len() + lines.len());
    let mut carry = 0u32;
    for event in track.drain(..) {
        if gen_text(&event) {
            carry += event.delta.as_int();
        } else {
            let delta = u28::try_from(event.delta.as_int() + carry)
                .ok_or_else(|| Error::format(path, "MIDI", "delta time overflow"))?;
            carry = 0;
            kept.push(TrackEvent { delta, ..event });
        }
    }
    let mut labelled: Vec<TrackEvent<'_>> = lines
        .iter()
        .map(|line| TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Text(line.as_bytes())),
        })
        .collect();
    labelled.extend(kept);
    *track = labelled;
    let mut out = Vec::new();
    smf.write_std(&mut out).map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// The text events of a MIDI file, and gen's record when they hold one.
pub fn read(bytes: &[u8], path: &Path) -> Result<Found> {
    let smf = Smf::parse(bytes).map_err(|e| Error::format(path, "MIDI", e.to_string()))?;
    let mut entries = Vec::new();
    for event in smf.tracks.iter().flatten() {
        if let TrackEventKind::Meta(MetaMessage::Text(t)) = event.kind {
            let text = String::from_utf8_lossy(t).into_owned();
            let (key, value) = match text.split_once('=') {
                Some((k, v)) if k.starts_with(KEY_PREFIX) => (k.to_string(), v.to_string()),
                _ => ("text".to_string(), text),
            };
            entries.push((key, value));
        }
    }
    let pairs: Vec<(&str, &str)> = entries
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(KEY_PREFIX).map(|k| (k, v.as_str())))
        .collect();
    let provenance = if pairs.is_empty() {
        None
    } else {
        Some(Provenance::from_pairs(pairs, path)?)
    };
    let declared_source_type = provenance.as_ref().map(|p| p.source_type.clone());
    Ok(Found {
        format: Format::Midi,
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
    use crate::music::{MidiOptions, PianoRoll, decode_midi, encode_midi};
    use ndarray::Array2;

    #[test]
    fn label_keeps_the_notes_and_reads_back() {
        let mut keys = Array2::<u8>::zeros((6, crate::music::KEYS));
        keys[[0, 10]] = 1;
        keys[[1, 10]] = 1;
        keys[[3, 20]] = 1;
        keys[[5, 30]] = 1;
        let roll = PianoRoll::new(keys).unwrap();
        let path = Path::new("a.mid");
        let plain = encode_midi(&roll, &MidiOptions::default()).unwrap();
        assert_eq!(read(&plain, path).unwrap().provenance, None);
        let p = example();
        let labelled = label(&plain, &p, path).unwrap();
        assert_eq!(read(&labelled, path).unwrap().provenance.as_ref(), Some(&p));
        let back = decode_midi(&labelled, path).unwrap();
        assert_eq!(back.roll, roll);
        assert_eq!(back.bpm, Some(80.0));
        // Relabelling replaces the events.
        let mut q = p.clone();
        q.run_id = "other".into();
        let twice = label(&labelled, &q, path).unwrap();
        let found = read(&twice, path).unwrap();
        assert_eq!(found.provenance.map(|p| p.run_id), Some("other".into()));
        assert_eq!(found.entries.len(), texts(&q).len());
        assert_eq!(decode_midi(&twice, path).unwrap().roll, roll);
    }
}

//! Piano-rolls as standard MIDI files (format 0, one track), and back.
//!
//! A frame is one quarter note ([`TICKS_PER_QUARTER`] ticks) at the tempo given. Each note of
//! the roll ([`PianoRoll::notes`]: a run of frames of one key) becomes a note-on and a note-off
//! on channel 1 with the piano program, so consecutive frames of a key are one held note. The
//! track ends at the roll's last frame, so trailing silent frames survive a round trip. Text
//! meta events (e.g. provenance) go at the start of the track.

use super::roll::{KEYS, LOWEST_KEY, PianoRoll};
use crate::{Error, Result};
use midly::num::{u4, u7, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
use std::path::Path;

/// MIDI ticks per quarter note, and so per frame.
pub const TICKS_PER_QUARTER: u16 = 480;

/// How a roll is written.
#[derive(Debug, Clone, PartialEq)]
pub struct MidiOptions {
    /// Quarter notes (frames) per minute. Default 80, a chorale's walking pace.
    pub bpm: f64,
    /// Note-on velocity, 1..=127. Default 80.
    pub velocity: u8,
    /// General MIDI program, 0..=127. Default 0, acoustic grand piano.
    pub program: u8,
    /// Text meta events written at the start of the track, in order. Default none.
    pub texts: Vec<String>,
}

impl Default for MidiOptions {
    fn default() -> Self {
        Self {
            bpm: 80.0,
            velocity: 80,
            program: 0,
            texts: Vec::new(),
        }
    }
}

/// A MIDI file read back as a roll.
#[derive(Debug, Clone, PartialEq)]
pub struct MidiRoll {
    /// The notes at quarter-note frames: a key is on in frame `t` when a note of it sounds at
    /// tick `t * ticks_per_quarter`.
    pub roll: PianoRoll,
    /// The first tempo, in quarter notes per minute, when the file sets one.
    pub bpm: Option<f64>,
    /// The text meta events, in file order (lossy UTF-8).
    pub texts: Vec<String>,
}

/// The bytes of a standard MIDI file holding `roll`.
pub fn encode_midi(roll: &PianoRoll, options: &MidiOptions) -> Result<Vec<u8>> {
    if !(options.bpm.is_finite() && (1.0..=1000.0).contains(&options.bpm)) {
        return Err(Error::invalid(
            "bpm",
            format!("{} is not in 1..=1000", options.bpm),
        ));
    }
    if !(1..=127).contains(&options.velocity) || options.program > 127 {
        return Err(Error::invalid(
            "velocity/program",
            format!(
                "velocity {} must be 1..=127 and program {} 0..=127",
                options.velocity, options.program
            ),
        ));
    }
    let ticks = u64::from(TICKS_PER_QUARTER);
    let end = roll.frames() as u64 * ticks;
    if end >= 1 << 28 {
        return Err(Error::invalid(
            "piano-roll",
            format!("{} frames are too long for a MIDI track", roll.frames()),
        ));
    }
    // (tick, order, event): at one tick, note-offs (order 0) come before note-ons (order 1).
    let channel = u4::new(0);
    let mut timed: Vec<(u64, u8, TrackEventKind<'_>)> = Vec::new();
    for note in roll.notes() {
        let key = u7::new(note.key);
        let start = note.start as u64 * ticks;
        let stop = (note.start + note.frames) as u64 * ticks;
        let message = MidiMessage::NoteOn {
            key,
            vel: u7::new(options.velocity),
        };
        timed.push((start, 1, TrackEventKind::Midi { channel, message }));
        let message = MidiMessage::NoteOff {
            key,
            vel: u7::new(0),
        };
        timed.push((stop, 0, TrackEventKind::Midi { channel, message }));
    }
    timed.sort_by_key(|(tick, order, _)| (*tick, *order));

    let micros = (60_000_000.0 / options.bpm).round() as u32;
    let mut track = vec![TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros))),
    }];
    for text in &options.texts {
        track.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Text(text.as_bytes())),
        });
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Midi {
            channel,
            message: MidiMessage::ProgramChange {
                program: u7::new(options.program),
            },
        },
    });
    let mut now = 0u64;
    for (tick, _, kind) in timed {
        track.push(TrackEvent {
            delta: u28::new((tick - now) as u32),
            kind,
        });
        now = tick;
    }
    track.push(TrackEvent {
        delta: u28::new((end - now) as u32),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let header = Header::new(
        Format::SingleTrack,
        Timing::Metrical(u15::new(TICKS_PER_QUARTER)),
    );
    let mut smf = Smf::new(header);
    smf.tracks.push(track);
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .map_err(|e| Error::invalid("MIDI", e.to_string()))?;
    Ok(bytes)
}

/// Writes `roll` to the MIDI file `path`.
pub fn write_midi(path: &Path, roll: &PianoRoll, options: &MidiOptions) -> Result<()> {
    let bytes = encode_midi(roll, options)?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// The longest file read back, in quarter-note frames.
const MAX_FRAMES: u64 = 1 << 16;

/// Reads a standard MIDI file's notes (every track and channel) back into quarter-note frames;
/// `origin` names the file in errors. Notes off the 88 keys are an error.
pub fn decode_midi(bytes: &[u8], origin: &Path) -> Result<MidiRoll> {
    let smf = Smf::parse(bytes).map_err(|e| Error::format(origin, "MIDI", e.to_string()))?;
    let Timing::Metrical(ticks) = smf.header.timing else {
        return Err(Error::format(
            origin,
            "header",
            "SMPTE time division; expected ticks per quarter note",
        ));
    };
    let ticks = u64::from(ticks.as_int());
    if ticks == 0 {
        return Err(Error::format(origin, "header", "0 ticks per quarter note"));
    }
    let mut bpm = None;
    let mut texts = Vec::new();
    // (key, start tick, end tick) of every note.
    let mut notes: Vec<(u8, u64, u64)> = Vec::new();
    let mut end = 0u64;
    for (t, track) in smf.tracks.iter().enumerate() {
        let mut now = 0u64;
        let mut sounding: [Option<u64>; 128] = [None; 128];
        for event in track {
            now += u64::from(event.delta.as_int());
            match event.kind {
                TrackEventKind::Midi { message, .. } => {
                    let (key, on) = match message {
                        MidiMessage::NoteOn { key, vel } => (key.as_int(), vel.as_int() > 0),
                        MidiMessage::NoteOff { key, .. } => (key.as_int(), false),
                        _ => continue,
                    };
                    let Some(slot) = sounding.get_mut(usize::from(key)) else {
                        continue;
                    };
                    match (on, *slot) {
                        (true, None) => *slot = Some(now),
                        (false, Some(start)) => {
                            notes.push((key, start, now));
                            *slot = None;
                        }
                        _ => {}
                    }
                }
                TrackEventKind::Meta(MetaMessage::Tempo(micros)) if bpm.is_none() => {
                    let micros = micros.as_int();
                    if micros > 0 {
                        bpm = Some(60_000_000.0 / f64::from(micros));
                    }
                }
                TrackEventKind::Meta(MetaMessage::Text(text)) => {
                    texts.push(String::from_utf8_lossy(text).into_owned());
                }
                _ => {}
            }
        }
        for (key, slot) in sounding.iter().enumerate() {
            if let Some(start) = slot {
                notes.push((key as u8, *start, now));
            }
        }
        end = end.max(now);
        if end / ticks > MAX_FRAMES {
            return Err(Error::format(
                origin,
                format!("track {}", t + 1),
                format!("longer than {MAX_FRAMES} quarter notes"),
            ));
        }
    }
    let frames = end.div_ceil(ticks) as usize;
    let mut roll = PianoRoll::silent(frames);
    for (key, start, stop) in notes {
        if !(LOWEST_KEY..LOWEST_KEY + KEYS as u8).contains(&key) {
            return Err(Error::format(
                origin,
                "note",
                format!("MIDI key {key} is off the 88 piano keys"),
            ));
        }
        // Frames t with start <= t * ticks < stop.
        for t in start.div_ceil(ticks)..stop.div_ceil(ticks) {
            roll.set(t as usize, key)?;
        }
    }
    Ok(MidiRoll { roll, bpm, texts })
}

/// Reads the MIDI file at `path` ([`decode_midi`]).
pub fn read_midi(path: &Path) -> Result<MidiRoll> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_midi(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chorale_like() -> PianoRoll {
        // A held C4 over frames 0-2, a repeated E4 (frames 1 and 3, separate notes), a G4 chord
        // note at frame 2, the top and bottom keys, and two silent frames at the end.
        PianoRoll::from_cells(
            6,
            [
                (0, 60),
                (1, 60),
                (2, 60),
                (1, 64),
                (3, 64),
                (2, 67),
                (0, 21),
                (3, 108),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_every_note_tempo_and_text() {
        let roll = chorale_like();
        let options = MidiOptions {
            bpm: 96.0,
            texts: vec!["gen sample".into(), "seed=7 — ünïcode".into()],
            ..MidiOptions::default()
        };
        let bytes = encode_midi(&roll, &options).unwrap();
        assert_eq!(&bytes[..4], b"MThd");
        let back = decode_midi(&bytes, Path::new("x.mid")).unwrap();
        assert_eq!(back.roll, roll);
        assert_eq!(back.roll.notes(), roll.notes());
        assert_eq!(back.bpm, Some(96.0));
        assert_eq!(back.texts, options.texts);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mid");
        write_midi(&path, &roll, &MidiOptions::default()).unwrap();
        let back = read_midi(&path).unwrap();
        assert_eq!(back.roll, roll);
        assert_eq!(back.bpm, Some(80.0));
        assert!(back.texts.is_empty());
    }

    #[test]
    fn the_file_is_one_note_per_run() {
        let roll = chorale_like();
        let bytes = encode_midi(&roll, &MidiOptions::default()).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.header.format, Format::SingleTrack);
        let ons = smf.tracks[0]
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    TrackEventKind::Midi {
                        message: MidiMessage::NoteOn { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(ons, roll.notes().len());
        assert_eq!(ons, 6);
    }

    #[test]
    fn reads_other_writers_conventions() {
        // Two tracks at 96 ticks per quarter; a note-on of velocity 0 ends a note; a note held
        // from tick 48 to 240 sounds at ticks 96 and 192 (frames 1 and 2).
        let on = |key: u8, vel: u8| TrackEventKind::Midi {
            channel: u4::new(3),
            message: MidiMessage::NoteOn {
                key: u7::new(key),
                vel: u7::new(vel),
            },
        };
        let ev = |delta: u32, kind| TrackEvent {
            delta: u28::new(delta),
            kind,
        };
        let end = TrackEventKind::Meta(MetaMessage::EndOfTrack);
        let mut smf = Smf::new(Header::new(
            Format::Parallel,
            Timing::Metrical(u15::new(96)),
        ));
        smf.tracks
            .push(vec![ev(48, on(60, 90)), ev(192, on(60, 0)), ev(0, end)]);
        smf.tracks
            .push(vec![ev(0, on(72, 90)), ev(96, on(72, 0)), ev(0, end)]);
        let mut bytes = Vec::new();
        smf.write_std(&mut bytes).unwrap();
        let back = decode_midi(&bytes, Path::new("o.mid")).unwrap();
        let want = PianoRoll::from_cells(3, [(1, 60), (2, 60), (0, 72)]).unwrap();
        assert_eq!(back.roll, want);
        assert_eq!(back.bpm, None);
    }

    #[test]
    fn bad_input_is_an_error() {
        let roll = PianoRoll::silent(2);
        let bad_bpm = MidiOptions {
            bpm: 0.0,
            ..MidiOptions::default()
        };
        assert!(encode_midi(&roll, &bad_bpm).is_err());
        let err = decode_midi(b"MThd\0\0", Path::new("cut.mid"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut.mid"), "{err}");
    }
}

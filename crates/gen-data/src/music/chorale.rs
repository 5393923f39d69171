//! Scores to piano-rolls: quarter-note frames, transposed to C major / A minor, and the
//! four-part chorales built from them.

use super::musicxml::{self, KeySignature, Score};
use super::roll::{HIGHEST_KEY, LOWEST_KEY, PianoRoll};
use crate::{Error, Result};
use num_rational::Rational64;
use num_traits::{CheckedAdd, ToPrimitive};
use std::path::Path;

/// The voices of a chorale: soprano, alto, tenor, bass.
pub const CHORALE_PARTS: usize = 4;

/// A chorale as a piano-roll.
#[derive(Debug, Clone, PartialEq)]
pub struct Chorale {
    /// The file name it was read from, e.g. `bwv10.7.mxl`.
    pub name: String,
    /// Quarter-note frames over the 88 keys, transposed to C major / A minor.
    pub roll: PianoRoll,
    /// The key signature as written (`None`: the score has none, read as C major).
    pub key: Option<KeySignature>,
    /// The transposition applied, in semitones ([`KeySignature::shift_to_c`]).
    pub shift: i32,
}

/// The piano-roll of `score` at quarter-note frames, every pitch moved by `shift` semitones.
///
/// Frame `t` holds what sounds at time `t` quarter notes after the start: a note of onset `a`
/// and duration `d` is on in the frames `t` with `a <= t < a + d`. So a held or tied note is on
/// in every frame it spans, and a note that spans no frame start (an off-beat passing eighth) is
/// not in the roll. The roll has `ceil(length)` frames. A pitch off the 88 keys after the shift
/// is an error naming the part and measure.
pub fn score_to_roll(score: &Score, shift: i32, origin: &Path) -> Result<PianoRoll> {
    let frames = ceil_frames(score.length)
        .filter(|&f| f as u64 <= musicxml::MAX_QUARTERS as u64)
        .ok_or_else(|| {
            Error::format(
                origin,
                "score",
                format!(
                    "its length {} is not 0..={} quarter notes",
                    score.length,
                    musicxml::MAX_QUARTERS
                ),
            )
        })?;
    let mut roll = PianoRoll::silent(frames);
    for part in &score.parts {
        for note in &part.notes {
            let field = || format!("part {}, measure {}", part.id, note.measure);
            let midi = note.midi + shift;
            let key = u8::try_from(midi)
                .ok()
                .filter(|m| (LOWEST_KEY..=HIGHEST_KEY).contains(m))
                .ok_or_else(|| {
                    Error::format(
                        origin,
                        field(),
                        format!(
                            "pitch {} moved by {shift} is {midi}, off the 88 keys (21..=108)",
                            note.midi
                        ),
                    )
                })?;
            let end = note.onset.checked_add(&note.duration);
            let (Some(first), Some(stop)) = (ceil_frames(note.onset), end.and_then(ceil_frames))
            else {
                return Err(Error::format(origin, field(), "note time out of range"));
            };
            for t in first..stop.min(frames) {
                roll.set(t, key)
                    .map_err(|e| Error::format(origin, field(), e.to_string()))?;
            }
        }
    }
    Ok(roll)
}

/// `ceil(time)` as a frame index, for non-negative times that fit.
fn ceil_frames(time: Rational64) -> Option<usize> {
    let (numer, denom) = (*time.numer(), *time.denom());
    if denom <= 0 {
        return None;
    }
    let whole = numer.div_euclid(denom);
    let ceil = if numer.rem_euclid(denom) == 0 {
        whole
    } else {
        whole.checked_add(1)?
    };
    ceil.to_usize()
}

impl Chorale {
    /// A chorale from a score of exactly four parts, transposed by its key signature's
    /// [`KeySignature::shift_to_c`] (no signature: no shift). `name` is kept as its name and
    /// `origin` names the file in errors.
    pub fn from_score(name: &str, score: &Score, origin: &Path) -> Result<Self> {
        if score.parts.len() != CHORALE_PARTS {
            return Err(Error::format(
                origin,
                "parts",
                format!(
                    "{} parts, a chorale needs exactly {CHORALE_PARTS}",
                    score.parts.len()
                ),
            ));
        }
        let shift = score.key.as_ref().map_or(0, KeySignature::shift_to_c);
        Ok(Self {
            name: name.to_owned(),
            roll: score_to_roll(score, shift, origin)?,
            key: score.key.clone(),
            shift,
        })
    }
}

/// Reads the chorale in the `.mxl` or MusicXML file at `path` (its file name becomes its name);
/// an error for a score that has not exactly four parts.
pub fn read_chorale(path: &Path) -> Result<Chorale> {
    let score = musicxml::read_score(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Chorale::from_score(&name, &score, path)
}

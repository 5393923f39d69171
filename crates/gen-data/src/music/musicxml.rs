//! A MusicXML reader (partwise scores, as every exporter writes) that keeps what sounds: each
//! part's notes with exact onsets and durations in quarter notes, and the key signature.
//!
//! Rules, for files that are unusual rather than wrong:
//! - **Time** is exact: `<duration>` (an integer or decimal count of `<divisions>` per quarter
//!   note, which may change at any `<attributes>`) becomes a fraction of quarter notes.
//!   Tuplets need nothing more: their `<duration>` already holds the played length.
//! - **Measures** start where the previous one ended: each measure lasts until the furthest end
//!   of a note or rest in any part (so a short pickup measure lasts what its notes fill, and a
//!   part that stops early does not shift the others). A `<forward>` moves the cursor but does
//!   not lengthen the measure by itself: a final bar completed by a `<forward>` (an invisible
//!   rest, as 28 of the chorales end) ends with its last note, as music21 reads it. Measures
//!   are matched across parts by position.
//! - **Voices**: `<backup>` and `<forward>` move the time cursor within the measure (a backup
//!   before the measure's start is an error); `<chord/>` notes start with the previous note.
//! - **Ties** need no joining: a tied note sounds on across the bar line either way.
//! - **Grace notes** (`<grace/>`) are skipped; cue notes (`<cue/>`) take time but do not sound;
//!   rests and unpitched notes take time.
//! - **Repeats** and voltas are read as written, once each, in document order (nothing is
//!   expanded).
//! - **Pitch** is the sounding pitch: `<step>`, `<octave>`, `<alter>` rounded to the nearest
//!   semitone (microtones), plus a part's `<transpose>` (`<chromatic>` and
//!   `<octave-change>`).
//! - **Key**: the first `<key>` with `<fifths>` in the first part that has one; later key
//!   changes are ignored.
//! - **Parts**: each `<part>` must be declared in `<part-list>`, and each declared part must be
//!   present.
//! - **Limits**: a score of at most [`MAX_QUARTERS`] quarter notes.
//!
//! Errors are [`Error::Format`] naming the file, and the part and measure where it applies.

use super::mxl;
use crate::{Error, Result};
use num_rational::Rational64;
use num_traits::{CheckedAdd, CheckedDiv, CheckedSub, ToPrimitive, Zero};
use roxmltree::Node;
use std::path::Path;

/// The longest score read, in quarter notes (the longest chorale has 193).
pub const MAX_QUARTERS: i64 = 1 << 16;

/// A parsed score: its parts, in document order, and its key signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The parts.
    pub parts: Vec<Part>,
    /// The key signature, when the score has one.
    pub key: Option<KeySignature>,
    /// The length in quarter notes: the sum of the measures' lengths.
    pub length: Rational64,
}

/// One part (a voice of a chorale).
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The `id` attribute, e.g. `P1`.
    pub id: String,
    /// The `<part-name>` from the part list (may be empty).
    pub name: String,
    /// The sounding notes, in document order.
    pub notes: Vec<ScoreNote>,
}

/// A sounding note.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreNote {
    /// The sounding MIDI pitch (60 is middle C); may lie off the piano.
    pub midi: i32,
    /// The onset from the start of the score, in quarter notes.
    pub onset: Rational64,
    /// The duration, in quarter notes.
    pub duration: Rational64,
    /// The measure it is written in: its `number` attribute, else its 1-based position.
    pub measure: String,
}

/// A key signature: `<fifths>` (sharps positive, flats negative) and `<mode>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySignature {
    /// Sharps (positive) or flats (negative), -7..=7.
    pub fifths: i8,
    /// The `<mode>`, e.g. `major` or `minor`, when given.
    pub mode: Option<String>,
}

impl KeySignature {
    /// The shift in semitones that takes this signature to none (C major / A minor; other modes
    /// move likewise, e.g. D dorian stays on D): minus the pitch class of the signature's major
    /// tonic, taken in -6..=5 (the smaller move; a tritone goes down).
    pub fn shift_to_c(&self) -> i32 {
        let tonic = (7 * i32::from(self.fifths)).rem_euclid(12);
        if tonic >= 7 { 12 - tonic } else { -tonic }
    }
}

/// Reads the MusicXML or `.mxl` file at `path`.
pub fn read_score(path: &Path) -> Result<Score> {
    let text = mxl::read_musicxml_text(path)?;
    parse_score(&text, path)
}

/// Reads a score from file content `bytes` (an `.mxl` archive or plain MusicXML); `origin` names
/// the file in errors.
pub fn score_from_bytes(bytes: &[u8], origin: &Path) -> Result<Score> {
    let text = mxl::musicxml_text(bytes, origin)?;
    parse_score(&text, origin)
}

/// Parses MusicXML text; `origin` names the file in errors.
pub fn parse_score(text: &str, origin: &Path) -> Result<Score> {
    let doc = mxl::parse_xml(text).map_err(|e| Error::format(origin, "XML", e.to_string()))?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "score-partwise" => {}
        "score-timewise" => {
            return Err(Error::format(
                origin,
                "score-timewise",
                "timewise MusicXML is not supported (convert it to partwise)",
            ));
        }
        other => {
            return Err(Error::format(
                origin,
                "root element",
                format!("<{other}>, expected <score-partwise>"),
            ));
        }
    }
    let declared: Vec<(String, String)> = root
        .children()
        .find(|n| n.has_tag_name("part-list"))
        .map(|list| {
            list.children()
                .filter(|n| n.has_tag_name("score-part"))
                .map(|p| {
                    let id = p.attribute("id").unwrap_or_default().to_owned();
                    (
                        id,
                        child_text(p, "part-name").unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut parsed = Vec::new();
    let mut key = None;
    for node in root.children().filter(|n| n.has_tag_name("part")) {
        let id = node.attribute("id").unwrap_or_default().to_owned();
        let Some((_, name)) = declared.iter().find(|(d, _)| *d == id) else {
            return Err(Error::format(
                origin,
                format!("part {id:?}"),
                "not declared in <part-list>",
            ));
        };
        if parsed.iter().any(|(p, _): &(Part, _)| p.id == id) {
            return Err(Error::format(
                origin,
                format!("part {id:?}"),
                "appears twice",
            ));
        }
        let (measures, part_key) = read_part(node, &id, origin)?;
        if key.is_none() {
            key = part_key;
        }
        parsed.push((
            Part {
                id,
                name: name.clone(),
                notes: Vec::new(),
            },
            measures,
        ));
    }
    if let Some((id, _)) = declared
        .iter()
        .find(|(id, _)| !parsed.iter().any(|(p, _)| &p.id == id))
    {
        return Err(Error::format(
            origin,
            format!("part {id:?}"),
            "declared in <part-list> but missing",
        ));
    }
    // Each measure lasts as long as its longest part; measure i starts where i - 1 ended.
    let count = parsed.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    let mut starts = Vec::with_capacity(count);
    let mut length = Rational64::zero();
    for i in 0..count {
        starts.push(length);
        let longest = parsed
            .iter()
            .filter_map(|(_, m)| m.get(i).map(|m| m.length))
            .max()
            .unwrap_or_default();
        length = add(length, longest, origin, "measure lengths")?;
        if length > Rational64::from_integer(MAX_QUARTERS) {
            return Err(Error::format(
                origin,
                format!("measure {}", i + 1),
                format!("the score passes {MAX_QUARTERS} quarter notes"),
            ));
        }
    }
    let parts = parsed
        .into_iter()
        .map(|(mut part, measures)| {
            for (m, start) in measures.into_iter().zip(&starts) {
                for mut note in m.notes {
                    note.onset = add(*start, note.onset, origin, "onset")?;
                    part.notes.push(note);
                }
            }
            Ok(part)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Score { parts, key, length })
}

/// A measure of one part: its notes (onsets relative to the measure) and its length.
struct Measure {
    notes: Vec<ScoreNote>,
    length: Rational64,
}

/// The state carried from measure to measure within a part.
struct PartState {
    divisions: Option<Rational64>,
    transpose: i32,
    key: Option<KeySignature>,
}

fn read_part(
    part: Node<'_, '_>,
    id: &str,
    origin: &Path,
) -> Result<(Vec<Measure>, Option<KeySignature>)> {
    let mut state = PartState {
        divisions: None,
        transpose: 0,
        key: None,
    };
    let mut measures = Vec::new();
    for (i, node) in part
        .children()
        .filter(|n| n.has_tag_name("measure"))
        .enumerate()
    {
        let number = node
            .attribute("number")
            .map_or_else(|| (i + 1).to_string(), str::to_owned);
        let field = format!("part {id}, measure {number}");
        measures.push(
            read_measure(node, &number, &mut state)
                .map_err(|reason| Error::format(origin, field, reason))?,
        );
    }
    Ok((measures, state.key))
}

type Reason = String;

fn read_measure(
    measure: Node<'_, '_>,
    number: &str,
    state: &mut PartState,
) -> std::result::Result<Measure, Reason> {
    let mut notes = Vec::new();
    let mut cursor = Rational64::zero();
    let mut furthest = Rational64::zero();
    // Onset of the last note that was not a chord member (chord notes start with it).
    let mut last_onset: Option<Rational64> = None;
    for node in measure.children().filter(Node::is_element) {
        match node.tag_name().name() {
            "attributes" => read_attributes(node, state)?,
            "backup" => {
                let d = duration_of(node, state)?;
                cursor = checked(cursor.checked_sub(&d))?;
                if cursor < Rational64::zero() {
                    return Err("<backup> goes before the start of the measure".to_owned());
                }
            }
            "forward" => {
                let d = duration_of(node, state)?;
                cursor = checked(cursor.checked_add(&d))?;
                if cursor > Rational64::from_integer(MAX_QUARTERS) {
                    return Err(format!("the measure passes {MAX_QUARTERS} quarter notes"));
                }
            }
            "note" => {
                if has_child(node, "grace") {
                    continue;
                }
                let d = duration_of(node, state)?;
                let onset = if has_child(node, "chord") {
                    last_onset.ok_or("a <chord/> note with no note before it")?
                } else {
                    let onset = cursor;
                    cursor = checked(cursor.checked_add(&d))?;
                    last_onset = Some(onset);
                    onset
                };
                furthest = furthest.max(checked(onset.checked_add(&d))?);
                if has_child(node, "cue") || has_child(node, "rest") {
                    continue;
                }
                if let Some(pitch) = node.children().find(|n| n.has_tag_name("pitch")) {
                    notes.push(ScoreNote {
                        midi: midi_of(pitch)? + state.transpose,
                        onset,
                        duration: d,
                        measure: number.to_owned(),
                    });
                }
            }
            _ => {}
        }
        if furthest > Rational64::from_integer(MAX_QUARTERS) {
            return Err(format!("the measure passes {MAX_QUARTERS} quarter notes"));
        }
    }
    Ok(Measure {
        notes,
        length: furthest,
    })
}

fn read_attributes(node: Node<'_, '_>, state: &mut PartState) -> std::result::Result<(), Reason> {
    if let Some(text) = child_text(node, "divisions") {
        let d = decimal(text).ok_or_else(|| format!("<divisions> {text:?} is not a number"))?;
        if d <= Rational64::zero() {
            return Err(format!("<divisions> {text:?} is not positive"));
        }
        state.divisions = Some(d);
    }
    if state.key.is_none() {
        if let Some(key) = node.children().find(|n| n.has_tag_name("key")) {
            if let Some(text) = child_text(key, "fifths") {
                let fifths = text
                    .trim()
                    .parse::<i8>()
                    .ok()
                    .filter(|f| (-7..=7).contains(f))
                    .ok_or_else(|| format!("<fifths> {text:?} is not in -7..=7"))?;
                state.key = Some(KeySignature {
                    fifths,
                    mode: child_text(key, "mode").map(|m| m.trim().to_owned()),
                });
            }
        }
    }
    if let Some(t) = node.children().find(|n| n.has_tag_name("transpose")) {
        let int = |name: &str| -> std::result::Result<i32, Reason> {
            match child_text(t, name) {
                None => Ok(0),
                Some(text) => text
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|v| v.abs() <= 48)
                    .ok_or_else(|| format!("<transpose><{name}> {text:?} is not in -48..=48")),
            }
        };
        state.transpose = int("chromatic")? + 12 * int("octave-change")?;
    }
    Ok(())
}

/// The `<duration>` of `node` in quarter notes.
fn duration_of(node: Node<'_, '_>, state: &PartState) -> std::result::Result<Rational64, Reason> {
    let tag = node.tag_name().name();
    let text = child_text(node, "duration").ok_or_else(|| format!("<{tag}> has no <duration>"))?;
    let count =
        decimal(text).ok_or_else(|| format!("<{tag}> <duration> {text:?} is not a number"))?;
    if count < Rational64::zero() {
        return Err(format!("<{tag}> <duration> {text:?} is negative"));
    }
    let divisions = state
        .divisions
        .ok_or_else(|| format!("<{tag}> has a <duration> before any <divisions>"))?;
    checked(count.checked_div(&divisions))
}

/// The MIDI number of a `<pitch>` element (before transposition).
fn midi_of(pitch: Node<'_, '_>) -> std::result::Result<i32, Reason> {
    let step = child_text(pitch, "step").ok_or("<pitch> has no <step>")?;
    let class = match step.trim() {
        "C" => 0,
        "D" => 2,
        "E" => 4,
        "F" => 5,
        "G" => 7,
        "A" => 9,
        "B" => 11,
        other => return Err(format!("<step> {other:?} is not A-G")),
    };
    let octave_text = child_text(pitch, "octave").ok_or("<pitch> has no <octave>")?;
    let octave = octave_text
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|o| (0..=9).contains(o))
        .ok_or_else(|| format!("<octave> {octave_text:?} is not in 0..=9"))?;
    let alter = match child_text(pitch, "alter") {
        None => 0,
        Some(text) => decimal(text)
            .and_then(|a| a.round().to_integer().to_i32())
            .filter(|a| a.abs() <= 2)
            .ok_or_else(|| format!("<alter> {text:?} is not in -2..=2"))?,
    };
    Ok(12 * (octave + 1) + class + alter)
}

/// A decimal number (`12`, `-1`, `0.5`) as an exact fraction; at most 12 digits before the
/// point, 6 after it.
fn decimal(text: &str) -> Option<Rational64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() > 12
        || fraction.len() > 6
        || (whole.is_empty() && fraction.is_empty())
        || !all_digits(whole)
        || !all_digits(fraction)
    {
        return None;
    }
    let mut numer: i64 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        numer = numer * 10 + i64::from(b - b'0');
    }
    let denom = 10_i64.pow(fraction.len() as u32);
    let value = Rational64::new(numer, denom);
    Some(if negative { -value } else { value })
}

fn add(a: Rational64, b: Rational64, origin: &Path, what: &str) -> Result<Rational64> {
    a.checked_add(&b)
        .ok_or_else(|| Error::format(origin, what, "time arithmetic overflows"))
}

fn checked(value: Option<Rational64>) -> std::result::Result<Rational64, Reason> {
    value.ok_or_else(|| "time arithmetic overflows".to_owned())
}

fn has_child(node: Node<'_, '_>, name: &str) -> bool {
    node.children().any(|n| n.has_tag_name(name))
}

fn child_text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal("12"), Some(Rational64::from_integer(12)));
        assert_eq!(decimal(" 0.5 "), Some(Rational64::new(1, 2)));
        assert_eq!(decimal("-1"), Some(Rational64::from_integer(-1)));
        assert_eq!(decimal(".25"), Some(Rational64::new(1, 4)));
        for bad in ["", ".", "1e3", "1.2.3", "abc", "9999999999999", "0.0000001"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn key_shifts_take_the_signature_to_c() {
        let shift = |fifths| KeySignature { fifths, mode: None }.shift_to_c();
        // G major (1 sharp) up a fourth; F major (1 flat) down a fourth; D major down a tone;
        // E flat major (3 flats) down a minor third; F sharp / G flat major down a tritone.
        assert_eq!(
            [
                shift(0),
                shift(1),
                shift(-1),
                shift(2),
                shift(-3),
                shift(6),
                shift(-6)
            ],
            [0, 5, -5, -2, -3, -6, -6]
        );
        // Every signature lands on C: tonic + shift is 0 mod 12.
        for f in -7..=7i8 {
            assert_eq!((7 * i32::from(f) + shift(f)).rem_euclid(12), 0);
        }
    }
}

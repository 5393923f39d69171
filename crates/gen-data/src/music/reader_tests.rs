//! Tests of the MusicXML reader on the hand-made fixtures of `tests/fixtures/music/` (see the
//! README there), its errors, and a fuzz of mutated and random files.

use super::chorale::{Chorale, read_chorale, score_to_roll};
use super::musicxml::{KeySignature, parse_score, score_from_bytes};
use super::mxl::tests::{container_for, zip_of};
use super::roll::PianoRoll;
use crate::Error;
use num_rational::Rational64;
use proptest::prelude::*;
use std::path::Path;

const FOUR: &str = include_str!("../../tests/fixtures/music/four_parts.musicxml");
const THREE: &str = include_str!("../../tests/fixtures/music/three_parts.musicxml");

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/music")
        .join(name)
}

/// The README's table: sounding pitches per frame, before the shift.
const FOUR_PARTS_FRAMES: [&[u8]; 8] = [
    &[43, 55, 71, 74],
    &[47, 50, 67, 71],
    &[40, 47, 50, 69, 72],
    &[50, 69, 74],
    &[38, 50, 69, 74],
    &[43, 50, 67, 74],
    &[43, 50, 67, 71],
    &[43, 50, 67, 71],
];

fn expected_roll(shift: u8) -> PianoRoll {
    let cells = FOUR_PARTS_FRAMES
        .iter()
        .enumerate()
        .flat_map(|(t, keys)| keys.iter().map(move |&k| (t, k + shift)));
    PianoRoll::from_cells(8, cells).unwrap()
}

fn mxl_of(xml: &str) -> Vec<u8> {
    zip_of(&[
        (
            "META-INF/container.xml",
            container_for("score.xml").as_bytes(),
        ),
        ("score.xml", xml.as_bytes()),
    ])
}

#[test]
fn four_part_fixture_reads_as_the_hand_computed_roll() {
    let path = fixture("four_parts.musicxml");
    let chorale = read_chorale(&path).unwrap();
    assert_eq!(chorale.name, "four_parts.musicxml");
    assert_eq!(
        chorale.key,
        Some(KeySignature {
            fifths: 1,
            mode: Some("major".into())
        })
    );
    // G major moves up a fourth to C major.
    assert_eq!(chorale.shift, 5);
    assert_eq!(chorale.roll, expected_roll(5));

    // The score itself: exact times, the tenor sounding an octave below its written pitch, the
    // tie kept as two notes, the triplet's off-beat notes at 1/3 and 2/3 of a beat.
    let score = parse_score(FOUR, &path).unwrap();
    assert_eq!(score.length, Rational64::from_integer(8));
    let names: Vec<&str> = score.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Soprano", "Alto", "Tenor", "Bass"]);
    let tenor: Vec<i32> = score.parts[2].notes.iter().map(|n| n.midi).collect();
    assert_eq!(tenor, [55, 50, 47, 50]);
    let alto = &score.parts[1].notes;
    assert_eq!(alto[3].midi, 71);
    assert_eq!(alto[3].onset, Rational64::new(5, 3));
    assert_eq!(alto[3].duration, Rational64::new(1, 3));
    assert_eq!(alto[3].measure, "1");
    let soprano_d5: Vec<_> = score.parts[0]
        .notes
        .iter()
        .filter(|n| n.midi == 74)
        .map(|n| (n.onset, n.duration))
        .collect();
    assert_eq!(
        soprano_d5,
        [
            (Rational64::from_integer(0), Rational64::from_integer(1)),
            (Rational64::from_integer(3), Rational64::from_integer(2)),
            (Rational64::from_integer(5), Rational64::from_integer(1)),
        ]
    );
    // Grace notes, cue notes and rests do not sound.
    let counts: Vec<usize> = score.parts.iter().map(|p| p.notes.len()).collect();
    assert_eq!(counts, [6, 7, 4, 5]);
}

#[test]
fn mxl_archive_reads_like_the_plain_file() {
    let plain = read_chorale(&fixture("four_parts.musicxml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bwv0.1.mxl");
    std::fs::write(&path, mxl_of(FOUR)).unwrap();
    let zipped = read_chorale(&path).unwrap();
    assert_eq!(zipped.roll, plain.roll);
    assert_eq!(zipped.name, "bwv0.1.mxl");
}

#[test]
fn three_parts_are_a_score_but_not_a_chorale() {
    let path = fixture("three_parts.musicxml");
    let err = read_chorale(&path).unwrap_err().to_string();
    assert!(
        err.contains("three_parts.musicxml") && err.contains("3 parts, a chorale needs exactly 4"),
        "{err}"
    );
    // D minor (one flat) moves down a fourth to A minor.
    let score = parse_score(THREE, &path).unwrap();
    let shift = score.key.as_ref().unwrap().shift_to_c();
    assert_eq!(shift, -5);
    let roll = score_to_roll(&score, shift, &path).unwrap();
    // A4 F4 D3 / A4 F4 C#3, each down 5.
    let want =
        PianoRoll::from_cells(2, [(0, 64), (0, 60), (0, 45), (1, 64), (1, 60), (1, 44)]).unwrap();
    assert_eq!(roll, want);
}

/// `FOUR` with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> String {
    assert!(FOUR.contains(from), "{from}");
    FOUR.replacen(from, to, 1)
}

#[test]
fn errors_name_the_file_part_and_measure() {
    let origin = Path::new("bwv9.9.mxl");
    let cases = [
        (
            edited(
                "<backup><duration>16</duration>",
                "<backup><duration>20</duration>",
            ),
            "part P3, measure 1: <backup> goes before the start of the measure",
        ),
        (
            edited("<divisions>2</divisions>", ""),
            "part P1, measure 0: <note> has a <duration> before any <divisions>",
        ),
        (
            edited(
                "<step>E</step><octave>2</octave>",
                "<step>H</step><octave>2</octave>",
            ),
            "part P4, measure 1: <step> \"H\" is not A-G",
        ),
        (
            edited(
                "<pitch><step>E</step><octave>2</octave></pitch><duration>2</duration>",
                "<pitch><step>E</step><octave>2</octave></pitch>",
            ),
            "part P4, measure 1: <note> has no <duration>",
        ),
        (
            edited("<duration>18</duration>", "<duration>-18</duration>"),
            "part P2, measure 1: <note> <duration> \"-18\" is negative",
        ),
        (
            edited("<divisions>6</divisions>", "<divisions>0</divisions>"),
            "part P2, measure 0: <divisions> \"0\" is not positive",
        ),
        (
            edited("<fifths>1</fifths>", "<fifths>9</fifths>"),
            "part P1, measure 0: <fifths> \"9\" is not in -7..=7",
        ),
        (
            edited(
                "<score-part id=\"P4\">",
                "<score-part id=\"P5\"><part-name>Horn</part-name></score-part><score-part id=\"P4\">",
            ),
            "part \"P5\": declared in <part-list> but missing",
        ),
        (
            edited("<part id=\"P4\">", "<part id=\"P9\">"),
            "part \"P9\": not declared in <part-list>",
        ),
        (
            edited(
                "<note><rest/><duration>2</duration>",
                "<note><chord/><rest/><duration>2</duration>",
            ),
            "part P4, measure 1: a <chord/> note with no note before it",
        ),
        (
            edited(
                "<step>D</step><octave>5</octave>",
                "<step>D</step><octave>9</octave>",
            ),
            "part P1, measure 0: pitch 122 moved by 5 is 127, off the 88 keys",
        ),
        (
            edited(
                "<step>D</step><octave>5</octave>",
                "<step>D</step><alter>x</alter><octave>5</octave>",
            ),
            "part P1, measure 0: <alter> \"x\" is not in -2..=2",
        ),
        (
            FOUR.replace("score-partwise", "score-timewise"),
            "score-timewise: timewise MusicXML is not supported",
        ),
        (FOUR.replace("</part-list>", ""), "bwv9.9.mxl: XML: "),
    ];
    for (xml, want) in cases {
        let err = score_from_bytes(xml.as_bytes(), origin)
            .and_then(|score| Chorale::from_score("x", &score, origin))
            .unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("bwv9.9.mxl: ") && text.contains(want),
            "want {want:?} in {text}"
        );
    }
}

#[test]
fn extreme_times_are_errors_not_overflows() {
    let origin = Path::new("long.musicxml");
    for (from, to) in [
        (
            "<duration>18</duration>",
            "<duration>999999999999</duration>",
        ),
        (
            "<divisions>6</divisions>",
            "<divisions>0.000001</divisions>",
        ),
        (
            "<forward><duration>6</duration></forward>",
            "<forward><duration>999999999999</duration></forward>",
        ),
    ] {
        let err = score_from_bytes(edited(from, to).as_bytes(), origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("65536 quarter notes"), "{to}: {err}");
    }
}

/// Reading `bytes` either succeeds, with a roll consistent with the score, or gives a format
/// error; it never panics.
fn check_reader(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    let origin = Path::new("fuzz.mxl");
    match score_from_bytes(bytes, origin) {
        Ok(score) => {
            prop_assert!(score.length >= Rational64::from_integer(0));
            match Chorale::from_score("fuzz", &score, origin) {
                Ok(chorale) => {
                    prop_assert_eq!(chorale.roll.view().ncols(), 88);
                    prop_assert!(chorale.roll.frames() as i64 >= score.length.floor().to_integer());
                }
                Err(e) => prop_assert!(matches!(e, Error::Format { .. }), "{:?}", e),
            }
        }
        Err(e) => prop_assert!(matches!(e, Error::Format { .. }), "{:?}", e),
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippets = prop_oneof![
        Just(b"<backup><duration>3</duration></backup>".to_vec()),
        Just(b"<chord/>".to_vec()),
        Just(b"<grace/>".to_vec()),
        Just(b"<divisions>7</divisions>".to_vec()),
        Just(b"</measure><measure>".to_vec()),
        Just(b"9999999".to_vec()),
        Just(b"-".to_vec()),
        Just(b"&amp;".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..6),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Mutation::Flip(at, x)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), snippets).prop_map(|(at, s)| Mutation::Insert(at, s)),
        (any::<usize>(), 1usize..200).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Truncate(at) => bytes.truncate(at % len),
        Mutation::Flip(at, x) => {
            if let Some(b) = bytes.get_mut(at % len) {
                *b ^= x;
            }
        }
        Mutation::Delete(at, n) => {
            let start = (at % len).min(bytes.len());
            let end = (start + n).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Insert(at, snippet) => {
            let at = (at % len).min(bytes.len());
            bytes.splice(at..at, snippet.iter().copied());
        }
        Mutation::Duplicate(at, n) => {
            let start = (at % len).min(bytes.len());
            let end = (start + n).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    /// Robustness: mutated fixtures (plain, zipped after mutating, or the zip itself mutated)
    /// and random bytes never panic; they read or give a format error.
    #[test]
    fn mutated_musicxml_never_panics(
        three: bool,
        zipped: bool,
        mutate_zip: bool,
        mutations in proptest::collection::vec(mutation(), 0..5),
        random in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = if three { THREE } else { FOUR }.as_bytes().to_vec();
        if zipped && mutate_zip {
            bytes = mxl_of(std::str::from_utf8(&bytes).unwrap_or_default());
        }
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if zipped && !mutate_zip {
            bytes = zip_of(&[
                ("META-INF/container.xml", container_for("s.xml").as_bytes()),
                ("s.xml", &bytes),
            ]);
        }
        check_reader(&bytes)?;
        check_reader(&random)?;
        let mut zip_head = b"PK\x03\x04".to_vec();
        zip_head.extend(&random);
        check_reader(&zip_head)?;
    }
}

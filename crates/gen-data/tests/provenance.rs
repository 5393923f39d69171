//! Provenance labels read back by readers that share no code with gen: Pillow, Python's
//! `wave` and `chunk`, and mido read the committed fixtures (see
//! `fixtures/provenance/read_external.py`, which wrote `external.json`), and the first test
//! holds the fixtures equal to what the writers produce today.

use gen_data::audio::wav::write_wav_i16;
use gen_data::music::{MidiOptions, PianoRoll, encode_midi};
use gen_data::provenance::{self, Provenance, TRAINED_ALGORITHMIC_MEDIA};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/provenance")
}

fn record() -> Provenance {
    let mut sampling = BTreeMap::new();
    sampling.insert("num".to_string(), serde_json::json!(12));
    sampling.insert("class".to_string(), serde_json::json!(3));
    Provenance {
        software: "gen 0.1.0".into(),
        source_type: TRAINED_ALGORITHMIC_MEDIA.into(),
        run_id: "fashion-cgan-20261207T010000Z".into(),
        preset: "fashion-cgan".into(),
        seed: 5,
        checkpoint: "last".into(),
        checkpoint_step: 1200,
        checkpoint_sha256: "0123456789abcdef".repeat(4),
        sampling,
        created: "2026-12-07T01:00:00Z".into(),
    }
}

const PIXELS: [u8; 12] = [0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 255];
const SAMPLES: [f32; 6] = [0.0, 0.5, -0.5, 1.0, -1.0, 0.25];

/// The three fixtures as the writers make them today: `(file name, bytes)`.
fn written() -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let p = record();
    let png = provenance::png::encode(
        &PIXELS,
        4,
        3,
        png::ColorType::Grayscale,
        Some(&p),
        Path::new("sample.png"),
    )?;
    let dir = tempfile::tempdir()?;
    let wav_path = dir.path().join("sample.wav");
    write_wav_i16(&wav_path, &SAMPLES, 8_000)?;
    provenance::label_file(&wav_path, &p)?;
    let wav = std::fs::read(&wav_path)?;
    let roll = PianoRoll::from_cells(4, [(0, 60), (1, 60), (2, 64), (3, 67)])?;
    let mid = provenance::midi::label(
        &encode_midi(&roll, &MidiOptions::default())?,
        &p,
        Path::new("sample.mid"),
    )?;
    Ok(vec![
        ("sample.png", png),
        ("sample.wav", wav),
        ("sample.mid", mid),
    ])
}

#[test]
fn the_fixtures_are_what_the_writers_write() -> anyhow::Result<()> {
    let regenerate = std::env::var_os("GEN_WRITE_FIXTURES").is_some();
    for (name, bytes) in written()? {
        let path = fixtures().join(name);
        if regenerate {
            std::fs::write(&path, &bytes)?;
        }
        let committed = std::fs::read(&path)?;
        assert!(
            committed == bytes,
            "{name} differs from the writer's output: regenerate the fixtures and external.json \
             (see read_external.py)"
        );
        // gen's own reader finds the record in each.
        let found = provenance::inspect(&path)?;
        assert_eq!(found.provenance, Some(record()), "{name}");
    }
    Ok(())
}

#[test]
fn external_readers_find_the_label() -> anyhow::Result<()> {
    let ext: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("external.json"))?)?;
    let p = record();
    let pairs: BTreeMap<String, String> = p
        .to_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();

    // Pillow: the XMP's digital source type, the standard keys, every gen:* key, the pixels.
    let png = &ext["png"];
    assert_eq!(png["xmp_digital_source_type"], TRAINED_ALGORITHMIC_MEDIA);
    assert_eq!(png["text"]["Software"], "gen 0.1.0");
    assert_eq!(png["text"]["Comment"], p.comment());
    for (k, v) in &pairs {
        assert_eq!(png["text"][format!("gen:{k}")], v.as_str(), "PNG gen:{k}");
    }
    assert_eq!(png["size"], serde_json::json!([4, 3]));
    assert_eq!(png["pixels"], serde_json::json!(PIXELS));

    // wave opens the labelled file as 8 kHz mono 16-bit audio with every frame; chunk reads
    // the INFO entries.
    let wav = &ext["wav"];
    assert_eq!(
        wav["params"],
        serde_json::json!([1, 2, 8000, SAMPLES.len()])
    );
    assert_eq!(
        wav["frame_bytes"].as_array().map(Vec::len),
        Some(2 * SAMPLES.len())
    );
    assert_eq!(wav["info"]["ISFT"], "gen 0.1.0");
    assert_eq!(wav["info"]["ICRD"], p.created.as_str());
    let icmt = wav["info"]["ICMT"].as_str().unwrap_or_default();
    assert_eq!(Provenance::from_json(icmt, Path::new("ICMT"))?, p);

    // mido: one text event per field, and the notes.
    let midi = &ext["midi"];
    let mut texts: Vec<String> = pairs.iter().map(|(k, v)| format!("gen:{k}={v}")).collect();
    texts.sort();
    let mut got: Vec<String> = midi["texts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    got.sort();
    assert_eq!(got, texts);
    assert_eq!(midi["note_ons"], serde_json::json!([60, 64, 67]));
    Ok(())
}

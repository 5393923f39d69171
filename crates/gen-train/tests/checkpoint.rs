//! Torn and corrupt checkpoints: every damage to either file of the newest generation is
//! detected, and loading falls back to the previous generation with the reason, or fails with
//! an error naming the file; it never panics and never returns the damaged values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

use gen_train::Error;
use gen_train::checkpoint::{self, Loaded};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    step: u64,
    loss: f64,
    history: Vec<f64>,
}

fn state(step: u64) -> State {
    State {
        step,
        loss: 1.0 / (step as f64 + 3.0),
        history: (0..step).map(|i| i as f64 * 0.1).collect(),
    }
}

/// The tensors of generation `step`: values that differ per generation, shapes per `width`.
fn tensors(step: u64, width: i64) -> Vec<(String, Tensor)> {
    let w = Tensor::arange(width * 3, (tch::Kind::Float, tch::Device::Cpu)).view([3, width])
        + step as f64;
    let b = Tensor::full(
        [width],
        step as f64 * 0.5,
        (tch::Kind::Float, tch::Device::Cpu),
    );
    vec![("layer.w".into(), w), ("layer.b".into(), b)]
}

/// Writes generations 1 and 2 of `last` in `dir`.
fn two_generations(dir: &Path, width: i64) {
    for step in [1, 2] {
        checkpoint::save(dir, "last", step, &tensors(step, width), &state(step)).unwrap();
    }
}

/// The outcome of loading: `Some(step)` of the generation loaded (after checking its values
/// are exactly that generation's), or `None` for an error.
fn load_and_check(dir: &Path) -> (Option<u64>, String) {
    match checkpoint::load_verified::<State>(dir, "last") {
        Ok(Loaded {
            tensors: t,
            state: s,
            fallback,
            ..
        }) => {
            let step = s.step;
            assert_eq!(s, state(step), "the state is not generation {step}'s");
            for (name, want) in tensors(step, 4) {
                assert!(t[&name].equal(&want), "{name} is not generation {step}'s");
            }
            (
                Some(step),
                fallback.map(|e| e.to_string()).unwrap_or_default(),
            )
        }
        Err(e) => {
            assert!(
                matches!(e, Error::Checkpoint { .. } | Error::Io { .. }),
                "untyped error: {e}"
            );
            (None, e.to_string())
        }
    }
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_whole_newest_generation_loads_and_the_previous_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    two_generations(dir.path(), 4);
    assert_eq!(load_and_check(dir.path()), (Some(2), String::new()));
    assert!(checkpoint::exists(dir.path(), "last.prev"));
    let (_, prev): (_, State) = checkpoint::load(dir.path(), "last.prev").unwrap();
    assert_eq!(prev, state(1));
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
}

/// One way to damage a file, given its path.
type Damage = Box<dyn Fn(&Path)>;

#[test]
fn every_damage_to_the_newest_generation_falls_back_to_the_previous_one() {
    let other = tempfile::tempdir().unwrap();
    // Another run, with other shapes, at the same step.
    checkpoint::save(other.path(), "last", 2, &tensors(2, 6), &state(2)).unwrap();

    let mut cases = 0;
    for file in ["last.safetensors", "last.json"] {
        let sized = tempfile::tempdir().unwrap();
        two_generations(sized.path(), 4);
        let len = std::fs::metadata(sized.path().join(file)).unwrap().len() as usize;
        let mut damages: Vec<(String, Damage)> = Vec::new();
        for i in 0..10 {
            let at = len * i / 10;
            damages.push((
                format!("truncated to {at} of {len} bytes"),
                Box::new(move |p: &Path| {
                    let bytes = std::fs::read(p).unwrap();
                    std::fs::write(p, &bytes[..at]).unwrap();
                }),
            ));
        }
        // The safetensors header is the JSON after the 8-byte length; the data ends the file.
        damages.push((
            "a flipped header byte".into(),
            Box::new(|p: &Path| flip(p, 12)),
        ));
        damages.push((
            "a flipped data byte".into(),
            Box::new(move |p: &Path| flip(p, len - 3)),
        ));
        damages.push((
            "a flipped middle byte".into(),
            Box::new(move |p: &Path| flip(p, len / 2)),
        ));
        damages.push((
            "deleted".into(),
            Box::new(|p: &Path| std::fs::remove_file(p).unwrap()),
        ));
        let from_other = other.path().join(file);
        damages.push((
            "replaced by another run's".into(),
            Box::new(move |p: &Path| {
                std::fs::copy(&from_other, p).unwrap();
            }),
        ));
        for (what, damage) in &damages {
            let dir = tempfile::tempdir().unwrap();
            two_generations(dir.path(), 4);
            damage(&dir.path().join(file));
            let (step, why) = load_and_check(dir.path());
            assert_eq!(step, Some(1), "{file} {what}: {why}");
            assert!(
                why.contains("last."),
                "{file} {what}: the reason names no file: {why}"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 2 * 15);
}

#[test]
fn with_both_generations_damaged_loading_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    two_generations(dir.path(), 4);
    flip(&dir.path().join("last.safetensors"), 40);
    std::fs::remove_file(dir.path().join("last.prev.json")).unwrap();
    let (step, err) = load_and_check(dir.path());
    assert_eq!(step, None);
    assert!(err.contains("last.safetensors"), "{err}");

    // Both present and both corrupt: the error names both.
    let dir = tempfile::tempdir().unwrap();
    two_generations(dir.path(), 4);
    for name in ["last.safetensors", "last.prev.safetensors"] {
        let p = dir.path().join(name);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    }
    let (step, err) = load_and_check(dir.path());
    assert_eq!(step, None);
    assert!(
        err.contains("no whole checkpoint left")
            && err.contains("last.safetensors")
            && err.contains("last.prev.safetensors"),
        "{err}"
    );
}

#[test]
fn a_torn_newest_generation_is_not_kept_as_the_previous_one() {
    // A crash between the tensor file's rename and the state's leaves a torn `last`. The next
    // save must keep the whole older generation, not the torn pair, as `last.prev`.
    let dir = tempfile::tempdir().unwrap();
    two_generations(dir.path(), 4);
    let torn = dir.path().join("last.safetensors");
    std::fs::copy(dir.path().join("last.prev.safetensors"), &torn).unwrap();
    assert_eq!(load_and_check(dir.path()).0, Some(1));
    checkpoint::save(dir.path(), "last", 3, &tensors(3, 4), &state(3)).unwrap();
    let (_, prev): (_, State) = checkpoint::load(dir.path(), "last.prev").unwrap();
    assert_eq!(prev, state(1));
}

#[test]
fn checkpoints_written_before_the_record_still_load() {
    // `[step, state]` without the file record: the format before verification was added.
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), "last", 2, &tensors(2, 4), &state(2)).unwrap();
    let json = dir.path().join("last.json");
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let old = serde_json::json!([value[0], value[1]]);
    std::fs::write(&json, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    assert_eq!(load_and_check(dir.path()), (Some(2), String::new()));
}

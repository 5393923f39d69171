//! Music: train, evaluate and sample MIDI, WAV and PNG.

use super::*;

#[test]
fn music_trains_evaluates_and_samples_midi_wav_and_png() {
    use gen_data::music::{SynthOptions, load_chorales_from, read_midi, synth::output_len};
    let data = fixtures::music();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut args = vec!["train", "bach-gru", "--out", "music", "--epochs", "2"];
    args.extend_from_slice(fixtures::TINY_BACH_GRU);
    args.extend_from_slice(&["--set", "sample.frames=12", "-q"]);
    let out = run_gen(data.path(), w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(w.join("music/checkpoints/best.safetensors").exists());
    let jsonl = std::fs::read_to_string(w.join("music/metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 2);
    assert!(jsonl.contains("\"val_loss\""), "{jsonl}");

    // The test NLL per frame beside the three baselines.
    let eval = run_gen(data.path(), w, &["evaluate", "--run", "music", "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let coin = 88.0 * std::f64::consts::LN_2;
    assert!(
        (v["baseline_coin_flip"].as_f64().unwrap() - coin).abs() < 1e-9,
        "{v}"
    );
    let nll = v["nll_per_frame"].as_f64().unwrap();
    assert!(nll > 0.0 && nll < 2.0 * coin, "{v}");
    assert!(v["baseline_markov"].as_f64().unwrap() < v["baseline_bernoulli"].as_f64().unwrap());
    assert_eq!(v["test_chorales"], 2.0);
    assert_eq!(v["test_frames"], 48.0);
    // The memorisation audit's headline numbers: one 16-frame window per generated chorale
    // (`sample.frames` = 12 is raised to one window), against the two test chorales' 24 frames.
    for key in [
        "audit_hamming_fraction_below",
        "audit_hamming_mann_whitney_z",
        "audit_copying",
    ] {
        assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key}: {v}");
    }
    let audit = run_gen(
        data.path(),
        w,
        &["audit", "--run", "music", "--num", "5", "--json"],
    );
    assert!(
        matches!(audit.status.code(), Some(0 | 3)),
        "{}",
        stderr(&audit)
    );
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["kind"], "music", "{report}");
    assert_eq!(report["audit"]["window_frames"], 16, "{report}");
    assert_eq!(report["audit"]["test"]["n_generated"], 5, "{report}");
    assert_eq!(report["audit"]["test"]["n_heldout"], 2, "{report}");
    // 6 training chorales of 24 frames: a window at each of frames 0..=8.
    assert_eq!(report["audit"]["train_windows"], 6 * 9, "{report}");
    assert!(image::open(w.join("music/audit/closest-pairs.png")).is_ok());
    let text = run_gen(data.path(), w, &["evaluate", "--run", "music"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for key in [
        "nll_per_frame: ",
        "baseline_bernoulli: ",
        "baseline_markov: ",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }

    // Samples: MIDI, WAV and PNG per chorale, the same for the same seed.
    let sample = |seed: &str, out: &str| {
        run_gen(
            data.path(),
            w,
            &[
                "sample", "--run", "music", "--num", "2", "--seed", seed, "--out", out,
            ],
        )
    };
    let first = sample("3", "a");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(sample("3", "b").status.success());
    let listed = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(listed.lines().count(), 12, "{listed}"); // 2 composed + 2 test, 3 files each
    let synth = SynthOptions::default();
    for i in 0..2 {
        let stem = format!("chorale-seed3-{i}");
        let mid = std::fs::read(w.join("a").join(format!("{stem}.mid"))).unwrap();
        assert_eq!(
            mid,
            std::fs::read(w.join("b").join(format!("{stem}.mid"))).unwrap()
        );
        let midi = read_midi(&w.join("a").join(format!("{stem}.mid"))).unwrap();
        assert!(
            midi.roll.frames() <= 12 && midi.roll.sounding() > 0,
            "{stem}"
        );
        let wav = gen_data::audio::wav::read_wav(&w.join("a").join(format!("{stem}.wav"))).unwrap();
        assert_eq!(wav.samples.len(), output_len(12, &synth), "{stem}");
        let peak = wav.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(
            peak > 0.5 && peak <= synth.peak + 1e-4,
            "{stem}: peak {peak}"
        );
        assert!(image::open(w.join("a").join(format!("{stem}.png"))).is_ok());
    }
    // The test chorales' own renderings: their MIDI holds exactly the chorale's roll.
    let set = load_chorales_from(&data.path().join("bach-chorales")).unwrap();
    for c in &set.test {
        let stem = format!("test-{}", c.name.trim_end_matches(".mxl"));
        let midi = read_midi(&w.join("a").join(format!("{stem}.mid"))).unwrap();
        assert_eq!(midi.roll, c.roll, "{stem}");
        let wav = gen_data::audio::wav::read_wav(&w.join("a").join(format!("{stem}.wav"))).unwrap();
        assert_eq!(wav.samples.len(), output_len(c.roll.frames(), &synth));
    }
    // The report shows the piano-roll that training drew after each epoch.
    let report = run_gen(
        data.path(),
        w,
        &["report", "music", "--out", "music.html", "-q"],
    );
    assert!(report.status.success(), "{}", stderr(&report));
    let html = std::fs::read_to_string(w.join("music.html")).unwrap();
    for epoch in 1..=2 {
        assert!(
            html.contains(&format!("alt=\"samples/roll epoch {epoch}\"")),
            "epoch {epoch}"
        );
    }
    let other = sample("4", "c");
    assert!(other.status.success());
    assert_ne!(
        std::fs::read(w.join("a/chorale-seed3-0.mid")).unwrap(),
        std::fs::read(w.join("c/chorale-seed4-0.mid")).unwrap()
    );
    fails_with(
        &run_gen(
            data.path(),
            w,
            &["sample", "--run", "music", "--class", "1"],
        ),
        &["not conditional"],
    );
}

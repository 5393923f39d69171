//! End to end on a hand-made drums folder: `gen train` of a tiny sound GAN, then
//! `gen sample` (WAVs and a spectrogram grid), `gen evaluate` (FD, inception scores, the
//! audit's headline numbers) and `gen audit`.
//!
//! The fixture: one kit of 18 synthetic 16 kHz one-shots (`common::fixtures::drums`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

mod common;

use common::{TINY_SOUND as TINY, fixtures::drums as fixture, ok, run_gen};
use std::path::Path;

#[test]
fn a_tiny_sound_gan_trains_samples_wavs_and_is_scored() {
    let data = fixture();
    let config = data.path().join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let run = data.path().join("run");
    let run_s = run.to_str().unwrap();
    ok(&run_gen(
        data.path(),
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            run_s,
            "--quiet",
        ],
    ));
    assert!(run.join("spectrogram_norm.json").is_file());
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    for key in [
        "fd",
        "fd_real_vs_real",
        "fd_untrained",
        "inception_score",
        "real_inception_score",
        "real_griffin_lim_inception_score",
        "coverage",
        "evaluator_accuracy",
    ] {
        let v = eval[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite(), "{key} = {v} in {eval}");
    }
    // Inception scores lie in [1, classes].
    let is = eval["real_inception_score"].as_f64().unwrap();
    assert!((1.0..=6.0).contains(&is), "{is}");

    let out = ok(&run_gen(
        data.path(),
        &["sample", "--run", run_s, "--num", "4", "--seed", "3"],
    ));
    let files: Vec<&str> = out.lines().collect();
    assert_eq!(files.len(), 5, "{out}");
    assert!(files[0].ends_with("sample-seed3.png"));
    let png = image::open(files[0]).unwrap();
    // Two by two 16x16 spectrograms with 2-pixel padding.
    assert_eq!((png.width(), png.height()), (38, 38));
    for wav in &files[1..] {
        let mut reader = hound::WavReader::open(wav).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(samples.len(), 16_384);
        // Unclipped: the peak stays below full scale.
        assert!(samples.iter().all(|s| s.unsigned_abs() < 32_767), "{wav}");
    }
    // The same seed gives the same sounds.
    let again = data.path().join("again.png");
    let out2 = ok(&run_gen(
        data.path(),
        &[
            "sample",
            "--run",
            run_s,
            "--num",
            "4",
            "--seed",
            "3",
            "--out",
            again.to_str().unwrap(),
        ],
    ));
    let second: Vec<&str> = out2.lines().collect();
    assert_eq!(
        std::fs::read(files[1]).unwrap(),
        std::fs::read(second[1]).unwrap()
    );

    let out = ok(&run_gen(
        data.path(),
        &["evaluate", "--run", run_s, "--json"],
    ));
    let metrics: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        metrics["fd"], eval["fd"],
        "evaluate repeats the fit's report"
    );

    // The spectrogram grids drawn during training are labelled like `gen sample`'s output,
    // each from the checkpoint of its own epoch: the second epoch's is the final one that
    // `gen sample` read.
    let label = |file: &Path| -> serde_json::Value {
        let out = ok(&run_gen(
            data.path(),
            &["inspect", file.to_str().unwrap(), "--json"],
        ));
        serde_json::from_str(&out).unwrap()
    };
    let sampled = label(Path::new(files[0]));
    let (first, second) = (
        label(&run.join("samples/epoch_001.png")),
        label(&run.join("samples/epoch_002.png")),
    );
    assert_eq!(first["sampling"]["epoch"], 1, "{first}");
    assert_eq!(second["sampling"]["epoch"], 2, "{second}");
    assert_eq!(second["checkpoint"], "last", "{second}");
    assert_eq!(second["checkpoint_sha256"], sampled["checkpoint_sha256"]);
    assert_eq!(second["checkpoint_step"], sampled["checkpoint_step"]);
    assert_ne!(first["checkpoint_sha256"], second["checkpoint_sha256"]);
    assert!(first["checkpoint_step"].as_u64() < second["checkpoint_step"].as_u64());
    // So are the epoch's Griffin-Lim clips of that grid.
    let clip = label(&run.join("samples/clip0_002.wav"));
    assert_eq!(clip["sampling"]["epoch"], 2, "{clip}");
    assert_eq!(clip["checkpoint_sha256"], second["checkpoint_sha256"]);

    // The memorisation audit: the generator's spectrograms against the 18 clips' split.
    let audit = run_gen(
        data.path(),
        &["audit", "--run", run_s, "--num", "8", "--json"],
    );
    assert!(
        matches!(audit.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["kind"], "sound", "{report}");
    for space in ["features", "pixels"] {
        assert_eq!(report["audit"][space]["n_generated"], 8, "{report}");
        assert_eq!(
            report["audit"][space]["n_heldout"], report["heldout"],
            "{report}"
        );
    }
    assert!(report["heldout"].as_u64().unwrap() >= 3, "{report}");
    assert!(run.join("audit/closest-pairs.png").is_file());
    // `gen evaluate` reports its headline numbers (the default 256 spectrograms).
    for key in [
        "audit_features_fraction_below",
        "audit_features_mann_whitney_z",
        "audit_spectrogram_fraction_below",
        "audit_spectrogram_mann_whitney_z",
        "audit_copying",
    ] {
        assert!(
            metrics[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {metrics}"
        );
    }

    // The report plays the last epoch's clips and `gen sample`'s four, and shows the grids.
    let html = data.path().join("report.html");
    ok(&run_gen(
        data.path(),
        &["report", run_s, "--out", html.to_str().unwrap(), "-q"],
    ));
    let html = std::fs::read_to_string(html).unwrap();
    assert_eq!(html.matches("<audio ").count(), 8, "{html}");
    for clip in ["samples/clip0_002", "samples/clip3_002", "sample-seed3-00"] {
        assert!(html.contains(clip), "{clip}");
    }
    assert!(!html.contains("samples/clip0_001"));
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 3);
}

#[test]
fn a_tiny_conditional_sound_gan_makes_the_class_asked_for() {
    let data = fixture();
    let config = data.path().join("tiny-c.toml");
    let conditional = TINY.replace(
        "kind = \"specgan\"",
        "kind = \"conditional_specgan\"\nnum_classes = 6",
    );
    std::fs::write(&config, &conditional).unwrap();
    let run = data.path().join("run");
    let run_s = run.to_str().unwrap();
    let config_s = config.to_str().unwrap();
    ok(&run_gen(
        data.path(),
        &["train", "--config", config_s, "--out", run_s, "--quiet"],
    ));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    // Each class is asked for and scored; the fixture's real test clips are kicks, hi-hats
    // and snares only, so only those have a real accuracy.
    let mut asked = Vec::new();
    for class in ["kick", "snare", "hi-hat", "tom", "cymbal", "clap"] {
        let v = eval[format!("class_{class}_accuracy")].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{class}: {v}");
        asked.push(v);
        let real = eval.get(format!("real_class_{class}_accuracy"));
        assert_eq!(
            real.is_some(),
            ["kick", "snare", "hi-hat"].contains(&class),
            "{class}"
        );
    }
    let min = asked.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(eval["class_accuracy_min"].as_f64().unwrap(), min);

    // A class by name or by index: the same clips, named after the class.
    let by_name = ok(&run_gen(
        data.path(),
        &["sample", "--run", run_s, "--num", "2", "--class", "snare"],
    ));
    let by_name: Vec<&str> = by_name.lines().collect();
    assert!(
        by_name[0].ends_with("sample-seed0-snare.png"),
        "{by_name:?}"
    );
    let other = data.path().join("one.png");
    let by_index = ok(&run_gen(
        data.path(),
        &[
            "sample",
            "--run",
            run_s,
            "--num",
            "2",
            "--class",
            "1",
            "--out",
            other.to_str().unwrap(),
        ],
    ));
    let by_index: Vec<&str> = by_index.lines().collect();
    assert_eq!(
        std::fs::read(by_name[1]).unwrap(),
        std::fs::read(by_index[1]).unwrap()
    );
    // Another class gives other sounds from the same seed.
    let kick = ok(&run_gen(
        data.path(),
        &["sample", "--run", run_s, "--num", "2", "--class", "kick"],
    ));
    let kick: Vec<&str> = kick.lines().collect();
    let audio = |path: &str| -> Vec<i16> {
        let mut reader = hound::WavReader::open(path).unwrap();
        reader.samples::<i16>().map(|s| s.unwrap()).collect()
    };
    assert_ne!(audio(kick[1]), audio(by_name[1]));
    // Unknown names and indices are refused with the classes named.
    for bad in ["cowbell", "6"] {
        let out = run_gen(data.path(), &["sample", "--run", run_s, "--class", bad]);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--class") && (err.contains("clap") || err.contains("0..5")),
            "{err}"
        );
    }
    // A conditional model needs one label per drum class.
    std::fs::write(
        &config,
        conditional.replace("num_classes = 6", "num_classes = 3"),
    )
    .unwrap();
    let bad_run = data.path().join("bad");
    let out = run_gen(
        data.path(),
        &[
            "train",
            "--config",
            config_s,
            "--out",
            bad_run.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("model.num_classes = 3"), "{err}");
}

//! End-to-end tests of the `gen` binary: real runs on a tiny IMDB-format fixture, and every
//! bad-input case exits non-zero with one clear message and no panic or backtrace.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

use std::path::Path;
use std::process::{Command, Output};

fn gen(data_dir: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(args)
        .current_dir(cwd)
        .env("GEN_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the gen binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a clean failure whose message contains every one of `needles`.
fn fails_with(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic:\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from:\n{err}");
    }
}

/// A tiny IMDB in the registry layout (`imdb/{train,test}.csv`): positive reviews use
/// positive words, negative ones negative words.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let imdb = dir.path().join("imdb");
    std::fs::create_dir_all(&imdb).unwrap();
    let good = ["great", "wonderful", "superb", "loved", "brilliant"];
    let bad = ["awful", "boring", "terrible", "hated", "dull"];
    for (file, n) in [("train.csv", 48), ("test.csv", 16)] {
        let mut csv = String::from("text,label\n");
        for i in 0..n {
            let (words, label) = if i % 2 == 0 { (&good, 1) } else { (&bad, 0) };
            let review: Vec<&str> = (0..(3 + i % 5)).map(|k| words[(i + k) % 5]).collect();
            csv.push_str(&format!(
                "\"the movie was {}<br />really\",{label}\n",
                review.join(" ")
            ));
        }
        std::fs::write(imdb.join(file), csv).unwrap();
    }
    dir
}

const TINY: &[&str] = &[
    "--set",
    "model.embedding_dim=8",
    "--set",
    "model.hidden_size=8",
    "--set",
    "trainer.batch_size=8",
    "-q",
];

fn train(data: &Path, cwd: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["train", "imdb-gru", "--out", out, "--epochs", "2"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    gen(data, cwd, &args)
}

#[test]
fn train_resume_and_evaluate_a_tiny_run() {
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let out = train(data.path(), work.path(), "run", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = work.path().join("run");
    for f in [
        "config.toml",
        "metrics.jsonl",
        "metrics.csv",
        "train.log",
        "eval.json",
        "checkpoints/last.safetensors",
        "checkpoints/best.json",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let jsonl = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 2);
    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        resolved.contains("hidden_size = 8") && resolved.contains("keras_epsilon = true"),
        "{resolved}"
    );

    // --json prints exactly one JSON object.
    let eval = gen(
        data.path(),
        work.path(),
        &["evaluate", "--run", "run", "--json"],
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let text = String::from_utf8(eval.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["test_samples"], 16.0);
    assert!(v["test_accuracy"].as_f64().unwrap() <= 1.0);

    // Same seed, same metrics: a second run in another folder logs identical epochs.
    let again = train(data.path(), work.path(), "run2", &[]);
    assert!(again.status.success());
    assert_eq!(
        jsonl,
        std::fs::read_to_string(work.path().join("run2/metrics.jsonl")).unwrap()
    );

    // Resume of a finished run is a no-op that succeeds.
    let resumed = gen(data.path(), work.path(), &["resume", "run", "-q"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    // An existing run folder is never overwritten without --force.
    fails_with(
        &train(data.path(), work.path(), "run", &[]),
        &["already exists", "--force"],
    );
    let forced = train(data.path(), work.path(), "run", &["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));

    // A truncated checkpoint names the file.
    let ckpt = run.join("checkpoints/best.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &bytes[..bytes.len() / 3]).unwrap();
    fails_with(
        &gen(data.path(), work.path(), &["evaluate", "--run", "run"]),
        &["best.safetensors"],
    );
}

#[test]
fn bad_input_gets_one_clear_message() {
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    fails_with(
        &gen(data.path(), w, &["train", "nope"]),
        &["unknown preset `nope`", "imdb-gru"],
    );
    fails_with(
        &gen(data.path(), w, &["train", "--config", "missing.toml"]),
        &["missing.toml"],
    );
    // An unknown key lists the valid keys at that path.
    fails_with(
        &gen(
            data.path(),
            w,
            &["train", "--set", "model.hiden_size=3", "--out", "a"],
        ),
        &["hiden_size", "hidden_size"],
    );
    fails_with(
        &gen(
            data.path(),
            w,
            &["train", "--set", "trainer.epochs=abc", "--out", "b"],
        ),
        &["epochs"],
    );
    fails_with(
        &gen(data.path(), w, &["train", "--set", "model", "--out", "c"]),
        &["key.path=value"],
    );
    // A missing dataset names the fetch command.
    let empty = tempfile::tempdir().unwrap();
    fails_with(
        &gen(empty.path(), w, &["train", "--out", "d", "-q"]),
        &["cargo xtask fetch-data imdb"],
    );
    // A folder that is not a run.
    fails_with(
        &gen(data.path(), w, &["evaluate", "--run", "."]),
        &["not a gen run folder"],
    );
    fails_with(
        &gen(data.path(), w, &["resume", "nowhere"]),
        &["not a gen run folder"],
    );
    // CUDA asked for on a machine without it.
    if !tch::Cuda::is_available() {
        fails_with(
            &gen(data.path(), w, &["train", "--device", "cuda", "--out", "e"]),
            &["cuda"],
        );
    }
    fails_with(
        &gen(data.path(), w, &["train", "--device", "tpu", "--out", "f"]),
        &["tpu"],
    );
}

#[test]
fn presets_and_help_work() {
    let data = fixture();
    let out = gen(data.path(), data.path(), &["presets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("imdb-gru"));
    for cmd in ["train", "resume", "evaluate", "presets", "data"] {
        let out = gen(data.path(), data.path(), &[cmd, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && help.contains("Example"),
            "{cmd}: {help}"
        );
    }
}

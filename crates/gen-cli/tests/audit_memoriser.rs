//! The memorisation audit must be able to fail: a character LM overfitted on a short text is
//! flagged by `gen audit` (exit code 3), and the same model after one epoch is not.
//!
//! The text, `tests/fixtures/overfit-text/`: the first 1,500 characters of each of the four
//! Canterbury texts that `text-char` reads (`head -c 1500 datasets/canterbury/<name>.txt`;
//! public-domain works). `text-char` cuts each 90/5/5 into train, validation and test, so the
//! model sees 5,400 characters; a GRU of 128 units without dropout, 150 epochs over them
//! (sampling from its lowest-training-loss checkpoint), writes training passages back verbatim.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

mod common;

use common::run_gen;
use std::path::Path;

fn corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("canterbury");
    std::fs::create_dir_all(&to).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/overfit-text");
    for name in ["alice29.txt", "asyoulik.txt", "lcet10.txt", "plrabn12.txt"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
    dir
}

/// Trains `text-char` for `epochs` into `out`, audits it and returns (exit code, report).
fn train_and_audit(data: &Path, out: &str, epochs: &str) -> (i32, serde_json::Value) {
    let train = run_gen(
        data,
        &[
            "train",
            "text-char",
            "--out",
            out,
            "-q",
            "--epochs",
            epochs,
            "--set",
            "model.hidden_size=128",
            "--set",
            "model.dropout=0.0",
            "--set",
            "data.seq_len=32",
            "--set",
            "trainer.batch_size=16",
            // The checkpoint that samples is the best by this metric: the training loss, so
            // that it is the most overfitted one (by val_loss it would be an early epoch).
            "--set",
            "trainer.monitor=loss",
        ],
    );
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let audit = run_gen(data, &["audit", "--run", out, "--num", "16", "--json"]);
    let report = serde_json::from_slice(&audit.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&audit.stderr)));
    (audit.status.code().unwrap_or(-1), report)
}

#[test]
fn an_overfitted_language_model_is_flagged_and_a_briefly_trained_one_is_not() {
    let data = corpus();
    let (code, report) = train_and_audit(data.path(), "brief", "1");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["copying"], false, "{report}");

    let (code, report) = train_and_audit(data.path(), "overfit", "150");
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["copying"], true, "{report}");
    let generated = report["generated"]["fraction"].as_f64().unwrap();
    let heldout = report["heldout"]["fraction"].as_f64().unwrap();
    assert!(generated > heldout, "{report}");
    // The longest verbatim span is longer than the 32-character window.
    assert!(
        report["generated"]["longest"]["len"].as_u64().unwrap() > 32,
        "{report}"
    );
}

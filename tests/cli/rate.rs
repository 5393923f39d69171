//! Blind human rating: `gen rate` records choices and summarises them.

use super::*;
use crate::lm::train_lm;

#[test]
fn blind_rating_records_choices_and_summarises() {
    use std::io::Write as _;
    let data = fixtures::text();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    for (name, seed) in [("a", "1"), ("b", "2")] {
        let out = train_lm(data.path(), w, name, seed);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let rate = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gen"))
            .args(args)
            .current_dir(w)
            .env("GEN_DATA_DIR", data.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // "x" is not an answer: asked again. Three rounds: 1, 2, tie.
    let out = rate(
        &["rate", "--runs", "a", "b", "--num", "3", "--seed", "9"],
        "x\n1\n2\n=\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.contains("please answer") && shown.contains("--- 2:"),
        "{shown}"
    );
    assert!(
        !shown.contains("a/") && !shown.contains("run a"),
        "runs are unlabelled"
    );
    let mut reader = csv::Reader::from_path(w.join("ratings.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    // Columns: time, run_a, run_b, round, seed, first, preference, score_a, score_b.
    let other = |x: &str| if x == "a" { "b" } else { "a" };
    assert_eq!(
        &rows[0][6], &rows[0][5],
        "answer 1 prefers the run shown first"
    );
    assert_eq!(
        &rows[1][6],
        other(&rows[1][5]),
        "answer 2 prefers the other"
    );
    assert_eq!(&rows[2][6], "tie");

    // Score mode, stopped early with q: the answered round is kept.
    let out = rate(
        &["rate", "--runs", "a", "b", "--num", "2", "--score"],
        "4\n2\nq\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_gen(data.path(), w, &["rate", "--summary"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.contains("of 2 decided rounds"), "{summary}");
    assert!(summary.contains("scores:"), "{summary}");
    fails_with(
        &run_gen(data.path(), w, &["rate", "--summary", "--out", "none.csv"]),
        &["none.csv"],
    );
}

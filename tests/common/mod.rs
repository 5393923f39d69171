//! What the end-to-end tests of the `gen` binary share: running it, checking a clean failure,
//! the tiny datasets (gen-cli's `tests/common/fixtures.rs`), and the settings that make a
//! tiny IMDB run take a second.

#![allow(dead_code)] // Each test binary uses its own part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

#[path = "../../crates/gen-cli/tests/common/fixtures.rs"]
pub mod fixtures;

pub use fixtures::imdb as fixture;

use std::path::Path;
use std::process::{Command, Output};

pub fn run_gen(data_dir: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(args)
        .current_dir(cwd)
        .env("GEN_DATA_DIR", data_dir)
        // Provenance labels carry this time, so that the same seed writes the same bytes.
        .env("SOURCE_DATE_EPOCH", "1800000000")
        .env_remove("RUST_LOG")
        .output()
        .expect("the gen binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a clean failure whose message contains every one of `needles`.
pub fn fails_with(out: &Output, needles: &[&str]) {
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

pub fn train(data: &Path, cwd: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["train", "imdb-gru", "--out", out, "--epochs", "2", "-q"];
    args.extend_from_slice(fixtures::TINY_IMDB_GRU);
    args.extend_from_slice(extra);
    run_gen(data, cwd, &args)
}

//! The Python that runs `tensorboard_check.py`: shared by gen-log's check of a sample run and
//! gen-cli's check of real runs (which includes this file by its path).
//!
//! It is `python3`, or the one `GEN_TENSORBOARD_PYTHON` names, if it has `tensorboard`
//! (`pip install tensorboard==2.21.0`). Where it lacks it, a check fails if
//! `GEN_REQUIRE_TENSORBOARD=1` (as `.ci/run` sets), and otherwise says it was skipped.

#![allow(dead_code)] // Each test file uses part of it.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// The Python to run, if it has `tensorboard`; an error if it lacks it and it is required.
pub fn python_with_tensorboard() -> anyhow::Result<Option<String>> {
    let python = std::env::var("GEN_TENSORBOARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let import = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output();
    let why = match import {
        Ok(out) if out.status.success() => return Ok(Some(python)),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            stderr.lines().last().unwrap_or_default().to_owned()
        }
        Err(e) => e.to_string(),
    };
    let required = std::env::var("GEN_REQUIRE_TENSORBOARD").is_ok_and(|v| v == "1");
    anyhow::ensure!(
        !required,
        "GEN_REQUIRE_TENSORBOARD=1, but `{python} -c 'import tensorboard'` failed ({why}). \
         Install it (`python3 -m venv target/ci-venv && target/ci-venv/bin/pip install \
         tensorboard==2.21.0`) and set GEN_TENSORBOARD_PYTHON to that python's absolute path"
    );
    // Straight to stderr, past the test harness's capture, so that the skip shows.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: `{python}` has no tensorboard ({why}); set GEN_TENSORBOARD_PYTHON to a \
         Python that has it, or GEN_REQUIRE_TENSORBOARD=1 to make this a failure"
    );
    Ok(None)
}

/// Runs the check `script` (`tensorboard_check.py`) with `python` on `run_dir` and `args`.
pub fn run_check<S: AsRef<OsStr>>(
    python: &str,
    script: &str,
    run_dir: &Path,
    args: &[S],
) -> anyhow::Result<Output> {
    Ok(Command::new(python)
        .arg(script)
        .arg(run_dir)
        .args(args)
        .output()?)
}

/// Passes on the check's output (printed for the test log) when it exited 0 and its summary
/// line reads "N passed, 0 failed": the check ran its comparisons and none failed.
pub fn ensure_passed(out: &Output) -> anyhow::Result<()> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(
        out.status.success(),
        "tensorboard_check.py failed:\n{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    anyhow::ensure!(
        last.ends_with(" passed, 0 failed"),
        "unexpected summary: {last}"
    );
    Ok(())
}

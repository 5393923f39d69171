//! TensorBoard itself reads what gen-log writes: `tests/tensorboard_check.py` loads the sample
//! run (every kind of value, a resume included) with TensorBoard's `EventAccumulator`s and
//! compares tags, steps and values with what was written.
//!
//! It needs a Python with `tensorboard` (`pip install tensorboard==2.21.0`): `python3`, or the
//! one `GEN_TENSORBOARD_PYTHON` names. Where neither has it, the test fails if
//! `GEN_REQUIRE_TENSORBOARD=1` (as `.ci/run` sets), and otherwise says it was skipped.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tensorboard_check.py");

/// The Python to run, if it has `tensorboard`; an error if it lacks it and it is required.
fn python_with_tensorboard() -> anyhow::Result<Option<String>> {
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

#[test]
fn tensorboard_reads_what_gen_writes() -> anyhow::Result<()> {
    let Some(python) = python_with_tensorboard()? else {
        return Ok(());
    };
    let run = tempfile::tempdir()?;
    let want = common::write_sample_run(&run.path().join("tb"));
    let expect = run.path().join("expected.json");
    std::fs::write(&expect, serde_json::to_vec_pretty(&want.to_json())?)?;

    let out = run_check(&python, run.path(), Some(&expect))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(
        out.status.success(),
        "tensorboard_check.py failed:\n{stdout}"
    );
    // The check ran its comparisons: two readers, every kind of value.
    let last = stdout.lines().last().unwrap_or_default();
    anyhow::ensure!(
        last.ends_with(" passed, 0 failed"),
        "unexpected summary: {last}"
    );
    Ok(())
}

#[test]
fn the_check_fails_on_wrong_expectations() -> anyhow::Result<()> {
    let Some(python) = python_with_tensorboard()? else {
        return Ok(());
    };
    let run = tempfile::tempdir()?;
    let mut want = common::write_sample_run(&run.path().join("tb"));
    // One scalar off by one f32 step, and the first text changed.
    let loss = want.scalars.get_mut("loss/train").unwrap();
    loss[0].1 = f32::from_bits(loss[0].1.to_bits() + 1);
    want.text.get_mut("lm/sample").unwrap()[0].1.push('!');
    let expect = run.path().join("expected.json");
    std::fs::write(&expect, serde_json::to_vec(&want.to_json())?)?;

    let out = run_check(&python, run.path(), Some(&expect))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // Each reader reports both differences.
    assert_eq!(stdout.matches("FAIL").count(), 4, "{stdout}");
    assert!(
        stdout.contains("FAIL legacy: scalars loss/train"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL plugin: text lm/sample"), "{stdout}");
    Ok(())
}

fn run_check(
    python: &str,
    run_dir: &Path,
    expect: Option<&Path>,
) -> anyhow::Result<std::process::Output> {
    let mut cmd = Command::new(python);
    cmd.arg(CHECK).arg(run_dir);
    if let Some(expect) = expect {
        cmd.arg("--expect").arg(expect);
    }
    Ok(cmd.output()?)
}

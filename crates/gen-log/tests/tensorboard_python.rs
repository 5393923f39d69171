//! TensorBoard itself reads what gen-log writes: `tests/tensorboard_check.py` loads the sample
//! run (every kind of value, a resume included) with TensorBoard's `EventAccumulator`s and
//! compares tags, steps and values with what was written.
//!
//! It needs a Python with `tensorboard` (`pip install tensorboard==2.21.0`): `python3`, or the
//! one `GEN_TENSORBOARD_PYTHON` names. Where neither has it, the test fails if
//! `GEN_REQUIRE_TENSORBOARD=1` (as `.ci/run` sets), and otherwise says it was skipped.

mod common;

use common::python::python_with_tensorboard;
use std::path::Path;

const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tensorboard_check.py");

#[test]
fn tensorboard_reads_what_gen_writes() -> anyhow::Result<()> {
    let Some(python) = python_with_tensorboard()? else {
        return Ok(());
    };
    let run = tempfile::tempdir()?;
    let want = common::write_sample_run(&run.path().join("tb"));
    let expect = run.path().join("expected.json");
    std::fs::write(&expect, serde_json::to_vec_pretty(&want.to_json())?)?;

    // The check runs its comparisons: two readers, every kind of value.
    common::python::ensure_passed(&run_check(&python, run.path(), Some(&expect))?)
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
    let mut args = Vec::new();
    if let Some(expect) = expect {
        args.extend([Path::new("--expect"), expect]);
    }
    common::python::run_check(python, CHECK, run_dir, &args)
}

/// A run as gen's trainer logs it: each epoch's metrics at its step, a grid per epoch, one
/// clip, the config; and its `metrics.jsonl`, with `loss` at step 20 as `loss_20`.
fn write_epoch_run(dir: &Path, loss_20: f64) -> anyhow::Result<()> {
    let mut tb = gen_log::tensorboard::TbWriter::create(dir.join("tb"))?;
    tb.text_verbatim("config", 0, common::CONFIG_TOML)?;
    let mut jsonl = String::new();
    for (epoch, step, loss, val_loss) in [(1, 10, 0.75, 0.8125), (2, 20, 0.1, 0.3)] {
        tb.scalar("loss", step, loss as f32)?;
        tb.scalar("val_loss", step, val_loss as f32)?;
        tb.image_png("samples/epoch", step, &common::png_rgb(4, 4, step as u8))?;
        let loss = if step == 20 { loss_20 } else { loss };
        jsonl.push_str(&format!(
            "{{\"epoch\":{epoch},\"step\":{step},\"loss\":{loss},\"val_loss\":{val_loss}}}\n"
        ));
    }
    tb.audio_samples("samples/clip0", 20, &common::sine(100, 440.0, 8000), 8000)?;
    tb.flush()?;
    std::fs::write(dir.join("metrics.jsonl"), jsonl)?;
    Ok(())
}

/// `--metrics`, `--each-epoch` and `--require` check a run folder against its
/// `metrics.jsonl` and the media it must have; each difference fails, in both readers.
#[test]
fn the_check_compares_a_run_with_its_metrics_and_media() -> anyhow::Result<()> {
    let Some(python) = python_with_tensorboard()? else {
        return Ok(());
    };
    let check = |loss_20: f64, extra: &[&str]| -> anyhow::Result<(Option<i32>, String)> {
        let run = tempfile::tempdir()?;
        write_epoch_run(run.path(), loss_20)?;
        let metrics = run.path().join("metrics.jsonl");
        let mut args = vec!["--metrics", metrics.to_str().unwrap_or_default()];
        args.extend_from_slice(extra);
        let out = common::python::run_check(&python, CHECK, run.path(), &args)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        Ok((
            out.status.code(),
            format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)),
        ))
    };
    let (code, stdout) = check(
        0.1,
        &[
            "--each-epoch",
            "images:samples/epoch",
            "--require",
            "audio:samples/clip0",
            "--require",
            "text:config",
        ],
    )?;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");

    // 0.1000001 is another f32 than 0.1; the clip is missing at step 10; no text sample.
    let (code, stdout) = check(
        0.1000001,
        &[
            "--each-epoch",
            "audio:samples/clip0",
            "--require",
            "text:samples/text",
        ],
    )?;
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(stdout.matches("FAIL").count(), 6, "{stdout}");
    for reader in ["legacy", "plugin"] {
        for needle in [
            "scalar loss:",
            "audio 'samples/clip0' at steps [20]",
            "no text 'samples/text'",
        ] {
            assert!(
                stdout.contains(&format!("FAIL {reader}: {needle}")),
                "{needle}: {stdout}"
            );
        }
    }
    Ok(())
}

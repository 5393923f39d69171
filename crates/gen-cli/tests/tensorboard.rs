//! A fresh run of each preset family, trained tiny through the `gen` binary on the fixtures,
//! writes event files that TensorBoard reads: gen-log's `tensorboard_check.py` loads each
//! run's `tb/` with TensorBoard's two `EventAccumulator`s and checks that every metric of
//! `metrics.jsonl` is a scalar at its epoch's step with its value, that the learning rate and
//! the step time are logged every epoch, that the resolved config is there as text, and the
//! family's media at every epoch: sample grids (GAN, sound), trajectory overlays, piano-rolls,
//! audio clips (sound) and generated text (language model). Those media carry the provenance
//! label of the epoch that drew them.
//!
//! The check needs a Python with `tensorboard` (`pip install tensorboard==2.21.0`): `python3`,
//! or the one `GEN_TENSORBOARD_PYTHON` names. Where neither has it, each test fails if
//! `GEN_REQUIRE_TENSORBOARD=1` (as `.ci/run` sets), and otherwise trains, reads the tags
//! back with gen-log's own reader, and says that TensorBoard's check was skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

mod common;

use common::tb_python::{ensure_passed, python_with_tensorboard, run_check};
use common::{TINY_SOUND, fixtures, ok, run_gen};
use gen_log::tensorboard::TbRun;
use std::path::Path;

const CHECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../gen-log/tests/tensorboard_check.py"
);

/// What every run logs besides its metrics: the config, and each epoch's step time.
const EVERY_RUN: &[&str] = &[
    "--require",
    "text:config",
    "--each-epoch",
    "scalars:step_seconds",
];

/// Trains `args` (two epochs) with the datasets of `data` into `run`, then checks its `tb/`
/// against its `metrics.jsonl`, asking for `media` (`--each-epoch`/`--require KIND:TAG`).
fn train_and_check(data: &Path, args: &[&str], media: &[&str]) -> anyhow::Result<()> {
    let python = python_with_tensorboard()?;
    let run = data.join("run");
    let run_s = run.to_str().unwrap();
    let mut train = vec!["train"];
    train.extend_from_slice(args);
    train.extend_from_slice(&["--out", run_s, "--quiet"]);
    ok(&run_gen(data, &train));
    let jsonl = std::fs::read_to_string(run.join("metrics.jsonl"))?;
    assert_eq!(jsonl.lines().count(), 2, "two epochs: {jsonl}");
    // gen-log's reader (every checksum verified) finds each tag asked for, with or without
    // Python.
    let tb = TbRun::read(run.join("tb"))?;
    for spec in media
        .iter()
        .chain(EVERY_RUN)
        .filter(|a| !a.starts_with("--"))
    {
        let (kind, tag) = spec.split_once(':').unwrap();
        let logged = match kind {
            "scalars" => tb.scalars.get(tag).map(Vec::len),
            "images" => tb.images.get(tag).map(Vec::len),
            "audio" => tb.audio.get(tag).map(Vec::len),
            _ => tb.text.get(tag).map(Vec::len),
        };
        assert!(
            logged.unwrap_or(0) > 0,
            "no {kind} {tag} in {}",
            run.display()
        );
    }
    let Some(python) = python else {
        return Ok(());
    };

    let metrics = run.join("metrics.jsonl");
    let mut check = vec!["--metrics", metrics.to_str().unwrap()];
    check.extend_from_slice(EVERY_RUN);
    check.extend_from_slice(media);
    ensure_passed(&run_check(&python, CHECK, &run, &check)?)
}

/// The second (last) epoch's sample `file` of the run in `data` carries its provenance
/// label: drawn by training at epoch 2, from the `last` checkpoint.
fn labelled(data: &Path, file: &str) -> anyhow::Result<()> {
    let path = data.join("run").join(file);
    let out = ok(&run_gen(
        data,
        &["inspect", path.to_str().unwrap(), "--json"],
    ));
    let label: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(label["sampling"]["epoch"], 2, "{file}: {label}");
    assert_eq!(
        label["sampling"]["written_by"], "training",
        "{file}: {label}"
    );
    assert_eq!(label["checkpoint"], "last", "{file}: {label}");
    Ok(())
}

#[test]
fn a_gan_run_logs_its_metrics_grids_and_both_learning_rates() -> anyhow::Result<()> {
    let data = fixtures::images();
    let mut args = vec!["mnist-dcgan", "--epochs", "2"];
    args.extend_from_slice(fixtures::TINY_DCGAN);
    let media = [
        "--each-epoch",
        "images:samples/epoch",
        "--each-epoch",
        "images:samples/interp",
        "--require",
        "images:samples/real",
        // The generator's optimiser, then the discriminator's.
        "--each-epoch",
        "scalars:lr/0",
        "--each-epoch",
        "scalars:lr/1",
    ];
    train_and_check(data.path(), &args, &media)
}

#[test]
fn a_classifier_run_logs_its_metrics_and_learning_rate() -> anyhow::Result<()> {
    let data = fixtures::imdb();
    let mut args = vec!["imdb-gru", "--epochs", "2"];
    args.extend_from_slice(fixtures::TINY_IMDB_GRU);
    train_and_check(data.path(), &args, &["--each-epoch", "scalars:lr"])
}

#[test]
fn a_language_model_run_logs_generated_text() -> anyhow::Result<()> {
    let data = fixtures::text();
    let mut args = vec!["text-char", "--epochs", "2"];
    args.extend_from_slice(fixtures::TINY_CHAR_LM);
    let media = [
        "--each-epoch",
        "text:samples/text",
        "--each-epoch",
        "scalars:lr",
    ];
    train_and_check(data.path(), &args, &media)?;
    labelled(data.path(), "samples/text_002.txt")
}

#[test]
fn a_trajectory_run_logs_overlays_of_drawn_trajectories() -> anyhow::Result<()> {
    let data = fixtures::lasa();
    let args = [
        "lasa-traj",
        "--epochs",
        "2",
        "--set",
        "model.hidden_size=8",
        "--set",
        "model.num_components=2",
        "--set",
        "model.length=16",
        "--set",
        "model.gru.num_layers=1",
        "--set",
        "trainer.batch_size=4",
        "--set",
        "epoch_repeats=1",
        "--set",
        "eval.samples=2",
        // The preset draws its overlay every 10 epochs (and at the last).
        "--set",
        "trainer.samples_every=1",
    ];
    let media = [
        "--each-epoch",
        "images:samples/trajectories",
        "--each-epoch",
        "scalars:lr",
    ];
    train_and_check(data.path(), &args, &media)?;
    labelled(data.path(), "samples/trajectories_002.png")
}

#[test]
fn a_music_run_logs_a_piano_roll_per_epoch() -> anyhow::Result<()> {
    let data = fixtures::music();
    let mut args = vec!["bach-gru", "--epochs", "2"];
    args.extend_from_slice(fixtures::TINY_BACH_GRU);
    let media = [
        "--each-epoch",
        "images:samples/roll",
        "--each-epoch",
        "scalars:lr",
    ];
    train_and_check(data.path(), &args, &media)?;
    labelled(data.path(), "samples/roll_002.png")
}

#[test]
fn a_sound_run_logs_spectrogram_grids_and_audio_clips() -> anyhow::Result<()> {
    let data = fixtures::drums();
    let config = data.path().join("tiny.toml");
    std::fs::write(&config, TINY_SOUND)?;
    let args = ["--config", config.to_str().unwrap()];
    let media = [
        "--each-epoch",
        "images:samples/epoch",
        // The first four spectrograms of the 2x2 grid, as heard.
        "--each-epoch",
        "audio:samples/clip0",
        "--each-epoch",
        "audio:samples/clip3",
        "--each-epoch",
        "scalars:lr/0",
    ];
    train_and_check(data.path(), &args, &media)?;
    labelled(data.path(), "samples/clip0_002.wav")
}

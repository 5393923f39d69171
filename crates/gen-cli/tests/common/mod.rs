//! What gen-cli's end-to-end tests share: running the `gen` binary on a dataset folder, the
//! tiny datasets ([`fixtures`]), and the Python that runs TensorBoard's readers
//! ([`tb_python`], gen-log's).

#![allow(dead_code)] // Each test binary uses its own part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

pub mod fixtures;

#[path = "../../../gen-log/tests/common/python.rs"]
pub mod tb_python;

use std::path::Path;
use std::process::{Command, Output};

/// A sound GAN's config for [`fixtures::drums`], the preset shrunk: 16x16 spectrograms (the
/// lowest 16 bins, the first 16 frames), width 4, 10 Griffin-Lim iterations, a 16x16
/// evaluator, two epochs.
pub const TINY_SOUND: &str = r#"
kind = "sound-gan"
[spectrogram]
size = 16
[spectrogram.griffin_lim]
iterations = 10
[model]
kind = "specgan"
image_size = 16
latent_dim = 8
[model.specgan]
dim = 4
[gan.samples]
rows = 2
columns = 2
interp_rows = 1
interp_steps = 2
[trainer]
epochs = 2
batch_size = 8
[eval.evaluator]
min_steps = 20
batch_size = 8
augment_shift = 1
[eval.evaluator.model]
image_size = 16
input_pool = 1
conv1_channels = 4
conv2_channels = 8
feature_dim = 8
num_classes = 6
"#;

/// Runs `gen args` in `data_dir`, reading its datasets from there.
pub fn run_gen(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(args)
        .current_dir(data_dir)
        .env("GEN_DATA_DIR", data_dir)
        // Provenance labels carry this time, so that the same seed writes the same bytes.
        .env("SOURCE_DATE_EPOCH", "1800000000")
        .env_remove("GEN_CACHE_DIR")
        .env_remove("RUST_LOG")
        .output()
        .expect("the gen binary runs")
}

/// Asserts that `gen` succeeded; its stdout.
pub fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gen failed:\n{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

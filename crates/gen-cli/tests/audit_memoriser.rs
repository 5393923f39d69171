//! The memorisation audit must be able to fail: a character LM overfitted on a short text and a
//! GAN trained on 64 images until it copies them are flagged by `gen audit` (exit code 3), and
//! the same models briefly trained are not.
//!
//! The text, `tests/fixtures/overfit-text/`: the first 1,500 characters of each of the four
//! Canterbury texts that `text-char` reads (`head -c 1500 datasets/canterbury/<name>.txt`;
//! public-domain works). `text-char` cuts each 90/5/5 into train, validation and test, so the
//! model sees 5,400 characters; a GRU of 128 units without dropout, 150 epochs over them
//! (sampling from its lowest-training-loss checkpoint), writes training passages back verbatim.
//!
//! The images, `tests/fixtures/memorise-mnist/`: 64 real MNIST training digits and 500 held-out
//! test digits (see its README). A small conditional DCGAN (widths 16, Adam lr 1e-3) makes
//! 1,920 steps over the 64 and reproduces some of them; the audit compares its samples' nearest
//! training distances with the 500 test digits'.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

mod common;

use common::run_gen;
use std::path::Path;

/// Trains with `args` into `out`, audits the run with `--num num` and returns (exit code,
/// report).
fn train_and_audit_with(
    data: &Path,
    out: &str,
    args: &[&str],
    num: &str,
) -> (i32, serde_json::Value) {
    let train = run_gen(data, &[&["train", "--out", out, "-q"], args].concat());
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let audit = run_gen(data, &["audit", "--run", out, "--num", num, "--json"]);
    let report = serde_json::from_slice(&audit.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&audit.stderr)));
    (audit.status.code().unwrap_or(-1), report)
}

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
    let args = [
        "text-char",
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
    ];
    train_and_audit_with(data, out, &args, "16")
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

/// `mnist/` holding the fixture's 64 training digits, each 32 times (so that an epoch is 32
/// steps and the per-epoch work is amortised), and its 500 test digits.
fn memorise_mnist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("mnist");
    std::fs::create_dir_all(&to).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/memorise-mnist");
    let images = gen_data::idx::read_idx_images(from.join("train-images-idx3-ubyte.gz")).unwrap();
    let labels = gen_data::idx::read_idx_labels(from.join("train-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(images.shape(), [64, 28, 28]);
    let views = vec![images.view(); 32];
    let label_views = vec![labels.view(); 32];
    let images = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    let labels = ndarray::concatenate(ndarray::Axis(0), &label_views).unwrap();
    gen_data::idx::write_idx_images(to.join("train-images-idx3-ubyte"), &images).unwrap();
    gen_data::idx::write_idx_labels(to.join("train-labels-idx1-ubyte"), &labels).unwrap();
    let test = gen_data::idx::read_idx_images(from.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let test_labels =
        gen_data::idx::read_idx_labels(from.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(test.shape(), [500, 28, 28]);
    gen_data::idx::write_idx_images(to.join("t10k-images-idx3-ubyte"), &test).unwrap();
    gen_data::idx::write_idx_labels(to.join("t10k-labels-idx1-ubyte"), &test_labels).unwrap();
    dir
}

#[test]
fn a_gan_trained_on_64_images_until_it_copies_them_is_flagged_and_a_brief_one_is_not() {
    let data = memorise_mnist();
    let gan = |epochs: &'static str| {
        vec![
            "mnist-dcgan",
            "--epochs",
            epochs,
            "--set",
            "model.dcgan.ngf=16",
            "--set",
            "model.dcgan.ndf=16",
            "--set",
            "gan.optimizer_g.lr=0.001",
            "--set",
            "gan.optimizer_d.lr=0.001",
            "--set",
            "gan.ema_decay=0.99",
            "--set",
            "data.valid=16",
            "--set",
            "trainer.samples_every=1000",
            "--set",
            "eval.n=200",
            "--set",
            "eval.evaluator.min_steps=50",
            "--set",
            "eval.evaluator.epochs=1",
        ]
    };
    let (code, report) = train_and_audit_with(data.path(), "brief", &gan("1"), "500");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["audit"]["copying"], false, "{report}");

    let (code, report) = train_and_audit_with(data.path(), "copier", &gan("60"), "500");
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["audit"]["copying"], true, "{report}");
    // Many more generated digits sit within the held-out 5th percentile of a training digit
    // (pixel space) than the 5% of real test digits that do by definition.
    let pixels = &report["audit"]["pixels"];
    assert!(
        pixels["fraction_below"].as_f64().unwrap() > 0.12,
        "{report}"
    );
    // The closest pair is closer than 95% of held-out digits are to a training digit.
    let closest = report["audit"]["closest"][0]["distance"].as_f64().unwrap();
    assert!(closest < pixels["threshold"].as_f64().unwrap(), "{report}");
}

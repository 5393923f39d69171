//! End-to-end tests of the `gen` binary: real runs on a tiny IMDB-format fixture, and every
//! bad-input case exits non-zero with one clear message and no panic or backtrace.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

mod common;

use common::fixtures::{TINY_DCGAN, TINY_IMDB_GRU};
use common::{fails_with, fixture, fixtures, run_gen, stderr, train};
use std::path::Path;
use std::process::{Command, Output};

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
    // Training and the test evaluation after it parse the reviews once.
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert_eq!(log.matches("gen::classifier: loaded").count(), 1, "{log}");
    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        resolved.contains("hidden_size = 8") && resolved.contains("keras_epsilon = true"),
        "{resolved}"
    );

    // --json prints exactly one JSON object.
    let eval = run_gen(
        data.path(),
        work.path(),
        &["evaluate", "--run", "run", "--json"],
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let text = String::from_utf8(eval.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["test_samples"], 16.0);
    assert!(v["test_accuracy"].as_f64().unwrap() <= 1.0);
    // A classifier generates nothing, so there is no audit.
    assert!(v.get("audit_copying").is_none(), "{v}");

    // Same seed, same metrics: a second run in another folder logs identical epochs.
    let again = train(data.path(), work.path(), "run2", &[]);
    assert!(again.status.success());
    assert_eq!(
        jsonl,
        std::fs::read_to_string(work.path().join("run2/metrics.jsonl")).unwrap()
    );

    // Resume of a finished run is a no-op that succeeds.
    let resumed = run_gen(data.path(), work.path(), &["resume", "run", "-q"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    // An existing run folder is never overwritten without --force.
    fails_with(
        &train(data.path(), work.path(), "run", &[]),
        &["already exists", "--force"],
    );
    let forced = train(data.path(), work.path(), "run", &["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));

    // A run folder that another process trains in (here: this test, holding its lock) is
    // refused, by resume and by a forced train alike, and nothing in it is touched.
    let held = std::fs::File::open(run.join(".lock")).unwrap();
    fs4::FileExt::try_lock(&held).unwrap();
    let before = std::fs::read(run.join("checkpoints/last.json")).unwrap();
    let busy = ["in use by another gen process", "run"];
    fails_with(
        &run_gen(data.path(), work.path(), &["resume", "run", "-q"]),
        &busy,
    );
    fails_with(&train(data.path(), work.path(), "run", &["--force"]), &busy);
    assert_eq!(
        before,
        std::fs::read(run.join("checkpoints/last.json")).unwrap()
    );
    drop(held);

    // A truncated checkpoint with no previous generation to fall back to names the file.
    let ckpt = run.join("checkpoints/best.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &bytes[..bytes.len() / 3]).unwrap();
    for prev in ["best.prev.json", "best.prev.safetensors"] {
        let _ = std::fs::remove_file(run.join("checkpoints").join(prev));
    }
    fails_with(
        &run_gen(data.path(), work.path(), &["evaluate", "--run", "run"]),
        &["best.safetensors"],
    );
}

#[test]
fn nproc_per_node_trains_on_two_ranks() {
    // Each rank is a `gen resume` of the folder the launcher made: only rank 0 takes its lock
    // (rank 1 once found it taken and failed).
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let out = train(data.path(), work.path(), "two", &["--nproc-per-node", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = work.path().join("two");
    assert!(run.join("checkpoints/last.safetensors").exists());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
}

#[test]
fn bad_input_gets_one_clear_message() {
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    fails_with(
        &run_gen(data.path(), w, &["train", "nope"]),
        &["unknown preset `nope`", "imdb-gru"],
    );
    fails_with(
        &run_gen(data.path(), w, &["train", "--config", "missing.toml"]),
        &["missing.toml"],
    );
    // An unknown key lists the valid keys at that path.
    fails_with(
        &run_gen(
            data.path(),
            w,
            &[
                "train",
                "imdb-gru",
                "--set",
                "model.hiden_size=3",
                "--out",
                "a",
            ],
        ),
        &["hiden_size", "hidden_size"],
    );
    fails_with(
        &run_gen(
            data.path(),
            w,
            &["train", "--set", "trainer.epochs=abc", "--out", "b"],
        ),
        &["epochs"],
    );
    fails_with(
        &run_gen(data.path(), w, &["train", "--set", "model", "--out", "c"]),
        &["key.path=value"],
    );
    // A missing dataset names the fetch command.
    let empty = tempfile::tempdir().unwrap();
    fails_with(
        &run_gen(empty.path(), w, &["train", "imdb-gru", "--out", "d", "-q"]),
        &["cargo xtask fetch-data imdb"],
    );
    fails_with(
        &run_gen(empty.path(), w, &["train", "--out", "d2", "-q"]),
        &["cargo xtask fetch-data mnist"],
    );
    // A folder that is not a run.
    fails_with(
        &run_gen(data.path(), w, &["evaluate", "--run", "."]),
        &["not a gen run folder"],
    );
    fails_with(
        &run_gen(data.path(), w, &["resume", "nowhere"]),
        &["not a gen run folder"],
    );
    // CUDA asked for on a machine without it.
    if !tch::Cuda::is_available() {
        fails_with(
            &run_gen(data.path(), w, &["train", "--device", "cuda", "--out", "e"]),
            &["cuda"],
        );
    }
    fails_with(
        &run_gen(data.path(), w, &["train", "--device", "tpu", "--out", "f"]),
        &["tpu"],
    );
}

#[test]
fn presets_and_help_work() {
    let data = fixture();
    let out = run_gen(data.path(), data.path(), &["presets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("imdb-gru"));
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    for preset in [
        "imdb-gru",
        "imdb-lm",
        "text-char",
        "mnist-gan",
        "mnist-dcgan",
        "fashion-dcgan",
        "fashion-cgan",
        "lasa-traj",
        "bach-gru",
    ] {
        assert!(list.contains(preset), "{preset} missing from:\n{list}");
    }
    // The descriptions start in one column, one space after the longest name.
    let columns: Vec<(usize, usize)> = list
        .lines()
        .map(|line| {
            let name = line.split(' ').next().unwrap();
            let rest = &line[name.len()..];
            (name.len(), line.len() - rest.trim_start().len())
        })
        .collect();
    let longest = columns.iter().map(|c| c.0).max().unwrap();
    assert!(
        columns.iter().all(|c| c.1 == longest + 1),
        "misaligned:\n{list}"
    );
    for cmd in [
        "train", "resume", "generate", "sample", "evaluate", "cv", "tune", "rate", "presets",
        "data",
    ] {
        let out = run_gen(data.path(), data.path(), &[cmd, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && help.contains("Example"),
            "{cmd}: {help}"
        );
    }
}

/// `gen presets | head -1`: a reader that goes away ends gen quietly (SIGPIPE), never with a
/// panic about a broken pipe.
#[test]
fn a_closed_stdout_ends_gen_without_a_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_gen"))
        .arg("presets")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

#[test]
fn data_lists_each_dataset_with_its_licence_and_source() {
    let data = fixture();
    let out = run_gen(data.path(), data.path(), &["data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The fixture holds imdb only; every other dataset names its fetch command.
    assert!(
        text.contains("imdb          48 train, 16 test reviews"),
        "{text}"
    );
    let others = [
        "fashion-mnist",
        "mnist",
        "canterbury",
        "fortunes",
        "lasa",
        "bach-chorales",
        "drums",
    ];
    for name in others {
        assert!(
            text.contains(&format!("missing: cargo xtask fetch-data {name}")),
            "{name}: {text}"
        );
    }
    assert_eq!(
        text.matches("licence: ").count(),
        1 + others.len(),
        "{text}"
    );
    assert_eq!(text.matches("source: ").count(), 1 + others.len(), "{text}");
}

const TINY_LM: &[&str] = &[
    "--set",
    "model.embedding_dim=8",
    "--set",
    "model.hidden_size=16",
    "--set",
    "data.seq_len=16",
    "--set",
    "data.valid_fraction=0.2",
    "--set",
    "data.test_fraction=0.2",
    "--set",
    "trainer.batch_size=8",
    "--epochs",
    "1",
    "-q",
];

fn train_lm(data: &Path, cwd: &Path, out: &str, seed: &str) -> Output {
    let mut args = vec!["train", "text-char", "--out", out, "--seed", seed];
    args.extend_from_slice(TINY_LM);
    run_gen(data, cwd, &args)
}

#[test]
fn language_model_trains_generates_and_evaluates() {
    let data = fixtures::text();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = train_lm(data.path(), w, "lm", "0");
    assert!(out.status.success(), "{}", stderr(&out));
    for f in ["vocab.json", "eval.json", "samples/samples.txt"] {
        assert!(w.join("lm").join(f).exists(), "{f} missing");
    }
    let generate = |seed: &str| {
        let out = run_gen(
            data.path(),
            w,
            &[
                "generate",
                "--run",
                "lm",
                "--prompt",
                "Alice",
                "--max-tokens",
                "40",
                "--seed",
                seed,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let a = generate("3");
    assert!(a.starts_with("Alice"), "{a}");
    // 40 characters after the prompt (none of them is a stop token for char models).
    assert_eq!(
        a.trim_end_matches('\n').chars().count(),
        "Alice".len() + 40,
        "{a:?}"
    );
    assert_eq!(a, generate("3"), "the same seed gives the same text");
    // --out writes the samples with a provenance sidecar; the training samples have one too.
    let out = run_gen(
        data.path(),
        w,
        &[
            "generate",
            "--run",
            "lm",
            "--max-tokens",
            "20",
            "--out",
            "s.txt",
            "-q",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(w.join("s.txt.provenance.json").exists());
    for file in ["s.txt", "lm/samples/samples.txt"] {
        let inspect = run_gen(data.path(), w, &["inspect", file, "--json"]);
        assert!(inspect.status.success(), "{file}: {}", stderr(&inspect));
        let p: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(p["run_id"], "lm", "{p}");
        assert_eq!(
            p["checkpoint_sha256"].as_str().map(str::len),
            Some(64),
            "{p}"
        );
    }
    let none = run_gen(data.path(), w, &["inspect", "lm/vocab.json"]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    // The memorisation audit of text runs: verbatim 32-character spans.
    let audit = run_gen(
        data.path(),
        w,
        &["audit", "--run", "lm", "--num", "4", "--json"],
    );
    assert!(
        matches!(audit.status.code(), Some(0 | 3)),
        "{}",
        stderr(&audit)
    );
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["kind"], "text", "{report}");
    assert_eq!(report["generated"]["n"], 32, "{report}");

    let eval = run_gen(data.path(), w, &["evaluate", "--run", "lm", "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let bits = v["test_bits_per_token"].as_f64().unwrap();
    let ppl = v["test_perplexity"].as_f64().unwrap();
    // Perplexity and bits per token measure the same NLL: ppl = 2^bits.
    assert!((ppl - bits.exp2()).abs() < 1e-9 * ppl, "{v}");
    assert!(v["test_unigram_bits_per_token"].as_f64().unwrap() > 0.0);
    // The memorisation audit's headline numbers come with the metrics.
    for key in ["audit_verbatim_fraction", "audit_heldout_verbatim_fraction"] {
        let f = v[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&f), "{key}: {v}");
    }
    assert!(
        matches!(v["audit_copying"].as_f64(), Some(0.0 | 1.0)),
        "{v}"
    );

    // Commands of another kind say what they need.
    fails_with(
        &run_gen(data.path(), w, &["sample", "--run", "lm"]),
        &["language-model run", "image-GAN"],
    );
}

#[test]
fn gan_trains_samples_and_evaluates() {
    let data = fixtures::images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut args = vec![
        "train",
        "mnist-dcgan",
        "--out",
        "gan",
        "--epochs",
        "1",
        "-q",
    ];
    args.extend_from_slice(TINY_DCGAN);
    let out = run_gen(data.path(), w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    for f in [
        "samples/epoch_001.png",
        "samples/interp_001.png",
        "samples/real.png",
    ] {
        assert!(w.join("gan").join(f).exists(), "{f} missing");
    }
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("gan/eval.json")).unwrap()).unwrap();
    for key in [
        "fd",
        "fd_untrained",
        "fd_real_vs_real",
        "coverage",
        "inception_score",
    ] {
        assert!(eval[key].as_f64().unwrap().is_finite(), "{key}: {eval}");
    }
    // The inception score lies in [1, classes] and coverage in [0, classes].
    let is = eval["inception_score"].as_f64().unwrap();
    assert!((1.0 - 1e-9..=10.0).contains(&is), "{eval}");

    let sample = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "sample", "--run", "gan", "--num", "6", "--seed", "5", "--out", out,
        ];
        args.extend_from_slice(extra);
        run_gen(data.path(), w, &args)
    };
    let first = sample("a.png", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(sample("b.png", &[]).status.success());
    let a = std::fs::read(w.join("a.png")).unwrap();
    let pixels = |bytes: &[u8]| {
        image::load_from_memory(bytes)
            .unwrap()
            .to_luma8()
            .into_raw()
    };
    assert_eq!(
        pixels(&a),
        pixels(&std::fs::read(w.join("b.png")).unwrap()),
        "same seed, same grid (the provenance's time may differ)"
    );
    // The grid says where it comes from.
    let inspect = run_gen(data.path(), w, &["inspect", "a.png"]);
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let text = String::from_utf8_lossy(&inspect.stdout);
    for needle in [
        "generated by a model",
        "run_id",
        "gan",
        "checkpoint_sha256",
        "\"num\":6",
        "trainedAlgorithmicMedia",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    // The grids drawn during training carry the same label, from the `last` checkpoint that
    // the trainer wrote just before (after one epoch: the one `gen sample` read).
    let label = |file: &str| -> serde_json::Value {
        let out = run_gen(data.path(), w, &["inspect", file, "--json"]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let sampled = label("a.png");
    for grid in ["gan/samples/epoch_001.png", "gan/samples/interp_001.png"] {
        let p = label(grid);
        assert_eq!(p["sampling"]["epoch"], 1, "{grid}: {p}");
        assert_eq!(p["sampling"]["written_by"], "training", "{grid}: {p}");
        assert_eq!(p["checkpoint"], "last", "{grid}: {p}");
        for key in [
            "run_id",
            "checkpoint_step",
            "checkpoint_sha256",
            "source_type",
        ] {
            assert_eq!(p[key], sampled[key], "{grid}: {key}");
        }
        assert!(image::open(w.join(grid)).is_ok(), "{grid}");
    }
    // The grid of real training images is not generated: no label, exit code 2.
    let none = run_gen(data.path(), w, &["inspect", "gan/samples/real.png"]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    assert!(String::from_utf8_lossy(&none.stdout).contains("no provenance"));
    // The memorisation audit runs and writes its report and the closest pairs.
    let audit = run_gen(
        data.path(),
        w,
        &["audit", "--run", "gan", "--num", "20", "--json"],
    );
    assert!(
        matches!(audit.status.code(), Some(0 | 3)),
        "{}",
        stderr(&audit)
    );
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["kind"], "images", "{report}");
    assert_eq!(report["audit"]["pixels"]["n_generated"], 20, "{report}");
    assert!(w.join("gan/audit/audit.json").exists());
    assert!(w.join("gan/audit/closest-pairs.png").exists());
    // 6 images: a 3x3 grid of 28-pixel tiles with 2-pixel borders.
    let png = image::load_from_memory(&a).unwrap();
    assert_eq!((png.width(), png.height()), (3 * 30 + 2, 2 * 30 + 2));
    // The default preset is class-conditional: --class draws one digit.
    let threes = sample("c.png", &["--class", "3"]);
    assert!(threes.status.success(), "{}", stderr(&threes));
    fails_with(
        &run_gen(data.path(), w, &["generate", "--run", "gan"]),
        &["image-gan run", "language-model"],
    );

    // The conditional model draws the class asked for, and rejects classes it does not have.
    let mut args = vec![
        "train",
        "fashion-cgan",
        "--out",
        "cgan",
        "--epochs",
        "1",
        "-q",
    ];
    args.extend_from_slice(TINY_DCGAN);
    let out = run_gen(data.path(), w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let ok = run_gen(
        data.path(),
        w,
        &["sample", "--run", "cgan", "--class", "3", "--num", "4"],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(w.join("cgan/samples/sample-seed0-class3.png").exists());
    fails_with(
        &run_gen(
            data.path(),
            w,
            &["sample", "--run", "cgan", "--class", "12"],
        ),
        &["--class 12", "0..9"],
    );

    // TensorBoard: the epoch's metrics, its grids and the resolved config.
    let tb = gen_log::tensorboard::TbRun::read(w.join("gan/tb")).unwrap();
    let jsonl = std::fs::read_to_string(w.join("gan/metrics.jsonl")).unwrap();
    let epoch: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&jsonl).unwrap();
    let step = epoch["step"].as_i64().unwrap();
    for (name, value) in epoch.iter().filter(|(k, _)| *k != "epoch" && *k != "step") {
        assert_eq!(
            tb.scalars[name],
            [(step, value.as_f64().unwrap() as f32)],
            "{name}"
        );
    }
    for tag in ["samples/epoch", "samples/interp", "samples/real"] {
        assert_eq!(tb.images[tag].len(), 1, "{tag}");
    }
    // TensorBoard logged the grid as labelled.
    assert_eq!(
        tb.images["samples/epoch"][0].1.png,
        std::fs::read(w.join("gan/samples/epoch_001.png")).unwrap()
    );
    let config = std::fs::read_to_string(w.join("gan/config.toml")).unwrap();
    assert_eq!(
        tb.text["config"][0].1.lines().count(),
        config.lines().count()
    );
    assert!(tb.hparams.unwrap().contains_key("trainer.epochs"));

    // The report of both runs: a chart per metric, the grids embedded.
    let report = run_gen(
        data.path(),
        w,
        &["report", "gan", "cgan", "--out", "both.html"],
    );
    assert!(report.status.success(), "{}", stderr(&report));
    let html = std::fs::read_to_string(w.join("both.html")).unwrap();
    let metrics = epoch.len() - 2;
    assert!(metrics >= 2);
    let charts: std::collections::BTreeSet<_> = epoch
        .keys()
        .filter(|k| *k != "epoch" && *k != "step")
        .map(|k| k.strip_prefix("val_").unwrap_or(k))
        .collect();
    assert_eq!(html.matches("<svg class=\"chart\"").count(), charts.len());
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 6);
    let one = run_gen(data.path(), w, &["report", "gan", "-q"]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert!(w.join("gan/report.html").is_file());
    fails_with(
        &run_gen(data.path(), w, &["report", "nowhere"]),
        &["nowhere", "not a run folder"],
    );
}

/// `gen completions bash` is a script that bash runs: asked to complete `gen rep`, it offers
/// `report`; zsh and fish get theirs.
#[test]
fn completions_complete_the_subcommands() {
    let work = tempfile::tempdir().unwrap();
    let bash = run_gen(work.path(), work.path(), &["completions", "bash"]);
    assert!(bash.status.success(), "{}", stderr(&bash));
    let script = work.path().join("gen.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(gen rep); COMP_CWORD=1; _gen gen rep gen; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "report");
    for shell in ["zsh", "fish"] {
        let out = run_gen(work.path(), work.path(), &["completions", shell]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("report") && text.contains("completions"),
            "{shell}"
        );
    }
    fails_with(
        &run_gen(work.path(), work.path(), &["completions", "tcsh"]),
        &["tcsh"],
    );
}

#[test]
fn cross_validation_and_tuning_run_in_subfolders() {
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut args = vec![
        "cv", "imdb-gru", "--folds", "3", "--epochs", "1", "--out", "cv",
    ];
    args.extend_from_slice(TINY_IMDB_GRU);
    args.push("-q");
    let out = run_gen(data.path(), w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("val_acc") && table.contains("mean"),
        "{table}"
    );
    let cv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("cv/cv.json")).unwrap()).unwrap();
    let folds = cv["per_fold"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    // The mean is the mean of the folds.
    let mean: f64 = folds
        .iter()
        .map(|f| f["val_accuracy"].as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    assert!((cv["mean"]["val_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    for k in 1..=3 {
        assert!(w.join(format!("cv/fold-{k}/metrics.jsonl")).exists());
    }

    let mut args = vec![
        "tune",
        "imdb-gru",
        "--search",
        "optimizer.lr=0.01,0.001",
        "--search",
        "model.hidden_size=4,8",
        "--trials",
        "3",
        "--metric",
        "val_accuracy",
        "--epochs",
        "1",
        "--out",
        "tune",
    ];
    args.extend_from_slice(TINY_IMDB_GRU);
    args.push("-q");
    let out = run_gen(data.path(), w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("optimizer.lr="))
            .count(),
        3,
        "{table}"
    );
    assert!(w.join("tune/trial-003/config.toml").exists());
    assert!(!w.join("tune/trial-004").exists());
    // The best config trains as it is.
    let out = run_gen(
        data.path(),
        w,
        &["train", "--config", "tune/best.toml", "--out", "best", "-q"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A bad key fails before any trial trains.
    fails_with(
        &run_gen(
            data.path(),
            w,
            &[
                "tune",
                "imdb-gru",
                "--search",
                "model.hiden=1,2",
                "--out",
                "t2",
            ],
        ),
        &["hiden", "hidden_size"],
    );
    assert!(!w.join("t2").exists());
    fails_with(
        &run_gen(
            data.path(),
            w,
            &["cv", "mnist-dcgan", "--folds", "2", "--out", "t3"],
        ),
        &["cross-validation"],
    );
}

#[test]
fn sharded_studies_collect_to_the_whole_run_summary() {
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let gen_ok = |args: &[&str]| {
        let out = run_gen(data.path(), w, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let with = |head: &[&'static str], out: &'static str, tail: &[&'static str]| {
        let mut args: Vec<&str> = head.to_vec();
        args.extend_from_slice(&["--out", out]);
        args.extend_from_slice(tail);
        args.extend_from_slice(TINY_IMDB_GRU);
        args.push("-q");
        args
    };
    // Three folds: shard 1/2 trains folds 1 and 3, shard 2/2 fold 2.
    let cv = ["cv", "imdb-gru", "--folds", "3", "--epochs", "1"];
    let whole = gen_ok(&with(&cv, "cv", &[]));
    let first = gen_ok(&with(&cv, "cvs", &["--shard", "1/2"]));
    assert!(first.contains("folds 1, 3 done"), "{first}");
    assert!(w.join("cvs/fold-3/result.json").exists());
    assert!(!w.join("cvs/fold-2").exists());
    // Collecting before every shard is done names the missing fold.
    fails_with(
        &run_gen(data.path(), w, &with(&cv, "cvs", &["--collect"])),
        &["fold 2", "result.json"],
    );
    gen_ok(&with(&cv, "cvs", &["--shard", "2/2"]));
    let collected = gen_ok(&with(&cv, "cvs", &["--collect"]));
    assert_eq!(collected, whole);
    let read = |p: &str| std::fs::read_to_string(w.join(p)).unwrap();
    assert_eq!(read("cvs/cv.json"), read("cv/cv.json"));
    // Collecting with other settings than the shards' is refused.
    let mut other = with(&cv, "cvs", &["--collect"]);
    other.extend_from_slice(&["--set", "optimizer.lr=0.5"]);
    fails_with(&run_gen(data.path(), w, &other), &["another config"]);

    // Four trials of a grid over two shards.
    let tune = [
        "tune",
        "imdb-gru",
        "--search",
        "optimizer.lr=0.01,0.001",
        "--search",
        "model.hidden_size=4,8",
        "--metric",
        "val_accuracy",
        "--epochs",
        "1",
    ];
    let whole = gen_ok(&with(&tune, "tune", &[]));
    let second = gen_ok(&with(&tune, "tunes", &["--shard", "2/2"]));
    assert!(second.contains("trials 2, 4 done"), "{second}");
    gen_ok(&with(&tune, "tunes", &["--shard", "1/2"]));
    let collected = gen_ok(&with(&tune, "tunes", &["--collect"]));
    assert_eq!(collected.replace("tunes/", "tune/"), whole);
    assert_eq!(
        read("tunes/best.toml").replace("tunes/", "tune/"),
        read("tune/best.toml")
    );
    // --collect needs --out, and excludes --shard.
    fails_with(
        &run_gen(data.path(), w, &["cv", "imdb-gru", "--collect"]),
        &["--out"],
    );
    fails_with(
        &run_gen(
            data.path(),
            w,
            &with(&cv, "cvs", &["--collect", "--shard", "1/2"]),
        ),
        &["--shard"],
    );
    fails_with(
        &run_gen(data.path(), w, &with(&cv, "cvx", &["--shard", "3/2"])),
        &["--shard", "3/2"],
    );
}

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

#[test]
fn music_trains_evaluates_and_samples_midi_wav_and_png() {
    use gen_data::music::{SynthOptions, load_chorales_from, read_midi, synth::output_len};
    let data = fixtures::music();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let args = [
        "train",
        "bach-gru",
        "--out",
        "music",
        "--epochs",
        "2",
        "--set",
        "model.hidden_size=8",
        "--set",
        "trainer.batch_size=4",
        "--set",
        "sample.frames=12",
        "-q",
    ];
    let out = run_gen(data.path(), w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(w.join("music/checkpoints/best.safetensors").exists());
    let jsonl = std::fs::read_to_string(w.join("music/metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 2);
    assert!(jsonl.contains("\"val_loss\""), "{jsonl}");

    // The test NLL per frame beside the three baselines.
    let eval = run_gen(data.path(), w, &["evaluate", "--run", "music", "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let coin = 88.0 * std::f64::consts::LN_2;
    assert!(
        (v["baseline_coin_flip"].as_f64().unwrap() - coin).abs() < 1e-9,
        "{v}"
    );
    let nll = v["nll_per_frame"].as_f64().unwrap();
    assert!(nll > 0.0 && nll < 2.0 * coin, "{v}");
    assert!(v["baseline_markov"].as_f64().unwrap() < v["baseline_bernoulli"].as_f64().unwrap());
    assert_eq!(v["test_chorales"], 2.0);
    assert_eq!(v["test_frames"], 48.0);
    // The memorisation audit's headline numbers: one 16-frame window per generated chorale
    // (`sample.frames` = 12 is raised to one window), against the two test chorales' 24 frames.
    for key in [
        "audit_hamming_fraction_below",
        "audit_hamming_mann_whitney_z",
        "audit_copying",
    ] {
        assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key}: {v}");
    }
    let audit = run_gen(
        data.path(),
        w,
        &["audit", "--run", "music", "--num", "5", "--json"],
    );
    assert!(
        matches!(audit.status.code(), Some(0 | 3)),
        "{}",
        stderr(&audit)
    );
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["kind"], "music", "{report}");
    assert_eq!(report["audit"]["window_frames"], 16, "{report}");
    assert_eq!(report["audit"]["test"]["n_generated"], 5, "{report}");
    assert_eq!(report["audit"]["test"]["n_heldout"], 2, "{report}");
    // 6 training chorales of 24 frames: a window at each of frames 0..=8.
    assert_eq!(report["audit"]["train_windows"], 6 * 9, "{report}");
    assert!(image::open(w.join("music/audit/closest-pairs.png")).is_ok());
    let text = run_gen(data.path(), w, &["evaluate", "--run", "music"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for key in [
        "nll_per_frame: ",
        "baseline_bernoulli: ",
        "baseline_markov: ",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }

    // Samples: MIDI, WAV and PNG per chorale, the same for the same seed.
    let sample = |seed: &str, out: &str| {
        run_gen(
            data.path(),
            w,
            &[
                "sample", "--run", "music", "--num", "2", "--seed", seed, "--out", out,
            ],
        )
    };
    let first = sample("3", "a");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(sample("3", "b").status.success());
    let listed = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(listed.lines().count(), 12, "{listed}"); // 2 composed + 2 test, 3 files each
    let synth = SynthOptions::default();
    for i in 0..2 {
        let stem = format!("chorale-seed3-{i}");
        let mid = std::fs::read(w.join("a").join(format!("{stem}.mid"))).unwrap();
        assert_eq!(
            mid,
            std::fs::read(w.join("b").join(format!("{stem}.mid"))).unwrap()
        );
        let midi = read_midi(&w.join("a").join(format!("{stem}.mid"))).unwrap();
        assert!(
            midi.roll.frames() <= 12 && midi.roll.sounding() > 0,
            "{stem}"
        );
        let wav = gen_data::audio::wav::read_wav(&w.join("a").join(format!("{stem}.wav"))).unwrap();
        assert_eq!(wav.samples.len(), output_len(12, &synth), "{stem}");
        let peak = wav.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(
            peak > 0.5 && peak <= synth.peak + 1e-4,
            "{stem}: peak {peak}"
        );
        assert!(image::open(w.join("a").join(format!("{stem}.png"))).is_ok());
    }
    // The test chorales' own renderings: their MIDI holds exactly the chorale's roll.
    let set = load_chorales_from(&data.path().join("bach-chorales")).unwrap();
    for c in &set.test {
        let stem = format!("test-{}", c.name.trim_end_matches(".mxl"));
        let midi = read_midi(&w.join("a").join(format!("{stem}.mid"))).unwrap();
        assert_eq!(midi.roll, c.roll, "{stem}");
        let wav = gen_data::audio::wav::read_wav(&w.join("a").join(format!("{stem}.wav"))).unwrap();
        assert_eq!(wav.samples.len(), output_len(c.roll.frames(), &synth));
    }
    // The report shows the piano-roll that training drew after each epoch.
    let report = run_gen(
        data.path(),
        w,
        &["report", "music", "--out", "music.html", "-q"],
    );
    assert!(report.status.success(), "{}", stderr(&report));
    let html = std::fs::read_to_string(w.join("music.html")).unwrap();
    for epoch in 1..=2 {
        assert!(
            html.contains(&format!("alt=\"samples/roll epoch {epoch}\"")),
            "epoch {epoch}"
        );
    }
    let other = sample("4", "c");
    assert!(other.status.success());
    assert_ne!(
        std::fs::read(w.join("a/chorale-seed3-0.mid")).unwrap(),
        std::fs::read(w.join("c/chorale-seed4-0.mid")).unwrap()
    );
    fails_with(
        &run_gen(
            data.path(),
            w,
            &["sample", "--run", "music", "--class", "1"],
        ),
        &["not conditional"],
    );
}

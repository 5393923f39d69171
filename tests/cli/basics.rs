//! `gen train`, `resume` and `evaluate` on a tiny run, two ranks, bad input, `presets`, `--help`,
//! `data` and shell completions.

use super::*;

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

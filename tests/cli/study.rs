//! Studies: cross-validation, tuning and sharded studies in run subfolders.

use super::*;

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

//! Language models: train, generate and evaluate a tiny character LM.

use super::*;

pub(super) fn train_lm(data: &Path, cwd: &Path, out: &str, seed: &str) -> Output {
    let mut args = vec!["train", "text-char", "--out", out, "--seed", seed];
    args.extend_from_slice(fixtures::TINY_CHAR_LM);
    args.extend_from_slice(&["--epochs", "1", "-q"]);
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

//! The bench's report: a table on stdout and a JSON file.
//!
//! The JSON holds one object per workload name, plus `meta` (date, machine, load):
//!
//! ```json
//! { "meta": {...},
//!   "seed-step": { "unit": "ms", "what": "...", "shape": {...}, "plan": {...},
//!                  "gen":   { "median": 270.1, "samples": [...], "peak_rss_mib": 350.2,
//!                             "version": "...", "metrics": {} },
//!                  "torch": { ..., "settings": [], "reported_settings": {...},
//!                             "trial": false },
//!                  "torch-tuned": { ..., "settings": ["--flush-denormal"], ... },
//!                  "keras": {...}, "keras-tuned": {...},
//!                  "ratio_vs_torch": 0.1, "ratio_vs_torch-tuned": 0.4, ...,
//!                  "fastest_peer": "keras-tuned", "ratio_vs_fastest": 0.6,
//!                  "target": { "ratio_vs_fastest_at_most": 0.7, "met": true,
//!                              "missed_by": 0.0 } } }
//! ```
//!
//! A ratio is gen's median over the peer configuration's: below 1 means gen is faster. The
//! headline is `ratio_vs_fastest`, against the fastest configuration that ran. A workload
//! with a baseline (`ddp-step`) also has gen on another workload as a side, `"gen-seed-step":
//! {..., "baseline": true}`, with its `ratio_vs_gen-seed-step`; it is no peer. A side's
//! `metrics` are the medians of its other figures (`val_accuracy`, `tokens_per_s`).

use super::stats::{median, ratio};
use super::{SideResult, WorkloadResult};
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// When and where the bench ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// UTC start time, RFC 3339.
    pub date: String,
    /// The CPU model.
    pub cpu: String,
    /// CPUs available to the bench (`nproc`).
    pub nproc: usize,
    /// Threads given to every side.
    pub threads: usize,
    /// `--quick`.
    pub quick: bool,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages at the start.
    pub load_start: String,
    /// The same at the end.
    pub load_end: String,
}

/// The number of CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

impl Meta {
    /// The machine and load now.
    pub fn now(threads: usize, quick: bool) -> Meta {
        Meta {
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            cpu: cpu_model(),
            nproc: cpus(),
            threads,
            quick,
            load_start: load_average(),
            load_end: String::new(),
        }
    }

    /// Adds the load at the end.
    pub fn finish(mut self) -> Meta {
        self.load_end = load_average();
        self
    }
}

/// Milliseconds with a precision that suits their size.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "-".into()
    } else if ms >= 1000.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0)
}

/// The peer configurations of a workload: every side after gen but its baseline.
fn peers(r: &WorkloadResult) -> impl Iterator<Item = &SideResult> {
    r.sides.iter().skip(1).filter(|s| !s.baseline)
}

/// The fastest peer configuration of a workload (trials included: every configuration that
/// ran) and its median.
pub fn fastest(r: &WorkloadResult) -> Option<(&SideResult, f64)> {
    peers(r)
        .filter_map(|s| median(&s.samples).map(|m| (s, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// gen's median over the fastest peer configuration's.
fn ratio_vs_fastest(r: &WorkloadResult) -> Option<f64> {
    let r#gen = r.sides.first().and_then(|g| median(&g.samples))?;
    fastest(r).and_then(|(_, m)| ratio(r#gen, m))
}

/// Whether `ratio` meets `target` (at most), and by what fraction it misses it (0 if met).
fn verdict(ratio: f64, target: f64) -> (bool, f64) {
    (ratio <= target, (ratio / target - 1.0).max(0.0))
}

/// The JSON report.
pub fn json(meta: &Meta, results: &[WorkloadResult]) -> Value {
    let mut top = Map::new();
    top.insert(
        "meta".into(),
        json!({
            "date": meta.date, "cpu": meta.cpu, "nproc": meta.nproc, "threads": meta.threads,
            "quick": meta.quick, "load_average_start": meta.load_start,
            "load_average_end": meta.load_end,
            "ratio": "gen median / peer median; below 1 means gen is faster",
            "fastest_peer": "the peer configuration with the lowest median; ratio_vs_fastest is the headline",
        }),
    );
    for r in results {
        let mut w = Map::new();
        w.insert("unit".into(), json!("ms"));
        w.insert("what".into(), json!(r.what));
        w.insert("shape".into(), r.shape.clone());
        w.insert(
            "plan".into(),
            json!({"warmup": r.plan.warmup, "rounds": r.plan.rounds, "iters": r.plan.iters}),
        );
        let gen_median = r.sides.first().and_then(|g| median(&g.samples));
        for side in &r.sides {
            let metrics: Map<String, Value> = side
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), json!(median(v))))
                .collect();
            let mut o = json!({
                "median": median(&side.samples),
                "samples": side.samples,
                "peak_rss_mib": mib(side.peak_rss_kib),
                "version": side.version,
                "metrics": metrics,
            });
            if side.baseline {
                o["baseline"] = json!(true);
            } else if side.side != "gen" {
                o["settings"] = json!(side.settings);
                o["reported_settings"] = side.reported.clone();
                o["trial"] = json!(side.trial);
            }
            w.insert(side.side.clone(), o);
        }
        for side in r.sides.iter().skip(1) {
            let value = gen_median
                .zip(median(&side.samples))
                .and_then(|(g, p)| ratio(g, p));
            w.insert(format!("ratio_vs_{}", side.side), json!(value));
        }
        let best = ratio_vs_fastest(r);
        w.insert(
            "fastest_peer".into(),
            json!(fastest(r).map(|(s, _)| s.side.clone())),
        );
        w.insert("ratio_vs_fastest".into(), json!(best));
        if let Some(target) = r.target {
            let v = best.map(|b| verdict(b, target));
            w.insert(
                "target".into(),
                json!({
                    "ratio_vs_fastest_at_most": target,
                    "met": v.map(|(met, _)| met),
                    "missed_by": v.map(|(_, by)| by),
                }),
            );
        }
        top.insert(r.name.clone(), Value::Object(w));
    }
    Value::Object(top)
}

/// The peer configurations that have a column: every non-trial one, in the order they
/// first run.
fn columns(results: &[WorkloadResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in results.iter().flat_map(peers) {
        if !s.trial && !names.contains(&s.side) {
            names.push(s.side.clone());
        }
    }
    names
}

/// The table printed on stdout: medians, the fastest peer configuration, gen's ratio to it
/// and the target; then each workload's peak memory, trials and other figures.
pub fn table(meta: &Meta, results: &[WorkloadResult]) -> String {
    let peers = columns(results);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {}  nproc {}  threads {}{}  load average {} -> {}",
        meta.date,
        meta.cpu,
        meta.nproc,
        meta.threads,
        if meta.quick { "  (--quick)" } else { "" },
        meta.load_start,
        meta.load_end
    );
    let mut head = format!("{:<16} {:>8}", "workload (ms)", "gen");
    for p in &peers {
        let _ = write!(head, " {p:>11}");
    }
    let _ = write!(head, "  {:<11} {:>11}  target", "fastest", "gen/fastest");
    let _ = writeln!(out, "{head}");
    for r in results {
        let find = |name: &str| r.sides.iter().find(|s| s.side == name);
        let med = |name: &str| find(name).and_then(|s| median(&s.samples));
        let r#gen = med("gen");
        let cell = |v: Option<f64>| v.map_or("-".to_string(), fmt_ms);
        let mut row = format!("{:<16} {:>8}", r.name, cell(r#gen));
        for p in &peers {
            let _ = write!(row, " {:>11}", cell(med(p)));
        }
        let best = ratio_vs_fastest(r);
        let target = match (r.target, best) {
            (Some(t), Some(b)) => match verdict(b, t) {
                (true, _) => format!("<= {t:.2} met"),
                (false, by) => format!("<= {t:.2} missed by {:.0}%", by * 100.0),
            },
            (Some(t), None) => format!("<= {t:.2}"),
            (None, _) => "-".into(),
        };
        let _ = writeln!(
            out,
            "{row}  {:<11} {:>11}  {target}",
            fastest(r).map_or("-", |(s, _)| s.side.as_str()),
            best.map_or("-".to_string(), |x| format!("{x:.2}")),
        );
        let rss: Vec<String> = r
            .sides
            .iter()
            .map(|s| {
                let m = mib(s.peak_rss_kib).map_or("-".into(), |m| format!("{m:.0}"));
                format!("{} {m}", s.side)
            })
            .collect();
        let _ = writeln!(out, "  peak RSS MiB: {}", rss.join(", "));
        let settings: Vec<String> = r
            .sides
            .iter()
            .filter(|s| !s.settings.is_empty())
            .map(|s| format!("{} {}", s.side, s.settings.join(" ")))
            .collect();
        if !settings.is_empty() {
            let _ = writeln!(out, "  settings: {}", settings.join("; "));
        }
        for s in r.sides.iter().filter(|s| s.baseline) {
            let m = median(&s.samples);
            let x = r#gen.zip(m).and_then(|(g, m)| ratio(g, m));
            let _ = writeln!(
                out,
                "  {}: {} ms, gen/{} {}",
                s.side,
                cell(m),
                s.side,
                x.map_or("-".to_string(), |x| format!("{x:.2}"))
            );
        }
        let trials: Vec<String> = r
            .sides
            .iter()
            .filter(|s| s.trial)
            .map(|s| {
                let m = median(&s.samples);
                let x = r#gen.zip(m).and_then(|(g, m)| ratio(g, m));
                format!(
                    "{} {} ({})",
                    s.side,
                    cell(m),
                    x.map_or("-".to_string(), |x| format!("{x:.2}"))
                )
            })
            .collect();
        if !trials.is_empty() {
            let _ = writeln!(out, "  trials, ms (gen/trial): {}", trials.join(", "));
        }
        let mut names: Vec<&String> = r.sides.iter().flat_map(|s| s.metrics.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let values: Vec<String> = r
                .sides
                .iter()
                .filter_map(|s| {
                    let v = median(s.metrics.get(name)?)?;
                    Some(format!("{} {}", s.side, fmt_metric(v)))
                })
                .collect();
            let _ = writeln!(out, "  {name}: {}", values.join(", "));
        }
    }
    out
}

fn fmt_metric(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Plan, SideResult, WorkloadResult};
    use super::*;
    use std::collections::BTreeMap;

    fn side(name: &str, samples: &[f64], rss: Option<u64>) -> SideResult {
        SideResult {
            side: name.into(),
            trial: false,
            baseline: false,
            settings: Vec::new(),
            reported: Value::Null,
            version: format!("{name} 1.0"),
            samples: samples.to_vec(),
            metrics: BTreeMap::new(),
            peak_rss_kib: rss,
        }
    }

    fn meta() -> Meta {
        Meta {
            date: "2026-01-01T00:00:00Z".into(),
            cpu: "test cpu".into(),
            nproc: 2,
            threads: 2,
            quick: true,
            load_start: "1.00 1.00 1.00".into(),
            load_end: "2.00 1.00 1.00".into(),
        }
    }

    fn result() -> WorkloadResult {
        let mut r#gen = side("gen", &[100.0, 300.0, 200.0], Some(2048));
        r#gen
            .metrics
            .insert("val_accuracy".into(), vec![0.8, 0.9, 0.85]);
        let mut tuned = side("torch-tuned", &[250.0, 250.0], Some(4096));
        tuned.settings = vec!["--flush-denormal".into(), "OMP_WAIT_POLICY=PASSIVE".into()];
        tuned.reported = json!({"flush_denormal": true, "OMP_WAIT_POLICY": "PASSIVE"});
        let mut trial = side("torch-fd", &[500.0], None);
        trial.trial = true;
        trial.settings = vec!["--flush-denormal".into()];
        WorkloadResult {
            name: "seed-step".into(),
            what: "a step".into(),
            target: Some(0.7),
            shape: json!({"batch": 128}),
            plan: Plan {
                warmup: 1,
                rounds: 3,
                iters: 1,
            },
            sides: vec![
                r#gen,
                side("torch", &[400.0, 400.0], Some(4096)),
                tuned,
                side("keras", &[1000.0], None),
                trial,
            ],
        }
    }

    #[test]
    fn json_has_one_object_per_workload_with_medians_and_ratios() {
        let v = json(&meta(), &[result()]);
        let obj = v.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["meta", "seed-step"]);
        let w = &v["seed-step"];
        assert_eq!(w["unit"], "ms");
        assert_eq!(w["gen"]["median"], 200.0);
        assert_eq!(w["gen"]["samples"], json!([100.0, 300.0, 200.0]));
        assert_eq!(w["gen"]["peak_rss_mib"], 2.0);
        assert_eq!(w["gen"]["metrics"]["val_accuracy"], 0.85);
        assert!(w["gen"].get("settings").is_none());
        assert_eq!(w["torch"]["median"], 400.0);
        assert_eq!(w["torch"]["settings"], json!([]));
        assert_eq!(w["torch"]["trial"], false);
        assert_eq!(w["keras"]["peak_rss_mib"], Value::Null);
        // 200 / 400, 200 / 250, 200 / 1000 and 200 / 500.
        assert_eq!(w["ratio_vs_torch"], 0.5);
        assert_eq!(w["ratio_vs_torch-tuned"], 0.8);
        assert_eq!(w["ratio_vs_keras"], 0.2);
        assert_eq!(w["ratio_vs_torch-fd"], 0.4);
        assert!(w.get("ratio_vs_gen").is_none());
        assert_eq!(w["plan"]["rounds"], 3);
        assert_eq!(v["meta"]["nproc"], 2);
        // The headline: against the fastest configuration, with the settings it ran with.
        assert_eq!(w["fastest_peer"], "torch-tuned");
        assert_eq!(w["ratio_vs_fastest"], 0.8);
        assert_eq!(w["torch-tuned"]["settings"][1], "OMP_WAIT_POLICY=PASSIVE");
        assert_eq!(
            w["torch-tuned"]["reported_settings"]["flush_denormal"],
            true
        );
        assert_eq!(w["torch-fd"]["trial"], true);
        assert_eq!(w["target"]["ratio_vs_fastest_at_most"], 0.7);
        assert_eq!(w["target"]["met"], false);
        let missed = w["target"]["missed_by"].as_f64().unwrap();
        assert!((missed - (0.8 / 0.7 - 1.0)).abs() < 1e-12, "{missed}");
    }

    #[test]
    fn a_trial_that_wins_is_the_fastest() {
        let mut r = result();
        r.sides[4].samples = vec![100.0];
        let (best, m) = fastest(&r).unwrap();
        assert_eq!((best.side.as_str(), m), ("torch-fd", 100.0));
        let v = json(&meta(), &[r]);
        assert_eq!(v["seed-step"]["ratio_vs_fastest"], 2.0);
    }

    #[test]
    fn a_side_without_samples_has_no_median_or_ratio() {
        let mut r = result();
        r.sides[1].samples.clear();
        let v = json(&meta(), &[r]);
        assert_eq!(v["seed-step"]["torch"]["median"], Value::Null);
        assert_eq!(v["seed-step"]["ratio_vs_torch"], Value::Null);
        assert_eq!(v["seed-step"]["fastest_peer"], "torch-tuned");
    }

    #[test]
    fn a_met_target_is_met_by_nothing() {
        let mut r = result();
        r.sides[0].samples = vec![100.0];
        let v = json(&meta(), &[r]);
        assert_eq!(v["seed-step"]["ratio_vs_fastest"], 0.4);
        assert_eq!(v["seed-step"]["target"]["met"], true);
        assert_eq!(v["seed-step"]["target"]["missed_by"], 0.0);
    }

    #[test]
    fn table_shows_medians_the_fastest_and_the_target() {
        let t = table(&meta(), &[result()]);
        let head = t.lines().nth(1).unwrap();
        let cells: Vec<&str> = head.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "workload",
                "(ms)",
                "gen",
                "torch",
                "torch-tuned",
                "keras",
                "fastest",
                "gen/fastest",
                "target"
            ]
        );
        let row = t.lines().find(|l| l.starts_with("seed-step")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "seed-step",
                "200.0",
                "400.0",
                "250.0",
                "1000",
                "torch-tuned",
                "0.80",
                "<=",
                "0.70",
                "missed",
                "by",
                "14%"
            ]
        );
        // A trial has no column but a line of its own.
        assert!(!head.contains("torch-fd"));
        assert!(
            t.contains("trials, ms (gen/trial): torch-fd 500.0 (0.40)"),
            "{t}"
        );
        assert!(
            t.contains("settings: torch-tuned --flush-denormal OMP_WAIT_POLICY=PASSIVE; torch-fd --flush-denormal"),
            "{t}"
        );
        assert!(
            t.contains("peak RSS MiB: gen 2, torch 4, torch-tuned 4, keras -, torch-fd -"),
            "{t}"
        );
        assert!(t.contains("val_accuracy: gen 0.8500"), "{t}");
        assert!(t.contains("nproc 2"));
    }

    #[test]
    fn a_baseline_has_a_ratio_and_a_line_but_is_no_peer() {
        let mut r = result();
        r.name = "ddp-step".into();
        // Faster than every peer: still not the fastest peer, and no column.
        let mut base = side("gen-seed-step", &[50.0, 100.0, 150.0], Some(1024));
        base.baseline = true;
        r.sides.insert(1, base);
        let v = json(&meta(), std::slice::from_ref(&r));
        let w = &v["ddp-step"];
        assert_eq!(w["gen-seed-step"]["median"], 100.0);
        assert_eq!(w["gen-seed-step"]["baseline"], true);
        assert!(w["gen-seed-step"].get("settings").is_none());
        assert_eq!(w["ratio_vs_gen-seed-step"], 2.0);
        assert_eq!(w["fastest_peer"], "torch-tuned");
        assert_eq!(w["ratio_vs_fastest"], 0.8);
        let t = table(&meta(), &[r]);
        let head = t.lines().nth(1).unwrap();
        assert!(!head.contains("gen-seed-step"), "{head}");
        assert!(
            t.contains("  gen-seed-step: 100.0 ms, gen/gen-seed-step 2.00"),
            "{t}"
        );
        assert!(
            t.contains("peak RSS MiB: gen 2, gen-seed-step 1, torch 4"),
            "{t}"
        );
    }

    #[test]
    fn formats_milliseconds_by_size() {
        assert_eq!(fmt_ms(45_123.4), "45123");
        assert_eq!(fmt_ms(270.06), "270.1");
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(f64::NAN), "-");
    }
}

//! The bench's report: a table on stdout and a JSON file.
//!
//! The JSON holds one object per workload name, plus `meta` (date, machine, load):
//!
//! ```json
//! { "meta": {...},
//!   "seed-step": { "unit": "ms", "what": "...", "shape": {...}, "plan": {...},
//!                  "gen":   { "median": 270.1, "samples": [...], "peak_rss_mib": 350.2,
//!                             "version": "...", "metrics": {} },
//!                  "torch": {...}, "keras": {...},
//!                  "ratio_vs_torch": 1.01, "ratio_vs_keras": 1.36 } }
//! ```
//!
//! A ratio is gen's median over the peer's: below 1 means gen is faster. A side's `metrics`
//! are the medians of its other figures (`val_accuracy`, `tokens_per_s`).

use super::WorkloadResult;
use super::stats::{median, ratio};
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
            w.insert(
                side.side.clone(),
                json!({
                    "median": median(&side.samples),
                    "samples": side.samples,
                    "peak_rss_mib": mib(side.peak_rss_kib),
                    "version": side.version,
                    "metrics": metrics,
                }),
            );
        }
        for side in r.sides.iter().skip(1) {
            let value = gen_median
                .zip(median(&side.samples))
                .and_then(|(g, p)| ratio(g, p));
            w.insert(format!("ratio_vs_{}", side.side), json!(value));
        }
        top.insert(r.name.clone(), Value::Object(w));
    }
    Value::Object(top)
}

/// The table printed on stdout: medians, ratios, peak memory, then other figures.
pub fn table(meta: &Meta, results: &[WorkloadResult]) -> String {
    let peers = ["torch", "keras"];
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
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>10} {:>9} {:>9}   {:>20}",
        "workload (ms)", "gen", "torch", "keras", "gen/torch", "gen/keras", "peak RSS MiB g/t/k"
    );
    for r in results {
        let find = |name: &str| r.sides.iter().find(|s| s.side == name);
        let med = |name: &str| find(name).and_then(|s| median(&s.samples));
        let r#gen = med("gen");
        let cell = |v: Option<f64>| v.map_or("-".to_string(), fmt_ms);
        let ratio_cell = |p: &str| {
            r#gen
                .zip(med(p))
                .and_then(|(g, m)| ratio(g, m))
                .map_or("-".to_string(), |x| format!("{x:.2}"))
        };
        let rss: Vec<String> = ["gen", "torch", "keras"]
            .iter()
            .map(|n| {
                find(n)
                    .and_then(|s| mib(s.peak_rss_kib))
                    .map_or("-".into(), |m| format!("{m:.0}"))
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>10} {:>9} {:>9}   {:>20}",
            r.name,
            cell(r#gen),
            cell(med(peers[0])),
            cell(med(peers[1])),
            ratio_cell(peers[0]),
            ratio_cell(peers[1]),
            rss.join(" / ")
        );
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
        WorkloadResult {
            name: "seed-step".into(),
            what: "a step".into(),
            shape: json!({"batch": 128}),
            plan: Plan {
                warmup: 1,
                rounds: 3,
                iters: 1,
            },
            sides: vec![
                r#gen,
                side("torch", &[400.0, 400.0], Some(4096)),
                side("keras", &[100.0], None),
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
        assert_eq!(w["torch"]["median"], 400.0);
        assert_eq!(w["keras"]["peak_rss_mib"], Value::Null);
        // 200 / 400 and 200 / 100.
        assert_eq!(w["ratio_vs_torch"], 0.5);
        assert_eq!(w["ratio_vs_keras"], 2.0);
        assert!(w.get("ratio_vs_gen").is_none());
        assert_eq!(w["plan"]["rounds"], 3);
        assert_eq!(v["meta"]["nproc"], 2);
    }

    #[test]
    fn a_side_without_samples_has_no_median_or_ratio() {
        let mut r = result();
        r.sides[1].samples.clear();
        let v = json(&meta(), &[r]);
        assert_eq!(v["seed-step"]["torch"]["median"], Value::Null);
        assert_eq!(v["seed-step"]["ratio_vs_torch"], Value::Null);
    }

    #[test]
    fn table_shows_medians_ratios_memory_and_metrics() {
        let t = table(&meta(), &[result()]);
        let row = t.lines().find(|l| l.starts_with("seed-step")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "seed-step",
                "200.0",
                "400.0",
                "100.0",
                "0.50",
                "2.00",
                "2",
                "/",
                "4",
                "/",
                "-"
            ]
        );
        assert!(t.contains("val_accuracy: gen 0.8500"), "{t}");
        assert!(t.contains("nproc 2"));
    }

    #[test]
    fn formats_milliseconds_by_size() {
        assert_eq!(fmt_ms(45_123.4), "45123");
        assert_eq!(fmt_ms(270.06), "270.1");
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(f64::NAN), "-");
    }
}

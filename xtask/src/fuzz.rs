//! `cargo xtask fuzz [--seconds N] [--target NAME]... [--cases N]`: every parser of gen-data (and
//! the TOML and safetensors readers) under libFuzzer, coverage-guided, on stable Rust.
//!
//! 1. Builds the `gen-fuzz` crate in release with cargo-fuzz's instrumentation flags
//!    (`-Cpasses=sancov-module`, 8-bit counters, PC table, compare tracing; no sanitizer, so no
//!    nightly), plus debug assertions and overflow checks, into `<target dir>/fuzz`.
//! 2. Writes each target's seeds (`gen-fuzz-seeds`): gen-data's committed fixtures, and real
//!    files of the data folder (`GEN_DATA_DIR` or `datasets/`) when present.
//! 3. Runs `gen-fuzz` once per target: `-runs=<cases>`, `-timeout=1` (an input over 1 s is a
//!    hang and fails the run), `-rss_limit_mb=2048`, the heap capped at 1 GiB by the driver's
//!    allocator. New coverage goes to `fuzz/corpus/<target>/` (kept between runs, git-ignored);
//!    a crash, hang or out-of-memory input is saved under `fuzz/artifacts/<target>/`.
//!
//! The table gives, per target: inputs run, seconds, inputs per second, the corpus size, the
//! slowest input, the peak heap, libFuzzer's peak RSS, and the symphonia panics that gen-data
//! caught (by design; see gen_data::drums::decode). Any crash, hang or out-of-memory fails the
//! command, and so does a target that ran fewer than `--cases` inputs without `--seconds`.

use crate::util::{cargo, project_root, run_checked};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Stop each target after this many seconds. Default: no time limit (`--cases` decides).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Fuzz only this target (repeatable). Default: every target; `--list` names them.
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Inputs per target. Default 1,000,000.
    #[arg(long, default_value_t = 1_000_000)]
    pub cases: u64,
    /// Print the targets and exit.
    #[arg(long)]
    pub list: bool,
}

/// libFuzzer's final statistics and the driver's reports, from one target's log.
#[derive(Debug, Default, PartialEq)]
pub struct Stats {
    /// `stat::number_of_executed_units`.
    pub inputs: u64,
    /// `stat::slowest_unit_time_sec`.
    pub slowest_s: u64,
    /// `stat::peak_rss_mb`.
    pub peak_rss_mb: u64,
    /// The last `gen-fuzz: peak heap N bytes`.
    pub peak_heap: u64,
    /// `gen-fuzz: caught symphonia panic` lines.
    pub symphonia_panics: u64,
    /// What went wrong (libFuzzer's `ERROR:`/`ALARM`/`SUMMARY` lines), if anything.
    pub failure: Option<String>,
}

/// Reads the statistics out of a `gen-fuzz` log.
pub fn parse_log(log: &str) -> Stats {
    let mut stats = Stats::default();
    let num = |rest: &str| rest.trim().parse::<u64>().unwrap_or(0);
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("stat::number_of_executed_units:") {
            stats.inputs = num(rest);
        } else if let Some(rest) = line.strip_prefix("stat::slowest_unit_time_sec:") {
            stats.slowest_s = num(rest);
        } else if let Some(rest) = line.strip_prefix("stat::peak_rss_mb:") {
            stats.peak_rss_mb = num(rest);
        } else if let Some(rest) = line.strip_prefix("gen-fuzz: peak heap ") {
            stats.peak_heap = num(rest.trim_end_matches(" bytes"));
        } else if line.starts_with("gen-fuzz: caught symphonia panic") {
            stats.symphonia_panics += 1;
        } else if (line.contains("ERROR: libFuzzer")
            || line.starts_with("==") && line.contains("ERROR"))
            || line.starts_with("SUMMARY: libFuzzer")
            || line.contains("ALARM: working on the last Unit")
        {
            stats.failure.get_or_insert_with(|| line.trim().to_owned());
        }
    }
    stats
}

/// Runs `cargo xtask fuzz`.
pub fn run(args: &FuzzArgs) -> Result<()> {
    let build = build_dir();
    let bin = build_fuzzers(&build)?;
    let targets = list_targets(&bin.seeds)?;
    if args.list {
        for (name, _, about) in &targets {
            println!("{name:20} {about}");
        }
        return Ok(());
    }
    for name in &args.targets {
        if !targets.iter().any(|(n, _, _)| n == name) {
            let names: Vec<&str> = targets.iter().map(|(n, _, _)| n.as_str()).collect();
            bail!("no fuzz target `{name}` (known: {})", names.join(", "));
        }
    }
    let chosen: Vec<&(String, u64, String)> = targets
        .iter()
        .filter(|(n, _, _)| args.targets.is_empty() || args.targets.contains(n))
        .collect();

    let seeds = build.join("seeds");
    if seeds.exists() {
        std::fs::remove_dir_all(&seeds)
            .with_context(|| format!("could not clear {}", seeds.display()))?;
    }
    let data = data_dir();
    eprintln!("fuzz: seeds from the fixtures and {}", data.display());
    run_checked(
        Command::new(&bin.seeds)
            .arg(&seeds)
            .arg(&data)
            .stdout(Stdio::null()),
    )?;

    let root = project_root().join("fuzz");
    let logs = build.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (name, max_len, _) in chosen {
        let corpus = root.join("corpus").join(name);
        let artifacts = root.join("artifacts").join(name);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let log_path = logs.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("could not create {}", log_path.display()))?;
        let mut cmd = Command::new(&bin.fuzz);
        cmd.env("GEN_FUZZ_TARGET", name)
            .arg(&corpus)
            .arg(seeds.join(name))
            .arg(format!("-runs={}", args.cases))
            .arg("-timeout=1")
            .arg("-rss_limit_mb=2048")
            .arg(format!("-max_len={max_len}"))
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(s) = args.seconds {
            cmd.arg(format!("-max_total_time={s}"));
        }
        eprintln!("fuzz: {name} ...");
        let started = Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("could not start {cmd:?}"))?;
        let secs = started.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut stats = parse_log(&text);
        if !status.success() && stats.failure.is_none() {
            stats.failure = Some(format!("exited with {status}"));
        }
        if stats.failure.is_none() && args.seconds.is_none() && stats.inputs < args.cases {
            stats.failure = Some(format!("ran {} of {} inputs", stats.inputs, args.cases));
        }
        let corpus_len = std::fs::read_dir(&corpus).map_or(0, |d| d.count());
        let row = Row {
            name: name.clone(),
            secs,
            corpus: corpus_len,
            stats,
        };
        eprintln!("{}", row.line());
        if let Some(why) = &row.stats.failure {
            failed.push(format!(
                "{name}: {why} (log {}, inputs in {})",
                log_path.display(),
                artifacts.display()
            ));
        }
        rows.push(row);
    }
    println!("{}", table(&rows));
    if !failed.is_empty() {
        bail!("fuzzing found problems:\n  {}", failed.join("\n  "));
    }
    Ok(())
}

/// One target's results.
struct Row {
    name: String,
    secs: f64,
    corpus: usize,
    stats: Stats,
}

impl Row {
    fn line(&self) -> String {
        let s = &self.stats;
        format!(
            "| {} | {} | {:.0} | {:.0} | {} | {} | {:.1} | {} | {} | {} |",
            self.name,
            s.inputs,
            self.secs,
            s.inputs as f64 / self.secs.max(1e-9),
            self.corpus,
            s.slowest_s,
            s.peak_heap as f64 / f64::from(1 << 20),
            s.peak_rss_mb,
            s.symphonia_panics,
            s.failure.as_deref().map_or("ok", |_| "FAILED"),
        )
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| target | inputs | seconds | inputs/s | corpus | slowest input (s) | peak heap (MiB) \
         | peak RSS (MB) | symphonia panics caught | result |\n|---|---:|---:|---:|---:|---:|---:\
         |---:|---:|---|\n",
    );
    for row in rows {
        out.push_str(&row.line());
        out.push('\n');
    }
    let total: u64 = rows.iter().map(|r| r.stats.inputs).sum();
    out.push_str(&format!(
        "\n{total} inputs in all over {} targets.",
        rows.len()
    ));
    out
}

/// The normal target folder: `CARGO_TARGET_DIR`, else the project's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| project_root().join("target"), PathBuf::from)
}

/// Where the instrumented build goes: `<target folder>/fuzz`, apart from the normal builds
/// (other flags would rebuild everything there).
fn build_dir() -> PathBuf {
    target_dir().join("fuzz")
}

/// The data folder the seeds come from: the one gen and fetch-data use
/// (`crate::data_dir_rule`).
fn data_dir() -> PathBuf {
    crate::data_dir_rule::data_dir().0
}

/// cargo-fuzz's instrumentation flags for `-s none`, which stable rustc accepts.
pub const RUSTFLAGS: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
     -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
     -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
     --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

/// The two binaries: `gen-fuzz`, instrumented (built with `--target`, which keeps the flags off
/// build scripts and proc macros), and `gen-fuzz-seeds`, a plain debug build in the normal
/// target folder (it links no libFuzzer, so it cannot take the instrumentation).
struct Binaries {
    fuzz: PathBuf,
    seeds: PathBuf,
}

fn build_fuzzers(build: &Path) -> Result<Binaries> {
    let host = host_triple()?;
    eprintln!(
        "fuzz: building gen-fuzz (instrumented, release) into {}",
        build.display()
    );
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", "gen-fuzz", "--bin", "gen-fuzz"])
        .args(["--target", &host])
        .env("CARGO_TARGET_DIR", build)
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run_checked(&mut cmd)?;
    let mut cmd = cargo();
    cmd.args(["build", "-p", "gen-fuzz", "--bin", "gen-fuzz-seeds"]);
    run_checked(&mut cmd)?;
    Ok(Binaries {
        fuzz: build.join(host).join("release").join("gen-fuzz"),
        seeds: target_dir().join("debug").join("gen-fuzz-seeds"),
    })
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("could not run `rustc -vV`")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("`rustc -vV` names no host")
}

/// `(name, max_len, about)` of each target, from `gen-fuzz-seeds --list`.
fn list_targets(seeds: &Path) -> Result<Vec<(String, u64, String)>> {
    let out = Command::new(seeds)
        .arg("--list")
        .output()
        .context("could not run gen-fuzz-seeds --list")?;
    if !out.status.success() {
        bail!("gen-fuzz-seeds --list failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let name = parts.next()?.to_owned();
            let max_len = parts.next()?.parse().ok()?;
            Some((name, max_len, parts.next().unwrap_or_default().to_owned()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_stats_and_driver_lines() {
        let log = "gen-fuzz: target idx (IDX)\ngen-fuzz: peak heap 4096 bytes\n\
                   gen-fuzz: peak heap 1048576 bytes\n#1000000 DONE cov: 312 ft: 900\n\
                   gen-fuzz: caught symphonia panic at /x/symphonia-core/src/a.rs:3\n\
                   stat::number_of_executed_units: 1000000\nstat::average_exec_per_sec:     9000\n\
                   stat::new_units_added:          50\nstat::slowest_unit_time_sec:    0\n\
                   stat::peak_rss_mb:              61\n";
        assert_eq!(
            parse_log(log),
            Stats {
                inputs: 1_000_000,
                slowest_s: 0,
                peak_rss_mb: 61,
                peak_heap: 1_048_576,
                symphonia_panics: 1,
                failure: None,
            }
        );
        let crash = "==12== ERROR: libFuzzer: deadly signal\nSUMMARY: libFuzzer: deadly signal\n";
        assert_eq!(
            parse_log(crash).failure.as_deref(),
            Some("==12== ERROR: libFuzzer: deadly signal")
        );
        let hang = "ALARM: working on the last Unit for 2 seconds\n";
        assert!(parse_log(hang).failure.is_some());
    }
}

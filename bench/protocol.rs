//! The worker side of `cargo xtask bench`'s protocol, shared by gen's workers
//! (`crates/gen-train/examples/bench.rs`, `crates/gen-data/examples/bench_pad.rs`) through
//! `#[path]`; `bench/peers/protocol.py` is the peers' side.
//!
//! The worker prints one JSON `ready` line; then each stdin line `run N` runs N timed
//! iterations and prints `{"times_ms": [...], "metrics": {name: [...]}}`; `quit` or the end
//! of input ends it.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Instant;

/// Prints `ready`, then answers `run N` lines until `quit` or end of input. An iteration
/// returns its metrics and a value that is dropped after its time is taken (e.g. a large
/// result whose freeing should not count).
#[allow(dead_code)] // A worker may serve through `serve_turns` alone.
pub fn serve<T>(
    ready: &Value,
    iteration: impl FnMut() -> Result<(T, BTreeMap<String, f64>)>,
) -> Result<()> {
    serve_turns(ready, |_| Ok(()), iteration)
}

/// [`serve`], calling `turn(Some(n))` before the `n` iterations of each `run n` (untimed) and
/// `turn(None)` once at `quit` or the end of input: a data-parallel worker tells its other
/// ranks there how many steps to take, or to stop.
pub fn serve_turns<T>(
    ready: &Value,
    mut turn: impl FnMut(Option<usize>) -> Result<()>,
    mut iteration: impl FnMut() -> Result<(T, BTreeMap<String, f64>)>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{ready}")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let command: Vec<&str> = line.split_whitespace().collect();
        match command.as_slice() {
            ["run", n] => {
                let n: usize = n.parse().with_context(|| format!("bad command {line:?}"))?;
                turn(Some(n))?;
                let mut times = Vec::with_capacity(n);
                let mut metrics: BTreeMap<String, Vec<f64>> = BTreeMap::new();
                for _ in 0..n {
                    let start = Instant::now();
                    let (result, m) = iteration()?;
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                    drop(result);
                    for (k, v) in m {
                        metrics.entry(k).or_default().push(v);
                    }
                }
                writeln!(out, "{}", json!({ "times_ms": times, "metrics": metrics }))?;
                out.flush()?;
            }
            ["quit"] => break,
            _ => bail!("bad command {line:?}"),
        }
    }
    turn(None)
}

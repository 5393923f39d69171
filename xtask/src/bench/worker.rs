//! One side of one workload: a child process that speaks the bench protocol.
//!
//! The child prints one `ready` JSON line after its set-up and warm-up, then answers each
//! `run N` line with the times of N iterations; `quit` ends it. Its stderr goes to a log file.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// What a worker says once it is set up.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ready {
    /// `gen`, `torch` or `keras`.
    pub side: String,
    /// The framework and its version.
    pub version: String,
    /// The threads it runs on.
    pub threads: usize,
    /// The workload's shapes, which every side of a workload must report equal.
    pub shape: serde_json::Value,
    /// The settings it runs with, as it sees them (peers only: their flags and the
    /// environment variables their libraries read at load).
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// The answer to `run N`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Round {
    /// Milliseconds of each iteration.
    pub times_ms: Vec<f64>,
    /// Other per-iteration figures (e.g. `val_accuracy`, `tokens_per_s`).
    #[serde(default)]
    pub metrics: BTreeMap<String, Vec<f64>>,
}

impl Round {
    /// Forgets the first iteration (an untimed re-warm-up).
    pub fn drop_first(&mut self) {
        if !self.times_ms.is_empty() {
            self.times_ms.remove(0);
        }
        for values in self.metrics.values_mut() {
            if !values.is_empty() {
                values.remove(0);
            }
        }
    }
}

/// A running worker.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
    /// Its `ready` line.
    pub ready: Ready,
}

impl Worker {
    /// Starts `cmd` with its stderr in `log` and waits for its `ready` line.
    pub fn start(mut cmd: Command, log: &Path) -> Result<Worker> {
        let err = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not start {cmd:?}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("{cmd:?}: no pipes to the child");
        };
        let mut worker = Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            log: log.to_path_buf(),
            ready: Ready {
                side: String::new(),
                version: String::new(),
                threads: 0,
                shape: serde_json::Value::Null,
                settings: serde_json::Value::Null,
            },
        };
        let line = worker.read_line()?;
        worker.ready = serde_json::from_str(&line)
            .with_context(|| format!("not a ready line: {line:?} ({})", log.display()))?;
        Ok(worker)
    }

    /// Runs `n` timed iterations.
    pub fn run(&mut self, n: usize) -> Result<Round> {
        writeln!(self.stdin, "run {n}").and_then(|()| self.stdin.flush())?;
        let line = self.read_line()?;
        serde_json::from_str(&line).with_context(|| {
            format!(
                "{}: not a round: {line:?} ({})",
                self.ready.side,
                self.log.display()
            )
        })
    }

    /// Its peak resident memory so far in KiB (`VmHWM`), where `/proc` tells it.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        parse_vm_hwm(&status)
    }

    /// Reads its peak memory, tells it to quit and waits for it; returns the peak in KiB.
    pub fn finish(mut self) -> Result<Option<u64>> {
        let rss = self.peak_rss_kib();
        // A worker that already left is fine: its answers were all read.
        let _ = writeln!(self.stdin, "quit").and_then(|()| self.stdin.flush());
        let status = self.child.wait()?;
        if !status.success() {
            bail!(
                "{} worker ended with {status}; see {}",
                self.ready.side,
                self.log.display()
            );
        }
        Ok(rss)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line)?;
        if n == 0 {
            let status = self.child.wait()?;
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "worker ended ({status}) before answering; the end of {}:\n{}",
                self.log.display(),
                tail.join("\n")
            );
        }
        Ok(line)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Only our own child, and only if it is still running (e.g. after an error).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `VmHWM` line of a `/proc/<pid>/status` text, in KiB.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm_in_kib() {
        let status = "Name:\tpython3\nVmPeak:\t 900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(123_456));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn parses_protocol_lines() {
        let ready: Ready = serde_json::from_str(
            r#"{"ready": true, "side": "torch", "version": "torch 2.13.0", "threads": 2, "shape": {"batch": 64}}"#,
        )
        .unwrap();
        assert_eq!(ready.side, "torch");
        assert_eq!(ready.shape["batch"], 64);
        assert_eq!(ready.settings, serde_json::Value::Null);
        let tuned: Ready = serde_json::from_str(
            r#"{"side": "torch", "version": "v", "threads": 2, "shape": {},
                "settings": {"flush_denormal": true, "OMP_WAIT_POLICY": null}}"#,
        )
        .unwrap();
        assert_eq!(tuned.settings["flush_denormal"], true);
        let round: Round =
            serde_json::from_str(r#"{"times_ms": [1.5, 2.5], "metrics": {"val_accuracy": [0.5]}}"#)
                .unwrap();
        assert_eq!(round.times_ms, [1.5, 2.5]);
        assert_eq!(round.metrics["val_accuracy"], [0.5]);
        let mut bare: Round = serde_json::from_str(r#"{"times_ms": []}"#).unwrap();
        assert!(bare.metrics.is_empty());
        bare.drop_first();
        assert!(bare.times_ms.is_empty());
    }

    #[test]
    fn the_rewarm_iteration_is_dropped_from_times_and_metrics() {
        let mut round: Round = serde_json::from_str(
            r#"{"times_ms": [9.0, 2.0, 3.0], "metrics": {"tokens_per_s": [1.0, 5.0, 6.0]}}"#,
        )
        .unwrap();
        round.drop_first();
        assert_eq!(round.times_ms, [2.0, 3.0]);
        assert_eq!(round.metrics["tokens_per_s"], [5.0, 6.0]);
    }

    #[test]
    fn talks_to_a_child() {
        // A shell worker that answers one round, then quits on `quit`.
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(
            r#"echo '{"side":"gen","version":"v","threads":1,"shape":{"n":1}}'
               read cmd; echo '{"times_ms":[3.0,1.0]}'
               read cmd; [ "$cmd" = quit ]"#,
        );
        let mut worker = Worker::start(cmd, &dir.path().join("w.log")).unwrap();
        assert_eq!(worker.ready.shape["n"], 1);
        assert_eq!(worker.run(2).unwrap().times_ms, [3.0, 1.0]);
        worker.finish().unwrap();
    }

    #[test]
    fn a_dying_child_is_an_error_that_shows_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo 'no such workload' >&2; exit 3");
        let err = Worker::start(cmd, &dir.path().join("w.log"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no such workload"), "{err}");
    }
}

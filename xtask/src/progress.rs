//! Long steps that never go silent: a cargo build that shows cargo's own progress and, when
//! cargo has printed nothing for a while, which crates are still compiling; and a heartbeat for
//! other quiet children (pip installing libtorch).

use crate::util::cargo;
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// After this long without output, a heartbeat line says what is still running.
pub const QUIET_LIMIT: Duration = Duration::from_secs(20);

/// Runs `cmd` with its output inherited, printing `label: still running (ELAPSED)` every
/// [`QUIET_LIMIT`] until it ends. For children that print little, such as `pip --quiet`.
pub fn run_with_heartbeat(cmd: &mut Command, label: &str) -> Result<()> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let start = Instant::now();
    let last = Arc::new(Mutex::new(start));
    let status = wait_with_heartbeat(&mut child, &last, |elapsed| {
        format!("{label}: still running ({})", minutes(elapsed))
    })?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// What a build reports while it runs.
#[derive(Default)]
struct BuildState {
    /// Packages that cargo said it is compiling and that have no finished artifact yet, with
    /// when they started.
    in_flight: Vec<(String, Instant)>,
    /// The `gen` executable, once built.
    gen_exe: Option<PathBuf>,
}

/// Builds gen-cli with cargo (`--release` unless `debug`) and returns the `gen` executable.
///
/// Cargo's output reaches the terminal as it would directly (its progress bar too, on a
/// terminal); whenever it has printed nothing for [`QUIET_LIMIT`], a line names the crates still
/// compiling and for how long, e.g. torch-sys's C++ bindings to libtorch, minutes on few cores.
pub fn build_gen(debug: bool) -> Result<PathBuf> {
    let tty = std::io::stderr().is_terminal();
    let mut cmd = cargo();
    cmd.args([
        "build",
        "-p",
        "gen-cli",
        "--message-format=json-render-diagnostics",
    ]);
    if !debug {
        cmd.arg("--release");
    }
    if tty {
        // Cargo draws its bar into our pipe as it would on the terminal; we pass it through.
        cmd.args(["--color", "always"])
            .env("CARGO_TERM_PROGRESS_WHEN", "always")
            .env("CARGO_TERM_PROGRESS_WIDTH", terminal_width().to_string());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let start = Instant::now();
    let last = Arc::new(Mutex::new(start));
    let state = Arc::new(Mutex::new(BuildState::default()));

    let stderr = child.stderr.take().context("no stderr pipe")?;
    let relay = {
        let (last, state) = (Arc::clone(&last), Arc::clone(&state));
        std::thread::spawn(move || relay_stderr(stderr, &last, &state))
    };
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let artifacts = {
        let state = Arc::clone(&state);
        std::thread::spawn(move || read_artifacts(stdout, &state))
    };
    let status = wait_with_heartbeat(&mut child, &last, |elapsed| {
        let now = Instant::now();
        let state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let crates: Vec<String> = state
            .in_flight
            .iter()
            .map(|(name, since)| format!("{name} ({})", minutes(now - *since)))
            .collect();
        let what = if crates.is_empty() {
            "linking".to_string()
        } else {
            crates.join(", ")
        };
        let clear = if tty { "\r\x1b[K" } else { "" };
        format!(
            "{clear}build: still compiling: {what}; {} in all",
            minutes(elapsed)
        )
    })?;
    // Both pipes close when cargo exits; a reader that panicked only loses progress lines.
    let _ = relay.join();
    let _ = artifacts.join();
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    let exe = state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .gen_exe
        .take();
    exe.context("cargo built gen-cli but reported no `gen` executable")
}

/// Waits for `child`, printing `heartbeat(elapsed)` whenever `last` (the time of the latest
/// output) is [`QUIET_LIMIT`] old.
fn wait_with_heartbeat(
    child: &mut Child,
    last: &Mutex<Instant>,
    heartbeat: impl Fn(Duration) -> String,
) -> Result<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("could not wait for the child")? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(250));
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= QUIET_LIMIT {
            eprintln!("{}", heartbeat(start.elapsed()));
            *last = Instant::now();
        }
    }
}

/// Copies cargo's stderr to ours as it comes (bar redraws included), noting the time of each
/// write and the packages that cargo starts compiling.
fn relay_stderr(mut from: impl Read, last: &Mutex<Instant>, state: &Mutex<BuildState>) {
    let mut buf = [0u8; 4096];
    let mut pending = Vec::new();
    let mut out = std::io::stderr();
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        let _ = out.write_all(chunk);
        let _ = out.flush();
        *last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        pending.extend_from_slice(chunk);
        // Whole lines (cargo ends status lines with \n, bar redraws with \r).
        while let Some(end) = pending.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Some(name) = compiling(&String::from_utf8_lossy(&line)) {
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.in_flight.push((name, Instant::now()));
            }
        }
    }
}

/// Reads cargo's JSON messages: a finished artifact ends its package's compile; the `gen`
/// binary's artifact gives its path.
fn read_artifacts(from: impl Read, state: &Mutex<BuildState>) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds = msg["target"]["kind"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if kinds.iter().any(|k| k == "custom-build") {
            // A build script was compiled; the package itself is still to come.
            continue;
        }
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(name) = msg["package_id"].as_str().and_then(package_name) {
            state.in_flight.retain(|(n, _)| n != name);
        }
        if kinds.iter().any(|k| k == "bin") && msg["target"]["name"] == "gen" {
            state.gen_exe = msg["executable"].as_str().map(PathBuf::from);
        }
    }
}

/// The package of a cargo status line `   Compiling NAME vVERSION ...` (colours stripped).
fn compiling(line: &str) -> Option<String> {
    let plain = strip_ansi(line);
    let rest = plain.trim_start().strip_prefix("Compiling ")?;
    rest.split_whitespace().next().map(str::to_string)
}

/// The package name in a cargo package id: `registry+https://…#NAME@VERSION`, or
/// `path+file:///…/NAME#VERSION` when the folder has the package's name.
fn package_name(id: &str) -> Option<&str> {
    let (url, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, _)) => Some(name),
        None => url.rsplit('/').next(),
    }
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The terminal's width from `COLUMNS`, else 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(80)
}

/// `1m05s` or `42s`.
pub fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_the_package_with_or_without_colour() {
        assert_eq!(
            compiling("   Compiling torch-sys v0.26.0\n").as_deref(),
            Some("torch-sys")
        );
        assert_eq!(
            compiling("\x1b[1m\x1b[32m   Compiling\x1b[0m gen-cli v0.1.0 (/x/crates/gen-cli)\n")
                .as_deref(),
            Some("gen-cli")
        );
        assert_eq!(compiling("    Finished `release` profile\n"), None);
        assert_eq!(compiling("warning: Compiling is a word\n"), None);
    }

    #[test]
    fn package_ids_of_registry_and_path_packages() {
        let registry = "registry+https://github.com/rust-lang/crates.io-index#torch-sys@0.26.0";
        assert_eq!(package_name(registry), Some("torch-sys"));
        assert_eq!(
            package_name("path+file:///tmp/gen/crates/gen-cli#0.1.0"),
            Some("gen-cli")
        );
        assert_eq!(
            package_name("path+file:///tmp/gen/xtask-dir#xtask@0.1.0"),
            Some("xtask")
        );
        assert_eq!(package_name("no fragment"), None);
    }

    #[test]
    fn minutes_reads_like_a_stopwatch() {
        assert_eq!(minutes(Duration::from_secs(42)), "42s");
        assert_eq!(minutes(Duration::from_secs(65)), "1m05s");
        assert_eq!(minutes(Duration::from_secs(600)), "10m00s");
    }

    /// The heartbeat fires when a child is quiet, and only then.
    #[test]
    fn heartbeat_runs_while_a_child_is_quiet() {
        let mut child = Command::new("sleep").arg("1").spawn().unwrap();
        let last = Mutex::new(Instant::now() - QUIET_LIMIT);
        let beats = Mutex::new(0);
        let status = wait_with_heartbeat(&mut child, &last, |_| {
            *beats.lock().unwrap() += 1;
            "beat".into()
        })
        .unwrap();
        assert!(status.success());
        // Once at the start (the last output was QUIET_LIMIT ago), not again within 1 s.
        assert_eq!(*beats.lock().unwrap(), 1);
    }
}

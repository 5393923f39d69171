//! The process around a command: logging, the device, threads and seed of a run, the Ctrl-C
//! handler and the panic hook.

use crate::config::RunConfig;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Applies the device, threads and seed of `config`; returns the device.
pub fn setup(config: &RunConfig) -> Result<tch::Device> {
    let rt = config.runtime();
    // Before the first tensor operation, so that libtorch's worker threads inherit it.
    gen_core::set_flush_denormal(rt.flush_denormals);
    if rt.retain_memory {
        gen_core::retain_freed_memory();
    }
    gen_core::set_threads(rt.threads)?;
    gen_core::seed_everything(config.trainer().seed);
    Ok(rt.device.resolve()?)
}

/// Installs the Ctrl-C / SIGTERM handler once; returns the flag it raises.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(flag) = FLAG.get() {
        return Ok(flag.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    Ok(FLAG.get_or_init(|| stop).clone())
}

/// Logs to stderr at `level` (or `RUST_LOG`), and to `<run>/train.log` when given.
pub fn init_logging(level: &str, run_dir: Option<&Path>) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter());
    let file = match run_dir {
        Some(dir) => {
            let path = dir.join("train.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(log))
                    .with_ansi(false)
                    .with_filter(EnvFilter::new("info")),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .ok();
    Ok(())
}

/// Installs a panic hook that stays silent while gen-data decodes audio
/// ([`gen_data::drums::decode::decoding`]) and prints every other panic as Rust's default hook
/// does. gen-data catches a panic inside the `symphonia` decoders and turns it into an error
/// naming the file, so the default hook's message would only add noise before that error.
pub fn quiet_caught_decoder_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !gen_data::drums::decode::decoding() {
            default(info);
        }
    }));
}

/// The text of a failed command's error for the user: the whole chain of causes, less
/// libtorch's C++ backtrace (the `Exception raised from ...` and `frame #N: ...` lines that
/// follow the first line of a libtorch error) unless `verbose` (`-v`) asks for it.
pub fn error_text(err: &anyhow::Error, verbose: bool) -> String {
    let full = chain_text(err);
    if verbose {
        return full;
    }
    let is_trace = |line: &str| {
        let line = line.trim_start();
        line.starts_with("Exception raised from ") || line.starts_with("frame #")
    };
    let kept: Vec<&str> = full.lines().filter(|l| !is_trace(l)).collect();
    if kept.len() == full.lines().count() {
        return full;
    }
    format!(
        "{}\n(libtorch's C++ backtrace is shown with -v)",
        kept.join("\n").trim_end()
    )
}

/// `err` and its causes joined by ": " (as anyhow's `{:#}`), leaving out a cause whose text
/// the message before it already holds: error variants that print their source (`{path}:
/// {source}`) would otherwise say it twice.
fn chain_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|p| p.contains(text.trim())) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_that_its_error_already_prints_is_said_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let err = gen_train::Error::io("/runs/a/checkpoints/last.safetensors", io);
        let err = anyhow::Error::new(err).context("training epoch 3");
        let text = error_text(&err, false);
        assert_eq!(
            text,
            "training epoch 3: /runs/a/checkpoints/last.safetensors: No space left on device (os error 28)"
        );
    }

    #[test]
    fn a_libtorch_error_shows_its_first_line_and_the_backtrace_only_with_verbose() {
        let err = tch::Tensor::f_stack::<tch::Tensor>(&[], 0).unwrap_err();
        let raw = err.to_string();
        let err = anyhow::Error::new(err).context("training step 3");
        let short = error_text(&err, false);
        assert!(
            short.contains("stack expects a non-empty TensorList"),
            "{short}"
        );
        assert!(short.starts_with("training step 3: "), "{short}");
        assert!(
            !short.contains("frame #") && !short.contains("Exception raised"),
            "{short}"
        );
        // libtorch of this build attaches its backtrace: the short form hides it, -v shows it.
        assert!(raw.contains("frame #"), "{raw}");
        assert_eq!(short.lines().count(), 2, "{short}");
        assert!(error_text(&err, true).contains("frame #"));
        // Errors without a backtrace pass through whole, several lines included.
        let plain = anyhow::anyhow!("invalid config (preset x):\n  `data.maxlen` = 0: ...");
        assert_eq!(error_text(&plain, false), format!("{plain:#}"));
    }
}

//! The process around a command: logging, the device, threads and seed of a run, and the
//! Ctrl-C handler.

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

//! The commands, one module each: its arguments and the function that runs it.

pub mod audit;
pub mod completions;
pub mod data;
pub mod evaluate;
pub mod generate;
pub mod inspect;
pub mod presets;
pub mod rate;
pub mod report;
pub mod resume;
pub mod sample;
pub mod study;
pub mod train;

use crate::config::RunConfig;
use std::path::Path;

/// The options every command takes.
pub struct Global {
    /// `--quiet`: errors only.
    pub quiet: bool,
    /// `--verbose`: debug logs.
    pub verbose: bool,
}

impl Global {
    /// The log level these options ask for (`RUST_LOG` overrides it).
    pub fn level(&self) -> &'static str {
        if self.quiet {
            "error"
        } else if self.verbose {
            "debug"
        } else {
            "info"
        }
    }
}

/// The error of a command given a run of another kind.
fn wrong_kind(run: &Path, config: &RunConfig, command: &str, needs: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a {} run; `gen {command}` needs {needs}",
        run.display(),
        config.kind()
    )
}

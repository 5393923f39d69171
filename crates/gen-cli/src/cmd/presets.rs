//! `gen presets`: the presets, one a line.

use crate::presets::{DEFAULT_PRESET, PRESETS};
use anyhow::Result;
use std::process::ExitCode;

/// Prints each preset's name, padded to the longest, and its description.
pub fn run() -> Result<ExitCode> {
    let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in PRESETS {
        let default = if p.name == DEFAULT_PRESET {
            " (default)"
        } else {
            ""
        };
        println!("{:<width$} {}{default}", p.name, p.about);
    }
    Ok(ExitCode::SUCCESS)
}

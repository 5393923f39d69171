//! `gen presets`: the presets, one a line.

use crate::presets::{DEFAULT_PRESET, PRESETS};
use anyhow::Result;
use std::process::ExitCode;

/// Prints each preset's name and description.
pub fn run() -> Result<ExitCode> {
    for p in PRESETS {
        let default = if p.name == DEFAULT_PRESET {
            " (default)"
        } else {
            ""
        };
        println!("{:<12} {}{default}", p.name, p.about);
    }
    Ok(ExitCode::SUCCESS)
}

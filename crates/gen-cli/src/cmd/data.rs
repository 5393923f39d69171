//! `gen data`: which datasets are fetched, with their licences and sources.

use anyhow::Result;
use gen_data::catalog::DATASETS;
use std::process::ExitCode;

/// Prints the data folder, then for each dataset of gen-data's catalogue its count (or the
/// command that fetches it), its licence and its source.
pub fn run() -> Result<ExitCode> {
    let root = gen_data::paths::data_dir();
    println!("data folder: {}", root.display());
    let width = DATASETS.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for d in DATASETS {
        let dir = root.join(d.name);
        let state = if dir.is_dir() {
            d.count(&dir)
                .unwrap_or_else(|e| format!("present but unreadable: {e}"))
        } else {
            format!("missing: cargo xtask fetch-data {}", d.name)
        };
        println!("{:<width$} {state}", d.name);
        println!("{:<width$} licence: {}", "", d.licence);
        println!("{:<width$} source: {}", "", d.source);
    }
    Ok(ExitCode::SUCCESS)
}

//! `gen data`: which datasets are fetched.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;

/// Prints the data folder, then each dataset's size or the command that fetches it.
pub fn run() -> Result<ExitCode> {
    let root = gen_data::paths::data_dir();
    println!("data folder: {}", root.display());
    for name in [
        "imdb",
        "fashion-mnist",
        "mnist",
        "canterbury",
        "fortunes",
        "lasa",
    ] {
        let state = if root.join(name).is_dir() {
            dataset_counts(name, &root.join(name))
                .unwrap_or_else(|e| format!("present but unreadable: {e:#}"))
        } else {
            format!("missing: cargo xtask fetch-data {name}")
        };
        println!("{name:<14} {state}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A one-line description of a fetched dataset's size.
fn dataset_counts(name: &str, dir: &Path) -> Result<String> {
    use gen_data::idx::read_idx_labels;
    let idx_labels = |split: &str| -> Result<usize> {
        let plain = dir.join(format!("{split}-labels-idx1-ubyte"));
        let path = if plain.is_file() {
            plain
        } else {
            dir.join(format!("{split}-labels-idx1-ubyte.gz"))
        };
        Ok(read_idx_labels(&path)?.len())
    };
    Ok(match name {
        "imdb" => match gen_data::imdb::ImdbSource::find(dir)? {
            gen_data::imdb::ImdbSource::Csv { train, test } => {
                let count = |p: &Path| -> Result<usize> {
                    let mut r = csv::Reader::from_path(p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    Ok(r.records().count())
                };
                format!("{} train, {} test reviews", count(&train)?, count(&test)?)
            }
            other => format!("{other:?}"),
        },
        "fashion-mnist" | "mnist" => format!(
            "{} train, {} test images",
            idx_labels("train")?,
            idx_labels("t10k")?
        ),
        "canterbury" => {
            let files = gen_data::text::load_canterbury_from(dir)?;
            let chars: usize = files.iter().map(|f| f.text.chars().count()).sum();
            format!("{} texts, {chars} characters", files.len())
        }
        "fortunes" => format!(
            "{} fortunes",
            gen_data::text::load_fortunes_from(dir)?.len()
        ),
        _ => {
            let n = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .count();
            format!("{n} entries")
        }
    })
}

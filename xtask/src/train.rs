//! `cargo xtask train`: one command from a fresh clone to a trained model.
//!
//! Sets up libtorch, fetches the data the preset reads (its `data.dataset`), builds gen in
//! release with cargo's progress shown (and, when cargo is quiet for a while, which crates are
//! still compiling), then runs `gen train [ARGS]`. Each phase starts with a line saying what it
//! does; the first build says how long it takes.

use crate::progress::{build_gen, minutes};
use crate::util::{project_root, run_checked};
use crate::{fetch, setup};
use anyhow::{Context, Result};
use std::process::Command;
use std::time::Instant;

/// The preset `gen train` runs when none is named (gen-cli's `DEFAULT_PRESET`).
const DEFAULT_PRESET: &str = "mnist-dcgan";

/// Minutes a first release build of gen took on 2 busy cores (measured, see the report of the
/// `install` branch); the estimate scales it by the core count.
const FIRST_BUILD_MINUTES_ON_2_CORES: f64 = 10.0;

/// Runs setup, fetch-data and `gen train` with `args`.
pub fn run(args: &[String]) -> Result<()> {
    setup::run(&setup::SetupArgs::default())?;
    let preset = args
        .iter()
        .find(|a| !a.starts_with('-') && preset_path(a).is_file())
        .map_or(DEFAULT_PRESET, String::as_str);
    let datasets = preset_datasets(preset)?;
    if !datasets.is_empty() {
        fetch::run(&fetch::FetchArgs {
            names: datasets,
            ..Default::default()
        })?;
    }
    eprintln!("{}", build_announcement());
    let start = Instant::now();
    let exe = build_gen(false)?;
    eprintln!(
        "train: gen built in {}; running `gen train {}`",
        minutes(start.elapsed()),
        args.join(" ")
    );
    // The run path recorded at link time finds libtorch; runs/ goes into the project.
    let mut cmd = Command::new(&exe);
    cmd.arg("train").args(args).current_dir(project_root());
    run_checked(&mut cmd)
}

/// The line before the build: what it does, and for a first build, about how long it takes.
fn build_announcement() -> String {
    let first = !release_gen_exists();
    if !first {
        return "train: building gen in release (only what changed since the last build)".into();
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let estimate = (FIRST_BUILD_MINUTES_ON_2_CORES * 2.0 / cores as f64).max(2.0);
    format!(
        "train: building gen in release for the first time: about 280 crates, libtorch's C++ \
         bindings (torch-sys) the longest; about {estimate:.0} minutes on {cores} cores. Later \
         runs start in seconds."
    )
}

/// Whether a release `gen` is already in the target folder (from `cargo metadata`).
fn release_gen_exists() -> bool {
    let out = crate::util::cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return false };
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|m| m["target_directory"].as_str().map(std::path::PathBuf::from))
        .is_some_and(|dir| dir.join("release").join("gen").is_file())
}

fn preset_path(name: &str) -> std::path::PathBuf {
    project_root()
        .join("crates/gen-cli/src/presets")
        .join(format!("{name}.toml"))
}

/// The datasets a preset reads: its `data.dataset`.
fn preset_datasets(name: &str) -> Result<Vec<String>> {
    let path = preset_path(name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read preset {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    Ok(table
        .get("data")
        .and_then(|d| d.get("dataset"))
        .and_then(|d| d.as_str())
        .map(|d| vec![d.to_string()])
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_preset_matches_gen_cli_and_every_preset_names_a_manifest_dataset() {
        let cli =
            std::fs::read_to_string(project_root().join("crates/gen-cli/src/presets.rs")).unwrap();
        let line = format!("pub const DEFAULT_PRESET: &str = \"{DEFAULT_PRESET}\";");
        assert!(
            cli.contains(&line),
            "gen-cli's DEFAULT_PRESET is not {DEFAULT_PRESET}"
        );
        assert_eq!(preset_datasets(DEFAULT_PRESET).unwrap(), ["mnist"]);
        let manifest =
            std::fs::read_to_string(project_root().join("datasets/datasets.toml")).unwrap();
        let presets = project_root().join("crates/gen-cli/src/presets");
        for entry in std::fs::read_dir(presets).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            for d in preset_datasets(&name).unwrap() {
                assert!(
                    manifest.contains(&format!("name = \"{d}\"")),
                    "{name}: {d} is not in datasets.toml"
                );
            }
        }
    }
}

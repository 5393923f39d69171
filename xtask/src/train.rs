//! `cargo xtask train`: one command from a fresh clone to a trained model.
//!
//! Sets up libtorch, fetches the data the preset reads (its `data.dataset`), then runs
//! `cargo run --release -p gen-cli -- train [ARGS]`.

use crate::util::{cargo, prepend_library_path, project_root, run_checked};
use crate::{fetch, setup};
use anyhow::{Context, Result};

/// The preset `gen train` runs when none is named (gen-cli's `DEFAULT_PRESET`).
const DEFAULT_PRESET: &str = "mnist-dcgan";

/// Runs setup, fetch-data and `gen train` with `args`.
pub fn run(args: &[String]) -> Result<()> {
    let libtorch = setup::run(&setup::SetupArgs::default())?;
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
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "gen-cli",
        "--",
        "train",
    ])
    .args(args);
    prepend_library_path(&mut cmd, &libtorch.lib_dir());
    run_checked(&mut cmd)
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
            std::fs::read_to_string(project_root().join("crates/gen-cli/src/config.rs")).unwrap();
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

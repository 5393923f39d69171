//! What `train`, `cv` and `tune` start from: a preset or config file, and `--set` overrides.

use crate::config::{self, RunConfig};
use crate::presets;
use anyhow::{Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A preset or config file with overrides: what `train`, `cv` and `tune` start from.
#[derive(Args)]
pub struct Settings {
    /// A preset name (see `gen presets`). Default: mnist-dcgan.
    preset: Option<String>,
    /// A config file instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Override a setting: `key.path=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Shorthand for `--set trainer.epochs=N`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Shorthand for `--set trainer.max_steps=N`.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Shorthand for `--set trainer.seed=S`.
    #[arg(long)]
    seed: Option<u64>,
}

/// [`Settings`] applied: the table (studies re-apply overrides to it per run), where it came
/// from, the preset's (or file's) name, and the config.
pub struct Resolved {
    pub table: Table,
    pub origin: String,
    pub name: String,
    pub config: RunConfig,
}

impl Settings {
    /// The config table with every override (and `extra` ones) applied, and what it
    /// resolves to.
    pub fn resolve(&self, extra: &[String]) -> Result<Resolved> {
        let (mut table, origin, name) = base_table(self.config.as_deref(), self.preset.as_deref())?;
        let mut sets = self.set.clone();
        sets.extend(trainer_shorthands(self.epochs, self.max_steps, self.seed));
        sets.extend_from_slice(extra);
        let origin = apply_sets(&mut table, origin, &sets)?;
        let config = config::resolve(&table, &origin)?;
        Ok(Resolved {
            table,
            origin,
            name,
            config,
        })
    }
}

/// Reads a preset or config file into a table; returns it with its origin and run name.
fn base_table(config: Option<&Path>, preset: Option<&str>) -> Result<(Table, String, String)> {
    Ok(match config {
        Some(path) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("run")
                .to_string();
            (config::read_file(path)?, path.display().to_string(), stem)
        }
        None => {
            let p = presets::preset(preset.unwrap_or(presets::DEFAULT_PRESET))?;
            (p.table()?, format!("preset {}", p.name), p.name.to_string())
        }
    })
}

/// Applies `--set` assignments; returns the origin with them appended.
fn apply_sets(table: &mut Table, origin: String, sets: &[String]) -> Result<String> {
    for s in sets {
        apply_set(table, s)?;
    }
    Ok(if sets.is_empty() {
        origin
    } else {
        format!("{origin} with --set {}", sets.join(" "))
    })
}

fn trainer_shorthands(
    epochs: Option<usize>,
    max_steps: Option<u64>,
    seed: Option<u64>,
) -> Vec<String> {
    [
        epochs.map(|v| format!("trainer.epochs={v}")),
        max_steps.map(|v| format!("trainer.max_steps={v}")),
        seed.map(|v| format!("trainer.seed={v}")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Applies `key.path=value`: the value is read as a TOML value (`0.1`, `true`, `"x"`,
/// `[1, 2]`), or taken as a string when it is not one.
pub fn apply_set(table: &mut Table, assignment: &str) -> Result<()> {
    let Some((path, raw)) = assignment.split_once('=') else {
        bail!("--set `{assignment}`: expected key.path=value");
    };
    let value: Value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    let keys: Vec<&str> = path.trim().split('.').collect();
    let Some((last, parents)) = keys.split_last() else {
        bail!("--set `{assignment}`: empty key");
    };
    let mut node = table;
    for key in parents {
        let entry = node
            .entry(key.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        node = match entry {
            Value::Table(t) => t,
            _ => bail!("--set `{assignment}`: `{key}` is a value, not a section"),
        };
    }
    node.insert(last.to_string(), value);
    Ok(())
}

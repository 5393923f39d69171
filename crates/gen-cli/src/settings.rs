//! What `train`, `cv` and `tune` start from: a preset or config file, and `--set` overrides
//! merged onto the settings it resolves to, the kind's own defaults included.

use crate::config::{self, RunConfig};
use crate::presets;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
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

/// [`Settings`] applied: the full table (every setting, defaults included; studies apply
/// their overrides to it per run), where it came from, the preset's (or file's) name, and
/// the config.
pub struct Resolved {
    pub table: Table,
    pub origin: String,
    pub name: String,
    pub config: RunConfig,
}

impl Settings {
    /// The settings with every override (and `extra` ones) applied.
    pub fn resolve(&self, extra: &[String]) -> Result<Resolved> {
        let (base, origin, name) = self.base()?;
        let mut sets = self.set.clone();
        sets.extend(
            [
                self.epochs.map(|v| format!("trainer.epochs={v}")),
                self.max_steps.map(|v| format!("trainer.max_steps={v}")),
                self.seed.map(|v| format!("trainer.seed={v}")),
            ]
            .into_iter()
            .flatten(),
        );
        sets.extend_from_slice(extra);
        let described = if sets.is_empty() {
            origin.clone()
        } else {
            format!("{origin} with --set {}", sets.join(" "))
        };
        let (table, config) = with_overrides(&base, &origin, &sets, &described)?;
        Ok(Resolved {
            table,
            origin: described,
            name,
            config,
        })
    }

    /// The preset's or config file's table, its origin and the run name.
    fn base(&self) -> Result<(Table, String, String)> {
        Ok(match &self.config {
            Some(path) => {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("run")
                    .to_string();
                (config::read_file(path)?, path.display().to_string(), stem)
            }
            None => {
                let p = presets::preset(self.preset.as_deref().unwrap_or(presets::DEFAULT_PRESET))?;
                (p.table()?, format!("preset {}", p.name), p.name.to_string())
            }
        })
    }
}

/// Applies the overrides `sets` (`key.path=value`) to `base`, a config table that may leave
/// settings to its kind's defaults (`base_origin` names it; `origin` names the result).
///
/// The overrides change only what they name: `base` is first resolved, with its kind's
/// defaults (a trajectory run's 200 epochs in batches of 60, not a generic trainer's), then
/// written back as a full table, and the overrides are merged into that. When the merged
/// table does not resolve because an override switches a variant (`optimizer.name = "sgd"`
/// where the settings hold Adam's `beta1`), each table whose `kind` or `name` the overrides
/// change starts again from its overrides alone, that is, from the new variant's defaults.
/// Returns the full table (the config written back, every setting) and the config.
pub fn with_overrides(
    base: &Table,
    base_origin: &str,
    sets: &[String],
    origin: &str,
) -> Result<(Table, RunConfig)> {
    let resolved = config::resolve(base, base_origin)?;
    let full = config::to_table(&resolved)?;
    if sets.is_empty() {
        return Ok((full, resolved));
    }
    let mut overrides = Table::new();
    for s in sets {
        apply_set(&mut overrides, s)?;
    }
    let merged = merge(&full, &overrides, false);
    let config = match config::resolve(&merged, origin) {
        Ok(config) => config,
        Err(error) => {
            let switched = merge(&full, &overrides, true);
            if switched == merged {
                return Err(error);
            }
            config::resolve(&switched, origin)?
        }
    };
    Ok((config::to_table(&config)?, config))
}

/// `overrides` merged into `base`, tables key by key. With `restart_switched`, a table whose
/// variant `overrides` changes ([`switches`]) keeps none of its `base` keys.
fn merge(base: &Table, overrides: &Table, restart_switched: bool) -> Table {
    let mut out = base.clone();
    for (key, value) in overrides {
        let merged = match (base.get(key), value) {
            (Some(Value::Table(b)), Value::Table(o)) if !(restart_switched && switches(b, o)) => {
                Value::Table(merge(b, o, restart_switched))
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    out
}

/// The keys that name the variant of a table: `optimizer.name`, `grad_clip.kind`,
/// `trainer.lr_schedule.kind`, ...
const TAGS: [&str; 2] = ["kind", "name"];

/// Whether `overrides` changes the variant of the table `base` (one of its [`TAGS`]).
fn switches(base: &Table, overrides: &Table) -> bool {
    TAGS.iter().any(|tag| {
        matches!(
            (base.get(*tag), overrides.get(*tag)),
            (Some(Value::String(a)), Some(Value::String(b))) if a != b
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(preset: &str) -> Settings {
        Settings {
            preset: Some(preset.to_string()),
            config: None,
            set: Vec::new(),
            epochs: None,
            max_steps: None,
            seed: None,
        }
    }

    /// The resolved `config.toml` of `s`, flattened to `path = value` pairs.
    fn written(s: &Settings) -> BTreeMap<String, String> {
        fn flatten(table: &Table, prefix: &str, out: &mut BTreeMap<String, String>) {
            for (k, v) in table {
                let path = format!("{prefix}{k}");
                match v {
                    Value::Table(t) => flatten(t, &format!("{path}."), out),
                    _ => {
                        out.insert(path, v.to_string());
                    }
                }
            }
        }
        let config = s.resolve(&[]).unwrap().config;
        let table: Table = toml::from_str(&config::to_toml(&config).unwrap()).unwrap();
        let mut out = BTreeMap::new();
        flatten(&table, "", &mut out);
        out
    }

    /// The settings that differ between `a` and `b`, with their values in each.
    fn changed(
        a: &BTreeMap<String, String>,
        b: &BTreeMap<String, String>,
    ) -> Vec<(String, Option<String>, Option<String>)> {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| (k.clone(), a.get(k).cloned(), b.get(k).cloned()))
            .collect()
    }

    #[test]
    fn a_shorthand_changes_only_its_own_setting_in_every_preset() {
        for p in presets::PRESETS {
            let plain = written(&settings(p.name));
            let seeded = written(&Settings {
                seed: Some(12345),
                ..settings(p.name)
            });
            assert_eq!(
                changed(&plain, &seeded),
                [(
                    "trainer.seed".to_string(),
                    plain.get("trainer.seed").cloned(),
                    Some("12345".to_string())
                )],
                "--seed in preset {}",
                p.name
            );
            let epochs = written(&Settings {
                epochs: Some(7),
                ..settings(p.name)
            });
            assert_eq!(
                changed(&plain, &epochs),
                [(
                    "trainer.epochs".to_string(),
                    plain.get("trainer.epochs").cloned(),
                    Some("7".to_string())
                )],
                "--epochs in preset {}",
                p.name
            );
            let steps = written(&Settings {
                max_steps: Some(30),
                ..settings(p.name)
            });
            assert_eq!(
                changed(&plain, &steps),
                [(
                    "trainer.max_steps".to_string(),
                    None,
                    Some("30".to_string())
                )],
                "--max-steps in preset {}",
                p.name
            );
        }
    }

    #[test]
    fn a_trajectory_run_keeps_its_task_defaults_under_overrides() {
        let w = written(&Settings {
            seed: Some(1),
            set: vec!["trainer.validation_split=0.1".into()],
            ..settings("lasa-traj")
        });
        // gen_train's TrajectoryTaskConfig: 200 epochs in batches of 60, cosine decay to 0.
        for (key, value) in [
            ("trainer.epochs", "200"),
            ("trainer.batch_size", "60"),
            ("trainer.seed", "1"),
            ("trainer.validation_split", "0.1"),
            ("trainer.lr_schedule.kind", "\"cosine\""),
        ] {
            assert_eq!(w.get(key).map(String::as_str), Some(value), "{key}");
        }
    }

    #[test]
    fn no_override_resolves_as_the_preset_itself() {
        for p in presets::PRESETS {
            let direct = config::resolve(&p.table().unwrap(), p.name).unwrap();
            let resolved = settings(p.name).resolve(&[]).unwrap();
            assert_eq!(
                config::to_toml(&resolved.config).unwrap(),
                config::to_toml(&direct).unwrap(),
                "{}",
                p.name
            );
            assert_eq!(resolved.origin, format!("preset {}", p.name));
        }
    }

    #[test]
    fn switching_a_variant_starts_it_from_its_defaults() {
        // Adam's fields (`beta1`, `eps`, ...) do not carry over to SGD.
        for preset in ["imdb-gru", "lasa-traj"] {
            let s = Settings {
                set: vec!["optimizer.name=sgd".into(), "optimizer.momentum=0.9".into()],
                ..settings(preset)
            };
            let table = s.resolve(&[]).unwrap().table;
            let optimizer = table["optimizer"].as_table().unwrap();
            assert_eq!(optimizer["name"].as_str(), Some("sgd"), "{preset}");
            assert_eq!(optimizer["momentum"].as_float(), Some(0.9), "{preset}");
            assert_eq!(
                optimizer["lr"].as_float(),
                Some(0.01),
                "{preset}: SGD's default"
            );
        }
        // Other tables the same overrides change keep their other settings.
        let s = Settings {
            set: vec!["optimizer.name=sgd".into(), "data.dataset=fortunes".into()],
            ..settings("text-char")
        };
        let data = s.resolve(&[]).unwrap().table["data"].clone();
        assert_eq!(data["dataset"].as_str(), Some("fortunes"));
        assert_eq!(
            data["seq_len"].as_integer(),
            Some(64),
            "text-char's, not 128"
        );
        // A `kind` that is a plain setting (a GAN's architecture) keeps the table's others.
        let mut base = presets::preset("mnist-dcgan").unwrap().table().unwrap();
        apply_set(&mut base, "model.latent_dim=64").unwrap();
        let (table, _) =
            with_overrides(&base, "test", &["model.kind=mlp".into()], "test with kind").unwrap();
        let model = table["model"].as_table().unwrap();
        assert_eq!(model["kind"].as_str(), Some("mlp"));
        assert_eq!(model["latent_dim"].as_integer(), Some(64));
        // A misspelt key is still an error that names it.
        let err =
            with_overrides(&base, "test", &["model.hiden=3".into()], "test with typo").unwrap_err();
        assert!(format!("{err:#}").contains("hiden"), "{err:#}");
    }
}

//! Run configs: presets compiled into the binary, config files, and `--set` overrides.

use anyhow::{bail, Context, Result};
use gen_core::DeviceChoice;
use gen_data::sequence::{Padding, Truncating};
use gen_models::GruClassifierConfig;
use gen_train::{GradClip, OptimizerConfig, TrainerConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A preset: name, one-line description, TOML text.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub toml: &'static str,
}

/// The presets, in the order `gen presets` lists them. The first is the default.
pub const PRESETS: &[Preset] = &[Preset {
    name: "imdb-gru",
    about: "the source text's GRU sentiment classifier on IMDB (Keras-exact data pipeline)",
    toml: include_str!("presets/imdb-gru.toml"),
}];

/// The preset `gen train` runs when none is named.
pub const DEFAULT_PRESET: &str = "imdb-gru";

/// A whole run: what to train and how. Saved as `config.toml` in the run folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunConfig {
    /// A sequence classifier (the source text's IMDB model).
    TextClassifier(TextClassifierRun),
}

/// Settings shared by every kind of run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `cpu`, `cuda`, `cuda:N` or `auto`. Default: `cpu`.
    pub device: DeviceChoice,
    /// libtorch intra-op threads. Default: libtorch's choice.
    pub threads: Option<usize>,
}

/// A text-classifier run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextClassifierRun {
    /// The data pipeline.
    pub data: TextDataConfig,
    /// The model.
    #[serde(default)]
    pub model: GruClassifierConfig,
    /// The optimiser. Default: Adam with PyTorch's settings.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Gradient clipping. Default: none.
    #[serde(default)]
    pub grad_clip: GradClip,
    /// The training loop.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// Device and threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

/// Keras's `imdb.load_data` and `pad_sequences` options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextDataConfig {
    /// The dataset (`cargo xtask fetch-data NAME`). Default: `imdb`.
    pub dataset: String,
    /// Keep the `num_words` most frequent words; others become the OOV id. Default: 10000.
    pub num_words: Option<usize>,
    /// Skip the most frequent words. Default: 0.
    pub skip_top: usize,
    /// `load_data`'s `maxlen`: drop reviews this long or longer. Default: none.
    pub load_maxlen: Option<usize>,
    /// `pad_sequences`' `maxlen`. Default: 256.
    pub maxlen: usize,
    /// `pad_sequences`' `padding`. Default: `post` (the source text's).
    pub padding: Padding,
    /// `pad_sequences`' `truncating`. Default: `pre` (Keras's).
    pub truncating: Truncating,
    /// `load_data`'s shuffle seed. Default: 113.
    pub seed: u64,
}

impl Default for TextDataConfig {
    fn default() -> Self {
        TextDataConfig {
            dataset: "imdb".into(),
            num_words: Some(10000),
            skip_top: 0,
            load_maxlen: None,
            maxlen: 256,
            padding: Padding::Post,
            truncating: Truncating::Pre,
            seed: 113,
        }
    }
}

impl RunConfig {
    /// The training-loop settings.
    pub fn trainer(&self) -> &TrainerConfig {
        match self {
            RunConfig::TextClassifier(r) => &r.trainer,
        }
    }

    /// Device and threads.
    pub fn runtime(&self) -> &RuntimeConfig {
        match self {
            RunConfig::TextClassifier(r) => &r.runtime,
        }
    }
}

/// Finds a preset by name.
pub fn preset(name: &str) -> Result<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name).with_context(|| {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        format!(
            "unknown preset `{name}`; the presets are: {}",
            names.join(", ")
        )
    })
}

/// Reads a config file into a TOML table.
pub fn read_file(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))
}

/// Parses TOML text of a preset into a table.
pub fn parse_preset(p: &Preset) -> Result<toml::Table> {
    toml::from_str(p.toml).with_context(|| format!("preset {} is not valid TOML", p.name))
}

/// Applies `key.path=value`: the value is read as a TOML value (`0.1`, `true`, `"x"`,
/// `[1, 2]`), or taken as a string when it is not one.
pub fn apply_set(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let Some((path, raw)) = assignment.split_once('=') else {
        bail!("--set `{assignment}`: expected key.path=value");
    };
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let keys: Vec<&str> = path.trim().split('.').collect();
    let Some((last, parents)) = keys.split_last() else {
        bail!("--set `{assignment}`: empty key");
    };
    let mut node = table;
    for key in parents {
        let entry = node
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("--set `{assignment}`: `{key}` is a value, not a section"),
        };
    }
    node.insert(last.to_string(), value);
    Ok(())
}

/// Turns the (overridden) table into a typed config. Unknown keys and wrong types are errors
/// that name the key and list the valid ones; `origin` says where the config came from.
pub fn resolve(table: &toml::Table, origin: &str) -> Result<RunConfig> {
    let text = toml::to_string(table).context("cannot re-encode the config")?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config ({origin}):\n{e}"))
}

/// The resolved config as TOML, defaults included.
pub fn to_toml(config: &RunConfig) -> Result<String> {
    toml::to_string_pretty(config).context("cannot encode the resolved config")
}

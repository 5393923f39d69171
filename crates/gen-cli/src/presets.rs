//! The presets: named configs compiled into the binary (`src/presets/*.toml`).

use anyhow::{Context, Result};

/// A preset: name, one-line description, TOML text.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub toml: &'static str,
}

/// The presets, in the order `gen presets` lists them. The first is the default.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "mnist-dcgan",
        about: "DCGAN on MNIST digits: sample grids every epoch, FD-scored (a few minutes)",
        toml: include_str!("presets/mnist-dcgan.toml"),
    },
    Preset {
        name: "imdb-gru",
        about: "the source text's GRU sentiment classifier on IMDB (Keras-exact data pipeline)",
        toml: include_str!("presets/imdb-gru.toml"),
    },
    Preset {
        name: "imdb-lm",
        about: "word-level GRU language model that writes IMDB reviews",
        toml: include_str!("presets/imdb-lm.toml"),
    },
    Preset {
        name: "text-char",
        about: "character-level GRU language model on the Canterbury corpus texts",
        toml: include_str!("presets/text-char.toml"),
    },
    Preset {
        name: "mnist-gan",
        about: "the original fully connected GAN with the source's minimax value function",
        toml: include_str!("presets/mnist-gan.toml"),
    },
    Preset {
        name: "fashion-dcgan",
        about: "DCGAN on the full Fashion-MNIST (60k clothes images)",
        toml: include_str!("presets/fashion-dcgan.toml"),
    },
    Preset {
        name: "lasa-traj",
        about: "behaviour: robot-style handwriting trajectories of the 30 LASA shapes (GRU mixture density)",
        toml: include_str!("presets/lasa-traj.toml"),
    },
    Preset {
        name: "fashion-cgan",
        about: "class-conditional DCGAN on Fashion-MNIST: `gen sample --class K`",
        toml: include_str!("presets/fashion-cgan.toml"),
    },
    Preset {
        name: "bach-gru",
        about: "music: a GRU composes Bach chorales as piano-rolls (NLL per frame; MIDI + WAV)",
        toml: include_str!("presets/bach-gru.toml"),
    },
    Preset {
        name: "bach-nade",
        about: "music: a GRU with a NADE over the 88 keys (RNN-NADE): chords, not independent keys",
        toml: include_str!("presets/bach-nade.toml"),
    },
    Preset {
        name: "drums-specgan",
        about: "SpecGAN: drum sounds from 128x128 spectrograms, Griffin-Lim back to WAV",
        toml: include_str!("presets/drums-specgan.toml"),
    },
    Preset {
        name: "drums-cspecgan",
        about: "class-conditional SpecGAN on drum sounds: `gen sample --class snare`",
        toml: include_str!("presets/drums-cspecgan.toml"),
    },
];

/// The preset `gen train` runs when none is named.
pub const DEFAULT_PRESET: &str = "mnist-dcgan";

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

impl Preset {
    /// The preset's TOML as a table.
    pub fn table(&self) -> Result<toml::Table> {
        toml::from_str(self.toml).with_context(|| format!("preset {} is not valid TOML", self.name))
    }
}

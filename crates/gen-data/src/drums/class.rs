//! The six drum classes, and the documented mapping from Hydrogen instrument names to them.
//!
//! # Mapping
//! An instrument name (from a kit's `drumkit.xml`) is lower-cased and split into words at every
//! character that is not a letter or digit. A word *matches* a key when it starts with it. The
//! first rule with a matching word wins:
//!
//! | rule | keys | examples from the kits |
//! | --- | --- | --- |
//! | clap | `clap` | Hand Clap, Clap Hard, d#3 - clap |
//! | hi-hat | `hat`, `hihat`, `hh`, `chh`, `ohh` | Closed HH, Hi-Hat Pedal, Sabian Hat Choke, Side OHH |
//! | cymbal | `ride`, `crash`, `china`, `splash`, `cymbal`, and the cymbal makers `paiste`, `zildjian`, `sabian` | Ride Bell, Crash/Ride Bow, China, Zildjian Splash Choke, Paiste Bell |
//! | snare | `snare` | Snare Jazz, Snare Rimshot, Snare Roll, Snare1 |
//! | tom | `tom` | Tom Low, Floor Tom, tomhi2, b3 - low tom |
//! | kick | `kick`, `bassdrum`, `bd`, or the words `bass drum` | Kick, BassDrum, c3 - bass drum 1 |
//!
//! Hats come before cymbals because cymbal makers also make hi-hats ("Sabian Hat Open"). Every
//! other name is unlabelled: side stick, rim click and plain "Stick" (a cross-stick click, not
//! a snare hit), cowbell, tambourine, maraca, conga, bongo, djembe, cajon, agogo, clave,
//! woodblock, finger snaps, effects, and the numbered or empty names of unused pads. "Bass" alone
//! (a djembe's bass tone) is not a kick.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A drum class: what a one-shot sample is the sound of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrumClass {
    /// Kick or bass drum.
    Kick,
    /// Snare drum, rimshots and rolls included.
    Snare,
    /// Hi-hat: closed, open, pedal, half-open.
    HiHat,
    /// Toms: high, middle, low, floor.
    Tom,
    /// Ride, crash, china and splash cymbals.
    Cymbal,
    /// Hand clap.
    Clap,
}

impl DrumClass {
    /// Every class, in index order.
    pub const ALL: [DrumClass; 6] = [
        DrumClass::Kick,
        DrumClass::Snare,
        DrumClass::HiHat,
        DrumClass::Tom,
        DrumClass::Cymbal,
        DrumClass::Clap,
    ];

    /// The number of classes.
    pub const COUNT: usize = Self::ALL.len();

    /// The class's index in [`DrumClass::ALL`] (0-based; a model's label).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class with index `i`, if any.
    pub fn from_index(i: usize) -> Option<DrumClass> {
        Self::ALL.get(i).copied()
    }

    /// The class's name as the CLI and files write it: `kick`, `snare`, `hi-hat`, `tom`,
    /// `cymbal`, `clap`.
    pub fn name(self) -> &'static str {
        match self {
            DrumClass::Kick => "kick",
            DrumClass::Snare => "snare",
            DrumClass::HiHat => "hi-hat",
            DrumClass::Tom => "tom",
            DrumClass::Cymbal => "cymbal",
            DrumClass::Clap => "clap",
        }
    }

    /// The class of a Hydrogen instrument called `name`, by the mapping in the module docs, or
    /// `None` for a sound outside the six classes.
    pub fn from_instrument_name(name: &str) -> Option<DrumClass> {
        let lower = name.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has = |keys: &[&str]| words.iter().any(|w| keys.iter().any(|k| w.starts_with(k)));
        if has(&["clap"]) {
            Some(DrumClass::Clap)
        } else if has(&["hat", "hihat", "hh", "chh", "ohh"]) {
            Some(DrumClass::HiHat)
        } else if has(&[
            "ride", "crash", "china", "splash", "cymbal", "paiste", "zildjian", "sabian",
        ]) {
            Some(DrumClass::Cymbal)
        } else if has(&["snare"]) {
            Some(DrumClass::Snare)
        } else if has(&["tom"]) {
            Some(DrumClass::Tom)
        } else if has(&["kick", "bassdrum", "bd"])
            || words.windows(2).any(|w| w == ["bass", "drum"])
        {
            Some(DrumClass::Kick)
        } else {
            None
        }
    }
}

impl fmt::Display for DrumClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DrumClass {
    type Err = crate::Error;

    /// Parses a class name as [`DrumClass::name`] writes it (`hihat` is accepted for `hi-hat`).
    fn from_str(s: &str) -> crate::Result<DrumClass> {
        let s = s.trim().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s || (s == "hihat" && *c == DrumClass::HiHat))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
                crate::Error::invalid(
                    "drum class",
                    format!("`{s}` is not one of {}", names.join(", ")),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_names_map_to_the_documented_classes() {
        use DrumClass::*;
        let cases: &[(&str, Option<DrumClass>)] = &[
            ("Kick", Some(Kick)),
            ("BassDrum", Some(Kick)),
            ("c3 - bass drum 1", Some(Kick)),
            ("Kick (Tama Superstar 22\")", Some(Kick)),
            ("Pearl Kick", Some(Kick)),
            ("Snare Jazz", Some(Snare)),
            ("Snare1", Some(Snare)),
            (
                "Snare 2 Rimshot (Pearl Free Floating Maple 14x3.5)",
                Some(Snare),
            ),
            ("Closed HH", Some(HiHat)),
            ("Hi-Hat Pedal (Paiste Alpha Metal edge 14\")", Some(HiHat)),
            ("Sabian Hat Choke", Some(HiHat)),
            ("Side OHH", Some(HiHat)),
            ("VariBreaks Hat 1 Cl", Some(HiHat)),
            ("Tom Low", Some(Tom)),
            ("tomhi2", Some(Tom)),
            ("b3 - low tom", Some(Tom)),
            ("Pearl Tom Floor", Some(Tom)),
            ("Ride Bell", Some(Cymbal)),
            ("Crash/Ride Bow (Paiste Rude Crash/Ride 18\")", Some(Cymbal)),
            ("China (Paiste Alpha 18\")", Some(Cymbal)),
            ("Zildjian Splash Choke", Some(Cymbal)),
            ("ride-crash20inch", Some(Cymbal)),
            ("e4 - cymbal 2", Some(Cymbal)),
            ("Paiste Bell", Some(Cymbal)),
            ("Hand Clap", Some(Clap)),
            ("d#3 - clap", Some(Clap)),
            ("Stick", None),
            ("Pearl Side Stick", None),
            ("Rim Click (Pearl Free Floating Maple 14x3.5)", None),
            ("Cowbell", None),
            ("Djembe1 Bass", None),
            ("Dununba1 Bell", None),
            ("Tambourine", None),
            ("Finger Snaps", None),
            ("17", None),
            ("", None),
            ("Sample: beats_08-37.flac", None),
        ];
        for (name, want) in cases {
            assert_eq!(DrumClass::from_instrument_name(name), *want, "{name:?}");
        }
    }

    #[test]
    fn names_round_trip_and_indices_follow_all() {
        for (i, c) in DrumClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(DrumClass::from_index(i), Some(c));
            assert_eq!(c.name().parse::<DrumClass>().unwrap(), c);
        }
        assert_eq!("HiHat".parse::<DrumClass>().unwrap(), DrumClass::HiHat);
        let err = "cowbell".parse::<DrumClass>().unwrap_err().to_string();
        assert!(
            err.contains("kick, snare, hi-hat, tom, cymbal, clap"),
            "{err}"
        );
        assert_eq!(DrumClass::from_index(6), None);
    }
}

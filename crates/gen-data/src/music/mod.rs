//! Music as piano-rolls: Bach's chorales read from MusicXML.

pub mod chorale;
pub mod musicxml;
pub mod mxl;
#[cfg(test)]
mod reader_tests;
pub mod roll;

pub use chorale::{Chorale, read_chorale, score_to_roll};
pub use roll::{HIGHEST_KEY, KEYS, LOWEST_KEY, PianoRoll, RollNote};

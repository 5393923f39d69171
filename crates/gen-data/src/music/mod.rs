//! Music as piano-rolls: Bach's chorales read from MusicXML, and the NLL-per-frame metric with
//! its baselines.

pub mod baselines;
pub mod chorale;
pub mod corpus;
pub mod musicxml;
pub mod mxl;
pub mod nll;
#[cfg(test)]
mod reader_tests;
pub mod roll;
pub mod split;

pub use baselines::{Baselines, COIN_FLIP_NLL, KeyBernoulli, KeyMarkov, baselines};
pub use chorale::{Chorale, read_chorale, score_to_roll};
pub use corpus::{
    BACH_CHORALES, ChoraleSet, RollStats, SkipReason, Skipped, load_bach_chorales,
    load_chorales_from,
};
pub use nll::{NllPerFrame, PROB_EPS, bernoulli_nll, frame_nll};
pub use roll::{HIGHEST_KEY, KEYS, LOWEST_KEY, PianoRoll, RollNote};
pub use split::{Split, split_digest, split_of};

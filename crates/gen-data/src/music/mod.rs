//! Music as piano-rolls: Bach's chorales read from MusicXML, the NLL-per-frame metric and its
//! baselines, and a roll heard and seen (MIDI, a small synthesiser, PNG).
//!
//! ```no_run
//! use gen_data::music::{self, Split};
//! let set = music::load_bach_chorales()?; // `cargo xtask fetch-data bach-chorales` first
//! let stats = set.stats();
//! println!("{} chorales, {} frames", stats.chorales, stats.frames);
//! let train = set.split(Split::Train).iter().map(|c| &c.roll);
//! let test = set.split(Split::Test).iter().map(|c| &c.roll);
//! let b = music::baselines(train, test)?.expect("test frames");
//! println!("Bernoulli {:.2}, Markov {:.2} nats per frame", b.bernoulli, b.markov);
//! # Ok::<(), gen_data::Error>(())
//! ```
//!
//! - **Data** ([`corpus`]): the 408 `.mxl` files of music21's corpus (`music21/corpus/bach/`).
//!   A chorale is a file with exactly four parts (364 files); two of those have the piano-roll
//!   of an earlier file and are dropped (`bwv18.5-w` = `bwv18.5-lz`, `bwv398` = `bwv197.7-a`),
//!   leaving 362 (19,701 frames, 24 to 193 per chorale, 3.87 sounding keys per frame). The
//!   split (60/20/20 by the sha256 of the file name, [`split`]) gives 220 train, 66 valid and
//!   76 test chorales. Every four-part file reads exactly as music21 10.5.1 reads it (the
//!   `matches_music21` test).
//! - **Reading** ([`mxl`], [`musicxml`]): `.mxl` is a zip with size limits; MusicXML parts,
//!   measures, voices, chords, ties, tuplets, grace notes and repeats follow the rules in
//!   [`musicxml`]. Errors name the file, part and measure; nothing panics.
//! - **Piano-roll** ([`roll`], [`chorale`]): quarter-note frames over the 88 keys (MIDI
//!   21-108); a frame holds what sounds at its start, so a held note is on in every frame it
//!   spans. Each chorale is transposed to C major / A minor from its key signature.
//! - **Metric** ([`nll`]): the sum over the 88 keys of the Bernoulli NLL in nats, averaged over
//!   every frame; [`baselines()`] gives a coin flip, a Bernoulli per key and a Markov chain per
//!   key.
//! - **Hear and see**: [`midi`] (standard MIDI files, with text events, read back for checks),
//!   [`synth`] (additive, piano-like, never clipped; write with
//!   [`crate::audio::wav::write_wav_i16`]) and [`render`] (PNG).

pub mod baselines;
pub mod chorale;
pub mod corpus;
pub mod midi;
pub mod musicxml;
pub mod mxl;
pub mod nll;
#[cfg(test)]
mod reader_tests;
pub mod render;
pub mod roll;
pub mod split;
pub mod synth;

pub use baselines::{Baselines, COIN_FLIP_NLL, KeyBernoulli, KeyMarkov, baselines};
pub use chorale::{Chorale, read_chorale, score_to_roll};
pub use corpus::{
    BACH_CHORALES, ChoraleSet, RollStats, SkipReason, Skipped, load_bach_chorales,
    load_chorales_from,
};
pub use midi::{MidiOptions, MidiRoll, decode_midi, encode_midi, read_midi, write_midi};
pub use nll::{NllPerFrame, PROB_EPS, bernoulli_nll, frame_nll};
pub use render::{RollImageOptions, roll_image, write_roll_png};
pub use roll::{HIGHEST_KEY, KEYS, LOWEST_KEY, PianoRoll, RollNote};
pub use split::{Split, split_digest, split_of};
pub use synth::{SynthOptions, synthesize};

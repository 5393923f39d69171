//! Drum one-shots: the `drums` dataset (Debian's `hydrogen-drumkits`, 14 kits, 754 samples), as
//! fixed-length 16 kHz mono clips labelled kick, snare, hi-hat, tom, cymbal or clap.
//!
//! Fetch it with `cargo xtask fetch-data drums`. The folder holds one subfolder per kit: its
//! samples (WAV, FLAC or AIFF, 44.1 or 48 kHz, one 22.05 kHz), its `drumkit.xml` and its
//! `COPYRIGHT`.
//!
//! - **Clips** ([`load_drums`], [`load_drums_cached`]): each sample is decoded with symphonia
//!   ([`decode`]), averaged to mono, resampled to [`SAMPLE_RATE`] with rubato ([`resample`]
//!   says the settings), and its first [`CLIP_LEN`] samples (1.024 s, WaveGAN's drums setup)
//!   kept, zero-padded. Levels stay as recorded: nothing is normalised.
//! - **Labels** ([`DrumClass`]): from the names of the kit's instruments that play the file, by
//!   the mapping documented in [`class`]; a file no instrument names, or named only by sounds
//!   outside the six classes, is unlabelled (`class: None`). Unlabelled clips may train an
//!   unconditional model, never the evaluator.
//! - **Errors**: a file that cannot be decoded, or is silent over its clip, is skipped and
//!   listed with its reason in [`DrumsReport::skipped`]; a malformed `drumkit.xml` is an error
//!   naming it. No input makes loading panic: symphonia's errors pass through, and a panic
//!   inside symphonia (fuzzing finds arithmetic-overflow panics in builds with overflow checks)
//!   comes back as an error.
//! - **Split** ([`split_clips`]): seeded, stratified by class, 80/10/10 by default.
//! - **Rebalancing** ([`rebalance`]): rare classes repeated in a training split.
//! - **Counts** ([`ClassCounts`]): clips per class, for `gen data`.
//!
//! On the fetched data (`cargo run --release -p gen-data --example drums_stats`): 752 clips
//! load (two silent `emptySample.flac` placeholders are skipped), labelled kick 54, snare 89,
//! hi-hat 125, tom 78, cymbal 124, clap 17 (487 in all), and 265 unlabelled. Peaks over the
//! clip: median 0.51, lowest 0.016 (-36 dBFS); 31 clips exceed 1.0 (at most 1.71), because
//! band-limiting a recording clipped at full scale overshoots. Decoding all 754 files takes
//! 2-3 s in a release build on this project's 2 shared cores and about 40 s in a debug build
//! (rubato's and symphonia's generic code is compiled inside gen-data, unoptimised); reading
//! the cache takes 0.15 s (2.6 s in debug), so [`load_drums_cached`] keeps the clips in one
//! cache file ([`cache`]).
//!
//! ```no_run
//! use gen_data::drums::{self, ClassCounts, SplitSpec};
//! let set = drums::load_default()?;
//! println!("{}", ClassCounts::of(&set.clips));
//! let split = drums::split_clips(&set.clips, &SplitSpec::default())?;
//! let first_test_clip: &[f32] = &set.clips[split.test[0]].samples; // 16,384 samples
//! # Ok::<(), gen_data::Error>(())
//! ```

pub mod balance;
pub mod cache;
pub mod class;
pub mod decode;
pub mod kit;
pub mod load;
pub mod resample;
pub mod split;

pub use balance::{rebalance, repeat_factors};
pub use cache::{CACHE_DIR_ENV, cache_dir, load_drums_cached};
pub use class::DrumClass;
pub use load::{CacheStatus, Clip, DrumsReport, DrumsSet, Skipped, load_drums};
pub use split::{ClassCounts, DrumsSplit, SplitSpec, split_clips};

/// The dataset's name in `datasets/datasets.toml` and its folder name.
pub const DATASET: &str = "drums";
/// The clips' sample rate, in Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// The clips' length in samples (1.024 s at [`SAMPLE_RATE`]).
pub const CLIP_LEN: usize = 16_384;

/// Loads the fetched dataset from the data folder (`GEN_DATA_DIR` or `datasets/`) through the
/// cache in [`cache_dir`]. A missing dataset is an error naming `cargo xtask fetch-data drums`.
pub fn load_default() -> crate::Result<DrumsSet> {
    let dir = crate::paths::dataset_dir(DATASET)?;
    load_drums_cached(&dir, &cache_dir())
}

//! Drum one-shots (in progress): decoding WAV, FLAC and AIFF to mono with symphonia
//! ([`decode`]), and resampling to [`SAMPLE_RATE`] with rubato ([`resample`]).

pub mod decode;
pub mod resample;

/// The dataset's name in `datasets/datasets.toml` and its folder name.
pub const DATASET: &str = "drums";
/// The clips' sample rate, in Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// The clips' length in samples (1.024 s at [`SAMPLE_RATE`]).
pub const CLIP_LEN: usize = 16_384;

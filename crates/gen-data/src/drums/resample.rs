//! Resampling mono audio with `rubato`, and cutting the fixed-length clip.
//!
//! Settings: rubato's synchronous FFT resampler (`rubato::Fft`), one channel, its default
//! anti-aliasing window (Blackman-Harris squared) and the cutoff rubato derives from it, and
//! one FFT block per chunk of [`fft_frames`] input frames: the smallest multiple of the rates'
//! block (`rate_in / gcd(rate_in, rate_out)`: 441 from 44.1 kHz, 3 from 48 kHz) that is at
//! least [`MIN_FFT_FRAMES`] and even (1,764 at 44.1 kHz, 1,026 at 48 kHz). The ratio is exact,
//! so nothing drifts. The input is fed chunk by chunk, zero-padded at the end until the
//! resampler has flushed, and the resampler's delay (`output_delay()` output frames) is dropped
//! from the front, so output sample `k` is aligned with time `k / rate_out`.
//!
//! Two rubato 4.0 details this works around, both caught by the sine tests in
//! `tests/drums_decode.rs`: its whole-clip helper `Resampler::process_all` moves only
//! `output_delay()` frames when it trims the delay, leaving stale samples behind them (fixed in
//! rubato 5.1, which needs Rust 1.87); and with an odd FFT size its filter is centred half an
//! input sample away from the delay it reports (a 0.18-sample shift at 16 kHz), hence the even
//! block.

use crate::{Error, Result};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// The least FFT block, in input frames (see the module docs).
pub const MIN_FFT_FRAMES: usize = 1024;
/// The largest FFT block accepted: rates whose common block is larger (e.g. 96,001 Hz) are
/// refused rather than resampled with a huge transform.
pub const MAX_FFT_FRAMES: usize = 1 << 17;
/// The source rates accepted, in Hz: telephone-band audio to 384 kHz studio files. A rate
/// outside them is a broken header, and a tiny one would make each block's output huge (a
/// 1 Hz file found by the fuzzer asked for 16,000 output frames per input frame).
pub const SOURCE_RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;

/// The FFT block, in input frames, used from `rate_in` to `rate_out` (both non-zero): the
/// least even multiple of `rate_in / gcd` of at least [`MIN_FFT_FRAMES`].
pub fn fft_frames(rate_in: u32, rate_out: u32) -> usize {
    let (mut a, mut b) = (rate_in.max(1), rate_out.max(1));
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let block = (rate_in.max(1) / a) as usize;
    let mut blocks = MIN_FFT_FRAMES.div_ceil(block);
    if (block * blocks) % 2 == 1 {
        blocks += 1;
    }
    block.saturating_mul(blocks)
}

/// Resamples mono `samples` from `rate_in` Hz to `rate_out` Hz (see the module docs); the
/// output has `ceil(len * rate_out / rate_in)` samples. Equal rates return a copy.
pub fn resample(samples: &[f32], rate_in: u32, rate_out: u32) -> Result<Vec<f32>> {
    if rate_in == 0 || rate_out == 0 {
        return Err(Error::invalid(
            "sample rate",
            format!("cannot resample {rate_in} Hz to {rate_out} Hz"),
        ));
    }
    if rate_in == rate_out || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    if !SOURCE_RATES.contains(&rate_in) {
        return Err(Error::invalid(
            "sample rate",
            format!(
                "{rate_in} Hz is outside the {} to {} Hz that gen reads",
                SOURCE_RATES.start(),
                SOURCE_RATES.end()
            ),
        ));
    }
    let fail = |e: &dyn std::fmt::Display| {
        Error::invalid(
            "resampling",
            format!("{rate_in} Hz to {rate_out} Hz failed: {e}"),
        )
    };
    let block = fft_frames(rate_in, rate_out);
    if block > MAX_FFT_FRAMES {
        return Err(fail(&format!(
            "the rates have no common block under {MAX_FFT_FRAMES} frames"
        )));
    }
    let mut resampler = Fft::<f32>::new_custom(
        rate_in as usize,
        rate_out as usize,
        block,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .map_err(|e| fail(&e))?;
    let expected =
        (samples.len() as u128 * u128::from(rate_out)).div_ceil(u128::from(rate_in)) as usize;
    let delay = resampler.output_delay();
    let chunk = resampler.input_frames_next();
    let mut chunk_out = vec![0.0f32; resampler.output_frames_max()];
    let mut padded = samples.to_vec();
    let mut out: Vec<f32> = Vec::with_capacity(delay + expected + chunk_out.len());
    let mut pos = 0;
    // Each call consumes `chunk` frames; the output needs at most this many calls.
    let max_calls = (samples.len() + 2 * chunk + delay * rate_in as usize / rate_out as usize)
        / chunk.max(1)
        + 4;
    for _ in 0..max_calls {
        if out.len() >= delay + expected {
            break;
        }
        if padded.len() < pos + chunk {
            padded.resize(pos + chunk, 0.0);
        }
        let window = padded.get(pos..pos + chunk).unwrap_or_default();
        let input = InterleavedSlice::new(window, 1, chunk).map_err(|e| fail(&e))?;
        let frames_out = chunk_out.len();
        let mut output =
            InterleavedSlice::new_mut(&mut chunk_out, 1, frames_out).map_err(|e| fail(&e))?;
        let (used, made) = resampler
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| fail(&e))?;
        pos += used;
        out.extend_from_slice(chunk_out.get(..made).unwrap_or_default());
    }
    if out.len() < delay + expected {
        return Err(fail(&"the resampler gave too few frames"));
    }
    out.drain(..delay);
    out.truncate(expected);
    Ok(out)
}

/// The number of input frames at `rate_in` that [`clip`] needs for `len` output samples at
/// `rate_out`: the span they cover plus two FFT blocks for the resampler's look-ahead, so the
/// clip equals the start of the whole file resampled.
pub fn frames_needed(len: usize, rate_in: u32, rate_out: u32) -> usize {
    let span = (len as u128 * u128::from(rate_in)).div_ceil(u128::from(rate_out.max(1)));
    usize::try_from(span)
        .unwrap_or(usize::MAX)
        .saturating_add(2 * fft_frames(rate_in, rate_out))
}

/// The first `len` samples of `samples` resampled from `rate_in` to `rate_out`, zero-padded
/// when the sound is shorter.
pub fn clip(samples: &[f32], rate_in: u32, rate_out: u32, len: usize) -> Result<Vec<f32>> {
    let needed = frames_needed(len, rate_in, rate_out).min(samples.len());
    let mut out = resample(samples.get(..needed).unwrap_or(samples), rate_in, rate_out)?;
    out.resize(len, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_rates_copy_and_lengths_follow_the_ratio() {
        assert_eq!(resample(&[0.5, -0.5], 16000, 16000).unwrap(), [0.5, -0.5]);
        let ones = vec![0.0f32; 44100];
        assert_eq!(resample(&ones, 44100, 16000).unwrap().len(), 16000);
        assert_eq!(resample(&ones[..441], 44100, 16000).unwrap().len(), 160);
        assert_eq!(resample(&ones[..3001], 48000, 16000).unwrap().len(), 1001);
        assert!(resample(&ones, 0, 16000).is_err());
        // The fuzzer's hang: a 1 Hz header would resample 1,024 frames to 16 million.
        let err = resample(&ones, 1, 16000).unwrap_err().to_string();
        assert!(
            err.contains("1 Hz is outside the 4000 to 384000 Hz"),
            "{err}"
        );
        assert!(resample(&ones, 384_001, 16000).is_err());
        assert_eq!(resample(&ones[..4000], 4000, 16000).unwrap().len(), 16000);
        let err = resample(&ones, 96001, 16000).unwrap_err().to_string();
        assert!(err.contains("no common block"), "{err}");
        assert_eq!(
            [
                fft_frames(44100, 16000),
                fft_frames(48000, 16000),
                fft_frames(22050, 16000)
            ],
            [1764, 1026, 1764]
        );
        assert_eq!(fft_frames(8000, 16000), 1024);
    }

    #[test]
    fn clip_pads_short_sounds_and_matches_the_whole_file() {
        let rate = 44100u32;
        // A decaying 200 Hz tone, 2 s long.
        let tone: Vec<f32> = (0..2 * rate as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (2.0 * std::f32::consts::PI * 200.0 * t).sin() * (-3.0 * t).exp()
            })
            .collect();
        let whole = resample(&tone, rate, 16000).unwrap();
        let cut = clip(&tone, rate, 16000, 16384).unwrap();
        assert_eq!(cut.len(), 16384);
        let worst = cut
            .iter()
            .zip(&whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "clip differs from the whole file by {worst}");

        let short = clip(&tone[..4410], rate, 16000, 16384).unwrap();
        assert_eq!(short.len(), 16384);
        assert!(short[1700..].iter().all(|&s| s == 0.0));
    }
}

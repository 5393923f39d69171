//! Decoding and resampling of the drums data: the committed fixtures of each format decode to
//! their known samples, sines resample to 16 kHz within a stated error, and arbitrary, mutated
//! or truncated bytes give errors, never panics.
//!
//! The fixtures and their formulas: tests/fixtures/drums/make_fixtures.py.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_data::drums::decode::{Mono, decode_mono};
use gen_data::drums::resample::{clip, resample};
use proptest::prelude::*;
use std::f64::consts::PI;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/drums")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// make_fixtures.py's `seq`: full-scale pseudo-noise of `bits`-bit signed integers.
fn seq(n: i64, k: i64, bits: u32) -> i64 {
    (n * k + 13).rem_euclid(1 << bits) - (1 << (bits - 1))
}

fn decode(name: &str) -> Mono {
    let ext = name.rsplit('.').next();
    decode_mono(fixture(name), ext, |_| usize::MAX).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `got` equals `want` to f32 rounding (the decoder's integer-to-float steps are exact for
/// these sizes; the stereo mean rounds once).
fn assert_samples(name: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-7,
            "{name}: sample {i} is {g}, expected {w}"
        );
    }
}

#[test]
fn wav_16_bit_mono_decodes_exactly() {
    let m = decode("pcm16_mono_8k.wav");
    assert_eq!((m.rate, m.channels), (8000, 1));
    let want: Vec<f64> = (0..300)
        .map(|n| seq(n, 7919, 16) as f64 / 32768.0)
        .collect();
    assert_samples("pcm16_mono_8k.wav", &m.samples, &want);
}

#[test]
fn wav_24_bit_stereo_decodes_to_the_channel_mean() {
    let m = decode("pcm24_stereo_48k.wav");
    assert_eq!((m.rate, m.channels), (48000, 2));
    let want: Vec<f64> = (0..400)
        .map(|n| (seq(n, 1000003, 24) + seq(n, 7919, 24)) as f64 / 2.0 / 8388608.0)
        .collect();
    assert_samples("pcm24_stereo_48k.wav", &m.samples, &want);
}

#[test]
fn wav_8_bit_unsigned_decodes_around_128() {
    let m = decode("pcm8_mono_22k.wav");
    assert_eq!((m.rate, m.channels), (22050, 1));
    let want: Vec<f64> = (0..256).map(|n| (n as f64 - 128.0) / 128.0).collect();
    assert_samples("pcm8_mono_22k.wav", &m.samples, &want);
}

#[test]
fn aiff_16_bit_stereo_decodes_even_when_named_wav() {
    let want: Vec<f64> = (0..300)
        .map(|n| (seq(n, 7919, 16) + seq(n, 104729, 16)) as f64 / 2.0 / 32768.0)
        .collect();
    let m = decode("pcm16_stereo_44k.aiff");
    assert_eq!((m.rate, m.channels), (44100, 2));
    assert_samples("pcm16_stereo_44k.aiff", &m.samples, &want);
    // One kit ships AIFF data under a .wav name: the content decides.
    let misnamed = decode_mono(fixture("pcm16_stereo_44k.aiff"), Some("wav"), |_| {
        usize::MAX
    })
    .unwrap();
    assert_eq!(misnamed, m);
}

#[test]
fn flac_24_bit_decodes_exactly() {
    let m = decode("pcm24_mono_44k.flac");
    assert_eq!((m.rate, m.channels), (44100, 1));
    let want: Vec<f64> = (0..500)
        .map(|n| seq(n, 1000003, 24) as f64 / 8388608.0)
        .collect();
    assert_samples("pcm24_mono_44k.flac", &m.samples, &want);
}

/// The largest |resampled - sin| at 16 kHz over output samples `from..to`.
fn sine_error(out: &[f32], freq: f64, amp: f64, from: usize, to: usize) -> f64 {
    (from..to)
        .map(|k| {
            let want = amp * (2.0 * PI * freq * k as f64 / 16000.0).sin();
            (f64::from(out[k]) - want).abs()
        })
        .fold(0.0, f64::max)
}

/// A 1 kHz sine of 1 s at 44.1 and 48 kHz resamples to the same sine at 16 kHz: 2 ms (32
/// samples) away from the ends, where the tone starts and stops abruptly, within 3e-4 of the
/// analytic values at half scale (-64 dB); 0.1 s in, within 2e-6 (f32 rounding; measured
/// 5.4e-7 and 4.2e-7). Aligned to the sample: a shift of 0.18 samples would err by 0.036.
#[test]
fn sine_resamples_to_16_khz_within_the_stated_error() {
    for rate in [44100u32, 48000] {
        let input: Vec<f32> = (0..rate)
            .map(|n| (0.5 * (2.0 * PI * 1000.0 * f64::from(n) / f64::from(rate)).sin()) as f32)
            .collect();
        let out = resample(&input, rate, 16000).unwrap();
        assert_eq!(out.len(), 16000);
        let interior = sine_error(&out, 1000.0, 0.5, 32, 16000 - 32);
        assert!(interior < 3e-4, "{rate} Hz: interior error {interior}");
        let deep = sine_error(&out, 1000.0, 0.5, 1600, 14400);
        assert!(deep < 2e-6, "{rate} Hz: error 0.1 s in {deep}");
        // 7 kHz (below the 8 kHz Nyquist) passes; 9 kHz is filtered out (aliasing would fold
        // it to 7 kHz).
        for (freq, passes) in [(7000.0, true), (9000.0, false)] {
            let tone: Vec<f32> = (0..rate)
                .map(|n| (0.5 * (2.0 * PI * freq * f64::from(n) / f64::from(rate)).sin()) as f32)
                .collect();
            let out = resample(&tone, rate, 16000).unwrap();
            let rms = (out[1600..14400]
                .iter()
                .map(|s| f64::from(*s).powi(2))
                .sum::<f64>()
                / 12800.0)
                .sqrt();
            if passes {
                assert!(
                    (rms - 0.5 / 2f64.sqrt()).abs() < 0.02,
                    "{rate} Hz, {freq}: rms {rms}"
                );
            } else {
                assert!(rms < 1e-3, "{rate} Hz, {freq}: rms {rms}");
            }
        }
    }
}

/// The committed 16-bit 1 kHz sine (20 ms at 44.1 kHz), decoded and cut to a clip: the sine at
/// 16 kHz from 2 ms after its start to 2 ms before its end within 5e-4 (16-bit quantisation,
/// 1.5e-5, plus the edge effects of the test above), then zeros.
#[test]
fn sine_fixture_decodes_and_clips_to_16_khz() {
    let m = decode("sine1k_16bit_44k.wav");
    let out = clip(&m.samples, m.rate, 16000, 16384).unwrap();
    assert_eq!(out.len(), 16384);
    let err = sine_error(&out, 1000.0, 0.5, 32, 320 - 32);
    assert!(err < 5e-4, "error {err}");
    assert!(out[400..].iter().all(|&s| s == 0.0));
}

/// Valid files of each format, to mutate and truncate.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    [
        "pcm16_mono_8k.wav",
        "pcm24_stereo_48k.wav",
        "pcm8_mono_22k.wav",
        "pcm16_stereo_44k.aiff",
        "pcm24_mono_44k.flac",
    ]
    .into_iter()
    .map(|n| (n, fixture(n)))
    .collect()
}

/// Decoding returns, with finite audio or an error that says something; it never unwinds into
/// the caller (proptest would report that as a failure). Panics inside symphonia, which the
/// fuzzing finds in debug builds (see `wav_header_whose_block_size_overflows_is_an_error`),
/// come back as errors.
fn check_no_panic(bytes: Vec<u8>, ext: Option<&str>) {
    match decode_mono(bytes, ext, |rate| rate as usize * 2) {
        Ok(m) => assert!(m.samples.iter().all(|s| s.is_finite())),
        Err(e) => assert!(!e.is_empty()),
    }
}

/// symphonia 0.6.1 computes a WAV's block size as `channels * bytes per sample` in u16, which
/// overflows (a panic in builds with overflow checks, like tests) for 32,768 channels of 16
/// bits; the decoder's catch makes it an error naming the panic. (symphonia 0.5.5 also
/// panicked on an AIFF rate of 0, found by the same fuzzing; 0.6 fixed that.)
#[test]
fn wav_header_whose_block_size_overflows_is_an_error() {
    let mut bytes = fixture("pcm16_mono_8k.wav");
    bytes[22..24].copy_from_slice(&0x8000u16.to_le_bytes());
    let err = decode_mono(bytes, Some("wav"), |_| usize::MAX).unwrap_err();
    assert!(!err.is_empty());
}

#[test]
fn every_truncation_of_each_format_is_audio_or_an_error() {
    for (name, bytes) in seeds() {
        let ext = name.rsplit('.').next();
        for len in 0..bytes.len() {
            let cut = bytes[..len].to_vec();
            match decode_mono(cut, ext, |_| usize::MAX) {
                Ok(m) => assert!(m.samples.iter().all(|s| s.is_finite()), "{name}[..{len}]"),
                // Truncation reaches no panic in symphonia: each cut is a plain error.
                Err(e) => assert!(!e.contains("panicked"), "{name}[..{len}]: {e}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_no_panic(bytes, None);
    }

    #[test]
    fn arbitrary_bytes_after_a_real_header_never_panic(
        which in 0usize..5,
        keep in 0usize..64,
        tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let (name, bytes) = seeds().swap_remove(which);
        let mut data = bytes[..keep.min(bytes.len())].to_vec();
        data.extend(tail);
        check_no_panic(data, name.rsplit('.').next());
    }

    #[test]
    fn mutated_files_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        in_header in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (name, mut bytes) = seeds().swap_remove(which);
        // Half the cases edit only the first 64 bytes, where the headers are.
        let span = if in_header { bytes.len().min(64) } else { bytes.len() };
        for (at, value) in edits {
            let i = at.index(span);
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        check_no_panic(bytes, name.rsplit('.').next());
    }
}

//! Decoding WAV, FLAC and AIFF to mono `f32` with `symphonia`.
//!
//! The container is found from the bytes, not the file name (one kit ships AIFF data named
//! `.wav`); the extension is only a hint. Integer samples become `f32` the way symphonia
//! converts them: a signed `b`-bit sample `s` is `s / 2^(b-1)`, an unsigned 8-bit one
//! `(s - 128) / 128`, so full scale is [-1, 1). Channels are averaged to mono. Nothing is
//! normalised.
//!
//! Malformed input is an error, never a panic: symphonia's own errors pass through with their
//! message, and a panic inside symphonia is caught and reported as an error. The fuzz tests in
//! `tests/drums_decode.rs` do reach such panics: symphonia 0.6.1 multiplies header fields
//! unchecked (an overflow panic where overflow checks are on, as in tests), and 0.5.5 panicked
//! on an AIFF sample rate of 0. Rust's default panic hook still prints a caught panic's message;
//! a program can stay quiet about these with a hook that asks [`decoding`] first (`gen` does).

use std::cell::Cell;
use std::io::Cursor;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Mono audio at its recorded rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Mono {
    /// Samples, the mean of the channels, in [-1, 1] for integer sources.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub rate: u32,
    /// The number of channels the source had.
    pub channels: usize,
}

/// Decodes the start of the audio file in `bytes` (WAV, FLAC or AIFF, recognised by content;
/// `extension` is a hint) to mono: at most `max_frames(rate)` frames, where `rate` is the
/// file's sample rate. The error says what is wrong.
pub fn decode_mono<F>(
    bytes: Vec<u8>,
    extension: Option<&str>,
    max_frames: F,
) -> Result<Mono, String>
where
    F: Fn(u32) -> usize + std::panic::UnwindSafe,
{
    let extension = extension.map(str::to_owned);
    let _inside = Inside::enter();
    match std::panic::catch_unwind(move || decode_inner(bytes, extension.as_deref(), max_frames)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the decoder panicked: {msg}"))
        }
    }
}

thread_local! {
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside [`decode_mono`], whose panics are caught and become errors: a
/// panic hook can stay silent when it is.
pub fn decoding() -> bool {
    DECODING.with(Cell::get)
}

/// Marks this thread as decoding until dropped.
struct Inside;

impl Inside {
    fn enter() -> Inside {
        DECODING.with(|d| d.set(true));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        DECODING.with(|d| d.set(false));
    }
}

fn decode_inner(
    bytes: Vec<u8>,
    extension: Option<&str>,
    max_frames: impl Fn(u32) -> usize,
) -> Result<Mono, String> {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format!("not a readable WAV, FLAC or AIFF file: {e}"))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("no audio track")?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("the audio track has no codec parameters")?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| format!("unsupported audio: {e}"))?;
    let mut samples: Vec<f32> = Vec::new();
    let mut spec_seen: Option<(u32, usize)> = None;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut limit = usize::MAX;
    while samples.len() < limit {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(format!("bad packet after {} frames: {e}", samples.len())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| format!("bad audio after {} frames: {e}", samples.len()))?;
        let (rate, channels) = (decoded.spec().rate(), decoded.spec().channels().count());
        if channels == 0 || rate == 0 {
            return Err(format!("{channels} channels at {rate} Hz: not audio"));
        }
        match spec_seen {
            None => {
                spec_seen = Some((rate, channels));
                limit = max_frames(rate);
            }
            Some(seen) if seen != (rate, channels) => {
                return Err(format!(
                    "the stream changes from {} Hz x {} channels to {rate} Hz x {channels}",
                    seen.0, seen.1
                ));
            }
            Some(_) => {}
        }
        decoded.copy_to_vec_interleaved(&mut interleaved);
        let scale = 1.0 / channels as f32;
        for frame in interleaved.chunks_exact(channels) {
            samples.push(frame.iter().sum::<f32>() * scale);
        }
    }
    let Some((rate, channels)) = spec_seen else {
        return Err("no audio frames".to_owned());
    };
    samples.truncate(limit);
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(format!("sample {i} is not finite"));
    }
    Ok(Mono {
        samples,
        rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PCM WAV: `channels` x 16-bit at `rate`, interleaved `data`.
    fn wav16(rate: u32, channels: u16, data: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        let data_len = (data.len() * 2) as u32;
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        b.extend_from_slice(&(channels * 2).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for s in data {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b
    }

    #[test]
    fn stereo_wav_is_averaged_and_scaled_by_two_to_the_fifteen() {
        let bytes = wav16(8000, 2, &[16384, 0, -32768, -32768, 100, 300]);
        let mono = decode_mono(bytes, Some("wav"), |_| usize::MAX).unwrap();
        assert_eq!((mono.rate, mono.channels), (8000, 2));
        assert_eq!(mono.samples, [0.25, -1.0, 200.0 / 32768.0]);
    }

    #[test]
    fn max_frames_cuts_and_the_extension_is_only_a_hint() {
        let data: Vec<i16> = (0..5000).map(|i| (i % 300) as i16).collect();
        let mono = decode_mono(wav16(44100, 1, &data), Some("flac"), |r| r as usize / 35).unwrap();
        assert_eq!(mono.samples.len(), 1260);
        assert_eq!(mono.samples[299], 299.0 / 32768.0);
    }

    #[test]
    fn garbage_and_empty_input_are_errors() {
        let err = decode_mono(b"not audio at all".to_vec(), None, |_| 10).unwrap_err();
        assert!(err.contains("not a readable"), "{err}");
        assert!(decode_mono(Vec::new(), Some("wav"), |_| 10).is_err());
        let err = decode_mono(wav16(8000, 1, &[]), Some("wav"), |_| 10).unwrap_err();
        assert!(err.contains("no audio frames"), "{err}");
    }
}

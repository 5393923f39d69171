//! What an image or audio summary states about its bytes, read from the PNG or WAV header, and
//! the WAV encoding of raw samples.

use std::io::Cursor;

use image::ImageDecoder;
use image::codecs::png::PngDecoder;

/// A PNG's size and TensorBoard colorspace (1 grey, 2 grey and alpha, 3 RGB, 4 RGBA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PngInfo {
    /// Width in pixels.
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// Channels, which is TensorBoard's colorspace number.
    pub(crate) colorspace: u8,
}

/// Reads a PNG's header; the pixels are not decoded.
pub(crate) fn png_info(png: &[u8]) -> Result<PngInfo, String> {
    let decoder = PngDecoder::new(Cursor::new(png)).map_err(|e| format!("not a PNG: {e}"))?;
    let (width, height) = decoder.dimensions();
    Ok(PngInfo {
        width,
        height,
        colorspace: decoder.color_type().channel_count(),
    })
}

/// A WAV file's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WavInfo {
    /// Samples per second.
    pub(crate) sample_rate: u32,
    /// Channels.
    pub(crate) channels: u16,
    /// Frames (samples per channel).
    pub(crate) frames: u32,
}

/// Reads a WAV file's header.
pub(crate) fn wav_info(wav: &[u8]) -> Result<WavInfo, String> {
    let reader = hound::WavReader::new(Cursor::new(wav)).map_err(|e| format!("not a WAV: {e}"))?;
    let spec = reader.spec();
    Ok(WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        frames: reader.duration(),
    })
}

/// Encodes mono samples in `[-1, 1]` as a 16-bit PCM WAV file, as TensorFlow's `encode_wav`
/// does (`FloatToInt16Sample` in `core/lib/wav/wav_io.cc`): each sample times 32768, rounded
/// half away from zero, clamped to `[-32768, 32767]`. Decoding divides by 32768.
pub(crate) fn encode_wav(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, String> {
    if sample_rate == 0 {
        return Err("the sample rate is 0".into());
    }
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(format!("sample {i} is not finite"));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    let encode = |out: &mut Cursor<Vec<u8>>| -> hound::Result<()> {
        let mut writer = hound::WavWriter::new(out, spec)?;
        let mut pcm = writer.get_i16_writer(u32::try_from(samples.len()).unwrap_or(u32::MAX));
        for &s in samples {
            // Finite, and clamped into the i16 range before the cast.
            pcm.write_sample((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16);
        }
        pcm.flush()?;
        writer.finalize()
    };
    encode(&mut out).map_err(|e| format!("WAV encoding: {e}"))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_samples_round_trip_at_16_bits() {
        let samples = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, 1e-6];
        let wav = encode_wav(&samples, 8000).unwrap();
        assert_eq!(wav.len(), 44 + 2 * samples.len());
        assert_eq!(
            wav_info(&wav).unwrap(),
            WavInfo {
                sample_rate: 8000,
                channels: 1,
                frames: 8
            }
        );
        let back: Vec<i16> = hound::WavReader::new(Cursor::new(&wav))
            .unwrap()
            .samples::<i16>()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, [0, 16384, -16384, 32767, -32768, 32767, -32768, 0]);
    }

    #[test]
    fn bad_samples_and_rates_are_refused() {
        assert!(
            encode_wav(&[0.0, f32::NAN], 8000)
                .unwrap_err()
                .contains("sample 1")
        );
        assert!(encode_wav(&[0.0], 0).is_err());
        assert!(wav_info(b"RIFF....").is_err());
        assert!(png_info(b"\x89PNG").is_err());
    }
}

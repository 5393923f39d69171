//! WAV files: mono 16-bit PCM, written and read with `hound`. The one place that writes WAV, so
//! that metadata chunks can be added here later.

use crate::{Error, Result};
use std::path::Path;

/// Writes `samples` (nominally in [-1, 1]; values outside are clipped) as a mono 16-bit PCM WAV
/// file at `sample_rate` Hz: each sample becomes `round(s * 32767)`.
pub fn write_wav_i16(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    if sample_rate == 0 {
        return Err(Error::invalid("sample_rate", "0 Hz"));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let wav_err = |e: hound::Error| match e {
        hound::Error::IoError(io) => Error::io(path, io),
        other => Error::format(path, "WAV", other.to_string()),
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(wav_err)?;
    for &s in samples {
        let s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
        writer
            .write_sample((s * 32767.0).round() as i16)
            .map_err(wav_err)?;
    }
    writer.finalize().map_err(wav_err)
}

/// A WAV file read back: its samples as f32 in [-1, 1] (channels interleaved) and its format.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// The samples; 16-bit integers are divided by 32767, floats kept as they are.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

/// Reads a 16-bit integer or 32-bit float WAV file.
pub fn read_wav(path: &Path) -> Result<Wav> {
    let wav_err = |e: hound::Error| match e {
        hound::Error::IoError(io) => Error::io(path, io),
        other => Error::format(path, "WAV", other.to_string()),
    };
    let reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    let samples = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader
            .into_samples::<i16>()
            .map(|s| s.map(|v| f32::from(v) / 32767.0))
            .collect::<std::result::Result<Vec<_>, _>>(),
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect(),
        (format, bits) => {
            return Err(Error::format(
                path,
                "format",
                format!("{bits}-bit {format:?} samples; expected 16-bit int or 32-bit float"),
            ));
        }
    }
    .map_err(wav_err)?;
    Ok(Wav {
        samples,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_16_bit_mono_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, f32::NAN, 1e-5];
        write_wav_i16(&path, &samples, 22_050).unwrap();
        // 44-byte header plus 2 bytes per sample.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 2 * 8);
        let mut reader = hound::WavReader::open(&path).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 22_050, 16)
        );
        let raw: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        // round(0.5 * 32767) = 16384 (half away from zero); clipped at +-32767; NaN is 0.
        assert_eq!(raw, [0, 16384, -16384, 32767, -32767, 32767, 0, 0]);
        let back = read_wav(&path).unwrap();
        assert_eq!((back.sample_rate, back.channels), (22_050, 1));
        assert_eq!(back.samples[3], 1.0);
        assert!((back.samples[1] - 0.5).abs() < 1.0 / 32767.0);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not.wav");
        std::fs::write(&path, b"RIFF....nope").unwrap();
        let err = read_wav(&path).unwrap_err().to_string();
        assert!(err.contains("not.wav"), "{err}");
        let missing = dir.path().join("no/such/dir/x.wav");
        assert!(write_wav_i16(&missing, &[0.0], 8_000).is_err());
    }
}

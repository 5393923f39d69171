//! A small additive synthesiser: a piano-roll becomes mono samples with a piano-like sound.
//!
//! Each note of the roll ([`PianoRoll::notes`]) is a sum of [`PARTIALS`] slightly inharmonic
//! partials (`f_n = n f0 sqrt(1 + B n^2)`, `B = 1e-4`, amplitude `1 / n^1.5`, none at or above
//! 0.45 times the sample rate). It rises in 5 ms, then decays exponentially, faster for high
//! notes and high partials (time constant `1.2 s * (261.6 Hz / f0)^0.5 / sqrt(n)`), and fades
//! out linearly over [`SynthOptions::release`] seconds after it ends, as a damper would.
//! The mix is scaled so that its peak is [`SynthOptions::peak`] (default 0.89, -1 dBFS): never
//! clipped, whatever the polyphony. The output lasts the roll's frames at the tempo, plus the
//! release of the last notes.

use super::roll::PianoRoll;
use crate::{Error, Result};

/// Partials per note (fewer for high notes, none at or above 0.45 times the sample rate).
pub const PARTIALS: usize = 8;
/// The default sample rate, Hz.
pub const DEFAULT_SAMPLE_RATE: u32 = 22_050;

/// How a roll is rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    /// Samples per second. Default 22,050 (44,100 also works).
    pub sample_rate: u32,
    /// Frames (quarter notes) per minute. Default 80, as for MIDI.
    pub bpm: f64,
    /// The peak level of the output, in (0, 1]. Default 0.89 (-1 dBFS).
    pub peak: f32,
    /// Seconds over which a note fades out after its last frame. Default 0.25.
    pub release: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            sample_rate: DEFAULT_SAMPLE_RATE,
            bpm: 80.0,
            peak: 0.89,
            release: 0.25,
        }
    }
}

impl SynthOptions {
    fn check(&self) -> Result<()> {
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return Err(Error::invalid(
                "sample_rate",
                format!("{} is not in 8000..=192000", self.sample_rate),
            ));
        }
        if !(self.bpm.is_finite() && (1.0..=1000.0).contains(&self.bpm)) {
            return Err(Error::invalid(
                "bpm",
                format!("{} is not in 1..=1000", self.bpm),
            ));
        }
        if !(self.peak > 0.0 && self.peak <= 1.0) {
            return Err(Error::invalid(
                "peak",
                format!("{} is not in (0, 1]", self.peak),
            ));
        }
        if !(self.release.is_finite() && (0.0..=10.0).contains(&self.release)) {
            return Err(Error::invalid(
                "release",
                format!("{} s is not in 0..=10", self.release),
            ));
        }
        Ok(())
    }

    /// Samples per frame (rounded to the nearest sample).
    pub fn samples_per_frame(&self) -> usize {
        (60.0 / self.bpm * f64::from(self.sample_rate)).round() as usize
    }

    /// Samples of the release tail.
    pub fn release_samples(&self) -> usize {
        (self.release * f64::from(self.sample_rate)).round() as usize
    }
}

/// The number of samples [`synthesize`] returns for `frames` frames: the frames, plus the
/// release tail when the roll is not empty.
pub fn output_len(frames: usize, options: &SynthOptions) -> usize {
    if frames == 0 {
        0
    } else {
        frames * options.samples_per_frame() + options.release_samples()
    }
}

/// The roll rendered as mono samples in [-peak, peak] (all zeros for a silent roll).
pub fn synthesize(roll: &PianoRoll, options: &SynthOptions) -> Result<Vec<f32>> {
    options.check()?;
    let per_frame = options.samples_per_frame();
    let release = options.release_samples();
    let rate = f64::from(options.sample_rate);
    let mut mix = vec![0f64; output_len(roll.frames(), options)];
    let attack = (0.005 * rate).max(1.0);
    for note in roll.notes() {
        let f0 = 440.0 * 2f64.powf((f64::from(note.key) - 69.0) / 12.0);
        let start = note.start * per_frame;
        let held = note.frames * per_frame;
        let tau = 1.2 * (261.63 / f0).sqrt();
        let Some(out) = mix.get_mut(start..start + held + release) else {
            continue;
        };
        for n in 1..=PARTIALS {
            let n_f = n as f64;
            let freq = n_f * f0 * (1.0 + 1e-4 * n_f * n_f).sqrt();
            if freq >= 0.45 * rate {
                break;
            }
            let amp = n_f.powf(-1.5);
            let step = std::f64::consts::TAU * freq / rate;
            let decay = (-1.0 / (tau / n_f.sqrt() * rate)).exp();
            let mut level = amp;
            for (i, sample) in out.iter_mut().enumerate() {
                let i_f = i as f64;
                let mut env = level * (i_f / attack).min(1.0);
                if i >= held && release > 0 {
                    env *= 1.0 - (i - held) as f64 / release as f64;
                }
                *sample += env * (step * i_f).sin();
                level *= decay;
            }
        }
    }
    let peak = mix.iter().fold(0f64, |m, s| m.max(s.abs()));
    let gain = if peak > 0.0 {
        f64::from(options.peak) / peak
    } else {
        0.0
    };
    Ok(mix.into_iter().map(|s| (s * gain) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_peak_are_as_documented() {
        // A C major chord held 2 frames, then a high note, at 120 bpm and 22,050 Hz:
        // 3 frames * 11,025 samples + 0.25 s * 22,050 = 33,075 + 5,513 (rounded) = 38,588.
        let roll = PianoRoll::from_cells(
            3,
            [
                (0, 60),
                (1, 60),
                (0, 64),
                (1, 64),
                (0, 67),
                (1, 67),
                (2, 96),
            ],
        )
        .unwrap();
        let options = SynthOptions {
            bpm: 120.0,
            ..SynthOptions::default()
        };
        let samples = synthesize(&roll, &options).unwrap();
        assert_eq!(samples.len(), 38_588);
        assert_eq!(samples.len(), output_len(3, &options));
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.89).abs() < 1e-6, "{peak}");
        // Not silent: the second half of the chord still carries energy; the end fades to 0.
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        assert!(rms(&samples[11_025..22_050]) > 0.05);
        assert!(samples.last().unwrap().abs() < 1e-3);
        assert!(samples.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn many_voices_never_clip_and_silence_stays_silent() {
        let cells = (0..2).flat_map(|t| (48..72u8).map(move |k| (t, k)));
        let roll = PianoRoll::from_cells(2, cells).unwrap();
        let options = SynthOptions {
            sample_rate: 44_100,
            peak: 1.0,
            release: 0.0,
            ..SynthOptions::default()
        };
        let samples = synthesize(&roll, &options).unwrap();
        assert_eq!(samples.len(), 2 * 33_075);
        assert!(samples.iter().all(|s| s.abs() <= 1.0));
        let silent = synthesize(&PianoRoll::silent(2), &options).unwrap();
        assert_eq!(silent.len(), 2 * 33_075);
        assert!(silent.iter().all(|&s| s == 0.0));
        assert!(
            synthesize(&PianoRoll::silent(0), &options)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_options_are_errors() {
        let roll = PianoRoll::silent(1);
        for options in [
            SynthOptions {
                sample_rate: 10,
                ..SynthOptions::default()
            },
            SynthOptions {
                peak: 1.5,
                ..SynthOptions::default()
            },
            SynthOptions {
                bpm: f64::NAN,
                ..SynthOptions::default()
            },
        ] {
            assert!(synthesize(&roll, &options).is_err(), "{options:?}");
        }
    }
}

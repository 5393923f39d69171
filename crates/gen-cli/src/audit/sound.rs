//! The audit of sound-GAN runs: each generated spectrogram's distance to its nearest training
//! clip's, in the evaluator's feature space and in spectrogram space (the normalised
//! log-magnitude image), against the same distances for held-out test clips
//! (`gen_train::eval::memorisation`, as for images); the closest pairs as a PNG.

use super::AuditOptions;
use crate::config::SoundGanRun;
use crate::sound::audit_spectrograms;
use anyhow::{Result, bail};
use gen_train::eval::memorisation::{ImageAudit, audit_images, pairs_tensor};
use gen_train::tasks::gan::grid_png;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Generated spectrograms by default.
pub const DEFAULT_NUM: usize = 256;
/// Closest pairs drawn.
const PAIRS: usize = 8;

/// The sound audit with what it compared.
#[derive(Debug, Clone, Serialize)]
pub struct SoundReport {
    /// The dataset.
    pub dataset: String,
    /// Training clips searched.
    pub train: usize,
    /// Held-out test clips (the baseline).
    pub heldout: usize,
    /// The two distance comparisons (`pixels`: spectrogram space) and the closest pairs.
    pub audit: ImageAudit,
    /// The PNG of the closest pairs' spectrograms (generated left, training right).
    pub pairs_png: PathBuf,
}

impl SoundReport {
    /// Lines for people.
    pub fn summary(&self) -> String {
        format!(
            "{} spectrograms generated; {} training clips of {}, {} held-out test clips\n{}{}\
             closest pairs: {}\n",
            self.audit.features.n_generated,
            self.train,
            self.dataset,
            self.heldout,
            super::copy_line("evaluator features", &self.audit.features),
            super::copy_line("spectrograms", &self.audit.pixels),
            self.pairs_png.display()
        )
    }
}

/// Audits the sound-GAN run in `dir`; writes the closest pairs to
/// `<dir>/audit/closest-pairs.png`.
pub fn audit(
    run: &SoundGanRun,
    dir: &Path,
    device: tch::Device,
    opts: &AuditOptions,
) -> Result<SoundReport> {
    let num = opts.num.unwrap_or(DEFAULT_NUM);
    if num < 2 {
        bail!("--num must be at least 2");
    }
    let s = audit_spectrograms(run, dir, device, num, num, opts.seed)?;
    let count = |t: &tch::Tensor| t.size().first().copied().unwrap_or(0) as usize;
    if count(&s.heldout) == 0 {
        bail!("the drums' test split has no clips to compare with");
    }
    let audit = audit_images(
        |x| s.evaluator.features(x),
        &s.train,
        &s.heldout,
        &s.generated,
        opts.quantile,
        PAIRS,
    )?;
    let pairs_png = dir.join("audit").join("closest-pairs.png");
    grid_png(
        &pairs_tensor(&s.generated, &s.train, &audit.closest)?,
        2,
        &pairs_png,
    )?;
    Ok(SoundReport {
        dataset: run.data.dataset.clone(),
        train: count(&s.train),
        heldout: count(&s.heldout),
        audit,
        pairs_png,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gen_core::spectrogram::{SpectrogramConfig, SpectrogramImages};
    use gen_data::memorisation::DEFAULT_QUANTILE;
    use gen_data::splitmix::SplitMix64;
    use std::f64::consts::TAU;
    use tch::{Device, Kind, Tensor};

    /// `n` synthetic one-shots `[n, 16384]` at 16 kHz: kicks (a falling sine), hats (a
    /// decaying high tone) and snares (a tone and noise), each with its own random pitch,
    /// decay and level.
    fn clips(seed: u64, n: usize) -> Tensor {
        let mut rng = SplitMix64::new(seed);
        let mut u = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut flat = Vec::with_capacity(n * 16_384);
        for i in 0..n {
            let (pitch, decay, level) = (u(), u(), 0.3 + 0.6 * u());
            for s in 0..16_384 {
                let t = s as f64 / 16_000.0;
                let x = match i % 3 {
                    0 => {
                        let f = 50.0 + 60.0 * pitch + 100.0 * (-t * 30.0).exp();
                        (TAU * f * t).sin() * (-t * (4.0 + 10.0 * decay)).exp()
                    }
                    1 => {
                        (TAU * (4000.0 + 3000.0 * pitch) * t).sin()
                            * (-t * (30.0 + 60.0 * decay)).exp()
                    }
                    _ => {
                        let noise = 2.0 * u() - 1.0;
                        (0.5 * (TAU * (150.0 + 100.0 * pitch) * t).sin() + 0.5 * noise)
                            * (-t * (10.0 + 20.0 * decay)).exp()
                    }
                };
                flat.push((level * x) as f32);
            }
        }
        Tensor::from_slice(&flat).view([n as i64, 16_384])
    }

    /// A "model" whose sounds are training clips is flagged in both spaces; one whose sounds
    /// are fresh clips of the same kinds is not. Spectrograms as the sound runs make them
    /// (16x16, the front end fitted on the training clips); "features": 4x4 average pooling,
    /// a fixed map as the evaluator's is.
    #[test]
    fn a_model_that_plays_back_training_clips_is_flagged_and_a_fresh_one_is_not() {
        let config = SpectrogramConfig {
            size: 16,
            ..SpectrogramConfig::default()
        };
        let train_clips = clips(1, 90);
        let front = SpectrogramImages::fit(&config, &train_clips, Device::Cpu).unwrap();
        let images = |c: &Tensor| tch::no_grad(|| front.images(c)).unwrap();
        let train = images(&train_clips);
        let heldout = images(&clips(2, 60));
        let fresh = images(&clips(3, 60));
        let copies = images(&train_clips.narrow(0, 10, 60));
        let features = |x: &Tensor| -> gen_train::Result<Tensor> {
            let n = x.size()[0];
            Ok(x.f_avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None)?
                .f_reshape([n, -1])?)
        };
        let a = audit_images(features, &train, &heldout, &copies, DEFAULT_QUANTILE, 4).unwrap();
        assert!(a.copying && a.features.copying && a.pixels.copying, "{a:?}");
        assert_eq!(a.pixels.fraction_below, 1.0);
        assert!(a.pixels.threshold > 0.0, "{a:?}");
        assert_eq!(a.closest[0].distance, 0.0);
        let b = audit_images(features, &train, &heldout, &fresh, DEFAULT_QUANTILE, 4).unwrap();
        assert!(!b.copying, "{b:?}");
        assert!(b.pixels.mann_whitney_z.abs() < 3.5, "{b:?}");
        let grid = pairs_tensor(&copies, &train, &a.closest).unwrap();
        assert_eq!(grid.size(), [8, 1, 16, 16]);
        let diff = grid.get(0).to_kind(Kind::Double) - grid.get(1).to_kind(Kind::Double);
        assert_eq!(diff.abs().max().double_value(&[]), 0.0);
    }
}

//! `gen audit`: does a run's model copy its training data? One module per kind of sample; each
//! compares generated samples with held-out real data (see `gen_data::memorisation`).

pub mod images;
pub mod music;
pub mod sound;
pub mod text;
pub mod trajectories;

use crate::config::RunConfig;
use anyhow::Result;
use gen_data::memorisation::CopyTest;
use serde::Serialize;
use std::path::Path;

/// Settings of one audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Generated samples (images, texts, trajectories per shape, chorales or sounds); `None`
    /// is the kind's default.
    pub num: Option<usize>,
    /// Seed of the samples.
    pub seed: u64,
    /// The quantile of held-out distances that counts as "too close".
    pub quantile: f64,
}

/// The result of an audit, whatever the kind.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audit {
    /// Images.
    Images(images::ImagesReport),
    /// Text.
    Text(text::TextReport),
    /// Trajectories.
    Trajectories(trajectories::TrajectoriesReport),
    /// Music.
    Music(music::MusicReport),
    /// Sound.
    Sound(sound::SoundReport),
}

impl Audit {
    /// Audits the run in `dir` with the audit of its kind; `None` for a kind that generates
    /// nothing (a text classifier).
    pub fn of_run(
        config: &RunConfig,
        dir: &Path,
        device: tch::Device,
        opts: &AuditOptions,
    ) -> Result<Option<Audit>> {
        Ok(Some(match config {
            RunConfig::ImageGan(r) => Audit::Images(images::audit(r, dir, device, opts)?),
            RunConfig::LanguageModel(r) => Audit::Text(text::audit(r, dir, device, opts)?),
            RunConfig::Trajectory(r) => {
                Audit::Trajectories(trajectories::audit(r, dir, device, opts)?)
            }
            RunConfig::Music(r) => Audit::Music(music::audit(r, dir, opts)?),
            RunConfig::SoundGan(r) => Audit::Sound(sound::audit(r, dir, device, opts)?),
            RunConfig::TextClassifier(_) => return Ok(None),
        }))
    }

    /// Whether the model is flagged as copying its training data.
    pub fn copying(&self) -> bool {
        match self {
            Audit::Images(r) => r.audit.copying,
            Audit::Text(r) => r.copying,
            Audit::Trajectories(r) => r.test.copying,
            Audit::Music(r) => r.audit.copying,
            Audit::Sound(r) => r.audit.copying,
        }
    }

    /// The headline numbers that `gen evaluate` reports beside its metrics, prefixed
    /// `audit_`: per distance, the fraction of generated samples below the held-out quantile
    /// and the Mann-Whitney z; `audit_copying` is 1 when the model is flagged, else 0.
    pub fn headline(&self) -> Vec<(String, f64)> {
        let tests: Vec<(&str, &CopyTest)> = match self {
            Audit::Images(r) => vec![("features", &r.audit.features), ("pixels", &r.audit.pixels)],
            Audit::Sound(r) => vec![
                ("features", &r.audit.features),
                ("spectrogram", &r.audit.pixels),
            ],
            Audit::Music(r) => vec![("hamming", &r.audit.test)],
            Audit::Trajectories(r) => vec![("dtw", &r.test)],
            Audit::Text(_) => Vec::new(),
        };
        let mut out = Vec::new();
        for (space, t) in tests {
            out.push((format!("audit_{space}_fraction_below"), t.fraction_below));
            out.push((format!("audit_{space}_mann_whitney_z"), t.mann_whitney_z));
        }
        if let Audit::Text(r) = self {
            out.push(("audit_verbatim_fraction".into(), r.generated.fraction));
            out.push(("audit_heldout_verbatim_fraction".into(), r.heldout.fraction));
        }
        out.push(("audit_copying".into(), f64::from(u8::from(self.copying()))));
        out
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let verdict = if self.copying() {
            "FLAGGED: generated samples sit closer to the training data than held-out data does"
        } else {
            "not flagged: generated samples are no closer to the training data than held-out data"
        };
        let body = match self {
            Audit::Images(r) => r.summary(),
            Audit::Text(r) => r.summary(),
            Audit::Trajectories(r) => r.summary(),
            Audit::Music(r) => r.summary(),
            Audit::Sound(r) => r.summary(),
        };
        format!("{body}{verdict}\n")
    }
}

/// One line for a distance comparison.
fn copy_line(name: &str, t: &gen_data::memorisation::CopyTest) -> String {
    format!(
        "{name}: {:.1}% of {} generated below the held-out {:.0}th percentile {:.4} (expected \
         ~{:.0}%); median nearest-training distance {:.4} generated vs {:.4} held-out; \
         Mann-Whitney z {:.2}\n",
        100.0 * t.fraction_below,
        t.n_generated,
        100.0 * t.quantile,
        t.threshold,
        100.0 * t.quantile,
        t.median_generated,
        t.median_heldout,
        t.mann_whitney_z
    )
}

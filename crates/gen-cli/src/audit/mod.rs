//! `gen audit`: does a run's model copy its training data? One module per kind of sample; each
//! compares generated samples with held-out real data (see `gen_data::memorisation`).

pub mod images;
pub mod text;
pub mod trajectories;

use serde::Serialize;

/// Settings of one audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Generated samples (images, texts, or trajectories per shape); `None` is the kind's
    /// default.
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
}

impl Audit {
    /// Whether the model is flagged as copying its training data.
    pub fn copying(&self) -> bool {
        match self {
            Audit::Images(r) => r.audit.copying,
            Audit::Text(r) => r.copying,
            Audit::Trajectories(r) => r.test.copying,
        }
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

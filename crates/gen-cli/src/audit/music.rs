//! The audit of music runs: each generated chorale is cut into 4-bar windows (16 quarter-note
//! frames), and each window's Hamming distance to the nearest training window (at any frame)
//! is set against the same distance for the held-out test chorales' windows
//! (`gen_data::memorisation::rolls`). The closest pairs are drawn as piano-rolls.

use super::AuditOptions;
use crate::config::MusicRun;
use crate::fit::RunKind;
use crate::music::CHECKPOINT;
use anyhow::{Context, Result, bail};
use gen_data::memorisation::rolls::{RollAudit, WINDOW_FRAMES, audit_rolls, write_pairs_png};
use gen_data::music::PianoRoll;
use gen_train::tasks::music::{load_music_model, roll_of};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::Device;

/// Generated chorales by default (of `sample.frames` frames each: 256 windows at the default
/// 64 frames, about the held-out test chorales' count).
pub const DEFAULT_NUM: usize = 64;
/// Closest pairs drawn.
const PAIRS: usize = 8;

/// The music audit with what it compared.
#[derive(Debug, Clone, Serialize)]
pub struct MusicReport {
    /// The dataset.
    pub dataset: String,
    /// Training chorales searched.
    pub train: usize,
    /// Held-out test chorales (the baseline).
    pub heldout: usize,
    /// Generated chorales.
    pub generated: usize,
    /// Frames per generated chorale.
    pub frames: usize,
    /// The distance comparison and the closest pairs.
    pub audit: RollAudit,
    /// The PNG of the closest pairs (generated left, training right).
    pub pairs_png: PathBuf,
}

impl MusicReport {
    /// Lines for people.
    pub fn summary(&self) -> String {
        format!(
            "{} chorales of {} frames generated; {} windows of {} frames (4 bars of 4/4) from \
             {} training chorales of {}, {} held-out test chorales\n{}closest pairs: {}\n",
            self.generated,
            self.frames,
            self.audit.train_windows,
            self.audit.window_frames,
            self.train,
            self.dataset,
            self.heldout,
            super::copy_line("piano-roll Hamming distance", &self.audit.test),
            self.pairs_png.display()
        )
    }
}

/// Audits the music run in `dir`: `num` chorales of `run.sample.frames` frames (at least
/// [`WINDOW_FRAMES`]) composed from
/// silence (the `best` checkpoint, seeded) against the training and test chorales; writes the
/// closest pairs to `<dir>/audit/closest-pairs.png`.
pub fn audit(run: &MusicRun, dir: &Path, opts: &AuditOptions) -> Result<MusicReport> {
    let num = opts.num.unwrap_or(DEFAULT_NUM);
    if num == 0 {
        bail!("--num must be at least 1");
    }
    // At least one window, whatever `gen sample` is set to write.
    let frames = run.sample.frames.max(WINDOW_FRAMES);
    let set = run.load(Device::Cpu)?;
    let train: Vec<PianoRoll> = set.train.iter().map(|c| c.roll.clone()).collect();
    let heldout: Vec<PianoRoll> = set.test.iter().map(|c| c.roll.clone()).collect();
    let (task, _) = load_music_model(dir, CHECKPOINT, Device::Cpu)?;
    let drawn = task.model.sample(num, frames, None, opts.seed)?;
    let generated = (0..num)
        .map(|i| Ok(roll_of(&drawn.frames.f_select(0, i as i64)?)?))
        .collect::<Result<Vec<_>>>()?;
    let audit = audit_rolls(&train, &heldout, &generated, opts.quantile, PAIRS)?;
    let pairs_png = dir.join("audit").join("closest-pairs.png");
    if let Some(parent) = pairs_png.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_pairs_png(&pairs_png, &generated, &train, &audit.closest)?;
    Ok(MusicReport {
        dataset: run.data.dataset.clone(),
        train: train.len(),
        heldout: heldout.len(),
        generated: num,
        frames,
        audit,
        pairs_png,
    })
}

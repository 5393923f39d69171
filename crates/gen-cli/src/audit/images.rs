//! The audit of image GANs: nearest training image of each generated image in the evaluator's
//! feature space and in pixel space, against held-out test images, and the closest pairs as a
//! PNG.

use super::AuditOptions;
use crate::config::ImageGanRun;
use crate::gan;
use anyhow::{Result, bail};
use gen_train::eval::memorisation::{ImageAudit, audit_images, pairs_tensor};
use gen_train::eval::{images_to_tensor, train_or_load_evaluator_with};
use gen_train::tasks::gan::grid_png;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Generated images by default.
pub const DEFAULT_NUM: usize = 1000;
/// Closest pairs drawn.
const PAIRS: usize = 8;
/// Generated images per forward pass.
const BATCH: usize = 500;

/// The image audit with what it compared.
#[derive(Debug, Clone, Serialize)]
pub struct ImagesReport {
    /// The dataset.
    pub dataset: String,
    /// Training images searched (the run's `data.limit` first ones).
    pub train: usize,
    /// Held-out test images (the baseline).
    pub heldout: usize,
    /// The two distance comparisons and the closest pairs.
    pub audit: ImageAudit,
    /// The PNG of the closest pairs (generated left, training right).
    pub pairs_png: PathBuf,
}

impl ImagesReport {
    /// Lines for people.
    pub fn summary(&self) -> String {
        format!(
            "{} images generated; {} training images of {}, {} held-out test images\n{}{}closest pairs: {}\n",
            self.audit.features.n_generated,
            self.train,
            self.dataset,
            self.heldout,
            super::copy_line("evaluator features", &self.audit.features),
            super::copy_line("pixels", &self.audit.pixels),
            self.pairs_png.display()
        )
    }
}

/// Audits the GAN run in `dir`; writes the closest pairs to `<dir>/audit/closest-pairs.png`.
pub fn audit(
    run: &ImageGanRun,
    dir: &Path,
    device: tch::Device,
    opts: &AuditOptions,
) -> Result<ImagesReport> {
    let num = opts.num.unwrap_or(DEFAULT_NUM);
    if num < 2 {
        bail!("--num must be at least 2");
    }
    let data = gan::load(run)?;
    let evaluator = train_or_load_evaluator_with(
        &run.data.dataset,
        &data,
        &gan::evaluator_cache(),
        &run.eval.evaluator,
        tch::Device::Cpu,
    )?;
    let n_train = run
        .data
        .limit
        .unwrap_or(usize::MAX)
        .min(data.train_labels.len());
    let n_held = num.min(data.test_labels.len());
    let train = images_to_tensor(&data.train_images, n_train)?;
    let heldout = images_to_tensor(&data.test_images, n_held)?;
    let task = gan::trained(run, dir, device)?;
    tch::manual_seed(opts.seed as i64);
    let mut chunks = Vec::new();
    let mut left = num;
    while left > 0 {
        let k = left.min(BATCH);
        let images = tch::no_grad(|| task.gan.sample(k as i64, None, device))?;
        chunks.push(images.f_to_device(tch::Device::Cpu)?);
        left -= k;
    }
    let generated = Tensor::f_cat(&chunks, 0)?;
    let audit = audit_images(
        |x| evaluator.features(x),
        &train,
        &heldout,
        &generated,
        opts.quantile,
        PAIRS,
    )?;
    let pairs_png = dir.join("audit").join("closest-pairs.png");
    grid_png(
        &pairs_tensor(&generated, &train, &audit.closest)?,
        2,
        &pairs_png,
    )?;
    Ok(ImagesReport {
        dataset: run.data.dataset.clone(),
        train: n_train,
        heldout: n_held,
        audit,
        pairs_png,
    })
}

//! The audit of trajectory runs: each generated trajectory's DTW distance to the nearest
//! training demonstration of its shape, against the held-out demonstration of each shape.

use super::AuditOptions;
use crate::config::TrajectoryRun;
use crate::trajectory;
use anyhow::{Context, Result, bail};
use gen_data::memorisation::{CopyTest, nearest_dtw};
use gen_models::TrajectorySampling;
use gen_train::tasks::trajectory::{load_trajectory_model, sample_trajectories, select_shapes};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;
use std::path::Path;

/// Generated trajectories per shape by default.
pub const DEFAULT_NUM: usize = 8;

/// The trajectory audit.
#[derive(Debug, Clone, Serialize)]
pub struct TrajectoriesReport {
    /// Shapes audited.
    pub shapes: usize,
    /// The held-out demo's index in each shape.
    pub holdout: usize,
    /// DTW distances to the nearest training demo of the same shape, generated against
    /// held-out.
    pub test: CopyTest,
}

impl TrajectoriesReport {
    /// Lines for people.
    pub fn summary(&self) -> String {
        format!(
            "{} shapes, demo {} of each held out\n{}",
            self.shapes,
            self.holdout,
            super::copy_line("DTW to the nearest training demo", &self.test)
        )
    }
}

fn views(v: &[Array2<f64>]) -> Vec<ArrayView2<'_, f64>> {
    v.iter().map(|a| a.view()).collect()
}

/// The distances for one shape: `generated` and `heldout` trajectories against `train` demos.
pub fn shape_distances(
    train: &[Array2<f64>],
    heldout: &[Array2<f64>],
    generated: &[Array2<f64>],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let train = views(train);
    let d = |q: &[Array2<f64>]| -> Result<Vec<f64>> {
        Ok(nearest_dtw(&views(q), &train)?
            .into_iter()
            .map(|p| p.0)
            .collect())
    };
    Ok((d(generated)?, d(heldout)?))
}

/// Audits the trajectory run in `dir`: `num` trajectories per shape with the run's evaluation
/// bias and spread.
pub fn audit(
    run: &TrajectoryRun,
    dir: &Path,
    device: tch::Device,
    opts: &AuditOptions,
) -> Result<TrajectoriesReport> {
    let Some(holdout) = run.holdout else {
        bail!("holdout is not set: every demo was trained on, so there is no held-out baseline");
    };
    let num = opts.num.unwrap_or(DEFAULT_NUM);
    if num == 0 {
        bail!("--num must be at least 1");
    }
    let all = trajectory::load(run)?;
    let (task, config) = load_trajectory_model(dir, device)?;
    let shapes = select_shapes(&all, &config.shapes)?;
    let length = usize::try_from(config.model.length).unwrap_or(100);
    let (mut gen_d, mut held_d) = (Vec::new(), Vec::new());
    for (id, shape) in shapes.iter().enumerate() {
        let mut train = Vec::new();
        let mut heldout = Vec::new();
        for (i, demo) in shape.demos.iter().enumerate() {
            let r = gen_data::trajectory::resample(demo.pos.view(), length)?;
            if i == holdout {
                heldout.push(r);
            } else {
                train.push(r);
            }
        }
        if heldout.is_empty() || train.is_empty() {
            continue;
        }
        let sampling = TrajectorySampling {
            seed: opts.seed,
            bias: config.eval.bias,
            spread: config.eval.spread,
            ..Default::default()
        };
        let generated = sample_trajectories(&task.model, id as i64, num, &sampling)
            .with_context(|| format!("sampling shape {}", shape.name))?;
        let (g, h) = shape_distances(&train, &heldout, &generated)?;
        gen_d.extend(g);
        held_d.extend(h);
    }
    Ok(TrajectoriesReport {
        shapes: shapes.len(),
        holdout,
        test: CopyTest::new(&gen_d, &held_d, opts.quantile)?,
    })
}

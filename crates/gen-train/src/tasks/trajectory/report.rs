//! Evaluation against held-out demonstrations (see the [module docs](super)).

use super::task::sample_trajectories;
use crate::{Error, Result};
use gen_data::lasa::LasaShape;
use gen_data::trajectory::{dtw, endpoint_error, mean_pairwise_dtw, mean_trajectory, resample};
use gen_models::{TrajectoryMdn, TrajectorySampling};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

/// How [`evaluate_trajectories`] samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrajectoryEvalConfig {
    /// Samples per shape, for each of the two starts (held-out start, drawn start).
    /// Default: 8.
    pub samples: usize,
    /// Graves' sampling bias ([`TrajectorySampling::bias`]). Default: 1.0.
    pub bias: f64,
    /// Pull toward the mixture mean ([`TrajectorySampling::spread`]). Default: 0.25: over
    /// LASA's full leave-one-out (7 folds), 1.0 beat the mean-demo baseline on 118 of the 210
    /// (shape, held-out demo) pairs and 0.25 on 154, with every sample still distinct.
    pub spread: f64,
    /// Seed of the samples (shape `s` uses `seed + s`). Default: 0.
    pub seed: u64,
}

impl Default for TrajectoryEvalConfig {
    fn default() -> Self {
        TrajectoryEvalConfig {
            samples: 8,
            bias: 1.0,
            spread: 0.25,
            seed: 0,
        }
    }
}

/// The figures of one shape (see the [module docs](super); DTW values are per point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeReport {
    /// The shape's name.
    pub name: String,
    /// DTW from the held-out demo to samples starting at its first point (mean over them).
    pub dtw: f64,
    /// The same, for the closest of those samples (best of `eval.samples`).
    pub dtw_best: f64,
    /// DTW from the held-out demo to samples with a drawn start.
    pub dtw_free: f64,
    /// DTW from drawn-start samples to their nearest real demo.
    pub nearest: f64,
    /// DTW from the held-out demo to the mean training demo.
    pub baseline: f64,
    /// The largest distance of a sample's last point from `(0, 0)`.
    pub endpoint: f64,
    /// Mean pairwise DTW among the samples starting at the held-out start.
    pub diversity: f64,
    /// Per-point NLL of the held-out demo.
    pub heldout_nll: f64,
}

/// A whole evaluation: per-shape figures, plus the trajectories for plots.
#[derive(Debug, Clone)]
pub struct TrajectoryReport {
    /// The held-out demo index.
    pub holdout: usize,
    /// One entry per shape, in id order.
    pub shapes: Vec<ShapeReport>,
    /// For each shape: the held-out demo, the training demos and the samples that start at
    /// the held-out start (all `[length, 2]`), for [`super::write_overlay_png`] and CSV output.
    pub trajectories: Vec<ShapeTrajectories>,
}

/// The trajectories behind one [`ShapeReport`].
#[derive(Debug, Clone)]
pub struct ShapeTrajectories {
    /// The held-out demo, resampled.
    pub heldout: Array2<f64>,
    /// The training demos, resampled.
    pub train: Vec<Array2<f64>>,
    /// The mean of the training demos (the baseline).
    pub mean: Array2<f64>,
    /// Samples starting at the held-out start.
    pub samples: Vec<Array2<f64>>,
    /// Samples with a drawn start.
    pub free_samples: Vec<Array2<f64>>,
}

/// The summary line of a [`TrajectoryReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectorySummary {
    /// Shapes evaluated.
    pub shapes: usize,
    /// Shapes where `dtw < baseline`.
    pub beat_baseline: usize,
    /// Shapes where `dtw_best < baseline`.
    pub beat_baseline_best: usize,
    /// Shapes where `dtw_free < baseline`.
    pub beat_baseline_free: usize,
    /// Mean of `dtw` over shapes.
    pub mean_dtw: f64,
    /// Mean of `dtw_best`.
    pub mean_dtw_best: f64,
    /// Mean of `dtw_free`.
    pub mean_dtw_free: f64,
    /// Mean of `nearest`.
    pub mean_nearest: f64,
    /// Mean of `baseline`.
    pub mean_baseline: f64,
    /// The largest `endpoint` over shapes.
    pub max_endpoint: f64,
    /// The smallest `diversity` over shapes.
    pub min_diversity: f64,
    /// Mean of `heldout_nll`.
    pub mean_heldout_nll: f64,
}

impl TrajectoryReport {
    /// Totals and means over shapes.
    pub fn summary(&self) -> TrajectorySummary {
        let n = self.shapes.len();
        let mean =
            |f: fn(&ShapeReport) -> f64| self.shapes.iter().map(f).sum::<f64>() / n.max(1) as f64;
        TrajectorySummary {
            shapes: n,
            beat_baseline: self.shapes.iter().filter(|s| s.dtw < s.baseline).count(),
            beat_baseline_best: self
                .shapes
                .iter()
                .filter(|s| s.dtw_best < s.baseline)
                .count(),
            beat_baseline_free: self
                .shapes
                .iter()
                .filter(|s| s.dtw_free < s.baseline)
                .count(),
            mean_dtw: mean(|s| s.dtw),
            mean_dtw_best: mean(|s| s.dtw_best),
            mean_dtw_free: mean(|s| s.dtw_free),
            mean_nearest: mean(|s| s.nearest),
            mean_baseline: mean(|s| s.baseline),
            max_endpoint: self.shapes.iter().map(|s| s.endpoint).fold(0.0, f64::max),
            min_diversity: self
                .shapes
                .iter()
                .map(|s| s.diversity)
                .fold(f64::INFINITY, f64::min),
            mean_heldout_nll: mean(|s| s.heldout_nll),
        }
    }

    /// The per-shape table and a summary row, as aligned text. The summary holds means over
    /// shapes, except `endpoint` (the largest) and `diversity` (the smallest); `beats` counts
    /// the shapes where `dtw` and `best` are below `baseline`.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>6} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9} {:>7}  beats (dtw, best)\n",
            "shape",
            "dtw",
            "best",
            "dtw_free",
            "nearest",
            "baseline",
            "endpoint",
            "diversity",
            "nll"
        );
        let yes = |b: bool| if b { "yes" } else { "no" };
        for s in &self.shapes {
            out.push_str(&format!(
                "{:<16} {:>6.3} {:>6.3} {:>8.3} {:>7.3} {:>8.3} {:>8.3} {:>9.3} {:>7.3}  {}, {}\n",
                s.name,
                s.dtw,
                s.dtw_best,
                s.dtw_free,
                s.nearest,
                s.baseline,
                s.endpoint,
                s.diversity,
                s.heldout_nll,
                yes(s.dtw < s.baseline),
                yes(s.dtw_best < s.baseline),
            ));
        }
        let m = self.summary();
        out.push_str(&format!(
            "{:<16} {:>6.3} {:>6.3} {:>8.3} {:>7.3} {:>8.3} {:>8.3} {:>9.3} {:>7.3}  {}/{}, {}/{}\n",
            "summary",
            m.mean_dtw,
            m.mean_dtw_best,
            m.mean_dtw_free,
            m.mean_nearest,
            m.mean_baseline,
            m.max_endpoint,
            m.min_diversity,
            m.mean_heldout_nll,
            m.beat_baseline,
            m.shapes,
            m.beat_baseline_best,
            m.shapes
        ));
        out
    }
}

/// Evaluates `model` on demo `holdout` of every shape of `shapes` (shape id = position in
/// `shapes`, as in training); see the [module docs](super). Errors when `eval.samples < 2`
/// (diversity needs two) or a shape lacks demo `holdout`.
pub fn evaluate_trajectories(
    model: &TrajectoryMdn,
    shapes: &[&LasaShape],
    holdout: usize,
    eval: &TrajectoryEvalConfig,
) -> Result<TrajectoryReport> {
    if eval.samples < 2 {
        return Err(Error::config("eval.samples", "must be at least 2"));
    }
    let length = usize::try_from(model.config().length).unwrap_or(2);
    let per_point = length as f64;
    let mut reports = Vec::with_capacity(shapes.len());
    let mut trajectories = Vec::with_capacity(shapes.len());
    for (id, shape) in shapes.iter().enumerate() {
        let Some(held) = shape.demos.get(holdout) else {
            return Err(Error::config(
                "holdout",
                format!(
                    "{holdout} but {} has {} demos",
                    shape.name,
                    shape.demos.len()
                ),
            ));
        };
        let heldout = resample(held.pos.view(), length)?;
        let all: Vec<Array2<f64>> = shape
            .demos
            .iter()
            .map(|d| resample(d.pos.view(), length))
            .collect::<gen_data::Result<_>>()?;
        let train: Vec<Array2<f64>> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != holdout)
            .map(|(_, a)| a.clone())
            .collect();
        let train_views: Vec<ArrayView2<'_, f64>> = train.iter().map(|a| a.view()).collect();
        let mean = if train_views.is_empty() {
            heldout.clone()
        } else {
            mean_trajectory(&train_views, length)?
        };
        let start = [
            heldout.row(0).get(0).copied().unwrap_or(0.0),
            heldout.row(0).get(1).copied().unwrap_or(0.0),
        ];
        let seed = eval.seed.wrapping_add(id as u64);
        let sampling = TrajectorySampling {
            seed,
            bias: eval.bias,
            spread: eval.spread,
            start: Some(start),
            length: Some(length),
        };
        let samples = sample_trajectories(model, id as i64, eval.samples, &sampling)?;
        let free_samples = sample_trajectories(
            model,
            id as i64,
            eval.samples,
            &TrajectorySampling {
                start: None,
                seed: seed.wrapping_add(1 << 32),
                ..sampling
            },
        )?;
        let mean_of = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
        let dtw_to = |set: &[Array2<f64>], target: &Array2<f64>| -> Result<f64> {
            Ok(mean_of(
                set.iter()
                    .map(|s| dtw(s.view(), target.view()))
                    .collect::<gen_data::Result<Vec<f64>>>()?,
            ) / per_point)
        };
        let all_views: Vec<ArrayView2<'_, f64>> = all.iter().map(|a| a.view()).collect();
        let nearest = mean_of(
            free_samples
                .iter()
                .map(|s| gen_data::trajectory::nearest_dtw(s.view(), &all_views).map(|(_, d)| d))
                .collect::<gen_data::Result<Vec<f64>>>()?,
        ) / per_point;
        let endpoint = samples
            .iter()
            .chain(&free_samples)
            .map(|s| endpoint_error(s.view(), &[0.0, 0.0]))
            .collect::<gen_data::Result<Vec<f64>>>()?
            .into_iter()
            .fold(0.0, f64::max);
        let sample_views: Vec<ArrayView2<'_, f64>> = samples.iter().map(|a| a.view()).collect();
        let heldout_nll = tch::no_grad(|| -> Result<f64> {
            let points =
                Tensor::f_from_slice(&heldout.iter().map(|v| *v as f32).collect::<Vec<f32>>())?
                    .f_view([1, length as i64, 2])?
                    .f_to_device(model.device())?;
            let ids = Tensor::f_from_slice(&[id as i64])?.f_to_device(model.device())?;
            Ok(model.nll(&ids, &points, false)?.f_double_value(&[])?)
        })?;
        reports.push(ShapeReport {
            name: shape.name.clone(),
            dtw: dtw_to(&samples, &heldout)?,
            dtw_best: samples
                .iter()
                .map(|s| dtw(s.view(), heldout.view()))
                .collect::<gen_data::Result<Vec<f64>>>()?
                .into_iter()
                .fold(f64::INFINITY, f64::min)
                / per_point,
            dtw_free: dtw_to(&free_samples, &heldout)?,
            nearest,
            baseline: dtw(mean.view(), heldout.view())? / per_point,
            endpoint,
            diversity: mean_pairwise_dtw(&sample_views)? / per_point,
            heldout_nll,
        });
        trajectories.push(ShapeTrajectories {
            heldout,
            train,
            mean,
            samples,
            free_samples,
        });
    }
    Ok(TrajectoryReport {
        holdout,
        shapes: reports,
        trajectories,
    })
}

/// Writes the trajectories of `report` as CSV (see [`gen_data::trajectory::write_csv`]):
/// kinds `heldout`, `train`, `mean`, `generated` (held-out start) and `generated_free`.
pub fn write_report_csv(path: &Path, report: &TrajectoryReport) -> Result<()> {
    let mut rows = Vec::new();
    for (s, t) in report.shapes.iter().zip(&report.trajectories) {
        let sets: [(&'static str, &[Array2<f64>]); 5] = [
            ("heldout", std::slice::from_ref(&t.heldout)),
            ("train", &t.train),
            ("mean", std::slice::from_ref(&t.mean)),
            ("generated", &t.samples),
            ("generated_free", &t.free_samples),
        ];
        for (kind, set) in sets {
            for (index, a) in set.iter().enumerate() {
                rows.push(gen_data::trajectory::LabeledTrajectory {
                    shape: s.name.as_str(),
                    kind,
                    index,
                    points: a.view(),
                });
            }
        }
    }
    gen_data::trajectory::write_csv(path, &rows)?;
    Ok(())
}

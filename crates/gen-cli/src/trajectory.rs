//! Trajectory runs (behaviour): the LASA handwriting demonstrations, the GRU mixture-density
//! generator, the leave-one-out report, and `gen sample` as an overlay PNG plus a CSV.

use crate::config::TrajectoryRun;
use crate::fit::{FitContext, MetricMap, RunKind};
use anyhow::{Context, Result, bail};
use gen_data::lasa::{LasaShape, load_lasa};
use gen_data::trajectory::{LabeledTrajectory, write_csv};
use gen_models::TrajectorySampling;
use gen_train::tasks::trajectory::{
    OverlayPanel, evaluate_trajectories, fit_trajectories, load_trajectory_model,
    sample_trajectories, select_shapes, write_overlay_png, write_report_csv,
};
use gen_train::{Outcome, TrainerState};
use std::path::{Path, PathBuf};

pub(crate) fn load(run: &TrajectoryRun) -> Result<Vec<LasaShape>> {
    let dir = gen_data::paths::dataset_dir(&run.data.dataset)?;
    load_lasa(&dir).with_context(|| format!("loading {}", dir.display()))
}

impl RunKind for TrajectoryRun {
    type Data = Vec<LasaShape>;

    fn load(&self, _device: tch::Device) -> Result<Vec<LasaShape>> {
        load(self)
    }

    /// Trains (or resumes) in `ctx.dir`.
    fn train(&self, all: &Self::Data, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
        if ctx.fold.is_some() {
            bail!("cross-validation of trajectory runs is their leave-one-out `holdout` setting");
        }
        if ctx.dist.is_some() {
            bail!("trajectory runs train on one process; leave out --nproc-per-node and torchrun");
        }
        let trained = fit_trajectories(
            all,
            &self.task(),
            &ctx.dir,
            |trainer| ctx.single(trainer),
            ctx.resume,
        )?;
        Ok((trained.outcome, trained.state))
    }

    /// The leave-one-out report on the held-out demo of every shape; writes the per-shape
    /// table to `report.txt`, the trajectories to `samples/trajectories.csv` and overlays of
    /// every shape to `samples/overlay.png`.
    fn evaluate(&self, all: &Self::Data, dir: &Path, device: tch::Device) -> Result<MetricMap> {
        let Some(holdout) = self.holdout else {
            bail!(
                "holdout is not set: every demo was trained on, so there is nothing to evaluate on"
            );
        };
        let (task, config) = load_trajectory_model(dir, device)?;
        let shapes = select_shapes(all, &config.shapes)?;
        let report = evaluate_trajectories(&task.model, &shapes, holdout, &config.eval)?;
        let samples = dir.join("samples");
        std::fs::write(dir.join("report.txt"), report.table())
            .with_context(|| format!("cannot write {}", dir.join("report.txt").display()))?;
        write_report_csv(&samples.join("trajectories.csv"), &report)?;
        let panels: Vec<OverlayPanel> = (0..report.shapes.len())
            .filter_map(|i| OverlayPanel::from_report(&report, i))
            .collect();
        write_overlay_png(&samples.join("overlay.png"), &panels, 6, 160)?;
        let summary = serde_json::to_value(report.summary())?;
        let mut out = MetricMap::new();
        if let Some(map) = summary.as_object() {
            for (k, v) in map {
                if let Some(x) = v.as_f64() {
                    out.insert(k.clone(), x);
                }
            }
        }
        Ok(out)
    }
}

/// Options of `gen sample` for trajectory runs.
pub struct SampleOptions {
    /// Trajectories to draw.
    pub num: usize,
    /// The shape's index among the run's shapes. Default: every shape.
    pub shape: Option<i64>,
    /// Seed.
    pub seed: u64,
    /// The PNG to write; the CSV goes beside it.
    pub out: PathBuf,
}

/// Draws trajectories of one shape (or each shape) and writes the overlay PNG with the real
/// demonstrations, and the points as CSV (`<out>.csv`).
pub fn sample(
    run: &TrajectoryRun,
    dir: &Path,
    device: tch::Device,
    opts: &SampleOptions,
) -> Result<PathBuf> {
    if opts.num == 0 {
        bail!("--num must be at least 1");
    }
    let all = load(run)?;
    let (task, config) = load_trajectory_model(dir, device)?;
    let shapes = select_shapes(&all, &config.shapes)?;
    let ids: Vec<i64> = match opts.shape {
        Some(k) if !(0..shapes.len() as i64).contains(&k) => bail!(
            "--class {k}: the run has shapes 0..{} ({})",
            shapes.len().saturating_sub(1),
            shapes
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(k) => vec![k],
        None => (0..shapes.len() as i64).collect(),
    };
    let length = usize::try_from(config.model.length).unwrap_or(100);
    let mut panels = Vec::new();
    let mut generated = Vec::new();
    for &id in &ids {
        let sampling = TrajectorySampling {
            seed: opts.seed,
            bias: config.eval.bias,
            spread: config.eval.spread,
            ..Default::default()
        };
        let trajs = sample_trajectories(&task.model, id, opts.num, &sampling)?;
        let shape = shapes.get(id as usize).context("shape index")?;
        let real = shape
            .demos
            .iter()
            .map(|d| Ok(gen_data::trajectory::resample(d.pos.view(), length)?))
            .collect::<Result<Vec<_>>>()?;
        panels.push(OverlayPanel {
            real,
            highlight: None,
            generated: trajs.clone(),
        });
        generated.push((shape.name.clone(), trajs));
    }
    let columns = ids.len().clamp(1, 6);
    write_overlay_png(&opts.out, &panels, columns, 240)?;
    let rows: Vec<LabeledTrajectory<'_>> = generated
        .iter()
        .flat_map(|(name, trajs)| {
            trajs
                .iter()
                .enumerate()
                .map(move |(index, t)| LabeledTrajectory {
                    shape: name.as_str(),
                    kind: "generated",
                    index,
                    points: t.view(),
                })
        })
        .collect();
    let csv = opts.out.with_extension("csv");
    write_csv(&csv, &rows)?;
    Ok(csv)
}

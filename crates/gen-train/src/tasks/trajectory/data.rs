//! The data: demonstrations resampled to a fixed length, with their shape ids.

use crate::{Dataset, Error, Result};
use gen_data::lasa::LasaShape;
use gen_data::trajectory::resample;
use ndarray::{Array2, ArrayView2};
use tch::{Device, Tensor};

/// A batch of trajectories.
#[derive(Debug)]
pub struct TrajectoryBatch {
    /// Shape ids `[B]`, int64.
    pub shapes: Tensor,
    /// Points `[B, T, 2]`, float, data units.
    pub points: Tensor,
}

/// Fixed-length trajectories with their shape ids.
#[derive(Debug, Clone)]
pub struct TrajectoryData {
    shapes: Vec<i64>,
    trajectories: Vec<Array2<f64>>,
    length: usize,
    repeats: usize,
    device: Device,
}

impl TrajectoryData {
    /// Resamples every trajectory (`[n, 2]`) of `items` to `length` points. Errors when a
    /// trajectory is not 2-D or empty, a shape id is negative, or `length < 2`.
    pub fn new(
        items: &[(i64, ArrayView2<'_, f64>)],
        length: usize,
        device: Device,
    ) -> Result<Self> {
        let mut shapes = Vec::with_capacity(items.len());
        let mut trajectories = Vec::with_capacity(items.len());
        for (i, (shape, points)) in items.iter().enumerate() {
            if *shape < 0 || points.ncols() != 2 {
                return Err(Error::config(
                    "data",
                    format!(
                        "trajectory {i}: shape id {shape}, {} columns (expected id >= 0, 2 columns)",
                        points.ncols()
                    ),
                ));
            }
            shapes.push(*shape);
            trajectories.push(resample(*points, length)?);
        }
        Ok(TrajectoryData {
            shapes,
            trajectories,
            length,
            repeats: 1,
            device,
        })
    }

    /// Makes every trajectory appear `repeats` times per epoch (sample `i` is trajectory
    /// `i mod n`), so that an epoch holds more steps: with few demos and a random
    /// augmentation per step, this trades fewer epoch-end checkpoints for the same number of
    /// updates. `repeats` of 0 is read as 1. Default: 1.
    pub fn with_repeats(mut self, repeats: usize) -> Self {
        self.repeats = repeats.max(1);
        self
    }

    /// The points per trajectory.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The resampled trajectories `[length, 2]`, in order.
    pub fn trajectories(&self) -> &[Array2<f64>] {
        &self.trajectories
    }

    /// The shape id of each trajectory.
    pub fn shape_ids(&self) -> &[i64] {
        &self.shapes
    }

    /// `(position_scale, step_scale)`: the root mean square of all point coordinates and of
    /// all displacement coordinates (1 when zero). The model divides by them.
    pub fn scales(&self) -> (f64, f64) {
        let (mut pos, mut step, mut n_pos, mut n_step) = (0.0, 0.0, 0usize, 0usize);
        for t in &self.trajectories {
            pos += t.iter().map(|v| v * v).sum::<f64>();
            n_pos += t.len();
            for w in t.outer_iter().collect::<Vec<_>>().windows(2) {
                if let [a, b] = w {
                    step += (b - a).mapv(|v| v * v).sum();
                    n_step += 2;
                }
            }
        }
        let rms = |s: f64, n: usize| {
            let r = (s / n.max(1) as f64).sqrt();
            if r.is_finite() && r > 0.0 { r } else { 1.0 }
        };
        (rms(pos, n_pos), rms(step, n_step))
    }
}

impl Dataset for TrajectoryData {
    type Batch = TrajectoryBatch;

    fn len(&self) -> usize {
        self.trajectories.len() * self.repeats
    }

    fn batch(&self, indices: &[usize]) -> Result<TrajectoryBatch> {
        let mut shapes = Vec::with_capacity(indices.len());
        let mut points = Vec::with_capacity(indices.len() * self.length * 2);
        let n = self.trajectories.len().max(1);
        for &i in indices {
            let item = if i < self.len() { Some(i % n) } else { None };
            let (Some(s), Some(t)) = (
                item.and_then(|j| self.shapes.get(j)),
                item.and_then(|j| self.trajectories.get(j)),
            ) else {
                return Err(Error::config(
                    "batch",
                    format!("index {i} out of range of {} trajectories", self.len()),
                ));
            };
            shapes.push(*s);
            points.extend(t.iter().map(|v| *v as f32));
        }
        Ok(TrajectoryBatch {
            shapes: Tensor::f_from_slice(&shapes)?.f_to_device(self.device)?,
            points: Tensor::f_from_slice(&points)?
                .f_view([indices.len() as i64, self.length as i64, 2])?
                .f_to_device(self.device)?,
        })
    }
}

/// The shapes of `all` selected by `names` (every shape, sorted by name, when empty).
/// Errors naming a shape that is missing.
pub fn select_shapes<'a>(all: &'a [LasaShape], names: &[String]) -> Result<Vec<&'a LasaShape>> {
    if names.is_empty() {
        let mut shapes: Vec<&LasaShape> = all.iter().collect();
        shapes.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(shapes);
    }
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|s| &s.name == n)
                .ok_or_else(|| Error::config("shapes", format!("no shape named {n:?} in the data")))
        })
        .collect()
}

/// The training trajectories of `shapes` (shape id = position in `shapes`), leaving out
/// demo `holdout` of each. Errors when a shape has no demo `holdout` or none left.
pub fn training_data(
    shapes: &[&LasaShape],
    holdout: Option<usize>,
    length: usize,
    device: Device,
) -> Result<TrajectoryData> {
    let mut items = Vec::new();
    for (id, shape) in shapes.iter().enumerate() {
        if let Some(k) = holdout.filter(|k| *k >= shape.demos.len()) {
            return Err(Error::config(
                "holdout",
                format!("{k} but {} has {} demos", shape.name, shape.demos.len()),
            ));
        }
        let before = items.len();
        for (i, demo) in shape.demos.iter().enumerate() {
            if Some(i) != holdout {
                items.push((id as i64, demo.pos.view()));
            }
        }
        if items.len() == before {
            return Err(Error::config(
                "holdout",
                format!("leaves no training demo for {}", shape.name),
            ));
        }
    }
    TrajectoryData::new(&items, length, device)
}

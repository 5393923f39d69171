//! Drawing trajectories from a trained [`TrajectoryMdn`], one batched GRU step per point.

use super::{Mixture, TrajectoryMdn};
use crate::gru::GruMode;
use crate::sampling::{SamplerRng, sampler_rng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// How [`TrajectoryMdn::sample`] draws trajectories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrajectorySampling {
    /// Seed of the draws; sample `i` uses its own stream [`sampler_rng`]`(seed, i)`, so it
    /// does not depend on how many samples are drawn. Default: 0.
    pub seed: u64,
    /// Graves' sampling bias `b >= 0`: standard deviations are multiplied by `exp(-b)` and
    /// mixture weights raised to the power `1 + b` (renormalised). 0 samples the model's
    /// density as learned; larger values give smoother, less varied trajectories.
    /// Default: 0.0.
    pub bias: f64,
    /// Spread `s` in `[0, 1]`: every draw `d` is pulled toward its mixture's mean `m`, as
    /// `m + s (d - m)`. 1 samples the (biased) density; 0 follows the mean path, the
    /// expected next step, with no randomness at all. With few demonstrations per shape the
    /// components follow single demos, so a draw behaves like one demo moved to the start,
    /// while the mean averages them. Default: 1.0.
    pub spread: f64,
    /// The first point, in data units; `None` draws it from the model's start mixture.
    /// Default: none.
    pub start: Option<[f64; 2]>,
    /// Points per trajectory; `None` uses the model's `length`. Default: none.
    pub length: Option<usize>,
}

impl Default for TrajectorySampling {
    fn default() -> Self {
        TrajectorySampling {
            seed: 0,
            bias: 0.0,
            spread: 1.0,
            start: None,
            length: None,
        }
    }
}

impl TrajectoryMdn {
    /// Draws `num_samples` trajectories of shape `shape`; returns them as a CPU `f64` tensor
    /// `[num_samples, length, 2]` in data units.
    ///
    /// Runs without autograd in evaluation mode. All samples advance together (one batched
    /// GRU step per point); each draws from its own ChaCha8 stream ([`sampler_rng`]`(seed,
    /// i)`), so the same seed gives the same trajectories, and sample `i` is the same whatever
    /// `num_samples` is. With `start`, every sample begins there; otherwise the first point
    /// comes from the start mixture.
    pub fn sample(
        &self,
        shape: i64,
        num_samples: usize,
        config: &TrajectorySampling,
    ) -> Result<Tensor> {
        if !(0..self.config.num_shapes).contains(&shape) {
            return Err(Error::Config {
                field: "sampling.shape",
                reason: format!(
                    "{shape} is outside 0..{} (num_shapes)",
                    self.config.num_shapes
                ),
            });
        }
        if !(config.bias.is_finite() && config.bias >= 0.0) {
            return Err(Error::Config {
                field: "sampling.bias",
                reason: format!("must be finite and >= 0, got {}", config.bias),
            });
        }
        if !(0.0..=1.0).contains(&config.spread) {
            return Err(Error::Config {
                field: "sampling.spread",
                reason: format!("must be in [0, 1], got {}", config.spread),
            });
        }
        if let Some(s) = config.start.filter(|s| !s.iter().all(|v| v.is_finite())) {
            return Err(Error::Config {
                field: "sampling.start",
                reason: format!("must be finite, got {s:?}"),
            });
        }
        let length = config
            .length
            .unwrap_or(usize::try_from(self.config.length).unwrap_or(2));
        if length < 2 {
            return Err(Error::Config {
                field: "sampling.length",
                reason: format!("must be at least 2, got {length}"),
            });
        }
        if num_samples == 0 {
            return Err(Error::Config {
                field: "num_samples",
                reason: "must be at least 1".into(),
            });
        }
        let n = i64::try_from(num_samples).map_err(|_| Error::Config {
            field: "num_samples",
            reason: format!("{num_samples} is too large"),
        })?;
        let k = usize::try_from(self.config.num_components).unwrap_or(1);
        let mut rngs: Vec<SamplerRng> = (0..num_samples as u64)
            .map(|i| sampler_rng(config.seed, i))
            .collect();
        let device = self.device();
        tch::no_grad(|| {
            let shapes = Tensor::f_full([n], shape, (Kind::Int64, device))?;
            let emb = self.embedding.forward(&shapes)?;
            // Points, per sample, in data units.
            let mut points: Vec<Vec<[f64; 2]>> = Vec::with_capacity(num_samples);
            match config.start {
                Some(start) => points.extend((0..num_samples).map(|_| vec![start])),
                None => {
                    let raw = to_rows(&self.start_params(&shapes)?)?;
                    for (rng, row) in rngs.iter_mut().zip(raw.chunks(6 * k)) {
                        let [x, y] =
                            Mixture::from_raw(row, k, config.bias)?.draw_spread(rng, config.spread);
                        let s = self.config.position_scale;
                        points.push(vec![[x * s, y * s]]);
                    }
                }
            }
            let total = length as i64;
            let mut state: Option<Tensor> = None;
            let mut prev = vec![[0.0f64; 2]; num_samples];
            for t in 0..total - 1 {
                let current: Vec<f32> = points
                    .iter()
                    .flat_map(|p| p.last().copied().unwrap_or([0.0, 0.0]))
                    .map(|v| v as f32)
                    .collect();
                let previous: Vec<f32> = prev.iter().flatten().map(|v| *v as f32).collect();
                let current = Tensor::f_from_slice(&current)?
                    .f_view([n, 1, 2])?
                    .f_to_device(device)?;
                let previous = Tensor::f_from_slice(&previous)?
                    .f_view([n, 1, 2])?
                    .f_to_device(device)?;
                let xs = self.step_inputs(&emb, &current, &previous, t, total)?;
                let gru = self.gru.forward(&xs, state.as_ref(), GruMode::Eval)?;
                state = Some(gru.state);
                let raw = to_rows(&self.head.forward(&gru.outputs)?)?;
                for (i, row) in raw.chunks(6 * k).enumerate() {
                    let (Some(rng), Some(path), Some(d)) =
                        (rngs.get_mut(i), points.get_mut(i), prev.get_mut(i))
                    else {
                        continue;
                    };
                    let [dx, dy] =
                        Mixture::from_raw(row, k, config.bias)?.draw_spread(rng, config.spread);
                    let s = self.config.step_scale;
                    *d = [dx * s, dy * s];
                    let last = path.last().copied().unwrap_or([0.0, 0.0]);
                    path.push([last[0] + d[0], last[1] + d[1]]);
                }
            }
            let flat: Vec<f64> = points.iter().flatten().flatten().copied().collect();
            Ok(Tensor::f_from_slice(&flat)?.f_view([n, total, 2])?)
        })
    }
}

/// The values of `t` as `f64` on the CPU, row-major.
fn to_rows(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(
        t.f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Double)?
            .f_contiguous()?
            .f_view([-1])?,
    )?)
}

//! The images a [`GanTask`] writes at each epoch's end: a grid and an interpolation strip
//! from fixed latents, and the real images once.

use super::{GanTask, SampleConfig, grid_png};
use crate::{Error, Result};
use gen_data::splitmix::SplitMix64;
use gen_models::gan::LatentDistribution;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The fixed inputs of the sample grids.
#[derive(Debug)]
pub(super) struct FixedSamples {
    /// Latents of the sample grid, `[rows * columns, latent]`.
    grid_z: Tensor,
    /// Labels of the sample grid (conditional only).
    grid_labels: Option<Tensor>,
    /// Latents of the interpolation strip, `[interp_rows * interp_steps, latent]`.
    interp_z: Tensor,
    /// Labels of the interpolation strip (conditional only).
    interp_labels: Option<Tensor>,
}

impl FixedSamples {
    pub(super) fn new(
        config: &SampleConfig,
        latent: LatentDistribution,
        dim: i64,
        classes: Option<i64>,
        device: Device,
    ) -> Result<Self> {
        let mut rng = SplitMix64::stream(config.seed, 0x6a4e_5eed, 0);
        let dim_u = usize::try_from(dim)
            .map_err(|_| Error::config("gan.latent_dim", "must be positive"))?;
        let mut draw = |count: usize| -> Vec<f32> {
            (0..count * dim_u)
                .map(|_| {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    let v = 1.0 - (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    latent.map_uniforms(u, v) as f32
                })
                .collect()
        };
        let cols = config.columns;
        let to_tensor = |values: &[f32], rows: usize| -> Result<Tensor> {
            Ok(Tensor::f_from_slice(values)?
                .f_reshape([rows as i64, dim])?
                .f_to_device(device)?)
        };
        // Grid: conditional -> one row per class, the same latent down each column.
        let (grid_z, grid_labels) = match classes {
            Some(k) => {
                let column_z = to_tensor(&draw(cols), cols)?;
                let z = column_z.f_repeat([k, 1])?;
                let labels = Tensor::f_arange(k, (Kind::Int64, device))?
                    .f_repeat_interleave_self_int(cols as i64, 0, None)?;
                (z, Some(labels))
            }
            None => (
                to_tensor(&draw(config.rows * cols), config.rows * cols)?,
                None,
            ),
        };
        // Interpolation: row r goes from a_r to b_r in `steps` evenly spaced points.
        let (rows, steps) = (config.interp_rows, config.interp_steps);
        let a = to_tensor(&draw(rows), rows)?;
        let b = to_tensor(&draw(rows), rows)?;
        let t = Tensor::f_linspace(0.0, 1.0, steps as i64, (Kind::Float, device))?.f_reshape([
            1,
            steps as i64,
            1,
        ])?;
        let (a3, b3) = (a.f_unsqueeze(1)?, b.f_unsqueeze(1)?);
        let interp_z = a3
            .f_add(&b3.f_sub(&a3)?.f_mul(&t)?)?
            .f_reshape([(rows * steps) as i64, dim])?;
        let interp_labels = match classes {
            Some(k) => Some(
                Tensor::f_arange(rows as i64, (Kind::Int64, device))?
                    .f_remainder(k)?
                    .f_repeat_interleave_self_int(steps as i64, 0, None)?,
            ),
            None => None,
        };
        Ok(FixedSamples {
            grid_z,
            grid_labels,
            interp_z,
            interp_labels,
        })
    }
}

/// `samples/epoch_NNN.png` and `samples/interp_NNN.png` of `epoch` in `run_dir`.
fn sample_paths(epoch: usize, run_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = run_dir.join("samples");
    (
        dir.join(format!("epoch_{epoch:03}.png")),
        dir.join(format!("interp_{epoch:03}.png")),
    )
}

impl GanTask {
    /// Keeps the first real images seen for `samples/real.png`.
    pub(super) fn remember_real(&mut self, images: &Tensor) -> Result<()> {
        let Some(fixed) = &self.fixed else {
            return Ok(());
        };
        if self.real_written {
            return Ok(());
        }
        let want = fixed.grid_z.size().first().copied().unwrap_or(0);
        let have: i64 = self
            .real_seen
            .iter()
            .map(|t| t.size().first().copied().unwrap_or(0))
            .sum();
        let batch = images.size().first().copied().unwrap_or(0);
        let take = (want - have).min(batch);
        if take > 0 {
            // A copy, so that the batch's storage is not kept alive.
            let first = images
                .f_narrow(0, 0, take)?
                .f_detach()?
                .f_to_device(Device::Cpu)?;
            let mut copy = first.f_zeros_like()?;
            copy.f_copy_(&first)?;
            self.real_seen.push(copy);
        }
        Ok(())
    }

    /// The generated files [`GanTask::write_samples`] writes for `epoch`, with the seed of
    /// their latents: the grid, the interpolation strip and what the grid's renderer
    /// ([`GanTask::with_grid_samples`]) wrote; `None` when it writes none.
    pub fn sample_files(&self, epoch: usize, run_dir: &Path) -> Option<crate::EpochSamples> {
        self.fixed.as_ref()?;
        let (grid, interp) = sample_paths(epoch, run_dir);
        let mut files = vec![grid, interp];
        if let Some((rendered_epoch, rendered)) = &self.rendered {
            if *rendered_epoch == epoch {
                files.extend(rendered.iter().cloned());
            }
        }
        Some(crate::EpochSamples {
            seed: self.config.samples.seed,
            files,
        })
    }

    /// Writes the sample grid and interpolation strip of `epoch`, and the real grid once;
    /// hands the grid to [`GanTask::with_grid_samples`]'s renderer.
    pub fn write_samples(&mut self, epoch: usize, run_dir: &Path) -> Result<()> {
        let Some(fixed) = &self.fixed else {
            return Ok(());
        };
        let dir = run_dir.join("samples");
        let g = self.sampling_generator();
        let (grid, interp) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
            Ok((
                g.forward_t(&fixed.grid_z, fixed.grid_labels.as_ref(), false)?,
                g.forward_t(&fixed.interp_z, fixed.interp_labels.as_ref(), false)?,
            ))
        })?;
        let s = &self.config.samples;
        let (grid_path, interp_path) = sample_paths(epoch, run_dir);
        grid_png(&grid, s.columns, &grid_path)?;
        grid_png(&interp, s.interp_steps, &interp_path)?;
        if let Some(render) = &mut self.grid_samples {
            self.rendered = Some((epoch, render(&grid, epoch, run_dir)?));
        }
        if !self.real_written && !self.real_seen.is_empty() {
            let path: PathBuf = dir.join("real.png");
            if !path.exists() {
                grid_png(&Tensor::f_cat(&self.real_seen, 0)?, s.columns, &path)?;
            }
            self.real_written = true;
            self.real_seen.clear();
        }
        Ok(())
    }
}

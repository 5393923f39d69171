//! Griffin-Lim phase recovery: a waveform whose STFT magnitudes approach given ones.

use super::Stft;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Griffin-Lim's settings. Defaults: 100 iterations, momentum 0.99 (torchaudio's).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GriffinLimConfig {
    /// Iterations. Default: 100.
    pub iterations: usize,
    /// Momentum of the fast variant (Perraudin et al. 2013) in `[0, 1)`; 0 gives the plain
    /// algorithm. Default: 0.99.
    pub momentum: f64,
}

impl Default for GriffinLimConfig {
    fn default() -> Self {
        GriffinLimConfig {
            iterations: 100,
            momentum: 0.99,
        }
    }
}

/// A waveform `[batch, len]` whose STFT magnitudes approach `magnitude` `[batch, bins,
/// frames]` (non-negative), by `torchaudio.functional.griffinlim` with `rand_init=False`:
/// starting from zero phase, each iteration inverts the current complex spectrogram, takes
/// the STFT of the result, and keeps its phase, with momentum. Deterministic.
pub fn griffin_lim(
    stft: &Stft,
    magnitude: &Tensor,
    len: i64,
    config: &GriffinLimConfig,
) -> Result<Tensor> {
    if !(0.0..1.0).contains(&config.momentum) {
        return Err(Error::invalid(
            "griffin_lim.momentum",
            format!("must be in [0, 1), got {}", config.momentum),
        ));
    }
    let expected_frames = stft.config().frames(len);
    let size = magnitude.size();
    match size.as_slice() {
        [_, bins, frames] if *bins == stft.config().bins() && *frames == expected_frames => {}
        _ => {
            return Err(Error::shape(
                "griffin_lim",
                format!(
                    "magnitudes [batch, {}, {expected_frames}] for {len} samples",
                    stft.config().bins()
                ),
                size,
            ));
        }
    }
    let magnitude = magnitude.f_to_kind(Kind::Float)?;
    let alpha = config.momentum / (1.0 + config.momentum);
    tch::no_grad(|| -> Result<Tensor> {
        // Unit phases, as complex numbers.
        let mut angles = Tensor::f_complex(&magnitude.f_ones_like()?, &magnitude.f_zeros_like()?)?;
        let mut previous: Option<Tensor> = None;
        for _ in 0..config.iterations {
            let wave = stft.inverse(&magnitude.f_mul(&angles)?, len)?;
            let rebuilt = stft.forward(&wave)?;
            let next = match &previous {
                Some(p) if alpha > 0.0 => rebuilt.f_sub(&p.f_mul_scalar(alpha)?)?,
                _ => rebuilt.shallow_clone(),
            };
            angles = next.f_div(&next.f_abs()?.f_add_scalar(1e-16)?)?;
            previous = Some(rebuilt);
        }
        stft.inverse(&magnitude.f_mul(&angles)?, len)
    })
}

/// Spectral convergence `||target - |STFT(wave)|||_F / ||target||_F` over the whole batch:
/// 0 when `wave`'s magnitudes equal `target` `[batch, bins, frames]`.
pub fn spectral_convergence(stft: &Stft, target: &Tensor, wave: &Tensor) -> Result<f64> {
    let got = stft.magnitude(wave)?;
    if got.size() != target.size() {
        return Err(Error::shape(
            "spectral_convergence",
            format!("target magnitudes {:?}", got.size()),
            target.size(),
        ));
    }
    let target = target.f_to_kind(Kind::Double)?;
    let diff = target
        .f_sub(&got.f_to_kind(Kind::Double)?)?
        .f_square()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?;
    let norm = target
        .f_square()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?;
    if norm <= 0.0 {
        return Err(Error::invalid(
            "spectral_convergence",
            "the target is all zero",
        ));
    }
    Ok((diff / norm).sqrt())
}

//! The short-time Fourier transform with `torch.stft`'s centred, reflect-padded framing.
//!
//! tch 0.26 always passes `align_to_window` to `stft`, and libtorch then rejects
//! `center=True`; so the signal is reflect-padded by `n_fft / 2` here and transformed
//! uncentred, which gives `torch.stft(center=True, pad_mode="reflect")` exactly. The inverse
//! is `istft(center=True)`, which libtorch accepts.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The STFT's sizes. Defaults are SpecGAN's at 16 kHz: `n_fft` 256 (16 ms), hop 128.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StftConfig {
    /// FFT size and Hann window length (periodic window, as `torch.hann_window`); even, at
    /// least 4. Default: 256.
    pub n_fft: i64,
    /// Samples between frames; at most `n_fft`. Default: 128.
    pub hop: i64,
    /// Added to magnitudes before the logarithm: `log(|S| + eps)`. Default: 1e-6 (SpecGAN's).
    pub log_eps: f64,
}

impl Default for StftConfig {
    fn default() -> Self {
        StftConfig {
            n_fft: 256,
            hop: 128,
            log_eps: 1e-6,
        }
    }
}

impl StftConfig {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        if self.n_fft < 4 || self.n_fft % 2 != 0 {
            return Err(Error::invalid(
                "stft.n_fft",
                format!("must be even and at least 4, got {}", self.n_fft),
            ));
        }
        if !(1..=self.n_fft).contains(&self.hop) {
            return Err(Error::invalid(
                "stft.hop",
                format!("must be in 1..={}, got {}", self.n_fft, self.hop),
            ));
        }
        if !(self.log_eps.is_finite() && self.log_eps > 0.0) {
            return Err(Error::invalid(
                "stft.log_eps",
                format!("must be positive, got {}", self.log_eps),
            ));
        }
        Ok(())
    }

    /// Frequency bins: `n_fft / 2 + 1`.
    pub fn bins(&self) -> i64 {
        self.n_fft / 2 + 1
    }

    /// Frames of a signal of `len` samples: `1 + len / hop` (centred framing).
    pub fn frames(&self, len: i64) -> i64 {
        1 + len / self.hop
    }
}

/// A Hann-windowed STFT and its inverse on waveforms `[batch, samples]`.
#[derive(Debug)]
pub struct Stft {
    config: StftConfig,
    window: Tensor,
}

impl Stft {
    /// The transform with `config`'s sizes, its window on `device`.
    pub fn new(config: &StftConfig, device: Device) -> Result<Self> {
        config.validate()?;
        Ok(Stft {
            config: *config,
            window: Tensor::f_hann_window(config.n_fft, (Kind::Float, device))?,
        })
    }

    /// The sizes.
    pub fn config(&self) -> &StftConfig {
        &self.config
    }

    /// The device of the window (inputs are expected there).
    pub fn window_device(&self) -> Device {
        self.window.device()
    }

    fn check_wave(&self, wave: &Tensor) -> Result<()> {
        let size = wave.size();
        match size.as_slice() {
            [_, len] if *len > self.config.n_fft / 2 => Ok(()),
            _ => Err(Error::shape(
                "Stft",
                format!(
                    "waveforms [batch, samples] with more than {} samples",
                    self.config.n_fft / 2
                ),
                size,
            )),
        }
    }

    /// The complex STFT `[batch, bins, frames]` of `wave` `[batch, samples]` (float), as
    /// `torch.stft(wave, n_fft, hop, window=hann_window(n_fft), center=True,
    /// pad_mode="reflect", return_complex=True)`.
    pub fn forward(&self, wave: &Tensor) -> Result<Tensor> {
        self.check_wave(wave)?;
        let half = self.config.n_fft / 2;
        // reflection_pad1d wants [batch, channels, samples].
        let padded = wave
            .f_to_kind(Kind::Float)?
            .f_unsqueeze(1)?
            .f_reflection_pad1d([half, half])?
            .f_squeeze_dim(1)?;
        Ok(padded.f_stft(
            self.config.n_fft,
            self.config.hop,
            self.config.n_fft,
            Some(&self.window),
            false,
            true,
            true,
            false,
        )?)
    }

    /// The waveform `[batch, len]` of a complex STFT `[batch, bins, frames]`:
    /// `torch.istft(spec, n_fft, hop, window=hann_window(n_fft), center=True, length=len)`.
    pub fn inverse(&self, spec: &Tensor, len: i64) -> Result<Tensor> {
        let size = spec.size();
        match size.as_slice() {
            [_, bins, _] if *bins == self.config.bins() => {}
            _ => {
                return Err(Error::shape(
                    "Stft::inverse",
                    format!("a complex STFT [batch, {}, frames]", self.config.bins()),
                    size,
                ));
            }
        }
        Ok(spec.f_istft(
            self.config.n_fft,
            self.config.hop,
            self.config.n_fft,
            Some(&self.window),
            true,
            false,
            true,
            len,
            false,
        )?)
    }

    /// Magnitudes `|STFT|` `[batch, bins, frames]`.
    pub fn magnitude(&self, wave: &Tensor) -> Result<Tensor> {
        Ok(self.forward(wave)?.f_abs()?)
    }

    /// Log-magnitudes `log(|STFT| + log_eps)` `[batch, bins, frames]`.
    pub fn log_magnitude(&self, wave: &Tensor) -> Result<Tensor> {
        Ok(self
            .magnitude(wave)?
            .f_add_scalar(self.config.log_eps)?
            .f_log()?)
    }
}

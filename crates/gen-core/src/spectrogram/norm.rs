//! SpecGAN's per-frequency-bin normalisation, and the fixed-size spectrogram images a GAN
//! learns, with their way back to audio.

use super::{GriffinLimConfig, Stft, StftConfig, griffin_lim};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Per-frequency-bin statistics of log-magnitudes: `x -> clamp((x - mean) / std, -clip, clip)
/// / clip`, into `[-1, 1]`. Serialisable, so that a run keeps the training set's statistics
/// next to its model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinNorm {
    /// Mean log-magnitude of each bin.
    pub mean: Vec<f32>,
    /// Standard deviation (population) of each bin's log-magnitude, at least 1e-6.
    pub std: Vec<f32>,
    /// Clip at this many standard deviations (SpecGAN: 3).
    pub clip: f64,
}

/// The smallest standard deviation a bin gets, so that silent bins do not divide by zero.
const MIN_STD: f64 = 1e-6;

impl BinNorm {
    /// Statistics of `log_mag` `[n, bins, frames]` per bin, over every clip and frame.
    pub fn fit(log_mag: &Tensor, clip: f64) -> Result<Self> {
        if !(clip.is_finite() && clip > 0.0) {
            return Err(Error::invalid(
                "clip",
                format!("must be positive, got {clip}"),
            ));
        }
        let size = log_mag.size();
        if size.len() != 3 || size.first().copied().unwrap_or(0) == 0 {
            return Err(Error::shape(
                "BinNorm::fit",
                "log-magnitudes [n >= 1, bins, frames]",
                size,
            ));
        }
        let x = log_mag.f_to_kind(Kind::Double)?;
        let dims = [0i64, 2].as_slice();
        let mean = x.f_mean_dim(dims, false, Kind::Double)?;
        let var = x.f_sub(&mean.f_view([1, -1, 1])?)?.f_square()?.f_mean_dim(
            dims,
            false,
            Kind::Double,
        )?;
        let std = var.f_sqrt()?.f_clamp_min(MIN_STD)?;
        let to_vec = |t: Tensor| -> Result<Vec<f32>> {
            Ok(Vec::<f32>::try_from(
                t.f_to_kind(Kind::Float)?.f_contiguous()?,
            )?)
        };
        Ok(BinNorm {
            mean: to_vec(mean)?,
            std: to_vec(std)?,
            clip,
        })
    }

    /// The number of bins.
    pub fn bins(&self) -> usize {
        self.mean.len()
    }

    /// `(mean, std)` as `[bins, 1]` tensors on `device`, after checking `x`'s bin axis (`-2`).
    fn columns(&self, x: &Tensor, what: &'static str) -> Result<(Tensor, Tensor)> {
        let size = x.size();
        let bins = size.len().checked_sub(2).and_then(|i| size.get(i)).copied();
        if bins != Some(self.bins() as i64) || self.std.len() != self.bins() {
            return Err(Error::shape(
                what,
                format!("[..., {} bins, frames]", self.bins()),
                size,
            ));
        }
        let device = x.device();
        let mean = Tensor::f_from_slice(&self.mean)?
            .f_to_device(device)?
            .f_view([-1, 1])?;
        let std = Tensor::f_from_slice(&self.std)?
            .f_to_device(device)?
            .f_view([-1, 1])?;
        Ok((mean, std))
    }

    /// Normalises log-magnitudes `[..., bins, frames]` into `[-1, 1]`.
    pub fn normalize(&self, log_mag: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.columns(log_mag, "BinNorm::normalize")?;
        Ok(log_mag
            .f_to_kind(Kind::Float)?
            .f_sub(&mean)?
            .f_div(&std)?
            .f_clamp(-self.clip, self.clip)?
            .f_div_scalar(self.clip)?)
    }

    /// The log-magnitudes `[..., bins, frames]` of normalised values: `y clip std + mean`
    /// (the inverse of [`BinNorm::normalize`] inside the clip).
    pub fn denormalize(&self, normalized: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.columns(normalized, "BinNorm::denormalize")?;
        Ok(normalized
            .f_to_kind(Kind::Float)?
            .f_mul_scalar(self.clip)?
            .f_mul(&std)?
            .f_add(&mean)?)
    }
}

/// How clips become `[1, size, size]` spectrogram images and back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpectrogramConfig {
    /// The STFT. Default: n_fft 256, hop 128.
    pub stft: StftConfig,
    /// Image height (the lowest `size` bins; the rest, the Nyquist bin at the defaults, are
    /// dropped) and width (the first `size` frames). Default: 128.
    pub size: i64,
    /// Clip length in samples. Default: 16,384 (1.024 s at 16 kHz).
    pub clip_len: i64,
    /// Normalised values are clipped at this many standard deviations. Default: 3.
    pub clip_std: f64,
    /// Waveforms back from images. Default: 100 iterations, momentum 0.99.
    pub griffin_lim: GriffinLimConfig,
}

impl Default for SpectrogramConfig {
    fn default() -> Self {
        SpectrogramConfig {
            stft: StftConfig::default(),
            size: 128,
            clip_len: 16_384,
            clip_std: 3.0,
            griffin_lim: GriffinLimConfig::default(),
        }
    }
}

impl SpectrogramConfig {
    /// Checks that the image fits in the STFT of one clip.
    pub fn validate(&self) -> Result<()> {
        self.stft.validate()?;
        let (bins, frames) = (self.stft.bins(), self.stft.frames(self.clip_len));
        if self.size < 1 || self.size > bins || self.size > frames {
            return Err(Error::invalid(
                "spectrogram.size",
                format!(
                    "must be in 1..={} ({bins} bins, {frames} frames of a {}-sample clip)",
                    bins.min(frames),
                    self.clip_len
                ),
            ));
        }
        Ok(())
    }
}

/// Clips as normalised spectrogram images `[n, 1, size, size]`, and images back to clips by
/// Griffin-Lim. Row 0 is the highest bin kept and the last row bin 0 (so that a picture shows
/// low frequencies at the bottom); columns are frames.
#[derive(Debug)]
pub struct SpectrogramImages {
    config: SpectrogramConfig,
    stft: Stft,
    norm: BinNorm,
}

impl SpectrogramImages {
    /// The front end with statistics `norm` (of `config.size` bins).
    pub fn new(config: &SpectrogramConfig, norm: BinNorm, device: Device) -> Result<Self> {
        config.validate()?;
        if norm.bins() != config.size as usize || norm.std.len() != norm.bins() {
            return Err(Error::invalid(
                "spectrogram norm",
                format!(
                    "has {} means and {} stds for {} bins",
                    norm.bins(),
                    norm.std.len(),
                    config.size
                ),
            ));
        }
        Ok(SpectrogramImages {
            stft: Stft::new(&config.stft, device)?,
            config: config.clone(),
            norm,
        })
    }

    /// The front end fitted to training clips `[n, clip_len]`: their per-bin statistics.
    pub fn fit(config: &SpectrogramConfig, clips: &Tensor, device: Device) -> Result<Self> {
        config.validate()?;
        let stft = Stft::new(&config.stft, device)?;
        let log_mag = Self::cropped(config, &stft, &clips.f_to_device(device)?)?;
        let norm = BinNorm::fit(&log_mag, config.clip_std)?;
        Self::new(config, norm, device)
    }

    /// The settings.
    pub fn config(&self) -> &SpectrogramConfig {
        &self.config
    }

    /// The statistics.
    pub fn norm(&self) -> &BinNorm {
        &self.norm
    }

    /// The STFT.
    pub fn stft(&self) -> &Stft {
        &self.stft
    }

    fn cropped(config: &SpectrogramConfig, stft: &Stft, clips: &Tensor) -> Result<Tensor> {
        let size = clips.size();
        if !matches!(size.as_slice(), [_, len] if *len == config.clip_len) {
            return Err(Error::shape(
                "SpectrogramImages",
                format!("clips [n, {}]", config.clip_len),
                size,
            ));
        }
        Ok(stft
            .log_magnitude(clips)?
            .f_narrow(1, 0, config.size)?
            .f_narrow(2, 0, config.size)?)
    }

    /// Normalised images `[n, 1, size, size]` in `[-1, 1]` of clips `[n, clip_len]`.
    pub fn images(&self, clips: &Tensor) -> Result<Tensor> {
        let clips = clips.f_to_device(self.stft.window_device())?;
        let log_mag = Self::cropped(&self.config, &self.stft, &clips)?;
        Ok(self.norm.normalize(&log_mag)?.f_flip([1])?.f_unsqueeze(1)?)
    }

    /// Magnitudes `[n, bins, frames]` of images `[n, 1, size, size]`: denormalised,
    /// exponentiated (`exp(x) - eps`, at least 0), and zero in the bins and frames the image
    /// leaves out.
    pub fn magnitudes(&self, images: &Tensor) -> Result<Tensor> {
        let s = self.config.size;
        let size = images.size();
        let n = match size.as_slice() {
            [n, 1, h, w] if *h == s && *w == s => *n,
            _ => {
                return Err(Error::shape(
                    "SpectrogramImages::magnitudes",
                    format!("images [n, 1, {s}, {s}]"),
                    size,
                ));
            }
        };
        let images = images
            .f_to_device(self.stft.window_device())?
            .f_squeeze_dim(1)?
            .f_flip([1])?;
        let mag = self
            .norm
            .denormalize(&images)?
            .f_exp()?
            .f_sub_scalar(self.config.stft.log_eps)?
            .f_clamp_min(0.0)?;
        let bins = self.config.stft.bins();
        let frames = self.config.stft.frames(self.config.clip_len);
        let full = Tensor::f_zeros([n, bins, frames], (Kind::Float, mag.device()))?;
        let mut window = full.f_narrow(1, 0, s)?.f_narrow(2, 0, s)?;
        window.f_copy_(&mag)?;
        Ok(full)
    }

    /// Clips `[n, clip_len]` of images `[n, 1, size, size]`, by Griffin-Lim on
    /// [`SpectrogramImages::magnitudes`].
    pub fn clips(&self, images: &Tensor) -> Result<Tensor> {
        let mag = self.magnitudes(images)?;
        griffin_lim(
            &self.stft,
            &mag,
            self.config.clip_len,
            &self.config.griffin_lim,
        )
    }
}

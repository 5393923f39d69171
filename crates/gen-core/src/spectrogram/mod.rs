//! Spectrograms of audio: the log-magnitude STFT, its per-frequency-bin normalisation, and
//! waveforms back from magnitudes by Griffin-Lim, all on libtorch's `stft`/`istft`.
//!
//! - [`stft`]: [`Stft`], a Hann-windowed short-time Fourier transform with `torch.stft`'s
//!   `center=True, pad_mode="reflect"` framing, its inverse, magnitudes and log-magnitudes.
//! - [`griffin_lim()`]: phase recovery from magnitudes (Griffin & Lim 1984, with the momentum of
//!   Perraudin et al. 2013, as `torchaudio.transforms.GriffinLim`), and the spectral
//!   convergence that measures it.
//! - [`norm`]: [`BinNorm`], SpecGAN's per-bin normalisation (Donahue et al. 2019): each
//!   frequency bin standardised with training-set statistics, clipped at 3 standard
//!   deviations and scaled into `[-1, 1]`, the range of a `tanh` generator; and
//!   [`SpectrogramImages`], the fixed-size images a GAN sees and their way back to audio.
//!
//! ```
//! use gen_core::spectrogram::{Stft, StftConfig};
//! use tch::{Device, Kind, Tensor};
//!
//! let stft = Stft::new(&StftConfig::default(), Device::Cpu)?; // n_fft 256, hop 128
//! let wave = Tensor::f_zeros([2, 16_384], (Kind::Float, Device::Cpu))?;
//! let log_mag = stft.log_magnitude(&wave)?;
//! assert_eq!(log_mag.size(), [2, 129, 129]); // bins, frames
//! # Ok::<(), gen_core::Error>(())
//! ```

pub mod griffin_lim;
pub mod norm;
pub mod stft;

pub use griffin_lim::{GriffinLimConfig, griffin_lim, spectral_convergence};
pub use norm::{BinNorm, SpectrogramConfig, SpectrogramImages};
pub use stft::{Stft, StftConfig};

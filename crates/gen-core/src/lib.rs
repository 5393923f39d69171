//! gen-core: the pieces every gen crate shares, on top of [`tch`] (libtorch).
//!
//! - [`device`]: [`DeviceChoice`] (`cpu` | `cuda[:N]` | `auto`), libtorch thread pools
//!   ([`Threads`]) and [`seed_everything`] for bit-reproducible CPU runs.
//! - [`cpu_tuning`]: flushing denormals to zero ([`set_flush_denormal`]) and keeping freed
//!   memory in glibc's allocator ([`retain_freed_memory`]), the speed settings of the runtime.
//! - [`convert`]: [`ndarray`] arrays <-> [`tch::Tensor`], any rank, with dtype/rank checks.
//! - [`loss`]: the GAN value function of Goodfellow et al. and the discriminator/generator
//!   losses derived from it (minimax, non-saturating, one-sided label smoothing), Wasserstein
//!   losses with the WGAN-GP gradient penalty, hinge losses, BCE and cross-entropy with an
//!   ignore index and label smoothing. All take logits where the math allows and are stable for
//!   any logit.
//! - [`metrics`]: accuracy, perplexity and bits per token from summed NLL and token counts.
//! - [`precision`]: [`Precision`] (`fp32` | `bf16`) and the per-thread [`autocast`] scope that
//!   gen-models' convolutions and linear layers honour.
//! - [`spectrogram`]: log-magnitude STFT spectrograms, SpecGAN's per-bin normalisation, and
//!   Griffin-Lim back to waveforms.
//! - [`slices`]: f32 CPU tensors borrowed as Rust slices, for fused kernels.
//! - [`team`]: a few parallel jobs on libtorch's own OpenMP threads.
//!
//! Every fallible function returns [`Result`] with the crate's single [`Error`].
//!
//! # Example
//!
//! ```
//! use gen_core::{
//!     array_to_tensor, discriminator_loss, gan_value, generator_loss_non_saturating,
//!     seed_everything, DeviceChoice, DiscriminatorLossOptions,
//! };
//! use ndarray::array;
//!
//! # fn main() -> gen_core::Result<()> {
//! seed_everything(42);
//! let device = DeviceChoice::Cpu.resolve()?;
//! // Discriminator logits on real and generated samples.
//! let real = array_to_tensor(&array![0.0f32, 0.0, 0.0])?.f_to_device(device)?;
//! let fake = array_to_tensor(&array![0.0f32, 0.0])?.f_to_device(device)?;
//! // D(x) = sigmoid(0) = 1/2 everywhere: the value function's optimum, -2 ln 2.
//! let v = gan_value(&real, &fake)?.f_double_value(&[])?;
//! assert!((v + 2.0 * std::f64::consts::LN_2).abs() < 1e-6);
//! // The discriminator minimises -V; the generator minimises -E[log D(G(z))].
//! let d = discriminator_loss(&real, &fake, &DiscriminatorLossOptions::default())?;
//! assert!((d.f_double_value(&[])? + v).abs() < 1e-6);
//! let g = generator_loss_non_saturating(&fake)?.f_double_value(&[])?;
//! assert!((g - std::f64::consts::LN_2).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```

pub mod convert;
pub mod cpu_tuning;
pub mod device;
mod error;
pub mod loss;
pub mod metrics;
pub mod precision;
pub mod slices;
pub mod spectrogram;
pub mod team;

pub use convert::{
    array_to_tensor, tensor_to_array, tensor_to_array1, tensor_to_array2, tensor_to_array3,
    tensor_to_array4, tensor_to_arrayd,
};
pub use cpu_tuning::{flush_denormal, retain_freed_memory, set_flush_denormal};
pub use device::{DeviceChoice, Threads, seed_everything, set_interop_threads, set_threads};
pub use error::{Error, Result};
pub use loss::{
    CrossEntropyOptions, DiscriminatorLossOptions, bce, bce_with_logits, cross_entropy,
    cross_entropy_sum, discriminator_loss, gan_value, generator_loss_minimax,
    generator_loss_non_saturating, gradient_penalty, hinge_discriminator_loss,
    hinge_generator_loss, interpolation_epsilon, wasserstein_critic_loss,
    wasserstein_generator_loss,
};
pub use metrics::{Accuracy, NllAccumulator, accuracy, bits_per_token, perplexity};
pub use precision::{Precision, autocast, autocast_kind};

/// Re-export of the tch version gen-core is built on.
pub use tch;

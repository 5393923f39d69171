//! # gen-models
//!
//! Models for gen on tch: the source text's GRU classifier and a GRU language model (text),
//! GANs (images) and the small CNN whose features score them ([`image_classifier`]), a GRU
//! mixture-density trajectory generator (behaviour), and a GRU over piano-roll frames that
//! composes chorales ([`music`]). Every model
//! implements [`Module`]: it is built from a serde config
//! whose `Default` holds the documented defaults, and runs through a fallible `forward_t`.
//!
//! ```
//! use gen_models::{GruClassifier, GruClassifierConfig, Module};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let config = GruClassifierConfig { vocab_size: 50, embedding_dim: 8, hidden_size: 8, ..Default::default() };
//! let model = GruClassifier::init(&vs.root(), &config)?;
//! let tokens = Tensor::from_slice(&[5i64, 7, 9, 0, 3, 4, 0, 0]).view([2, 4]);
//! let lengths = Tensor::from_slice(&[3i64, 2]);
//! let logits = model.forward_t((&tokens, &lengths), false)?;
//! assert_eq!(logits.size(), [2, 2]);
//! assert_eq!(logits.kind(), Kind::Float);
//! # Ok::<(), gen_models::Error>(())
//! ```
//!
//! Training the classifier through `forward_t(.., true)` and `backward` works; its faster path
//! records the GRU without autograd and runs backpropagation through time by hand
//! ([`GruClassifier::forward_taped`], then [`GruTapes::backward_after`] with the loss; same
//! gradients, tested), for GRUs of any depth and direction; so do the language model
//! ([`GruLanguageModel::forward_taped`]) and the trajectory model
//! ([`TrajectoryMdn::nll_taped`]) and the music model ([`FrameGru::nll_taped`]). `gen-train`'s loop does this for you. The GRU layer itself
//! is [`gru`]: [`Gru::forward`] over features and [`Gru::forward_tokens`] over token ids, each
//! documented with when it takes this fast path and when it falls back to autograd.
//!
//! ```
//! # use gen_models::{GruClassifier, GruClassifierConfig, Module};
//! # use tch::{nn, Device, Kind, Tensor};
//! # let vs = nn::VarStore::new(Device::Cpu);
//! # let config = GruClassifierConfig { vocab_size: 50, embedding_dim: 8, hidden_size: 8, ..Default::default() };
//! # let model = GruClassifier::init(&vs.root(), &config)?;
//! let tokens = Tensor::from_slice(&[5i64, 7, 9, 0, 3, 4, 0, 0]).view([2, 4]);
//! let (lengths, labels) = (Tensor::from_slice(&[3i64, 2]), Tensor::from_slice(&[1i64, 0]));
//! let (logits, tapes) = model.forward_taped(&tokens, &lengths)?;
//! // The loss's backward, then the GRU's and the embedding's gradients by hand.
//! tapes.backward_after(&logits.cross_entropy_for_logits(&labels))?;
//! assert!(vs.variables()["gru.weight_hh_l0"].grad().defined());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Your own models are built from the same parts: [`layers`] (linear, embedding), [`conv`]
//! (convolutions, normalisations, LeakyReLU), [`gru`], [`adaptive_softmax`] (an output layer
//! for large vocabularies), and gen-core's losses. The example
//! `examples/custom_gan.rs` is a user's GAN in about 100 lines: a generator and a
//! discriminator of gen's [`layers::Linear`] implementing the [`gan::Generator`] and
//! [`gan::Discriminator`] traits, trained by a plain loop with gen-core's
//! `discriminator_loss` and `generator_loss_non_saturating` until its samples match a 2-D
//! Gaussian (`cargo run --release -p gen-models --example custom_gan`; `cargo test` runs it
//! and checks the result).

pub mod adaptive_softmax;
pub mod classifier;
pub mod conv;
pub mod error;
pub mod gan;
pub mod gru;
pub mod image_classifier;
pub mod layers;
pub mod lm;
pub mod module;
pub mod music;
pub mod sampling;
pub mod spectral;
pub mod trajectory;

pub use adaptive_softmax::{AdaptiveSoftmax, AdaptiveSoftmaxConfig};
pub use classifier::{GruClassifier, GruClassifierConfig, Pooling};
pub use error::{Error, Result};
pub use gan::{Discriminator, Gan, GanConfig, GanKind, Generator, LatentDistribution};
pub use gru::{Gru, GruConfig, GruMode, GruOutput, GruStepper, GruTapes};
pub use lm::{GruLanguageModel, GruLanguageModelConfig};
pub use module::Module;
pub use music::{FrameGru, FrameGruConfig, FrameOutput, RollSample};
pub use sampling::{SamplerRng, SamplingConfig, generate, sampler_rng};
pub use trajectory::{TrajectoryMdn, TrajectoryMdnConfig, TrajectorySampling};

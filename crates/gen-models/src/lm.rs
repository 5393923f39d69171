//! `GruLanguageModel`: a next-token model over token ids (characters or words).
//!
//! `Embedding -> dropout -> GRU (stacked, forward only) -> dropout -> Linear` gives, for every
//! position `t`, logits over the vocabulary for the token at `t + 1`. The output layer can share
//! the embedding matrix ("weight tying", Press & Wolf 2017; Inan et al. 2017), as PyTorch's
//! `word_language_model` example does with `--tied`, or be an [`AdaptiveSoftmax`] (`adaptive`),
//! which trains a large vocabulary for a fraction of a full softmax's cost.
//!
//! [`GruLanguageModel::forward_with_state`] carries the GRU state between calls, so a long text
//! can be read in pieces and [`crate::sampling::generate`] can write one token at a time.
//!
//! ```
//! use gen_models::{generate, GruLanguageModel, GruLanguageModelConfig, Module, SamplingConfig};
//! use tch::{nn, Device, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let config = GruLanguageModelConfig { vocab_size: 30, embedding_dim: 8, hidden_size: 16, ..Default::default() };
//! let model = GruLanguageModel::init(&vs.root(), &config)?;
//! let ids = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]).view([2, 3]);
//! let (logits, state) = model.forward_with_state(&ids, None, false)?;
//! assert_eq!(logits.size(), [2, 3, 30]);
//! assert_eq!(state.size(), [2, 2, 16]); // [num_layers, batch, hidden_size]
//!
//! let sampling = SamplingConfig { max_tokens: 10, temperature: 0.8, top_k: Some(5), ..Default::default() };
//! let mut streamed = Vec::new();
//! let texts = generate(&model, &[1, 2], 3, &sampling, |sample, token| streamed.push((sample, token)))?;
//! assert_eq!(texts.len(), 3);
//! assert!(texts.iter().all(|t| t.len() == 10));
//! assert_eq!(streamed.len(), 30);
//! # Ok::<(), gen_models::Error>(())
//! ```

use crate::adaptive_softmax::{AdaptiveSoftmax, AdaptiveSoftmaxConfig};
use crate::error::ensure_config;
use crate::gru::{Gru, GruConfig, GruMode, GruStepper, GruTapes};
use crate::layers::{Embedding, Linear};
use crate::{Error, Module, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// Configuration of a [`GruLanguageModel`].
///
/// Note: a `gru` section given in a config file replaces the whole default [`GruConfig`] of
/// this model, and its own missing fields take [`GruConfig`]'s defaults (1 layer, no dropout),
/// not this model's (2 layers, dropout 0.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GruLanguageModelConfig {
    /// Number of token ids (the vocabulary size). Set it to the vocabulary in use.
    /// Default: 256 (every byte).
    pub vocab_size: i64,
    /// Embedding size. Default: 128.
    pub embedding_dim: i64,
    /// GRU state size. Default: 256.
    pub hidden_size: i64,
    /// GRU layers and dropout between them; `bidirectional` must stay false (a language model
    /// must not read the future). Default: 2 layers, dropout 0.2.
    pub gru: GruConfig,
    /// Dropout on the embeddings and on the GRU outputs, during training. Default: 0.2.
    pub dropout: f64,
    /// Use the embedding matrix as the output layer's weight. Requires
    /// `embedding_dim == hidden_size`, and no `adaptive`. Default: false.
    pub tie_weights: bool,
    /// An adaptive softmax output layer instead of the `Linear` one; its cutoffs must lie in
    /// `1..vocab_size`. Default: none (a full softmax).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveSoftmaxConfig>,
}

impl Default for GruLanguageModelConfig {
    fn default() -> Self {
        GruLanguageModelConfig {
            vocab_size: 256,
            embedding_dim: 128,
            hidden_size: 256,
            gru: GruConfig {
                num_layers: 2,
                dropout: 0.2,
                bidirectional: false,
            },
            dropout: 0.2,
            tie_weights: false,
            adaptive: None,
        }
    }
}

/// A GRU language model: token ids `[batch, time]` to next-token logits `[batch, time, vocab]`.
///
/// Variables (PyTorch names under the model's path): `embedding.weight [vocab, emb]`,
/// `gru.weight_ih_l0 ...`, `head.weight [vocab, hidden]` (absent when tied: the head then reads
/// `embedding.weight`) and `head.bias [vocab]`; with `adaptive`, instead of `head.*`, the
/// [`AdaptiveSoftmax`]'s variables under `adaptive` (`adaptive.head.weight`,
/// `adaptive.tail.0.0.weight`, ...). Initialisation follows PyTorch's modules:
/// embedding N(0, 1), GRU and output layers `U(±1/sqrt(fan_in))`.
#[derive(Debug)]
pub struct GruLanguageModel {
    embedding: Embedding,
    gru: Gru,
    head: Head,
    config: GruLanguageModelConfig,
}

/// The output layer.
#[derive(Debug)]
enum Head {
    Linear(Linear),
    Adaptive(AdaptiveSoftmax),
}

impl GruLanguageModel {
    /// The configuration the model was built with.
    pub fn config(&self) -> &GruLanguageModelConfig {
        &self.config
    }

    /// The embedding matrix `[vocab, embedding_dim]`.
    pub fn embedding_weight(&self) -> &Tensor {
        &self.embedding.weight
    }

    /// The output layer's weight `[vocab, hidden_size]`; the same tensor (same storage) as
    /// [`GruLanguageModel::embedding_weight`] when `tie_weights` is set. `None` with `adaptive`.
    pub fn output_weight(&self) -> Option<&Tensor> {
        match &self.head {
            Head::Linear(head) => Some(&head.weight),
            Head::Adaptive(_) => None,
        }
    }

    /// The output layer's bias `[vocab]`. `None` with `adaptive`.
    pub fn output_bias(&self) -> Option<&Tensor> {
        match &self.head {
            Head::Linear(head) => Some(&head.bias),
            Head::Adaptive(_) => None,
        }
    }

    /// The adaptive softmax output layer, when the config asks for one.
    pub fn adaptive_softmax(&self) -> Option<&AdaptiveSoftmax> {
        match &self.head {
            Head::Linear(_) => None,
            Head::Adaptive(asm) => Some(asm),
        }
    }

    /// The device the model's variables live on.
    pub fn device(&self) -> tch::Device {
        self.embedding.weight.device()
    }

    /// A zero GRU state `[num_layers, batch, hidden_size]` on the model's device.
    pub fn zero_state(&self, batch: i64) -> Result<Tensor> {
        self.gru.zero_state(batch, self.device())
    }

    /// Runs over `ids` (int64 `[batch, time]`, each in `0..vocab_size`) from the GRU state
    /// `h0` (`[num_layers, batch, hidden_size]`; zeros when `None`).
    ///
    /// Returns the logits `[batch, time, vocab_size]` (with `adaptive`, the log-probabilities)
    /// and the state after the last step, so that reading a sequence in pieces, passing each
    /// piece the previous state, gives the same logits as reading it whole (in evaluation mode).
    pub fn forward_with_state(
        &self,
        ids: &Tensor,
        h0: Option<&Tensor>,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        self.check_ids(ids)?;
        if let Some(h) = h0 {
            let batch = ids.size().first().copied().unwrap_or(0);
            let expected = [self.config.gru.num_layers, batch, self.config.hidden_size];
            if h.size() != expected || h.f_kind()? != Kind::Float {
                return Err(Error::Shape {
                    what: "language model state h0",
                    expected: format!("float {expected:?} ([num_layers, batch, hidden_size])"),
                    got: h.size(),
                });
            }
        }
        self.forward_unchecked(ids, h0, train)
    }

    /// The last GRU layer's outputs after dropout, `[batch, time, hidden_size]`: what the
    /// output layer reads (for a loss computed from them, as with `adaptive`).
    pub fn features(&self, ids: &Tensor, train: bool) -> Result<Tensor> {
        self.check_ids(ids)?;
        Ok(self.features_unchecked(ids, None, train)?.0)
    }

    /// The weights as of now, prepared for generating one token at a time (the sampler).
    pub(crate) fn decoder(&self) -> Result<Decoder> {
        let gru = self.gru.stepper()?;
        tch::no_grad(|| {
            let head = match &self.head {
                Head::Linear(head) => DecoderHead::Linear {
                    head_t: head.weight.f_detach()?.f_transpose(0, 1)?.f_contiguous()?,
                    head_b: head.bias.f_detach()?,
                },
                Head::Adaptive(asm) => DecoderHead::Adaptive(asm.detached()?),
            };
            Ok(Decoder {
                table: gru.input_table(&self.embedding.weight)?,
                gru,
                head,
            })
        })
    }

    /// The training forward pass (dropout on) through the GRU's hand-written backward passes
    /// ([`Gru::forward`] in [`GruMode::Taped`]): the logits, and the tapes that back-propagate
    /// the loss ([`GruTapes::backward_after`]). Same logits and gradients as
    /// `forward_t(ids, true)` without dropout (tested).
    pub fn forward_taped(&self, ids: &Tensor) -> Result<(Tensor, GruTapes)> {
        let (out, tapes) = self.features_taped(ids)?;
        Ok((self.output(&out)?, tapes))
    }

    /// [`GruLanguageModel::forward_taped`] up to [`GruLanguageModel::features`]: the last
    /// GRU layer's outputs after dropout, and the tapes.
    pub fn features_taped(&self, ids: &Tensor) -> Result<(Tensor, GruTapes)> {
        self.check_ids(ids)?;
        let xs = self
            .embedding
            .forward(ids)?
            .f_dropout(self.config.dropout, true)?;
        let gru = self.gru.forward(&xs, None, GruMode::Taped)?;
        let out = gru.outputs.f_dropout(self.config.dropout, true)?;
        Ok((out, gru.tapes))
    }

    /// [`GruLanguageModel::forward_with_state`] without the input checks, for ids the caller
    /// produced itself (the sampler).
    pub(crate) fn forward_unchecked(
        &self,
        ids: &Tensor,
        h0: Option<&Tensor>,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (out, h_n) = self.features_unchecked(ids, h0, train)?;
        Ok((self.output(&out)?, h_n))
    }

    /// The last GRU layer's outputs after dropout, and the state after the last step.
    fn features_unchecked(
        &self,
        ids: &Tensor,
        h0: Option<&Tensor>,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let xs = self
            .embedding
            .forward(ids)?
            .f_dropout(self.config.dropout, train)?;
        let gru = self.gru.forward(&xs, h0, GruMode::train(train))?;
        let (out, h_n) = (gru.outputs, gru.state);
        Ok((out.f_dropout(self.config.dropout, train)?, h_n))
    }

    /// The output layer on features `[batch, time, hidden]`: logits `[batch, time, vocab]`.
    fn output(&self, out: &Tensor) -> Result<Tensor> {
        match &self.head {
            Head::Linear(head) => head.forward(out),
            Head::Adaptive(asm) => {
                let (vocab, hidden) = (self.config.vocab_size, self.config.hidden_size);
                let mut shape = out.size();
                if let Some(last) = shape.last_mut() {
                    *last = vocab;
                }
                let rows = out.f_reshape([-1, hidden])?;
                Ok(asm.log_prob(&rows)?.f_view(shape.as_slice())?)
            }
        }
    }

    /// Fails unless `ids` is int64 `[batch, time]` with every id in `0..vocab_size`.
    fn check_ids(&self, ids: &Tensor) -> Result<()> {
        let size = ids.size();
        let kind = ids.f_kind()?;
        if size.len() != 2 || kind != Kind::Int64 {
            return Err(Error::Shape {
                what: "language model token ids",
                expected: format!("int64 [batch, time] (got kind {kind:?})"),
                got: size,
            });
        }
        if ids.numel() > 0 {
            let min = ids.f_min()?.f_int64_value(&[])?;
            let max = ids.f_max()?.f_int64_value(&[])?;
            if min < 0 || max >= self.config.vocab_size {
                let bad = if min < 0 { min } else { max };
                return Err(Error::Shape {
                    what: "language model token ids",
                    expected: format!(
                        "ids in 0..{} (vocab_size), found id {bad}",
                        self.config.vocab_size
                    ),
                    got: size,
                });
            }
        }
        Ok(())
    }
}

impl Module for GruLanguageModel {
    type Config = GruLanguageModelConfig;
    /// Token ids `[batch, time]` (int64).
    type Input<'a> = &'a Tensor;

    fn init(vs: &nn::Path<'_>, config: &Self::Config) -> Result<Self> {
        ensure_config(config.vocab_size >= 1, "vocab_size", || {
            format!("must be at least 1, got {}", config.vocab_size)
        })?;
        ensure_config((0.0..1.0).contains(&config.dropout), "dropout", || {
            format!("must be in [0, 1), got {}", config.dropout)
        })?;
        ensure_config(!config.gru.bidirectional, "gru.bidirectional", || {
            "must be false: a language model predicts each token from the tokens before it".into()
        })?;
        ensure_config(
            !config.tie_weights || config.embedding_dim == config.hidden_size,
            "tie_weights",
            || {
                format!(
                    "needs embedding_dim == hidden_size, got {} and {}",
                    config.embedding_dim, config.hidden_size
                )
            },
        )?;
        let embedding = Embedding::new(
            &(vs / "embedding"),
            config.vocab_size,
            config.embedding_dim,
            None,
        )?;
        let gru = Gru::new(
            &(vs / "gru"),
            config.embedding_dim,
            config.hidden_size,
            &config.gru,
        )?;
        ensure_config(
            !(config.tie_weights && config.adaptive.is_some()),
            "tie_weights",
            || {
                "cannot be combined with `adaptive` (the adaptive softmax has no [vocab, hidden] matrix to share)".into()
            },
        )?;
        let head = if let Some(adaptive) = &config.adaptive {
            Head::Adaptive(AdaptiveSoftmax::new(
                &(vs / "adaptive"),
                config.hidden_size,
                config.vocab_size,
                adaptive,
            )?)
        } else if config.tie_weights {
            // nn.Linear's bias initialisation, with the embedding matrix as the weight.
            let bound = 1.0 / (config.hidden_size as f64).sqrt();
            Head::Linear(Linear {
                weight: embedding.weight.shallow_clone(),
                bias: (vs / "head").f_uniform("bias", &[config.vocab_size], -bound, bound)?,
            })
        } else {
            Head::Linear(Linear::new(
                &(vs / "head"),
                config.hidden_size,
                config.vocab_size,
            )?)
        };
        Ok(GruLanguageModel {
            embedding,
            gru,
            head,
            config: config.clone(),
        })
    }

    fn forward_t(&self, ids: Self::Input<'_>, train: bool) -> Result<Tensor> {
        Ok(self.forward_with_state(ids, None, train)?.0)
    }
}

/// A [`GruLanguageModel`] prepared for generation, one token at a time and without autograd:
/// layer 0's input projection is a `[vocab, 3H]` table (embedding times `W_ih^T`), so a step
/// gathers rows instead of multiplying, and a `Linear` output layer is one `addmm`.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: Tensor,
    gru: GruStepper,
    head: DecoderHead,
}

/// The decoder's output layer.
#[derive(Debug)]
enum DecoderHead {
    Linear { head_t: Tensor, head_b: Tensor },
    Adaptive(AdaptiveSoftmax),
}

impl Decoder {
    /// Reads `tokens` `[N]` (int64, each in `0..vocab`) from `state` (per layer `[N, H]`,
    /// replaced by the new one); returns the next logits `[N, vocab]` (with `adaptive`, the
    /// log-probabilities).
    pub(crate) fn step(&self, tokens: &Tensor, state: &mut [Tensor]) -> Result<Tensor> {
        tch::no_grad(|| {
            let gi = self.table.f_index_select(0, tokens)?;
            let top = self.gru.step(&gi, state)?;
            match &self.head {
                DecoderHead::Linear { head_t, head_b } => Ok(head_b.f_addmm(&top, head_t)?),
                DecoderHead::Adaptive(asm) => asm.log_prob(&top),
            }
        })
    }
}

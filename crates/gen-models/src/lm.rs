//! `GruLanguageModel`: a next-token model over token ids (characters or words).
//!
//! `Embedding -> dropout -> GRU (stacked, forward only) -> dropout -> Linear` gives, for every
//! position `t`, logits over the vocabulary for the token at `t + 1`. The output layer can share
//! the embedding matrix ("weight tying", Press & Wolf 2017; Inan et al. 2017), as PyTorch's
//! `word_language_model` example does with `--tied`.
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
    /// `embedding_dim == hidden_size`. Default: false.
    pub tie_weights: bool,
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
        }
    }
}

/// A GRU language model: token ids `[batch, time]` to next-token logits `[batch, time, vocab]`.
///
/// Variables (PyTorch names under the model's path): `embedding.weight [vocab, emb]`,
/// `gru.weight_ih_l0 ...`, `head.weight [vocab, hidden]` (absent when tied: the head then reads
/// `embedding.weight`) and `head.bias [vocab]`. Initialisation follows PyTorch's modules:
/// embedding N(0, 1), GRU and head `U(±1/sqrt(fan_in))`.
#[derive(Debug)]
pub struct GruLanguageModel {
    embedding: Embedding,
    gru: Gru,
    head: Linear,
    config: GruLanguageModelConfig,
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
    /// [`GruLanguageModel::embedding_weight`] when `tie_weights` is set.
    pub fn output_weight(&self) -> &Tensor {
        &self.head.weight
    }

    /// The output layer's bias `[vocab]`.
    pub fn output_bias(&self) -> &Tensor {
        &self.head.bias
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
    /// Returns the logits `[batch, time, vocab_size]` and the state after the last step, so
    /// that reading a sequence in pieces, passing each piece the previous state, gives the same
    /// logits as reading it whole (in evaluation mode).
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

    /// The weights as of now, prepared for generating one token at a time (the sampler).
    pub(crate) fn decoder(&self) -> Result<Decoder> {
        let gru = self.gru.stepper()?;
        tch::no_grad(|| {
            Ok(Decoder {
                table: gru.input_table(&self.embedding.weight)?,
                gru,
                head_t: self
                    .head
                    .weight
                    .f_detach()?
                    .f_transpose(0, 1)?
                    .f_contiguous()?,
                head_b: self.head.bias.f_detach()?,
            })
        })
    }

    /// The training forward pass (dropout on) through the GRU's hand-written backward passes
    /// ([`Gru::forward`] in [`GruMode::Taped`]): the logits, and the tapes that back-propagate
    /// the loss ([`GruTapes::backward_after`]). Same logits and gradients as
    /// `forward_t(ids, true)` without dropout (tested).
    pub fn forward_taped(&self, ids: &Tensor) -> Result<(Tensor, GruTapes)> {
        self.check_ids(ids)?;
        let xs = self
            .embedding
            .forward(ids)?
            .f_dropout(self.config.dropout, true)?;
        let gru = self.gru.forward(&xs, None, GruMode::Taped)?;
        let out = gru.outputs.f_dropout(self.config.dropout, true)?;
        Ok((self.head.forward(&out)?, gru.tapes))
    }

    /// [`GruLanguageModel::forward_with_state`] without the input checks, for ids the caller
    /// produced itself (the sampler).
    pub(crate) fn forward_unchecked(
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
        let out = out.f_dropout(self.config.dropout, train)?;
        Ok((self.head.forward(&out)?, h_n))
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
        let head = if config.tie_weights {
            // nn.Linear's bias initialisation, with the embedding matrix as the weight.
            let bound = 1.0 / (config.hidden_size as f64).sqrt();
            Linear {
                weight: embedding.weight.shallow_clone(),
                bias: (vs / "head").f_uniform("bias", &[config.vocab_size], -bound, bound)?,
            }
        } else {
            Linear::new(&(vs / "head"), config.hidden_size, config.vocab_size)?
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
/// gathers rows instead of multiplying, and the output layer is one `addmm`.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: Tensor,
    gru: GruStepper,
    head_t: Tensor,
    head_b: Tensor,
}

impl Decoder {
    /// Reads `tokens` `[N]` (int64, each in `0..vocab`) from `state` (per layer `[N, H]`,
    /// replaced by the new one); returns the next logits `[N, vocab]`.
    pub(crate) fn step(&self, tokens: &Tensor, state: &mut [Tensor]) -> Result<Tensor> {
        tch::no_grad(|| {
            let gi = self.table.f_index_select(0, tokens)?;
            let top = self.gru.step(&gi, state)?;
            Ok(self.head_b.f_addmm(&top, &self.head_t)?)
        })
    }
}

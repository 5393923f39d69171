//! `GruClassifier`: the source text's IMDB model, done right.
//!
//! The text builds `Embedding(10000, 128) -> GRU(128, return_sequences=True) -> Dense(2,
//! softmax)` on post-padded reviews. That cannot train (per-step outputs against per-review
//! labels), and without masking the GRU would read 100+ pad tokens before classifying. This
//! model reads each review only up to its real length (a masked recurrence) and classifies the
//! state at its last real token, so appended padding changes nothing.

use crate::error::ensure_config;
use crate::gru::{Gru, GruConfig, GruMode, GruOutput, GruTapes};
use crate::layers::{Embedding, Linear};
use crate::{Module, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// How the per-step GRU outputs become one vector per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The state at each sequence's last real token (both directions when bidirectional).
    #[default]
    Last,
    /// The mean of the outputs over the real tokens.
    Mean,
    /// The element-wise maximum of the outputs over the real tokens.
    Max,
}

/// Configuration of a [`GruClassifier`]. The defaults are the source text's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GruClassifierConfig {
    /// Vocabulary size, padding id included. Default: 10000.
    pub vocab_size: i64,
    /// Embedding size. Default: 128.
    pub embedding_dim: i64,
    /// GRU state size. Default: 128.
    pub hidden_size: i64,
    /// GRU layers, dropout and direction. Default: one forward layer, no dropout.
    pub gru: GruConfig,
    /// Dropout on the pooled vector before the output layer, during training. Default: 0.0.
    pub dropout: f64,
    /// Number of classes. Default: 2.
    pub num_classes: i64,
    /// How outputs are pooled. Default: `last`.
    pub pooling: Pooling,
    /// The padding id, whose embedding is zero and untrained. Default: 0.
    pub padding_idx: i64,
}

impl Default for GruClassifierConfig {
    fn default() -> Self {
        GruClassifierConfig {
            vocab_size: 10000,
            embedding_dim: 128,
            hidden_size: 128,
            gru: GruConfig::default(),
            dropout: 0.0,
            num_classes: 2,
            pooling: Pooling::Last,
            padding_idx: 0,
        }
    }
}

/// Embedding -> GRU (read to each sequence's length) -> pooling -> Linear -> class logits.
///
/// The output is logits: the source's `softmax` is folded into the cross-entropy loss, which
/// is the same model, computed stably.
#[derive(Debug)]
pub struct GruClassifier {
    embedding: Embedding,
    gru: Gru,
    head: Linear,
    config: GruClassifierConfig,
}

impl GruClassifier {
    /// The configuration the model was built with.
    pub fn config(&self) -> &GruClassifierConfig {
        &self.config
    }
}

impl Module for GruClassifier {
    type Config = GruClassifierConfig;
    /// Token ids `[batch, time]` (int64) and real lengths `[batch]`.
    type Input<'a> = (&'a Tensor, &'a Tensor);

    fn init(vs: &nn::Path<'_>, config: &Self::Config) -> Result<Self> {
        ensure_config(config.num_classes >= 2, "num_classes", || {
            format!("must be at least 2, got {}", config.num_classes)
        })?;
        ensure_config((0.0..1.0).contains(&config.dropout), "dropout", || {
            format!("must be in [0, 1), got {}", config.dropout)
        })?;
        let embedding = Embedding::new(
            &(vs / "embedding"),
            config.vocab_size,
            config.embedding_dim,
            Some(config.padding_idx),
        )?;
        let gru = Gru::new(
            &(vs / "gru"),
            config.embedding_dim,
            config.hidden_size,
            &config.gru,
        )?;
        let head = Linear::new(&(vs / "head"), gru.output_size(), config.num_classes)?;
        Ok(GruClassifier {
            embedding,
            gru,
            head,
            config: config.clone(),
        })
    }

    fn forward_t(&self, (tokens, lengths): Self::Input<'_>, train: bool) -> Result<Tensor> {
        let size = tokens.size();
        if size.len() != 2 {
            return Err(crate::Error::Shape {
                what: "classifier tokens",
                expected: "[batch, time]".into(),
                got: size,
            });
        }
        let out =
            self.gru
                .forward_tokens(&self.embedding, tokens, lengths, GruMode::train(train))?;
        self.head_of(&out.outputs, &out.state, lengths, train)
    }
}

impl GruClassifier {
    /// The training forward pass through the GRU's hand-written backward pass
    /// ([`Gru::forward_tokens`] in [`GruMode::Taped`]): the logits, and the [`GruTapes`] that
    /// back-propagate the loss ([`GruTapes::backward_after`]). Same logits and gradients as
    /// `forward_t(.., true)` (tested).
    pub fn forward_taped(&self, tokens: &Tensor, lengths: &Tensor) -> Result<(Tensor, GruTapes)> {
        let GruOutput {
            outputs,
            state,
            tapes,
        } = self
            .gru
            .forward_tokens(&self.embedding, tokens, lengths, GruMode::Taped)?;
        Ok((self.head_of(&outputs, &state, lengths, true)?, tapes))
    }

    /// Pooling, dropout and the output layer over the GRU's outputs and final states.
    fn head_of(&self, out: &Tensor, h_n: &Tensor, lengths: &Tensor, train: bool) -> Result<Tensor> {
        let time = out.size().get(1).copied().unwrap_or(0);
        let pooled = match self.config.pooling {
            Pooling::Last => {
                // h_n: [layers * dirs, batch, hidden]; take the last layer's directions.
                let dirs = if self.config.gru.bidirectional { 2 } else { 1 };
                let rows = h_n.size().first().copied().unwrap_or(0);
                let last = h_n.f_narrow(0, rows - dirs, dirs)?;
                // [dirs, batch, hidden] -> [batch, dirs * hidden]
                last.f_permute([1, 0, 2])?
                    .f_reshape([-1, dirs * self.config.hidden_size])?
            }
            Pooling::Mean => {
                let len = clamped_lengths(lengths, time, out)?;
                out.f_sum_dim_intlist(1, false, Kind::Float)?
                    .f_div(&len.f_unsqueeze(1)?)?
            }
            Pooling::Max => {
                let len = clamped_lengths(lengths, time, out)?;
                let steps = Tensor::f_arange(time, (Kind::Int64, out.device()))?;
                let pad = steps.f_unsqueeze(0)?.f_ge_tensor(&len.f_unsqueeze(1)?)?;
                out.f_masked_fill(&pad.f_unsqueeze(2)?, f64::NEG_INFINITY)?
                    .f_amax(1, false)?
            }
        };
        let pooled = pooled.f_dropout(self.config.dropout, train)?;
        self.head.forward(&pooled)
    }
}

/// Lengths clamped as [`Gru::forward_tokens`] reads them, as float on `like`'s device.
fn clamped_lengths(lengths: &Tensor, time: i64, like: &Tensor) -> Result<Tensor> {
    Ok(lengths
        .f_clamp(1, time.max(1))?
        .f_to_kind(Kind::Float)?
        .f_to_device(like.device())?)
}

//! Language modelling: windows of a token stream, next-token cross-entropy, perplexity and
//! bits per token, and a unigram baseline to compare with.
//!
//! [`LmData`] cuts one token stream into non-overlapping windows; the trainer shuffles the
//! windows, and each window is read from a zero GRU state (no state is carried between
//! batches), like Karpathy's char-rnn. [`GruLanguageModel`] implements [`Objective`], so it
//! trains through [`super::Supervised`] and the one [`crate::Trainer`]. Held-out text is scored
//! both that way ([`evaluate_lm`]) and with the state carried across windows
//! ([`evaluate_lm_carried`]).

use super::Objective;
use crate::metrics::Metrics;
use crate::{Dataset, Error, Result};
use gen_core::{CrossEntropyOptions, NllAccumulator, accuracy, cross_entropy};
use gen_data::text::CharVocab;
use gen_models::{AdaptiveSoftmax, GruLanguageModel, Module};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// A batch of input ids `[batch, time]` and the ids that follow each of them `[batch, time]`.
#[derive(Debug)]
pub struct LmBatch {
    /// Input ids, int64.
    pub inputs: Tensor,
    /// Target ids (the inputs shifted left by one token), int64.
    pub targets: Tensor,
}

/// How [`LmData`] cuts a token stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmDataConfig {
    /// Tokens per window (the length back-propagation runs through). Default: 128.
    pub seq_len: usize,
}

impl Default for LmDataConfig {
    fn default() -> Self {
        LmDataConfig { seq_len: 128 }
    }
}

/// A token stream as language-model samples.
///
/// With `T = seq_len`, sample `i` reads the tokens `[i*T, (i+1)*T)` and predicts the tokens
/// `[i*T + 1, (i+1)*T + 1)`: windows do not overlap, and consecutive windows share only the
/// boundary token (the last target of one is the first input of the next). A stream of `n`
/// tokens gives `floor((n - 1) / T)` samples; its last `(n - 1) mod T` targets are left out.
#[derive(Debug, Clone)]
pub struct LmData {
    ids: Vec<i64>,
    seq_len: usize,
    device: Device,
}

impl LmData {
    /// Windows of `ids`, with batches made on `device`. Errors when `seq_len` is 0, when a
    /// window does not fit (`ids.len() < seq_len + 1`), or when an id is negative.
    pub fn new(ids: Vec<i64>, config: &LmDataConfig, device: Device) -> Result<Self> {
        let seq_len = config.seq_len;
        if seq_len == 0 {
            return Err(Error::config("data.seq_len", "must be at least 1"));
        }
        if ids.len() < seq_len + 1 {
            return Err(Error::config(
                "data.seq_len",
                format!(
                    "a window needs {} tokens (seq_len + 1) but the stream has {}",
                    seq_len + 1,
                    ids.len()
                ),
            ));
        }
        if let Some((pos, id)) = ids.iter().enumerate().find(|(_, id)| **id < 0) {
            return Err(Error::config(
                "data.ids",
                format!("id {id} at position {pos} is negative"),
            ));
        }
        Ok(LmData {
            ids,
            seq_len,
            device,
        })
    }

    /// The window length.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The whole token stream.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// The number of predicted tokens, `len() * seq_len`.
    pub fn num_targets(&self) -> usize {
        self.len() * self.seq_len
    }
}

impl Dataset for LmData {
    type Batch = LmBatch;

    fn len(&self) -> usize {
        (self.ids.len().saturating_sub(1)) / self.seq_len
    }

    fn batch(&self, indices: &[usize]) -> Result<LmBatch> {
        let t = self.seq_len;
        let mut inputs = Vec::with_capacity(indices.len() * t);
        let mut targets = Vec::with_capacity(indices.len() * t);
        for &i in indices {
            let window = i
                .checked_mul(t)
                .and_then(|start| Some((start, start.checked_add(t + 1)?)));
            let Some((x, y)) = window.and_then(|(start, end)| {
                Some((self.ids.get(start..end - 1)?, self.ids.get(start + 1..end)?))
            }) else {
                return Err(Error::config(
                    "batch",
                    format!("index {i} out of range of {} windows", self.len()),
                ));
            };
            inputs.extend_from_slice(x);
            targets.extend_from_slice(y);
        }
        let shape = [indices.len() as i64, t as i64];
        Ok(LmBatch {
            inputs: Tensor::f_from_slice(&inputs)?
                .f_view(shape)?
                .f_to_device(self.device)?,
            targets: Tensor::f_from_slice(&targets)?
                .f_view(shape)?
                .f_to_device(self.device)?,
        })
    }
}

/// Next-token cross-entropy, averaged over every target token.
///
/// Metrics, as sums over target tokens (so epoch means are per token):
/// `loss` (NLL in nats; `exp` of its mean is the perplexity), `bpt` (bits per token, i.e.
/// bits per character for a character model: NLL / ln 2) and `accuracy` (argmax equals the
/// next token). With an adaptive softmax output layer the loss and the accuracy come from
/// [`AdaptiveSoftmax::nll_and_predict`] on the GRU's outputs, never from the full
/// log-probabilities.
impl Objective for GruLanguageModel {
    type Batch = LmBatch;

    fn forward_loss(&self, batch: &LmBatch, train: bool) -> Result<(Tensor, Metrics)> {
        match self.adaptive_softmax() {
            None => lm_loss(&self.forward_t(&batch.inputs, train)?, &batch.targets),
            Some(asm) => adaptive_loss(asm, &self.features(&batch.inputs, train)?, &batch.targets),
        }
    }

    /// Trains through the GRU's hand-written backward passes
    /// (`GruLanguageModel::forward_taped`).
    fn backward_loss(&self, batch: &LmBatch) -> Result<Metrics> {
        let (loss, metrics, tapes) = match self.adaptive_softmax() {
            None => {
                let (logits, tapes) = self.forward_taped(&batch.inputs)?;
                let (loss, metrics) = lm_loss(&logits, &batch.targets)?;
                (loss, metrics, tapes)
            }
            Some(asm) => {
                let (features, tapes) = self.features_taped(&batch.inputs)?;
                let (loss, metrics) = adaptive_loss(asm, &features, &batch.targets)?;
                (loss, metrics, tapes)
            }
        };
        tapes.backward_after(&loss)?;
        Ok(metrics)
    }
}

/// The mean next-token cross-entropy of `logits` against `targets`, with its metrics.
fn lm_loss(logits: &Tensor, targets: &Tensor) -> Result<(Tensor, Metrics)> {
    let loss = cross_entropy(logits, targets, &CrossEntropyOptions::default())?;
    let acc = accuracy(logits, targets, None)?;
    let n = acc.total as f64;
    let nll = loss.f_double_value(&[])? * n;
    Ok((loss, lm_metrics(nll, acc.correct as f64, n)))
}

/// The mean next-token NLL of an adaptive softmax on `features` `[batch, time, hidden]`
/// against `targets` `[batch, time]`, with the same metrics as [`lm_loss`].
fn adaptive_loss(
    asm: &AdaptiveSoftmax,
    features: &Tensor,
    targets: &Tensor,
) -> Result<(Tensor, Metrics)> {
    let hidden = features.size().last().copied().unwrap_or(0);
    let targets = targets.f_reshape([-1])?;
    let (nll, predicted) = asm.nll_and_predict(&features.f_reshape([-1, hidden])?, &targets)?;
    let loss = nll.f_mean(Kind::Float)?;
    let n = targets.numel() as f64;
    let correct = predicted
        .f_eq_tensor(&targets)?
        .f_sum(Kind::Int64)?
        .f_int64_value(&[])?;
    let nll = loss.f_double_value(&[])? * n;
    Ok((loss, lm_metrics(nll, correct as f64, n)))
}

/// `loss` (summed NLL in nats), `bpt` and `accuracy` (correct predictions) over `n` tokens.
fn lm_metrics(nll: f64, correct: f64, n: f64) -> Metrics {
    let mut metrics = Metrics::new();
    metrics.add("loss", nll, n);
    metrics.add("bpt", nll / std::f64::consts::LN_2, n);
    metrics.add("accuracy", correct, n);
    metrics
}

/// The summed next-token NLL of `model` over every window of `data`, in order, `batch_size`
/// windows at a time, in evaluation mode without autograd; each window starts from a zero
/// state, as in training. Its [`NllAccumulator::perplexity`] and
/// [`NllAccumulator::bits_per_token`] are the held-out figures; `count` is
/// [`LmData::num_targets`] (every target is a real token: there is no padding).
pub fn evaluate_lm(
    model: &GruLanguageModel,
    data: &LmData,
    batch_size: usize,
) -> Result<NllAccumulator> {
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let mut acc = NllAccumulator::new();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = data.batch(chunk)?;
        let logits = tch::no_grad(|| model.forward_t(&batch.inputs, false))?;
        acc.add_batch(&logits, &batch.targets, None)?;
    }
    Ok(acc)
}

/// The summed next-token NLL of `model` over every window of `data` with the GRU state carried
/// from each window into the next, the usual way to score a language model on a held-out
/// stream (every token is predicted from all the text before it, not only from its own
/// window). The windows are cut into `streams` contiguous runs (the first `len % streams` one
/// window longer) read side by side, one window of each per forward pass, each run from a
/// zero state. Same `count` as [`evaluate_lm`]; with one stream it equals reading the whole
/// stream at once.
pub fn evaluate_lm_carried(
    model: &GruLanguageModel,
    data: &LmData,
    streams: usize,
) -> Result<NllAccumulator> {
    if streams == 0 {
        return Err(Error::config("streams", "must be at least 1"));
    }
    let windows = data.len();
    let streams = streams.min(windows.max(1));
    let (per, longer) = (windows / streams, windows % streams);
    let start = |b: usize| b * per + b.min(longer);
    let mut acc = NllAccumulator::new();
    let mut state = model.zero_state(streams as i64)?;
    for k in 0..per + usize::from(longer > 0) {
        let active = if k < per { streams } else { longer };
        let indices: Vec<usize> = (0..active).map(|b| start(b) + k).collect();
        let batch = data.batch(&indices)?;
        let h0 = state.f_narrow(1, 0, active as i64)?;
        let (logits, h) =
            tch::no_grad(|| model.forward_with_state(&batch.inputs, Some(&h0), false))?;
        acc.add_batch(&logits, &batch.targets, None)?;
        state = h;
    }
    Ok(acc)
}

/// Bits per token of a unigram model with add-one (Laplace) smoothing, as a baseline:
/// `p(w) = (count_train(w) + 1) / (n_train + vocab_size)`, and the result is
/// `-mean_{w in eval} log2 p(w)`.
///
/// Errors when `vocab_size` is 0, `eval_ids` is empty, or an id is outside `0..vocab_size`.
pub fn unigram_bits_per_token(
    train_ids: &[i64],
    eval_ids: &[i64],
    vocab_size: usize,
) -> Result<f64> {
    if vocab_size == 0 {
        return Err(Error::config("vocab_size", "must be at least 1"));
    }
    if eval_ids.is_empty() {
        return Err(Error::config("eval_ids", "is empty"));
    }
    let index = |what: &str, pos: usize, id: i64| -> Result<usize> {
        usize::try_from(id)
            .ok()
            .filter(|&i| i < vocab_size)
            .ok_or_else(|| {
                Error::config(
                    what,
                    format!("id {id} at position {pos} is outside 0..{vocab_size}"),
                )
            })
    };
    let mut counts = vec![0u64; vocab_size];
    for (pos, &id) in train_ids.iter().enumerate() {
        if let Some(c) = counts.get_mut(index("train_ids", pos, id)?) {
            *c += 1;
        }
    }
    let denominator = (train_ids.len() + vocab_size) as f64;
    let mut bits = 0.0;
    for (pos, &id) in eval_ids.iter().enumerate() {
        let count = counts
            .get(index("eval_ids", pos, id)?)
            .copied()
            .unwrap_or(0);
        bits -= ((count + 1) as f64 / denominator).log2();
    }
    Ok(bits / eval_ids.len() as f64)
}

/// The ids of the characters of `text` for a character model with vocabulary `vocab`.
///
/// A character not in the vocabulary is replaced by the space character when the vocabulary has
/// one, else by id 0, with a `tracing` warning naming it and its position. Errors
/// ([`crate::Error::Config`], field `prompt`) when `text` or the vocabulary is empty.
pub fn encode_prompt(vocab: &CharVocab, text: &str) -> Result<Vec<i64>> {
    if text.is_empty() {
        return Err(Error::config(
            "prompt",
            "is empty: give at least one character to start from",
        ));
    }
    if vocab.is_empty() {
        return Err(Error::config("prompt", "the vocabulary is empty"));
    }
    let fallback = vocab.id(' ').unwrap_or(0);
    Ok(text
        .chars()
        .enumerate()
        .map(|(position, c)| {
            let id = vocab.id(c).unwrap_or_else(|| {
                tracing::warn!(
                    character = ?c,
                    position,
                    fallback = ?vocab.char_of(fallback),
                    "prompt character not in the vocabulary; using the fallback"
                );
                fallback
            });
            id as i64
        })
        .collect())
}

//! Writing text with a [`GruLanguageModel`]: temperature, top-k and top-p (nucleus) sampling,
//! greedy decoding, stop tokens and streaming.
//!
//! [`generate`] reads the prompt once, then writes one token at a time for all samples at once
//! (one batched GRU step per token), carrying the GRU state; samples that reached the stop
//! token leave the batch. Each token is handed to a callback as soon as it is drawn.
//!
//! # Sampling rule
//!
//! For each sample and step, from the logits `l` of the next token ([`sample_from_logits`]):
//!
//! 1. `greedy`, or `temperature == 0`: the token with the largest logit (the lowest id among
//!    ties), as `argmax` does. Nothing random is drawn.
//! 2. Otherwise the weights `w_i = exp((l_i - max l) / temperature)` (softmax up to a factor).
//! 3. `top_k = k`: only the `k` largest weights stay (ties: lower ids first).
//! 4. `top_p = p`: of those, only the smallest set of largest weights whose mass reaches `p` of
//!    the remaining total stays ([`top_p_filter`]); at least one token always stays.
//! 5. A token is drawn from the kept weights, renormalised.
//!
//! This is the order of Hugging Face's `generate` (temperature, then top-k, then top-p).
//!
//! # Determinism
//!
//! The draws do not use libtorch's generator: the logits are copied to the CPU in `f64` and each
//! sample `i` draws its uniforms from its own ChaCha8 stream, [`sampler_rng`]`(seed, i)`
//! (`rand_chacha`, stable across platforms and versions). So the same seed and model give the same
//! text, whatever else uses libtorch's generator, and a sample's text does not depend on when
//! the other samples stop. (On CUDA the logits themselves may differ in the last bits between
//! runs, and a draw that falls exactly on a boundary could then change.)

use crate::{Error, GruLanguageModel, Result};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The random generator of the sampler.
pub type SamplerRng = rand_chacha::ChaCha8Rng;

/// The generator of sample `stream` for `seed`: ChaCha8 seeded with `seed`, on its own stream.
pub fn sampler_rng(seed: u64, stream: u64) -> SamplerRng {
    let mut rng = SamplerRng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// How [`generate`] picks tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Tokens to write per sample, the stop token included. Default: 200.
    pub max_tokens: usize,
    /// Divides the logits before the softmax: below 1 sharpens, above 1 flattens; 0 means
    /// greedy. Must be finite and `>= 0`. Default: 1.0.
    pub temperature: f64,
    /// Keep only the `k` most likely tokens (`k >= 1`). Default: none.
    pub top_k: Option<usize>,
    /// Keep only the smallest set of most likely tokens whose probability reaches `p`
    /// (`0 < p <= 1`). Default: none.
    pub top_p: Option<f64>,
    /// Always take the most likely token. Default: false.
    pub greedy: bool,
    /// A sample ends after writing this token (which is kept in its output). Default: none.
    pub stop_token: Option<i64>,
    /// Seed of the draws. Default: 0.
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            max_tokens: 200,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            greedy: false,
            stop_token: None,
            seed: 0,
        }
    }
}

impl SamplingConfig {
    /// Fails with [`Error::Config`] naming the field when a setting is out of range.
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(config_error(
                "sampling.temperature",
                format!("must be finite and >= 0, got {t}"),
            ));
        }
        if self.top_k == Some(0) {
            return Err(config_error("sampling.top_k", "must be at least 1".into()));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(config_error(
                    "sampling.top_p",
                    format!("must be in (0, 1], got {p}"),
                ));
            }
        }
        Ok(())
    }

    /// Whether tokens are picked by argmax (`greedy`, or `temperature == 0`).
    pub fn is_greedy(&self) -> bool {
        self.greedy || self.temperature == 0.0
    }
}

fn config_error(field: &'static str, reason: String) -> Error {
    Error::Config { field, reason }
}

/// The ids of `weights` by decreasing weight, lower ids first among equal weights.
fn descending(weights: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weight(weights, b).total_cmp(&weight(weights, a)));
    order
}

fn weight(weights: &[f64], i: usize) -> f64 {
    weights.get(i).copied().unwrap_or(0.0)
}

/// The ids of the `k` largest `weights` (probabilities or logits), largest first, lower ids
/// first among ties. `k` above the length keeps everything; `k == 0` keeps nothing.
pub fn top_k_filter(weights: &[f64], k: usize) -> Vec<usize> {
    let mut order = descending(weights);
    order.truncate(k);
    order
}

/// Nucleus (top-p) filtering: the ids of the smallest set of largest `probs` whose sum reaches
/// `p` times their total, largest first (lower ids first among ties).
///
/// `probs` need not be normalised (the mass is relative to their sum) and must be `>= 0`. A set
/// whose mass equals `p` exactly counts as reaching it (within a relative 1e-12, so rounding
/// of the sum cannot add a token). At least one id is kept when `probs` is not empty.
///
/// ```
/// use gen_models::sampling::top_p_filter;
/// let probs = [0.5, 0.3, 0.15, 0.05];
/// assert_eq!(top_p_filter(&probs, 0.7), [0, 1]);
/// assert_eq!(top_p_filter(&probs, 0.9), [0, 1, 2]);
/// ```
pub fn top_p_filter(probs: &[f64], p: f64) -> Vec<usize> {
    let mut order = descending(probs);
    let keep = nucleus_len(probs, &order, p);
    order.truncate(keep);
    order
}

/// How many ids of `order` (ids by decreasing weight) the nucleus of mass `p` keeps.
fn nucleus_len(weights: &[f64], order: &[usize], p: f64) -> usize {
    let total: f64 = order.iter().map(|&i| weight(weights, i)).sum();
    let target = p * total - 1e-12 * total;
    let mut mass = 0.0;
    for (n, &i) in order.iter().enumerate() {
        mass += weight(weights, i);
        if mass >= target {
            return n + 1;
        }
    }
    order.len()
}

/// The index of the largest value, the lowest among ties.
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > weight(values, best) {
            best = i;
        }
    }
    best
}

/// A uniform draw in `[0, 1)` with 53 random bits.
fn uniform(rng: &mut SamplerRng) -> f64 {
    rng.r#gen::<f64>()
}

/// Picks one token from the next-token `logits` by the rule in the [module docs](self),
/// drawing (unless greedy) one uniform number from `rng`.
///
/// Errors when `logits` is empty, holds NaN or `+inf`, or is all `-inf` (`-inf` alone marks a
/// forbidden token), or when `config` is invalid.
pub fn sample_from_logits(
    logits: &[f64],
    config: &SamplingConfig,
    rng: &mut SamplerRng,
) -> Result<usize> {
    config.validate()?;
    let bad = |reason: String| {
        Error::Core(gen_core::Error::InvalidArgument {
            name: "logits",
            reason,
        })
    };
    if logits.is_empty() {
        return Err(bad("no logits to sample from".into()));
    }
    if let Some(i) = logits
        .iter()
        .position(|l| l.is_nan() || *l == f64::INFINITY)
    {
        return Err(bad(format!("logit {i} is {}", weight(logits, i))));
    }
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return Err(bad("every logit is -inf".into()));
    }
    if config.is_greedy() {
        return Ok(argmax(logits));
    }
    let weights: Vec<f64> = logits
        .iter()
        .map(|l| ((l - max) / config.temperature).exp())
        .collect();
    if config.top_k.is_none() && config.top_p.is_none() {
        // Every token stays: no id list to build.
        return Ok(draw(&weights, 0..weights.len(), logits, rng));
    }
    let mut kept = descending(&weights);
    if let Some(k) = config.top_k {
        kept.truncate(k);
    }
    if let Some(p) = config.top_p {
        let keep = nucleus_len(&weights, &kept, p);
        kept.truncate(keep);
    }
    Ok(draw(&weights, kept.iter().copied(), logits, rng))
}

/// Draws one of `ids` with probability proportional to its weight, using one uniform from
/// `rng`: the first id whose running mass passes `u * total`. When rounding leaves `u` at the
/// very top of the range, the last id with a positive weight (`argmax(logits)` if none).
fn draw(
    weights: &[f64],
    ids: impl Iterator<Item = usize> + Clone,
    logits: &[f64],
    rng: &mut SamplerRng,
) -> usize {
    let total: f64 = ids.clone().map(|i| weight(weights, i)).sum();
    let u = uniform(rng) * total;
    let mut mass = 0.0;
    let mut last_positive = None;
    for i in ids {
        let w = weight(weights, i);
        mass += w;
        if u < mass {
            return i;
        }
        if w > 0.0 {
            last_positive = Some(i);
        }
    }
    last_positive.unwrap_or_else(|| argmax(logits))
}

/// Writes `num_samples` continuations of `prompt_ids` with `model`, `config.max_tokens` tokens
/// each at most, and returns them (without the prompt).
///
/// Runs without autograd and in evaluation mode (no dropout). The prompt is read once (batch
/// of one) and its final state copied to every sample; then each step samples the next token of
/// every live sample on the CPU ([`sample_from_logits`]), calls `on_token(sample, token)` for
/// each, and feeds the new tokens to the GRU as a batch, carrying the state. A sample whose token
/// is `config.stop_token` ends there (the stop token is its last token) and leaves the batch.
/// See the [module docs](self) for the rule and for determinism.
///
/// Errors: an empty prompt, a prompt id outside `0..vocab_size` (naming its position),
/// `num_samples == 0`, or an invalid `config` ([`Error::Config`]).
pub fn generate<F>(
    model: &GruLanguageModel,
    prompt_ids: &[i64],
    num_samples: usize,
    config: &SamplingConfig,
    mut on_token: F,
) -> Result<Vec<Vec<i64>>>
where
    F: FnMut(usize, i64),
{
    config.validate()?;
    let vocab = model.config().vocab_size;
    if prompt_ids.is_empty() {
        return Err(config_error(
            "prompt",
            "is empty: give at least one token to start from".into(),
        ));
    }
    if let Some((pos, id)) = prompt_ids
        .iter()
        .enumerate()
        .find(|(_, id)| !(0..vocab).contains(*id))
    {
        return Err(config_error(
            "prompt",
            format!("id {id} at position {pos} is outside 0..{vocab} (vocab_size)"),
        ));
    }
    if num_samples == 0 {
        return Err(config_error("num_samples", "must be at least 1".into()));
    }
    let batch = i64::try_from(num_samples)
        .map_err(|_| config_error("num_samples", format!("{num_samples} is too large")))?;
    let width = usize::try_from(vocab).unwrap_or(1).max(1);
    let mut outputs: Vec<Vec<i64>> = (0..num_samples)
        .map(|_| Vec::with_capacity(config.max_tokens))
        .collect();
    if config.max_tokens == 0 {
        return Ok(outputs);
    }
    let mut rngs: Vec<SamplerRng> = (0..num_samples as u64)
        .map(|i| sampler_rng(config.seed, i))
        .collect();

    tch::no_grad(|| {
        let device = model.device();
        let prompt = Tensor::f_from_slice(prompt_ids)?
            .f_view([1, -1])?
            .f_to_device(device)?;
        let (logits, h) = model.forward_unchecked(&prompt, None, false)?;
        // [1, V] -> [N, V]; the state [L, 1, H] -> L x [N, H].
        let mut last = logits.f_select(1, -1)?.f_expand([batch, vocab], false)?;
        let mut state = h.f_repeat([1, batch, 1])?.f_unbind(0)?;
        let decoder = model.decoder()?;
        // The sample written by each row of the batch.
        let mut live: Vec<usize> = (0..num_samples).collect();
        for step in 0..config.max_tokens {
            // f32 -> f64 is exact; converting here saves a libtorch kernel per step.
            let rows: Vec<f64> = Vec::<f32>::try_from(
                last.f_to_device(Device::Cpu)?
                    .f_to_kind(Kind::Float)?
                    .f_contiguous()?
                    .f_view([-1])?,
            )?
            .into_iter()
            .map(f64::from)
            .collect();
            let mut still = Vec::with_capacity(live.len());
            let mut kept_rows = Vec::with_capacity(live.len());
            let mut next = Vec::with_capacity(live.len());
            for (row, (&sample, logits)) in live.iter().zip(rows.chunks(width)).enumerate() {
                let (Some(rng), Some(out)) = (rngs.get_mut(sample), outputs.get_mut(sample)) else {
                    continue;
                };
                let token = sample_from_logits(logits, config, rng)? as i64;
                out.push(token);
                on_token(sample, token);
                if config.stop_token != Some(token) {
                    still.push(sample);
                    kept_rows.push(row as i64);
                    next.push(token);
                }
            }
            if still.is_empty() || step + 1 == config.max_tokens {
                break;
            }
            if still.len() < live.len() {
                let rows = Tensor::f_from_slice(&kept_rows)?.f_to_device(device)?;
                state = state
                    .iter()
                    .map(|h| h.f_index_select(0, &rows))
                    .collect::<std::result::Result<_, _>>()?;
            }
            live = still;
            let input = Tensor::f_from_slice(&next)?.f_to_device(device)?;
            last = decoder.step(&input, &mut state)?;
        }
        Ok(outputs)
    })
}

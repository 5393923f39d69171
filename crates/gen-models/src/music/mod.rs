//! [`FrameGru`]: a GRU over piano-roll frames with an independent Bernoulli per key (Chung et
//! al. 2014, "Empirical Evaluation of Gated Recurrent Neural Networks on Sequence Modeling",
//! the polyphonic music task), or with a [`Nade`] over the keys (RNN-NADE, Boulanger-Lewandowski
//! et al. 2012).
//!
//! # Model
//!
//! A roll is `T` frames `x_0 .. x_{T-1}` of 88 cells (1 where the key sounds). Step `t` of a
//! GRU reads the frame before it (`x_{t-1}`, a silent frame for `t = 0`), and a linear head on
//! its output gives 88 logits `z_t`: key `k` sounds in frame `t` with probability
//! `sigmoid(z_{t,k})`, independently of the other keys. Every frame is scored, the first one
//! included, as `gen_data::music::nll` defines the metric.
//!
//! With `output = "nade"` ([`FrameOutput::Nade`]) the keys of a frame are no longer
//! independent: a [`Nade`] on the GRU's output gives `p(x_{t,k} | x_{t,<k}, x_{<t})`, so
//! `z_{t,k}` also reads the keys below `k` in frame `t` (in training and scoring, the real
//! ones; in sampling, the ones drawn). The loss below is unchanged: it is the exact NLL of
//! the frame under either output.
//!
//! # Loss ([`frame_nll_sum`])
//!
//! The NLL of a frame is `sum_k softplus(z_k) - x_k z_k` (the exact Bernoulli NLL in nats of
//! `p = sigmoid(z)`, without the probability clamp of `gen_data::music::bernoulli_nll`), summed
//! over the 88 keys. [`FrameGru::nll`] averages it over every real frame of a batch: rolls of
//! different lengths are padded at the end, and a GRU is causal, so the padding never changes
//! a real frame's logits; padded frames are left out of the sum.
//!
//! ```
//! use gen_models::music::{FrameGru, FrameGruConfig};
//! use gen_models::Module;
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let config = FrameGruConfig { hidden_size: 16, ..Default::default() };
//! let model = FrameGru::init(&vs.root(), &config)?;
//! let rolls = Tensor::zeros([2, 10, 88], (Kind::Float, Device::Cpu)); // [batch, frames, 88]
//! let lengths = Tensor::from_slice(&[10i64, 7]);
//! let logits = model.forward_t(&rolls, false)?;
//! assert_eq!(logits.size(), [2, 10, 88]);
//! let (nll, frames) = model.nll(&rolls, &lengths, false)?; // mean per real frame
//! assert_eq!(frames, 17);
//! assert_eq!(nll.size(), Vec::<i64>::new());
//!
//! let sample = model.sample(3, 32, None, 7)?; // 3 rolls of 32 frames, seed 7
//! assert_eq!(sample.frames.size(), [3, 32, 88]);
//! # Ok::<(), gen_models::Error>(())
//! ```

mod nade;
mod sample;

pub use nade::{Nade, NadeSampler};
pub use sample::RollSample;

use crate::error::ensure_config;
use crate::gru::{Gru, GruConfig, GruMode, GruTapes};
use crate::layers::Linear;
use crate::{Error, Module, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor, nn};

/// Keys on the piano: the width of a frame.
pub const KEYS: i64 = 88;

/// Configuration of a [`FrameGru`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrameGruConfig {
    /// GRU state size. Default: 128.
    pub hidden_size: i64,
    /// GRU layers and dropout between them (`bidirectional` must stay false). Default: 1
    /// layer.
    pub gru: GruConfig,
    /// Dropout on the GRU's outputs, before the head, in training. Default: 0.3.
    pub dropout: f64,
    /// The distribution of a frame given the GRU's output: `"bernoulli"` (independent keys)
    /// or `"nade"` (keys in order, each given those below it). Default: `"bernoulli"`.
    #[serde(skip_serializing_if = "FrameOutput::is_bernoulli")]
    pub output: FrameOutput,
    /// Hidden units of the NADE (`output = "nade"` only). Default: 150.
    #[serde(skip_serializing_if = "is_default_nade_hidden")]
    pub nade_hidden: i64,
}

/// The default [`FrameGruConfig::nade_hidden`].
const NADE_HIDDEN: i64 = 150;

fn is_default_nade_hidden(n: &i64) -> bool {
    *n == NADE_HIDDEN
}

/// The output distribution of a [`FrameGru`] over the 88 keys of a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameOutput {
    /// An independent Bernoulli per key: a linear head gives 88 logits.
    #[default]
    Bernoulli,
    /// A [`Nade`] over the keys in order, its biases from the GRU's output.
    Nade,
}

impl FrameOutput {
    /// Whether this is [`FrameOutput::Bernoulli`] (the default, left out of saved configs so
    /// that they read as before the NADE existed).
    pub fn is_bernoulli(&self) -> bool {
        *self == FrameOutput::Bernoulli
    }
}

impl Default for FrameGruConfig {
    fn default() -> Self {
        FrameGruConfig {
            hidden_size: 128,
            gru: GruConfig::default(),
            dropout: 0.3,
            output: FrameOutput::Bernoulli,
            nade_hidden: NADE_HIDDEN,
        }
    }
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Evaluation: no dropout.
    Eval,
    /// Training under autograd.
    Train,
    /// Training through the GRU's hand-written backward passes.
    Taped,
}

/// A GRU over piano-roll frames with an independent Bernoulli output per key, or a NADE over
/// the keys; see the [module docs](self).
///
/// Variables (under the model's path): `gru.*` (input 88), then for the Bernoulli output
/// `head.weight [88, hidden]`, `head.bias [88]`, for the NADE `nade.*` ([`Nade`], 88 keys).
/// Initialisation follows PyTorch's modules.
#[derive(Debug)]
pub struct FrameGru {
    gru: Gru,
    output: Output,
    config: FrameGruConfig,
}

/// The layer behind [`FrameOutput`].
#[derive(Debug)]
enum Output {
    Bernoulli(Linear),
    Nade(Nade),
}

impl FrameGru {
    /// The configuration the model was built with.
    pub fn config(&self) -> &FrameGruConfig {
        &self.config
    }

    /// The logits `[B, T, 88]` of every frame of `rolls` (float `[B, T, 88]`, 0/1), each from
    /// the frames before it (with the NADE output, also from the keys below it in its frame):
    /// `sigmoid` of them is the probability of each key given what it reads.
    pub fn logits(&self, rolls: &Tensor, train: bool) -> Result<Tensor> {
        let pass = if train { Pass::Train } else { Pass::Eval };
        Ok(self.logits_with(rolls, pass)?.0)
    }

    /// The mean NLL per real frame of `rolls` (float `[B, T, 88]`) whose real lengths are
    /// `lengths` (int64 `[B]`, each in `1..=T`), and the number of real frames. With `train`,
    /// dropout is on.
    pub fn nll(&self, rolls: &Tensor, lengths: &Tensor, train: bool) -> Result<(Tensor, i64)> {
        let pass = if train { Pass::Train } else { Pass::Eval };
        let (loss, frames, _) = self.nll_with(rolls, lengths, pass)?;
        Ok((loss, frames))
    }

    /// [`FrameGru::nll`] in training mode through the GRU's hand-written backward passes
    /// ([`Gru::forward`] in [`GruMode::Taped`]): the loss, the real frames, and the tapes that
    /// back-propagate it ([`GruTapes::backward_after`]). Same loss and gradients as
    /// `nll(.., true)` without dropout (tested).
    pub fn nll_taped(&self, rolls: &Tensor, lengths: &Tensor) -> Result<(Tensor, i64, GruTapes)> {
        self.nll_with(rolls, lengths, Pass::Taped)
    }

    fn nll_with(
        &self,
        rolls: &Tensor,
        lengths: &Tensor,
        pass: Pass,
    ) -> Result<(Tensor, i64, GruTapes)> {
        let (logits, tapes) = self.logits_with(rolls, pass)?;
        let frames = real_frames(lengths, rolls)?;
        let sum = frame_nll_sum(&logits, rolls, lengths)?;
        Ok((sum.f_div_scalar(frames.max(1) as f64)?, frames, tapes))
    }

    fn logits_with(&self, rolls: &Tensor, pass: Pass) -> Result<(Tensor, GruTapes)> {
        let (b, t) = check_rolls(rolls)?;
        let silent = Tensor::f_zeros([b, 1, KEYS], (Kind::Float, rolls.device()))?;
        let inputs = Tensor::f_cat(&[&silent, &rolls.f_narrow(1, 0, t - 1)?], 1)?;
        let mode = match pass {
            Pass::Taped => GruMode::Taped,
            Pass::Train => GruMode::Train,
            Pass::Eval => GruMode::Eval,
        };
        let gru = self.gru.forward(&inputs, None, mode)?;
        let outputs = if pass != Pass::Eval && self.config.dropout > 0.0 {
            gru.outputs.f_dropout(self.config.dropout, true)?
        } else {
            gru.outputs
        };
        let logits = match &self.output {
            Output::Bernoulli(head) => head.forward(&outputs)?,
            Output::Nade(nade) => nade.logits(&outputs, rolls)?,
        };
        Ok((logits, gru.tapes))
    }

    /// The device of the variables.
    fn device(&self) -> tch::Device {
        match &self.output {
            Output::Bernoulli(head) => head.weight.device(),
            Output::Nade(nade) => nade.device(),
        }
    }
}

/// Fails unless `rolls` is float `[B, T, 88]` with `T >= 1`; returns `(B, T)`.
fn check_rolls(rolls: &Tensor) -> Result<(i64, i64)> {
    let size = rolls.size();
    match size.as_slice() {
        [b, t, KEYS] if *t >= 1 && rolls.f_kind()? == Kind::Float => Ok((*b, *t)),
        _ => Err(Error::Shape {
            what: "piano-rolls",
            expected: format!("float [batch, frames >= 1, {KEYS}]"),
            got: size,
        }),
    }
}

/// The number of real frames: the sum of `lengths` (int64 `[B]`, each in `1..=T`).
fn real_frames(lengths: &Tensor, rolls: &Tensor) -> Result<i64> {
    let (b, t) = check_rolls(rolls)?;
    if lengths.size() != [b] || lengths.f_kind()? != Kind::Int64 {
        return Err(Error::Shape {
            what: "roll lengths",
            expected: format!("int64 [{b}]"),
            got: lengths.size(),
        });
    }
    if b > 0 {
        let min = lengths.f_min()?.f_int64_value(&[])?;
        let max = lengths.f_max()?.f_int64_value(&[])?;
        if min < 1 || max > t {
            return Err(Error::Shape {
                what: "roll lengths",
                expected: format!(
                    "lengths in 1..={t}, found {}",
                    if min < 1 { min } else { max }
                ),
                got: lengths.size(),
            });
        }
    }
    Ok(lengths.f_sum(Kind::Int64)?.f_int64_value(&[])?)
}

/// The sum, over the real frames of `rolls` (the first `lengths[b]` frames of roll `b`), of
/// the frame NLL `sum_k softplus(z_k) - x_k z_k` in nats, for the logits `logits` `[B, T, 88]`
/// and the cells `rolls` `[B, T, 88]` (0/1). A scalar tensor, differentiable in `logits`.
pub fn frame_nll_sum(logits: &Tensor, rolls: &Tensor, lengths: &Tensor) -> Result<Tensor> {
    let (_, t) = check_rolls(rolls)?;
    if logits.size() != rolls.size() {
        return Err(Error::Shape {
            what: "roll logits",
            expected: format!("the rolls' shape {:?}", rolls.size()),
            got: logits.size(),
        });
    }
    real_frames(lengths, rolls)?;
    let per_cell =
        logits.f_binary_cross_entropy_with_logits::<Tensor>(rolls, None, None, Reduction::None)?;
    let per_frame = per_cell.f_sum_dim_intlist([2i64].as_slice(), false, Kind::Float)?;
    let mask = Tensor::f_arange(t, (Kind::Int64, rolls.device()))?
        .f_unsqueeze(0)?
        .f_lt_tensor(&lengths.f_unsqueeze(1)?)?
        .f_to_kind(Kind::Float)?;
    Ok(per_frame.f_mul(&mask)?.f_sum(Kind::Float)?)
}

impl Module for FrameGru {
    type Config = FrameGruConfig;
    /// Rolls `[B, T, 88]` (float, 0/1). The output is the logits `[B, T, 88]`: row `t` gives
    /// frame `t`'s probabilities from frames `0..t` (and with the NADE output, key `k`'s from
    /// keys `0..k` of frame `t`).
    type Input<'a> = &'a Tensor;

    fn init(vs: &nn::Path<'_>, config: &Self::Config) -> Result<Self> {
        ensure_config((0.0..1.0).contains(&config.dropout), "dropout", || {
            format!("must be in [0, 1), got {}", config.dropout)
        })?;
        ensure_config(!config.gru.bidirectional, "gru.bidirectional", || {
            "must be false: each frame may only read the frames before it".into()
        })?;
        let gru = Gru::new(&(vs / "gru"), KEYS, config.hidden_size, &config.gru)?;
        let output = match config.output {
            FrameOutput::Bernoulli => {
                Output::Bernoulli(Linear::new(&(vs / "head"), config.hidden_size, KEYS)?)
            }
            FrameOutput::Nade => {
                ensure_config(config.nade_hidden >= 1, "nade_hidden", || {
                    format!("must be at least 1, got {}", config.nade_hidden)
                })?;
                let path = vs / "nade";
                Output::Nade(Nade::new(
                    &path,
                    config.hidden_size,
                    KEYS,
                    config.nade_hidden,
                )?)
            }
        };
        Ok(FrameGru {
            gru,
            output,
            config: config.clone(),
        })
    }

    fn forward_t(&self, rolls: &Tensor, train: bool) -> Result<Tensor> {
        self.logits(rolls, train)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tch::Device;

    #[test]
    fn frame_nll_sum_is_the_hand_computed_bernoulli_nll() {
        // Two rolls of up to 2 frames; roll 1 has length 1, so its second frame is padding.
        // Logits are 0 (p = 1/2) everywhere except: roll 0 frame 0 key 0 z = ln 9 (p = 0.9),
        // key 1 z = -ln 4 (p = 0.2); roll 1 frame 0 key 5 z = ln 3 (p = 0.75).
        // Cells: roll 0 frame 0 keys 0 and 1 sound; roll 0 frame 1 key 1 sounds; roll 1
        // frame 0 key 5 is silent; roll 1's padded frame has key 2 "on" and logit 100, which
        // must not count.
        //   roll 0 frame 0: -ln 0.9 - ln 0.2 + 86 ln 2
        //   roll 0 frame 1: 88 ln 2
        //   roll 1 frame 0: -ln 0.25 + 87 ln 2
        //   sum = -ln 0.9 - ln 0.2 - ln 0.25 + 261 ln 2 = 0.1053605 + 1.6094379 + 1.3862944
        //         + 180.9114141 = 184.0125069
        let mut z = vec![0f32; 2 * 2 * 88];
        let mut x = vec![0f32; 2 * 2 * 88];
        let at = |b: usize, t: usize, k: usize| (b * 2 + t) * 88 + k;
        z[at(0, 0, 0)] = 9f32.ln();
        z[at(0, 0, 1)] = -(4f32.ln());
        z[at(1, 0, 5)] = 3f32.ln();
        z[at(1, 1, 2)] = 100.0;
        x[at(0, 0, 0)] = 1.0;
        x[at(0, 0, 1)] = 1.0;
        x[at(0, 1, 1)] = 1.0;
        x[at(1, 1, 2)] = 1.0;
        let logits = Tensor::from_slice(&z).view([2, 2, 88]);
        let rolls = Tensor::from_slice(&x).view([2, 2, 88]);
        let lengths = Tensor::from_slice(&[2i64, 1]);
        let sum = frame_nll_sum(&logits, &rolls, &lengths)
            .unwrap()
            .double_value(&[]);
        let ln2 = std::f64::consts::LN_2;
        let want = -(0.9f64.ln()) - 0.2f64.ln() - 0.25f64.ln() + 261.0 * ln2;
        assert!((want - 184.012_506_9).abs() < 1e-6, "{want}");
        assert!((sum - want).abs() < 1e-4, "{sum} vs {want}");
    }

    #[test]
    fn the_default_output_leaves_saved_configs_as_they_were() {
        // Configs saved before the NADE existed read back, and the default writes them again
        // byte for byte; the NADE's settings round-trip.
        let before = r#"{"hidden_size":128,"gru":{"num_layers":1,"dropout":0.0,"bidirectional":false},"dropout":0.3}"#;
        let config: FrameGruConfig = serde_json::from_str(before).unwrap();
        assert_eq!(config, FrameGruConfig::default());
        assert_eq!(serde_json::to_string(&config).unwrap(), before);
        let nade = FrameGruConfig {
            output: FrameOutput::Nade,
            nade_hidden: 40,
            ..Default::default()
        };
        let json = serde_json::to_string(&nade).unwrap();
        assert!(
            json.contains(r#""output":"nade","nade_hidden":40"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<FrameGruConfig>(&json).unwrap(), nade);
        assert!(serde_json::from_str::<FrameGruConfig>(r#"{"output":"made"}"#).is_err());
    }

    #[test]
    fn nll_is_the_mean_over_real_frames_and_checks_its_inputs() {
        for output in [FrameOutput::Bernoulli, FrameOutput::Nade] {
            nll_is_the_mean_over_real_frames(output);
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let bad = FrameGruConfig {
            output: FrameOutput::Nade,
            nade_hidden: 0,
            ..Default::default()
        };
        assert!(FrameGru::init(&vs.root(), &bad).is_err());
    }

    fn nll_is_the_mean_over_real_frames(output: FrameOutput) {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = FrameGruConfig {
            hidden_size: 8,
            output,
            nade_hidden: 6,
            ..Default::default()
        };
        let model = FrameGru::init(&vs.root(), &config).unwrap();
        let rolls = Tensor::rand([2, 5, 88], (Kind::Float, Device::Cpu))
            .gt(0.8)
            .to_kind(Kind::Float);
        let lengths = Tensor::from_slice(&[5i64, 3]);
        let (mean, frames) = model.nll(&rolls, &lengths, false).unwrap();
        assert_eq!(frames, 8);
        let logits = model.logits(&rolls, false).unwrap();
        let sum = frame_nll_sum(&logits, &rolls, &lengths).unwrap();
        assert!((mean.double_value(&[]) * 8.0 - sum.double_value(&[])).abs() < 1e-3);
        // Changing a padded frame changes nothing.
        let changed = rolls.copy();
        let _ = changed.narrow(0, 1, 1).narrow(1, 3, 2).fill_(1.0);
        let (again, _) = model.nll(&changed, &lengths, false).unwrap();
        assert_eq!(again.double_value(&[]), mean.double_value(&[]));
        // Bad lengths and shapes are errors, not panics.
        assert!(
            model
                .nll(&rolls, &Tensor::from_slice(&[6i64, 3]), false)
                .is_err()
        );
        assert!(
            model
                .nll(&rolls, &Tensor::from_slice(&[0i64, 3]), false)
                .is_err()
        );
        assert!(
            model
                .nll(&rolls, &Tensor::from_slice(&[5i64]), false)
                .is_err()
        );
        let narrow = Tensor::zeros([1, 4, 87], (Kind::Float, Device::Cpu));
        assert!(model.logits(&narrow, false).is_err());
        let bad = FrameGruConfig {
            dropout: 1.0,
            ..config
        };
        assert!(FrameGru::init(&vs.root(), &bad).is_err());
    }
}

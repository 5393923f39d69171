//! `TrajectoryMdn`: a GRU mixture-density network that writes 2-D motion trajectories of a
//! requested shape, one displacement at a time (Graves 2013, "Generating Sequences With
//! Recurrent Neural Networks", section 4, without the pen state).
//!
//! # Model
//!
//! A trajectory is `T` points `p_0 .. p_{T-1}` (in data units, e.g. millimetres). The model
//! factors its density as `p(p_0 | shape) * prod_t p(d_{t+1} | p_0..p_t, shape)` with the
//! displacements `d_{t+1} = p_{t+1} - p_t`:
//!
//! - **start**: a linear head on the shape embedding gives a mixture of `K` bivariate
//!   Gaussians over `p_0 / position_scale`;
//! - **steps**: at step `t` a stacked GRU reads `[p_t / position_scale, d_t / step_scale,
//!   t / (T - 1), embedding(shape)]` (`d_0 = 0`) and a linear head on its output gives a
//!   mixture of `K` bivariate Gaussians over `d_{t+1} / step_scale`.
//!
//! Each mixture has `6 K` raw outputs, in this order: `K` weight logits, `K` means of x, `K`
//! means of y, `K` log standard deviations of x and of y, and `K` pre-`tanh` correlations
//! (see [`mixture_nll`]). Feeding the absolute position makes the network a learned,
//! time-indexed dynamical system: it sees where it is and can steer back toward the demos and
//! the target, instead of integrating blind velocity guesses.
//!
//! # Why a mixture-density GRU and not a recurrent GAN
//!
//! LASA has 7 demonstrations per shape. A GAN discriminator separates 7 real trajectories
//! from generated ones almost at once, and the generator then collapses onto one demo or
//! oscillates; its loss says nothing about quality, so stopping and tuning are guesswork. The
//! mixture density network is trained by maximum likelihood with teacher forcing: the loss is
//! exact, falls steadily, needs no second network, and its mixture captures the spread
//! between demos at each step (the variance is learned, so samples differ from each other
//! without a noise input). Sampling with a bias (Graves 2013, section 5.3) trades diversity
//! for smoothness at generation time.
//!
//! With only a few demonstrations per shape, the components end up following single demos,
//! so an exact draw moves like one demo shifted to the start, and scores like one against an
//! unseen demo: on LASA, a training demo replayed as is beats the mean of the six on DTW for
//! only 6 of 210 (shape, held-out demo) pairs, and shifted to the unseen demo's start (the
//! offset fading out, as in training) for 132. [`TrajectorySampling::spread`] pulls each
//! draw toward its mixture's mean, the expected next step: 0 gives the deterministic mean
//! path, 1 the density as learned, and values between keep samples varied but nearer the
//! average of the demos.
//!
//! # Coming back to the demos
//!
//! Teacher forcing only ever shows the network points on a demo, so a sample that strays
//! (every draw adds noise) reaches places the network never saw and wanders off. In
//! training, each demo is therefore shifted by a random offset that fades linearly to zero
//! at its end ([`TrajectoryMdnConfig::offset_noise`]): the network sees off-demo positions
//! together with the steps that take them back and still reach the target on time. On LASA
//! (one held-out demo per shape, same budget otherwise), raising it from 0 to 0.2 cut the
//! largest endpoint error from 52 to 23 mm, and from 0.2 to 0.4 from 9.7 to 5.8 mm, while
//! the shapes beating the mean-demo baseline rose from 24 to 28 of 30; 0.8 was worse again.
//!
//! ```
//! use gen_models::trajectory::{TrajectoryMdn, TrajectoryMdnConfig, TrajectorySampling};
//! use gen_models::Module;
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let config = TrajectoryMdnConfig { num_shapes: 3, hidden_size: 16, length: 20, ..Default::default() };
//! let model = TrajectoryMdn::init(&vs.root(), &config)?;
//! let shapes = Tensor::from_slice(&[0i64, 2]);
//! let points = Tensor::zeros([2, 20, 2], (Kind::Float, Device::Cpu));
//! let steps = model.forward_t((&shapes, &points), false)?;
//! assert_eq!(steps.size(), [2, 19, 6 * config.num_components]);
//! let nll = model.nll(&shapes, &points, false)?; // per point, averaged over the batch
//! assert_eq!(nll.size(), Vec::<i64>::new());
//!
//! let sampling = TrajectorySampling { seed: 7, start: Some([10.0, -3.0]), ..Default::default() };
//! let samples = model.sample(1, 4, &sampling)?; // [4, 20, 2], f64, data units
//! assert_eq!(samples.size(), [4, 20, 2]);
//! assert_eq!(samples.double_value(&[3, 0, 0]), 10.0);
//! # Ok::<(), gen_models::Error>(())
//! ```

mod mixture;
mod sample;

pub use mixture::{LOG_STD_MAX, LOG_STD_MIN, Mixture, RHO_MAX, mixture_nll};
pub use sample::TrajectorySampling;

use crate::error::ensure_config;
use crate::gru::{Gru, GruConfig, GruMode, GruTapes};
use crate::layers::{Embedding, Linear};
use crate::{Error, Module, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

/// Input features per step: position (2), previous displacement (2), time fraction (1).
const STEP_FEATURES: i64 = 5;
/// Configuration of a [`TrajectoryMdn`].
///
/// `position_scale` and `step_scale` are properties of the data, not of the network: the
/// training task sets them from the training trajectories, and they are saved with the rest
/// of the config so that a saved model samples in data units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrajectoryMdnConfig {
    /// Number of shapes (conditioning classes). Default: 30 (LASA).
    pub num_shapes: i64,
    /// Size of the shape embedding. Default: 16.
    pub embedding_dim: i64,
    /// GRU state size. Default: 128.
    pub hidden_size: i64,
    /// GRU layers and dropout between them (`bidirectional` must stay false). Default: 2
    /// layers, no dropout.
    pub gru: GruConfig,
    /// Gaussians per mixture (`K`). Default: 8.
    pub num_components: i64,
    /// Points per trajectory (`T >= 2`); training data is resampled to it. Default: 50.
    pub length: i64,
    /// Positions are divided by it before entering the network. Default: 1.0.
    pub position_scale: f64,
    /// Displacements are divided by it before entering the network and predicted in those
    /// units. Default: 1.0.
    pub step_scale: f64,
    /// Training augmentation (only when `train` is true): every trajectory is shifted by a
    /// random offset `c ~ N(0, (offset_noise * position_scale)^2)` per coordinate that fades
    /// linearly to zero at the last point, `p'_t = p_t + (1 - t / (T - 1)) c`. The shifted
    /// trajectory starts elsewhere, still ends at the demo's end, and its steps remove the
    /// offset a little at a time: it shows the network how to come back from positions no
    /// demo visits and still reach the target. Draws from libtorch's generator (seeded per
    /// step by the trainer). 0 turns it off. Default: 0.4.
    pub offset_noise: f64,
    /// Training augmentation (only when `train` is true): every trajectory is re-timed as
    /// `p'(tau) = p(phi(tau))` with `phi(tau) = tau + 16 alpha tau^2 (1 - tau)^2` and `alpha`
    /// uniform in `[-time_warp, time_warp]`, by linear interpolation between its points
    /// (`tau = t / (T - 1)`). Start, end, and the speed at both stay; in between the re-timed
    /// demo runs up to `time_warp` (a fraction of the duration, reached at half time) ahead
    /// of or behind the usual schedule and catches up, which shows the network how to still
    /// reach the target when it is late. Must be in `[0, 0.3]` (so that time keeps its
    /// order); 0 turns it off. Default: 0.0 (off: on LASA, 0.1 lowered the mean endpoint
    /// error but lengthened its tail, and a variant that also changed the final speed was
    /// worse).
    pub time_warp: f64,
    /// Feed the time fraction `t / (T - 1)` to the GRU. Default: true.
    pub time_input: bool,
}

impl Default for TrajectoryMdnConfig {
    fn default() -> Self {
        TrajectoryMdnConfig {
            num_shapes: 30,
            embedding_dim: 16,
            hidden_size: 128,
            gru: GruConfig {
                num_layers: 2,
                dropout: 0.0,
                bidirectional: false,
            },
            num_components: 8,
            length: 50,
            position_scale: 1.0,
            step_scale: 1.0,
            offset_noise: 0.4,
            time_warp: 0.0,
            time_input: true,
        }
    }
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Evaluation: no augmentation, no dropout.
    Eval,
    /// Training under autograd.
    Train,
    /// Training through the GRU's hand-written backward passes.
    Taped,
}

/// A conditional GRU mixture-density trajectory generator; see the [module docs](self).
///
/// Variables (under the model's path): `embedding.weight [num_shapes, emb]`, `gru.*`,
/// `head.weight [6K, hidden]`, `head.bias [6K]`, `start.weight [6K, emb]`,
/// `start.bias [6K]`. Initialisation follows PyTorch's modules.
#[derive(Debug)]
pub struct TrajectoryMdn {
    embedding: Embedding,
    gru: Gru,
    head: Linear,
    start: Linear,
    config: TrajectoryMdnConfig,
}

impl TrajectoryMdn {
    /// The configuration the model was built with.
    pub fn config(&self) -> &TrajectoryMdnConfig {
        &self.config
    }

    /// The device the model's variables live on.
    pub fn device(&self) -> Device {
        self.embedding.weight.device()
    }

    /// Fails unless `shapes` is int64 `[B]` with ids in `0..num_shapes` and `points` is
    /// float `[B, T, 2]` with `T >= 2`.
    fn check(&self, shapes: &Tensor, points: &Tensor) -> Result<(i64, i64)> {
        let size = points.size();
        let (b, t) = match size.as_slice() {
            [b, t, 2] if *t >= 2 && points.f_kind()? == Kind::Float => (*b, *t),
            _ => {
                return Err(Error::Shape {
                    what: "trajectory points",
                    expected: "float [batch, time >= 2, 2]".into(),
                    got: size,
                });
            }
        };
        if shapes.size() != [b] || shapes.f_kind()? != Kind::Int64 {
            return Err(Error::Shape {
                what: "trajectory shape ids",
                expected: format!("int64 [{b}]"),
                got: shapes.size(),
            });
        }
        if b > 0 {
            let min = shapes.f_min()?.f_int64_value(&[])?;
            let max = shapes.f_max()?.f_int64_value(&[])?;
            if min < 0 || max >= self.config.num_shapes {
                return Err(Error::Shape {
                    what: "trajectory shape ids",
                    expected: format!(
                        "ids in 0..{} (num_shapes), found {}",
                        self.config.num_shapes,
                        if min < 0 { min } else { max }
                    ),
                    got: shapes.size(),
                });
            }
        }
        Ok((b, t))
    }

    /// The GRU inputs `[B, S, 5 + emb]` for the points `[B, S, 2]` (data units) whose
    /// previous displacements are `prev` `[B, S, 2]`, at time indices `first..first + S`.
    fn step_inputs(
        &self,
        emb: &Tensor,
        points: &Tensor,
        prev: &Tensor,
        first: i64,
        total: i64,
    ) -> Result<Tensor> {
        let (b, s) = match points.size().as_slice() {
            [b, s, _] => (*b, *s),
            _ => {
                return Err(Error::Shape {
                    what: "trajectory points",
                    expected: "[batch, time, 2]".into(),
                    got: points.size(),
                });
            }
        };
        let device = points.device();
        let denom = (total - 1).max(1) as f64;
        let tau = Tensor::f_arange_start(first, first + s, (Kind::Float, device))?
            .f_div_scalar(denom)?
            .f_view([1, s, 1])?
            .f_expand([b, s, 1], false)?;
        let emb = emb
            .f_unsqueeze(1)?
            .f_expand([b, s, self.config.embedding_dim], false)?;
        let mut parts = vec![
            points.f_div_scalar(self.config.position_scale)?,
            prev.f_div_scalar(self.config.step_scale)?,
        ];
        if self.config.time_input {
            parts.push(tau);
        }
        parts.push(emb);
        Ok(Tensor::f_cat(&parts, 2)?)
    }

    /// The raw start mixtures `[B, 6K]` for the shape ids `shapes` `[B]` (over the first
    /// point divided by `position_scale`).
    pub fn start_params(&self, shapes: &Tensor) -> Result<Tensor> {
        self.start.forward(&self.embedding.forward(shapes)?)
    }

    /// The mean negative log-likelihood per point of the trajectories `points` `[B, T, 2]`
    /// (data units, float) of shapes `shapes` `[B]`: the start term plus the `T - 1` step
    /// terms, divided by `T`, averaged over the batch. It is measured in the network's
    /// normalised units (positions over `position_scale`, steps over `step_scale`).
    ///
    /// With `train`, the step terms read the randomly re-timed and shifted trajectories of
    /// [`TrajectoryMdnConfig::time_warp`] and [`TrajectoryMdnConfig::offset_noise`]; the start
    /// term always reads the given first points.
    pub fn nll(&self, shapes: &Tensor, points: &Tensor, train: bool) -> Result<Tensor> {
        let pass = if train { Pass::Train } else { Pass::Eval };
        Ok(self.nll_with(shapes, points, pass)?.0)
    }

    /// [`TrajectoryMdn::nll`] in training mode through the GRU's hand-written backward passes
    /// ([`Gru::forward`] in [`GruMode::Taped`]): the loss, and the tapes that back-propagate
    /// it ([`GruTapes::backward_after`]). Same loss and gradients as `nll(.., true)` without
    /// dropout (tested).
    pub fn nll_taped(&self, shapes: &Tensor, points: &Tensor) -> Result<(Tensor, GruTapes)> {
        self.nll_with(shapes, points, Pass::Taped)
    }

    fn nll_with(&self, shapes: &Tensor, points: &Tensor, pass: Pass) -> Result<(Tensor, GruTapes)> {
        let train = pass != Pass::Eval;
        let (b, t) = self.check(shapes, points)?;
        let original = points;
        let shifted;
        let points = if train && (self.config.offset_noise > 0.0 || self.config.time_warp > 0.0) {
            shifted = self.augment(points, b, t)?;
            &shifted
        } else {
            points
        };
        let k = self.config.num_components;
        let (steps, tapes) = self.forward_unchecked(shapes, points, pass)?;
        let targets = points
            .f_narrow(1, 1, t - 1)?
            .f_sub(&points.f_narrow(1, 0, t - 1)?)?
            .f_div_scalar(self.config.step_scale)?;
        let step_nll = mixture_nll(&steps, &targets, k)?.f_sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Float,
        )?;
        let first = original
            .f_select(1, 0)?
            .f_div_scalar(self.config.position_scale)?;
        let start_nll = mixture_nll(&self.start_params(shapes)?, &first, k)?;
        let loss = step_nll
            .f_add(&start_nll)?
            .f_div_scalar(t as f64)?
            .f_mean(Kind::Float)?;
        Ok((loss, tapes))
    }

    /// The training augmentation: `points` re-timed (see [`TrajectoryMdnConfig::time_warp`]),
    /// then shifted by an offset fading to zero ([`TrajectoryMdnConfig::offset_noise`]).
    /// Draws, in this order, `rand [B, 1]` (the warps) and `randn [B, 1, 2]` (the offsets).
    fn augment(&self, points: &Tensor, b: i64, t: i64) -> Result<Tensor> {
        let device = points.device();
        let tau = Tensor::f_linspace(0.0, 1.0, t, (Kind::Float, device))?.f_view([1, t])?;
        // phi(tau) = tau + 16 alpha tau^2 (1 - tau)^2, alpha ~ U(-w, w).
        let alpha = Tensor::f_rand([b, 1], (Kind::Float, device))?
            .f_mul_scalar(2.0)?
            .f_sub_scalar(1.0)?
            .f_mul_scalar(16.0 * self.config.time_warp)?;
        let bump = tau.f_mul(&tau.f_neg()?.f_add_scalar(1.0)?)?.f_square()?;
        let position = tau
            .f_add(&alpha.f_mul(&bump)?)?
            .f_mul_scalar((t - 1) as f64)?
            .f_clamp(0.0, (t - 1) as f64)?; // [B, T], fractional point index
        let lo = position.f_floor()?.f_clamp(0.0, (t - 2).max(0) as f64)?;
        let weight = position.f_sub(&lo)?.f_unsqueeze(2)?;
        let lo = lo
            .f_to_kind(Kind::Int64)?
            .f_unsqueeze(2)?
            .f_expand([b, t, 2], false)?;
        let hi = lo.f_add_scalar(1)?.f_clamp_max(t - 1)?;
        let a = points.f_gather(1, &lo, false)?;
        let c = points.f_gather(1, &hi, false)?;
        let warped = a.f_add(&c.f_sub(&a)?.f_mul(&weight)?)?;
        let offsets = Tensor::f_randn([b, 1, 2], (Kind::Float, device))?
            .f_mul_scalar(self.config.offset_noise * self.config.position_scale)?;
        let fade = Tensor::f_linspace(1.0, 0.0, t, (Kind::Float, device))?.f_view([1, t, 1])?;
        Ok(warped.f_add(&offsets.f_mul(&fade)?)?)
    }

    /// The mixture parameters of every step; [`Pass::Taped`] runs the GRU in
    /// [`GruMode::Taped`].
    fn forward_unchecked(
        &self,
        shapes: &Tensor,
        points: &Tensor,
        pass: Pass,
    ) -> Result<(Tensor, GruTapes)> {
        let (b, t) = match points.size().as_slice() {
            [b, t, _] => (*b, *t),
            _ => {
                return Err(Error::Shape {
                    what: "trajectory points",
                    expected: "[batch, time, 2]".into(),
                    got: points.size(),
                });
            }
        };
        let emb = self.embedding.forward(shapes)?;
        let inputs = points.f_narrow(1, 0, t - 1)?;
        // d_0 = 0, then d_t = p_t - p_{t-1}.
        let prev = Tensor::f_cat(
            &[
                Tensor::f_zeros([b, 1, 2], (Kind::Float, points.device()))?,
                points
                    .f_narrow(1, 1, t - 2)?
                    .f_sub(&points.f_narrow(1, 0, t - 2)?)?,
            ],
            1,
        )?;
        let xs = self.step_inputs(&emb, &inputs, &prev, 0, t)?;
        let mode = match pass {
            Pass::Taped => GruMode::Taped,
            Pass::Train => GruMode::Train,
            Pass::Eval => GruMode::Eval,
        };
        let gru = self.gru.forward(&xs, None, mode)?;
        Ok((self.head.forward(&gru.outputs)?, gru.tapes))
    }
}

impl Module for TrajectoryMdn {
    type Config = TrajectoryMdnConfig;
    /// Shape ids `[B]` (int64) and trajectories `[B, T, 2]` (float, data units). The output
    /// is the raw step mixtures `[B, T - 1, 6K]`: row `t` is the density of
    /// `(p_{t+1} - p_t) / step_scale` given the points up to `p_t`.
    type Input<'a> = (&'a Tensor, &'a Tensor);

    fn init(vs: &nn::Path<'_>, config: &Self::Config) -> Result<Self> {
        ensure_config(config.num_shapes >= 1, "num_shapes", || {
            format!("must be at least 1, got {}", config.num_shapes)
        })?;
        ensure_config(config.num_components >= 1, "num_components", || {
            format!("must be at least 1, got {}", config.num_components)
        })?;
        ensure_config(config.length >= 2, "length", || {
            format!("must be at least 2, got {}", config.length)
        })?;
        ensure_config(
            config.offset_noise.is_finite() && config.offset_noise >= 0.0,
            "offset_noise",
            || format!("must be finite and >= 0, got {}", config.offset_noise),
        )?;
        ensure_config((0.0..=0.3).contains(&config.time_warp), "time_warp", || {
            format!("must be in [0, 0.3], got {}", config.time_warp)
        })?;
        for (field, v) in [
            ("position_scale", config.position_scale),
            ("step_scale", config.step_scale),
        ] {
            ensure_config(v.is_finite() && v > 0.0, field, || {
                format!("must be finite and > 0, got {v}")
            })?;
        }
        ensure_config(!config.gru.bidirectional, "gru.bidirectional", || {
            "must be false: each step may only read the points before it".into()
        })?;
        let embedding = Embedding::new(
            &(vs / "embedding"),
            config.num_shapes,
            config.embedding_dim,
            None,
        )?;
        let gru = Gru::new(
            &(vs / "gru"),
            STEP_FEATURES - i64::from(!config.time_input) + config.embedding_dim,
            config.hidden_size,
            &config.gru,
        )?;
        let outputs = 6 * config.num_components;
        let head = Linear::new(&(vs / "head"), config.hidden_size, outputs)?;
        let start = Linear::new(&(vs / "start"), config.embedding_dim, outputs)?;
        Ok(TrajectoryMdn {
            embedding,
            gru,
            head,
            start,
            config: config.clone(),
        })
    }

    fn forward_t(&self, (shapes, points): Self::Input<'_>, train: bool) -> Result<Tensor> {
        self.check(shapes, points)?;
        let pass = if train { Pass::Train } else { Pass::Eval };
        Ok(self.forward_unchecked(shapes, points, pass)?.0)
    }
}

//! The adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs"), with
//! the semantics of PyTorch's `nn.AdaptiveLogSoftmaxWithLoss` (`head_bias=False`).
//!
//! The classes, ordered by frequency (most frequent first), are cut at `cutoffs` into a
//! shortlist `0..cutoffs[0]` and tail clusters `cutoffs[i]..cutoffs[i+1]` (the last one ending
//! at the class count). The head scores the shortlist and one entry per cluster; cluster `i`
//! scores its own classes from a projection of the input to `floor(in / div_value^(i+1))`
//! features. `log p(class)` is the head's log-probability for a shortlist class, and the head's
//! log-probability of the cluster plus the class's log-probability within it otherwise.
//!
//! Training ([`AdaptiveSoftmax::nll`]) evaluates each cluster only on the rows whose target
//! falls in it; [`AdaptiveSoftmax::log_prob`] gives every class's log-probability.
//!
//! ```
//! use gen_models::adaptive_softmax::{AdaptiveSoftmax, AdaptiveSoftmaxConfig};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let config = AdaptiveSoftmaxConfig { cutoffs: vec![4, 10], ..Default::default() };
//! let asm = AdaptiveSoftmax::new(&vs.root(), 16, 30, &config)?;
//! let input = Tensor::randn([5, 16], (Kind::Float, Device::Cpu));
//! let target = Tensor::from_slice(&[0i64, 3, 7, 12, 29]);
//! let nll = asm.nll(&input, &target)?; // [5]: -log p(target) per row
//! let log_prob = asm.log_prob(&input)?; // [5, 30]
//! let picked = log_prob.gather(1, &target.unsqueeze(1), false).squeeze_dim(1);
//! assert!((nll + picked).abs().max().double_value(&[]) < 1e-5);
//! # Ok::<(), gen_models::Error>(())
//! ```

use crate::error::ensure_config;
use crate::layers::{autocast_kind_for, cast, uncast};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// Configuration of an [`AdaptiveSoftmax`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveSoftmaxConfig {
    /// Where the shortlist ends and each tail cluster begins: strictly increasing, each in
    /// `1..n_classes`. Class ids should be ordered by frequency. Default: empty, which
    /// [`AdaptiveSoftmax::new`] rejects: it must be set.
    pub cutoffs: Vec<i64>,
    /// Tail cluster `i` projects its input to `floor(in / div_value^(i+1))` features (at least
    /// one). Default: 4.0 (PyTorch's).
    pub div_value: f64,
}

impl Default for AdaptiveSoftmaxConfig {
    fn default() -> Self {
        AdaptiveSoftmaxConfig {
            cutoffs: Vec::new(),
            div_value: 4.0,
        }
    }
}

/// An adaptive softmax output layer: features `[N, in]` to log-probabilities over `n_classes`.
///
/// Variables (PyTorch's names under the layer's path): `head.weight [shortlist + clusters,
/// in]`, and per cluster `i` `tail.{i}.0.weight [hsz_i, in]` and `tail.{i}.1.weight [osz_i,
/// hsz_i]`; no biases. Each is initialised `U(±1/sqrt(fan_in))`, as `nn.Linear`.
#[derive(Debug)]
pub struct AdaptiveSoftmax {
    head: Tensor,
    /// Per cluster: the projection and the output layer.
    tail: Vec<(Tensor, Tensor)>,
    /// The configured cutoffs followed by `n_classes`.
    bounds: Vec<i64>,
    in_features: i64,
}

impl AdaptiveSoftmax {
    /// Creates the layer's variables under `vs`. Errors ([`Error::Config`]) name
    /// `adaptive.cutoffs` or `adaptive.div_value`.
    pub fn new(
        vs: &nn::Path<'_>,
        in_features: i64,
        n_classes: i64,
        config: &AdaptiveSoftmaxConfig,
    ) -> Result<Self> {
        ensure_config(in_features > 0 && n_classes > 1, "adaptive", || {
            format!("needs in_features > 0 and n_classes > 1, got {in_features} and {n_classes}")
        })?;
        let cutoffs = &config.cutoffs;
        ensure_config(!cutoffs.is_empty(), "adaptive.cutoffs", || {
            "is empty: give at least one cutoff (where the shortlist ends)".into()
        })?;
        ensure_config(
            cutoffs.windows(2).all(|w| matches!(w, [a, b] if a < b))
                && cutoffs.iter().all(|&c| 0 < c && c < n_classes),
            "adaptive.cutoffs",
            || {
                format!(
                    "must be strictly increasing and each in 1..{n_classes} (the vocabulary \
                     size), got {cutoffs:?}"
                )
            },
        )?;
        let div = config.div_value;
        let hidden_sizes: Vec<i64> = (1..=cutoffs.len())
            .map(|i| (in_features as f64 / div.powi(i as i32)).floor() as i64)
            .collect();
        ensure_config(
            div.is_finite() && div > 0.0 && hidden_sizes.iter().all(|&h| h >= 1),
            "adaptive.div_value",
            || {
                format!(
                    "must be finite and > 0 and leave every tail cluster at least one feature \
                     (floor({in_features} / {div}^(i+1)) >= 1), got sizes {hidden_sizes:?}"
                )
            },
        )?;
        let mut bounds = cutoffs.clone();
        bounds.push(n_classes);
        let uniform = |path: &nn::Path<'_>, out: i64, fan_in: i64| -> Result<Tensor> {
            let bound = 1.0 / (fan_in as f64).sqrt();
            Ok(path.f_uniform("weight", &[out, fan_in], -bound, bound)?)
        };
        let shortlist = cutoffs.first().copied().unwrap_or(0);
        let head = uniform(
            &(vs / "head"),
            shortlist + cutoffs.len() as i64,
            in_features,
        )?;
        let tail_path = vs / "tail";
        let mut tail = Vec::with_capacity(cutoffs.len());
        for (i, (&hsz, pair)) in hidden_sizes.iter().zip(bounds.windows(2)).enumerate() {
            let [low, high] = pair else { continue };
            let cluster = &tail_path / i;
            let proj = uniform(&(&cluster / 0), hsz, in_features)?;
            let out = uniform(&(&cluster / 1), high - low, hsz)?;
            tail.push((proj, out));
        }
        Ok(AdaptiveSoftmax {
            head,
            tail,
            bounds,
            in_features,
        })
    }

    /// The number of classes.
    pub fn n_classes(&self) -> i64 {
        self.bounds.last().copied().unwrap_or(0)
    }

    /// The size of the shortlist (the first cutoff).
    pub fn shortlist_size(&self) -> i64 {
        self.bounds.first().copied().unwrap_or(0)
    }

    /// The negative log-likelihood of each row's `target` (int64 `[N]`, each in
    /// `0..n_classes`) given `input` `[N, in]`: `[N]`, differentiable. PyTorch's `forward`
    /// returns its negation as `output` and its mean as `loss`.
    pub fn nll(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        self.check_target(input, target)?;
        self.nll_with_head(input, target, &self.head_log_prob(input)?)
    }

    /// [`AdaptiveSoftmax::nll`] and [`AdaptiveSoftmax::predict`] together, sharing the head.
    pub fn nll_and_predict(&self, input: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor)> {
        self.check_target(input, target)?;
        let head = self.head_log_prob(input)?;
        let nll = self.nll_with_head(input, target, &head)?;
        let predicted =
            tch::no_grad(|| self.predict_with_head(&input.f_detach()?, &head.f_detach()?))?;
        Ok((nll, predicted))
    }

    /// The log-probability of every class, `[N, n_classes]`, from `input` `[N, in]`
    /// (PyTorch's `log_prob`).
    pub fn log_prob(&self, input: &Tensor) -> Result<Tensor> {
        self.check_input(input)?;
        self.full_log_prob(input, &self.head_log_prob(input)?)
    }

    /// The most likely class of each row, `[N]` int64, equal to the argmax of
    /// [`AdaptiveSoftmax::log_prob`] (PyTorch's `predict`): only the rows whose head argmax is
    /// a cluster compute the tail. No gradient.
    pub fn predict(&self, input: &Tensor) -> Result<Tensor> {
        self.check_input(input)?;
        tch::no_grad(|| self.predict_with_head(input, &self.head_log_prob(input)?))
    }

    /// The same layer reading the same storage, outside autograd.
    pub(crate) fn detached(&self) -> Result<Self> {
        Ok(AdaptiveSoftmax {
            head: self.head.f_detach()?,
            tail: self
                .tail
                .iter()
                .map(|(p, o)| Ok((p.f_detach()?, o.f_detach()?)))
                .collect::<Result<_>>()?,
            bounds: self.bounds.clone(),
            in_features: self.in_features,
        })
    }

    /// The head's log-softmax `[N, shortlist + clusters]`.
    fn head_log_prob(&self, input: &Tensor) -> Result<Tensor> {
        Ok(project(input, &[&self.head])?.f_log_softmax(1, None)?)
    }

    /// Cluster `i`'s log-softmax over its own classes.
    fn cluster_log_prob(&self, i: usize, input: &Tensor) -> Result<Tensor> {
        let Some((proj, out)) = self.tail.get(i) else {
            return Err(Error::Shape {
                what: "adaptive softmax cluster",
                expected: format!("a cluster index below {}", self.tail.len()),
                got: vec![i as i64],
            });
        };
        Ok(project(input, &[proj, out])?.f_log_softmax(1, None)?)
    }

    /// Each cluster `(index, first class, end)`.
    fn clusters(&self) -> impl Iterator<Item = (usize, i64, i64)> + '_ {
        self.bounds
            .windows(2)
            .enumerate()
            .filter_map(|(i, w)| match w {
                [low, high] => Some((i, *low, *high)),
                _ => None,
            })
    }

    fn nll_with_head(&self, input: &Tensor, target: &Tensor, head: &Tensor) -> Result<Tensor> {
        let shortlist = self.shortlist_size();
        // Which head entry each row reads: its class, or its class's cluster.
        let mut head_index = target.shallow_clone();
        let mut within = Tensor::f_zeros(target.size(), (head.f_kind()?, head.device()))?;
        for (i, low, high) in self.clusters() {
            let in_cluster = target.f_ge(low)?.f_logical_and(&target.f_lt(high)?)?;
            let rows = in_cluster.f_nonzero()?.f_view([-1])?;
            if rows.size1()? == 0 {
                continue;
            }
            let relative = target.f_index_select(0, &rows)?.f_sub_scalar(low)?;
            let picked = self
                .cluster_log_prob(i, &input.f_index_select(0, &rows)?)?
                .f_gather(1, &relative.f_unsqueeze(1)?, false)?
                .f_view([-1])?;
            within = within.f_index_copy(0, &rows, &picked)?;
            head_index = head_index.f_index_fill(0, &rows, shortlist + i as i64)?;
        }
        let from_head = head
            .f_gather(1, &head_index.f_unsqueeze(1)?, false)?
            .f_view([-1])?;
        Ok(from_head.f_add(&within)?.f_neg()?)
    }

    fn full_log_prob(&self, input: &Tensor, head: &Tensor) -> Result<Tensor> {
        let shortlist = self.shortlist_size();
        let mut parts = vec![head.f_narrow(1, 0, shortlist)?];
        for (i, _, _) in self.clusters() {
            let cluster = head.f_narrow(1, shortlist + i as i64, 1)?;
            parts.push(self.cluster_log_prob(i, input)?.f_add(&cluster)?);
        }
        Ok(Tensor::f_cat(&parts, 1)?)
    }

    /// A class in a cluster can beat the head's best shortlist class only when the head's
    /// argmax is that cluster, so only those rows need the full log-probabilities.
    fn predict_with_head(&self, input: &Tensor, head: &Tensor) -> Result<Tensor> {
        let best = head.f_argmax(1, false)?;
        let rows = best
            .f_ge(self.shortlist_size())?
            .f_nonzero()?
            .f_view([-1])?;
        if rows.size1()? == 0 {
            return Ok(best);
        }
        let full = self.full_log_prob(
            &input.f_index_select(0, &rows)?,
            &head.f_index_select(0, &rows)?,
        )?;
        Ok(best.f_index_copy(0, &rows, &full.f_argmax(1, false)?)?)
    }

    fn check_input(&self, input: &Tensor) -> Result<()> {
        let size = input.size();
        let kind = input.f_kind()?;
        if size.len() != 2 || size.get(1) != Some(&self.in_features) || !input.is_floating_point() {
            return Err(Error::Shape {
                what: "adaptive softmax input",
                expected: format!("float [N, {}] (got kind {kind:?})", self.in_features),
                got: size,
            });
        }
        Ok(())
    }

    fn check_target(&self, input: &Tensor, target: &Tensor) -> Result<()> {
        self.check_input(input)?;
        let n = self.n_classes();
        let size = target.size();
        let rows = input.size().first().copied().unwrap_or(0);
        if target.f_kind()? != Kind::Int64 || size != [rows] {
            return Err(Error::Shape {
                what: "adaptive softmax target",
                expected: format!("int64 [{rows}] (one class per input row)"),
                got: size,
            });
        }
        let outside = target.f_lt(0)?.f_logical_or(&target.f_ge(n)?)?;
        if outside.f_any()?.f_int64_value(&[])? != 0 {
            let bad = target.f_masked_select(&outside)?.f_int64_value(&[0])?;
            return Err(Error::Shape {
                what: "adaptive softmax target",
                expected: format!("classes in 0..{n}, found {bad}"),
                got: size,
            });
        }
        Ok(())
    }
}

/// `xs` through bias-free linear layers `weights` in turn; in a [`gen_core::autocast`] scope's
/// precision, the result in `f32`.
fn project(xs: &Tensor, weights: &[&Tensor]) -> Result<Tensor> {
    let kind = autocast_kind_for(xs);
    let mut out = cast(xs, kind)?;
    for w in weights {
        out = out.f_linear(&cast(w, kind)?, None::<Tensor>)?;
    }
    uncast(out, kind)
}

//! Optimisers written on tensors, so that their state is saved and restored exactly.
//!
//! tch's optimisers cannot export their state, and resume must be exact, so the update rules
//! live here. Each follows PyTorch's `torch.optim` documentation, with PyTorch's defaults;
//! Adam has an option for Keras's epsilon-hat form.

mod adam;
mod grad_sync;

use crate::{Error, Result};
use adam::AdamCoefficients;
pub(crate) use grad_sync::GradSync;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn::VarStore};

/// Adam / AdamW settings (`torch.optim.Adam` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate. Default: 1e-3.
    pub lr: f64,
    /// Decay of the first moment. Default: 0.9.
    pub beta1: f64,
    /// Decay of the second moment. Default: 0.999.
    pub beta2: f64,
    /// Added to the denominator. Default: 1e-8 (Keras uses 1e-7).
    pub eps: f64,
    /// L2 penalty added to the gradient (Adam) or decoupled decay (AdamW). Default: 0.0 for
    /// Adam; AdamW's constructor [`AdamConfig::adamw`] uses PyTorch's 0.01.
    pub weight_decay: f64,
    /// Keras's form: `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)` and
    /// `p -= lr_t * m / (sqrt(v) + eps)`, i.e. epsilon-hat. Default: false (PyTorch's form).
    pub keras_epsilon: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            keras_epsilon: false,
        }
    }
}

impl AdamConfig {
    /// Keras's `Adam()`: lr 1e-3, betas 0.9/0.999, eps 1e-7 in the epsilon-hat form.
    pub fn keras() -> Self {
        AdamConfig {
            eps: 1e-7,
            keras_epsilon: true,
            ..Default::default()
        }
    }

    /// PyTorch's `AdamW()` defaults: weight decay 0.01.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 0.01,
            ..Default::default()
        }
    }
}

/// SGD settings (`torch.optim.SGD` defaults, with Keras's lr 0.01).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate. Default: 0.01.
    pub lr: f64,
    /// Momentum factor. Default: 0.0.
    pub momentum: f64,
    /// Dampening of the momentum. Default: 0.0.
    pub dampening: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0). Default: false.
    pub nesterov: bool,
    /// L2 penalty added to the gradient. Default: 0.0.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// RMSprop settings (`torch.optim.RMSprop` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmsPropConfig {
    /// Learning rate. Default: 0.01.
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average. Default: 0.99.
    pub alpha: f64,
    /// Added to the denominator. Default: 1e-8.
    pub eps: f64,
    /// Momentum factor. Default: 0.0.
    pub momentum: f64,
    /// Normalise by the variance estimate instead of the raw second moment. Default: false.
    pub centered: bool,
    /// L2 penalty added to the gradient. Default: 0.0.
    pub weight_decay: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0,
        }
    }
}

/// Which optimiser, with its settings. In TOML: `name = "adam"` plus the settings' fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Adam with L2 weight decay in the gradient.
    Adam(AdamConfig),
    /// Adam with decoupled weight decay.
    #[serde(rename = "adamw")]
    AdamW(AdamConfig),
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd(SgdConfig),
    /// RMSprop.
    #[serde(rename = "rmsprop")]
    RmsProp(RmsPropConfig),
}

impl Default for OptimizerConfig {
    /// Adam with PyTorch's defaults.
    fn default() -> Self {
        OptimizerConfig::Adam(AdamConfig::default())
    }
}

impl OptimizerConfig {
    /// The configured (base) learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => c.lr,
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::RmsProp(c) => c.lr,
        }
    }

    fn validate(&self) -> Result<()> {
        let lr = self.lr();
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::config(
                "optimizer.lr",
                format!("must be >= 0, got {lr}"),
            ));
        }
        match self {
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => {
                for (name, b) in [("optimizer.beta1", c.beta1), ("optimizer.beta2", c.beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::config(name, format!("must be in [0, 1), got {b}")));
                    }
                }
            }
            OptimizerConfig::Sgd(c) => {
                if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
                    return Err(Error::config(
                        "optimizer.nesterov",
                        "needs momentum > 0 and dampening = 0",
                    ));
                }
            }
            OptimizerConfig::RmsProp(c) => {
                if !(0.0..=1.0).contains(&c.alpha) {
                    return Err(Error::config(
                        "optimizer.alpha",
                        format!("must be in [0, 1], got {}", c.alpha),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Gradient clipping, applied before each update.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", content = "max", rename_all = "snake_case")]
pub enum GradClip {
    /// No clipping (default).
    #[default]
    None,
    /// Scale all gradients together so that their global L2 norm is at most `max`.
    Norm(f64),
    /// Clamp every gradient element to `[-max, max]`.
    Value(f64),
}

/// One parameter and its optimiser state.
#[derive(Debug)]
struct Slot {
    name: String,
    param: Tensor,
    /// Named state tensors (e.g. `exp_avg`), created zero on first use.
    state: Vec<(&'static str, Tensor)>,
    /// The gradient [`Optimizer::backward`] computed, if it reached this parameter.
    grad: Option<Tensor>,
}

impl Slot {
    /// The gradient the next update reads: [`Optimizer::backward`]'s when `own` (none where
    /// it did not reach), else the variable's `.grad` when defined.
    fn gradient(&self, own: bool) -> Option<Tensor> {
        if own {
            self.grad.as_ref().map(Tensor::shallow_clone)
        } else {
            Some(self.param.grad()).filter(Tensor::defined)
        }
    }
}

/// An optimiser over the trainable variables of a `VarStore`, with exportable state.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    slots: Vec<Slot>,
    /// Whether the next update reads the gradients of [`Optimizer::backward`] (else `.grad`).
    own_grads: bool,
    step: i64,
    lr: f64,
    /// Data-parallel training: averages the gradients over the ranks before the update.
    sync: Option<GradSync>,
    /// Whether this step's gradients are averaged already.
    synced: bool,
}

impl Optimizer {
    /// An optimiser over `vs`'s trainable variables, ordered by name.
    pub fn new(vs: &VarStore, config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let state_names: &[&'static str] = match &config {
            OptimizerConfig::Adam(_) | OptimizerConfig::AdamW(_) => &["exp_avg", "exp_avg_sq"],
            OptimizerConfig::Sgd(_) => &["momentum_buffer"],
            OptimizerConfig::RmsProp(_) => &["square_avg", "grad_avg", "momentum_buffer"],
        };
        let mut slots = Vec::with_capacity(vars.len());
        for (name, param) in vars {
            let mut state = Vec::with_capacity(state_names.len());
            for &s in state_names {
                state.push((s, param.f_zeros_like()?.f_detach()?));
            }
            slots.push(Slot {
                name,
                param,
                state,
                grad: None,
            });
        }
        let lr = config.lr();
        Ok(Optimizer {
            config,
            slots,
            own_grads: false,
            step: 0,
            lr,
            sync: None,
            synced: false,
        })
    }

    /// The number of updates made so far.
    pub fn step_count(&self) -> i64 {
        self.step
    }

    /// The learning rate of the next update.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate of the next updates (schedules call this).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Clears every parameter's gradient (`.grad` and any [`Optimizer::backward`] left).
    pub fn zero_grad(&mut self) -> Result<()> {
        self.own_grads = false;
        self.synced = false;
        for slot in &mut self.slots {
            slot.grad = None;
            let mut grad = slot.param.grad();
            if grad.defined() {
                let _ = grad.f_zero_()?;
            }
        }
        Ok(())
    }

    /// Back-propagates the scalar `loss` into this optimiser's parameters only, and keeps
    /// the gradients for the next [`Optimizer::clip`] and [`Optimizer::step`] in place of the
    /// variables' `.grad`: PyTorch's `zero_grad(set_to_none=True)` then `backward()`.
    ///
    /// Unlike `loss.backward()` after [`Optimizer::zero_grad`], it neither fills `.grad` with
    /// zeros nor adds into it, and computes no gradient that no parameter of this optimiser
    /// needs (another network's weights, say). Parameters that do not require a gradient now
    /// (frozen) or that `loss` does not reach get none, and the update skips them. A second
    /// call before the update adds to the first's gradients.
    pub fn backward(&mut self, loss: &Tensor) -> Result<()> {
        let params: Vec<&Tensor> = self
            .slots
            .iter()
            .map(|s| &s.param)
            .filter(|p| p.requires_grad())
            .collect();
        let grads = if params.is_empty() {
            Vec::new()
        } else {
            Tensor::f_run_backward(&[loss], &params, false, false)?
        };
        if !self.own_grads {
            for slot in &mut self.slots {
                slot.grad = None;
            }
            self.own_grads = true;
        }
        self.synced = false;
        let mut grads = grads.into_iter();
        for slot in &mut self.slots {
            if !slot.param.requires_grad() {
                continue;
            }
            let Some(g) = grads.next().filter(Tensor::defined) else {
                continue;
            };
            slot.grad = Some(match slot.grad.take() {
                Some(old) => old.f_add(&g)?,
                None => g,
            });
        }
        Ok(())
    }

    /// Clips the gradients as asked; returns their global L2 norm before clipping (0 for
    /// [`GradClip::None`] and [`GradClip::Value`], which do not compute it).
    pub fn clip(&mut self, clip: GradClip) -> Result<f64> {
        self.sync_gradients()?;
        match clip {
            GradClip::None => Ok(0.0),
            GradClip::Value(max) => {
                let own = self.own_grads;
                tch::no_grad(|| -> Result<()> {
                    for slot in &self.slots {
                        if let Some(mut grad) = slot.gradient(own) {
                            let _ = grad.f_clamp_(-max, max)?;
                        }
                    }
                    Ok(())
                })?;
                Ok(0.0)
            }
            GradClip::Norm(max) => tch::no_grad(|| -> Result<f64> {
                let own = self.own_grads;
                let mut total = 0.0;
                for slot in &self.slots {
                    if let Some(grad) = slot.gradient(own) {
                        total += grad.f_square()?.f_sum(Kind::Double)?.f_double_value(&[])?;
                    }
                }
                let norm = total.sqrt();
                // PyTorch's clip_grad_norm_: scale by max / (norm + 1e-6), only when above 1.
                let scale = max / (norm + 1e-6);
                if scale < 1.0 {
                    for slot in &self.slots {
                        if let Some(mut grad) = slot.gradient(own) {
                            let _ = grad.f_mul_scalar_(scale)?;
                        }
                    }
                }
                Ok(norm)
            }),
        }
    }

    /// Applies one update to every parameter that has a gradient, then drops the gradients
    /// of [`Optimizer::backward`].
    pub fn step(&mut self) -> Result<()> {
        self.sync_gradients()?;
        self.synced = false;
        self.step += 1;
        let t = self.step as f64;
        let lr = self.lr;
        let config = self.config.clone();
        let own = std::mem::take(&mut self.own_grads);
        tch::no_grad(|| -> Result<()> {
            for slot in &mut self.slots {
                let Some(grad) = slot.gradient(own) else {
                    continue;
                };
                slot.grad = None;
                update(&config, lr, t, &mut slot.param, &grad, &mut slot.state)?;
            }
            Ok(())
        })
    }

    /// Makes every later update average its gradients over the ranks of `sync` first (DDP's
    /// all-reduce after backward), before clipping; `None` trains alone again.
    pub(crate) fn set_grad_sync(&mut self, sync: Option<GradSync>) {
        self.sync = sync;
        self.synced = false;
    }

    /// The parameters, in slot order (what [`GradSync`] plans its buckets for).
    pub(crate) fn params(&self) -> Vec<Tensor> {
        self.slots.iter().map(|s| s.param.shallow_clone()).collect()
    }

    /// Data-parallel training: replaces this step's gradients by their means over the ranks,
    /// once per step (the first of [`Optimizer::clip`] and [`Optimizer::step`] does it). A
    /// parameter that no rank's loss reached stays without a gradient, so the update skips
    /// it as it would in one process. Without a [`GradSync`], nothing.
    fn sync_gradients(&mut self) -> Result<()> {
        let Some(sync) = self.sync.as_mut() else {
            return Ok(());
        };
        if self.synced {
            return Ok(());
        }
        let own = self.own_grads;
        let grads: Vec<Option<Tensor>> = self.slots.iter().map(|s| s.gradient(own)).collect();
        let params: Vec<&Tensor> = self.slots.iter().map(|s| &s.param).collect();
        let averaged = sync.average(&params, grads)?;
        for (slot, grad) in self.slots.iter_mut().zip(averaged) {
            slot.grad = grad;
        }
        self.own_grads = true;
        self.synced = true;
        Ok(())
    }

    /// The optimiser's state as named tensors (`<prefix><param>.<state>` and `<prefix>step`),
    /// for checkpoints.
    pub fn state_tensors(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(format!("{prefix}step"), Tensor::f_from_slice(&[self.step])?)];
        for slot in &self.slots {
            for (s, t) in &slot.state {
                out.push((format!("{prefix}{}.{s}", slot.name), t.shallow_clone()));
            }
        }
        Ok(out)
    }

    /// Restores the state saved by [`Optimizer::state_tensors`] with the same `prefix`.
    /// Every expected entry must be present with the right shape.
    pub fn load_state_tensors(
        &mut self,
        prefix: &str,
        tensors: &std::collections::HashMap<String, Tensor>,
        path: &std::path::Path,
    ) -> Result<()> {
        let missing = |field: String| Error::Checkpoint {
            path: path.to_path_buf(),
            field,
            reason: "missing".into(),
        };
        let step_name = format!("{prefix}step");
        let step = tensors
            .get(&step_name)
            .ok_or_else(|| missing(step_name.clone()))?;
        self.step = step.f_int64_value(&[0])?;
        for slot in &mut self.slots {
            for (s, t) in &mut slot.state {
                let name = format!("{prefix}{}.{s}", slot.name);
                let saved = tensors.get(&name).ok_or_else(|| missing(name.clone()))?;
                if saved.size() != t.size() {
                    return Err(Error::Checkpoint {
                        path: path.to_path_buf(),
                        field: name,
                        reason: format!("shape {:?}, expected {:?}", saved.size(), t.size()),
                    });
                }
                tch::no_grad(|| t.f_copy_(saved))?;
            }
        }
        Ok(())
    }
}

fn state<'a>(state: &'a mut [(&'static str, Tensor)], name: &str) -> Result<&'a mut Tensor> {
    state
        .iter_mut()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::config("optimizer", format!("internal state `{name}` missing")))
}

/// One update of `param` by `grad`, following `torch.optim`'s documented algorithms.
fn update(
    config: &OptimizerConfig,
    lr: f64,
    t: f64,
    param: &mut Tensor,
    grad: &Tensor,
    slot_state: &mut [(&'static str, Tensor)],
) -> Result<()> {
    match config {
        OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => {
            let decoupled = matches!(config, OptimizerConfig::AdamW(_));
            let [("exp_avg", m), ("exp_avg_sq", v)] = slot_state else {
                return Err(Error::config("optimizer", "Adam's state is not [m, v]"));
            };
            adam::update(
                &AdamCoefficients::new(c, decoupled, lr, t),
                param,
                grad,
                m,
                v,
            )?;
        }
        OptimizerConfig::Sgd(c) => {
            let mut grad = if c.weight_decay != 0.0 {
                grad.f_add(&param.f_mul_scalar(c.weight_decay)?)?
            } else {
                grad.shallow_clone()
            };
            if c.momentum != 0.0 {
                let buf = state(slot_state, "momentum_buffer")?;
                if t <= 1.0 {
                    buf.f_copy_(&grad)?;
                } else {
                    let _ = buf
                        .f_mul_scalar_(c.momentum)?
                        .f_add_(&grad.f_mul_scalar(1.0 - c.dampening)?)?;
                }
                grad = if c.nesterov {
                    grad.f_add(&buf.f_mul_scalar(c.momentum)?)?
                } else {
                    buf.shallow_clone()
                };
            }
            let _ = param.f_sub_(&grad.f_mul_scalar(lr)?)?;
        }
        OptimizerConfig::RmsProp(c) => {
            let grad = if c.weight_decay != 0.0 {
                grad.f_add(&param.f_mul_scalar(c.weight_decay)?)?
            } else {
                grad.shallow_clone()
            };
            let sq = state(slot_state, "square_avg")?;
            let _ = sq
                .f_mul_scalar_(c.alpha)?
                .f_add_(&grad.f_square()?.f_mul_scalar(1.0 - c.alpha)?)?;
            let sq = sq.shallow_clone();
            let avg = if c.centered {
                let ga = state(slot_state, "grad_avg")?;
                let _ = ga
                    .f_mul_scalar_(c.alpha)?
                    .f_add_(&grad.f_mul_scalar(1.0 - c.alpha)?)?;
                sq.f_sub(&ga.f_square()?)?.f_sqrt()?.f_add_scalar(c.eps)?
            } else {
                sq.f_sqrt()?.f_add_scalar(c.eps)?
            };
            if c.momentum > 0.0 {
                let buf = state(slot_state, "momentum_buffer")?;
                let _ = buf.f_mul_scalar_(c.momentum)?.f_add_(&grad.f_div(&avg)?)?;
                let _ = param.f_sub_(&buf.f_mul_scalar(lr)?)?;
            } else {
                let _ = param.f_sub_(&grad.f_div(&avg)?.f_mul_scalar(lr)?)?;
            }
        }
    }
    Ok(())
}

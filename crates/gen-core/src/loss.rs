//! GAN and classification losses.
//!
//! Every function returns a differentiable scalar (0-dim) [`Tensor`] in the dtype of its input,
//! averaged over the batch unless its name says `sum`. GAN losses take discriminator **logits**
//! `l`, with `D = sigmoid(l)`, and use `log D = log_sigmoid(l) = -softplus(-l)` and
//! `log(1 - D) = log_sigmoid(-l) = -softplus(l)`, so logits of any size give finite values and
//! gradients (no `log(0)`). Empty batches are rejected ([`Error::InvalidArgument`]) rather than
//! averaged into NaN, except by the cross-entropy functions, which follow PyTorch.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// Fails unless `t` holds floating-point values and at least one element.
fn check_float(op: &'static str, name: &'static str, t: &Tensor) -> Result<()> {
    if !t.f_is_floating_point()? {
        return Err(Error::KindMismatch {
            op,
            expected: format!("a floating-point kind for `{name}`"),
            got: t.f_kind()?,
        });
    }
    if t.numel() == 0 {
        return Err(Error::invalid(
            name,
            format!("{op}: empty tensor {:?}", t.size()),
        ));
    }
    Ok(())
}

/// Fails unless `a` and `b` have the same shape.
fn check_same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.size() != b.size() {
        return Err(Error::shape(
            op,
            format!("the input's shape {:?}", a.size()),
            b.size(),
        ));
    }
    Ok(())
}

/// `E[log D(l)]` with `log D = log_sigmoid(l)`.
fn mean_log_d(logits: &Tensor) -> Result<Tensor> {
    Ok(logits.f_log_sigmoid()?.f_mean(None)?)
}

/// `E[log(1 - D(l))]` with `log(1 - D) = log_sigmoid(-l)`.
fn mean_log_one_minus_d(logits: &Tensor) -> Result<Tensor> {
    Ok(logits.f_neg()?.f_log_sigmoid()?.f_mean(None)?)
}

/// The GAN value function of Goodfellow et al. (2014), exactly as written:
///
/// `V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]`, with `D = sigmoid(logit)`,
///
/// computed as `mean(log_sigmoid(d_real_logits)) + mean(log_sigmoid(-d_fake_logits))`.
/// D maximises it, G minimises it. `V <= 0`; at the optimum `D = 1/2` everywhere it equals
/// `-2 ln 2`. `d_real_logits` and `d_fake_logits` may have different (non-empty) shapes.
pub fn gan_value(d_real_logits: &Tensor, d_fake_logits: &Tensor) -> Result<Tensor> {
    check_float("gan_value", "d_real_logits", d_real_logits)?;
    check_float("gan_value", "d_fake_logits", d_fake_logits)?;
    Ok(mean_log_d(d_real_logits)?.f_add(&mean_log_one_minus_d(d_fake_logits)?)?)
}

/// Options of [`discriminator_loss`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorLossOptions {
    /// Target for real samples, in `[0, 1]`. Default `1.0` (the plain loss `-V`). `0.9` is the
    /// one-sided label smoothing of Salimans et al. (2016); fake targets always stay 0.
    pub real_target: f64,
}

impl Default for DiscriminatorLossOptions {
    fn default() -> Self {
        Self { real_target: 1.0 }
    }
}

impl DiscriminatorLossOptions {
    /// One-sided label smoothing: real target 0.9, fake target 0.
    pub fn one_sided_label_smoothing() -> Self {
        Self { real_target: 0.9 }
    }
}

/// The discriminator's loss, minimised by D.
///
/// With `t = options.real_target` (default 1):
///
/// `L_D = -E_x[t log D(x) + (1 - t) log(1 - D(x))] - E_z[log(1 - D(G(z)))]`,
///
/// i.e. binary cross-entropy with targets `t` for real and 0 for fake samples. For `t = 1` this
/// is exactly `-gan_value(d_real_logits, d_fake_logits)`.
pub fn discriminator_loss(
    d_real_logits: &Tensor,
    d_fake_logits: &Tensor,
    options: &DiscriminatorLossOptions,
) -> Result<Tensor> {
    let t = options.real_target;
    if !(0.0..=1.0).contains(&t) {
        return Err(Error::invalid(
            "real_target",
            format!("{t} is outside [0, 1]"),
        ));
    }
    if t == 1.0 {
        return Ok(gan_value(d_real_logits, d_fake_logits)?.f_neg()?);
    }
    check_float("discriminator_loss", "d_real_logits", d_real_logits)?;
    check_float("discriminator_loss", "d_fake_logits", d_fake_logits)?;
    let real_term = d_real_logits
        .f_log_sigmoid()?
        .f_mul_scalar(t)?
        .f_add(
            &d_real_logits
                .f_neg()?
                .f_log_sigmoid()?
                .f_mul_scalar(1.0 - t)?,
        )?
        .f_mean(None)?;
    Ok(real_term
        .f_add(&mean_log_one_minus_d(d_fake_logits)?)?
        .f_neg()?)
}

/// The generator's minimax loss, minimised by G: `L_G = E_z[log(1 - D(G(z)))]`.
///
/// Computed as `mean(log_sigmoid(-d_fake_logits))`; always `<= 0`. Saturates (tiny gradients)
/// when D confidently rejects fakes; prefer [`generator_loss_non_saturating`] for training.
pub fn generator_loss_minimax(d_fake_logits: &Tensor) -> Result<Tensor> {
    check_float("generator_loss_minimax", "d_fake_logits", d_fake_logits)?;
    mean_log_one_minus_d(d_fake_logits)
}

/// The generator's non-saturating loss: `L_G = -E_z[log D(G(z))]`.
///
/// Computed as `-mean(log_sigmoid(d_fake_logits))`; always `>= 0`.
pub fn generator_loss_non_saturating(d_fake_logits: &Tensor) -> Result<Tensor> {
    check_float(
        "generator_loss_non_saturating",
        "d_fake_logits",
        d_fake_logits,
    )?;
    Ok(mean_log_d(d_fake_logits)?.f_neg()?)
}

/// The Wasserstein critic loss (Arjovsky et al. 2017), minimised by the critic:
/// `L_D = E_z[D(G(z))] - E_x[D(x)]`, where `D` is the raw critic output (no sigmoid).
pub fn wasserstein_critic_loss(d_real: &Tensor, d_fake: &Tensor) -> Result<Tensor> {
    check_float("wasserstein_critic_loss", "d_real", d_real)?;
    check_float("wasserstein_critic_loss", "d_fake", d_fake)?;
    Ok(d_fake.f_mean(None)?.f_sub(&d_real.f_mean(None)?)?)
}

/// The Wasserstein generator loss: `L_G = -E_z[D(G(z))]` (raw critic output).
pub fn wasserstein_generator_loss(d_fake: &Tensor) -> Result<Tensor> {
    check_float("wasserstein_generator_loss", "d_fake", d_fake)?;
    Ok(d_fake.f_mean(None)?.f_neg()?)
}

/// Draws one interpolation coefficient `eps ~ U[0, 1)` per sample of `real` (shape `[B]`, same
/// dtype and device), from libtorch's generator (see [`crate::seed_everything`]).
pub fn interpolation_epsilon(real: &Tensor) -> Result<Tensor> {
    check_float("interpolation_epsilon", "real", real)?;
    let batch = real.size().first().copied().unwrap_or(1);
    Ok(Tensor::f_rand([batch], (real.f_kind()?, real.device()))?)
}

/// The WGAN-GP gradient penalty (Gulrajani et al. 2017):
///
/// `GP = E[(||grad_xhat D(xhat)||_2 - 1)^2]`, `xhat = eps * x + (1 - eps) * G(z)`,
///
/// with one `eps` per sample (`epsilon` holds `B` values: shape `[B]` or `[B, 1, ..., 1]`;
/// see [`interpolation_epsilon`]) and the norm taken over all non-batch dimensions.
/// `real` and `fake` must have the same shape `[B, ...]`; both are detached, so the penalty
/// only trains the critic. `critic` maps `xhat` to its output (`[B]` or `[B, 1]`); it must treat
/// samples independently (no batch norm). The input gradient is taken with
/// `create_graph = true`, so the result can be back-propagated into the critic's parameters.
/// The usual weight `lambda = 10` is left to the caller.
pub fn gradient_penalty<F>(
    critic: F,
    real: &Tensor,
    fake: &Tensor,
    epsilon: &Tensor,
) -> Result<Tensor>
where
    F: FnOnce(&Tensor) -> Result<Tensor>,
{
    const OP: &str = "gradient_penalty";
    check_float(OP, "real", real)?;
    check_float(OP, "fake", fake)?;
    check_same_shape(OP, real, fake)?;
    let size = real.size();
    if size.len() < 2 {
        return Err(Error::shape(OP, "real/fake of rank >= 2 ([B, ...])", size));
    }
    let batch = size.first().copied().unwrap_or(0);
    if i64::try_from(epsilon.numel()).ok() != Some(batch) {
        return Err(Error::shape(
            OP,
            format!("epsilon with {batch} values ([B] or [B, 1, ..., 1])"),
            epsilon.size(),
        ));
    }
    let mut eps_shape = vec![1i64; size.len()];
    if let Some(first) = eps_shape.first_mut() {
        *first = batch;
    }
    let kind = real.f_kind()?;
    let eps = epsilon.f_detach()?.f_to_kind(kind)?.f_reshape(eps_shape)?;
    let one_minus_eps = eps.f_neg()?.f_add_scalar(1.0)?;
    let xhat = eps
        .f_mul(&real.f_detach()?)?
        .f_add(&one_minus_eps.f_mul(&fake.f_detach()?)?)?
        .f_detach()?
        .f_set_requires_grad(true)?;
    let out = critic(&xhat)?;
    let grads = Tensor::f_run_backward(&[out.f_sum(None)?], &[&xhat], true, true)?;
    let grad = grads
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid("critic", "autograd returned no gradient for xhat"))?;
    let norms = grad
        .f_reshape([batch, -1])?
        .f_norm_scalaropt_dim(2.0, [1i64], false)?;
    Ok(norms.f_sub_scalar(1.0)?.f_square()?.f_mean(None)?)
}

/// The hinge discriminator loss (Lim & Ye 2017; Miyato et al. 2018), on raw outputs:
/// `L_D = E_x[relu(1 - D(x))] + E_z[relu(1 + D(G(z)))]`.
pub fn hinge_discriminator_loss(d_real: &Tensor, d_fake: &Tensor) -> Result<Tensor> {
    check_float("hinge_discriminator_loss", "d_real", d_real)?;
    check_float("hinge_discriminator_loss", "d_fake", d_fake)?;
    let real = d_real.f_neg()?.f_add_scalar(1.0)?.f_relu()?.f_mean(None)?;
    let fake = d_fake.f_add_scalar(1.0)?.f_relu()?.f_mean(None)?;
    Ok(real.f_add(&fake)?)
}

/// The hinge generator loss: `L_G = -E_z[D(G(z))]` (same as [`wasserstein_generator_loss`]).
pub fn hinge_generator_loss(d_fake: &Tensor) -> Result<Tensor> {
    check_float("hinge_generator_loss", "d_fake", d_fake)?;
    Ok(d_fake.f_mean(None)?.f_neg()?)
}

/// Binary cross-entropy on probabilities `p` in `[0, 1]` with targets `y` (same shape):
///
/// `mean(-(y * max(log p, -100) + (1 - y) * max(log(1 - p), -100)))`,
///
/// the clamp of `torch.nn.functional.binary_cross_entropy`, so `p = 0` or `1` gives a finite
/// loss (100 per wrong element). Probabilities outside `[0, 1]` are a [`Error::Torch`] error.
/// Prefer [`bce_with_logits`] when logits are available.
pub fn bce(probabilities: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_float("bce", "probabilities", probabilities)?;
    check_same_shape("bce", probabilities, targets)?;
    let targets = targets.f_to_kind(probabilities.f_kind()?)?;
    Ok(probabilities.f_binary_cross_entropy::<Tensor>(&targets, None, Reduction::Mean)?)
}

/// Binary cross-entropy on logits `l` with targets `y` (same shape), numerically stable:
///
/// `mean(-(y * log_sigmoid(l) + (1 - y) * log_sigmoid(-l)))`
/// `= mean(max(l, 0) - l * y + log(1 + exp(-|l|)))`
/// (`torch.nn.functional.binary_cross_entropy_with_logits`).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_float("bce_with_logits", "logits", logits)?;
    check_same_shape("bce_with_logits", logits, targets)?;
    let targets = targets.f_to_kind(logits.f_kind()?)?;
    Ok(logits.f_binary_cross_entropy_with_logits::<Tensor>(
        &targets,
        None,
        None,
        Reduction::Mean,
    )?)
}

/// Options of [`cross_entropy`] and [`cross_entropy_sum`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrossEntropyOptions {
    /// Target value to skip (padding): such positions add nothing to the loss and are not
    /// counted. Default `None` (every target must be a class index).
    pub ignore_index: Option<i64>,
    /// PyTorch's `label_smoothing`, in `[0, 1]`. Default `0.0`.
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        Self {
            ignore_index: None,
            label_smoothing: 0.0,
        }
    }
}

/// Validates shapes, dtypes and target values; returns `(logits [N, C], targets [N])`.
fn prepare_cross_entropy(
    op: &'static str,
    logits: &Tensor,
    targets: &Tensor,
    options: &CrossEntropyOptions,
) -> Result<(Tensor, Tensor)> {
    let ls = options.label_smoothing;
    if !(0.0..=1.0).contains(&ls) {
        return Err(Error::invalid(
            "label_smoothing",
            format!("{ls} is outside [0, 1]"),
        ));
    }
    if !logits.f_is_floating_point()? {
        return Err(Error::KindMismatch {
            op,
            expected: "a floating-point kind for `logits`".into(),
            got: logits.f_kind()?,
        });
    }
    let target_kind = targets.f_kind()?;
    if target_kind != Kind::Int64 {
        return Err(Error::KindMismatch {
            op,
            expected: "Int64 class indices for `targets`".into(),
            got: target_kind,
        });
    }
    let size = logits.size();
    let Some((&classes, lead)) = size.split_last() else {
        return Err(Error::shape(op, "logits of rank >= 1 ([..., C])", size));
    };
    if classes < 1 {
        return Err(Error::shape(op, "logits with at least one class", size));
    }
    if targets.size() != lead {
        return Err(Error::shape(
            op,
            format!("targets of shape {lead:?} (logits {size:?} without the class dim)"),
            targets.size(),
        ));
    }
    let flat_logits = logits.f_reshape([-1, classes])?;
    let flat_targets = targets.f_reshape([-1])?;
    let counted = match options.ignore_index {
        Some(ignore) => flat_targets.f_masked_select(&flat_targets.f_ne(ignore)?)?,
        None => flat_targets.shallow_clone(),
    };
    if counted.numel() > 0 {
        let min = counted.f_min()?.f_int64_value(&[])?;
        let max = counted.f_max()?.f_int64_value(&[])?;
        if min < 0 || max >= classes {
            let bad = if min < 0 { min } else { max };
            return Err(Error::invalid(
                "targets",
                format!("{op}: class index {bad} is outside [0, {classes})"),
            ));
        }
    }
    Ok((flat_logits, flat_targets))
}

/// Runs libtorch's cross-entropy on prepared inputs.
fn cross_entropy_reduced(
    logits: &Tensor,
    targets: &Tensor,
    options: &CrossEntropyOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Every target was checked to be a class index or the ignore index, so when there is no
    // ignore index any negative sentinel is never hit.
    let ignore = options.ignore_index.unwrap_or(-100);
    Ok(logits.f_cross_entropy_loss::<Tensor>(
        targets,
        None,
        reduction,
        ignore,
        options.label_smoothing,
    )?)
}

/// Cross-entropy between `logits` of shape `[..., C]` (class dimension **last**) and Int64 class
/// indices `targets` of shape `[...]`, averaged over the targets that are not
/// `options.ignore_index`, with PyTorch's semantics
/// (`torch.nn.functional.cross_entropy(logits.reshape(-1, C), targets.reshape(-1), ...)`):
///
/// `loss_i = (1 - s) * (-log softmax(l_i)[y_i]) + s * mean_c(-log softmax(l_i)[c])`,
/// `loss = sum_{i not ignored} loss_i / #{i not ignored}`,
///
/// with `s = options.label_smoothing`. When every target is ignored the mean is NaN (0/0), as
/// in PyTorch; use [`cross_entropy_sum`] for exact token-weighted metrics. A target outside
/// `[0, C)` (other than the ignore index) is an [`Error::InvalidArgument`]. For 2-D logits this is
/// PyTorch's layout; for 3-D and above PyTorch puts the classes in dim 1 instead.
pub fn cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    options: &CrossEntropyOptions,
) -> Result<Tensor> {
    let (logits, targets) = prepare_cross_entropy("cross_entropy", logits, targets, options)?;
    cross_entropy_reduced(&logits, &targets, options, Reduction::Mean)
}

/// Like [`cross_entropy`] but summed instead of averaged: returns `(sum_{i not ignored} loss_i,
/// #{i not ignored})`, so that losses of batches with different amounts of padding combine
/// exactly (see [`crate::NllAccumulator`]). With `label_smoothing = 0` the sum is the summed
/// negative log-likelihood.
pub fn cross_entropy_sum(
    logits: &Tensor,
    targets: &Tensor,
    options: &CrossEntropyOptions,
) -> Result<(Tensor, u64)> {
    let (logits, targets) = prepare_cross_entropy("cross_entropy_sum", logits, targets, options)?;
    let count = match options.ignore_index {
        Some(ignore) => targets
            .f_ne(ignore)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?,
        None => targets.size().first().copied().unwrap_or(0),
    };
    let count = u64::try_from(count)
        .map_err(|_| Error::invalid("targets", format!("negative count {count}")))?;
    let sum = cross_entropy_reduced(&logits, &targets, options, Reduction::Sum)?;
    Ok((sum, count))
}

//! Adam's update of one parameter, two ways behind one entry ([`update`]): one fused pass
//! over the memory of contiguous f32 CPU tensors, else libtorch kernels (any device and kind).
//! A test holds the fused pass to the kernel path.

use super::AdamConfig;
use crate::Result;
use tch::{Device, Kind, Tensor};

/// One Adam update of `param` by `grad` with the moments `m` and `v`: the fused pass when it
/// applies, else the kernels.
pub(super) fn update(
    coef: &AdamCoefficients,
    param: &mut Tensor,
    grad: &Tensor,
    m: &mut Tensor,
    v: &mut Tensor,
) -> Result<()> {
    if !adam_fused(coef, param, grad, m, v)? {
        adam_kernels(coef, param, grad, m, v)?;
    }
    Ok(())
}

/// Adam's per-step scalars, shared by the kernel path and the fused pass (which reads them
/// in f32).
#[derive(Debug, Clone, Copy)]
pub(super) struct AdamCoefficients {
    /// L2 penalty added to the gradient (Adam), else 0.
    l2: f64,
    /// Factor on the parameter before the update (AdamW: `1 - lr wd`), else 1.
    decay: f64,
    /// lerp weights of the moments: `1 - beta1`, `1 - beta2`.
    w1: f64,
    w2: f64,
    /// `denom = sqrt(v) / div + eps`, `p -= step * m / denom`.
    div: f64,
    eps: f64,
    step: f64,
}

impl AdamCoefficients {
    pub(super) fn new(c: &AdamConfig, decoupled: bool, lr: f64, t: f64) -> Self {
        let bc1 = 1.0 - c.beta1.powf(t);
        let bc2 = 1.0 - c.beta2.powf(t);
        // Keras: lr_t = lr sqrt(bc2) / bc1, denom = sqrt(v) + eps. PyTorch: step = lr / bc1,
        // denom = sqrt(v) / sqrt(bc2) + eps.
        let (div, step) = if c.keras_epsilon {
            (1.0, lr * bc2.sqrt() / bc1)
        } else {
            (bc2.sqrt(), lr / bc1)
        };
        AdamCoefficients {
            l2: if decoupled { 0.0 } else { c.weight_decay },
            decay: if decoupled {
                1.0 - lr * c.weight_decay
            } else {
                1.0
            },
            w1: 1.0 - c.beta1,
            w2: 1.0 - c.beta2,
            div,
            eps: c.eps,
            step,
        }
    }
}

/// Adam through libtorch kernels (any device and kind): seven kernels and one temporary, m
/// and v by lerp, one denominator scaled in place, one addcdiv. Same algebra as the
/// documented updates (tested to 1e-12 in f64).
fn adam_kernels(
    c: &AdamCoefficients,
    param: &mut Tensor,
    grad: &Tensor,
    m: &mut Tensor,
    v: &mut Tensor,
) -> Result<()> {
    let grad = if c.l2 != 0.0 {
        grad.f_add(&param.f_mul_scalar(c.l2)?)?
    } else {
        grad.shallow_clone()
    };
    if c.decay != 1.0 {
        let _ = param.f_mul_scalar_(c.decay)?;
    }
    // m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2
    let _ = m.f_lerp_(&grad, c.w1)?;
    let _ = v.f_lerp_(&grad.f_square()?, c.w2)?;
    // p -= step * m / denom, as p += m / (denom / -step).
    let mut denom = v.f_sqrt()?;
    if c.div != 1.0 {
        let _ = denom.f_div_scalar_(c.div)?;
    }
    let _ = denom.f_add_scalar_(c.eps)?.f_div_scalar_(-c.step)?;
    let _ = param.f_addcdiv_(m, &denom)?;
    Ok(())
}

/// Adam as ONE pass over the memory of `param`, `grad`, `m` and `v` when all four are
/// contiguous f32 CPU tensors of one size (else `false`, and nothing is touched): seven
/// libtorch kernels read and wrote about three times as much memory. Large tensors are split
/// over libtorch's threads ([`gen_core::team`]).
fn adam_fused(
    coef: &AdamCoefficients,
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
) -> Result<bool> {
    let cpu_f32 =
        |t: &Tensor| t.kind() == Kind::Float && t.device() == Device::Cpu && t.is_contiguous();
    let n = param.numel();
    if ![param, grad, m, v]
        .into_iter()
        .all(|t| cpu_f32(t) && t.numel() == n)
    {
        return Ok(false);
    }
    let flat = |t: &Tensor| t.f_view([1, -1]);
    let (p, g, m, v) = (flat(param)?, flat(grad)?, flat(m)?, flat(v)?);
    // SAFETY: the optimiser's step runs on this thread, between training steps; no other code
    // reads or writes these tensors until it returns (the team's threads below get disjoint
    // chunks of the borrowed slices).
    #[allow(unsafe_code)]
    let ([g], [mut p, mut m, mut v]) = unsafe { gen_core::slices::views([&g], [&p, &m, &v]) }?;
    let (g, p, m, v) = (g.row(0), p.data_mut(), m.data_mut(), v.data_mut());
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1);
    const MIN_CHUNK: usize = 1 << 16;
    let chunk = n.div_ceil(threads).max(MIN_CHUNK);
    if threads == 1 || n <= MIN_CHUNK {
        adam_pass(coef, g, p, m, v);
    } else {
        let parts: Vec<_> = g
            .chunks(chunk)
            .zip(p.chunks_mut(chunk))
            .zip(m.chunks_mut(chunk))
            .zip(v.chunks_mut(chunk))
            .collect();
        gen_core::team::map(parts, |(((g, p), m), v)| adam_pass(coef, g, p, m, v));
    }
    Ok(true)
}

/// libtorch's `lerp(a, b, w)` for a scalar weight: `a + w (b - a)` below 0.5, else
/// `b - (b - a)(1 - w)`.
#[inline(always)]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

#[multiversion::multiversion(targets = "simd")]
fn adam_pass(c: &AdamCoefficients, g: &[f32], p: &mut [f32], m: &mut [f32], v: &mut [f32]) {
    let (l2, decay, w1, w2) = (c.l2 as f32, c.decay as f32, c.w1 as f32, c.w2 as f32);
    let (scale, eps, step) = ((1.0 / c.div) as f32, c.eps as f32, c.step as f32);
    for (((g, p), m), v) in g
        .iter()
        .zip(p.iter_mut())
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        let g = *g + l2 * *p;
        *m = lerp(*m, g, w1);
        *v = lerp(*v, g * g, w2);
        *p = *p * decay - step * *m / (v.sqrt() * scale + eps);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The fused pass against the kernel path, in f32, for both epsilon forms, L2 and
    /// decoupled decay, over several steps, on a size that is split across threads and a small
    /// one that is not.
    #[test]
    fn fused_adam_equals_the_kernel_path() {
        let o = (Kind::Float, Device::Cpu);
        for n in [37i64, 200_003] {
            for (keras_epsilon, decoupled, weight_decay) in [
                (false, false, 0.0),
                (true, false, 0.0),
                (false, false, 0.05),
                (false, true, 0.05),
            ] {
                let c = AdamConfig {
                    lr: 0.01,
                    weight_decay,
                    keras_epsilon,
                    ..AdamConfig::default()
                };
                let start = Tensor::randn([n], o);
                let (p1, mut p2) = (start.copy(), start.copy());
                let zeros = || Tensor::zeros([n], o);
                let (m1, v1, mut m2, mut v2) = (zeros(), zeros(), zeros(), zeros());
                for step in 1..=4 {
                    let grad = Tensor::randn([n], o) * 0.1;
                    let t = f64::from(step);
                    let coef = AdamCoefficients::new(&c, decoupled, c.lr, t);
                    assert!(adam_fused(&coef, &p1, &grad, &m1, &v1).unwrap());
                    adam_kernels(&coef, &mut p2, &grad, &mut m2, &mut v2).unwrap();
                }
                for (a, b) in [(&p1, &p2), (&m1, &m2), (&v1, &v2)] {
                    let diff = (a - b).abs().max().double_value(&[]);
                    let scale = b.abs().max().double_value(&[]).max(1e-3);
                    assert!(
                        diff <= 1e-6 * scale,
                        "n {n}, {keras_epsilon} {decoupled}: {diff}"
                    );
                }
            }
        }
        // Other kinds and layouts are left to the kernel path.
        let d = Tensor::zeros([3], (Kind::Double, Device::Cpu));
        let coef = AdamCoefficients::new(&AdamConfig::default(), false, 1e-3, 1.0);
        assert!(!adam_fused(&coef, &d, &d, &d, &d).unwrap());
        let f = Tensor::zeros([4, 4], o);
        let t = f.transpose(0, 1);
        assert!(!adam_fused(&coef, &t, &f, &f.copy(), &f.copy()).unwrap());
    }
}

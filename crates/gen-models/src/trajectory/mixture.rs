//! The mixture-density maths of [`super::TrajectoryMdn`]: the negative log-density of a
//! mixture of bivariate Gaussians ([`mixture_nll`], differentiable), and one mixture read as
//! plain numbers for drawing points ([`Mixture`]).

use crate::sampling::SamplerRng;
use crate::{Error, Result};
use rand::Rng;
use tch::{Kind, Tensor};

/// Log standard deviations are clamped to `[LOG_STD_MIN, LOG_STD_MAX]`.
pub const LOG_STD_MIN: f64 = -7.0;
/// See [`LOG_STD_MIN`].
pub const LOG_STD_MAX: f64 = 5.0;
/// Correlations are `tanh` of the raw output, clamped to `±RHO_MAX`.
pub const RHO_MAX: f64 = 0.999;

/// The mixture parameters of one prediction, as plain numbers (for sampling and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    /// Normalised weights (sum 1).
    pub weights: Vec<f64>,
    /// Means `(x, y)`.
    pub means: Vec<[f64; 2]>,
    /// Standard deviations `(x, y)`.
    pub stds: Vec<[f64; 2]>,
    /// Correlations in `[-RHO_MAX, RHO_MAX]`.
    pub rhos: Vec<f64>,
}

impl Mixture {
    /// Reads the `6 K` raw outputs `raw` (layout of the [module docs](super)) with sampling
    /// bias `bias` (0 for the model's density). Errors when `raw.len()` is not `6 K`.
    pub fn from_raw(raw: &[f64], k: usize, bias: f64) -> Result<Self> {
        if k == 0 || raw.len() != 6 * k {
            return Err(Error::Shape {
                what: "mixture parameters",
                expected: format!("6 x {k} values"),
                got: vec![raw.len() as i64],
            });
        }
        let part = |i: usize| raw.get(i * k..(i + 1) * k).unwrap_or_default();
        let logits: Vec<f64> = part(0).iter().map(|l| l * (1.0 + bias)).collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let std = |l: f64| (l.clamp(LOG_STD_MIN, LOG_STD_MAX) - bias).exp();
        Ok(Mixture {
            weights: exps.iter().map(|e| e / total).collect(),
            means: part(1).iter().zip(part(2)).map(|(x, y)| [*x, *y]).collect(),
            stds: part(3)
                .iter()
                .zip(part(4))
                .map(|(x, y)| [std(*x), std(*y)])
                .collect(),
            rhos: part(5)
                .iter()
                .map(|r| r.tanh().clamp(-RHO_MAX, RHO_MAX))
                .collect(),
        })
    }

    /// The mixture's mean, `sum_k w_k mu_k`.
    pub fn mean(&self) -> [f64; 2] {
        self.weights
            .iter()
            .zip(&self.means)
            .fold([0.0, 0.0], |[x, y], (w, [mx, my])| [x + w * mx, y + w * my])
    }

    /// [`Mixture::draw`] pulled toward [`Mixture::mean`]: `m + spread (d - m)`
    /// ([`super::TrajectorySampling::spread`]). Uses `rng` exactly as `draw` does, whatever `spread`.
    pub fn draw_spread(&self, rng: &mut SamplerRng, spread: f64) -> [f64; 2] {
        let d = self.draw(rng);
        if spread == 1.0 {
            return d;
        }
        let m = self.mean();
        [m[0] + spread * (d[0] - m[0]), m[1] + spread * (d[1] - m[1])]
    }

    /// Draws one point: a component by its weight, then a correlated Gaussian, using three
    /// uniforms from `rng` (one for the component, two for Box-Muller).
    pub fn draw(&self, rng: &mut SamplerRng) -> [f64; 2] {
        let u: f64 = rng.r#gen();
        let mut mass = 0.0;
        let mut k = self.weights.len().saturating_sub(1);
        for (i, w) in self.weights.iter().enumerate() {
            mass += w;
            if u < mass {
                k = i;
                break;
            }
        }
        // Box-Muller: two independent standard normals from two uniforms in (0, 1].
        let u1: f64 = 1.0 - rng.r#gen::<f64>();
        let u2: f64 = rng.r#gen();
        let r = (-2.0 * u1.ln()).sqrt();
        let (z1, z2) = (
            r * (std::f64::consts::TAU * u2).cos(),
            r * (std::f64::consts::TAU * u2).sin(),
        );
        let mean = self.means.get(k).copied().unwrap_or([0.0, 0.0]);
        let [s1, s2] = self.stds.get(k).copied().unwrap_or([1.0, 1.0]);
        let rho = self.rhos.get(k).copied().unwrap_or(0.0);
        [
            mean[0] + s1 * z1,
            mean[1] + s2 * (rho * z1 + (1.0 - rho * rho).sqrt() * z2),
        ]
    }
}

/// The negative log-density of `targets` `[..., 2]` under the mixtures `raw` `[..., 6K]`,
/// per position `[...]`:
///
/// ```text
/// pi = softmax(raw[0:K]),  mu = (raw[K:2K], raw[2K:3K]),
/// sigma = exp(clamp(raw[3K:5K], LOG_STD_MIN, LOG_STD_MAX)),  rho = clamp(tanh(raw[5K:6K]), ±RHO_MAX)
/// z_i = (x_i - mu_i) / sigma_i,  Z = z_1^2 + z_2^2 - 2 rho z_1 z_2
/// log N = -ln(2 pi) - ln sigma_1 - ln sigma_2 - ln(1 - rho^2) / 2 - Z / (2 (1 - rho^2))
/// NLL = -logsumexp_k(ln pi_k + log N_k)
/// ```
pub fn mixture_nll(raw: &Tensor, targets: &Tensor, k: i64) -> Result<Tensor> {
    let size = raw.size();
    let tsize = targets.size();
    let fits = match (size.split_last(), tsize.split_last()) {
        (Some((p, lead)), Some((2, tlead))) => *p == 6 * k && lead == tlead,
        _ => false,
    };
    if k < 1 || !fits {
        return Err(Error::Shape {
            what: "mixture parameters and targets",
            expected: format!(
                "[..., {}] and [..., 2] with the same leading dimensions (targets {tsize:?})",
                6 * k
            ),
            got: size,
        });
    }
    let part = |i: i64| raw.f_narrow(-1, i * k, k);
    let log_pi = part(0)?.f_log_softmax(-1, None::<Kind>)?;
    let x1 = targets.f_narrow(-1, 0, 1)?;
    let x2 = targets.f_narrow(-1, 1, 1)?;
    let ls1 = part(3)?.f_clamp(LOG_STD_MIN, LOG_STD_MAX)?;
    let ls2 = part(4)?.f_clamp(LOG_STD_MIN, LOG_STD_MAX)?;
    let rho = part(5)?.f_tanh()?.f_clamp(-RHO_MAX, RHO_MAX)?;
    let z1 = x1.f_sub(&part(1)?)?.f_mul(&ls1.f_neg()?.f_exp()?)?;
    let z2 = x2.f_sub(&part(2)?)?.f_mul(&ls2.f_neg()?.f_exp()?)?;
    let one_minus = rho.f_square()?.f_neg()?.f_add_scalar(1.0)?;
    let zz = z1
        .f_square()?
        .f_add(&z2.f_square()?)?
        .f_sub(&rho.f_mul(&z1)?.f_mul(&z2)?.f_mul_scalar(2.0)?)?;
    let log_n = ls1
        .f_add(&ls2)?
        .f_add(&one_minus.f_log()?.f_mul_scalar(0.5)?)?
        .f_add(&zz.f_div(&one_minus.f_mul_scalar(2.0)?)?)?
        .f_add_scalar((2.0 * std::f64::consts::PI).ln())?
        .f_neg()?;
    Ok(log_pi.f_add(&log_n)?.f_logsumexp([-1], false)?.f_neg()?)
}

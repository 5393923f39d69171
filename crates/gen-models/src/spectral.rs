//! Spectral normalisation (Miyato et al. 2018): a layer's weight divided by an estimate of its
//! largest singular value, so that the layer is about 1-Lipschitz.
//!
//! It follows PyTorch's `torch.nn.utils.parametrizations.spectral_norm` (`dim = 0`,
//! `eps = 1e-12`): the weight is read as the matrix `W = weight.view(out, -1)`, vectors `u`
//! `[out]` and `v` `[in]` are kept as non-trainable variables (so they are checkpointed and a
//! resumed run repeats the uninterrupted one), 15 power iterations run at creation, and each
//! forward pass in training mode runs one more,
//!
//! `v <- normalize(W^T u)`, `u <- normalize(W v)`,
//!
//! before `sigma = u^T W v` (gradient through `W` only) divides the weight. In evaluation mode
//! `u` and `v` are used as they are.

use crate::Result;
use tch::{Tensor, nn};

/// PyTorch's `eps` for the normalisation of `u` and `v`.
const EPS: f64 = 1e-12;
/// Power iterations at creation, as PyTorch's parametrization does.
const INIT_ITERATIONS: usize = 15;

/// The power-iteration state of one weight.
#[derive(Debug)]
pub struct SpectralNorm {
    /// Left singular vector estimate `[out]` (non-trainable).
    pub u: Tensor,
    /// Right singular vector estimate `[in * k * k]` (non-trainable).
    pub v: Tensor,
}

/// `t / max(|t|, eps)`, as `torch.nn.functional.normalize`.
fn normalize(t: &Tensor) -> Result<Tensor> {
    let norm = t.f_norm()?.f_clamp_min(EPS)?;
    Ok(t.f_div(&norm)?)
}

fn matrix(weight: &Tensor) -> Result<Tensor> {
    let out = weight.size().first().copied().unwrap_or(0);
    Ok(weight.f_reshape([out, -1])?)
}

impl SpectralNorm {
    /// Creates `u` and `v` under `vs` for `weight` (`[out, ...]`): both drawn from `N(0, 1)`
    /// and normalised, then 15 power iterations.
    pub fn new(vs: &nn::Path<'_>, weight: &Tensor) -> Result<Self> {
        let w = matrix(weight)?;
        let (rows, cols) = match w.size().as_slice() {
            [r, c] => (*r, *c),
            _ => (0, 0),
        };
        let u = vs.f_zeros_no_train("sn_u", &[rows])?;
        let v = vs.f_zeros_no_train("sn_v", &[cols])?;
        tch::no_grad(|| -> Result<()> {
            u.shallow_clone().f_copy_(&normalize(&u.f_randn_like()?)?)?;
            v.shallow_clone().f_copy_(&normalize(&v.f_randn_like()?)?)?;
            Ok(())
        })?;
        let sn = SpectralNorm { u, v };
        for _ in 0..INIT_ITERATIONS {
            sn.power_iteration(&w)?;
        }
        Ok(sn)
    }

    /// One power iteration on the matrix `w`, in place on `u` and `v`.
    fn power_iteration(&self, w: &Tensor) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            let w = w.f_detach()?;
            let v = normalize(&w.f_transpose(0, 1)?.f_mv(&self.u)?)?;
            self.v.shallow_clone().f_copy_(&v)?;
            let u = normalize(&w.f_mv(&self.v)?)?;
            self.u.shallow_clone().f_copy_(&u)?;
            Ok(())
        })
    }

    /// The estimate of the largest singular value of `weight`, `u^T W v`, differentiable in
    /// `weight`; in training mode after one power iteration.
    pub fn sigma(&self, weight: &Tensor, train: bool) -> Result<Tensor> {
        let w = matrix(weight)?;
        if train {
            self.power_iteration(&w)?;
        }
        // Copies, as PyTorch's `spectral_norm` takes: autograd saves them for the backward pass,
        // and the next forward's power iteration updates `u` and `v` in place.
        let (u, v) = (self.u.f_detach_copy()?, self.v.f_detach_copy()?);
        Ok(u.f_dot(&w.f_mv(&v)?)?)
    }

    /// `weight / sigma` (see [`SpectralNorm::sigma`]).
    pub fn normalise(&self, weight: &Tensor, train: bool) -> Result<Tensor> {
        Ok(weight.f_div(&self.sigma(weight, train)?)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    #![allow(clippy::indexing_slicing)]
    use super::*;
    use tch::nn::VarStore;
    use tch::{Device, Kind};

    fn to_vec(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
    }

    fn unit(x: Vec<f64>) -> Vec<f64> {
        let n = x.iter().map(|a| a * a).sum::<f64>().sqrt();
        x.into_iter().map(|a| a / n).collect()
    }

    /// One training-mode step equals the power iteration written out in f64:
    /// `v = W^T u / |W^T u|`, `u = W v / |W v|`, `sigma = u . W v`.
    #[test]
    fn one_step_is_the_power_iteration_by_hand() {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        // A conv weight [3, 2, 2, 1]: W is 3 x 4.
        let weight = Tensor::randn([3, 2, 2, 1], (Kind::Float, Device::Cpu));
        let sn = SpectralNorm::new(&vs.root(), &weight).unwrap();
        let w = to_vec(&weight);
        let u0 = to_vec(&sn.u);
        let wt_u: Vec<f64> = (0..4)
            .map(|j| (0..3).map(|i| w[i * 4 + j] * u0[i]).sum())
            .collect();
        let v = unit(wt_u);
        let wv: Vec<f64> = (0..3)
            .map(|i| (0..4).map(|j| w[i * 4 + j] * v[j]).sum())
            .collect();
        let u = unit(wv.clone());
        let sigma: f64 = u.iter().zip(&wv).map(|(a, b)| a * b).sum();

        let got = sn.sigma(&weight, true).unwrap().double_value(&[]);
        assert!((got - sigma).abs() < 1e-5, "{got} vs {sigma}");
        for (a, b) in to_vec(&sn.u).iter().zip(&u) {
            assert!((a - b).abs() < 1e-6);
        }
        for (a, b) in to_vec(&sn.v).iter().zip(&v) {
            assert!((a - b).abs() < 1e-6);
        }
        // Evaluation mode leaves u and v as they are.
        let before = sn.u.copy();
        let again = sn.sigma(&weight, false).unwrap().double_value(&[]);
        assert!(sn.u.equal(&before));
        assert!((again - got).abs() < 1e-6);
    }

    /// For a matrix with known singular values (orthogonal rows of lengths 3, 1 and 0.5) the
    /// iteration converges to the largest, 3, and the normalised weight's is 1.
    #[test]
    fn it_converges_to_the_largest_singular_value() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        // Rows 3 e1 + 0 e2, e2 rotated by 45 degrees in (e3, e4), and 0.5 e2.
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let weight = Tensor::from_slice(&[
            3.0f32, 0.0, 0.0, 0.0, //
            0.0, 0.0, s, s, //
            0.0, 0.5, 0.0, 0.0,
        ])
        .view([3, 4, 1, 1]);
        let sn = SpectralNorm::new(&vs.root(), &weight).unwrap();
        let mut sigma = 0.0;
        for _ in 0..20 {
            sigma = sn.sigma(&weight, true).unwrap().double_value(&[]);
        }
        assert!((sigma - 3.0).abs() < 1e-5, "{sigma}");
        // W / 3 has singular values 1, 1/3 and 1/6: its rows are orthogonal, so they are the
        // row lengths.
        let normalised = to_vec(&sn.normalise(&weight, false).unwrap());
        for (row, expected) in [(0usize, 1.0f64), (1, 1.0 / 3.0), (2, 0.5 / 3.0)] {
            let length = normalised[row * 4..row * 4 + 4]
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt();
            assert!((length - expected).abs() < 1e-5, "row {row}: {length}");
        }
        // The gradient of sigma with respect to W is u v^T (here e1 e1^T up to sign).
        let w = weight.detach().set_requires_grad(true);
        sn.sigma(&w, false).unwrap().backward();
        let g = to_vec(&w.grad());
        assert!((g[0].abs() - 1.0).abs() < 1e-5 && g[1..].iter().all(|x| x.abs() < 1e-5));
    }
}

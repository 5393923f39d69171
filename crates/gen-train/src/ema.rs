//! An exponential moving average of a model's variables (Polyak averaging), as GANs sample
//! from: `avg <- d avg + (1 - d) x` after each update of the model.
//!
//! The decay at update `t` (1-based) is `min(decay, (1 + t) / (10 + t))`, TensorFlow's
//! `ExponentialMovingAverage` with `num_updates`: early on the average spans a short window,
//! so the random initialisation does not linger in a short run. The update count is the
//! caller's (e.g. its optimiser's step count), so a resumed run needs no extra state beyond
//! the averaged variables themselves.
//!
//! Every variable is averaged, the non-trainable ones too (batch-norm running statistics),
//! as PyTorch's `AveragedModel(..., use_buffers=True)` does.

use crate::tasks::named_variables;
use crate::{Error, Result};
use tch::Tensor;
use tch::nn::VarStore;

/// The decay at update `t` (1-based): `min(decay, (1 + t) / (10 + t))`.
pub fn ema_decay_at(decay: f64, t: u64) -> f64 {
    let t = t as f64;
    decay.min((1.0 + t) / (10.0 + t))
}

/// The running average of one `VarStore`'s variables, kept in another built from the same
/// model code (the same variable names and shapes).
#[derive(Debug)]
pub struct Ema {
    decay: f64,
    /// `(average, source)` pairs, by name.
    pairs: Vec<(Tensor, Tensor)>,
}

impl Ema {
    /// Pairs `average`'s variables with `source`'s by name and starts the average at
    /// `source`'s current values. `decay` must be in `[0, 1)`.
    pub fn new(source: &VarStore, average: &VarStore, decay: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::config(
                "gan.ema_decay",
                format!("must be in [0, 1), got {decay}"),
            ));
        }
        let src = named_variables(source, "");
        let avg = named_variables(average, "");
        let same = src.len() == avg.len()
            && src
                .iter()
                .zip(&avg)
                .all(|((a, x), (b, y))| a == b && x.size() == y.size());
        if !same {
            return Err(Error::config(
                "gan.ema_decay",
                "the averaged model's variables differ from the trained model's",
            ));
        }
        let pairs: Vec<(Tensor, Tensor)> = avg
            .into_iter()
            .zip(src)
            .map(|((_, a), (_, s))| (a, s))
            .collect();
        for (a, s) in &pairs {
            let mut a = a.shallow_clone();
            tch::no_grad(|| a.f_copy_(s))?;
        }
        Ok(Ema { decay, pairs })
    }

    /// The configured decay (before the warm-up cap).
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// Folds the source's current values into the average as update `t` (1-based).
    pub fn update(&self, t: u64) -> Result<()> {
        let weight = 1.0 - ema_decay_at(self.decay, t);
        tch::no_grad(|| -> Result<()> {
            for (a, s) in &self.pairs {
                // a + w (s - a) = d a + (1 - d) s
                let mut a = a.shallow_clone();
                let _ = a.f_lerp_(s, weight)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tch::{Device, Kind};

    fn store(value: f32) -> (VarStore, Tensor) {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().zeros("w", &[3]);
        let _ = tch::no_grad(|| w.shallow_clone().fill_(f64::from(value)));
        (vs, w)
    }

    #[test]
    fn the_warm_up_caps_the_decay() {
        assert_eq!(ema_decay_at(0.999, 1), 2.0 / 11.0);
        assert_eq!(ema_decay_at(0.999, 90), 91.0 / 100.0);
        assert_eq!(ema_decay_at(0.5, 8), 0.5); // 9/18 = 0.5 exactly
        assert_eq!(ema_decay_at(0.5, 1000), 0.5);
        assert_eq!(ema_decay_at(0.0, 3), 0.0);
    }

    /// Started at `a0` and fed a constant `c` for `T` updates, the average is the closed form
    /// `c + (a0 - c) prod_{t=1..T} d_t`.
    #[test]
    fn a_constant_source_is_approached_geometrically() {
        let (src, w) = store(2.0);
        let (avg_vs, a) = store(0.0);
        let ema = Ema::new(&src, &avg_vs, 0.97).unwrap();
        assert!(a.equal(&w), "the average starts at the source");
        // From here on the source is c = -1.
        let _ = tch::no_grad(|| w.shallow_clone().fill_(-1.0));
        let (a0, c) = (2.0f64, -1.0f64);
        let mut product = 1.0f64;
        for t in 1..=60u64 {
            ema.update(t).unwrap();
            product *= ema_decay_at(0.97, t);
            let expected = c + (a0 - c) * product;
            let got = a.to_kind(Kind::Double);
            let err = (&got - expected).abs().max().double_value(&[]);
            assert!(err < 1e-5, "update {t}: error {err}");
        }
        // The trained variables themselves are untouched.
        assert!(w.equal(&Tensor::full([3], -1.0, (Kind::Float, Device::Cpu))));
    }

    /// With decay 0 the average is the source after every update.
    #[test]
    fn decay_zero_copies_and_mismatched_models_are_rejected() {
        let (src, w) = store(1.0);
        let (avg_vs, a) = store(0.0);
        let ema = Ema::new(&src, &avg_vs, 0.0).unwrap();
        let _ = tch::no_grad(|| w.shallow_clone().fill_(5.0));
        ema.update(1).unwrap();
        assert!(a.equal(&w));

        let other = VarStore::new(Device::Cpu);
        let _ = other.root().zeros("w", &[4]);
        assert!(Ema::new(&src, &other, 0.9).is_err());
        assert!(Ema::new(&src, &avg_vs, 1.0).is_err());
    }
}

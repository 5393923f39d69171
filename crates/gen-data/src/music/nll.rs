//! The metric of polyphonic music models (Boulanger-Lewandowski et al. 2012; Chung et al. 2014):
//! the negative log-likelihood per frame, in nats.
//!
//! A model gives each frame 88 independent probabilities `p_k` that key `k` sounds. The frame's
//! NLL is `sum_k -[x_k ln p_k + (1 - x_k) ln(1 - p_k)]` over the 88 keys, where `x_k` is 1 when
//! the key sounds. The metric is the mean over every frame of every chorale, each frame
//! weighted equally (so a long chorale counts more than a short one). Every frame is scored,
//! the first included: a model that conditions on the previous frame sees a silent frame before
//! the first one.
//!
//! Probabilities are clamped to `[PROB_EPS, 1 - PROB_EPS]` so a confident miss costs
//! `-ln 1e-7 = 16.1` nats rather than infinity; the baselines smooth their counts and never
//! reach the clamp. A model that outputs logits `z` (`p = sigmoid(z)`) should use the exact
//! `softplus(-z)` for a sounding key and `softplus(z)` for a silent one; away from the clamp the
//! two agree.

use super::roll::{KEYS, PianoRoll};
use crate::{Error, Result};
use ndarray::{ArrayView1, ArrayView2};

/// The clamp on probabilities (Keras' `epsilon`).
pub const PROB_EPS: f64 = 1e-7;

/// `-ln P(x)` for a Bernoulli of probability `p` (clamped to `[PROB_EPS, 1 - PROB_EPS]`).
pub fn bernoulli_nll(p: f64, on: bool) -> f64 {
    let p = if p.is_nan() {
        0.5
    } else {
        p.clamp(PROB_EPS, 1.0 - PROB_EPS)
    };
    if on { -p.ln() } else { -(-p).ln_1p() }
}

/// The NLL of one frame: the sum over the 88 keys of [`bernoulli_nll`].
pub fn frame_nll(probs: ArrayView1<'_, f64>, frame: ArrayView1<'_, u8>) -> Result<f64> {
    if probs.len() != KEYS || frame.len() != KEYS {
        return Err(Error::invalid(
            "frame",
            format!(
                "{} probabilities for {} keys, expected {KEYS} of each",
                probs.len(),
                frame.len()
            ),
        ));
    }
    Ok(probs
        .iter()
        .zip(frame)
        .map(|(&p, &x)| bernoulli_nll(p, x == 1))
        .sum())
}

/// The running NLL per frame over any number of rolls: a sum of frame NLLs and a frame count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NllPerFrame {
    /// The sum of the frame NLLs so far, in nats.
    pub total: f64,
    /// The frames so far.
    pub frames: usize,
}

impl NllPerFrame {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `roll` scored by `probs` (`frames x 88`, row `t` the probabilities of frame `t`).
    pub fn add(&mut self, probs: ArrayView2<'_, f64>, roll: &PianoRoll) -> Result<()> {
        if probs.dim() != roll.view().dim() {
            return Err(Error::invalid(
                "probabilities",
                format!(
                    "shape {:?} for a roll of {} frames x {KEYS} keys",
                    probs.dim(),
                    roll.frames()
                ),
            ));
        }
        for (p, x) in probs.rows().into_iter().zip(roll.view().rows()) {
            self.total += frame_nll(p, x)?;
        }
        self.frames += roll.frames();
        Ok(())
    }

    /// Adds a sum of frame NLLs computed elsewhere (e.g. on a batch in libtorch).
    pub fn add_sum(&mut self, total: f64, frames: usize) {
        self.total += total;
        self.frames += frames;
    }

    /// The mean NLL per frame, or `None` before any frame.
    pub fn mean(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.total / self.frames as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn hand_computed_case() {
        // Two frames. Every key has p = 0.5 except key 0 (p = 0.9) and key 1 (p = 0.2).
        // Frame 0: keys 0 and 1 sound. Frame 1: only key 1 sounds.
        //   frame 0 = -ln 0.9 - ln 0.2 + 86 ln 2
        //   frame 1 = -ln 0.1 - ln 0.2 + 86 ln 2
        //   mean    = (-ln 0.9 - ln 0.1 - 2 ln 0.2) / 2 + 86 ln 2
        //           = (0.1053605 + 2.3025851 + 3.2188758) / 2 + 59.6106575 = 62.4240682
        let mut probs = Array2::from_elem((2, KEYS), 0.5);
        for t in 0..2 {
            probs[[t, 0]] = 0.9;
            probs[[t, 1]] = 0.2;
        }
        let roll = PianoRoll::from_cells(2, [(0, 21), (0, 22), (1, 22)]).unwrap();
        let mut nll = NllPerFrame::new();
        nll.add(probs.view(), &roll).unwrap();
        assert_eq!(nll.frames, 2);
        let mean = nll.mean().unwrap();
        assert!((mean - 62.424_068_2).abs() < 1e-6, "{mean}");
        let by_hand = (-(0.9f64.ln()) - 0.1f64.ln() - 2.0 * 0.2f64.ln()) / 2.0
            + 86.0 * std::f64::consts::LN_2;
        assert!((mean - by_hand).abs() < 1e-12);
    }

    #[test]
    fn coin_flip_is_88_ln_2_and_the_clamp_bounds_misses() {
        let roll = PianoRoll::from_cells(3, [(0, 60), (2, 64)]).unwrap();
        let mut nll = NllPerFrame::new();
        nll.add(Array2::from_elem((3, KEYS), 0.5).view(), &roll)
            .unwrap();
        let coin = 88.0 * std::f64::consts::LN_2;
        assert!((nll.mean().unwrap() - coin).abs() < 1e-12);
        assert!((coin - 61.0).abs() < 0.005);
        // A certain miss costs -ln(1e-7), not infinity; a certain hit about 1e-7.
        assert!((bernoulli_nll(0.0, true) - 16.118_095_65).abs() < 1e-6);
        assert!(bernoulli_nll(1.0, true) < 1.1e-7);
        assert!(bernoulli_nll(1.0, false).is_finite());
    }

    #[test]
    fn shapes_must_match() {
        let roll = PianoRoll::silent(2);
        let mut nll = NllPerFrame::new();
        assert!(nll.add(Array2::zeros((3, KEYS)).view(), &roll).is_err());
        assert!(nll.add(Array2::zeros((2, 87)).view(), &roll).is_err());
        assert_eq!(nll.mean(), None);
        nll.add_sum(10.0, 4);
        assert_eq!(nll.mean(), Some(2.5));
    }
}

//! Reference points for the NLL per frame ([`super::nll`]): a coin flip, an independent
//! Bernoulli per key, and a first-order Markov chain per key, the last two fitted on training
//! rolls.
//!
//! Counts are smoothed by Laplace's rule (add one to each outcome): a key never seen sounding
//! in `n` training frames gets `1 / (n + 2)`, never 0, so no test frame costs infinity.

use super::nll::NllPerFrame;
use super::roll::{KEYS, PianoRoll};
use crate::Result;
use ndarray::{Array1, Array2};

/// `88 ln 2` = 60.997 nats: the NLL per frame of p = 0.5 for every key.
pub const COIN_FLIP_NLL: f64 = KEYS as f64 * std::f64::consts::LN_2;

/// An independent Bernoulli per key: how often it sounds in the training frames.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBernoulli {
    /// `P(key sounds)` per key, smoothed.
    pub p: Array1<f64>,
}

impl KeyBernoulli {
    /// Fits on `rolls`: `p_k = (frames where k sounds + 1) / (frames + 2)`.
    pub fn fit<'a>(rolls: impl IntoIterator<Item = &'a PianoRoll>) -> Self {
        let mut on = Array1::<f64>::zeros(KEYS);
        let mut frames = 0usize;
        for roll in rolls {
            for frame in roll.view().rows() {
                on.zip_mut_with(&frame, |c, &x| *c += f64::from(x));
            }
            frames += roll.frames();
        }
        Self {
            p: on.mapv(|c| (c + 1.0) / (frames as f64 + 2.0)),
        }
    }

    /// The probabilities of every frame of `roll` (the same row each time).
    pub fn probabilities(&self, roll: &PianoRoll) -> Array2<f64> {
        let mut probs = Array2::zeros((roll.frames(), KEYS));
        for mut row in probs.rows_mut() {
            row.assign(&self.p);
        }
        probs
    }
}

/// A first-order Markov chain per key: `P(key sounds | it sounded in the previous frame)` and
/// `P(key sounds | it did not)`, with a silent frame before each roll.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMarkov {
    /// `P(sounds | silent before)` per key, smoothed.
    pub after_off: Array1<f64>,
    /// `P(sounds | sounding before)` per key, smoothed.
    pub after_on: Array1<f64>,
}

impl KeyMarkov {
    /// Fits on `rolls`: for each key and previous state `s`, `(transitions s -> on + 1) /
    /// (frames after state s + 2)`; the first frame of a roll follows a silent frame.
    pub fn fit<'a>(rolls: impl IntoIterator<Item = &'a PianoRoll>) -> Self {
        // counts[s][k]: frames after state s; on[s][k]: of those, frames where k sounds.
        let mut counts = [Array1::<f64>::zeros(KEYS), Array1::<f64>::zeros(KEYS)];
        let mut on = [Array1::<f64>::zeros(KEYS), Array1::<f64>::zeros(KEYS)];
        for roll in rolls {
            let mut prev = Array1::<u8>::zeros(KEYS);
            for frame in roll.view().rows() {
                for k in 0..KEYS {
                    let s = usize::from(prev.get(k).copied().unwrap_or(0) == 1);
                    let x = frame.get(k).copied().unwrap_or(0);
                    if let (Some(c), Some(o)) = (
                        counts.get_mut(s).and_then(|a| a.get_mut(k)),
                        on.get_mut(s).and_then(|a| a.get_mut(k)),
                    ) {
                        *c += 1.0;
                        *o += f64::from(x);
                    }
                }
                prev.assign(&frame);
            }
        }
        let [c_off, c_on] = counts;
        let [o_off, o_on] = on;
        Self {
            after_off: (&o_off + 1.0) / (&c_off + 2.0),
            after_on: (&o_on + 1.0) / (&c_on + 2.0),
        }
    }

    /// The probabilities of every frame of `roll`, each given the frame before it (silence
    /// before the first).
    pub fn probabilities(&self, roll: &PianoRoll) -> Array2<f64> {
        let mut probs = Array2::zeros((roll.frames(), KEYS));
        let mut prev = Array1::<u8>::zeros(KEYS);
        for (mut row, frame) in probs.rows_mut().into_iter().zip(roll.view().rows()) {
            for (k, p) in row.iter_mut().enumerate() {
                let sounded = prev.get(k).copied().unwrap_or(0) == 1;
                let table = if sounded {
                    &self.after_on
                } else {
                    &self.after_off
                };
                *p = table.get(k).copied().unwrap_or(0.5);
            }
            prev.assign(&frame);
        }
        probs
    }
}

/// The three baselines' NLL per frame on some rolls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baselines {
    /// p = 0.5 everywhere: [`COIN_FLIP_NLL`].
    pub coin_flip: f64,
    /// [`KeyBernoulli`] fitted on the training rolls.
    pub bernoulli: f64,
    /// [`KeyMarkov`] fitted on the training rolls.
    pub markov: f64,
}

/// The baselines fitted on `train` and scored on `eval` (the NLL per frame of each); `None` when
/// `eval` has no frames.
pub fn baselines<'a>(
    train: impl IntoIterator<Item = &'a PianoRoll> + Clone,
    eval: impl IntoIterator<Item = &'a PianoRoll> + Clone,
) -> Result<Option<Baselines>> {
    let bernoulli = KeyBernoulli::fit(train.clone());
    let markov = KeyMarkov::fit(train);
    let (mut b, mut m) = (NllPerFrame::new(), NllPerFrame::new());
    for roll in eval {
        b.add(bernoulli.probabilities(roll).view(), roll)?;
        m.add(markov.probabilities(roll).view(), roll)?;
    }
    Ok(match (b.mean(), m.mean()) {
        (Some(bernoulli), Some(markov)) => Some(Baselines {
            coin_flip: COIN_FLIP_NLL,
            bernoulli,
            markov,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bernoulli_counts_with_laplace_smoothing() {
        // 4 training frames; C4 sounds in 3 of them, E4 in 1, other keys never.
        let train = PianoRoll::from_cells(4, [(0, 60), (1, 60), (2, 60), (3, 64)]).unwrap();
        let model = KeyBernoulli::fit([&train]);
        assert_eq!(model.p[60 - 21], 4.0 / 6.0);
        assert_eq!(model.p[64 - 21], 2.0 / 6.0);
        assert_eq!(model.p[0], 1.0 / 6.0);
        // One test frame with C4: -ln(4/6) - ln(1 - 2/6) - 86 ln(5/6).
        let test = PianoRoll::from_cells(1, [(0, 60)]).unwrap();
        let b = baselines([&train], [&test]).unwrap().unwrap();
        let want = -(4.0f64 / 6.0).ln() - (4.0f64 / 6.0).ln() - 86.0 * (5.0f64 / 6.0).ln();
        assert!(
            (b.bernoulli - want).abs() < 1e-12,
            "{} vs {want}",
            b.bernoulli
        );
        assert_eq!(b.coin_flip, COIN_FLIP_NLL);
    }

    #[test]
    fn markov_counts_transitions_from_a_silent_start() {
        // C4 sounds in frames 0, 1, 2 of 4: C4's transitions are off->on (from the silent
        // start), on->on twice, on->off once. Other keys: off->off four times.
        let train = PianoRoll::from_cells(4, [(0, 60), (1, 60), (2, 60)]).unwrap();
        let model = KeyMarkov::fit([&train]);
        let c4 = 60 - 21;
        assert_eq!(model.after_off[c4], (1.0 + 1.0) / (1.0 + 2.0));
        assert_eq!(model.after_on[c4], (2.0 + 1.0) / (3.0 + 2.0));
        assert_eq!(model.after_off[0], 1.0 / 6.0);
        assert_eq!(model.after_on[0], 1.0 / 2.0);
        // Probabilities follow the previous frame.
        let probs = model.probabilities(&train);
        assert_eq!(probs[[0, c4]], model.after_off[c4]);
        assert_eq!(probs[[1, c4]], model.after_on[c4]);
        assert_eq!(probs[[3, c4]], model.after_on[c4]);
        assert_eq!(probs[[3, 0]], model.after_off[0]);
    }

    #[test]
    fn a_chain_beats_the_marginal_on_sustained_notes() {
        let train = PianoRoll::from_cells(8, (0..8).map(|t| (t, 60 + 4 * (t / 4) as u8))).unwrap();
        let b = baselines([&train], [&train]).unwrap().unwrap();
        assert!(b.markov < b.bernoulli && b.bernoulli < b.coin_flip, "{b:?}");
        assert!(
            baselines([&train], std::iter::empty::<&PianoRoll>())
                .unwrap()
                .is_none()
        );
    }
}

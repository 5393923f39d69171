//! Accuracy, perplexity and bits per token, computed from summed NLL and token counts so that
//! padding (an ignore index) never counts and batches of different sizes combine exactly.

use crate::loss::{CrossEntropyOptions, cross_entropy_sum};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// `exp(nll_sum / count)`: the perplexity of `count` tokens whose negative log-likelihoods
/// (natural log) sum to `nll_sum`. `None` when `count == 0`.
pub fn perplexity(nll_sum: f64, count: u64) -> Option<f64> {
    mean(nll_sum, count).map(f64::exp)
}

/// `nll_sum / count / ln 2`: bits per token (bits per character for character models).
/// `None` when `count == 0`.
pub fn bits_per_token(nll_sum: f64, count: u64) -> Option<f64> {
    mean(nll_sum, count).map(|m| m / std::f64::consts::LN_2)
}

fn mean(sum: f64, count: u64) -> Option<f64> {
    // u64 -> f64 is exact up to 2^53 tokens.
    (count > 0).then(|| sum / count as f64)
}

/// Running sum of negative log-likelihoods (natural log) and of the tokens they cover.
///
/// Default: empty (`nll_sum = 0`, `count = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NllAccumulator {
    /// Sum of per-token NLLs, in nats.
    pub nll_sum: f64,
    /// Number of tokens summed (padding excluded).
    pub count: u64,
}

impl NllAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `count` tokens whose NLLs sum to `nll_sum`.
    pub fn add(&mut self, nll_sum: f64, count: u64) {
        self.nll_sum += nll_sum;
        self.count += count;
    }

    /// Adds another accumulator's totals.
    pub fn merge(&mut self, other: &NllAccumulator) {
        self.add(other.nll_sum, other.count);
    }

    /// Adds one batch: `logits [..., C]` (classes last) and Int64 `targets [...]`, skipping
    /// targets equal to `ignore_index`. Uses [`cross_entropy_sum`] without label smoothing and
    /// builds no autograd graph.
    pub fn add_batch(
        &mut self,
        logits: &Tensor,
        targets: &Tensor,
        ignore_index: Option<i64>,
    ) -> Result<()> {
        let options = CrossEntropyOptions {
            ignore_index,
            label_smoothing: 0.0,
        };
        let (sum, count) = tch::no_grad(|| cross_entropy_sum(logits, targets, &options))?;
        self.add(sum.f_double_value(&[])?, count);
        Ok(())
    }

    /// Mean NLL per token in nats; `None` when empty.
    pub fn mean_nll(&self) -> Option<f64> {
        mean(self.nll_sum, self.count)
    }

    /// [`perplexity`] of the totals; `None` when empty.
    pub fn perplexity(&self) -> Option<f64> {
        perplexity(self.nll_sum, self.count)
    }

    /// [`bits_per_token`] of the totals; `None` when empty.
    pub fn bits_per_token(&self) -> Option<f64> {
        bits_per_token(self.nll_sum, self.count)
    }
}

/// Counts of correct predictions; also usable as a running accumulator.
///
/// Default: `correct = 0`, `total = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Accuracy {
    /// Predictions equal to their target.
    pub correct: u64,
    /// Targets counted (ignored ones excluded).
    pub total: u64,
}

impl Accuracy {
    /// Adds another count.
    pub fn merge(&mut self, other: &Accuracy) {
        self.correct += other.correct;
        self.total += other.total;
    }

    /// `correct / total`; `None` when nothing was counted.
    pub fn value(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }
}

/// Counts how often `argmax(logits, last dim)` equals the target, for `logits [..., C]` and Int64
/// `targets [...]`, skipping targets equal to `ignore_index` (ties go to the lowest class).
pub fn accuracy(logits: &Tensor, targets: &Tensor, ignore_index: Option<i64>) -> Result<Accuracy> {
    const OP: &str = "accuracy";
    let target_kind = targets.f_kind()?;
    if target_kind != Kind::Int64 {
        return Err(Error::KindMismatch {
            op: OP,
            expected: "Int64 class indices for `targets`".into(),
            got: target_kind,
        });
    }
    let size = logits.size();
    let Some((_, lead)) = size.split_last() else {
        return Err(Error::shape(OP, "logits of rank >= 1 ([..., C])", size));
    };
    if targets.size() != lead {
        return Err(Error::shape(
            OP,
            format!("targets of shape {lead:?} (logits {size:?} without the class dim)"),
            targets.size(),
        ));
    }
    if targets.numel() == 0 {
        return Ok(Accuracy::default());
    }
    let predicted = logits.f_argmax(-1, false)?;
    let hits = predicted.f_eq_tensor(targets)?;
    let (hits, counted) = match ignore_index {
        Some(ignore) => {
            let keep = targets.f_ne(ignore)?;
            (hits.f_logical_and(&keep)?, keep)
        }
        None => (hits, targets.f_ones_like()?),
    };
    let to_u64 = |t: &Tensor| -> Result<u64> {
        let n = t.f_sum(Kind::Int64)?.f_int64_value(&[])?;
        u64::try_from(n).map_err(|_| Error::invalid("targets", format!("negative count {n}")))
    };
    Ok(Accuracy {
        correct: to_u64(&hits)?,
        total: to_u64(&counted)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_metrics() {
        // 4 tokens with total NLL 4 ln 2: perplexity 2, 1 bit per token.
        let mut acc = NllAccumulator::new();
        acc.add(2.0 * std::f64::consts::LN_2, 2);
        acc.add(2.0 * std::f64::consts::LN_2, 2);
        assert!((acc.perplexity().unwrap() - 2.0).abs() < 1e-12);
        assert!((acc.bits_per_token().unwrap() - 1.0).abs() < 1e-12);
        assert!((acc.mean_nll().unwrap() - std::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(NllAccumulator::new().perplexity(), None);
        assert_eq!(bits_per_token(1.0, 0), None);
    }

    #[test]
    fn accuracy_ignores_padding() {
        let logits = Tensor::from_slice(&[
            0.1f32, 0.9, 0.0, // argmax 1
            2.0, 1.0, 0.0, // argmax 0
            0.0, 0.0, 5.0, // argmax 2
            1.0, 1.0, 0.0, // tie -> 0
        ])
        .reshape([2, 2, 3]);
        let targets = Tensor::from_slice(&[1i64, 2, -1, 0]).reshape([2, 2]);
        let a = accuracy(&logits, &targets, Some(-1)).unwrap();
        assert_eq!(
            a,
            Accuracy {
                correct: 2,
                total: 3
            }
        );
        let a = accuracy(&logits, &targets, None).unwrap();
        assert_eq!(
            a,
            Accuracy {
                correct: 2,
                total: 4
            }
        );
        assert_eq!(a.value(), Some(0.5));
        assert!(accuracy(&logits, &targets.reshape([4]), None).is_err());
        assert!(accuracy(&logits, &targets.to_kind(Kind::Int), None).is_err());
    }
}

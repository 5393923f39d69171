//! Memorisation audits: does a model reproduce its training data?
//!
//! The test for every kind of sample is the same: each generated sample's distance to its
//! nearest training example is compared with the same distance for held-out real examples. A
//! model that generalises gives similar distributions; a model that copies gives many samples
//! much closer to the training set than real unseen data ever is ([`CopyTest`]). Text uses
//! verbatim n-gram overlap instead of a distance ([`ngram`]).
//!
//! Distances are computed by the caller: in gen-train for images and spectrograms (feature and
//! pixel space, on libtorch), with [`crate::trajectory::dtw`] for trajectories
//! ([`nearest_dtw`]), and here for music (Hamming distance between 4-bar piano-roll windows,
//! [`rolls`]).

pub mod ngram;
pub mod rolls;

use crate::{Error, Result};
use ndarray::ArrayView2;
use serde::Serialize;

/// The quantile of the held-out distances below which a generated sample counts as "too
/// close": 5 %.
pub const DEFAULT_QUANTILE: f64 = 0.05;

/// The two-sample comparison of nearest-training distances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyTest {
    /// Generated samples compared.
    pub n_generated: usize,
    /// Held-out samples compared.
    pub n_heldout: usize,
    /// The quantile `q` of the held-out distances used as the threshold.
    pub quantile: f64,
    /// The held-out distances' `q`-quantile (linear interpolation, numpy's default).
    pub threshold: f64,
    /// The fraction of generated samples strictly closer to the training set than `threshold`.
    /// About `q` for a model that generalises.
    pub fraction_below: f64,
    /// The median nearest-training distance of the generated samples.
    pub median_generated: f64,
    /// The median nearest-training distance of the held-out samples.
    pub median_heldout: f64,
    /// The Mann-Whitney U z-score of generated against held-out distances (normal
    /// approximation, tie-corrected, no continuity correction): strongly negative when the
    /// generated samples sit closer to the training set than held-out data.
    pub mann_whitney_z: f64,
    /// Whether the model is flagged as copying: `fraction_below` above both `2 q` and
    /// `q + 3 sqrt(q (1 - q) (1 / n_generated + 1 / n_heldout))`, three standard deviations of
    /// the difference between the generated fraction and the held-out one (the threshold is
    /// itself estimated from `n_heldout` samples).
    pub copying: bool,
}

/// The `q`-quantile of `values` with linear interpolation between order statistics (numpy's
/// `np.quantile(values, q)` default). Errors on an empty slice, NaN or `q` outside `[0, 1]`.
pub fn quantile(values: &[f64], q: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::invalid("quantile", format!("{q} is not in [0, 1]")));
    }
    let v = sorted(values, "values")?;
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let a = v.get(lo).copied().unwrap_or(f64::NAN);
    let b = v.get(lo + 1).copied().unwrap_or(a);
    Ok(a + (b - a) * (pos - lo as f64))
}

fn sorted(values: &[f64], name: &'static str) -> Result<Vec<f64>> {
    if values.is_empty() {
        return Err(Error::invalid(name, "no values"));
    }
    if values.iter().any(|v| v.is_nan()) {
        return Err(Error::invalid(name, "NaN distance"));
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// The Mann-Whitney U z-score of `a` against `b`: `(U_a - n_a n_b / 2) / sigma` with average
/// ranks for ties and the tie-corrected `sigma`; 0 when every value ties.
pub fn mann_whitney_z(a: &[f64], b: &[f64]) -> Result<f64> {
    sorted(a, "generated distances")?;
    sorted(b, "held-out distances")?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all.get(j + 1).map(|p| p.0) == all.get(i).map(|p| p.0) {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        let in_a = all
            .get(i..=j)
            .map_or(0, |g| g.iter().filter(|p| p.1).count());
        rank_sum_a += in_a as f64 * avg_rank;
        i = j + 1;
    }
    let u = rank_sum_a - na * (na + 1.0) / 2.0;
    let nn = na + nb;
    let var = na * nb / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return Ok(0.0);
    }
    Ok((u - na * nb / 2.0) / var.sqrt())
}

impl CopyTest {
    /// Compares generated samples' nearest-training distances with held-out samples'.
    pub fn new(generated: &[f64], heldout: &[f64], q: f64) -> Result<Self> {
        let g = sorted(generated, "generated distances")?;
        let h = sorted(heldout, "held-out distances")?;
        let threshold = quantile(&h, q)?;
        let below = g.iter().filter(|&&d| d < threshold).count();
        let (n, m) = (g.len() as f64, h.len() as f64);
        let fraction_below = below as f64 / n;
        let sd = (q * (1.0 - q) * (1.0 / n + 1.0 / m)).sqrt();
        let copying = fraction_below > 2.0 * q && fraction_below > q + 3.0 * sd;
        Ok(Self {
            n_generated: g.len(),
            n_heldout: h.len(),
            quantile: q,
            threshold,
            fraction_below,
            median_generated: quantile(&g, 0.5)?,
            median_heldout: quantile(&h, 0.5)?,
            mann_whitney_z: mann_whitney_z(&g, &h)?,
            copying,
        })
    }
}

/// For each row of `queries` `[n, d]`, the Euclidean distance to its nearest row of `refs`
/// `[m, d]` and that row's index. Plain loops: for small sets; gen-train computes large ones
/// on libtorch.
pub fn nearest_euclidean(
    queries: ArrayView2<'_, f64>,
    refs: ArrayView2<'_, f64>,
) -> Result<Vec<(f64, usize)>> {
    if refs.nrows() == 0 || refs.ncols() != queries.ncols() {
        return Err(Error::invalid(
            "reference set",
            format!(
                "{} rows of {} columns for queries of {} columns",
                refs.nrows(),
                refs.ncols(),
                queries.ncols()
            ),
        ));
    }
    Ok(queries
        .outer_iter()
        .map(|q| {
            refs.outer_iter()
                .enumerate()
                .map(|(j, r)| {
                    let d2: f64 = q.iter().zip(r.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
                    (d2.sqrt(), j)
                })
                .fold(
                    (f64::INFINITY, 0),
                    |best, x| if x.0 < best.0 { x } else { best },
                )
        })
        .collect())
}

/// For each trajectory of `queries`, the DTW distance ([`crate::trajectory::dtw`]) to its
/// nearest trajectory of `refs`, and that one's index.
pub fn nearest_dtw(
    queries: &[ArrayView2<'_, f64>],
    refs: &[ArrayView2<'_, f64>],
) -> Result<Vec<(f64, usize)>> {
    if refs.is_empty() {
        return Err(Error::invalid("reference trajectories", "none"));
    }
    queries
        .iter()
        .map(|q| {
            let mut best = (f64::INFINITY, 0);
            for (j, r) in refs.iter().enumerate() {
                let d = crate::trajectory::dtw(q.view(), r.view())?;
                if d < best.0 {
                    best = (d, j);
                }
            }
            Ok(best)
        })
        .collect()
}

#[cfg(test)]
mod tests;

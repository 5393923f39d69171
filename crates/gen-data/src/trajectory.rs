//! Trajectories as `ndarray` matrices `[points, dims]` (one row per time step): resampling to
//! a fixed length, normalisation with its inverse, dynamic time warping, endpoint error, a
//! diversity measure, the mean-demonstration baseline, and CSV output.
//!
//! ```
//! use gen_data::trajectory::{dtw, endpoint_error, mean_trajectory, resample};
//! use ndarray::array;
//!
//! let a = array![[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]];
//! let b = resample(a.view(), 5)?; // [0, 0.5, 1, 1.5, 2] along x
//! assert_eq!(b.column(0).to_vec(), [0.0, 0.5, 1.0, 1.5, 2.0]);
//! assert_eq!(dtw(a.view(), a.view())?, 0.0);
//! assert_eq!(endpoint_error(a.view(), &[2.0, 0.0])?, 0.0);
//! let mean = mean_trajectory(&[a.view(), (&a * 3.0).view()], 3)?;
//! assert_eq!(mean, &a * 2.0);
//! # Ok::<(), gen_data::Error>(())
//! ```

use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Resamples `traj` (`[n, d]`, `n >= 1`) to `len >= 2` points, evenly spaced in sample
/// index (i.e. in time, for uniformly sampled trajectories), by linear interpolation.
///
/// Output point `i` sits at input position `s = i (n - 1) / (len - 1)`: the first and last
/// points are kept exactly, and `len == n` returns the input unchanged. A one-point input
/// gives `len` copies of it.
pub fn resample(traj: ArrayView2<'_, f64>, len: usize) -> Result<Array2<f64>> {
    let (n, d) = traj.dim();
    if n == 0 {
        return Err(Error::invalid("trajectory", "has no points"));
    }
    if len < 2 {
        return Err(Error::invalid(
            "len",
            format!("must be at least 2, got {len}"),
        ));
    }
    let mut out = Array2::zeros((len, d));
    let last = (n - 1) as f64;
    for (i, mut row) in out.outer_iter_mut().enumerate() {
        let s = if i + 1 == len {
            last
        } else {
            i as f64 * last / (len - 1) as f64
        };
        let lo = (s.floor() as usize).min(n - 1);
        let hi = (lo + 1).min(n - 1);
        let w = s - lo as f64;
        let a = traj.row(lo);
        let b = traj.row(hi);
        for ((o, &x), &y) in row.iter_mut().zip(a.iter()).zip(b.iter()) {
            *o = if w == 0.0 { x } else { x + w * (y - x) };
        }
    }
    Ok(out)
}

/// An affine per-dimension normalisation `x' = (x - offset) / scale`, with its inverse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Subtracted from each dimension.
    pub offset: Vec<f64>,
    /// Each dimension is divided by this (all `> 0`).
    pub scale: Vec<f64>,
}

impl Normalizer {
    /// Mean and (population) standard deviation of every dimension over all points of
    /// `trajs`. A dimension with zero spread gets scale 1.
    pub fn fit(trajs: &[ArrayView2<'_, f64>]) -> Result<Self> {
        let points = stack_points(trajs)?;
        let offset = points
            .mean_axis(Axis(0))
            .ok_or_else(|| Error::invalid("trajectories", "have no points"))?;
        let scale = points.std_axis(Axis(0), 0.0).mapv(nonzero_scale);
        Ok(Normalizer {
            offset: offset.to_vec(),
            scale: scale.to_vec(),
        })
    }

    /// No offset and ONE scale for every dimension: the root mean square of all
    /// coordinates of `trajs`. It keeps the origin (the LASA target) at the origin and keeps
    /// the aspect ratio, so shapes are not distorted.
    pub fn fit_scale(trajs: &[ArrayView2<'_, f64>]) -> Result<Self> {
        let points = stack_points(trajs)?;
        let rms = points.mapv(|v| v * v).mean().unwrap_or(0.0).sqrt();
        let d = points.ncols();
        Ok(Normalizer {
            offset: vec![0.0; d],
            scale: vec![nonzero_scale(rms); d],
        })
    }

    /// A normaliser with the given offset and scale (one entry per dimension, scales
    /// finite and `> 0`).
    pub fn new(offset: Vec<f64>, scale: Vec<f64>) -> Result<Self> {
        if offset.len() != scale.len() {
            return Err(Error::invalid(
                "normalizer",
                format!("{} offsets for {} scales", offset.len(), scale.len()),
            ));
        }
        if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(
                "normalizer.scale",
                format!("must be finite and > 0, got {s}"),
            ));
        }
        Ok(Normalizer { offset, scale })
    }

    /// `(traj - offset) / scale`, row by row.
    pub fn apply(&self, traj: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check(traj)?;
        let offset = Array1::from(self.offset.clone());
        let scale = Array1::from(self.scale.clone());
        Ok((&traj - &offset) / &scale)
    }

    /// The inverse of [`Normalizer::apply`]: `traj * scale + offset`.
    pub fn invert(&self, traj: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check(traj)?;
        let offset = Array1::from(self.offset.clone());
        let scale = Array1::from(self.scale.clone());
        Ok(&traj * &scale + &offset)
    }

    fn check(&self, traj: ArrayView2<'_, f64>) -> Result<()> {
        if traj.ncols() != self.scale.len() {
            return Err(Error::invalid(
                "trajectory",
                format!(
                    "has {} dimensions, the normalizer {}",
                    traj.ncols(),
                    self.scale.len()
                ),
            ));
        }
        Ok(())
    }
}

fn nonzero_scale(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 { s } else { 1.0 }
}

/// Every point of `trajs` as rows of one matrix; errors when there are none or the
/// dimensions differ.
fn stack_points(trajs: &[ArrayView2<'_, f64>]) -> Result<Array2<f64>> {
    let Some(first) = trajs.first() else {
        return Err(Error::invalid("trajectories", "none given"));
    };
    check_same_dims(trajs, first.ncols())?;
    let points = ndarray::concatenate(Axis(0), trajs)
        .map_err(|e| Error::invalid("trajectories", e.to_string()))?;
    if points.nrows() == 0 {
        return Err(Error::invalid("trajectories", "have no points"));
    }
    Ok(points)
}

fn check_same_dims(trajs: &[ArrayView2<'_, f64>], d: usize) -> Result<()> {
    if let Some((i, t)) = trajs.iter().enumerate().find(|(_, t)| t.ncols() != d) {
        return Err(Error::invalid(
            "trajectories",
            format!("trajectory {i} has {} dimensions, the first {d}", t.ncols()),
        ));
    }
    Ok(())
}

/// The dynamic-time-warping distance between `a` `[n, d]` and `b` `[m, d]`: the smallest sum
/// of Euclidean point distances along a monotone alignment that starts at both first points,
/// ends at both last points and moves by `(1, 0)`, `(0, 1)` or `(1, 1)` (Sakoe & Chiba 1978,
/// no window). Symmetric, zero for identical trajectories, in the units of the points.
///
/// Runs in `O(n m)` time and `O(m)` memory. Errors when either is empty or the dimensions
/// differ.
pub fn dtw(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Result<f64> {
    if a.nrows() == 0 || b.nrows() == 0 {
        return Err(Error::invalid("dtw", "a trajectory has no points"));
    }
    if a.ncols() != b.ncols() {
        return Err(Error::invalid(
            "dtw",
            format!("dimensions differ: {} and {}", a.ncols(), b.ncols()),
        ));
    }
    let m = b.nrows();
    let mut prev = vec![f64::INFINITY; m + 1];
    let mut cur = vec![f64::INFINITY; m + 1];
    if let Some(p) = prev.first_mut() {
        *p = 0.0;
    }
    for ra in a.outer_iter() {
        cur.fill(f64::INFINITY);
        for (j, rb) in b.outer_iter().enumerate() {
            let cost = ra
                .iter()
                .zip(rb.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
            let best = prev
                .get(j)
                .copied()
                .unwrap_or(f64::INFINITY)
                .min(prev.get(j + 1).copied().unwrap_or(f64::INFINITY))
                .min(cur.get(j).copied().unwrap_or(f64::INFINITY));
            if let Some(c) = cur.get_mut(j + 1) {
                *c = cost + best;
            }
        }
        std::mem::swap(&mut prev, &mut cur);
        if let Some(p) = prev.first_mut() {
            *p = f64::INFINITY;
        }
    }
    Ok(prev.get(m).copied().unwrap_or(f64::INFINITY))
}

/// The Euclidean distance from the last point of `traj` to `target`.
pub fn endpoint_error(traj: ArrayView2<'_, f64>, target: &[f64]) -> Result<f64> {
    let Some(last) = traj.outer_iter().last() else {
        return Err(Error::invalid("trajectory", "has no points"));
    };
    if last.len() != target.len() {
        return Err(Error::invalid(
            "target",
            format!(
                "has {} dimensions, the trajectory {}",
                target.len(),
                last.len()
            ),
        ));
    }
    Ok(last
        .iter()
        .zip(target)
        .map(|(x, t)| (x - t) * (x - t))
        .sum::<f64>()
        .sqrt())
}

/// The index of the trajectory of `references` nearest to `traj` by [`dtw`], and that
/// distance. Errors when `references` is empty.
pub fn nearest_dtw(
    traj: ArrayView2<'_, f64>,
    references: &[ArrayView2<'_, f64>],
) -> Result<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in references.iter().enumerate() {
        let d = dtw(traj, *r)?;
        if best.is_none_or(|(_, b)| d < b) {
            best = Some((i, d));
        }
    }
    best.ok_or_else(|| Error::invalid("references", "none given"))
}

/// Diversity of a set of samples: the mean [`dtw`] over all unordered pairs. Zero when all
/// samples are identical. Errors with fewer than two trajectories.
pub fn mean_pairwise_dtw(trajs: &[ArrayView2<'_, f64>]) -> Result<f64> {
    if trajs.len() < 2 {
        return Err(Error::invalid(
            "trajectories",
            format!("diversity needs at least 2, got {}", trajs.len()),
        ));
    }
    let mut sum = 0.0;
    let mut pairs = 0usize;
    for (i, a) in trajs.iter().enumerate() {
        for b in trajs.iter().skip(i + 1) {
            sum += dtw(*a, *b)?;
            pairs += 1;
        }
    }
    Ok(sum / pairs as f64)
}

/// The mean-demonstration baseline: every trajectory [`resample`]d to `len` points, then
/// averaged point by point. Errors when `trajs` is empty or dimensions differ.
pub fn mean_trajectory(trajs: &[ArrayView2<'_, f64>], len: usize) -> Result<Array2<f64>> {
    let Some(first) = trajs.first() else {
        return Err(Error::invalid("trajectories", "none given"));
    };
    check_same_dims(trajs, first.ncols())?;
    let mut sum = Array2::zeros((len.max(2), first.ncols()));
    for t in trajs {
        sum += &resample(*t, len)?;
    }
    Ok(sum / trajs.len() as f64)
}

/// One trajectory and its labels, for [`write_csv`].
#[derive(Debug, Clone)]
pub struct LabeledTrajectory<'a> {
    /// The shape (or class) it belongs to, e.g. `Angle`.
    pub shape: &'a str,
    /// What it is, e.g. `real`, `generated` or `mean`.
    pub kind: &'a str,
    /// Its number among those of the same shape and kind.
    pub index: usize,
    /// The points `[n, d]`.
    pub points: ArrayView2<'a, f64>,
}

/// Writes `trajs` to `path` as CSV, one row per point, with the header
/// `shape,kind,index,step,x,y` for 2-D points (`x0,x1,...` for other dimensions).
/// Errors when the trajectories' dimensions differ.
pub fn write_csv(path: impl AsRef<Path>, trajs: &[LabeledTrajectory<'_>]) -> Result<()> {
    let path = path.as_ref();
    let d = trajs.first().map_or(2, |t| t.points.ncols());
    if let Some(t) = trajs.iter().find(|t| t.points.ncols() != d) {
        return Err(Error::invalid(
            "trajectories",
            format!(
                "{} {} {} has {} dimensions, the first {d}",
                t.shape,
                t.kind,
                t.index,
                t.points.ncols()
            ),
        ));
    }
    let csv_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io),
        other => Error::format(path, "csv", format!("{other:?}")),
    };
    let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
    let mut header = vec![
        "shape".to_string(),
        "kind".into(),
        "index".into(),
        "step".into(),
    ];
    if d == 2 {
        header.extend(["x".to_string(), "y".to_string()]);
    } else {
        header.extend((0..d).map(|i| format!("x{i}")));
    }
    writer.write_record(&header).map_err(csv_error)?;
    for t in trajs {
        for (step, row) in t.points.outer_iter().enumerate() {
            let mut record = vec![
                t.shape.to_string(),
                t.kind.to_string(),
                t.index.to_string(),
                step.to_string(),
            ];
            record.extend(row.iter().map(|v| v.to_string()));
            writer.write_record(&record).map_err(csv_error)?;
        }
    }
    writer.flush().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    fn traj(points: &[(f64, f64)]) -> Array2<f64> {
        Array2::from_shape_vec(
            (points.len(), 2),
            points.iter().flat_map(|&(x, y)| [x, y]).collect(),
        )
        .unwrap()
    }

    #[test]
    fn dtw_closed_form_cases() {
        let a = traj(&[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]);
        assert_eq!(dtw(a.view(), a.view()).unwrap(), 0.0);
        // A shifted copy: every aligned pair is 1 apart; the diagonal costs 3 x 1.
        let b = &a + &array![0.0, 1.0];
        assert_eq!(dtw(a.view(), b.view()).unwrap(), 3.0);
        // Repeating a point costs nothing extra: [0,1,2] vs [0,0,1,2] aligns 0 with both 0s.
        let c = traj(&[(0.0, 0.0), (0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]);
        assert_eq!(dtw(a.view(), c.view()).unwrap(), 0.0);
        // 1-D by hand: a = [0, 1, 2], b = [0, 2]. Cost matrix |a_i - b_j|:
        //   [0 2; 1 1; 2 0]. Best path (0,0) (1,0) (2,1): 0 + 1 + 0 = 1
        //   (or (0,0) (1,1) (2,1): 0 + 1 + 0 = 1).
        let a1 = array![[0.0], [1.0], [2.0]];
        let b1 = array![[0.0], [2.0]];
        assert_eq!(dtw(a1.view(), b1.view()).unwrap(), 1.0);
        assert_eq!(dtw(b1.view(), a1.view()).unwrap(), 1.0);
        // 1-D by hand: a = [0, 3], b = [1, 1, 1]. Costs [1 1 1; 2 2 2]; the best path is
        // (0,0) (1,1) (1,2) = 1 + 2 + 2 = 5, or (0,0) (0,1) (1,2) = 1 + 1 + 2 = 4. Minimum 4.
        let a2 = array![[0.0], [3.0]];
        let b2 = array![[1.0], [1.0], [1.0]];
        assert_eq!(dtw(a2.view(), b2.view()).unwrap(), 4.0);
        // Euclidean point cost: (0,0) vs (3,4) is 5.
        assert_eq!(
            dtw(traj(&[(0.0, 0.0)]).view(), traj(&[(3.0, 4.0)]).view()).unwrap(),
            5.0
        );
        assert!(dtw(a.view(), a1.view()).is_err());
        assert!(dtw(a.view(), Array2::zeros((0, 2)).view()).is_err());
    }

    #[test]
    fn endpoint_nearest_diversity_and_mean() {
        let a = traj(&[(5.0, 5.0), (3.0, 4.0)]);
        assert_eq!(endpoint_error(a.view(), &[0.0, 0.0]).unwrap(), 5.0);
        assert!(endpoint_error(a.view(), &[0.0]).is_err());
        let b = &a + 1.0;
        let c = &a + 10.0;
        let (i, d) = nearest_dtw(a.view(), &[c.view(), b.view()]).unwrap();
        assert_eq!(i, 1);
        assert!((d - 2.0 * 2f64.sqrt()).abs() < 1e-12);
        assert!(nearest_dtw(a.view(), &[]).is_err());
        assert_eq!(mean_pairwise_dtw(&[a.view(), a.view()]).unwrap(), 0.0);
        // Pairs: a-b = 2 sqrt 2, a-c = 20 sqrt 2, b-c = 18 sqrt 2; mean 40 sqrt 2 / 3.
        let div = mean_pairwise_dtw(&[a.view(), b.view(), c.view()]).unwrap();
        assert!((div - 40.0 * 2f64.sqrt() / 3.0).abs() < 1e-12);
        assert!(mean_pairwise_dtw(&[a.view()]).is_err());
        let mean = mean_trajectory(&[a.view(), c.view()], 2).unwrap();
        assert_eq!(mean, &a + 5.0);
        assert!(mean_trajectory(&[], 5).is_err());
    }

    #[test]
    fn normalizers_invert() {
        let a = traj(&[(0.0, 0.0), (2.0, 4.0), (4.0, 8.0)]);
        let n = Normalizer::fit(&[a.view()]).unwrap();
        assert_eq!(n.offset, [2.0, 4.0]);
        // Population std of [0, 2, 4] is sqrt(8/3).
        assert!((n.scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let z = n.apply(a.view()).unwrap();
        assert!(
            z.mean_axis(Axis(0))
                .unwrap()
                .iter()
                .all(|m| m.abs() < 1e-12)
        );
        let back = n.invert(z.view()).unwrap();
        assert!((back - &a).iter().all(|v| v.abs() < 1e-12));
        // fit_scale: RMS of 0,0,2,4,4,8 = sqrt(100 / 6); the origin stays put.
        let s = Normalizer::fit_scale(&[a.view()]).unwrap();
        assert_eq!(s.offset, [0.0, 0.0]);
        assert!((s.scale[0] - (100.0f64 / 6.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.scale[0], s.scale[1]);
        assert_eq!(s.apply(a.view()).unwrap().row(0).to_vec(), [0.0, 0.0]);
        assert!(s.apply(array![[1.0]].view()).is_err());
        assert!(Normalizer::new(vec![0.0], vec![0.0]).is_err());
        assert!(Normalizer::fit(&[]).is_err());
    }

    #[test]
    fn resample_by_hand() {
        let a = array![[0.0], [10.0], [20.0], [40.0]];
        // len 3: positions 0, 1.5, 3 -> 0, 15, 40.
        assert_eq!(
            resample(a.view(), 3).unwrap(),
            array![[0.0], [15.0], [40.0]]
        );
        assert_eq!(resample(a.view(), 4).unwrap(), a);
        assert_eq!(
            resample(array![[1.0, 2.0]].view(), 3).unwrap(),
            array![[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
        );
        assert!(resample(a.view(), 1).is_err());
        assert!(resample(Array2::zeros((0, 2)).view(), 5).is_err());
    }

    #[test]
    fn csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let a = traj(&[(1.5, -2.0), (0.0, 0.25)]);
        write_csv(
            &path,
            &[LabeledTrajectory {
                shape: "Angle",
                kind: "generated",
                index: 3,
                points: a.view(),
            }],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "shape,kind,index,step,x,y\nAngle,generated,3,0,1.5,-2\nAngle,generated,3,1,0,0.25\n"
        );
        let one_d = array![[1.0]];
        assert!(
            write_csv(
                &path,
                &[
                    LabeledTrajectory {
                        shape: "a",
                        kind: "k",
                        index: 0,
                        points: a.view()
                    },
                    LabeledTrajectory {
                        shape: "a",
                        kind: "k",
                        index: 1,
                        points: one_d.view()
                    },
                ]
            )
            .is_err()
        );
    }

    fn trajectory() -> impl Strategy<Value = Array2<f64>> {
        (1usize..40, 1usize..4).prop_flat_map(|(n, d)| {
            prop::collection::vec(-100.0f64..100.0, n * d)
                .prop_map(move |v| Array2::from_shape_vec((n, d), v).unwrap())
        })
    }

    proptest! {
        /// Resampling keeps both endpoints, stays inside each dimension's range, is the
        /// identity at the same length, and maps straight uniform lines onto straight
        /// uniform lines.
        #[test]
        fn resample_properties(t in trajectory(), len in 2usize..80, slope in -5.0f64..5.0) {
            let r = resample(t.view(), len).unwrap();
            prop_assert_eq!(r.dim(), (len, t.ncols()));
            prop_assert_eq!(r.row(0), t.row(0));
            prop_assert_eq!(r.row(len - 1), t.row(t.nrows() - 1));
            for (c, col) in t.columns().into_iter().enumerate() {
                let lo = col.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(r.column(c).iter().all(|v| *v >= lo - 1e-9 && *v <= hi + 1e-9));
            }
            if t.nrows() >= 2 {
                prop_assert_eq!(resample(t.view(), t.nrows()).unwrap(), t.clone());
                let n = t.nrows();
                let line = Array2::from_shape_fn((n, 1), |(i, _)| slope * i as f64);
                let r = resample(line.view(), len).unwrap();
                for (i, v) in r.column(0).iter().enumerate() {
                    let want = slope * i as f64 * (n - 1) as f64 / (len - 1) as f64;
                    prop_assert!((v - want).abs() < 1e-9, "{} vs {}", v, want);
                }
            }
        }

        /// DTW is symmetric, zero on itself, non-negative, and at most the lock-step sum
        /// for equal lengths.
        #[test]
        fn dtw_properties(a in trajectory(), shift in -3.0f64..3.0) {
            let b = &a.mapv(|v| v * 0.5) + shift;
            let ab = dtw(a.view(), b.view()).unwrap();
            prop_assert!((ab - dtw(b.view(), a.view()).unwrap()).abs() < 1e-9);
            prop_assert_eq!(dtw(a.view(), a.view()).unwrap(), 0.0);
            prop_assert!(ab >= 0.0);
            let lockstep: f64 = a.outer_iter().zip(b.outer_iter())
                .map(|(x, y)| (&x - &y).mapv(|v| v * v).sum().sqrt()).sum();
            prop_assert!(ab <= lockstep + 1e-9);
        }
    }
}

//! The memorisation audit of image generators: each generated image's distance to its nearest
//! training image, in the evaluator's feature space and in pixel space, against the same
//! distance for held-out real images ([`gen_data::memorisation::CopyTest`]).

use crate::{Error, Result};
use gen_data::memorisation::CopyTest;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// Query rows per block of the distance matrix.
const QUERY_BLOCK: i64 = 256;
/// Reference rows per block of the distance matrix.
const REF_BLOCK: i64 = 8192;

/// For each row of `queries` `[n, d]`, the Euclidean distance to its nearest row of `refs`
/// `[m, d]`, and that row's index.
///
/// The nearest row is found in `f32` from `|q|^2 + |r|^2 - 2 q.r` (libtorch's matrix product,
/// blockwise); its distance is then recomputed exactly in `f64` from the two rows, so the
/// distances equal the plain loop's ([`gen_data::memorisation::nearest_euclidean`]) whenever
/// the nearest row is unique by more than `f32` rounding.
pub fn nearest_neighbours(queries: &Tensor, refs: &Tensor) -> Result<Vec<(f64, usize)>> {
    let (qs, rs) = (queries.size(), refs.size());
    let (n, m) = match (qs.as_slice(), rs.as_slice()) {
        ([n, d], [m, e]) if d == e && *m > 0 => (*n, *m),
        _ => {
            return Err(Error::config(
                "nearest neighbours",
                format!("queries {qs:?} and a non-empty reference set {rs:?} of equal width"),
            ));
        }
    };
    let (queries, refs) = (
        queries.f_to_device(Device::Cpu)?,
        refs.f_to_device(Device::Cpu)?,
    );
    let q32 = queries.f_to_kind(Kind::Float)?;
    let r32 = refs.f_to_kind(Kind::Float)?;
    let r_norms = r32.f_square()?.f_sum_dim_intlist(1, false, Kind::Float)?;
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    tch::no_grad(|| -> Result<()> {
        let mut qs = 0;
        while qs < n {
            let ql = QUERY_BLOCK.min(n - qs);
            let q = q32.f_narrow(0, qs, ql)?;
            let q_norms = q.f_square()?.f_sum_dim_intlist(1, true, Kind::Float)?;
            let mut best_d = Tensor::f_full([ql], f64::INFINITY, (Kind::Float, Device::Cpu))?;
            let mut best_i = Tensor::f_zeros([ql], (Kind::Int64, Device::Cpu))?;
            let mut rs = 0;
            while rs < m {
                let rl = REF_BLOCK.min(m - rs);
                let r = r32.f_narrow(0, rs, rl)?;
                let d2 = q_norms
                    .f_add(&r_norms.f_narrow(0, rs, rl)?.f_unsqueeze(0)?)?
                    .f_sub(&q.f_matmul(&r.f_transpose(0, 1)?)?.f_mul_scalar(2.0)?)?;
                let (dmin, imin) = d2.f_min_dim(1, false)?;
                let better = dmin.f_lt_tensor(&best_d)?;
                best_d = dmin.f_where_self(&better, &best_d)?;
                best_i = imin.f_add_scalar(rs)?.f_where_self(&better, &best_i)?;
                rs += rl;
            }
            let idx: Vec<i64> = Vec::try_from(&best_i)?;
            let q64 = queries.f_narrow(0, qs, ql)?.f_to_kind(Kind::Double)?;
            let nearest = refs.f_index_select(0, &best_i)?.f_to_kind(Kind::Double)?;
            let exact: Vec<f64> = Vec::try_from(
                &q64.f_sub(&nearest)?
                    .f_square()?
                    .f_sum_dim_intlist(1, false, Kind::Double)?
                    .f_sqrt()?,
            )?;
            for (dist, i) in exact.into_iter().zip(idx) {
                out.push((dist, usize::try_from(i).unwrap_or(0)));
            }
            qs += ql;
        }
        Ok(())
    })?;
    Ok(out)
}

/// A closest generated/training pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClosePair {
    /// The generated image's index.
    pub generated: usize,
    /// Its nearest training image's index (in pixel space).
    pub train: usize,
    /// Their pixel-space distance (images in `[-1, 1]`).
    pub distance: f64,
}

/// The audit of one image generator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageAudit {
    /// Nearest-training distances in the evaluator's feature space.
    pub features: CopyTest,
    /// Nearest-training distances in pixel space.
    pub pixels: CopyTest,
    /// The generated images closest to a training image in pixel space, closest first.
    pub closest: Vec<ClosePair>,
    /// Whether either space flags the generator as copying.
    pub copying: bool,
}

fn flat(images: &Tensor) -> Result<Tensor> {
    let n = images.size().first().copied().unwrap_or(0);
    Ok(images.f_reshape([n, -1])?)
}

/// Audits `generated` images `[n, c, h, w]` against the `train` images they might copy, with
/// `heldout` real images as the baseline: distances in `features(images)` space and in pixel
/// space, the threshold at quantile `q` of the held-out distances, and the `pairs` closest
/// generated/training pairs.
pub fn audit_images(
    features: impl Fn(&Tensor) -> Result<Tensor>,
    train: &Tensor,
    heldout: &Tensor,
    generated: &Tensor,
    q: f64,
    pairs: usize,
) -> Result<ImageAudit> {
    let dist = |pairs: Vec<(f64, usize)>| pairs.into_iter().map(|p| p.0).collect::<Vec<_>>();
    let train_f = features(train)?;
    let feature_test = CopyTest::new(
        &dist(nearest_neighbours(&features(generated)?, &train_f)?),
        &dist(nearest_neighbours(&features(heldout)?, &train_f)?),
        q,
    )?;
    let train_p = flat(train)?;
    let gen_nn = nearest_neighbours(&flat(generated)?, &train_p)?;
    let pixel_test = CopyTest::new(
        &dist(gen_nn.clone()),
        &dist(nearest_neighbours(&flat(heldout)?, &train_p)?),
        q,
    )?;
    let mut closest: Vec<ClosePair> = gen_nn
        .into_iter()
        .enumerate()
        .map(|(generated, (distance, train))| ClosePair {
            generated,
            train,
            distance,
        })
        .collect();
    closest.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    closest.truncate(pairs);
    Ok(ImageAudit {
        copying: feature_test.copying || pixel_test.copying,
        features: feature_test,
        pixels: pixel_test,
        closest,
    })
}

/// The closest pairs side by side: row `k` holds generated image `closest[k].generated` on the
/// left and its nearest training image on the right, as one `[2 k, c, h, w]` tensor for
/// [`crate::tasks::gan::grid_png`] with 2 images per row.
pub fn pairs_tensor(generated: &Tensor, train: &Tensor, closest: &[ClosePair]) -> Result<Tensor> {
    let mut rows = Vec::with_capacity(2 * closest.len());
    for p in closest {
        rows.push(generated.f_get(p.generated as i64)?);
        rows.push(train.f_get(p.train as i64)?);
    }
    if rows.is_empty() {
        return Err(Error::config("closest pairs", "none to draw"));
    }
    Ok(Tensor::f_stack(&rows, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::images_to_tensor;
    use crate::eval::test_support::{serial, squares};
    use gen_data::memorisation::{DEFAULT_QUANTILE, nearest_euclidean};
    use ndarray::Array2;

    fn to_array(t: &Tensor) -> Array2<f64> {
        let s = t.size();
        let v: Vec<f64> = Vec::try_from(&t.to_kind(Kind::Double).reshape([-1])).unwrap();
        Array2::from_shape_vec((s[0] as usize, s[1] as usize), v).unwrap()
    }

    #[test]
    fn blockwise_nearest_equals_the_plain_loop() {
        let _g = serial();
        tch::manual_seed(3);
        // More references than one block, so that blocks are merged.
        let refs = Tensor::randn([REF_BLOCK + 37, 5], (Kind::Double, Device::Cpu));
        let queries = Tensor::randn([QUERY_BLOCK + 3, 5], (Kind::Double, Device::Cpu));
        let fast = nearest_neighbours(&queries, &refs).unwrap();
        let plain = nearest_euclidean(to_array(&queries).view(), to_array(&refs).view()).unwrap();
        assert_eq!(fast.len(), plain.len());
        for (a, b) in fast.iter().zip(&plain) {
            assert_eq!(a.1, b.1);
            assert!((a.0 - b.0).abs() < 1e-12, "{a:?} {b:?}");
        }
        assert!(nearest_neighbours(&queries, &refs.narrow(1, 0, 4)).is_err());
    }

    /// A generator that returns training images is flagged in both spaces; one whose images
    /// are fresh draws of the same distribution (a held-out split) is not.
    #[test]
    fn a_memorising_generator_is_flagged_and_a_fresh_one_is_not() {
        let _g = serial();
        let (train, _) = squares(600, 1);
        let (heldout, _) = squares(200, 2);
        let (fresh, _) = squares(200, 3);
        let train = images_to_tensor(&train, 600).unwrap();
        let heldout = images_to_tensor(&heldout, 200).unwrap();
        let fresh = images_to_tensor(&fresh, 200).unwrap();
        // "Features": 4x4 average pooling, a fixed map as the evaluator's is.
        let features = |x: &Tensor| -> Result<Tensor> {
            let n = x.size()[0];
            Ok(x.f_avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None)?
                .f_reshape([n, -1])?)
        };
        let copies = train.narrow(0, 100, 200);
        let a = audit_images(features, &train, &heldout, &copies, DEFAULT_QUANTILE, 4).unwrap();
        assert!(a.copying && a.features.copying && a.pixels.copying, "{a:?}");
        assert_eq!(a.pixels.fraction_below, 1.0);
        assert_eq!(a.closest.len(), 4);
        assert_eq!(a.closest[0].distance, 0.0);
        assert_eq!(a.closest[0].train, a.closest[0].generated + 100);
        let b = audit_images(features, &train, &heldout, &fresh, DEFAULT_QUANTILE, 4).unwrap();
        assert!(!b.copying, "{b:?}");
        assert!(b.pixels.fraction_below < 0.15, "{b:?}");
        let grid = pairs_tensor(&copies, &train, &a.closest).unwrap();
        assert_eq!(grid.size(), [8, 1, 28, 28]);
        assert_eq!(
            grid.get(0)
                .to_kind(Kind::Double)
                .f_sub(&grid.get(1).to_kind(Kind::Double))
                .unwrap()
                .abs()
                .max()
                .double_value(&[]),
            0.0
        );
    }
}

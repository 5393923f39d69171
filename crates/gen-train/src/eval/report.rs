//! The quality report of a batch of generated images against real test images.

use super::evaluator::Evaluator;
use super::frechet::{FeatureStats, feature_stats};
use super::scores::{class_coverage, classifier_inception_score};
use crate::{Error, Result};
use gen_core::array_to_tensor;
use gen_data::mnist::{ImageDataset, PixelRange, normalize_nchw};
use ndarray::{Array3, s};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The default number of real images in a [`RealReference`]: 10000 (the usual FID sample
/// size), capped by the size of the splits.
pub const DEFAULT_REAL_SAMPLES: usize = 10_000;

/// The first `n` images of `images` `(N, H, W)` as a `[n, 1, H, W]` float tensor in `[-1, 1]`
/// (the range of a `tanh` generator).
pub fn images_to_tensor(images: &Array3<u8>, n: usize) -> Result<Tensor> {
    let n = n.min(images.dim().0);
    let view = images.slice(s![..n, .., ..]);
    Ok(array_to_tensor(&normalize_nchw(
        &view,
        PixelRange::MinusOneOne,
    ))?)
}

/// Statistics of real images that every report compares against, computed once.
#[derive(Debug)]
pub struct RealReference {
    /// Feature statistics of the first `n` test images.
    pub test_stats: FeatureStats,
    /// The floor: Fréchet distance between the first `n` training and the first `n` test
    /// images. A generator cannot be expected to do better with `n` samples.
    pub real_vs_real_fd: f64,
    /// [`classifier_inception_score`] of the `n` test images.
    pub real_inception_score: f64,
    /// [`class_coverage`] of the `n` test images.
    pub real_coverage: usize,
    /// Real images per set.
    pub n: usize,
}

impl RealReference {
    /// Computes the reference from `n` (default [`DEFAULT_REAL_SAMPLES`]) training and test
    /// images of `data`, capped by the smaller split; at least 2 are needed.
    pub fn new(evaluator: &Evaluator, data: &ImageDataset, n: Option<usize>) -> Result<Self> {
        let n = n
            .unwrap_or(DEFAULT_REAL_SAMPLES)
            .min(data.test_images.dim().0)
            .min(data.train_images.dim().0);
        let test = images_to_tensor(&data.test_images, n)?;
        let train = images_to_tensor(&data.train_images, n)?;
        Self::from_images(evaluator, &train, &test)
    }

    /// Computes the reference from real images `[n, C, H, W]` in `[-1, 1]` of each split: the
    /// first `min(n_train, n_test)` of each are used; at least 2 are needed.
    pub fn from_images(evaluator: &Evaluator, train: &Tensor, test: &Tensor) -> Result<Self> {
        let count = |t: &Tensor| t.size().first().copied().unwrap_or(0).max(0);
        let n = count(train).min(count(test));
        if n < 2 {
            return Err(Error::config(
                "real samples",
                format!("need at least 2 real images per split, have {n}"),
            ));
        }
        let (test_features, test_probs) =
            evaluator.features_and_probabilities(&test.f_narrow(0, 0, n)?)?;
        let train_features = evaluator.features(&train.f_narrow(0, 0, n)?)?;
        let test_stats = feature_stats(&test_features)?;
        let real_vs_real_fd = feature_stats(&train_features)?.frechet_distance(&test_stats)?;
        Ok(RealReference {
            real_inception_score: classifier_inception_score(&test_probs)?,
            real_coverage: class_coverage(&test_probs, num_classes(evaluator)?)?,
            test_stats,
            real_vs_real_fd,
            n: n as usize,
        })
    }
}

fn num_classes(evaluator: &Evaluator) -> Result<usize> {
    let k = evaluator.model().config().num_classes;
    usize::try_from(k).map_err(|_| Error::config("model.num_classes", format!("{k} is negative")))
}

/// Quality of generated images, measured with a dataset's [`Evaluator`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GanReport {
    /// Fréchet distance between the generated images' features and the real test images'
    /// (lower is better).
    pub fd: f64,
    /// [`classifier_inception_score`] of the generated images (higher is better, at most the
    /// number of classes).
    pub inception_score: f64,
    /// [`class_coverage`] of the generated images (the number of classes when all are made).
    pub coverage: usize,
    /// The real-vs-real floor of [`RealReference::real_vs_real_fd`].
    pub real_vs_real_fd: f64,
    /// Generated images measured.
    pub n: usize,
    /// Real images per reference set.
    pub n_real: usize,
}

/// Reports on `generated` `[N, C, H, W]` images in `[-1, 1]` (`N >= 2`) against `reference`.
pub fn gan_report(
    evaluator: &Evaluator,
    reference: &RealReference,
    generated: &Tensor,
) -> Result<GanReport> {
    let (features, probs) = evaluator.features_and_probabilities(generated)?;
    report_from(evaluator, reference, &features, &probs)
}

fn report_from(
    evaluator: &Evaluator,
    reference: &RealReference,
    features: &Tensor,
    probs: &Tensor,
) -> Result<GanReport> {
    let stats = feature_stats(features)?;
    Ok(GanReport {
        fd: stats.frechet_distance(&reference.test_stats)?,
        inception_score: classifier_inception_score(probs)?,
        coverage: class_coverage(probs, num_classes(evaluator)?)?,
        real_vs_real_fd: reference.real_vs_real_fd,
        n: stats.n,
        n_real: reference.n,
    })
}

/// Reports on `n` images drawn from a generator in batches of at most `batch_size`:
/// `sample(k)` must return `k` images `[k, C, H, W]` in `[-1, 1]`. It runs without gradients
/// and keeps only the features, so `n = 10000` costs little memory. Use it with an untrained
/// generator to get the FD ceiling a training run starts from.
pub fn generator_report<F>(
    evaluator: &Evaluator,
    reference: &RealReference,
    n: usize,
    batch_size: usize,
    mut sample: F,
) -> Result<GanReport>
where
    F: FnMut(usize) -> Result<Tensor>,
{
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let mut features = Vec::new();
    let mut probs = Vec::new();
    let mut done = 0;
    while done < n {
        let k = batch_size.min(n - done);
        let images = tch::no_grad(|| sample(k))?;
        let got = images.size().first().copied().unwrap_or(0);
        if got != k as i64 {
            return Err(gen_core::Error::ShapeMismatch {
                op: "generator_report (sample)",
                expected: format!("[{k}, C, H, W]"),
                got: images.size(),
            }
            .into());
        }
        let (f, p) = evaluator.features_and_probabilities(&images)?;
        features.push(f);
        probs.push(p);
        done += k;
    }
    if features.is_empty() {
        return Err(Error::config("n", "need at least 2 generated images"));
    }
    report_from(
        evaluator,
        reference,
        &Tensor::f_cat(&features, 0)?,
        &Tensor::f_cat(&probs, 0)?,
    )
}

/// `n` images `tanh(z)`, `z ~ N(0, 1)` per pixel, `[n, channels, size, size]`, drawn from a
/// generator seeded with `seed`: the stand-in for an untrained generator's output when none is
/// at hand (an untrained `tanh` generator gives unstructured values in `(-1, 1)` too).
pub fn noise_images(n: i64, channels: i64, size: i64, seed: u64) -> Result<Tensor> {
    if n < 1 || channels < 1 || size < 1 {
        return Err(gen_core::Error::ShapeMismatch {
            op: "noise_images",
            expected: "positive sizes".into(),
            got: vec![n, channels, size, size],
        }
        .into());
    }
    tch::manual_seed(seed as i64);
    Ok(Tensor::f_randn([n, channels, size, size], (Kind::Float, Device::Cpu))?.f_tanh()?)
}

#[cfg(test)]
mod tests {
    use super::super::evaluator::train_evaluator;
    use super::super::test_support::{serial, squares, tiny_config};
    use super::*;

    #[test]
    fn report_orders_real_collapsed_and_noise_images() {
        let _serial = serial();
        let (train_images, train_labels) = squares(600, 1);
        let (test_images, test_labels) = squares(300, 2);
        let data = ImageDataset {
            train_images,
            train_labels,
            test_images,
            test_labels,
        };
        let config = tiny_config();
        let dir = tempfile::tempdir().unwrap();
        let ev = train_evaluator("squares", &data, dir.path(), &config, Device::Cpu).unwrap();
        let reference = RealReference::new(&ev, &data, None).unwrap();
        assert_eq!(reference.n, 300);
        assert_eq!(reference.real_coverage, 10);
        assert!(reference.real_inception_score > 8.0, "{reference:?}");

        // Fresh real images of the same task: near the floor, all classes, high IS.
        let (fresh, _) = squares(300, 3);
        let real = gan_report(&ev, &reference, &images_to_tensor(&fresh, 300).unwrap()).unwrap();
        // Mode collapse: only class-0 images.
        let (pool, labels) = squares(900, 4);
        let zeros: Vec<usize> = (0..900).filter(|&i| labels[i] == 0).collect();
        let collapsed = images_to_tensor(&pool.select(ndarray::Axis(0), &zeros), 900).unwrap();
        let collapsed = gan_report(&ev, &reference, &collapsed).unwrap();
        // Noise, drawn through generator_report in batches.
        let mut seed = 0;
        let noise = generator_report(&ev, &reference, 250, 100, |k| {
            seed += 1;
            noise_images(k as i64, 1, 28, seed)
        })
        .unwrap();
        assert_eq!((real.n, noise.n, noise.n_real), (300, 250, 300));
        assert_eq!(real.coverage, 10);
        assert_eq!(collapsed.coverage, 1);
        assert!(collapsed.inception_score < 1.5, "{collapsed:?}");
        assert!(real.inception_score > 8.0, "{real:?}");
        assert!(
            real.fd < collapsed.fd && real.fd < noise.fd,
            "{real:?} {collapsed:?} {noise:?}"
        );
        assert!(real.fd < 3.0 * reference.real_vs_real_fd + 1e-3, "{real:?}");
        assert_eq!(real.real_vs_real_fd, reference.real_vs_real_fd);
        // A sampler returning the wrong count is an error.
        assert!(generator_report(&ev, &reference, 10, 5, |_| noise_images(4, 1, 28, 0)).is_err());
    }

    #[test]
    fn noise_images_are_seeded_and_bounded() {
        let _serial = serial();
        let a = noise_images(8, 1, 28, 7).unwrap();
        let b = noise_images(8, 1, 28, 7).unwrap();
        assert!(a.equal(&b));
        assert_eq!(a.size(), [8, 1, 28, 28]);
        assert!(a.abs().max().double_value(&[]) < 1.0);
        assert!(!a.equal(&noise_images(8, 1, 28, 8).unwrap()));
        assert!(noise_images(0, 1, 28, 0).is_err());
    }

    #[test]
    fn images_to_tensor_maps_to_minus_one_one() {
        let mut images = Array3::<u8>::zeros((3, 2, 2));
        images[[1, 0, 1]] = 255;
        let t = images_to_tensor(&images, 2).unwrap();
        assert_eq!(t.size(), [2, 1, 2, 2]);
        assert_eq!(t.double_value(&[0, 0, 0, 0]), -1.0);
        assert_eq!(t.double_value(&[1, 0, 0, 1]), 1.0);
        assert_eq!(images_to_tensor(&images, 10).unwrap().size(), [3, 1, 2, 2]);
    }
}

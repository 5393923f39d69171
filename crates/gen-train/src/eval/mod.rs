//! Quality numbers for image GANs without Inception weights, the usual practice on MNIST-like
//! data: a small CNN ([`gen_models::image_classifier::ImageClassifier`]) is trained on the dataset's
//! real images, and generated images are measured in its feature and label space.
//!
//! - [`frechet`]: the Fréchet distance between Gaussians fitted to features (FID's formula),
//!   computed stably in `f64`.
//! - [`scores`]: the Inception Score with the dataset's classifier, and class coverage.
//! - [`evaluator`]: training the classifier through the generic [`crate::Trainer`], and its
//!   on-disk cache.
//! - [`memorisation`]: the memorisation audit: nearest-training distances of generated and
//!   held-out images, in feature and pixel space.
//! - [`report`]: a [`GanReport`] of generated images against real test images, with the
//!   real-vs-real floor.
//!
//! ```
//! use gen_train::eval::{feature_stats, frechet_distance};
//! use tch::Tensor;
//!
//! // N(0, I) against N((3, 4), I): the distance is ||mu1 - mu2||^2 = 25.
//! let eye = Tensor::eye(2, (tch::Kind::Double, tch::Device::Cpu));
//! let mu1 = Tensor::from_slice(&[0.0, 0.0]);
//! let mu2 = Tensor::from_slice(&[3.0, 4.0]);
//! let fd = frechet_distance(&mu1, &eye, &mu2, &eye)?;
//! assert!((fd - 25.0).abs() < 1e-9);
//! // Statistics of feature rows: mean and unbiased covariance.
//! let stats = feature_stats(&Tensor::from_slice(&[0.0, 2.0, 2.0, 0.0]).view([2, 2]))?;
//! assert!((stats.sigma.double_value(&[0, 1]) + 2.0).abs() < 1e-12);
//! # Ok::<(), gen_train::Error>(())
//! ```

pub mod evaluator;
pub mod frechet;
pub mod memorisation;
pub mod report;
pub mod scores;
#[cfg(test)]
pub(crate) mod test_support;

pub use evaluator::{
    Evaluator, EvaluatorInfo, EvaluatorTrainingConfig, evaluator_paths, fd_score,
    image_features_and_probabilities, load_evaluator, save_evaluator, train_evaluator,
    train_evaluator_on, train_or_load_evaluator, train_or_load_evaluator_on,
    train_or_load_evaluator_with,
};
pub use frechet::{FeatureStats, feature_stats, frechet_distance};
pub use report::{
    DEFAULT_REAL_SAMPLES, GanReport, RealReference, gan_report, generator_report, images_to_tensor,
    noise_images,
};
pub use scores::{class_coverage, class_shares, classifier_inception_score};

//! Fixtures shared by the evaluation tests.

use super::evaluator::EvaluatorTrainingConfig;
use crate::optim::{AdamConfig, OptimizerConfig};
use crate::schedule::LrSchedule;
use gen_data::mnist::ImageDataset;
use gen_models::image_classifier::ImageClassifierConfig;
use ndarray::{Array1, Array3, s};
use std::sync::{Mutex, MutexGuard};

/// Serialises the tests that seed libtorch's global generator, so that parallel tests do not
/// reseed it under each other. Also runs libtorch on one thread: on a shared machine, OpenMP's
/// spinning threads make these small models up to 10x slower.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    guard
}

/// A separable 10-class task of 28x28 images: class `c` is a bright 4x4 square at one of 10
/// positions, on faint uniform noise in `0..40`.
pub(crate) fn squares(n: usize, seed: u64) -> (Array3<u8>, Array1<u8>) {
    let mut rng = gen_data::splitmix::SplitMix64::new(seed);
    let mut images = Array3::<u8>::zeros((n, 28, 28));
    let mut labels = Array1::<u8>::zeros(n);
    for i in 0..n {
        let c = (rng.next_u64() % 10) as usize;
        labels[i] = c as u8;
        images
            .slice_mut(s![i, .., ..])
            .mapv_inplace(|_| (rng.next_u64() % 40) as u8);
        let (oy, ox) = (4 + (c / 5) * 12, 2 + (c % 5) * 5);
        images.slice_mut(s![i, oy..oy + 4, ox..ox + 4]).fill(255);
    }
    (images, labels)
}

/// 600 training and 200 test images of [`squares`].
pub(crate) fn squares_dataset() -> ImageDataset {
    let (train_images, train_labels) = squares(600, 1);
    let (test_images, test_labels) = squares(200, 2);
    ImageDataset {
        train_images,
        train_labels,
        test_images,
        test_labels,
    }
}

/// A small, fast evaluator: 8 and 16 channels, 32 features, 4 epochs of batches of 32 with
/// Adam at a constant lr 3e-3, no augmentation (so that it ends confident).
pub(crate) fn tiny_config() -> EvaluatorTrainingConfig {
    EvaluatorTrainingConfig {
        model: ImageClassifierConfig {
            conv1_channels: 8,
            conv2_channels: 16,
            feature_dim: 32,
            ..Default::default()
        },
        epochs: 4,
        min_steps: 0,
        batch_size: 32,
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr: 3e-3,
            ..Default::default()
        }),
        lr_schedule: LrSchedule::Constant,
        augment_shift: 0,
        eval_batch_size: 64,
        ..Default::default()
    }
}

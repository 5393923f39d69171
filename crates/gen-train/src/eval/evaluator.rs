//! The evaluator: an [`ImageClassifier`] trained on a dataset's real training images by the
//! generic [`Trainer`], cached on disk as safetensors plus a JSON description.

use super::frechet::feature_stats;
use crate::checkpoint::{copy_into, write_atomic};
use crate::learner::Verbosity;
use crate::optim::{AdamConfig, GradClip, OptimizerConfig};
use crate::schedule::LrSchedule;
use crate::tasks::image_classifier::LabelledImages;
use crate::tasks::{Supervised, named_variables};
use crate::{Error, Result, Trainer, TrainerConfig};
use gen_data::mnist::{ImageDataset, PixelRange};
use gen_models::Module;
use gen_models::image_classifier::{ImageClassifier, ImageClassifierConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn::VarStore};

/// How an evaluator is trained. The defaults reach about 0.98 test accuracy on MNIST and 0.9
/// on Fashion-MNIST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluatorTrainingConfig {
    /// The classifier. Default: [`ImageClassifierConfig::default`] (1x28x28, 10 classes).
    pub model: ImageClassifierConfig,
    /// Passes over the training images, at least; raised when needed to make `min_steps`
    /// optimiser steps. Default: 2.
    pub epochs: usize,
    /// Optimiser steps to make at least, so that small training sets get enough updates
    /// (15 epochs of the 8,000-image MNIST subset). Default: 900.
    pub min_steps: u64,
    /// Training batch size. Default: 128.
    pub batch_size: usize,
    /// The optimiser. Default: Adam, lr 2e-3 (otherwise PyTorch's defaults).
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over the whole run. Default: cosine decay to 0, no warm-up.
    pub lr_schedule: LrSchedule,
    /// Training images are translated by up to this many pixels in each direction (a random
    /// whole-pixel shift per image and step, border filled with -1). 0 turns it off. Default: 1.
    pub augment_shift: i64,
    /// Seed of the initialisation, batch order, shifts and dropout. Default: 0.
    pub seed: u64,
    /// Images per forward pass when extracting features. Default: 1000.
    pub eval_batch_size: usize,
}

impl Default for EvaluatorTrainingConfig {
    fn default() -> Self {
        EvaluatorTrainingConfig {
            model: ImageClassifierConfig::default(),
            epochs: 2,
            min_steps: 900,
            batch_size: 128,
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 2e-3,
                ..AdamConfig::default()
            }),
            lr_schedule: LrSchedule::Cosine {
                warmup_steps: 0,
                min_factor: 0.0,
            },
            augment_shift: 1,
            seed: 0,
            eval_batch_size: 1000,
        }
    }
}

/// What the evaluator's JSON file records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorInfo {
    /// The dataset name it was trained for (e.g. `mnist`).
    pub dataset: String,
    /// How it was trained (the model's config included).
    pub training: EvaluatorTrainingConfig,
    /// Training images used.
    pub train_samples: usize,
    /// Test images its accuracy was measured on.
    pub test_samples: usize,
    /// Accuracy on the test split.
    pub test_accuracy: f64,
    /// Epochs actually run (see [`EvaluatorTrainingConfig::min_steps`]).
    pub epochs: usize,
    /// Wall-clock seconds training took.
    pub train_seconds: f64,
}

/// A trained [`ImageClassifier`] with its variables and description.
#[derive(Debug)]
pub struct Evaluator {
    model: ImageClassifier,
    vs: VarStore,
    info: EvaluatorInfo,
}

impl Evaluator {
    /// What the evaluator was trained on and how well it classifies.
    pub fn info(&self) -> &EvaluatorInfo {
        &self.info
    }

    /// The classifier.
    pub fn model(&self) -> &ImageClassifier {
        &self.model
    }

    /// The classifier's variables.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// Features `[N, feature_dim]` and class probabilities `[N, num_classes]` of `images`, as
    /// `f64` CPU tensors (see [`image_features_and_probabilities`]).
    pub fn features_and_probabilities(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        image_features_and_probabilities(&self.model, images, self.info.training.eval_batch_size)
    }

    /// Features `[N, feature_dim]` of `images`, as an `f64` CPU tensor.
    pub fn features(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self.features_and_probabilities(images)?.0)
    }

    /// Accuracy on labelled images.
    pub fn accuracy(&self, data: &LabelledImages) -> Result<f64> {
        let (_, probs) = self.features_and_probabilities(data.images())?;
        let acc = gen_core::accuracy(&probs, data.labels(), None)?;
        Ok(acc.value().unwrap_or(0.0))
    }

    /// The Fréchet distance between the features of two image sets (see [`fd_score`]).
    pub fn fd(&self, images_a: &Tensor, images_b: &Tensor) -> Result<f64> {
        let a = feature_stats(&self.features(images_a)?)?;
        let b = feature_stats(&self.features(images_b)?)?;
        a.frechet_distance(&b)
    }
}

/// Runs `model` in evaluation mode (no dropout, no gradients) over `images`
/// `[N, C, H, W]` in chunks of `batch_size`, each moved to the model's device, and returns the
/// features `[N, feature_dim]` and softmax probabilities `[N, num_classes]` as `f64` CPU
/// tensors.
pub fn image_features_and_probabilities(
    model: &ImageClassifier,
    images: &Tensor,
    batch_size: usize,
) -> Result<(Tensor, Tensor)> {
    if batch_size == 0 {
        return Err(Error::config("eval_batch_size", "must be at least 1"));
    }
    let n = images.size().first().copied().unwrap_or(0);
    let device = model.device();
    let step = i64::try_from(batch_size).unwrap_or(i64::MAX);
    let mut features = Vec::new();
    let mut probs = Vec::new();
    tch::no_grad(|| -> Result<()> {
        let mut start = 0;
        while start < n {
            let len = step.min(n - start);
            let chunk = images.f_narrow(0, start, len)?.f_to_device(device)?;
            let (f, logits) = model.forward_with_features_t(&chunk, false)?;
            features.push(f.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?);
            probs.push(
                logits
                    .f_to_kind(Kind::Double)?
                    .f_softmax(-1, Kind::Double)?
                    .f_to_device(Device::Cpu)?,
            );
            start += len;
        }
        Ok(())
    })?;
    if features.is_empty() {
        // Let the model report the shape it expects.
        let _ = model.forward_with_features_t(images, false)?;
        return Err(gen_core::Error::ShapeMismatch {
            op: "image_features_and_probabilities",
            expected: "at least one image".into(),
            got: images.size(),
        }
        .into());
    }
    Ok((Tensor::f_cat(&features, 0)?, Tensor::f_cat(&probs, 0)?))
}

/// The Fréchet distance between `classifier`'s features of `images_a` and `images_b`
/// (each `[N, C, H, W]`, `N >= 2`): FID with the dataset's own classifier in place of
/// Inception.
pub fn fd_score(classifier: &ImageClassifier, images_a: &Tensor, images_b: &Tensor) -> Result<f64> {
    let (fa, _) = image_features_and_probabilities(classifier, images_a, 1000)?;
    let (fb, _) = image_features_and_probabilities(classifier, images_b, 1000)?;
    feature_stats(&fa)?.frechet_distance(&feature_stats(&fb)?)
}

/// The cache files of dataset `name` in `cache_dir`:
/// `<name>-evaluator.safetensors` and `<name>-evaluator.json`.
pub fn evaluator_paths(cache_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        cache_dir.join(format!("{name}-evaluator.safetensors")),
        cache_dir.join(format!("{name}-evaluator.json")),
    )
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "dataset_name",
            format!(
                "{name:?} must be a non-empty file-name stem of letters, digits, '-', '_' or '.'"
            ),
        ))
    }
}

/// Loads the evaluator of `dataset_name` from the cache when it was trained with the default
/// [`EvaluatorTrainingConfig`] on as many images as `data` has; otherwise trains one on the CPU
/// and caches it. See [`train_or_load_evaluator_with`].
pub fn train_or_load_evaluator(
    dataset_name: &str,
    data: &ImageDataset,
    cache_dir: &Path,
) -> Result<Evaluator> {
    train_or_load_evaluator_with(
        dataset_name,
        data,
        cache_dir,
        &EvaluatorTrainingConfig::default(),
        Device::Cpu,
    )
}

/// Loads the cached evaluator of `dataset_name` from `cache_dir` when its JSON records the same
/// dataset name, `config` and train/test sizes as asked; otherwise trains a new one with
/// [`train_evaluator`] (run folder `<cache_dir>/<dataset_name>-evaluator-run`) and writes the
/// cache ([`evaluator_paths`]). A cache file that exists but cannot be read is an error naming
/// it (delete it to retrain).
pub fn train_or_load_evaluator_with(
    dataset_name: &str,
    data: &ImageDataset,
    cache_dir: &Path,
    config: &EvaluatorTrainingConfig,
    device: Device,
) -> Result<Evaluator> {
    let sizes = (data.train_labels.len(), data.test_labels.len());
    if let Some(evaluator) = cached(dataset_name, cache_dir, config, sizes, device)? {
        return Ok(evaluator);
    }
    let run_dir = cache_dir.join(format!("{dataset_name}-evaluator-run"));
    let evaluator = train_evaluator(dataset_name, data, &run_dir, config, device)?;
    save_evaluator(&evaluator, cache_dir)?;
    Ok(evaluator)
}

/// [`train_or_load_evaluator_with`] for any labelled images, e.g. spectrograms: `train` and
/// `test` hold images in `[-1, 1]` of the shape `config.model` expects.
pub fn train_or_load_evaluator_on(
    dataset_name: &str,
    train: LabelledImages,
    test: &LabelledImages,
    cache_dir: &Path,
    config: &EvaluatorTrainingConfig,
    device: Device,
) -> Result<Evaluator> {
    let sizes = (crate::Dataset::len(&train), crate::Dataset::len(test));
    if let Some(evaluator) = cached(dataset_name, cache_dir, config, sizes, device)? {
        return Ok(evaluator);
    }
    let run_dir = cache_dir.join(format!("{dataset_name}-evaluator-run"));
    let evaluator = train_evaluator_on(dataset_name, train, test, &run_dir, config, device)?;
    save_evaluator(&evaluator, cache_dir)?;
    Ok(evaluator)
}

/// The cached evaluator of `dataset_name` when its JSON records `config` and the
/// `(train, test)` sizes; `None` (and a log line) when it must be trained.
fn cached(
    dataset_name: &str,
    cache_dir: &Path,
    config: &EvaluatorTrainingConfig,
    (train_samples, test_samples): (usize, usize),
    device: Device,
) -> Result<Option<Evaluator>> {
    check_name(dataset_name)?;
    let (_, json_path) = evaluator_paths(cache_dir, dataset_name);
    if json_path.is_file() {
        let info = read_info(&json_path)?;
        let fits = info.dataset == dataset_name
            && info.training == *config
            && info.train_samples == train_samples
            && info.test_samples == test_samples;
        if fits {
            return load_evaluator(cache_dir, dataset_name, device).map(Some);
        }
        tracing::info!(
            path = %json_path.display(),
            "cached evaluator was trained differently; retraining"
        );
    }
    tracing::info!(
        "training the {dataset_name} evaluator, the small classifier whose features and labels score generated images (FD, inception score, coverage): trained once, then cached in {}",
        cache_dir.display()
    );
    Ok(None)
}

/// Trains an evaluator on `data`'s training split (pixels mapped to `[-1, 1]`, randomly shifted
/// by up to `config.augment_shift` pixels) with the generic
/// [`Trainer`] and [`Supervised`] task, validating on the test split each epoch, then measures
/// its test accuracy. Checkpoints and logs go to `run_dir`. Deterministic on the CPU for a
/// given `config.seed`.
pub fn train_evaluator(
    dataset_name: &str,
    data: &ImageDataset,
    run_dir: &Path,
    config: &EvaluatorTrainingConfig,
    device: Device,
) -> Result<Evaluator> {
    let train = LabelledImages::from_u8(
        &data.train_images,
        &data.train_labels,
        PixelRange::MinusOneOne,
        device,
    )?;
    let test = LabelledImages::from_u8(
        &data.test_images,
        &data.test_labels,
        PixelRange::MinusOneOne,
        device,
    )?;
    train_evaluator_on(dataset_name, train, &test, run_dir, config, device)
}

/// [`train_evaluator`] on any labelled images in `[-1, 1]` (training images shifted by up to
/// `config.augment_shift` pixels, border -1).
pub fn train_evaluator_on(
    dataset_name: &str,
    train: LabelledImages,
    test: &LabelledImages,
    run_dir: &Path,
    config: &EvaluatorTrainingConfig,
    device: Device,
) -> Result<Evaluator> {
    if config.batch_size == 0 {
        return Err(Error::config("evaluator.batch_size", "must be at least 1"));
    }
    let start = Instant::now();
    let train = train.with_random_shift(config.augment_shift, -1.0)?;
    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(device);
    let model = ImageClassifier::init(&vs.root(), &config.model)?;
    let mut task = Supervised::new(model, vs, config.optimizer.clone(), GradClip::None)?;
    let per_epoch = crate::Dataset::len(&train)
        .div_ceil(config.batch_size)
        .max(1) as u64;
    let epochs = config
        .epochs
        .max(config.min_steps.div_ceil(per_epoch) as usize);
    let trainer = Trainer::new(
        TrainerConfig {
            epochs,
            batch_size: config.batch_size,
            seed: config.seed,
            monitor: "val_accuracy".into(),
            lr_schedule: config.lr_schedule.clone(),
            ..TrainerConfig::default()
        },
        run_dir,
    )
    .verbosity(Verbosity::Normal);
    trainer.fit(&mut task, &train, Some(test), false)?;
    let train_seconds = start.elapsed().as_secs_f64();
    let Supervised { model, vs, .. } = task;
    let mut evaluator = Evaluator {
        model,
        vs,
        info: EvaluatorInfo {
            dataset: dataset_name.to_string(),
            training: config.clone(),
            train_samples: crate::Dataset::len(&train),
            test_samples: crate::Dataset::len(test),
            test_accuracy: 0.0,
            epochs,
            train_seconds,
        },
    };
    evaluator.info.test_accuracy = evaluator.accuracy(test)?;
    tracing::info!(
        dataset = dataset_name,
        accuracy = evaluator.info.test_accuracy,
        seconds = train_seconds,
        "evaluator trained"
    );
    Ok(evaluator)
}

/// Writes `evaluator` into `cache_dir` (created if needed) as [`evaluator_paths`]: the
/// variables as safetensors, then the [`EvaluatorInfo`] as JSON, each atomically.
pub fn save_evaluator(evaluator: &Evaluator, cache_dir: &Path) -> Result<()> {
    check_name(&evaluator.info.dataset)?;
    std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    let (tensor_path, json_path) = evaluator_paths(cache_dir, &evaluator.info.dataset);
    let vars = named_variables(&evaluator.vs, "");
    let mut tmp = tensor_path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    Tensor::write_safetensors(&vars, &tmp)?;
    std::fs::rename(&tmp, &tensor_path).map_err(|e| Error::io(&tensor_path, e))?;
    let json = serde_json::to_vec_pretty(&evaluator.info).map_err(|e| Error::Checkpoint {
        path: json_path.clone(),
        field: "info".into(),
        reason: e.to_string(),
    })?;
    write_atomic(&json_path, &json)
}

fn read_info(json_path: &Path) -> Result<EvaluatorInfo> {
    let bytes = std::fs::read(json_path).map_err(|e| Error::io(json_path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Checkpoint {
        path: json_path.to_path_buf(),
        field: "info".into(),
        reason: e.to_string(),
    })
}

/// Loads the evaluator of `dataset_name` cached in `cache_dir` onto `device`. Fails with
/// [`Error::Checkpoint`] naming the file and entry when a file is missing, corrupt, or does not
/// fit the model its JSON describes.
pub fn load_evaluator(cache_dir: &Path, dataset_name: &str, device: Device) -> Result<Evaluator> {
    check_name(dataset_name)?;
    let (tensor_path, json_path) = evaluator_paths(cache_dir, dataset_name);
    let info = read_info(&json_path)?;
    let vs = VarStore::new(device);
    let model = ImageClassifier::init(&vs.root(), &info.training.model)?;
    if !tensor_path.is_file() {
        return Err(Error::Checkpoint {
            path: tensor_path,
            field: "file".into(),
            reason: "missing".into(),
        });
    }
    let saved: HashMap<String, Tensor> = Tensor::read_safetensors(&tensor_path)
        .map_err(|e| Error::Checkpoint {
            path: tensor_path.clone(),
            field: "safetensors".into(),
            reason: e.to_string(),
        })?
        .into_iter()
        .collect();
    copy_into(&named_variables(&vs, ""), &saved, &tensor_path)?;
    Ok(Evaluator { model, vs, info })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{serial, squares_dataset, tiny_config};
    use super::*;

    #[test]
    fn learns_a_separable_task_and_caches_it() {
        let _serial = serial();
        let data = squares_dataset();
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config();
        let a = train_or_load_evaluator_with("squares", &data, dir.path(), &config, Device::Cpu)
            .unwrap();
        assert!(a.info().test_accuracy >= 0.95, "{:?}", a.info());
        assert_eq!((a.info().train_samples, a.info().test_samples), (600, 200));
        let (tensors, json) = evaluator_paths(dir.path(), "squares");
        assert!(tensors.is_file() && json.is_file());

        // The second call loads the cache: same info (training time included) and weights.
        let b = train_or_load_evaluator_with("squares", &data, dir.path(), &config, Device::Cpu)
            .unwrap();
        assert_eq!(a.info(), b.info());
        let images = LabelledImages::from_u8(
            &data.test_images,
            &data.test_labels,
            PixelRange::MinusOneOne,
            Device::Cpu,
        )
        .unwrap();
        let fa = a.features(images.images()).unwrap();
        let fb = b.features(images.images()).unwrap();
        assert!(fa.equal(&fb));
        assert_eq!(fa.size(), [200, 32]);
        assert_eq!(b.accuracy(&images).unwrap(), a.info().test_accuracy);

        // Same seed, same evaluator (trained again in another folder).
        let dir2 = tempfile::tempdir().unwrap();
        let c = train_evaluator("squares", &data, dir2.path(), &config, Device::Cpu).unwrap();
        assert!(c.features(images.images()).unwrap().equal(&fa));
    }

    #[test]
    fn corrupt_cache_and_bad_names_are_errors() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let (tensors, json) = evaluator_paths(dir.path(), "x");
        std::fs::write(&json, b"{not json").unwrap();
        let err = load_evaluator(dir.path(), "x", Device::Cpu).unwrap_err();
        assert!(
            matches!(&err, Error::Checkpoint { path, .. } if path == &json),
            "{err}"
        );
        // A valid description whose tensors file is truncated.
        let info = EvaluatorInfo {
            dataset: "x".into(),
            training: tiny_config(),
            train_samples: 1,
            test_samples: 1,
            test_accuracy: 0.5,
            epochs: 1,
            train_seconds: 1.0,
        };
        std::fs::write(&json, serde_json::to_vec(&info).unwrap()).unwrap();
        std::fs::write(&tensors, b"\x10\x00\x00").unwrap();
        let err = load_evaluator(dir.path(), "x", Device::Cpu).unwrap_err();
        assert!(
            matches!(&err, Error::Checkpoint { path, .. } if path == &tensors),
            "{err}"
        );
        // Tensors of another model: the missing entry is named.
        let other = VarStore::new(Device::Cpu);
        let _ = ImageClassifier::init(&(other.root() / "wrong"), &tiny_config().model).unwrap();
        Tensor::write_safetensors(&named_variables(&other, ""), &tensors).unwrap();
        let err = load_evaluator(dir.path(), "x", Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("conv1.bias"), "{err}");
        for bad in ["", "../up", "a/b", ".hidden"] {
            assert!(load_evaluator(dir.path(), bad, Device::Cpu).is_err());
        }
    }
}

//! GAN runs on MNIST-like images: training with sample grids, the classifier-based quality
//! report (FD-score, inception score, coverage), and `gen sample`.

use crate::config::ImageGanRun;
use crate::fit::{FitContext, MetricMap, RunKind};
use anyhow::{Context, Result, bail};
use gen_data::mnist::{ImageDataset, load_mnist_like};
use gen_models::gan::{Gan, GanConfig};
use gen_train::eval::{
    Evaluator, GanReport, RealReference, generator_report, images_to_tensor,
    train_or_load_evaluator_with,
};
use gen_train::tasks::gan::{GanTask, GanTaskConfig, ImageData, grid_png};
use gen_train::{Outcome, TrainerState};
use ndarray::s;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// Generated images per forward pass when scoring.
const SAMPLE_BATCH: usize = 500;

/// Reads the run's dataset.
pub(crate) fn load(run: &ImageGanRun) -> Result<ImageDataset> {
    let name = run.data.dataset.as_str();
    if !matches!(name, "mnist" | "fashion-mnist") {
        bail!("data.dataset = `{name}`: image GANs read `mnist` or `fashion-mnist`");
    }
    let dir = gen_data::paths::dataset_dir(name)?;
    load_mnist_like(&dir).with_context(|| format!("loading {}", dir.display()))
}

/// A fresh GAN task, initialised from libtorch's generator.
pub(crate) fn gan_task(
    model: &GanConfig,
    gan: &GanTaskConfig,
    device: tch::Device,
) -> Result<GanTask> {
    let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
    let gan_model = Gan::new(&g_vs.root(), &d_vs.root(), model)?;
    Ok(GanTask::new(gan_model, g_vs, d_vs, gan.clone())?)
}

/// The GAN in `dir` from its `last` checkpoint (GAN losses say nothing about quality, so
/// "best" is not used), with the generator's weight average in its generator when the run
/// keeps one.
pub(crate) fn trained_gan(
    model: &GanConfig,
    gan: &GanTaskConfig,
    dir: &Path,
    device: tch::Device,
) -> Result<GanTask> {
    let mut task = gan_task(model, gan, device)?;
    crate::runs::load_checkpoint(&mut task, dir, &["last"])?;
    task.adopt_average()?;
    Ok(task)
}

fn task(run: &ImageGanRun, device: tch::Device) -> Result<GanTask> {
    gan_task(&run.model, &run.gan, device)
}

pub(crate) fn trained(run: &ImageGanRun, dir: &Path, device: tch::Device) -> Result<GanTask> {
    trained_gan(&run.model, &run.gan, dir, device)
}

/// Where the evaluators are cached: `<data folder>/.evaluators`.
pub(crate) fn evaluator_cache() -> PathBuf {
    gen_data::paths::data_dir().join(".evaluators")
}

fn report(
    evaluator: &Evaluator,
    reference: &RealReference,
    gan: &Gan,
    n: usize,
    seed: u64,
    device: tch::Device,
) -> Result<GanReport> {
    tch::manual_seed(seed as i64);
    Ok(generator_report(
        evaluator,
        reference,
        n,
        SAMPLE_BATCH,
        |k| Ok(gan.sample(k as i64, None, device)?),
    )?)
}

impl RunKind for ImageGanRun {
    type Data = ImageDataset;

    fn load(&self, _device: tch::Device) -> Result<ImageDataset> {
        load(self)
    }

    /// Trains (or resumes) in `ctx.dir`, writing sample grids to `samples/` each epoch.
    fn train(&self, data: &ImageDataset, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
        if ctx.fold.is_some() {
            bail!(
                "cross-validation needs held-out labels; it runs text-classifier and language-model presets"
            );
        }
        let n = self
            .data
            .limit
            .unwrap_or(usize::MAX)
            .min(data.train_labels.len());
        let v = self.data.valid.min(data.test_labels.len());
        let train = ImageData::from_u8(
            &data.train_images.slice(s![..n, .., ..]).to_owned(),
            &data.train_labels.slice(s![..n]).to_owned(),
            ctx.device,
        )?;
        let valid = ImageData::from_u8(
            &data.test_images.slice(s![..v, .., ..]).to_owned(),
            &data.test_labels.slice(s![..v]).to_owned(),
            ctx.device,
        )?;
        tracing::info!(train = n, valid = v, "images of {}", self.data.dataset);
        let mut task = task(self, ctx.device)?;
        let trainer = ctx.trainer(self.trainer.clone());
        let valid = (v > 0).then_some(&valid);
        Ok(trainer.fit(&mut task, &train, valid, ctx.resume)?)
    }

    /// The quality report: FD-score of `eval.n` generated images against as many real test
    /// images, the real-vs-real floor, an untrained generator's FD (the ceiling), the
    /// classifier's inception score and class coverage; for conditional models also how often the
    /// evaluator recognises the requested class.
    fn evaluate(&self, data: &ImageDataset, dir: &Path, device: tch::Device) -> Result<MetricMap> {
        let evaluator = train_or_load_evaluator_with(
            &self.data.dataset,
            data,
            &evaluator_cache(),
            &self.eval.evaluator,
            tch::Device::Cpu,
        )?;
        let n = self.eval.n.min(data.test_labels.len());
        let reference = RealReference::new(&evaluator, data, Some(n))?;
        let trained_task = trained(self, dir, device)?;
        let gan = &trained_task.gan;
        let r = report(&evaluator, &reference, gan, n, self.eval.seed, device)?;
        let mut out = MetricMap::new();
        out.insert("fd".to_string(), r.fd);
        out.insert("fd_real_vs_real".into(), r.real_vs_real_fd);
        out.insert("inception_score".into(), r.inception_score);
        out.insert("coverage".into(), r.coverage as f64);
        out.insert("n".into(), r.n as f64);
        out.insert("evaluator_accuracy".into(), evaluator.info().test_accuracy);
        if self.eval.untrained {
            tch::manual_seed(self.trainer.seed as i64);
            // The same seed as the run's start gives the generator it started from.
            let fresh = task(self, device)?;
            let u = report(
                &evaluator,
                &reference,
                &fresh.gan,
                n,
                self.eval.seed,
                device,
            )?;
            out.insert("fd_untrained".into(), u.fd);
            out.insert("fd_ratio".into(), r.fd / u.fd);
        }
        if let Some(classes) = gan.generator.num_classes() {
            // The evaluator's own per-class accuracy on real test images: the ceiling for how
            // often it can recognise a generated class (Fashion-MNIST's shirts and coats are
            // confused even when real).
            let real = images_to_tensor(&data.test_images, n)?;
            let labels: Vec<i64> = data
                .test_labels
                .iter()
                .take(n)
                .map(|&l| i64::from(l))
                .collect();
            let names: Vec<String> = (0..classes).map(|k| k.to_string()).collect();
            let real_acc = real_class_accuracy(&evaluator, &real, &labels, classes)?;
            let per_class = (n / classes as usize).max(1) as i64;
            tch::manual_seed(self.eval.seed as i64);
            let asked = recognised_as_asked(&evaluator, classes, |k| {
                Ok(gan.sample(per_class, Some(k), device)?)
            })?;
            insert_class_accuracies(&mut out, &names, &real_acc, &asked);
        }
        Ok(out)
    }
}

/// The evaluator's accuracy on the real `images` of each class `0..classes` (`labels` one per
/// image), or `None` for a class without images.
pub(crate) fn real_class_accuracy(
    evaluator: &Evaluator,
    images: &Tensor,
    labels: &[i64],
    classes: i64,
) -> Result<Vec<Option<f64>>> {
    let (_, probs) = evaluator.features_and_probabilities(images)?;
    let predicted = probs.f_argmax(1, false)?;
    let labels = Tensor::f_from_slice(labels)?;
    let mut accs = Vec::new();
    for k in 0..classes {
        let of_k = labels.f_eq(k)?;
        let total = of_k.f_sum(Kind::Double)?.f_double_value(&[])?;
        let hits = predicted
            .f_eq_tensor(&labels)?
            .f_logical_and(&of_k)?
            .f_sum(Kind::Double)?
            .f_double_value(&[])?;
        accs.push((total > 0.0).then(|| hits / total));
    }
    Ok(accs)
}

/// For each class `k` of a conditional generator, the share of `images_of(k)` (images
/// generated as `k`) that the evaluator recognises as `k`.
pub(crate) fn recognised_as_asked(
    evaluator: &Evaluator,
    classes: i64,
    mut images_of: impl FnMut(i64) -> Result<Tensor>,
) -> Result<Vec<f64>> {
    let mut accs = Vec::new();
    for k in 0..classes {
        let images = images_of(k)?;
        let (_, probs) = evaluator.features_and_probabilities(&images)?;
        let hits = probs
            .f_argmax(1, false)?
            .f_eq(k)?
            .f_to_kind(Kind::Double)?
            .f_mean(Kind::Double)?
            .f_double_value(&[])?;
        accs.push(hits);
    }
    Ok(accs)
}

/// Inserts `real_class_<name>_accuracy` (classes with real images), `class_<name>_accuracy`
/// (recognised as asked), and their mean and minimum over classes.
pub(crate) fn insert_class_accuracies(
    out: &mut MetricMap,
    names: &[String],
    real: &[Option<f64>],
    asked: &[f64],
) {
    for (name, acc) in names.iter().zip(real) {
        if let Some(acc) = acc {
            out.insert(format!("real_class_{name}_accuracy"), *acc);
        }
    }
    for (name, acc) in names.iter().zip(asked) {
        out.insert(format!("class_{name}_accuracy"), *acc);
    }
    let mean = asked.iter().sum::<f64>() / asked.len().max(1) as f64;
    out.insert("class_accuracy_mean".into(), mean);
    out.insert(
        "class_accuracy_min".into(),
        asked.iter().copied().fold(f64::INFINITY, f64::min),
    );
}

/// Options of `gen sample`.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Images in the grid.
    pub num: usize,
    /// The class (conditional models).
    pub class: Option<i64>,
    /// Seed of the latents.
    pub seed: u64,
    /// The PNG to write.
    pub out: PathBuf,
}

/// Writes a grid of `num` generated images.
pub fn sample(
    run: &ImageGanRun,
    dir: &Path,
    device: tch::Device,
    opts: &SampleOptions,
) -> Result<()> {
    if opts.num == 0 {
        bail!("--num must be at least 1");
    }
    let task = trained(run, dir, device)?;
    if let (Some(k), Some(classes)) = (opts.class, task.gan.generator.num_classes()) {
        if !(0..classes).contains(&k) {
            bail!("--class {k}: the model has classes 0..{}", classes - 1);
        }
    }
    if opts.class.is_some() && task.gan.generator.num_classes().is_none() {
        bail!(
            "--class: the run in {} is not conditional (mnist-dcgan and fashion-cgan runs are)",
            dir.display()
        );
    }
    tch::manual_seed(opts.seed as i64);
    let images = task.gan.sample(opts.num as i64, opts.class, device)?;
    let columns = (opts.num as f64).sqrt().ceil() as usize;
    if let Some(parent) = opts.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    grid_png(&images, columns.max(1), &opts.out)?;
    Ok(())
}

//! Sound-GAN runs on the drum one-shots: clips become normalised log-magnitude spectrogram
//! images (`gen_core::spectrogram`), a GAN learns them through the one `Trainer`, and
//! Griffin-Lim turns generated images back into audio. Scoring follows WaveGAN/SpecGAN: an
//! evaluator CNN trained on real labelled spectrograms gives the FD-score, the inception score
//! and class coverage of generated sounds, each recomputed from the waveform a listener hears,
//! beside the real test clips' own inception score. A conditional GAN (`conditional_specgan`)
//! learns the six drum classes as labels; `gen sample --class snare` asks for one, and `gen
//! evaluate` reports how often the evaluator recognises each class asked for.

use crate::config::SoundGanRun;
use crate::fit::{FitContext, MetricMap, RunKind};
use crate::gan::{
    SampleOptions, evaluator_cache, gan_task, insert_class_accuracies, real_class_accuracy,
    recognised_as_asked, trained_gan,
};
use anyhow::{Context, Result, bail};
use gen_core::spectrogram::{BinNorm, SpectrogramImages};
use gen_data::drums::{self, CLIP_LEN, DrumClass, DrumsSplit, SAMPLE_RATE};
use gen_models::gan::Gan;
use gen_train::eval::{
    Evaluator, GanReport, RealReference, class_shares, classifier_inception_score,
    generator_report, train_or_load_evaluator_on,
};
use gen_train::tasks::gan::{ImageData, grid_png};
use gen_train::tasks::image_classifier::LabelledImages;
use gen_train::{Outcome, TrainerState};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The file in the run folder that keeps the training set's per-bin statistics.
pub const NORM_FILE: &str = "spectrogram_norm.json";

/// Generated clips whose class shares `gen evaluate` reports: enough to see a class that makes
/// 3% of the real clips (clap) about 15 times.
const SHARE_SAMPLES: usize = 512;

/// Generated clips per Griffin-Lim batch when scoring.
const SAMPLE_BATCH: usize = 64;

/// Generated clips per class asked of a conditional GAN when scoring how often the evaluator
/// recognises the class: 128 puts a recognition rate near 70% within about 8 points at 95%.
const ASKED_PER_CLASS: i64 = 128;

/// The drum clips, as one tensor, with their labels and split.
pub struct SoundData {
    /// `[n, CLIP_LEN]` float on the CPU.
    clips: Tensor,
    labels: Vec<Option<DrumClass>>,
    split: DrumsSplit,
}

impl SoundData {
    /// The clips `[k, CLIP_LEN]` and labels (class index, or 6 when unlabelled) of `indices`,
    /// keeping only labelled ones unless `unlabelled`.
    fn select(&self, indices: &[usize], unlabelled: bool) -> Result<(Tensor, Vec<i64>)> {
        let keep: Vec<(i64, i64)> = indices
            .iter()
            .filter_map(|&i| match self.labels.get(i).copied().flatten() {
                Some(c) => Some((i as i64, c.index() as i64)),
                None if unlabelled => Some((i as i64, DrumClass::COUNT as i64)),
                None => None,
            })
            .collect();
        let idx: Vec<i64> = keep.iter().map(|k| k.0).collect();
        let labels = keep.iter().map(|k| k.1).collect();
        let clips = self.clips.f_index_select(0, &Tensor::f_from_slice(&idx)?)?;
        Ok((clips, labels))
    }

    /// The share of each drum class among the labelled training clips (what a conditional
    /// generator is asked for when scored against the real clips' mix).
    fn train_class_shares(&self) -> Result<Vec<f64>> {
        let counts = drums::ClassCounts::of_indices(&self.split.train, &self.labels)?;
        let total = counts.labelled().max(1) as f64;
        Ok(counts.per_class.iter().map(|&n| n as f64 / total).collect())
    }
}

/// Checks a conditional run's model fits the drum labels: one class each, no unlabelled clips.
fn check_conditional(run: &SoundGanRun) -> Result<()> {
    if !run.model.is_conditional() {
        return Ok(());
    }
    if run.model.num_classes != DrumClass::COUNT as i64 {
        bail!(
            "model.num_classes = {}: the drums have {} classes ({})",
            run.model.num_classes,
            DrumClass::COUNT,
            DrumClass::ALL.map(DrumClass::name).join(", ")
        );
    }
    if run.data.unlabelled {
        bail!("data.unlabelled = true: a conditional GAN needs a class for every clip");
    }
    Ok(())
}

fn load(run: &SoundGanRun) -> Result<SoundData> {
    if run.data.dataset != drums::DATASET {
        bail!(
            "data.dataset = `{}`: sound GANs read `drums`",
            run.data.dataset
        );
    }
    if run.spectrogram.clip_len != CLIP_LEN as i64 {
        bail!(
            "spectrogram.clip_len = {}: the drum clips have {CLIP_LEN} samples",
            run.spectrogram.clip_len
        );
    }
    let set = drums::load_default()?;
    let split = drums::split_clips(&set.clips, &run.data.split)?;
    let mut flat = Vec::with_capacity(set.clips.len() * CLIP_LEN);
    for clip in &set.clips {
        if clip.samples.len() != CLIP_LEN {
            bail!(
                "{}: {} samples, not {CLIP_LEN}",
                clip.path,
                clip.samples.len()
            );
        }
        flat.extend_from_slice(&clip.samples);
    }
    let clips = Tensor::f_from_slice(&flat)?.f_view([set.clips.len() as i64, CLIP_LEN as i64])?;
    Ok(SoundData {
        clips,
        labels: set.clips.iter().map(|c| c.class).collect(),
        split,
    })
}

/// The run's spectrogram front end: read from `dir`'s [`NORM_FILE`], or (when `fit`) fitted to
/// the training clips and written there.
fn front_end(
    run: &SoundGanRun,
    data: Option<&SoundData>,
    dir: &Path,
    device: Device,
) -> Result<SpectrogramImages> {
    let path = dir.join(NORM_FILE);
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let norm: BinNorm = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a spectrogram normalisation", path.display()))?;
        return SpectrogramImages::new(&run.spectrogram, norm, device)
            .with_context(|| format!("{} does not fit the run's spectrogram", path.display()));
    }
    let Some(data) = data else {
        bail!("{} is missing: was the run trained?", path.display());
    };
    let (clips, _) = data.select(&data.split.train, run.data.unlabelled)?;
    let front = SpectrogramImages::fit(&run.spectrogram, &clips, device)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&path, serde_json::to_string_pretty(front.norm())?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(front)
}

/// Spectrogram images of clips, for the GAN.
fn image_data(
    front: &SpectrogramImages,
    clips: &Tensor,
    labels: &[i64],
    device: Device,
) -> Result<ImageData> {
    let images = tch::no_grad(|| front.images(clips))?;
    let images = gen_core::tensor_to_array4::<f32>(&images.f_to_device(Device::Cpu)?)?;
    Ok(ImageData::new(images, labels, device)?)
}

/// Labelled spectrogram images of the clips in `indices`, for the evaluator.
fn labelled_images(
    front: &SpectrogramImages,
    data: &SoundData,
    indices: &[usize],
) -> Result<LabelledImages> {
    let (clips, labels) = data.select(indices, false)?;
    let images = tch::no_grad(|| front.images(&clips))?.f_to_device(Device::Cpu)?;
    Ok(LabelledImages::new(
        images,
        Tensor::f_from_slice(&labels)?,
        Device::Cpu,
    )?)
}

/// The classes a conditional generator is asked for.
#[derive(Clone, Copy)]
enum Ask<'a> {
    /// Drawn uniformly (and none for an unconditional generator).
    Uniform,
    /// Drawn with these probabilities, one per class (conditional only).
    Mix(&'a [f64]),
    /// This class (conditional only).
    Class(i64),
}

/// `k` spectrogram images as the generator makes them, before Griffin-Lim.
fn generate_images(gan: &Gan, k: i64, ask: Ask<'_>, device: Device) -> Result<Tensor> {
    Ok(match ask {
        Ask::Uniform => gan.sample(k, None, device)?,
        Ask::Class(c) => gan.sample(k, Some(c), device)?,
        Ask::Mix(shares) => {
            let labels = Tensor::f_from_slice(shares)?.f_multinomial(k, true)?;
            gan.sample_labelled(&labels, device)?
        }
    })
}

/// `k` generated clips `[k, CLIP_LEN]`.
fn generate(
    gan: &Gan,
    front: &SpectrogramImages,
    k: i64,
    ask: Ask<'_>,
    device: Device,
) -> Result<Tensor> {
    Ok(front.clips(&generate_images(gan, k, ask, device)?)?)
}

/// What a generator's quality report compares against, and how.
struct Scoring<'a> {
    evaluator: &'a Evaluator,
    reference: &'a RealReference,
    front: &'a SpectrogramImages,
    /// Generated clips scored.
    n: usize,
    /// Seed of the generated clips.
    seed: u64,
    device: Device,
}

impl Scoring<'_> {
    /// The FD-score, inception score and coverage of `n` clips from `gan`.
    fn report(&self, gan: &Gan, ask: Ask<'_>) -> Result<GanReport> {
        tch::manual_seed(self.seed as i64);
        Ok(generator_report(
            self.evaluator,
            self.reference,
            self.n,
            SAMPLE_BATCH,
            |k| {
                // Scored from the waveform a listener hears.
                let clips = generate(gan, self.front, k as i64, ask, self.device)
                    .map_err(|e| gen_train::Error::config("generated clips", format!("{e:#}")))?;
                Ok(self.front.images(&clips)?)
            },
        )?)
    }
}

/// The share of `images` that `evaluator` assigns to each drum class (by its most probable
/// class), in [`DrumClass::ALL`]'s order.
fn drum_shares(evaluator: &Evaluator, images: &Tensor) -> Result<Vec<f64>> {
    let (_, probs) = evaluator.features_and_probabilities(images)?;
    Ok(class_shares(&probs, DrumClass::COUNT)?)
}

/// The evaluator of the run's spectrograms (trained on the labelled training clips, or read
/// from the cache), with those training images and the labelled test images.
fn evaluator(
    run: &SoundGanRun,
    data: &SoundData,
    front: &SpectrogramImages,
) -> Result<(Evaluator, Tensor, LabelledImages)> {
    let train = labelled_images(front, data, &data.split.train)?;
    let test = labelled_images(front, data, &data.split.test)?;
    let name = format!("{}-spec{}", run.data.dataset, run.spectrogram.size);
    let train_images = train.images().shallow_clone();
    let evaluator = train_or_load_evaluator_on(
        &name,
        train,
        &test,
        &evaluator_cache(),
        &run.eval.evaluator,
        Device::Cpu,
    )?;
    Ok((evaluator, train_images, test))
}

/// What the memorisation audit of a sound run compares: spectrogram images `[n, 1, s, s]` on
/// the CPU, and the evaluator whose features it also compares them in.
pub struct AuditSpectrograms {
    /// The clips the GAN trained on (the unlabelled ones too with `data.unlabelled`).
    pub train: Tensor,
    /// The first test clips (the same selection), the held-out baseline.
    pub heldout: Tensor,
    /// The generator's spectrograms, as it makes them (before Griffin-Lim: a copy of a
    /// training spectrogram shows as one).
    pub generated: Tensor,
    /// The run's evaluator.
    pub evaluator: Evaluator,
}

/// The images of [`AuditSpectrograms`]: the first `heldout` (at most) test clips and `num` generated
/// spectrograms, seeded with `seed` (a conditional GAN is asked for the training clips' class
/// mix, as `gen evaluate` asks).
pub fn audit_spectrograms(
    run: &SoundGanRun,
    dir: &Path,
    device: Device,
    num: usize,
    heldout: usize,
    seed: u64,
) -> Result<AuditSpectrograms> {
    check_conditional(run)?;
    let data = load(run)?;
    let front = front_end(run, None, dir, device)?;
    let (evaluator, _, _) = evaluator(run, &data, &front)?;
    let images = |indices: &[usize]| -> Result<Tensor> {
        let (clips, _) = data.select(indices, run.data.unlabelled)?;
        Ok(tch::no_grad(|| front.images(&clips))?.f_to_device(Device::Cpu)?)
    };
    let task = trained_gan(&run.model, &run.gan, dir, device)?;
    let shares = data.train_class_shares()?;
    let ask = if run.model.is_conditional() {
        Ask::Mix(&shares)
    } else {
        Ask::Uniform
    };
    tch::manual_seed(seed as i64);
    let mut chunks = Vec::new();
    let mut left = num;
    while left > 0 {
        let k = left.min(SAMPLE_BATCH);
        let images = tch::no_grad(|| generate_images(&task.gan, k as i64, ask, device))?;
        chunks.push(images.f_to_device(Device::Cpu)?);
        left -= k;
    }
    Ok(AuditSpectrograms {
        train: images(&data.split.train)?,
        heldout: {
            let test = images(&data.split.test)?;
            let n = test.size().first().copied().unwrap_or(0);
            test.f_narrow(0, 0, n.min(heldout as i64))?
        },
        generated: Tensor::f_cat(&chunks, 0)?,
        evaluator,
    })
}

impl RunKind for SoundGanRun {
    type Data = SoundData;

    fn load(&self, _device: Device) -> Result<SoundData> {
        load(self)
    }

    /// Trains (or resumes) in `ctx.dir`: the spectrogram statistics go to [`NORM_FILE`], sample
    /// grids of spectrograms and the first of them as WAVs ([`epoch_clips`]) to `samples/`
    /// each epoch.
    fn train(&self, data: &SoundData, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
        if ctx.fold.is_some() {
            bail!(
                "cross-validation needs held-out labels; it runs text-classifier and language-model presets"
            );
        }
        check_conditional(self)?;
        let front = front_end(self, Some(data), &ctx.dir, ctx.device)?;
        let unlabelled = self.data.unlabelled;
        let train = drums::rebalance(&data.split.train, &data.labels, self.data.balance)?;
        let (clips, labels) = data.select(&train, unlabelled)?;
        let n_train = labels.len();
        let train = image_data(&front, &clips, &labels, ctx.device)?;
        let (clips, labels) = data.select(&data.split.valid, unlabelled)?;
        let valid = image_data(&front, &clips, &labels, ctx.device)?;
        tracing::info!(
            train = n_train,
            valid = labels.len(),
            "spectrograms of drum clips"
        );
        let mut task =
            gan_task(&self.model, &self.gan, ctx.device)?.with_grid_samples(epoch_clips(front));
        let trainer = ctx.trainer(self.trainer.clone());
        Ok(trainer.fit(&mut task, &train, Some(&valid), ctx.resume)?)
    }

    /// The quality report: FD-score of generated clips (Griffin-Lim, then the spectrogram
    /// again) against the real labelled test clips, the real-vs-real floor, the untrained
    /// generator's FD, the inception score and coverage beside the real test clips' own, and
    /// the real test clips' inception score after a Griffin-Lim round trip (what phase
    /// recovery alone costs). A conditional generator is asked for the training clips' class
    /// mix, and for each class in turn: `class_<name>_accuracy` is how often the evaluator
    /// recognises it, `class_accuracy_min` the least of them.
    fn evaluate(&self, data: &SoundData, dir: &Path, device: Device) -> Result<MetricMap> {
        check_conditional(self)?;
        let front = front_end(self, None, dir, device)?;
        let (evaluator, reference_train, test) = evaluator(self, data, &front)?;
        let n_test = test.images().size().first().copied().unwrap_or(0) as usize;
        let n = self.eval.n.min(n_test);
        let reference = RealReference::from_images(
            &evaluator,
            &reference_train,
            &test.images().f_narrow(0, 0, n as i64)?,
        )?;
        let task = trained_gan(&self.model, &self.gan, dir, device)?;
        let shares = data.train_class_shares()?;
        let ask = if self.model.is_conditional() {
            Ask::Mix(&shares)
        } else {
            Ask::Uniform
        };
        let scoring = Scoring {
            evaluator: &evaluator,
            reference: &reference,
            front: &front,
            n,
            seed: self.eval.seed,
            device,
        };
        let r = scoring.report(&task.gan, ask)?;
        let mut out = MetricMap::new();
        out.insert("fd".into(), r.fd);
        out.insert("fd_real_vs_real".into(), r.real_vs_real_fd);
        out.insert("inception_score".into(), r.inception_score);
        out.insert(
            "real_inception_score".into(),
            reference.real_inception_score,
        );
        out.insert(
            "inception_score_ratio".into(),
            r.inception_score / reference.real_inception_score,
        );
        out.insert("coverage".into(), r.coverage as f64);
        out.insert("real_coverage".into(), reference.real_coverage as f64);
        out.insert("n".into(), r.n as f64);
        out.insert("evaluator_accuracy".into(), evaluator.info().test_accuracy);
        // The real test clips after Griffin-Lim: the ceiling phase recovery leaves.
        let real = test.images().f_narrow(0, 0, n as i64)?;
        let round_trip =
            tch::no_grad(|| -> Result<Tensor> { Ok(front.images(&front.clips(&real)?)?) })?;
        let (_, probs) = evaluator.features_and_probabilities(&round_trip)?;
        out.insert(
            "real_griffin_lim_inception_score".into(),
            classifier_inception_score(&probs)?,
        );
        // Which drums it makes: the evaluator's class shares of generated and real clips.
        tch::manual_seed(self.eval.seed as i64);
        let generated = tch::no_grad(|| -> Result<Tensor> {
            let k = SHARE_SAMPLES as i64;
            Ok(front.images(&generate(&task.gan, &front, k, ask, device)?)?)
        })?;
        let made = drum_shares(&evaluator, &generated)?;
        let real_shares = drum_shares(&evaluator, &real)?;
        let mut matched = 0;
        for class in DrumClass::ALL {
            let share = |s: &[f64]| s.get(class.index()).copied().unwrap_or(0.0);
            let (g, r) = (share(&made), share(&real_shares));
            out.insert(format!("share_{}", class.name()), g);
            out.insert(format!("real_share_{}", class.name()), r);
            matched += usize::from(r > 0.0 && g >= r / 2.0);
        }
        out.insert("classes_at_half_real_share".into(), matched as f64);
        out.insert(
            "classes_in_real".into(),
            real_shares.iter().filter(|&&r| r > 0.0).count() as f64,
        );
        if self.eval.untrained {
            tch::manual_seed(self.trainer.seed as i64);
            // The same seed as the run's start gives the generator it started from.
            let fresh = gan_task(&self.model, &self.gan, device)?;
            let u = scoring.report(&fresh.gan, ask)?;
            out.insert("fd_untrained".into(), u.fd);
            out.insert("fd_ratio".into(), r.fd / u.fd);
        }
        if let Some(classes) = task.gan.generator.num_classes() {
            let (_, labels) = data.select(&data.split.test, false)?;
            let labels = labels.get(..n).unwrap_or(&labels);
            let real_acc = real_class_accuracy(&evaluator, &real, labels, classes)?;
            tch::manual_seed(self.eval.seed as i64);
            let asked = recognised_as_asked(&evaluator, classes, |k| {
                let clips = generate(&task.gan, &front, ASKED_PER_CLASS, Ask::Class(k), device)?;
                Ok(tch::no_grad(|| front.images(&clips))?)
            })?;
            let names: Vec<String> = DrumClass::ALL.iter().map(|c| c.name().into()).collect();
            insert_class_accuracies(&mut out, &names, &real_acc, &asked);
        }
        Ok(out)
    }
}

/// Writes `opts.num` generated clips as 16-bit WAVs next to `opts.out` (`<stem>-NN.wav`) and
/// their spectrograms (recomputed from the audio, low frequencies at the bottom) as the PNG
/// grid `opts.out`. Returns the files written. A clip whose peak exceeds 1 is scaled to a
/// peak of 0.99, so that nothing clips. A conditional GAN makes `opts.class` (an index into
/// [`DrumClass::ALL`]) when given, else classes drawn uniformly.
pub fn sample(
    run: &SoundGanRun,
    dir: &Path,
    device: Device,
    opts: &SampleOptions,
) -> Result<Vec<PathBuf>> {
    if opts.num == 0 {
        bail!("--num must be at least 1");
    }
    let ask = match (opts.class, run.model.is_conditional()) {
        (None, _) => Ask::Uniform,
        (Some(k), true) if (0..DrumClass::COUNT as i64).contains(&k) => Ask::Class(k),
        (Some(k), true) => bail!(
            "--class {k}: the drum classes are 0..{}",
            DrumClass::COUNT - 1
        ),
        (Some(_), false) => bail!(
            "--class: the sound GAN in {} is not conditional (try a drums-cspecgan run)",
            dir.display()
        ),
    };
    let front = front_end(run, None, dir, device)?;
    let task = trained_gan(&run.model, &run.gan, dir, device)?;
    tch::manual_seed(opts.seed as i64);
    let clips = generate(&task.gan, &front, opts.num as i64, ask, device)?;
    let images = tch::no_grad(|| front.images(&clips))?;
    if let Some(parent) = opts.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let columns = (opts.num as f64).sqrt().ceil() as usize;
    grid_png(&images, columns.max(1), &opts.out)?;
    let mut written = vec![opts.out.clone()];
    let stem = opts
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sample".into());
    for i in 0..opts.num {
        let path = opts.out.with_file_name(format!("{stem}-{i:02}.wav"));
        write_clip(&clips.f_get(i as i64)?, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `clip` (`[CLIP_LEN]`) to `path` as a 16-bit WAV, scaled down to a 0.99 peak when it
/// would clip.
fn write_clip(clip: &Tensor, path: &Path) -> Result<()> {
    let clip = clip.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?;
    let peak = clip.f_abs()?.f_max()?.f_double_value(&[])?;
    let clip = if peak > 1.0 {
        clip.f_mul_scalar(0.99 / peak)?
    } else {
        clip
    };
    let samples = Vec::<f32>::try_from(&clip.f_contiguous()?)?;
    gen_data::audio::wav::write_wav_i16(path, &samples, SAMPLE_RATE)?;
    Ok(())
}

/// Clips written after each epoch.
const EPOCH_CLIPS: i64 = 4;

/// After each epoch, the first [`EPOCH_CLIPS`] spectrograms of the GAN's sample grid (fixed
/// latents) as audio through Griffin-Lim, which draws nothing at random:
/// `samples/clip<i>_<epoch, 3 digits>.wav`, TensorBoard's `samples/clip<i>`.
fn epoch_clips(
    front: SpectrogramImages,
) -> impl FnMut(&Tensor, usize, &Path) -> gen_train::Result<Vec<PathBuf>> + 'static {
    move |grid, epoch, run_dir| {
        let started = std::time::Instant::now();
        let write = || -> Result<Vec<PathBuf>> {
            let n = grid.size().first().copied().unwrap_or(0).min(EPOCH_CLIPS);
            let images = grid.f_narrow(0, 0, n)?;
            let clips = tch::no_grad(|| front.clips(&images))?;
            let mut written = Vec::new();
            for i in 0..n {
                let path = run_dir
                    .join("samples")
                    .join(format!("clip{i}_{epoch:03}.wav"));
                write_clip(&clips.f_get(i)?, &path)?;
                written.push(path);
            }
            Ok(written)
        };
        let written =
            write().map_err(|e| gen_train::Error::config("epoch clips", format!("{e:#}")))?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::debug!(epoch, seconds, "epoch clips written");
        Ok(written)
    }
}

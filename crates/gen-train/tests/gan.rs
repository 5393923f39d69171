//! GAN training through the generic loop: closed-form metrics of each loss, learning on toys,
//! exact resume, sample grids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

mod common;

use common::StopAfter;
use gen_data::splitmix::SplitMix64;
use gen_models::gan::{DiscriminatorNorm, Gan, GanConfig, GanKind, MlpGanConfig};
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, OptimizerConfig};
use gen_train::tasks::gan::augment::DiffAugmentConfig;
use gen_train::tasks::gan::{
    FakeLabels, GanLoss, GanTask, GanTaskConfig, ImageData, InstanceNoise, SampleConfig,
    grid_pixels, grid_png,
};
use gen_train::{Dataset, Error, Metrics, Outcome, TrainStep, Trainer, TrainerConfig};
use ndarray::Array4;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::{Device, Kind, Tensor, nn::VarStore};

/// libtorch's generator is global to the process: tests that seed it run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn adam(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig {
        lr,
        beta1: 0.5,
        ..Default::default()
    })
}

/// A small fully connected GAN on 1-D data (one channel, 1x1 "images").
fn toy_model() -> GanConfig {
    GanConfig {
        kind: GanKind::Mlp,
        latent_dim: 4,
        image_size: 1,
        mlp: MlpGanConfig {
            g_hidden: vec![16, 16],
            d_hidden: vec![16, 16],
            slope: 0.2,
        },
        ..Default::default()
    }
}

fn task(model: &GanConfig, config: GanTaskConfig, seed: i64) -> GanTask {
    tch::manual_seed(seed);
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let gan = Gan::new(&g_vs.root(), &d_vs.root(), model).unwrap();
    GanTask::new(gan, g_vs, d_vs, config).unwrap()
}

fn no_samples() -> SampleConfig {
    SampleConfig {
        enabled: false,
        ..Default::default()
    }
}

/// `n` 1-D samples from N(mean, std), clamped to [-1, 1].
fn gaussian_1d(n: usize, mean: f32, std: f32, seed: u64) -> ImageData {
    gaussian(n, 1, mean, std, seed)
}

/// `n` points of `dims` independent N(mean, std) coordinates, clamped to [-1, 1], as
/// `dims`-channel 1x1 images.
fn gaussian(n: usize, dims: usize, mean: f32, std: f32, seed: u64) -> ImageData {
    let mut rng = SplitMix64::new(seed);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let values: Vec<f32> = (0..n * dims)
        .map(|_| {
            let (u, v) = (unit(), 1.0 - unit());
            let g = (-2.0 * v.ln()).sqrt() * (std::f64::consts::TAU * u).cos();
            (mean + std * g as f32).clamp(-1.0, 1.0)
        })
        .collect();
    let images = Array4::from_shape_vec((n, dims, 1, 1), values).unwrap();
    ImageData::new(images, &vec![0; n], Device::Cpu).unwrap()
}

fn run_steps(
    task: &mut GanTask,
    data: &ImageData,
    steps: usize,
    batch: usize,
    seed: i64,
) -> Vec<Metrics> {
    let mut rng = SplitMix64::new(seed as u64);
    (0..steps)
        .map(|s| {
            tch::manual_seed(seed + s as i64);
            let idx: Vec<usize> = (0..batch)
                .map(|_| rng.below(data.len() as u64) as usize)
                .collect();
            task.train_step(&data.batch(&idx).unwrap()).unwrap()
        })
        .collect()
}

fn mean(ms: &[Metrics], name: &str) -> f64 {
    let mut all = Metrics::new();
    ms.iter().for_each(|m| all.merge(m));
    all.mean(name).unwrap()
}

/// Sets every variable of the discriminator to 0 except its output bias, `bias`: D then
/// scores every input `bias`, and its input gradient is exactly zero.
fn constant_discriminator(task: &GanTask, bias: f64) {
    tch::no_grad(|| {
        for (name, t) in task.d_vs.variables() {
            let v = if name == "out.bias" { bias } else { 0.0 };
            let _ = t.shallow_clone().fill_(v);
        }
    });
}

#[test]
fn each_loss_reports_its_closed_form_against_a_constant_discriminator() {
    let _s = serial();
    // D(x) = 1 for every x (logit 1), frozen (lr 0).
    // Python: import math; sp = lambda x: math.log1p(math.exp(x)); s = 1 / (1 + math.exp(-1))
    // sp(1) = 1.3132616875182228, sp(-1) = 0.31326168751822286, s = 0.7310585786300049
    let (sp1, spm1, sig1) = (1.3132616875182228, 0.31326168751822286, 0.7310585786300049);
    let cases = [
        // (loss, smoothing, loss_d, loss_g, gp)
        (GanLoss::Minimax, None, spm1 + sp1, -sp1, None),
        (GanLoss::NonSaturating, None, spm1 + sp1, spm1, None),
        // Smoothing t adds (1 - t) * (log D - log(1 - D)) = (1 - t) * logit = 0.1.
        (
            GanLoss::NonSaturating,
            Some(0.9),
            spm1 + sp1 + 0.1,
            spm1,
            None,
        ),
        // E[D(G(z))] - E[D(x)] = 0; zero input gradient -> GP = (0 - 1)^2 = 1, times 10.
        (GanLoss::WganGp, None, 10.0, -1.0, Some(1.0)),
        // relu(1 - 1) + relu(1 + 1).
        (GanLoss::Hinge, None, 2.0, -1.0, None),
    ];
    let data = gaussian_1d(64, 0.5, 0.1, 1);
    for (loss, smoothing, loss_d, loss_g, gp) in cases {
        let config = GanTaskConfig {
            loss,
            label_smoothing: smoothing,
            optimizer_d: adam(0.0),
            samples: no_samples(),
            ..Default::default()
        };
        let mut t = task(&toy_model(), config, 0);
        constant_discriminator(&t, 1.0);
        let m = run_steps(&mut t, &data, 1, 16, 0).remove(0);
        let close = |name: &str, want: f64| {
            let got = m.mean(name).unwrap();
            assert!(
                (got - want).abs() < 1e-5,
                "{loss:?} {smoothing:?} {name}: {got} vs {want}"
            );
        };
        close("loss_d", loss_d);
        close("loss_g", loss_g);
        close("loss", loss_d + loss_g);
        close("d_x", sig1);
        close("d_g_z", sig1);
        match gp {
            Some(gp) => close("gp", gp),
            None => assert!(m.mean("gp").is_none()),
        }
        // valid_step reports the same (no noise, D constant).
        let v = tch::no_grad(|| t.valid_step(&data.batch(&[0, 1, 2, 3]).unwrap())).unwrap();
        assert!(
            (v.mean("loss_d").unwrap() - loss_d).abs() < 1e-5,
            "{loss:?} valid"
        );
        assert!(
            (v.mean("loss_g").unwrap() - loss_g).abs() < 1e-5,
            "{loss:?} valid"
        );
    }
}

#[test]
fn minimax_stays_finite_when_the_discriminator_is_certain() {
    let _s = serial();
    let data = gaussian_1d(64, 0.5, 0.1, 2);
    for logit in [100.0, -100.0] {
        let config = GanTaskConfig {
            loss: GanLoss::Minimax,
            optimizer_d: adam(0.0),
            samples: no_samples(),
            ..Default::default()
        };
        let mut t = task(&toy_model(), config, 0);
        constant_discriminator(&t, logit);
        let m = run_steps(&mut t, &data, 3, 16, 0);
        for step in &m {
            for (name, v) in step.means() {
                assert!(v.is_finite(), "logit {logit}: {name} = {v}");
            }
        }
        // D(G(z)) = sigmoid(100) = 1: log(1 - D) = -softplus(100) = -100 (finite, not -inf).
        // D(G(z)) = sigmoid(-100): log(1 - D) = -softplus(-100) ~ -3.7e-44.
        let want = if logit > 0.0 { -100.0 } else { 0.0 };
        assert!(
            (mean(&m, "loss_g") - want).abs() < 1e-4,
            "{logit}: {}",
            mean(&m, "loss_g")
        );
        for (name, v) in t.g_vs.variables() {
            assert!(
                v.isfinite().all().int64_value(&[]) == 1,
                "{name} is not finite"
            );
        }
    }
}

#[test]
fn every_loss_trains_the_discriminator_to_separate_real_from_fake() {
    let _s = serial();
    // Real points near (0.8, 0.8); the generator is frozen (lr 0) and outputs points near its
    // init, around the origin. 2-D, because in 1-D the gradient penalty walls a critic that
    // starts with the wrong slope sign off from the right one (|slope| must pass through 0).
    let data = gaussian(256, 2, 0.8, 0.02, 3);
    let model = GanConfig {
        channels: 2,
        ..toy_model()
    };
    for loss in [
        GanLoss::Minimax,
        GanLoss::NonSaturating,
        GanLoss::WganGp,
        GanLoss::Hinge,
    ] {
        let config = GanTaskConfig {
            loss,
            optimizer_g: adam(0.0),
            optimizer_d: adam(2e-3),
            samples: no_samples(),
            ..Default::default()
        };
        let mut t = task(&model, config, 1);
        let m = run_steps(&mut t, &data, 200, 32, 10);
        let (first, last) = (&m[..10], &m[190..]);
        let (d0, d1) = (mean(first, "loss_d"), mean(last, "loss_d"));
        // D's loss falls, and its scores separate the two sets.
        assert!(d1 < d0 - 0.5, "{loss:?}: loss_d {d0} -> {d1}");
        if loss == GanLoss::WganGp {
            // The critic's Wasserstein estimate grows towards the distance between the sets.
            let (w0, w1) = (mean(first, "w_dist"), mean(last, "w_dist"));
            assert!(w1 > w0 + 0.3, "{loss:?}: w_dist {w0} -> {w1}");
        } else {
            let gap = |ms: &[Metrics]| mean(ms, "d_x") - mean(ms, "d_g_z");
            assert!(
                gap(last) > gap(first) + 0.3,
                "{loss:?}: gap {} -> {}",
                gap(first),
                gap(last)
            );
            // D ends near its optimum on separable data: for the sigmoid losses D -> 1 on real
            // and 0 on fake; the hinge loss is 0 once the scores pass +1 and -1, i.e. sigmoid
            // 0.73 and 0.27.
            let (lo, hi) = if loss == GanLoss::Hinge {
                (0.7, 0.3)
            } else {
                (0.95, 0.05)
            };
            assert!(
                mean(last, "d_x") > lo && mean(last, "d_g_z") < hi,
                "{loss:?}"
            );
            assert!(d1 < 0.1, "{loss:?}: final loss_d {d1}");
        }
    }
}

/// The mean of 1000 generated 1-D samples.
fn generator_mean(t: &GanTask) -> f64 {
    t.gan
        .sample(1000, None, Device::Cpu)
        .unwrap()
        .mean(Kind::Double)
        .double_value(&[])
}

#[test]
fn the_non_saturating_generator_moves_to_the_data_mean() {
    let _s = serial();
    let data = gaussian_1d(512, 0.5, 0.1, 4);
    let config = GanTaskConfig {
        optimizer_g: adam(2e-3),
        optimizer_d: adam(2e-3),
        samples: no_samples(),
        ..Default::default()
    };
    let mut t = task(&toy_model(), config, 2);
    let before = generator_mean(&t);
    run_steps(&mut t, &data, 400, 64, 20);
    let after = generator_mean(&t);
    assert!(
        (before - 0.5).abs() > 0.3,
        "the toy must start away from the data: {before}"
    );
    assert!(
        (after - 0.5).abs() < 0.1,
        "generator mean {before} -> {after}, data mean 0.5"
    );
}

#[test]
fn the_generator_updates_once_every_n_critic_steps() {
    let _s = serial();
    let data = gaussian_1d(64, 0.5, 0.1, 5);
    let config = GanTaskConfig {
        loss: GanLoss::WganGp,
        n_critic: 3,
        samples: no_samples(),
        ..Default::default()
    };
    let mut t = task(&toy_model(), config, 0);
    let g_before: Vec<Tensor> = t
        .g_vs
        .trainable_variables()
        .iter()
        .map(|v| v.copy())
        .collect();
    run_steps(&mut t, &data, 2, 8, 0);
    // Two critic-only steps: G untouched.
    assert_eq!(t.optimizer_g().step_count(), 0);
    for (a, b) in g_before.iter().zip(t.g_vs.trainable_variables()) {
        assert!(a.equal(&b));
    }
    run_steps(&mut t, &data, 4, 8, 2);
    assert_eq!(
        (t.optimizer_d().step_count(), t.optimizer_g().step_count()),
        (6, 2)
    );
}

#[test]
fn configs_that_cannot_work_are_rejected() {
    let _s = serial();
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    // Batch norm couples the batch: no gradient penalty on it.
    let gan = Gan::new(&g_vs.root(), &d_vs.root(), &GanConfig::default()).unwrap();
    let config = GanTaskConfig {
        loss: GanLoss::WganGp,
        ..Default::default()
    };
    let err = GanTask::new(gan, g_vs, d_vs, config).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "gan.loss"),
        "{err}"
    );
    for (config, field) in [
        (
            GanTaskConfig {
                loss: GanLoss::Hinge,
                label_smoothing: Some(0.9),
                ..Default::default()
            },
            "gan.label_smoothing",
        ),
        (
            GanTaskConfig {
                label_smoothing: Some(1.5),
                ..Default::default()
            },
            "gan.label_smoothing",
        ),
        (
            GanTaskConfig {
                n_critic: 0,
                ..Default::default()
            },
            "gan.n_critic",
        ),
        (
            GanTaskConfig {
                instance_noise: InstanceNoise {
                    std: -1.0,
                    anneal_steps: None,
                },
                ..Default::default()
            },
            "gan.instance_noise.std",
        ),
    ] {
        let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        let gan = Gan::new(&g_vs.root(), &d_vs.root(), &toy_model()).unwrap();
        let err = GanTask::new(gan, g_vs, d_vs, config).unwrap_err();
        assert!(
            matches!(&err, Error::Config { field: f, .. } if f == field),
            "{err}"
        );
    }
    // The documented defaults.
    let c: GanTaskConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, GanTaskConfig::default());
    assert_eq!(
        (c.loss, c.n_critic, c.gp_lambda, c.label_smoothing),
        (GanLoss::NonSaturating, 1, 10.0, None)
    );
    assert_eq!(
        c.optimizer_g,
        OptimizerConfig::Adam(AdamConfig {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            ..Default::default()
        })
    );
    assert_eq!(c.optimizer_d, c.optimizer_g);
}

#[test]
fn instance_noise_anneals_linearly_to_zero() {
    let noise = InstanceNoise {
        std: 0.2,
        anneal_steps: Some(100),
    };
    assert_eq!(noise.std_at(0), 0.2);
    assert!((noise.std_at(50) - 0.1).abs() < 1e-12);
    assert_eq!(noise.std_at(100), 0.0);
    assert_eq!(noise.std_at(1000), 0.0);
    assert_eq!(
        InstanceNoise {
            std: 0.2,
            anneal_steps: None
        }
        .std_at(1000),
        0.2
    );
    assert_eq!(InstanceNoise::default().std_at(0), 0.0);
}

#[test]
fn image_data_checks_its_input_and_gathers_batches() {
    let values: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
    let images = Array4::from_shape_vec((3, 1, 2, 2), values).unwrap();
    let data = ImageData::new(images.clone(), &[7, 8, 9], Device::Cpu).unwrap();
    assert_eq!(data.len(), 3);
    let b = data.batch(&[2, 0]).unwrap();
    assert_eq!(b.images.size(), [2, 1, 2, 2]);
    assert_eq!(Vec::<i64>::try_from(&b.labels).unwrap(), vec![9, 7]);
    assert_eq!(
        b.images.double_value(&[0, 0, 0, 0]),
        f64::from(8.0f32 / 12.0)
    );
    assert!(matches!(data.batch(&[3]), Err(Error::Config { .. })));
    assert!(
        matches!(ImageData::new(images.clone(), &[1, 2], Device::Cpu), Err(Error::Config { field, .. }) if field == "labels")
    );
    let mut bad = images;
    bad[[1, 0, 1, 0]] = 1.5;
    let err = ImageData::new(bad, &[1, 2, 3], Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, reason } if field == "images" && reason.contains("1.5")),
        "{err}"
    );
    // u8 pixels: 0 -> -1, 255 -> 1.
    let raw = ndarray::Array3::from_shape_vec((1, 1, 3), vec![0u8, 255, 51]).unwrap();
    let data = ImageData::from_u8(&raw, &ndarray::arr1(&[4u8]), Device::Cpu).unwrap();
    let v = Vec::<f32>::try_from(&data.images().reshape([-1])).unwrap();
    assert_eq!(v, vec![-1.0, 1.0, 51.0 / 127.5 - 1.0]);
}

#[test]
fn grid_png_places_each_image_after_two_pixels_of_padding() {
    // Three 2x3 grey images with distinct values, two per row:
    // grid = 2 (3 + 2) + 2 = 12 wide, 2 (2 + 2) + 2 = 10 high.
    let mut values = vec![-1.0f32; 3 * 6];
    values[0] = 1.0; // image 0, (y 0, x 0)
    values[6 + 5] = 0.0; // image 1, (y 1, x 2)
    values[12 + 3] = 0.5; // image 2, (y 1, x 0)
    let images = Tensor::from_slice(&values).view([3, 1, 2, 3]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("grid.png");
    grid_png(&images, 2, &path).unwrap();
    let png = image::open(&path).unwrap().to_luma8();
    assert_eq!(png.dimensions(), (12, 10));
    let px = |x: u32, y: u32| png.get_pixel(x, y).0[0];
    assert_eq!(px(2, 2), 255); // image 0 at (2, 2)
    assert_eq!(px(3, 2), 0);
    assert_eq!(px(7 + 2, 2 + 1), 128); // image 1 at (7, 2): (0 + 1) * 127.5 rounds to 128
    assert_eq!(px(2, 6 + 1), 191); // image 2 at (2, 6): (0.5 + 1) * 127.5 = 191.25
    // Padding and the empty fourth cell are black.
    for (x, y) in [(0, 0), (1, 5), (5, 2), (6, 2), (11, 9), (8, 7)] {
        assert_eq!(px(x, y), 0, "({x}, {y})");
    }
    assert!(!dir.path().join("sub").join("grid.png.tmp").exists());
    // RGB: channels are interleaved.
    let rgb = Tensor::from_slice(&[1.0f32, -1.0, 0.0]).view([1, 3, 1, 1]);
    let (bytes, w, h, c) = grid_pixels(&rgb, 8).unwrap();
    assert_eq!((w, h, c), (5, 5, 3));
    assert_eq!(&bytes[(2 * 5 + 2) * 3..(2 * 5 + 2) * 3 + 3], &[255, 0, 128]);
}

/// 40 tiny 8x8 "images" of two classes: a bright top half (class 0) or bottom half (class 1).
fn tiny_images() -> ImageData {
    tiny_images_labelled(None)
}

/// [`tiny_images`], every image labelled `label` when given.
fn tiny_images_labelled(label: Option<i64>) -> ImageData {
    let n = 40;
    let mut rng = SplitMix64::new(9);
    let mut values = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as i64;
        labels.push(label.unwrap_or(class));
        for y in 0..8 {
            for _ in 0..8 {
                let bright = (y < 4) == (class == 0);
                let jitter = rng.below(100) as f32 / 500.0;
                values.push(if bright { 0.8 + jitter } else { -0.8 - jitter });
            }
        }
    }
    ImageData::new(
        Array4::from_shape_vec((n, 1, 8, 8), values).unwrap(),
        &labels,
        Device::Cpu,
    )
    .unwrap()
}

fn tiny_dcgan(kind: GanKind, d_norm: DiscriminatorNorm) -> GanConfig {
    let mut c = GanConfig {
        kind,
        latent_dim: 8,
        image_size: 8,
        num_classes: 2,
        ..Default::default()
    };
    c.dcgan.ngf = 4;
    c.dcgan.ndf = 4;
    c.dcgan.label_dim = 3;
    c.dcgan.d_norm = d_norm;
    c
}

#[test]
fn an_interrupted_and_resumed_gan_run_repeats_the_uninterrupted_one() {
    let _s = serial();
    let data = tiny_images();
    let trainer_config = TrainerConfig {
        epochs: 3,
        batch_size: 8,
        validation_split: 0.2,
        seed: 5,
        ..Default::default()
    };
    let samples = SampleConfig {
        columns: 4,
        rows: 2,
        interp_rows: 2,
        interp_steps: 3,
        ..Default::default()
    };
    let setups = [
        // Conditional DCGAN with batch norm, label smoothing and annealed instance noise.
        (
            tiny_dcgan(GanKind::ConditionalDcgan, DiscriminatorNorm::Batch),
            GanTaskConfig {
                label_smoothing: Some(0.9),
                instance_noise: InstanceNoise {
                    std: 0.1,
                    anneal_steps: Some(10),
                },
                samples: samples.clone(),
                ..Default::default()
            },
        ),
        // WGAN-GP with a layer-norm critic and 3 critic steps per generator step.
        (
            tiny_dcgan(GanKind::Dcgan, DiscriminatorNorm::Layer),
            GanTaskConfig {
                loss: GanLoss::WganGp,
                n_critic: 3,
                samples: samples.clone(),
                ..Default::default()
            },
        ),
        // DCGAN with the generator's weight average, DiffAugment, a spectrally normalised
        // critic, the hinge loss and two time scales.
        (
            {
                let mut m = tiny_dcgan(GanKind::Dcgan, DiscriminatorNorm::None);
                m.dcgan.spectral_norm = true;
                m
            },
            GanTaskConfig {
                loss: GanLoss::Hinge,
                optimizer_g: adam(1e-4),
                optimizer_d: adam(4e-4),
                ema_decay: Some(0.9),
                diff_augment: DiffAugmentConfig {
                    translation: 0.25,
                    cutout: 0.5,
                },
                samples: samples.clone(),
                ..Default::default()
            },
        ),
    ];
    for (model, config) in setups {
        let dir_a = tempfile::tempdir().unwrap();
        let mut a = task(&model, config.clone(), 3);
        let trainer =
            Trainer::new(trainer_config.clone(), dir_a.path()).verbosity(Verbosity::Silent);
        let (_, state_a) = trainer.fit(&mut a, &data, None, false).unwrap();

        // 32 training samples -> 4 batches per epoch; stop in the middle of epoch 2.
        let dir_b = tempfile::tempdir().unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let mut b = StopAfter::new(task(&model, config.clone(), 3), 6, flag.clone());
        let trainer = Trainer::new(trainer_config.clone(), dir_b.path())
            .verbosity(Verbosity::Silent)
            .stop_flag(flag);
        let (outcome, partial) = trainer.fit(&mut b, &data, None, false).unwrap();
        assert_eq!((outcome, partial.global_step), (Outcome::Interrupted, 6));
        // A fresh process: another init, which the checkpoint overwrites.
        let mut resumed = task(&model, config.clone(), 77);
        let trainer =
            Trainer::new(trainer_config.clone(), dir_b.path()).verbosity(Verbosity::Silent);
        let (outcome, state_b) = trainer.fit(&mut resumed, &data, None, true).unwrap();
        assert_eq!(outcome, Outcome::Completed);
        // The model, the optimisers and the samples below must match bit for bit. The metrics
        // may differ in the last bit: the trainer keeps finished epochs and the running sums in
        // its JSON state, and serde_json without its `float_roundtrip` feature can parse a
        // float one ulp off (e.g. "0.49927325919270515" -> 0.4992732591927051).
        assert_eq!(state_a.history.len(), state_b.history.len());
        for (ha, hb) in state_a.history.iter().zip(&state_b.history) {
            assert_eq!((ha.epoch, ha.step), (hb.epoch, hb.step));
            assert_eq!(
                ha.metrics.keys().collect::<Vec<_>>(),
                hb.metrics.keys().collect::<Vec<_>>()
            );
            for (k, va) in &ha.metrics {
                let vb = hb.metrics[k];
                assert!(
                    (va - vb).abs() <= 1e-14 * va.abs().max(1.0),
                    "{:?} epoch {}: {k} {va} vs {vb}",
                    config.loss,
                    ha.epoch
                );
            }
        }
        let (sa, sb) = (a.state().unwrap(), resumed.state().unwrap());
        assert_eq!(sa.len(), sb.len());
        for ((na, ta), (nb, tb)) in sa.iter().zip(&sb) {
            assert_eq!(na, nb);
            assert!(ta.equal(tb), "{na} differs");
        }
        // State layout: both networks (running statistics included) and both optimisers.
        let names: Vec<&str> = sa.iter().map(|(n, _)| n.as_str()).collect();
        for prefix in ["g.", "d.", "opt_g.", "opt_d."] {
            assert!(
                names.iter().any(|n| n.starts_with(prefix)),
                "{prefix} missing"
            );
        }
        if config.ema_decay.is_some() {
            assert!(names.contains(&"g_ema.bn1.running_mean"), "{names:?}");
            assert!(names.contains(&"d.conv2.sn_u") && names.contains(&"d.conv3.sn_v"));
            // The average differs from the trained weights, and the grids come from it.
            let (g, g_ema) = (
                &sa[names.iter().position(|n| *n == "g.deconv1.weight").unwrap()].1,
                &sa[names
                    .iter()
                    .position(|n| *n == "g_ema.deconv1.weight")
                    .unwrap()]
                .1,
            );
            assert!(!g.equal(g_ema));
        }
        if model.kind == GanKind::ConditionalDcgan {
            assert!(
                names.contains(&"g.bn1.running_mean") && names.contains(&"d.norm2.running_var")
            );
        }
        let last = &state_a.history[2].metrics;
        for key in [
            "loss",
            "loss_d",
            "loss_g",
            "d_x",
            "d_g_z",
            "val_loss_d",
            "val_d_x",
        ] {
            assert!(
                last.get(key).is_some_and(|v| v.is_finite()),
                "{key}: {last:?}"
            );
        }
        // Samples: one grid and one strip per epoch, the real grid once, identical in both runs.
        for name in [
            "epoch_001.png",
            "epoch_003.png",
            "interp_002.png",
            "interp_003.png",
            "real.png",
        ] {
            assert!(dir_a.path().join("samples").join(name).is_file(), "{name}");
        }
        let grid = |dir: &Path| {
            image::open(dir.join("samples").join("epoch_003.png"))
                .unwrap()
                .to_luma8()
        };
        let (ga, gb) = (grid(dir_a.path()), grid(dir_b.path()));
        assert_eq!(ga, gb);
        // Conditional: 2 classes x 4 columns; else 2 rows x 4 (8x8 images, 2 px padding).
        assert_eq!(ga.dimensions(), (4 * 10 + 2, 2 * 10 + 2));
        let strip = image::open(dir_a.path().join("samples").join("interp_001.png")).unwrap();
        assert_eq!((strip.width(), strip.height()), (3 * 10 + 2, 2 * 10 + 2));
        let real = image::open(dir_a.path().join("samples").join("real.png"))
            .unwrap()
            .to_luma8();
        assert_eq!(real.dimensions(), (4 * 10 + 2, 2 * 10 + 2));
    }
}

#[test]
fn uniform_fake_labels_train_the_generator_on_classes_the_batches_lack() {
    let _s = serial();
    // Every real image is labelled 0: with the batch's labels G never makes class 1, so its
    // class-1 embedding row gets no gradient (Adam then moves it by exactly 0); drawn
    // uniformly, G makes class 1 too and the row moves.
    let data = tiny_images_labelled(Some(0));
    let model = tiny_dcgan(GanKind::ConditionalDcgan, DiscriminatorNorm::None);
    for (labels, moves) in [(FakeLabels::Batch, false), (FakeLabels::Uniform, true)] {
        let config = GanTaskConfig {
            fake_labels: labels,
            samples: no_samples(),
            ..Default::default()
        };
        let mut t = task(&model, config, 3);
        let row = |t: &GanTask| t.g_vs.variables()["label_embedding.weight"].get(1).copy();
        let before = row(&t);
        run_steps(&mut t, &data, 4, 8, 11);
        let change = (row(&t) - before).abs().max().double_value(&[]);
        assert_eq!(change > 0.0, moves, "{labels:?}: {change}");
    }
    // Uniform labels need classes, and a penalty that mixes real and fake under one label
    // cannot take them.
    for (model, loss) in [
        (toy_model(), GanLoss::NonSaturating),
        (
            tiny_dcgan(GanKind::ConditionalDcgan, DiscriminatorNorm::Layer),
            GanLoss::WganGp,
        ),
    ] {
        let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        let gan = Gan::new(&g_vs.root(), &d_vs.root(), &model).unwrap();
        let config = GanTaskConfig {
            loss,
            fake_labels: FakeLabels::Uniform,
            ..Default::default()
        };
        let err = GanTask::new(gan, g_vs, d_vs, config).unwrap_err();
        assert!(
            matches!(&err, Error::Config { field, .. } if field == "gan.fake_labels"),
            "{err}"
        );
    }
}

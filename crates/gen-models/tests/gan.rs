//! GANs and their convolutional layers: shapes, initialisation, closed-form layer values,
//! conditioning and configs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_models::conv::{BatchNorm2d, Conv2d, ConvConfig, ConvTranspose2d, Init, leaky_relu};
use gen_models::gan::{
    DcganDiscriminator, DcganGenerator, DiscriminatorNorm, Gan, GanConfig, GanKind,
    LatentDistribution, MlpGanConfig,
};
use gen_models::{Error, Module};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor, nn::VarStore};

mod common;
use common::serial;

fn build(config: &GanConfig) -> (Gan, VarStore, VarStore) {
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let gan = Gan::new(&g_vs.root(), &d_vs.root(), config).unwrap();
    (gan, g_vs, d_vs)
}

fn vars(vs: &VarStore) -> HashMap<String, Tensor> {
    vs.variables()
}

fn f(t: &Tensor) -> f64 {
    t.double_value(&[])
}

#[test]
fn every_kind_maps_latents_to_images_and_images_to_one_score() {
    let _s = serial();
    tch::manual_seed(0);
    let small_mlp = MlpGanConfig {
        g_hidden: vec![32, 64],
        d_hidden: vec![64, 32],
        slope: 0.2,
    };
    let kinds = [
        GanConfig {
            kind: GanKind::Mlp,
            mlp: small_mlp,
            ..Default::default()
        },
        GanConfig::default(),
        GanConfig {
            kind: GanKind::ConditionalDcgan,
            ..Default::default()
        },
        // A 3-channel 32x32 DCGAN: 8x8 -> 16x16 -> 32x32.
        GanConfig {
            channels: 3,
            image_size: 32,
            ..Default::default()
        },
    ];
    for config in kinds {
        let (gan, _g, _d) = build(&config);
        let z = gan.sample_latent(5, Device::Cpu).unwrap();
        assert_eq!(z.size(), [5, 100]);
        let labels = Tensor::from_slice(&[0i64, 1, 2, 9, 4]);
        let images = gan.generator.forward_t(&z, Some(&labels), true).unwrap();
        let [c, s] = [config.channels, config.image_size];
        assert_eq!(images.size(), [5, c, s, s], "{:?}", config.kind);
        assert_eq!(images.kind(), Kind::Float);
        // tanh output.
        assert!(f(&images.abs().max()) <= 1.0);
        let scores = gan
            .discriminator
            .forward_t(&images, Some(&labels), true)
            .unwrap();
        assert_eq!(scores.size(), [5], "{:?}", config.kind);
        // Gradients reach the generator's first layer through D.
        scores.sum(Kind::Float).backward();
        let grads: f64 = _g
            .trainable_variables()
            .iter()
            .map(|v| f(&v.grad().abs().sum(Kind::Double)))
            .sum();
        assert!(grads > 0.0, "{:?}", config.kind);
        // Eval mode works on a single sample too.
        let one = gan
            .sample(1, config.is_conditional().then_some(3), Device::Cpu)
            .unwrap();
        assert_eq!(one.size(), [1, c, s, s]);
    }
}

#[test]
fn dcgan_layers_have_pytorch_names_and_shapes() {
    let _s = serial();
    let config = GanConfig {
        kind: GanKind::ConditionalDcgan,
        ..Default::default()
    };
    let (_gan, g, d) = build(&config);
    let shapes = |vs: &VarStore| -> Vec<(String, Vec<i64>, bool)> {
        let mut v: Vec<_> = vars(vs)
            .into_iter()
            .map(|(n, t)| (n, t.size(), t.requires_grad()))
            .collect();
        v.sort();
        v
    };
    let s = |n: &str, dims: &[i64], train: bool| (n.to_string(), dims.to_vec(), train);
    // ngf = ndf = 32 by default; z 100 + label embedding 10.
    assert_eq!(
        shapes(&g),
        vec![
            s("bn1.bias", &[128], true),
            s("bn1.running_mean", &[128], false),
            s("bn1.running_var", &[128], false),
            s("bn1.weight", &[128], true),
            s("bn2.bias", &[64], true),
            s("bn2.running_mean", &[64], false),
            s("bn2.running_var", &[64], false),
            s("bn2.weight", &[64], true),
            s("deconv1.weight", &[110, 128, 7, 7], true),
            s("deconv2.weight", &[128, 64, 4, 4], true),
            s("deconv3.bias", &[1], true),
            s("deconv3.weight", &[64, 1, 4, 4], true),
            s("label_embedding.weight", &[10, 10], true),
        ]
    );
    assert_eq!(
        shapes(&d),
        vec![
            s("conv1.bias", &[32], true),
            s("conv1.weight", &[32, 1, 4, 4], true),
            s("conv2.weight", &[64, 32, 4, 4], true),
            s("conv3.bias", &[1], true),
            s("conv3.weight", &[1, 64, 7, 7], true),
            s("label_embedding.weight", &[10, 64], true),
            s("norm2.bias", &[64], true),
            s("norm2.running_mean", &[64], false),
            s("norm2.running_var", &[64], false),
            s("norm2.weight", &[64], true),
        ]
    );
}

#[test]
fn dcgan_init_follows_the_paper() {
    let _s = serial();
    tch::manual_seed(1);
    // Width 64 (the paper's) gives large tensors, so the sample statistics are tight.
    let mut config = GanConfig::default();
    config.dcgan.ngf = 64;
    config.dcgan.ndf = 64;
    let (_gan, g, d) = build(&config);
    let (g, d) = (vars(&g), vars(&d));
    for (name, t) in [
        ("deconv1.weight", &g["deconv1.weight"]),
        ("deconv2.weight", &g["deconv2.weight"]),
        ("conv2.weight", &d["conv2.weight"]),
        ("conv3.weight", &d["conv3.weight"]),
    ] {
        // >= 12544 samples of N(0, 0.02): the std's standard error is 0.02 / sqrt(2n) < 1.3e-4.
        let std = f(&t.std(true));
        let mean = f(&t.mean(Kind::Double));
        assert!((std - 0.02).abs() < 1e-3, "{name}: std {std}");
        assert!(mean.abs() < 1e-3, "{name}: mean {mean}");
    }
    for (name, t) in [
        ("bn1", &g["bn1.weight"]),
        ("bn2", &g["bn2.weight"]),
        ("norm2", &d["norm2.weight"]),
    ] {
        // 128-256 samples of N(1, 0.02): the mean's standard error is < 2e-3.
        let mean = f(&t.mean(Kind::Double));
        let std = f(&t.std(true));
        assert!((mean - 1.0).abs() < 0.01, "{name}: mean {mean}");
        assert!((0.01..0.03).contains(&std), "{name}: std {std}");
    }
    for t in [
        &g["bn1.bias"],
        &g["deconv3.bias"],
        &d["conv1.bias"],
        &d["norm2.bias"],
        &g["bn1.running_mean"],
    ] {
        assert_eq!(f(&t.abs().max()), 0.0);
    }
    assert_eq!(f(&g["bn2.running_var"].min()), 1.0);
    assert_eq!(f(&g["bn2.running_var"].max()), 1.0);
}

#[test]
fn conv2d_sums_its_window_and_has_the_documented_size() {
    let _s = serial();
    let vs = VarStore::new(Device::Cpu);
    let conv = Conv2d::new(&vs.root(), 1, 1, ConvConfig::new(3, 1, 1), Init::PyTorch).unwrap();
    tch::no_grad(|| {
        let _ = conv.weight.shallow_clone().fill_(1.0);
        let _ = conv.bias.as_ref().unwrap().shallow_clone().fill_(0.5);
    });
    let out = conv
        .forward(&Tensor::ones([1, 1, 4, 4], (Kind::Float, Device::Cpu)))
        .unwrap();
    assert_eq!(out.size(), [1, 1, 4, 4]);
    // A 3x3 all-ones window over ones with zero padding counts the in-bounds pixels.
    assert_eq!(f(&out.get(0).get(0).get(0).get(0)), 4.5); // corner
    assert_eq!(f(&out.get(0).get(0).get(0).get(1)), 6.5); // edge
    assert_eq!(f(&out.get(0).get(0).get(1).get(1)), 9.5); // inside
    // (h + 2p - k) / s + 1: 28 -> 14 with k 4, s 2, p 1.
    let down = Conv2d::new(&vs.root(), 1, 2, ConvConfig::new(4, 2, 1), Init::PyTorch).unwrap();
    assert_eq!(
        down.forward(&Tensor::zeros([3, 1, 28, 28], (Kind::Float, Device::Cpu)))
            .unwrap()
            .size(),
        [3, 2, 14, 14]
    );
    // Wrong channel count is a shape error.
    assert!(matches!(
        down.forward(&Tensor::zeros([3, 2, 28, 28], (Kind::Float, Device::Cpu))),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn conv_transpose2d_of_a_single_pixel_is_the_scaled_kernel() {
    let _s = serial();
    tch::manual_seed(2);
    let vs = VarStore::new(Device::Cpu);
    let up = ConvTranspose2d::new(
        &vs.root(),
        2,
        3,
        ConvConfig::new(7, 1, 0).no_bias(),
        Init::dcgan(),
    )
    .unwrap();
    let x = Tensor::from_slice(&[2.0f32, -1.0]).view([1, 2, 1, 1]);
    let out = up.forward(&x).unwrap();
    assert_eq!(out.size(), [1, 3, 7, 7]);
    // y[o] = sum_i x[i] W[i, o].
    let expected = up.weight.get(0) * 2.0 - up.weight.get(1);
    assert!(f(&(out.get(0) - expected).abs().max()) < 1e-6);
    // (h - 1) s - 2p + k: 7 -> 14 -> 28 with k 4, s 2, p 1.
    let up2 =
        ConvTranspose2d::new(&vs.root(), 3, 1, ConvConfig::new(4, 2, 1), Init::PyTorch).unwrap();
    assert_eq!(up2.forward(&out).unwrap().size(), [1, 1, 14, 14]);
    // PyTorch's bound for [in, out, k, k] uses fan_in = out * k * k = 16.
    assert!(f(&up2.weight.abs().max()) <= 0.25);
}

#[test]
fn conv_transpose2d_matches_libtorchs_kernel_in_value_and_gradient() {
    let _s = serial();
    tch::manual_seed(6);
    // (in, out, kernel, stride, padding, bias, input size)
    for (cin, cout, k, s, p, bias, hw) in [
        // col2im path (<= 4 output channels)
        (3, 2, 4, 2, 1, true, 5),
        (5, 1, 4, 2, 1, false, 7),
        (2, 3, 3, 1, 1, true, 6),
        (2, 2, 3, 3, 0, true, 4),
        // 1x1 input path, with and without cropping
        (4, 6, 7, 1, 0, false, 1),
        (3, 5, 4, 2, 1, true, 1),
        // libtorch's kernel
        (3, 5, 4, 2, 1, true, 3),
    ] {
        let vs = VarStore::new(Device::Cpu);
        let config = ConvConfig {
            kernel: k,
            stride: s,
            padding: p,
            bias,
        };
        let layer = ConvTranspose2d::new(&vs.root(), cin, cout, config, Init::PyTorch).unwrap();
        let x = Tensor::randn([3, cin, hw, hw], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let ours = layer.forward(&x).unwrap();
        let theirs = x.conv_transpose2d(
            &layer.weight,
            layer.bias.as_ref(),
            [s, s],
            [p, p],
            [0, 0],
            1,
            [1, 1],
        );
        assert_eq!(ours.size(), theirs.size());
        assert!(f(&(&ours - &theirs).abs().max()) < 1e-5);
        // Same gradients for the input and the weight under a random upstream gradient.
        let up = Tensor::randn(ours.size(), (Kind::Float, Device::Cpu));
        let grads = |y: &Tensor| {
            Tensor::run_backward(
                &[(y * &up).sum(Kind::Float)],
                &[&x, &layer.weight],
                false,
                false,
            )
        };
        for (a, b) in grads(&ours).iter().zip(grads(&theirs).iter()) {
            assert!(f(&(a - b).abs().max()) < 1e-4);
        }
    }
}

#[test]
fn batch_norm_normalises_and_tracks_running_statistics_like_pytorch() {
    let _s = serial();
    let vs = VarStore::new(Device::Cpu);
    let bn = BatchNorm2d::new(&vs.root(), 1, Init::PyTorch).unwrap();
    // One channel, values 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased var 5/3.
    let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 1, 1, 2]);
    let y = bn.forward_t(&x, true).unwrap();
    let expected = [-1.5f64, -0.5, 0.5, 1.5].map(|v| v / (1.25f64 + 1e-5).sqrt());
    for (i, e) in expected.iter().enumerate() {
        assert!((f(&y.view([-1]).get(i as i64)) - e).abs() < 1e-5);
    }
    // running = 0.9 running + 0.1 batch (unbiased variance).
    assert!((f(&bn.running_mean.get(0)) - 0.25).abs() < 1e-6);
    assert!((f(&bn.running_var.get(0)) - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-6);
    // Eval mode uses the running statistics and leaves them alone.
    let y = bn.forward_t(&x, false).unwrap();
    let rv = 0.9 + 0.1 * 5.0 / 3.0;
    assert!((f(&y.view([-1]).get(0)) - (1.0 - 0.25) / (rv + 1e-5f64).sqrt()).abs() < 1e-5);
    assert!((f(&bn.running_mean.get(0)) - 0.25).abs() < 1e-6);
}

#[test]
fn leaky_relu_keeps_positives_and_scales_negatives() {
    let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 3.0]).set_requires_grad(true);
    let y = leaky_relu(&x, 0.2).unwrap();
    assert_eq!(
        Vec::<f32>::try_from(&y).unwrap(),
        vec![-0.4, -0.1, 0.0, 3.0]
    );
    // The gradient, as torch.nn.functional.leaky_relu(x, 0.2) gives it:
    //   x = torch.tensor([-2., -0.5, 0., 3.], requires_grad=True)
    //   F.leaky_relu(x, 0.2).sum().backward(); x.grad  # tensor([0.2, 0.2, 0.2, 1.0])
    y.sum(Kind::Float).backward();
    assert_eq!(
        Vec::<f32>::try_from(&x.grad()).unwrap(),
        vec![0.2, 0.2, 0.2, 1.0]
    );
    // The kind is kept (bf16 activations under autocast stay bf16).
    let b = leaky_relu(
        &Tensor::from_slice(&[-1.0f32, 1.0]).to_kind(Kind::BFloat16),
        0.5,
    )
    .unwrap();
    assert_eq!(b.kind(), Kind::BFloat16);
    assert_eq!(
        Vec::<f32>::try_from(&b.to_kind(Kind::Float)).unwrap(),
        vec![-0.5, 1.0]
    );
    // Second order, as a gradient penalty takes it: the first gradient (kept as a graph) is
    // the piecewise-constant slope, so d/dx sum(x * dy/dx) is that slope again:
    //   g, = torch.autograd.grad(F.leaky_relu(x, 0.2).sum(), x, create_graph=True)
    //   (x * g).sum().backward(); x.grad  # tensor([0.2, 0.2, 0.2, 1.0])
    let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 3.0]).set_requires_grad(true);
    let y = leaky_relu(&x, 0.2).unwrap().sum(Kind::Float);
    let g = Tensor::run_backward(&[&y], &[&x], true, true);
    (&x * &g[0]).sum(Kind::Float).backward();
    assert_eq!(
        Vec::<f32>::try_from(&x.grad()).unwrap(),
        vec![0.2, 0.2, 0.2, 1.0]
    );
}

#[test]
fn latent_distributions_have_their_moments() {
    let _s = serial();
    tch::manual_seed(3);
    let n = LatentDistribution::Normal
        .sample(400, 100, Device::Cpu)
        .unwrap();
    assert_eq!(n.size(), [400, 100]);
    assert!(f(&n.mean(Kind::Double)).abs() < 0.02);
    assert!((f(&n.std(true)) - 1.0).abs() < 0.02);
    let u = LatentDistribution::Uniform
        .sample(400, 100, Device::Cpu)
        .unwrap();
    assert!(f(&u.min()) >= -1.0 && f(&u.max()) < 1.0);
    // U[-1, 1): variance 1/3.
    assert!((f(&u.std(true)) - (1.0f64 / 3.0).sqrt()).abs() < 0.01);
    // Box-Muller: sqrt(-2 ln v) cos(2 pi u); v = e^{-1/2} gives radius 1.
    let v = (-0.5f64).exp();
    assert!((LatentDistribution::Normal.map_uniforms(0.0, v) - 1.0).abs() < 1e-12);
    assert!((LatentDistribution::Normal.map_uniforms(0.5, v) + 1.0).abs() < 1e-12);
    assert_eq!(LatentDistribution::Uniform.map_uniforms(0.75, 0.3), 0.5);
}

#[test]
fn conditional_models_need_valid_labels_and_use_them() {
    let _s = serial();
    tch::manual_seed(4);
    let config = GanConfig {
        kind: GanKind::ConditionalDcgan,
        ..Default::default()
    };
    let (gan, _g, _d) = build(&config);
    let z = gan.sample_latent(2, Device::Cpu).unwrap();
    assert!(matches!(
        gan.generator.forward_t(&z, None, false),
        Err(Error::Shape { .. })
    ));
    let bad = Tensor::from_slice(&[0i64, 10]);
    assert!(matches!(
        gan.generator.forward_t(&z, Some(&bad), false),
        Err(Error::Config { .. })
    ));
    let float_labels = Tensor::from_slice(&[0.0f32, 1.0]);
    assert!(
        gan.generator
            .forward_t(&z, Some(&float_labels), false)
            .is_err()
    );
    // Same latent, different class: different image and different score.
    let z1 = z.narrow(0, 0, 1).repeat([2, 1]);
    let labels = Tensor::from_slice(&[1i64, 7]);
    let images = gan.generator.forward_t(&z1, Some(&labels), false).unwrap();
    assert!(f(&(images.get(0) - images.get(1)).abs().max()) > 1e-4);
    let same = images.narrow(0, 0, 1).repeat([2, 1, 1, 1]);
    let scores = gan
        .discriminator
        .forward_t(&same, Some(&labels), false)
        .unwrap();
    assert!((f(&scores.get(0)) - f(&scores.get(1))).abs() > 1e-6);
    // sample(class) and the refusal of a class by an unconditional model.
    assert_eq!(
        gan.sample(3, Some(2), Device::Cpu).unwrap().size(),
        [3, 1, 28, 28]
    );
    let (plain, _, _) = build(&GanConfig::default());
    assert!(matches!(
        plain.sample(1, Some(2), Device::Cpu),
        Err(Error::Config { field: "class", .. })
    ));
    // Unconditional models ignore labels.
    let x = plain.sample(2, None, Device::Cpu).unwrap();
    let a = plain.discriminator.forward_t(&x, None, false).unwrap();
    let b = plain
        .discriminator
        .forward_t(&x, Some(&labels), false)
        .unwrap();
    assert!(a.equal(&b));
}

#[test]
fn only_batch_norm_couples_the_samples_of_a_batch() {
    let _s = serial();
    tch::manual_seed(5);
    for (norm, independent) in [
        (DiscriminatorNorm::Batch, false),
        (DiscriminatorNorm::Layer, true),
        (DiscriminatorNorm::None, true),
    ] {
        let mut config = GanConfig::default();
        config.dcgan.d_norm = norm;
        let vs = VarStore::new(Device::Cpu);
        let d = DcganDiscriminator::init(&vs.root(), &config).unwrap();
        let x = Tensor::rand([4, 1, 28, 28], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let batch = d.forward_t((&x, None), true).unwrap();
        let alone = d.forward_t((&x.narrow(0, 0, 2), None), true).unwrap();
        let diff = f(&(batch.narrow(0, 0, 2) - alone).abs().max());
        assert_eq!(diff < 1e-5, independent, "{norm:?}: {diff}");
        assert_eq!(gen_models::Discriminator::per_sample(&d), independent);
    }
}

#[test]
fn configs_have_documented_defaults_and_reject_bad_values() {
    let parsed: GanConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(parsed, GanConfig::default());
    assert_eq!(parsed.kind, GanKind::Dcgan);
    assert_eq!(
        (
            parsed.latent_dim,
            parsed.channels,
            parsed.image_size,
            parsed.num_classes
        ),
        (100, 1, 28, 10)
    );
    assert_eq!(
        (parsed.dcgan.ngf, parsed.dcgan.ndf, parsed.dcgan.init_std),
        (32, 32, 0.02)
    );
    assert_eq!(parsed.mlp.g_hidden, [256, 512, 1024]);
    assert_eq!(parsed.mlp.d_hidden, [512, 256]);
    let json =
        r#"{"kind": "conditional_dcgan", "latent": "uniform", "dcgan": {"d_norm": "layer"}}"#;
    let c: GanConfig = serde_json::from_str(json).unwrap();
    assert_eq!(c.kind, GanKind::ConditionalDcgan);
    assert_eq!(c.latent, LatentDistribution::Uniform);
    assert_eq!(c.dcgan.d_norm, DiscriminatorNorm::Layer);
    let back: GanConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(serde_json::from_str::<GanConfig>(r#"{"ngf": 3}"#).is_err());

    let vs = VarStore::new(Device::Cpu);
    let bad = GanConfig {
        image_size: 30,
        ..Default::default()
    };
    assert!(matches!(
        DcganGenerator::init(&vs.root(), &bad),
        Err(Error::Config {
            field: "gan.image_size",
            ..
        })
    ));
    let bad = GanConfig {
        latent_dim: 0,
        ..Default::default()
    };
    assert!(matches!(
        Gan::new(&vs.root(), &vs.root(), &bad),
        Err(Error::Config {
            field: "gan.latent_dim",
            ..
        })
    ));
    let mut bad = GanConfig {
        kind: GanKind::ConditionalDcgan,
        num_classes: 1,
        ..Default::default()
    };
    assert!(matches!(
        Gan::new(&vs.root(), &vs.root(), &bad),
        Err(Error::Config {
            field: "gan.num_classes",
            ..
        })
    ));
    bad.num_classes = 10;
    bad.dcgan.slope = 1.5;
    assert!(matches!(
        Gan::new(&vs.root(), &vs.root(), &bad),
        Err(Error::Config {
            field: "gan.dcgan.slope",
            ..
        })
    ));
    // Wrong image shapes are shape errors, not panics.
    let (gan, _, _) = build(&GanConfig::default());
    let wrong = Tensor::zeros([2, 1, 32, 32], (Kind::Float, Device::Cpu));
    assert!(matches!(
        gan.discriminator.forward_t(&wrong, None, false),
        Err(Error::Shape { .. })
    ));
    let wrong_z = Tensor::zeros([2, 64], (Kind::Float, Device::Cpu));
    assert!(matches!(
        gan.generator.forward_t(&wrong_z, None, false),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn specgan_makes_128x128_spectrograms_and_scores_each_one() {
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let config = GanConfig {
        kind: GanKind::Specgan,
        image_size: 128,
        ..Default::default()
    };
    let gan = Gan::new(&g_vs.root(), &d_vs.root(), &config).unwrap();
    tch::manual_seed(0);
    let images = gan.sample(3, None, Device::Cpu).unwrap();
    assert_eq!(images.size(), [3, 1, 128, 128]);
    assert!(images.abs().max().double_value(&[]) <= 1.0);
    let scores = gan.discriminator.forward_t(&images, None, true).unwrap();
    assert_eq!(scores.size(), [3]);
    // No batch norm in D by default: each score depends on its own sample only (WGAN-GP).
    assert!(gan.discriminator.per_sample());
    let one = gan
        .discriminator
        .forward_t(&images.narrow(0, 1, 1), None, true)
        .unwrap();
    assert!((one.double_value(&[0]) - scores.double_value(&[1])).abs() < 1e-5);
    // Width 8 at 128x128: the generator has 128, 64, 32, 16, 8 channels, the
    // discriminator 8, 16, 32, 64, 128.
    let g = g_vs.variables();
    assert_eq!(g["project.weight"].size(), [100, 128, 4, 4]);
    assert_eq!(g["last.weight"].size(), [8, 1, 4, 4]);
    let d = d_vs.variables();
    assert_eq!(d["down0.weight"].size(), [8, 1, 4, 4]);
    assert_eq!(d["last.weight"].size(), [1, 128, 4, 4]);
    // Smaller powers of two work; other sizes and conditioning are refused.
    for (size, ok) in [(8, true), (16, true), (28, false), (100, false)] {
        let c = GanConfig {
            image_size: size,
            ..config.clone()
        };
        let (g2, d2) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        assert_eq!(Gan::new(&g2.root(), &d2.root(), &c).is_ok(), ok, "{size}");
    }
    assert!(gan.sample(1, Some(2), Device::Cpu).is_err());
}

#[test]
fn conditional_specgan_takes_a_label_on_each_side() {
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let config = GanConfig {
        kind: GanKind::ConditionalSpecgan,
        image_size: 32,
        num_classes: 6,
        ..Default::default()
    };
    assert!(config.is_conditional());
    let gan = Gan::new(&g_vs.root(), &d_vs.root(), &config).unwrap();
    assert_eq!(gan.generator.num_classes(), Some(6));
    assert_eq!(gan.discriminator.num_classes(), Some(6));
    // 32x32: three upsamplings from 4x4, top width 8 * 4 = 32; the embedding widens z by 10,
    // and D's projection has one row of its last map's 32 channels per class.
    let g = g_vs.variables();
    assert_eq!(g["label_embedding.weight"].size(), [6, 10]);
    assert_eq!(g["project.weight"].size(), [110, 32, 4, 4]);
    let d = d_vs.variables();
    assert_eq!(d["label_embedding.weight"].size(), [6, 32]);

    tch::manual_seed(0);
    let z = gan.sample_latent(4, Device::Cpu).unwrap();
    let snare = Tensor::from_slice(&[1i64; 4]);
    let clap = Tensor::from_slice(&[5i64; 4]);
    let a = gan.generator.forward_t(&z, Some(&snare), false).unwrap();
    let b = gan.generator.forward_t(&z, Some(&clap), false).unwrap();
    assert_eq!(a.size(), [4, 1, 32, 32]);
    // The same z with another label gives another image; the same label, the same image.
    let diff = (&a - &b).abs().max().double_value(&[]);
    assert!(diff > 1e-4, "the label changes nothing: {diff}");
    let again = gan.generator.forward_t(&z, Some(&snare), false).unwrap();
    assert_eq!((&a - &again).abs().max().double_value(&[]), 0.0);
    // D: one score per sample, changed by the label, per sample (no batch norm).
    let d = &gan.discriminator;
    let sa = d.forward_t(&a, Some(&snare), false).unwrap();
    let sb = d.forward_t(&a, Some(&clap), false).unwrap();
    assert_eq!(sa.size(), [4]);
    assert!((&sa - &sb).abs().max().double_value(&[]) > 0.0);
    let one = d
        .forward_t(&a.narrow(0, 2, 1), Some(&snare.narrow(0, 2, 1)), false)
        .unwrap();
    assert!((one.double_value(&[0]) - sa.double_value(&[2])).abs() < 1e-5);
    // Labels are required and checked; sample() draws the asked class.
    assert!(matches!(
        gan.generator.forward_t(&z, None, false),
        Err(Error::Shape { .. })
    ));
    let bad = Tensor::from_slice(&[6i64; 4]);
    assert!(matches!(
        d.forward_t(&a, Some(&bad), false),
        Err(Error::Config { .. })
    ));
    assert_eq!(
        gan.sample(3, Some(5), Device::Cpu).unwrap().size(),
        [3, 1, 32, 32]
    );
    // Conditioning needs two classes and a positive embedding.
    for (classes, label_dim, field) in [(1, 10, "gan.num_classes"), (6, 0, "gan.specgan.label_dim")]
    {
        let mut c = config.clone();
        c.num_classes = classes;
        c.specgan.label_dim = label_dim;
        let (g2, d2) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        match Gan::new(&g2.root(), &d2.root(), &c) {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{classes} classes, label_dim {label_dim}: {other:?}"),
        }
    }
}

//! The trajectory mixture-density network: config, shapes, the mixture NLL against numpy
//! numbers and finite differences, the mixture sampler's moments, and seeded sampling.

use gen_models::GruConfig;
use gen_models::sampler_rng;
use gen_models::trajectory::{LOG_STD_MIN, Mixture, mixture_nll};
use gen_models::{Error, Module, TrajectoryMdn, TrajectoryMdnConfig, TrajectorySampling};
use tch::{Device, Kind, Tensor, nn};

mod common;
use common::serial;

fn small_config() -> TrajectoryMdnConfig {
    TrajectoryMdnConfig {
        num_shapes: 3,
        embedding_dim: 4,
        hidden_size: 8,
        num_components: 2,
        length: 12,
        position_scale: 10.0,
        step_scale: 0.5,
        ..Default::default()
    }
}

#[allow(clippy::unwrap_used)]
fn model(seed: i64, config: &TrajectoryMdnConfig) -> (nn::VarStore, TrajectoryMdn) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = TrajectoryMdn::init(&vs.root(), config).unwrap();
    (vs, m)
}

#[test]
fn default_config_is_documented_and_strict() {
    let c = TrajectoryMdnConfig::default();
    assert_eq!(
        (
            c.num_shapes,
            c.embedding_dim,
            c.hidden_size,
            c.num_components,
            c.length
        ),
        (30, 16, 128, 8, 50)
    );
    assert_eq!(
        (c.position_scale, c.step_scale, c.offset_noise, c.time_warp),
        (1.0, 1.0, 0.4, 0.0)
    );
    assert!(c.time_input);
    assert_eq!(
        c.gru,
        GruConfig {
            num_layers: 2,
            dropout: 0.0,
            bidirectional: false
        }
    );
    let parsed: TrajectoryMdnConfig =
        serde_json::from_str(r#"{"num_shapes": 5, "step_scale": 0.25}"#).unwrap();
    assert_eq!(
        (parsed.num_shapes, parsed.step_scale, parsed.hidden_size),
        (5, 0.25, 128)
    );
    assert!(serde_json::from_str::<TrajectoryMdnConfig>(r#"{"shapes": 5}"#).is_err());
    let s = TrajectorySampling::default();
    assert_eq!((s.seed, s.bias, s.start, s.length), (0, 0.0, None, None));

    let vs = nn::VarStore::new(Device::Cpu);
    for (bad, field) in [
        (
            TrajectoryMdnConfig {
                length: 1,
                ..small_config()
            },
            "length",
        ),
        (
            TrajectoryMdnConfig {
                num_components: 0,
                ..small_config()
            },
            "num_components",
        ),
        (
            TrajectoryMdnConfig {
                step_scale: 0.0,
                ..small_config()
            },
            "step_scale",
        ),
        (
            TrajectoryMdnConfig {
                position_scale: f64::NAN,
                ..small_config()
            },
            "position_scale",
        ),
        (
            TrajectoryMdnConfig {
                offset_noise: -0.1,
                ..small_config()
            },
            "offset_noise",
        ),
    ] {
        match TrajectoryMdn::init(&vs.root(), &bad) {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn shapes_and_input_checks() {
    let _s = serial();
    let config = small_config();
    let (vs, m) = model(0, &config);
    let names: Vec<String> = {
        let mut n: Vec<String> = vs.variables().into_keys().collect();
        n.sort();
        n
    };
    assert!(names.contains(&"start.weight".to_string()), "{names:?}");
    assert_eq!(vs.variables()["head.weight"].size(), [12, 8]);
    assert_eq!(vs.variables()["gru.weight_ih_l0"].size(), [24, 5 + 4]);
    let shapes = Tensor::from_slice(&[0i64, 2, 1]);
    let points = Tensor::randn([3, 12, 2], (Kind::Float, Device::Cpu));
    let out = m.forward_t((&shapes, &points), false).unwrap();
    assert_eq!(out.size(), [3, 11, 12]);
    assert_eq!(m.start_params(&shapes).unwrap().size(), [3, 12]);
    let nll = m.nll(&shapes, &points, true).unwrap();
    assert!(nll.size().is_empty() && nll.double_value(&[]).is_finite());
    // Wrong inputs are typed errors, not panics.
    let bad_ids = Tensor::from_slice(&[0i64, 3, 1]);
    assert!(matches!(
        m.forward_t((&bad_ids, &points), false),
        Err(Error::Shape {
            what: "trajectory shape ids",
            ..
        })
    ));
    let short = Tensor::zeros([3, 1, 2], (Kind::Float, Device::Cpu));
    assert!(m.nll(&shapes, &short, false).is_err());
    let doubles = points.to_kind(Kind::Double);
    assert!(m.forward_t((&shapes, &doubles), false).is_err());
    let three_d = Tensor::zeros([3, 12, 3], (Kind::Float, Device::Cpu));
    assert!(m.forward_t((&shapes, &three_d), false).is_err());
    assert!(
        m.forward_t((&shapes.narrow(0, 0, 2), &points), false)
            .is_err()
    );
    // Without the time input the GRU reads 4 + emb features.
    let vs2 = nn::VarStore::new(Device::Cpu);
    let no_time = TrajectoryMdnConfig {
        time_input: false,
        ..small_config()
    };
    let m2 = TrajectoryMdn::init(&vs2.root(), &no_time).unwrap();
    assert_eq!(vs2.variables()["gru.weight_ih_l0"].size(), [24, 4 + 4]);
    assert_eq!(
        m2.forward_t((&shapes, &points), false).unwrap().size(),
        [3, 11, 12]
    );
    // Two points: a single step, and the previous displacement is d_0 = 0.
    let two = points.narrow(1, 0, 2);
    assert_eq!(
        m.forward_t((&shapes, &two), false).unwrap().size(),
        [3, 1, 12]
    );
}

#[test]
fn mixture_nll_matches_numpy() {
    // Golden values from numpy, with the formula of `mixture_nll`'s docs:
    //   def nll(raw, x, K):
    //       logits=raw[0:K]; m1=raw[K:2*K]; m2=raw[2*K:3*K]
    //       ls1=np.clip(raw[3*K:4*K],-7,5); ls2=np.clip(raw[4*K:5*K],-7,5)
    //       rho=np.clip(np.tanh(raw[5*K:6*K]),-0.999,0.999)
    //       logpi = logits - np.log(np.exp(logits).sum()); s1=np.exp(ls1); s2=np.exp(ls2)
    //       z1=(x[0]-m1)/s1; z2=(x[1]-m2)/s2; Z=z1**2+z2**2-2*rho*z1*z2
    //       logN=-np.log(2*np.pi)-ls1-ls2-0.5*np.log(1-rho**2)-Z/(2*(1-rho**2))
    //       a=logpi+logN; mx=a.max(); return -(mx+np.log(np.exp(a-mx).sum()))
    let cases: [(&[f64], [f64; 2], i64, f64); 3] = [
        // A standard normal at its mean: ln(2 pi).
        (&[0.0; 6], [0.0, 0.0], 1, 1.8378770664093453),
        // nll([0, 1, -2, log .5, log 2, arctanh .6], [1.5, -1], 1); by hand: z = (1, 0.5),
        // Z = 0.65, 1 - rho^2 = 0.64: ln 2pi + ln .5 + ln 2 + ln(.64)/2 + .65/1.28.
        (
            &[
                0.0,
                1.0,
                -2.0,
                -std::f64::consts::LN_2,
                std::f64::consts::LN_2,
                std::f64::consts::LN_2,
            ],
            [1.5, -1.0],
            1,
            2.1225460150951356,
        ),
        // nll([.3,-.2, 0,1, .5,-.5, -.1,.2, .3,-.4, .5,-.7], [.4, .1], 2)
        (
            &[
                0.3, -0.2, 0.0, 1.0, 0.5, -0.5, -0.1, 0.2, 0.3, -0.4, 0.5, -0.7,
            ],
            [0.4, 0.1],
            2,
            2.0225195804893588,
        ),
    ];
    for (raw, x, k, want) in cases {
        let raw_t = Tensor::from_slice(raw).view([1, -1]);
        let x_t = Tensor::from_slice(&x).view([1, 2]);
        let got = mixture_nll(&raw_t, &x_t, k).unwrap();
        assert_eq!(got.size(), [1]);
        let got = got.double_value(&[0]);
        assert!((got - want).abs() < 1e-12, "k={k}: {got} vs {want}");
        // Float32 agrees to float precision.
        let got32 = mixture_nll(&raw_t.to_kind(Kind::Float), &x_t.to_kind(Kind::Float), k)
            .unwrap()
            .double_value(&[0]);
        assert!((got32 - want).abs() < 1e-5, "{got32}");
    }
    // arctanh(0.6) = ln 2 exactly: (1/2) ln((1 + .6) / (1 - .6)) = (1/2) ln 4.
    assert!((0.6f64.atanh() - std::f64::consts::LN_2).abs() < 1e-15);
    // Mismatched shapes are errors.
    let raw = Tensor::zeros([3, 12], (Kind::Double, Device::Cpu));
    assert!(mixture_nll(&raw, &Tensor::zeros([3, 2], (Kind::Double, Device::Cpu)), 1).is_err());
    assert!(mixture_nll(&raw, &Tensor::zeros([2, 2], (Kind::Double, Device::Cpu)), 2).is_err());
    assert!(mixture_nll(&raw, &Tensor::zeros([3], (Kind::Double, Device::Cpu)), 2).is_err());
}

#[test]
fn mixture_nll_gradient_matches_finite_differences() {
    let raw: Vec<f64> = vec![
        0.3, -0.2, 0.1, 1.0, 0.5, -0.5, -0.1, 0.2, 0.3, -0.4, 0.5, -0.7,
    ];
    let x = Tensor::from_slice(&[0.4f64, 0.1]).view([1, 2]);
    let r = Tensor::from_slice(&raw)
        .view([1, 12])
        .set_requires_grad(true);
    mixture_nll(&r, &x, 2).unwrap().sum(Kind::Double).backward();
    let grad = Vec::<f64>::try_from(r.grad().view([-1])).unwrap();
    let f = |v: &[f64]| {
        mixture_nll(&Tensor::from_slice(v).view([1, 12]), &x, 2)
            .unwrap()
            .double_value(&[0])
    };
    let h = 1e-6;
    for i in 0..raw.len() {
        let mut plus = raw.clone();
        let mut minus = raw.clone();
        plus[i] += h;
        minus[i] -= h;
        let fd = (f(&plus) - f(&minus)) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-6,
            "d/draw[{i}]: {fd} vs {}",
            grad[i]
        );
    }
}

#[test]
fn nll_is_start_plus_steps_over_length() {
    let _s = serial();
    let config = small_config();
    let (_vs, m) = model(3, &config);
    let shapes = Tensor::from_slice(&[1i64, 0]);
    let points = Tensor::randn([2, 12, 2], (Kind::Float, Device::Cpu)) * 5.0;
    let nll = m.nll(&shapes, &points, false).unwrap().double_value(&[]);
    // The same from the model's outputs, by hand.
    let steps = m.forward_t((&shapes, &points), false).unwrap();
    let targets = (points.narrow(1, 1, 11) - points.narrow(1, 0, 11)) / 0.5;
    let step_nll = mixture_nll(&steps, &targets, 2).unwrap().sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Float,
    );
    let start_nll = mixture_nll(
        &m.start_params(&shapes).unwrap(),
        &(points.select(1, 0) / 10.0),
        2,
    )
    .unwrap();
    let want = ((step_nll + start_nll) / 12.0)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((nll - want).abs() < 1e-5, "{nll} vs {want}");
    // Changing the future does not change the prediction of the past (causality).
    let changed = points.copy();
    let _ = changed.narrow(1, 6, 6).fill_(100.0);
    let a = m
        .forward_t((&shapes, &points), false)
        .unwrap()
        .narrow(1, 0, 6);
    let b = m
        .forward_t((&shapes, &changed), false)
        .unwrap()
        .narrow(1, 0, 6);
    assert!((a - b).abs().max().double_value(&[]) < 1e-6);
}

/// In training, the step terms read the trajectories shifted by an offset that fades
/// linearly to zero, drawn from libtorch's generator; the start term reads the given points.
#[test]
fn training_shifts_trajectories_by_a_fading_offset() {
    let _s = serial();
    let config = TrajectoryMdnConfig {
        offset_noise: 0.2,
        time_warp: 0.0,
        ..small_config()
    }; // position_scale 10
    let (_vs, m) = model(4, &config);
    let shapes = Tensor::from_slice(&[2i64, 0]);
    let points = Tensor::randn([2, 12, 2], (Kind::Float, Device::Cpu)) * 5.0;
    tch::manual_seed(21);
    let got = m.nll(&shapes, &points, true).unwrap().double_value(&[]);
    tch::manual_seed(21);
    let _warps = Tensor::rand([2, 1], (Kind::Float, Device::Cpu)); // drawn first, unused at 0
    let offsets = Tensor::randn([2, 1, 2], (Kind::Float, Device::Cpu)) * 2.0;
    let fade: Vec<f32> = (0..12).map(|t| 1.0 - t as f32 / 11.0).collect();
    let shifted = &points + offsets * Tensor::from_slice(&fade).view([1, 12, 1]);
    // The last point does not move.
    assert!(
        (shifted.select(1, 11) - points.select(1, 11))
            .abs()
            .max()
            .double_value(&[])
            < 1e-6
    );
    let steps = m.forward_t((&shapes, &shifted), false).unwrap();
    let targets = (shifted.narrow(1, 1, 11) - shifted.narrow(1, 0, 11)) / 0.5;
    let step_nll = mixture_nll(&steps, &targets, 2).unwrap().sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Float,
    );
    let start_nll = mixture_nll(
        &m.start_params(&shapes).unwrap(),
        &(points.select(1, 0) / 10.0),
        2,
    )
    .unwrap();
    let want = ((step_nll + start_nll) / 12.0)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    // Without training, or with both augmentations off, nothing moves.
    let plain = m.nll(&shapes, &points, false).unwrap().double_value(&[]);
    assert!((got - plain).abs() > 1e-3);
    let (_vs0, m0) = model(
        4,
        &TrajectoryMdnConfig {
            offset_noise: 0.0,
            time_warp: 0.0,
            ..small_config()
        },
    );
    assert_eq!(
        m0.nll(&shapes, &points, true).unwrap().double_value(&[]),
        m0.nll(&shapes, &points, false).unwrap().double_value(&[])
    );
}

/// The re-timing augmentation on straight, uniformly timed trajectories, where it has a
/// closed form: `p(tau) = (1 - tau) s` becomes `(1 - phi(tau)) s` with
/// `phi(tau) = tau + 16 alpha tau^2 (1 - tau)^2`, `alpha = (2 u - 1) time_warp`, `u ~ rand`.
#[test]
fn training_retimes_trajectories() {
    let _s = serial();
    let config = TrajectoryMdnConfig {
        offset_noise: 0.0,
        time_warp: 0.3,
        ..small_config()
    };
    let (_vs, m) = model(6, &config);
    let shapes = Tensor::from_slice(&[1i64, 2]);
    let starts = [[20.0f32, -8.0], [-5.0, 12.0]];
    let line = |phi: &dyn Fn(f32) -> f32| -> Tensor {
        let v: Vec<f32> = starts
            .iter()
            .flat_map(|s| {
                (0..12).flat_map(move |t| {
                    let f = 1.0 - phi(t as f32 / 11.0);
                    [s[0] * f, s[1] * f]
                })
            })
            .collect();
        Tensor::from_slice(&v).view([2, 12, 2])
    };
    let points = line(&|tau| tau);
    tch::manual_seed(8);
    let got = m.nll(&shapes, &points, true).unwrap().double_value(&[]);
    tch::manual_seed(8);
    let u =
        Vec::<f32>::try_from(Tensor::rand([2, 1], (Kind::Float, Device::Cpu)).view([-1])).unwrap();
    let warped: Vec<Tensor> = (0..2)
        .map(|i| {
            let alpha = (2.0 * u[i] - 1.0) * 0.3;
            line(&move |tau| tau + 16.0 * alpha * (tau * (1.0 - tau)).powi(2)).get(i as i64)
        })
        .collect();
    let warped = Tensor::stack(&warped, 0);
    // Ends stay put.
    assert!(
        (warped.select(1, 0) - points.select(1, 0))
            .abs()
            .max()
            .double_value(&[])
            < 1e-5
    );
    assert!(warped.select(1, 11).abs().max().double_value(&[]) < 1e-5);
    // The start term reads the original points, which share their first points with `warped`.
    let want = m.nll(&shapes, &warped, false).unwrap().double_value(&[]);
    assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    assert!((got - m.nll(&shapes, &points, false).unwrap().double_value(&[])).abs() > 1e-3);
    let vs = nn::VarStore::new(Device::Cpu);
    for bad in [0.31, -0.1] {
        let c = TrajectoryMdnConfig {
            time_warp: bad,
            ..small_config()
        };
        assert!(matches!(
            TrajectoryMdn::init(&vs.root(), &c),
            Err(Error::Config {
                field: "time_warp",
                ..
            })
        ));
    }
}

/// One-component draws have the component's mean, spread and correlation; the bias
/// shrinks the spread by exp(-bias).
#[test]
fn mixture_draws_have_the_right_moments() {
    // mu = (1, -2), sigma = (0.5, 2), rho = 0.6
    let raw = [0.0, 1.0, -2.0, 0.5f64.ln(), 2.0f64.ln(), 0.6f64.atanh()];
    for bias in [0.0, 1.0] {
        let mix = Mixture::from_raw(&raw, 1, bias).unwrap();
        let mut rng = sampler_rng(11, 0);
        let n = 40_000;
        let draws: Vec<[f64; 2]> = (0..n).map(|_| mix.draw(&mut rng)).collect();
        let mean = |i: usize| draws.iter().map(|d| d[i]).sum::<f64>() / n as f64;
        let (m0, m1) = (mean(0), mean(1));
        let cov = |i: usize, j: usize, mi: f64, mj: f64| {
            draws.iter().map(|d| (d[i] - mi) * (d[j] - mj)).sum::<f64>() / n as f64
        };
        let (s0, s1) = (cov(0, 0, m0, m0).sqrt(), cov(1, 1, m1, m1).sqrt());
        let rho = cov(0, 1, m0, m1) / (s0 * s1);
        let shrink = (-bias).exp();
        assert!(
            (m0 - 1.0).abs() < 0.02 && (m1 + 2.0).abs() < 0.05,
            "{m0} {m1}"
        );
        assert!((s0 - 0.5 * shrink).abs() < 0.02 * shrink, "{s0}");
        assert!((s1 - 2.0 * shrink).abs() < 0.05 * shrink, "{s1}");
        assert!((rho - 0.6).abs() < 0.02, "{rho}");
    }
    // Two components: weights follow softmax, sharpened by the bias (weights^(1 + b)).
    let raw = [
        0.0,
        2.0f64.ln(),
        -5.0,
        5.0,
        0.0,
        0.0,
        LOG_STD_MIN,
        LOG_STD_MIN,
        LOG_STD_MIN,
        LOG_STD_MIN,
        0.0,
        0.0,
    ];
    let mix = Mixture::from_raw(&raw, 2, 0.0).unwrap();
    assert!((mix.weights[1] - 2.0 / 3.0).abs() < 1e-12);
    let biased = Mixture::from_raw(&raw, 2, 1.0).unwrap();
    assert!((biased.weights[1] - 4.0 / 5.0).abs() < 1e-12);
    let mut rng = sampler_rng(5, 0);
    let right = (0..30_000).filter(|_| mix.draw(&mut rng)[0] > 0.0).count() as f64 / 30_000.0;
    assert!((right - 2.0 / 3.0).abs() < 0.015, "{right}");
    assert!(Mixture::from_raw(&raw, 3, 0.0).is_err());
    // The mean is sum_k w_k mu_k: (2/3) 5 + (1/3) (-5) in x, 0 in y.
    let [mx, my] = mix.mean();
    assert!(
        (mx - 5.0 / 3.0).abs() < 1e-12 && my.abs() < 1e-12,
        "{mx} {my}"
    );
}

#[test]
fn spread_pulls_draws_toward_the_mixture_mean() {
    // Two well separated components: exact draws land near +-5, never near the mean 5/3.
    let raw = [
        0.0,
        2.0f64.ln(),
        -5.0,
        5.0,
        1.0,
        -1.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.5,
    ];
    let mix = Mixture::from_raw(&raw, 2, 0.0).unwrap();
    let m = mix.mean();
    for spread in [0.0, 0.3, 1.0] {
        // The same stream: draw_spread(s) = m + s (draw - m), exactly.
        let (mut a, mut b) = (sampler_rng(3, 1), sampler_rng(3, 1));
        for _ in 0..200 {
            let d = mix.draw(&mut a);
            let p = mix.draw_spread(&mut b, spread);
            for i in 0..2 {
                let want = m[i] + spread * (d[i] - m[i]);
                assert!(
                    (p[i] - want).abs() < 1e-12,
                    "spread {spread}: {p:?} vs {want}"
                );
            }
        }
    }
    // Spread 0 is the mean itself, whatever the stream.
    assert_eq!(mix.draw_spread(&mut sampler_rng(9, 0), 0.0), m);
}

#[test]
fn sampling_is_seeded_and_starts_where_asked() {
    let _s = serial();
    let config = small_config();
    let (_vs, m) = model(1, &config);
    let s = |seed: u64, n: usize, start: Option<[f64; 2]>| {
        m.sample(
            2,
            n,
            &TrajectorySampling {
                seed,
                start,
                bias: 0.3,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let a = s(4, 3, None);
    assert_eq!(a.size(), [3, 12, 2]);
    assert_eq!(a.kind(), Kind::Double);
    // Same seed, same trajectories, whatever libtorch's generator does in between.
    tch::manual_seed(999);
    let _ = Tensor::randn([100], (Kind::Float, Device::Cpu));
    assert!(a.equal(&s(4, 3, None)));
    // Sample i does not depend on how many are drawn.
    assert!(a.narrow(0, 0, 2).equal(&s(4, 2, None)));
    // Samples differ from each other and across seeds.
    assert!(!a.get(0).equal(&a.get(1)));
    assert!(!a.equal(&s(5, 3, None)));
    // A given start is the first point of every sample.
    let b = s(4, 3, Some([7.5, -2.0]));
    for i in 0..3 {
        assert_eq!(
            (b.double_value(&[i, 0, 0]), b.double_value(&[i, 0, 1])),
            (7.5, -2.0)
        );
    }
    // Another length.
    let c = m
        .sample(
            0,
            2,
            &TrajectorySampling {
                length: Some(30),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(c.size(), [2, 30, 2]);
    assert!(bool::try_from(c.isfinite().all()).unwrap());
    // Bad requests are config errors.
    let bad = |shape: i64, n: usize, sampling: TrajectorySampling| m.sample(shape, n, &sampling);
    assert!(bad(3, 1, TrajectorySampling::default()).is_err());
    assert!(bad(0, 0, TrajectorySampling::default()).is_err());
    assert!(
        bad(
            0,
            1,
            TrajectorySampling {
                bias: -1.0,
                ..Default::default()
            }
        )
        .is_err()
    );
    for spread in [-0.1, 1.5, f64::NAN] {
        assert!(
            bad(
                0,
                1,
                TrajectorySampling {
                    spread,
                    ..Default::default()
                }
            )
            .is_err()
        );
    }
    // Spread 0: no randomness left, every sample and seed gives the same path from a start.
    let mean_path = |seed: u64| {
        m.sample(
            2,
            3,
            &TrajectorySampling {
                seed,
                spread: 0.0,
                start: Some([1.0, 1.0]),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let p = mean_path(1);
    // The model runs in f32, and rows of one batch may round differently in the last bits
    // (GEMM kernels block rows differently on different CPUs: 3e-8 apart on an AMD EPYC), so
    // samples within a batch agree to f32 rounding; a seed repeats the whole batch exactly.
    assert!(p.get(0).allclose(&p.get(2), 1e-6, 1e-6, false));
    assert!(p.equal(&mean_path(2)));
    assert!(
        bad(
            0,
            1,
            TrajectorySampling {
                length: Some(1),
                ..Default::default()
            }
        )
        .is_err()
    );
    assert!(
        bad(
            0,
            1,
            TrajectorySampling {
                start: Some([f64::NAN, 0.0]),
                ..Default::default()
            }
        )
        .is_err()
    );
}

/// Sampling feeds the generated points back the way training reads them: with a nearly
/// deterministic model (tiny stds), the step mixture at the sampled points predicts the
/// sampled steps.
#[test]
fn sampled_steps_follow_the_teacher_forced_means() {
    let _s = serial();
    let config = TrajectoryMdnConfig {
        num_components: 1,
        ..small_config()
    };
    let (vs, m) = model(2, &config);
    // Push every log std to the minimum, so draws sit on the means.
    tch::no_grad(|| {
        let b = &vs.variables()["head.bias"];
        let _ = b.narrow(0, 3, 2).fill_(-50.0);
        let w = &vs.variables()["head.weight"];
        let _ = w.narrow(0, 3, 2).fill_(0.0);
    });
    let samples = m
        .sample(
            1,
            2,
            &TrajectorySampling {
                start: Some([1.0, 2.0]),
                bias: 5.0,
                ..Default::default()
            },
        )
        .unwrap();
    let points = samples.to_kind(Kind::Float);
    let shapes = Tensor::from_slice(&[1i64, 1]);
    let raw = m.forward_t((&shapes, &points), false).unwrap();
    let means = raw.narrow(2, 1, 2) * 0.5; // step_scale
    let steps = points.narrow(1, 1, 11) - points.narrow(1, 0, 11);
    let diff = (means - steps).abs().max().double_value(&[]);
    assert!(diff < 1e-3, "{diff}");
}

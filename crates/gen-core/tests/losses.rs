//! Loss functions: closed forms, PyTorch reference values, finite-difference gradients, extreme
//! logits and proptest identities.
//!
//! PyTorch references were produced with PyTorch 2.13.0 (the libtorch tch 0.26 links), with
//! `import torch, torch.nn.functional as F; d = torch.float64` and are quoted next to each value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_core::{
    CrossEntropyOptions, DiscriminatorLossOptions, Error, bce, bce_with_logits, cross_entropy,
    cross_entropy_sum, discriminator_loss, gan_value, generator_loss_minimax,
    generator_loss_non_saturating, gradient_penalty, hinge_discriminator_loss,
    hinge_generator_loss, interpolation_epsilon, wasserstein_critic_loss,
    wasserstein_generator_loss,
};
use proptest::prelude::*;
use std::f64::consts::LN_2;
use tch::{Kind, Tensor};

fn t64(v: &[f64]) -> Tensor {
    Tensor::from_slice(v)
}

fn val(t: &Tensor) -> f64 {
    t.double_value(&[])
}

fn d_default() -> DiscriminatorLossOptions {
    DiscriminatorLossOptions::default()
}

fn assert_close(got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * (1.0 + want.abs()),
        "got {got:.17}, want {want:.17}"
    );
}

/// Stable `log sigmoid(x)` in plain f64, for closed-form comparisons.
fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

// ---------------------------------------------------------------------------------------------
// Closed forms and PyTorch references.

#[test]
fn optimum_of_the_value_function_is_minus_two_ln_two() {
    // D(x) = sigmoid(0) = 1/2 everywhere: V = ln(1/2) + ln(1/2) = -2 ln 2.
    for kind in [Kind::Float, Kind::Double] {
        let real = Tensor::zeros([5, 1], (kind, tch::Device::Cpu));
        let fake = Tensor::zeros([3], (kind, tch::Device::Cpu));
        assert_close(val(&gan_value(&real, &fake).unwrap()), -2.0 * LN_2, 1e-7);
        assert_close(
            val(&discriminator_loss(&real, &fake, &d_default()).unwrap()),
            2.0 * LN_2,
            1e-7,
        );
        assert_close(val(&generator_loss_minimax(&fake).unwrap()), -LN_2, 1e-7);
        assert_close(
            val(&generator_loss_non_saturating(&fake).unwrap()),
            LN_2,
            1e-7,
        );
    }
}

#[test]
fn gan_losses_match_pytorch() {
    let r = t64(&[2.0, -1.0, 0.5]);
    let f = t64(&[-0.3, 1.5]);
    // F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()   with r, f as above (float64)
    let want_v = -1.7659731554727403;
    assert_close(val(&gan_value(&r, &f).unwrap()), want_v, 1e-14);
    // Closed form from the definition, independently of libtorch.
    let closed = mean(&[2.0, -1.0, 0.5].map(log_sigmoid)) + mean(&[0.3, -1.5].map(log_sigmoid));
    assert_close(want_v, closed, 1e-14);
    assert_close(
        val(&discriminator_loss(&r, &f, &d_default()).unwrap()),
        -want_v,
        1e-14,
    );
    // F.binary_cross_entropy_with_logits(r, torch.full_like(r, 0.9))
    //   + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
    let smoothed = DiscriminatorLossOptions::one_sided_label_smoothing();
    assert_eq!(smoothed.real_target, 0.9);
    assert_close(
        val(&discriminator_loss(&r, &f, &smoothed).unwrap()),
        1.8159731554727405,
        1e-14,
    );
    // (-F.logsigmoid(f).mean())
    assert_close(
        val(&generator_loss_non_saturating(&f).unwrap()),
        0.5278842612256398,
        1e-14,
    );
    // (F.relu(1 - r).mean() + F.relu(1 + f).mean()) = (0 + 2 + 0.5)/3 + (0.7 + 2.5)/2
    assert_close(
        val(&hinge_discriminator_loss(&r, &f).unwrap()),
        2.4333333333333336,
        1e-14,
    );
    assert_close(val(&hinge_generator_loss(&f).unwrap()), -0.6, 1e-14);
    // mean(f) - mean(r) = 0.6 - 0.5
    assert_close(val(&wasserstein_critic_loss(&r, &f).unwrap()), 0.1, 1e-14);
    assert_close(val(&wasserstein_generator_loss(&f).unwrap()), -0.6, 1e-14);
}

#[test]
fn bce_matches_pytorch_including_the_clamp() {
    let p = t64(&[0.1, 0.7, 0.999, 0.0, 1.0]);
    let y = t64(&[0.0, 1.0, 1.0, 1.0, 0.0]);
    // F.binary_cross_entropy(torch.tensor([0.1, 0.7, 0.999, 0.0, 1.0], dtype=d),
    //                        torch.tensor([0., 1., 1., 1., 0.], dtype=d))
    let want = 40.09260719198603;
    assert_close(val(&bce(&p, &y).unwrap()), want, 1e-14);
    // Closed form: the two saturated terms are clamped at 100 each.
    let closed = (-(0.9f64.ln()) - 0.7f64.ln() - 0.999f64.ln() + 100.0 + 100.0) / 5.0;
    assert_close(want, closed, 1e-14);
    // F.binary_cross_entropy_with_logits(torch.tensor([-3., .5, 2., 100., -100.], dtype=d),
    //                                    torch.tensor([0., 1., .3, 0., 1.], dtype=d))
    let l = t64(&[-3.0, 0.5, 2.0, 100.0, -100.0]);
    let y = t64(&[0.0, 1.0, 0.3, 0.0, 1.0]);
    assert_close(
        val(&bce_with_logits(&l, &y).unwrap()),
        40.40991846935937,
        1e-14,
    );
    // Probabilities outside [0, 1] are rejected by libtorch, not silently clamped.
    assert!(matches!(
        bce(&t64(&[1.5]), &t64(&[1.0])),
        Err(Error::Torch(_))
    ));
    assert!(matches!(
        bce(&t64(&[0.5, 0.5]), &t64(&[1.0])),
        Err(Error::ShapeMismatch { op: "bce", .. })
    ));
}

fn ce_logits() -> Tensor {
    t64(&[1., 2., 3., 0.5, -1., 2., 0., 0., 0., 3., -2., 1.]).reshape([4, 3])
}

#[test]
fn cross_entropy_matches_pytorch() {
    let none = CrossEntropyOptions::default();
    // F.cross_entropy(torch.tensor([[1., 2., 3.]], dtype=d), torch.tensor([0]))
    //   = 2.4076059644443806 (float32: 2.4076058864593506); closed form log(e + e^2 + e^3) - 1
    let l = t64(&[1., 2., 3.]).reshape([1, 3]);
    let got = val(&cross_entropy(&l, &Tensor::from_slice(&[0i64]), &none).unwrap());
    assert_close(got, 2.4076059644443806, 1e-15);
    assert_close(
        got,
        (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 1.0,
        1e-15,
    );

    // logits = torch.tensor([[1.,2.,3.],[.5,-1.,2.],[0.,0.,0.],[3.,-2.,1.]], dtype=d)
    // t = torch.tensor([2, 0, -100, 1])
    let logits = ce_logits();
    let t = Tensor::from_slice(&[2i64, 0, -100, 1]);
    let ign = CrossEntropyOptions {
        ignore_index: Some(-100),
        label_smoothing: 0.0,
    };
    // F.cross_entropy(logits, t, ignore_index=-100)
    assert_close(
        val(&cross_entropy(&logits, &t, &ign).unwrap()),
        2.427254164943038,
        1e-15,
    );
    // F.cross_entropy(logits, t, ignore_index=-100, reduction='sum')
    let (sum, count) = cross_entropy_sum(&logits, &t, &ign).unwrap();
    assert_close(val(&sum), 7.281762494829113, 1e-15);
    assert_eq!(count, 3);
    let smooth = CrossEntropyOptions {
        ignore_index: Some(-100),
        label_smoothing: 0.1,
    };
    // F.cross_entropy(logits, t, ignore_index=-100, label_smoothing=0.1)
    assert_close(
        val(&cross_entropy(&logits, &t, &smooth).unwrap()),
        2.3716986093874826,
        1e-15,
    );
    // F.cross_entropy(logits, t, ignore_index=-100, label_smoothing=0.1, reduction='sum')
    let (sum, count) = cross_entropy_sum(&logits, &t, &smooth).unwrap();
    assert_close(val(&sum), 7.115095828162447, 1e-15);
    assert_eq!(count, 3);
    // F.cross_entropy(logits, torch.tensor([2, 0, 1, 1]), label_smoothing=0.25)
    let t2 = Tensor::from_slice(&[2i64, 0, 1, 1]);
    let ls = CrossEntropyOptions {
        ignore_index: None,
        label_smoothing: 0.25,
    };
    assert_close(
        val(&cross_entropy(&logits, &t2, &ls).unwrap()),
        1.9909270292076389,
        1e-15,
    );
    // F.cross_entropy(logits, torch.tensor([2, 0, 0, 1]), ignore_index=0): a real class ignored.
    let t3 = Tensor::from_slice(&[2i64, 0, 0, 1]);
    let ign0 = CrossEntropyOptions {
        ignore_index: Some(0),
        label_smoothing: 0.0,
    };
    assert_close(
        val(&cross_entropy(&logits, &t3, &ign0).unwrap()),
        2.770225599085978,
        1e-15,
    );
}

#[test]
fn cross_entropy_puts_classes_last_for_sequences() {
    // [B=2, T=2, C=3] logits against [2, 2] targets equals the flattened 2-D case.
    let logits = ce_logits();
    let t = Tensor::from_slice(&[2i64, 0, -100, 1]);
    let ign = CrossEntropyOptions {
        ignore_index: Some(-100),
        label_smoothing: 0.0,
    };
    let seq = cross_entropy(&logits.reshape([2, 2, 3]), &t.reshape([2, 2]), &ign).unwrap();
    assert_close(val(&seq), 2.427254164943038, 1e-15);
}

#[test]
fn cross_entropy_rejects_bad_input() {
    let logits = ce_logits();
    let none = CrossEntropyOptions::default();
    // Out-of-range class, negative class without an ignore index, padding without ignore_index.
    for bad in [[2i64, 0, 3, 1], [2, 0, -1, 1], [2, 0, -100, 1]] {
        let err = cross_entropy(&logits, &Tensor::from_slice(&bad), &none).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    name: "targets",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = cross_entropy(&logits, &Tensor::from_slice(&[0i64, 1, 2]), &none).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "cross_entropy",
                ..
            }
        ),
        "{err}"
    );
    let err = cross_entropy(&logits, &Tensor::from_slice(&[0i32, 1, 2, 0]), &none).unwrap_err();
    assert!(
        matches!(err, Error::KindMismatch { got: Kind::Int, .. }),
        "{err}"
    );
    let bad_ls = CrossEntropyOptions {
        ignore_index: None,
        label_smoothing: 1.5,
    };
    let err = cross_entropy(&logits, &Tensor::from_slice(&[0i64, 1, 2, 0]), &bad_ls).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidArgument {
            name: "label_smoothing",
            ..
        }
    ));
    // Every target ignored: the mean is NaN as in PyTorch, the sum variant is exact.
    let all_pad = Tensor::from_slice(&[-1i64; 4]);
    let pad = CrossEntropyOptions {
        ignore_index: Some(-1),
        label_smoothing: 0.0,
    };
    assert!(val(&cross_entropy(&logits, &all_pad, &pad).unwrap()).is_nan());
    let (sum, count) = cross_entropy_sum(&logits, &all_pad, &pad).unwrap();
    assert_eq!((val(&sum), count), (0.0, 0));
}

#[test]
fn gan_losses_reject_bad_input() {
    let empty = Tensor::zeros([0], (Kind::Float, tch::Device::Cpu));
    let one = Tensor::zeros([1], (Kind::Float, tch::Device::Cpu));
    assert!(matches!(
        gan_value(&empty, &one),
        Err(Error::InvalidArgument { .. })
    ));
    let ints = Tensor::from_slice(&[1i64]);
    assert!(matches!(
        generator_loss_non_saturating(&ints),
        Err(Error::KindMismatch { .. })
    ));
    for t in [1.1, -0.1, f64::NAN] {
        let opts = DiscriminatorLossOptions { real_target: t };
        assert!(matches!(
            discriminator_loss(&one, &one, &opts),
            Err(Error::InvalidArgument {
                name: "real_target",
                ..
            })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// WGAN-GP.

/// A linear critic `D(x) = x . w` (per sample, x flattened).
fn linear_critic(w: &Tensor) -> impl FnOnce(&Tensor) -> gen_core::Result<Tensor> + '_ {
    move |x: &Tensor| Ok(x.flatten(1, -1).matmul(w))
}

#[test]
fn gradient_penalty_of_a_linear_critic_is_closed_form() {
    // grad_x (x . w) = w for every x, so GP = (||w|| - 1)^2 whatever the interpolation.
    let real = t64(&[
        0.3, -1.0, 2.0, 0.5, 1.5, -0.2, 0.0, 4.0, -3.0, 1.0, 1.0, 2.0,
    ])
    .reshape([3, 2, 2]);
    let fake = t64(&[1.0; 12]).reshape([3, 2, 2]);
    let eps = t64(&[0.0, 0.25, 1.0]);
    for wv in [
        [3.0, 4.0, 0.0, 0.0],
        [0.6, 0.0, 0.8, 0.0],
        [0.1, -0.2, 0.3, 0.05],
    ] {
        let w = t64(&wv).set_requires_grad(true);
        let norm = wv.iter().map(|x| x * x).sum::<f64>().sqrt();
        let gp = gradient_penalty(linear_critic(&w), &real, &fake, &eps).unwrap();
        assert_close(val(&gp), (norm - 1.0).powi(2), 1e-14);
        // create_graph = true: d GP / d w = 2 (||w|| - 1) w / ||w||.
        let grad = Tensor::run_backward(&[&gp], &[&w], false, false)
            .pop()
            .unwrap();
        for (i, wi) in wv.iter().enumerate() {
            let want = 2.0 * (norm - 1.0) * wi / norm;
            assert_close(grad.double_value(&[i as i64]), want, 1e-12);
        }
    }
    // epsilon given as [B, 1, 1] works the same; random epsilon too.
    let w = t64(&[3.0, 4.0, 0.0, 0.0]);
    let gp = gradient_penalty(linear_critic(&w), &real, &fake, &eps.reshape([3, 1, 1])).unwrap();
    assert_close(val(&gp), 16.0, 1e-14);
    let eps = interpolation_epsilon(&real).unwrap();
    assert_eq!((eps.size(), eps.kind()), (vec![3], Kind::Double));
    let gp = gradient_penalty(linear_critic(&w), &real, &fake, &eps).unwrap();
    assert_close(val(&gp), 16.0, 1e-14);
}

#[test]
fn gradient_penalty_rejects_bad_shapes() {
    let real = Tensor::zeros([3, 2], (Kind::Double, tch::Device::Cpu));
    let w = t64(&[1.0, 0.0]);
    let err = gradient_penalty(
        linear_critic(&w),
        &real,
        &real.reshape([2, 3]),
        &t64(&[0.5; 3]),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "gradient_penalty",
                ..
            }
        ),
        "{err}"
    );
    let err = gradient_penalty(linear_critic(&w), &real, &real, &t64(&[0.5; 2])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "gradient_penalty",
                ..
            }
        ),
        "{err}"
    );
    let flat = Tensor::zeros([3], (Kind::Double, tch::Device::Cpu));
    assert!(gradient_penalty(|x| Ok(x * 2.0), &flat, &flat, &t64(&[0.5; 3])).is_err());
    // An error from the critic is passed through.
    let err = gradient_penalty(
        |_x: &Tensor| {
            Err(Error::InvalidArgument {
                name: "critic",
                reason: "boom".into(),
            })
        },
        &real,
        &real,
        &t64(&[0.5; 3]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "critic", .. }));
}

// ---------------------------------------------------------------------------------------------
// Finite-difference gradient checks (float64, central differences).

/// Compares autograd's gradient of the scalar `f(x)` with central differences at `x0`.
fn check_gradient(name: &str, x0: &[f64], f: impl Fn(&Tensor) -> Tensor) {
    let x = t64(x0).set_requires_grad(true);
    let y = f(&x);
    let analytic: Vec<f64> = Vec::try_from(
        Tensor::run_backward(&[&y], &[&x], false, false)
            .pop()
            .unwrap(),
    )
    .unwrap();
    let h = 1e-6;
    for i in 0..x0.len() {
        let mut plus = x0.to_vec();
        let mut minus = x0.to_vec();
        plus[i] += h;
        minus[i] -= h;
        let numeric = (val(&f(&t64(&plus))) - val(&f(&t64(&minus)))) / (2.0 * h);
        assert!(
            (numeric - analytic[i]).abs() <= 1e-6 * (1.0 + analytic[i].abs()),
            "{name}: d/dx[{i}] autograd {} vs finite difference {numeric}",
            analytic[i]
        );
    }
}

/// First `n` entries of `x` are real outputs, the rest fake.
fn split(x: &Tensor, n: i64) -> (Tensor, Tensor) {
    let len = x.size()[0];
    (x.narrow(0, 0, n), x.narrow(0, n, len - n))
}

const POINTS: [f64; 7] = [1.3, -0.7, 2.9, 0.2, -2.2, 0.45, -1.6];

#[test]
fn gan_loss_gradients_match_finite_differences() {
    let two = |name: &str, loss: fn(&Tensor, &Tensor) -> Tensor| {
        check_gradient(name, &POINTS, |x| {
            let (r, f) = split(x, 4);
            loss(&r, &f)
        });
    };
    two("gan_value", |r, f| gan_value(r, f).unwrap());
    two("discriminator_loss", |r, f| {
        discriminator_loss(r, f, &d_default()).unwrap()
    });
    two("discriminator_loss smoothed", |r, f| {
        discriminator_loss(r, f, &DiscriminatorLossOptions::one_sided_label_smoothing()).unwrap()
    });
    two("wasserstein_critic_loss", |r, f| {
        wasserstein_critic_loss(r, f).unwrap()
    });
    two("hinge_discriminator_loss", |r, f| {
        hinge_discriminator_loss(r, f).unwrap()
    });
    check_gradient("generator_loss_minimax", &POINTS, |x| {
        generator_loss_minimax(x).unwrap()
    });
    check_gradient("generator_loss_non_saturating", &POINTS, |x| {
        generator_loss_non_saturating(x).unwrap()
    });
    check_gradient("wasserstein_generator_loss", &POINTS, |x| {
        wasserstein_generator_loss(x).unwrap()
    });
    check_gradient("hinge_generator_loss", &POINTS, |x| {
        hinge_generator_loss(x).unwrap()
    });
}

#[test]
fn bce_gradients_match_finite_differences() {
    let y = t64(&[0.0, 1.0, 0.3, 1.0, 0.0, 0.8, 0.5]);
    check_gradient("bce_with_logits", &POINTS, |x| {
        bce_with_logits(x, &y).unwrap()
    });
    let p = [0.1, 0.9, 0.35, 0.6, 0.02, 0.75, 0.5];
    check_gradient("bce", &p, |x| bce(x, &y).unwrap());
}

#[test]
fn cross_entropy_gradients_match_finite_differences() {
    let x0: Vec<f64> = (0..12)
        .map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.37)
        .collect();
    let t = Tensor::from_slice(&[2i64, 0, -100, 1]);
    for ls in [0.0, 0.1] {
        let opts = CrossEntropyOptions {
            ignore_index: Some(-100),
            label_smoothing: ls,
        };
        check_gradient("cross_entropy", &x0, |x| {
            cross_entropy(&x.reshape([4, 3]), &t, &opts).unwrap()
        });
        check_gradient("cross_entropy_sum", &x0, |x| {
            cross_entropy_sum(&x.reshape([2, 2, 3]), &t.reshape([2, 2]), &opts)
                .unwrap()
                .0
        });
    }
}

#[test]
fn gradient_penalty_gradient_matches_finite_differences() {
    // A non-linear critic D(x) = tanh(x W) . v; check d GP / d (W, v), which needs the
    // double-backward graph that create_graph = true keeps.
    let real = t64(&[0.3, -1.0, 2.0, 0.5, 1.5, -0.2]).reshape([3, 2]);
    let fake = t64(&[1.0, 0.1, -0.4, 0.9, 0.0, -1.2]).reshape([3, 2]);
    let eps = t64(&[0.2, 0.5, 0.9]);
    let params = [0.5, -0.3, 0.8, 0.1, 1.2, -0.7, 0.4, 0.9, -0.6];
    check_gradient("gradient_penalty", &params, |p| {
        let w = p.narrow(0, 0, 6).reshape([2, 3]);
        let v = p.narrow(0, 6, 3);
        gradient_penalty(|x| Ok(x.matmul(&w).tanh().matmul(&v)), &real, &fake, &eps).unwrap()
    });
}

// ---------------------------------------------------------------------------------------------
// Extreme logits.

#[test]
fn extreme_logits_give_finite_losses_and_gradients() {
    type Loss = fn(&Tensor, &Tensor) -> Tensor;
    let losses: [(&str, Loss); 9] = [
        ("gan_value", |r, f| gan_value(r, f).unwrap()),
        ("discriminator_loss", |r, f| {
            discriminator_loss(r, f, &d_default()).unwrap()
        }),
        ("discriminator_loss smoothed", |r, f| {
            discriminator_loss(r, f, &DiscriminatorLossOptions::one_sided_label_smoothing())
                .unwrap()
        }),
        ("generator_loss_minimax", |_, f| {
            generator_loss_minimax(f).unwrap()
        }),
        ("generator_loss_non_saturating", |_, f| {
            generator_loss_non_saturating(f).unwrap()
        }),
        ("bce_with_logits", |r, _| {
            bce_with_logits(r, &r.lt(0.0).to_kind(r.kind())).unwrap()
        }),
        ("cross_entropy", |r, _| {
            let t = Tensor::from_slice(&[0i64, 1]);
            cross_entropy(&r.reshape([2, 2]), &t, &CrossEntropyOptions::default()).unwrap()
        }),
        ("hinge_discriminator_loss", |r, f| {
            hinge_discriminator_loss(r, f).unwrap()
        }),
        ("wasserstein_critic_loss", |r, f| {
            wasserstein_critic_loss(r, f).unwrap()
        }),
    ];
    for kind in [Kind::Float, Kind::Double] {
        for (name, loss) in losses {
            for (rv, fv) in [
                ([100.0, -100.0, 100.0, -100.0], [100.0, -100.0]),
                ([-100.0; 4], [100.0; 2]),
                ([100.0; 4], [-100.0; 2]),
            ] {
                let r = t64(&rv).to_kind(kind).set_requires_grad(true);
                let f = t64(&fv).to_kind(kind).set_requires_grad(true);
                let l = loss(&r, &f);
                assert!(
                    val(&l).is_finite(),
                    "{name} {kind:?} {rv:?} {fv:?}: {}",
                    val(&l)
                );
                let grads = Tensor::run_backward(&[&l], &[&r, &f], false, true);
                for g in grads.iter().filter(|g| g.defined()) {
                    let all_finite = g.isfinite().all().int64_value(&[]) == 1;
                    assert!(all_finite, "{name} {kind:?}: gradient {g:?}");
                }
            }
        }
    }
    // The worst case for D: real rejected and fake accepted with logit 100 -> loss 200.
    let r = t64(&[-100.0]);
    let f = t64(&[100.0]);
    assert_close(
        val(&discriminator_loss(&r, &f, &d_default()).unwrap()),
        200.0,
        1e-12,
    );
    // Probabilities exactly 0 and 1 are clamped: finite loss and gradient.
    let p = t64(&[0.0, 1.0]).set_requires_grad(true);
    let l = bce(&p, &t64(&[1.0, 0.0])).unwrap();
    assert_close(val(&l), 100.0, 1e-12);
    let g = Tensor::run_backward(&[&l], &[&p], false, false)
        .pop()
        .unwrap();
    assert_eq!(g.isfinite().all().int64_value(&[]), 1);
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn logits_vec() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-60.0f64..60.0, 1..9)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn gan_identities(r in logits_vec(), f in logits_vec()) {
        let (rt, ft) = (t64(&r), t64(&f));
        let v = val(&gan_value(&rt, &ft).unwrap());
        let closed = mean(&r.iter().map(|&x| log_sigmoid(x)).collect::<Vec<_>>())
            + mean(&f.iter().map(|&x| log_sigmoid(-x)).collect::<Vec<_>>());
        prop_assert!(v.is_finite() && v <= 0.0);
        prop_assert!((v - closed).abs() <= 1e-12 * (1.0 + closed.abs()), "{} vs {}", v, closed);
        let d = val(&discriminator_loss(&rt, &ft, &d_default()).unwrap());
        prop_assert_eq!(d, -v);
        let mm = val(&generator_loss_minimax(&ft).unwrap());
        let ns = val(&generator_loss_non_saturating(&ft).unwrap());
        prop_assert!(mm <= 0.0 && ns >= 0.0);
        // The non-saturating loss is BCE-with-logits against target 1.
        let ones = Tensor::ones_like(&ft);
        let bce1 = val(&bce_with_logits(&ft, &ones).unwrap());
        prop_assert!((ns - bce1).abs() <= 1e-12 * (1.0 + ns.abs()));
        prop_assert!(val(&hinge_discriminator_loss(&rt, &ft).unwrap()) >= 0.0);
        let w1 = val(&wasserstein_critic_loss(&rt, &ft).unwrap());
        let w2 = val(&wasserstein_critic_loss(&ft, &rt).unwrap());
        prop_assert!((w1 + w2).abs() <= 1e-12 * (1.0 + w1.abs()));
    }

    #[test]
    fn smoothed_discriminator_loss_is_bce(r in logits_vec(), f in logits_vec(), t in 0.0f64..1.0) {
        let (rt, ft) = (t64(&r), t64(&f));
        let opts = DiscriminatorLossOptions { real_target: t };
        let d = val(&discriminator_loss(&rt, &ft, &opts).unwrap());
        let want = val(&bce_with_logits(&rt, &rt.full_like(t)).unwrap())
            + val(&bce_with_logits(&ft, &ft.zeros_like()).unwrap());
        prop_assert!(d.is_finite() && d >= 0.0);
        prop_assert!((d - want).abs() <= 1e-10 * (1.0 + want.abs()), "{} vs {}", d, want);
    }

    #[test]
    fn cross_entropy_sum_over_count_is_the_mean(
        rows in prop::collection::vec(
            (prop::collection::vec(-30.0f64..30.0, 4), prop_oneof![Just(-1i64), 0i64..4]),
            1..12,
        ),
        shift in -50.0f64..50.0,
        smoothing in prop_oneof![Just(0.0f64), 0.0f64..1.0],
    ) {
        let flat: Vec<f64> = rows.iter().flat_map(|(l, _)| l.clone()).collect();
        let targets: Vec<i64> = rows.iter().map(|(_, t)| *t).collect();
        let n = rows.len() as i64;
        let logits = t64(&flat).reshape([n, 4]);
        let t = Tensor::from_slice(&targets);
        let opts = CrossEntropyOptions { ignore_index: Some(-1), label_smoothing: smoothing };
        let (sum, count) = cross_entropy_sum(&logits, &t, &opts).unwrap();
        prop_assert_eq!(count, targets.iter().filter(|&&x| x != -1).count() as u64);
        let m = val(&cross_entropy(&logits, &t, &opts).unwrap());
        if count == 0 {
            prop_assert!(m.is_nan());
            prop_assert_eq!(val(&sum), 0.0);
        } else {
            let s = val(&sum);
            prop_assert!(s >= 0.0 && m >= 0.0);
            prop_assert!((s / count as f64 - m).abs() <= 1e-12 * (1.0 + m.abs()));
            // Softmax is invariant to adding a constant to every logit.
            let shifted = val(&cross_entropy(&(&logits + shift), &t, &opts).unwrap());
            prop_assert!((shifted - m).abs() <= 1e-10 * (1.0 + m.abs()), "{} vs {}", shifted, m);
        }
    }
}

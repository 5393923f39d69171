//! Optimiser updates against hand-computed values.
//!
//! Each case minimises `f(p) = p²/2` (gradient `p`) from a scalar, so every update can be
//! followed by hand. The expected numbers come from this transcription of the documented
//! update rules (Python 3, floats):
//!
//! ```python
//! import math
//! def keras_adam(p, lr, b1=0.9, b2=0.999, eps=1e-7, steps=3):   # keras.optimizers.Adam
//!     m = v = 0.0; out = []
//!     for t in range(1, steps + 1):
//!         g = p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g
//!         lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
//!         p = p - lr_t * m / (math.sqrt(v) + eps); out.append(p)
//!     return out
//! keras_adam(2.0, 0.1)  # [1.900000158113633, 1.8001667578724447, 1.7006237583691333]
//! def torch_adam(p, lr, b1=0.9, b2=0.999, eps=1e-8, steps=3):  # torch.optim.Adam
//!     m = v = 0.0; out = []
//!     for t in range(1, steps + 1):
//!         g = p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g
//!         denom = math.sqrt(v) / math.sqrt(1 - b2**t) + eps
//!         p = p - lr / (1 - b1**t) * m / denom; out.append(p)
//!     return out
//! torch_adam(2.0, 0.1)  # [1.9000000005, 1.8001664866210927, 1.7006233928121137]
//! def sgd_nesterov(p, lr, mom, steps=3):                        # torch.optim.SGD(nesterov=True)
//!     buf = None; out = []
//!     for _ in range(steps):
//!         g = p; buf = g if buf is None else mom*buf + g
//!         p = p - lr*(g + mom*buf); out.append(p)
//!     return out
//! sgd_nesterov(2.0, 0.1, 0.9)  # [1.62, 1.1502, 0.654642]
//! def rmsprop(p, lr, alpha=0.99, eps=1e-8, steps=3):          # torch.optim.RMSprop
//!     sq = 0.0; out = []
//!     for _ in range(steps):
//!         g = p; sq = alpha*sq + (1-alpha)*g*g; p = p - lr*g/(math.sqrt(sq) + eps); out.append(p)
//!     return out
//! rmsprop(2.0, 0.01)  # [1.9000000049999999, 1.8309433328172848, 1.775349450099218]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

use gen_train::optim::{
    AdamConfig, GradClip, Optimizer, OptimizerConfig, RmsPropConfig, SgdConfig,
};
use tch::{Device, Kind, Tensor, nn::VarStore};

fn run(config: OptimizerConfig, start: f64, steps: usize) -> Vec<f64> {
    let mut vs = VarStore::new(Device::Cpu);
    let p = vs
        .root()
        .var_copy("p", &Tensor::from_slice(&[start]).to_kind(Kind::Double));
    vs.double();
    let mut opt = Optimizer::new(&vs, config).unwrap();
    let mut out = Vec::new();
    for _ in 0..steps {
        opt.zero_grad().unwrap();
        let loss = (&p * &p).sum(Kind::Double) * 0.5;
        loss.backward();
        opt.step().unwrap();
        out.push(p.double_value(&[0]));
    }
    out
}

/// [`run`] in f32, the kind that takes the fused one-pass Adam on the CPU.
fn run_f32(config: OptimizerConfig, start: f32, steps: usize) -> Vec<f64> {
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root().var_copy("p", &Tensor::from_slice(&[start]));
    let mut opt = Optimizer::new(&vs, config).unwrap();
    let mut out = Vec::new();
    for _ in 0..steps {
        opt.zero_grad().unwrap();
        ((&p * &p).sum(Kind::Float) * 0.5).backward();
        opt.step().unwrap();
        out.push(p.double_value(&[0]));
    }
    out
}

#[test]
fn adam_in_f32_gives_the_same_steps() {
    // The references of the f64 tests below (torch.optim.Adam / keras.optimizers.Adam, lr
    // 0.1, from p = 2 on 0.5 p^2), to f32 precision.
    let keras = AdamConfig {
        lr: 0.1,
        ..AdamConfig::keras()
    };
    let got = run_f32(OptimizerConfig::Adam(keras), 2.0, 3);
    assert_close(
        &got,
        &[1.900000158113633, 1.8001667578724447, 1.7006237583691333],
        1e-6,
    );
    let torch = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    let got = run_f32(OptimizerConfig::Adam(torch), 2.0, 3);
    assert_close(
        &got,
        &[1.9000000005, 1.8001664866210927, 1.7006233928121137],
        1e-6,
    );
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < tol, "got {got:?}, want {want:?}");
    }
}

#[test]
fn keras_adam_three_steps() {
    let cfg = AdamConfig {
        lr: 0.1,
        ..AdamConfig::keras()
    };
    let got = run(OptimizerConfig::Adam(cfg), 2.0, 3);
    assert_close(
        &got,
        &[1.900000158113633, 1.8001667578724447, 1.7006237583691333],
        1e-12,
    );
}

#[test]
fn pytorch_adam_three_steps() {
    let cfg = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    let got = run(OptimizerConfig::Adam(cfg), 2.0, 3);
    assert_close(
        &got,
        &[1.9000000005, 1.8001664866210927, 1.7006233928121137],
        1e-12,
    );
}

#[test]
fn pytorch_adam_differs_from_keras_only_in_epsilon_form() {
    // torch.optim.Adam([p], lr=0.1) on the same problem, same transcription with
    // denom = sqrt(v)/sqrt(1-b2**t) + 1e-8 and step lr/(1-b1**t):
    // the first step is lr * sign(g) up to eps: 2.0 -> 1.9000000000 (to 1e-9).
    let got = run(
        OptimizerConfig::Adam(AdamConfig {
            lr: 0.1,
            ..Default::default()
        }),
        2.0,
        1,
    );
    assert!((got[0] - 1.9).abs() < 1e-8, "{got:?}");
    let keras = run(
        OptimizerConfig::Adam(AdamConfig {
            lr: 0.1,
            ..AdamConfig::keras()
        }),
        2.0,
        1,
    );
    assert!((keras[0] - got[0]).abs() > 1e-8, "epsilon-hat must differ");
}

#[test]
fn sgd_nesterov_three_steps() {
    let cfg = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    };
    assert_close(
        &run(OptimizerConfig::Sgd(cfg), 2.0, 3),
        &[1.62, 1.1502, 0.654642],
        1e-12,
    );
}

#[test]
fn plain_sgd_is_gradient_descent() {
    // p <- p - lr * p = p * 0.9 each step.
    let got = run(
        OptimizerConfig::Sgd(SgdConfig {
            lr: 0.1,
            ..Default::default()
        }),
        2.0,
        3,
    );
    assert_close(&got, &[1.8, 1.62, 1.458], 1e-12);
}

#[test]
fn rmsprop_three_steps() {
    let got = run(OptimizerConfig::RmsProp(RmsPropConfig::default()), 2.0, 3);
    assert_close(
        &got,
        &[1.9000000049999999, 1.8309433328172848, 1.775349450099218],
        1e-12,
    );
}

#[test]
fn adamw_decays_weights_decoupled() {
    // torch.optim.AdamW: p <- p * (1 - lr*wd) before the Adam step. With a zero gradient
    // the Adam step is 0, so p = 2 * (1 - 0.1*0.5)^3 after three steps.
    let mut vs = VarStore::new(Device::Cpu);
    let p = vs.root().var_copy("p", &Tensor::from_slice(&[2.0f64]));
    vs.double();
    let cfg = AdamConfig {
        lr: 0.1,
        weight_decay: 0.5,
        ..Default::default()
    };
    let mut opt = Optimizer::new(&vs, OptimizerConfig::AdamW(cfg)).unwrap();
    for _ in 0..3 {
        opt.zero_grad().unwrap();
        (&p * 0.0).sum(Kind::Double).backward();
        opt.step().unwrap();
    }
    assert!((p.double_value(&[0]) - 2.0 * 0.95f64.powi(3)).abs() < 1e-12);
}

#[test]
fn clipping_by_norm_and_value() {
    let mut vs = VarStore::new(Device::Cpu);
    let a = vs.root().var_copy("a", &Tensor::from_slice(&[3.0f64]));
    let b = vs.root().var_copy("b", &Tensor::from_slice(&[4.0f64]));
    vs.double();
    let mut opt = Optimizer::new(
        &vs,
        OptimizerConfig::Sgd(SgdConfig {
            lr: 1.0,
            ..Default::default()
        }),
    )
    .unwrap();
    // Gradients (3, 4): global norm 5, clipped to 1 gives (0.6, 0.8) (up to PyTorch's 1e-6).
    ((&a * &a + &b * &b) * 0.5).sum(Kind::Double).backward();
    let norm = opt.clip(GradClip::Norm(1.0)).unwrap();
    assert!((norm - 5.0).abs() < 1e-12);
    assert!((a.grad().double_value(&[0]) - 0.6).abs() < 1e-6);
    assert!((b.grad().double_value(&[0]) - 0.8).abs() < 1e-6);
    opt.clip(GradClip::Value(0.7)).unwrap();
    assert!((b.grad().double_value(&[0]) - 0.7).abs() < 1e-12);
}

#[test]
fn state_roundtrip_continues_identically() {
    let cfg = OptimizerConfig::Adam(AdamConfig {
        lr: 0.1,
        ..Default::default()
    });
    let straight = run(cfg.clone(), 2.0, 4);
    // Two steps, export, then a fresh optimiser and variable restored from the export.
    let mut vs = VarStore::new(Device::Cpu);
    let p = vs.root().var_copy("p", &Tensor::from_slice(&[2.0f64]));
    vs.double();
    let mut opt = Optimizer::new(&vs, cfg.clone()).unwrap();
    for _ in 0..2 {
        opt.zero_grad().unwrap();
        ((&p * &p).sum(Kind::Double) * 0.5).backward();
        opt.step().unwrap();
    }
    let saved: std::collections::HashMap<String, Tensor> = opt
        .state_tensors("opt.")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.copy()))
        .collect();
    let mut vs2 = VarStore::new(Device::Cpu);
    let mut p2 = vs2.root().var_copy("p", &p.detach());
    vs2.double();
    // var_copy stores in the VarStore's (float) kind; restore the exact double value.
    tch::no_grad(|| p2.copy_(&p));
    let mut opt2 = Optimizer::new(&vs2, cfg).unwrap();
    opt2.load_state_tensors("opt.", &saved, std::path::Path::new("mem"))
        .unwrap();
    assert_eq!(opt2.step_count(), 2);
    for _ in 0..2 {
        opt2.zero_grad().unwrap();
        ((&p2 * &p2).sum(Kind::Double) * 0.5).backward();
        opt2.step().unwrap();
    }
    assert_eq!(p2.double_value(&[0]), straight[3]);
}

#[test]
fn bad_configs_are_rejected() {
    let vs = VarStore::new(Device::Cpu);
    let bad = OptimizerConfig::Sgd(SgdConfig {
        nesterov: true,
        ..Default::default()
    });
    assert!(
        Optimizer::new(&vs, bad)
            .unwrap_err()
            .to_string()
            .contains("nesterov")
    );
    let bad = OptimizerConfig::Adam(AdamConfig {
        beta1: 1.0,
        ..Default::default()
    });
    assert!(
        Optimizer::new(&vs, bad)
            .unwrap_err()
            .to_string()
            .contains("beta1")
    );
    let err =
        toml::from_str::<OptimizerConfig>("name = \"adam\"\nlearning_rate = 0.1").unwrap_err();
    assert!(err.to_string().contains("learning_rate"), "{err}");
}

/// SGD with `lr` 1 over two f64 scalars `a = 3`, `b = 4`: one update subtracts the gradient.
fn sgd_pair(weight_decay: f64) -> (VarStore, Tensor, Tensor, Optimizer) {
    let mut vs = VarStore::new(Device::Cpu);
    let a = vs.root().var_copy("a", &Tensor::from_slice(&[3.0f64]));
    let b = vs.root().var_copy("b", &Tensor::from_slice(&[4.0f64]));
    vs.double();
    let config = OptimizerConfig::Sgd(SgdConfig {
        lr: 1.0,
        weight_decay,
        ..Default::default()
    });
    let opt = Optimizer::new(&vs, config).unwrap();
    (vs, a, b, opt)
}

fn value(t: &Tensor) -> f64 {
    t.double_value(&[0])
}

#[test]
fn backward_gives_the_same_steps_and_leaves_grad_alone() {
    // The torch.optim.Adam reference of `pytorch_adam_three_steps` (lr 0.1 on p^2 / 2 from 2).
    let mut vs = VarStore::new(Device::Cpu);
    let p = vs.root().var_copy("p", &Tensor::from_slice(&[2.0f64]));
    vs.double();
    let config = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    let mut opt = Optimizer::new(&vs, OptimizerConfig::Adam(config)).unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        opt.backward(&((&p * &p).sum(Kind::Double) * 0.5)).unwrap();
        opt.step().unwrap();
        got.push(value(&p));
    }
    assert_close(
        &got,
        &[1.9000000005, 1.8001664866210927, 1.7006233928121137],
        1e-12,
    );
    assert!(!p.grad().defined(), "backward wrote .grad");
}

#[test]
fn backward_reaches_only_its_own_parameters() {
    // loss = a b c with c in another store: d/da = b c = 8, d/db = a c = 6.
    let (_vs, a, b, mut opt) = sgd_pair(0.0);
    let other = VarStore::new(Device::Cpu);
    let c = other.root().var_copy("c", &Tensor::from_slice(&[2.0f64]));
    opt.backward(&(&a * &b * &c).sum(Kind::Double)).unwrap();
    opt.step().unwrap();
    assert_eq!((value(&a), value(&b)), (3.0 - 8.0, 4.0 - 6.0));
    assert!(
        !c.grad().defined(),
        "the other store's variable got a gradient"
    );
    assert_eq!(value(&c), 2.0);
}

#[test]
fn backward_skips_parameters_the_loss_does_not_reach() {
    // With weight decay 0.5, an update with a zero gradient would still move b by -2.
    let (_vs, a, b, mut opt) = sgd_pair(0.5);
    // A stale .grad on b (from an ordinary backward) must not be used either.
    (&b * 10.0).sum(Kind::Double).backward();
    opt.backward(&(&a * 2.0).sum(Kind::Double)).unwrap();
    opt.step().unwrap();
    assert_eq!(value(&a), 3.0 - (2.0 + 0.5 * 3.0));
    assert_eq!(value(&b), 4.0);
}

#[test]
fn backward_twice_adds_and_step_consumes() {
    let (_vs, a, _b, mut opt) = sgd_pair(0.0);
    opt.backward(&(&a * 2.0).sum(Kind::Double)).unwrap();
    opt.backward(&(&a * 3.0).sum(Kind::Double)).unwrap();
    opt.step().unwrap();
    assert_eq!(value(&a), 3.0 - 5.0);
    // The next update reads .grad again (undefined here): no change.
    opt.step().unwrap();
    assert_eq!(value(&a), -2.0);
    // zero_grad drops what backward left.
    opt.backward(&(&a * 2.0).sum(Kind::Double)).unwrap();
    opt.zero_grad().unwrap();
    opt.step().unwrap();
    assert_eq!(value(&a), -2.0);
}

#[test]
fn clipping_applies_to_the_gradients_of_backward() {
    // Gradients (3, 4): global norm 5, clipped to 1 gives (0.6, 0.8) (up to PyTorch's 1e-6).
    let (_vs, a, b, mut opt) = sgd_pair(0.0);
    opt.backward(&((&a * &a + &b * &b) * 0.5).sum(Kind::Double))
        .unwrap();
    let norm = opt.clip(GradClip::Norm(1.0)).unwrap();
    assert!((norm - 5.0).abs() < 1e-12);
    opt.clip(GradClip::Value(0.7)).unwrap();
    opt.step().unwrap();
    assert!((value(&a) - (3.0 - 0.6)).abs() < 1e-6);
    assert!((value(&b) - (4.0 - 0.7)).abs() < 1e-12);
}

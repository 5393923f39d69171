//! Seeding and thread settings. libtorch's generator and thread pool are process-global, so
//! every test here takes `GLOBAL` to keep the test harness's threads from interleaving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_core::{Threads, seed_everything, set_threads};
use std::sync::Mutex;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Kind, Tensor};

static GLOBAL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bits(t: &Tensor) -> Vec<u32> {
    Vec::<f32>::try_from(t.flatten(0, -1))
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn same_seed_gives_bit_identical_randn() {
    let _g = lock();
    seed_everything(1234);
    let a = Tensor::randn([64, 8], (Kind::Float, tch::Device::Cpu));
    let a2 = Tensor::rand([16], (Kind::Float, tch::Device::Cpu));
    seed_everything(1234);
    let b = Tensor::randn([64, 8], (Kind::Float, tch::Device::Cpu));
    let b2 = Tensor::rand([16], (Kind::Float, tch::Device::Cpu));
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(bits(&a2), bits(&b2));
    seed_everything(1235);
    let c = Tensor::randn([64, 8], (Kind::Float, tch::Device::Cpu));
    assert_ne!(bits(&a), bits(&c));
    // Seeds above i64::MAX are accepted (bit pattern kept) and still distinct from others.
    seed_everything(u64::MAX);
    let d = Tensor::randn([64, 8], (Kind::Float, tch::Device::Cpu));
    seed_everything(u64::MAX);
    assert_eq!(
        bits(&d),
        bits(&Tensor::randn([64, 8], (Kind::Float, tch::Device::Cpu)))
    );
}

/// Trains a tiny MLP with dropout (the RNG is used for init, data and dropout masks) and
/// returns the final parameters and loss.
fn train_tiny_mlp(seed: u64) -> (Vec<Vec<u32>>, f64) {
    seed_everything(seed);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let root = vs.root();
    let net = nn::seq_t()
        .add(nn::linear(&root / "l1", 4, 16, Default::default()))
        .add_fn(|x| x.relu())
        .add_fn_t(|x, train| x.dropout(0.2, train))
        .add(nn::linear(&root / "l2", 16, 1, Default::default()));
    let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
    let x = Tensor::randn([32, 4], (Kind::Float, tch::Device::Cpu));
    let y = x
        .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
        .sin();
    let mut last = 0.0;
    for _ in 0..20 {
        let loss = (net.forward_t(&x, true) - &y).square().mean(Kind::Float);
        opt.backward_step(&loss);
        last = loss.double_value(&[]);
    }
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    (vars.iter().map(|(_, t)| bits(t)).collect(), last)
}

#[test]
fn same_seed_gives_identical_training() {
    let _g = lock();
    let (p1, l1) = train_tiny_mlp(7);
    let (p2, l2) = train_tiny_mlp(7);
    assert_eq!(p1, p2);
    assert_eq!(l1.to_bits(), l2.to_bits());
    let (p3, _) = train_tiny_mlp(8);
    assert_ne!(p1, p3);
}

#[test]
fn thread_settings_apply() {
    let _g = lock();
    let before = tch::get_num_threads();
    set_threads(Some(1)).unwrap();
    assert_eq!(tch::get_num_threads(), 1);
    set_threads(None).unwrap();
    assert_eq!(tch::get_num_threads(), 1);
    set_threads(Some(usize::try_from(before).unwrap())).unwrap();
    assert_eq!(tch::get_num_threads(), before);
}

#[test]
fn configs_round_trip_through_serde() {
    use gen_core::{DeviceChoice, NllAccumulator};
    let t: Threads = serde_json::from_str("{}").unwrap();
    assert_eq!(t, Threads::default());
    let t: Threads = serde_json::from_str(r#"{"intra_op": 4}"#).unwrap();
    assert_eq!(
        t,
        Threads {
            intra_op: Some(4),
            inter_op: None
        }
    );
    assert!(serde_json::from_str::<Threads>(r#"{"intra": 4}"#).is_err());
    let d: Vec<DeviceChoice> =
        serde_json::from_str(r#"["cpu", "cuda", "cuda:2", "auto"]"#).unwrap();
    assert_eq!(
        d,
        [
            DeviceChoice::Cpu,
            DeviceChoice::Cuda(0),
            DeviceChoice::Cuda(2),
            DeviceChoice::Auto
        ]
    );
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        r#"["cpu","cuda:0","cuda:2","auto"]"#
    );
    let err = serde_json::from_str::<DeviceChoice>(r#""tpu""#).unwrap_err();
    assert!(err.to_string().contains("invalid device `tpu`"), "{err}");
    let acc = NllAccumulator {
        nll_sum: 12.5,
        count: 7,
    };
    let back: NllAccumulator = serde_json::from_str(&serde_json::to_string(&acc).unwrap()).unwrap();
    assert_eq!(back, acc);
}

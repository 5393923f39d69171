//! Helpers shared by gen-models' test binaries (each binary uses some of them).
#![allow(dead_code)]

use gen_models::{GruLanguageModel, GruLanguageModelConfig, Module};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tch::{Device, Tensor, nn};

/// libtorch's generator is global to the process: tests that seed it run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock of the tests that seed libtorch's generator.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The largest absolute difference between `a` and `b`.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// An untrained language model initialised from libtorch seed `seed` (hold [`serial`]).
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
pub fn seeded_lm(seed: i64, config: &GruLanguageModelConfig) -> (nn::VarStore, GruLanguageModel) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = GruLanguageModel::init(&vs.root(), config).unwrap();
    (vs, model)
}

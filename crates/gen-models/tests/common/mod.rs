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

/// `model` reading `ids` `[batch, time]` in two pieces, cut at `at`, in evaluation mode: the
/// first from a zero state, the second from the state the first left. Returns the logits of
/// both pieces joined along time, and the final state (to compare with one pass).
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
pub fn read_in_two_pieces(model: &GruLanguageModel, ids: &Tensor, at: i64) -> (Tensor, Tensor) {
    let rest = ids.size()[1] - at;
    let (a, h_a) = model
        .forward_with_state(&ids.narrow(1, 0, at), None, false)
        .unwrap();
    let (b, h_b) = model
        .forward_with_state(&ids.narrow(1, at, rest), Some(&h_a), false)
        .unwrap();
    (Tensor::cat(&[a, b], 1), h_b)
}

//! Helpers shared by gen-models' test binaries (each binary uses some of them).
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, PoisonError};
use tch::Tensor;

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

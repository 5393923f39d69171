//! Helpers shared by the integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.
#![allow(dead_code)] // Each test binary uses a part of them.

use gen_train::tasks::Objective;
use gen_train::{Metrics, TrainStep};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tch::{Tensor, nn::VarStore};

/// Wraps a task and raises the stop flag at its `at`-th training step, like a Ctrl-C.
pub struct StopAfter<T> {
    /// The wrapped task.
    pub inner: T,
    at: u64,
    steps: u64,
    flag: Arc<AtomicBool>,
}

impl<T> StopAfter<T> {
    /// Raises `flag` at training step `at` (1-based) of `inner`.
    pub fn new(inner: T, at: u64, flag: Arc<AtomicBool>) -> Self {
        StopAfter {
            inner,
            at,
            steps: 0,
            flag,
        }
    }
}

impl<T: TrainStep> TrainStep for StopAfter<T> {
    type Batch = T::Batch;
    fn train_step(&mut self, batch: &T::Batch) -> gen_train::Result<Metrics> {
        self.steps += 1;
        if self.steps == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.train_step(batch)
    }
    fn valid_step(&mut self, batch: &T::Batch) -> gen_train::Result<Metrics> {
        self.inner.valid_step(batch)
    }
    fn set_lr_factor(&mut self, f: f64) {
        self.inner.set_lr_factor(f)
    }
    fn state(&self) -> gen_train::Result<Vec<(String, Tensor)>> {
        self.inner.state()
    }
    fn load_state(&mut self, t: &HashMap<String, Tensor>, p: &Path) -> gen_train::Result<()> {
        self.inner.load_state(t, p)
    }
    fn optimizers_mut(&mut self) -> Vec<&mut gen_train::Optimizer> {
        self.inner.optimizers_mut()
    }
    fn on_epoch_end(&mut self, epoch: usize, run_dir: &Path) -> gen_train::Result<()> {
        self.inner.on_epoch_end(epoch, run_dir)
    }
}

/// Every variable's gradient, sorted by name; zeroes them for the next pass.
fn take_grads(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter()
        .map(|(name, mut t)| {
            let g = t.grad().copy();
            t.zero_grad();
            (name, g)
        })
        .collect()
}

/// Runs `objective`'s training pass both ways on `batch`: `forward_loss(.., true)` then
/// autograd's `backward`, and its own `backward_loss`. Asserts the same `loss` metric and
/// the same gradient for every variable of `vs` (within 1e-5 of the larger of 1 and the
/// gradient's size), and a non-zero gradient for each variable `must_move` names.
pub fn assert_backward_loss_equals_autograd<O: Objective>(
    objective: &O,
    vs: &VarStore,
    batch: &O::Batch,
    must_move: impl Fn(&str) -> bool,
) {
    let (loss, metrics_a) = objective.forward_loss(batch, true).unwrap();
    loss.backward();
    let reference = take_grads(vs);
    let metrics_b = objective.backward_loss(batch).unwrap();
    let tested = take_grads(vs);
    let (a, b) = (
        metrics_a.mean("loss").unwrap(),
        metrics_b.mean("loss").unwrap(),
    );
    assert!((a - b).abs() < 1e-5, "loss {a} vs {b}");
    assert_eq!(reference.len(), tested.len());
    for ((name, a), (_, b)) in reference.iter().zip(&tested) {
        let diff = (a - b).abs().max().double_value(&[]);
        let scale = a.abs().max().double_value(&[]);
        assert!(diff < 1e-5 * scale.max(1.0), "gradient of {name}: {diff}");
        if must_move(name) {
            assert!(scale > 0.0, "{name} gets a gradient");
        }
    }
}

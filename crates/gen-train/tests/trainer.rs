//! The generic loop: learning, exact resume, the NaN guard, early stopping, checkpoints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

mod common;

use common::StopAfter;
use gen_data::sequence::{PadOptions, Padding};
use gen_models::{GruClassifier, GruClassifierConfig, Module};
use gen_train::callbacks::EarlyStoppingConfig;
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, GradClip, OptimizerConfig};
use gen_train::tasks::Supervised;
use gen_train::tasks::classifier::{TextBatch, TextClassificationData};
use gen_train::{
    Dataset, Error, Metrics, Outcome, TrainStep, Trainer, TrainerConfig, TrainerState,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::{Device, Tensor, nn::VarStore};

/// libtorch's generator is global to the process: tests that seed it run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sequences of ids 1..=20 with lengths 2..=9; the label says whether the FIRST token is
/// above 10. Post-padded, so the model must carry the first token to the last real step.
fn synthetic(n: usize, seed: u64) -> (Vec<Vec<i64>>, Vec<i64>) {
    let mut rng = gen_data::splitmix::SplitMix64::new(seed);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for _ in 0..n {
        let len = 2 + rng.below(8) as usize;
        let seq: Vec<i64> = (0..len).map(|_| 1 + rng.below(20) as i64).collect();
        ys.push(i64::from(seq[0] > 10));
        xs.push(seq);
    }
    (xs, ys)
}

fn data(n: usize, seed: u64) -> TextClassificationData {
    let (xs, ys) = synthetic(n, seed);
    let pad = PadOptions {
        maxlen: Some(12),
        padding: Padding::Post,
        ..Default::default()
    };
    TextClassificationData::new(&xs, &ys, &pad, Device::Cpu).unwrap()
}

fn task(seed: i64, lr: f64) -> Supervised<GruClassifier> {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let config = GruClassifierConfig {
        vocab_size: 21,
        embedding_dim: 16,
        hidden_size: 24,
        dropout: 0.2,
        ..Default::default()
    };
    let model = GruClassifier::init(&vs.root(), &config).unwrap();
    let opt = OptimizerConfig::Adam(AdamConfig {
        lr,
        ..Default::default()
    });
    Supervised::new(model, vs, opt, GradClip::Norm(1.0)).unwrap()
}

fn config(epochs: usize) -> TrainerConfig {
    TrainerConfig {
        epochs,
        batch_size: 32,
        validation_split: 0.2,
        seed: 7,
        ..Default::default()
    }
}

#[test]
fn tiny_classifier_learns_a_synthetic_rule() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut t = task(0, 0.01);
    let trainer = Trainer::new(config(12), dir.path()).verbosity(Verbosity::Silent);
    let (outcome, state) = trainer.fit(&mut t, &data(640, 1), None, false).unwrap();
    assert_eq!(outcome, Outcome::Completed);
    let last = &state.history.last().unwrap().metrics;
    assert!(last["loss"] < 0.05, "{last:?}");
    assert!(last["val_accuracy"] > 0.97, "{last:?}");
    // Chance level is 0.5: the first epoch must be far from the last.
    assert!(state.history[0].metrics["loss"] > 5.0 * last["loss"]);
    // Logs: one JSON line and one CSV row per epoch.
    let jsonl = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 12);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    for key in [
        "epoch",
        "step",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,step,accuracy,loss,val_accuracy,val_loss\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 13);
}

#[test]
fn resume_after_interruption_matches_the_uninterrupted_run() {
    let _serial = serial();
    let d = data(200, 2);
    let cfg = config(3);
    // Uninterrupted.
    let dir_a = tempfile::tempdir().unwrap();
    let mut a = task(3, 0.01);
    let (_, state_a) = Trainer::new(cfg.clone(), dir_a.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut a, &d, None, false)
        .unwrap();

    // Interrupted in the middle of epoch 2 (5 batches per epoch), then resumed by a fresh
    // process: new task with a different init, which the checkpoint overwrites.
    let dir_b = tempfile::tempdir().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut b = StopAfter::new(task(3, 0.01), 7, flag.clone());
    let trainer = Trainer::new(cfg.clone(), dir_b.path())
        .verbosity(Verbosity::Silent)
        .stop_flag(flag);
    let (outcome, partial) = trainer.fit(&mut b, &d, None, false).unwrap();
    assert_eq!(outcome, Outcome::Interrupted);
    assert_eq!(partial.global_step, 7);
    let mut resumed = task(99, 0.01);
    let trainer = Trainer::new(cfg, dir_b.path()).verbosity(Verbosity::Silent);
    assert!(trainer.can_resume());
    let (outcome, state_b) = trainer.fit(&mut resumed, &d, None, true).unwrap();
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(
        state_a.history, state_b.history,
        "metrics must match bit for bit"
    );
    let (sa, sb) = (a.state().unwrap(), resumed.state().unwrap());
    for ((na, ta), (nb, tb)) in sa.iter().zip(&sb) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{na} differs");
    }
    assert_eq!(
        std::fs::read(dir_a.path().join("metrics.jsonl")).unwrap(),
        std::fs::read(dir_b.path().join("metrics.jsonl")).unwrap()
    );
}

#[test]
fn a_corrupt_last_checkpoint_resumes_from_the_previous_one_and_ends_identical() {
    let _serial = serial();
    let d = data(200, 2);
    let cfg = config(3);
    let dir_a = tempfile::tempdir().unwrap();
    let mut a = task(3, 0.01);
    let (_, state_a) = Trainer::new(cfg.clone(), dir_a.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut a, &d, None, false)
        .unwrap();
    // Interrupted at step 7: `last` is step 7, `last.prev` the end of epoch 1 (step 5).
    let dir_b = tempfile::tempdir().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut b = StopAfter::new(task(3, 0.01), 7, flag.clone());
    Trainer::new(cfg.clone(), dir_b.path())
        .verbosity(Verbosity::Silent)
        .stop_flag(flag)
        .fit(&mut b, &d, None, false)
        .unwrap();
    let ckpt = dir_b.path().join("checkpoints");
    let newest = ckpt.join("last.safetensors");
    let mut bytes = std::fs::read(&newest).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    let loaded = gen_train::checkpoint::load_verified::<TrainerState>(&ckpt, "last").unwrap();
    assert_eq!(loaded.state.global_step, 5);
    let why = loaded.fallback.unwrap().to_string();
    assert!(why.contains("last.safetensors: sha256"), "{why}");
    let mut resumed = task(99, 0.01);
    let (outcome, state_b) = Trainer::new(cfg, dir_b.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut resumed, &d, None, true)
        .unwrap();
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(state_a.history, state_b.history);
    for ((na, ta), (_, tb)) in a.state().unwrap().iter().zip(&resumed.state().unwrap()) {
        assert!(ta.equal(tb), "{na} differs");
    }
}

/// Wraps a task: reports a NaN loss at training step `nan_at` (1-based; 0: never), and
/// records, for every step, whether it trained and the autocast kind it ran under.
struct Spy {
    inner: Supervised<GruClassifier>,
    nan_at: u64,
    steps: u64,
    seen: Vec<(bool, Option<tch::Kind>)>,
}

impl Spy {
    fn new(inner: Supervised<GruClassifier>, nan_at: u64) -> Self {
        Spy {
            inner,
            nan_at,
            steps: 0,
            seen: Vec::new(),
        }
    }
}

impl TrainStep for Spy {
    type Batch = TextBatch;
    fn train_step(&mut self, batch: &TextBatch) -> gen_train::Result<Metrics> {
        self.steps += 1;
        self.seen.push((true, gen_core::autocast_kind()));
        let mut m = self.inner.train_step(batch)?;
        if self.steps == self.nan_at {
            m.add("loss", f64::NAN, 1.0);
        }
        Ok(m)
    }
    fn valid_step(&mut self, batch: &TextBatch) -> gen_train::Result<Metrics> {
        self.seen.push((false, gen_core::autocast_kind()));
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
}

#[test]
fn non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let d = data(100, 3);
    let mut cfg = config(3);
    cfg.checkpoint_every = Some(1);
    let mut t = Spy::new(task(0, 0.01), 4);
    let trainer = Trainer::new(cfg.clone(), dir.path()).verbosity(Verbosity::Silent);
    let err = trainer.fit(&mut t, &d, None, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteLoss {
                step: 4,
                epoch: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("step 4"), "{err}");
    // The last good checkpoint (step 3) is intact and resumable.
    let (_, state): (_, gen_train::TrainerState) =
        gen_train::checkpoint::load(&dir.path().join("checkpoints"), "last").unwrap();
    assert_eq!(state.global_step, 3);
    let mut fresh = task(0, 0.01);
    let (outcome, _) = trainer.fit(&mut fresh, &d, None, true).unwrap();
    assert_eq!(outcome, Outcome::Completed);
}

#[test]
fn corrupt_checkpoints_are_reported_by_file() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let d = data(64, 4);
    let mut t = task(0, 0.01);
    let trainer = Trainer::new(config(1), dir.path()).verbosity(Verbosity::Silent);
    trainer.fit(&mut t, &d, None, false).unwrap();
    let ckpt = dir.path().join("checkpoints/last.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &bytes[..bytes.len() / 2]).unwrap();
    let err = trainer.fit(&mut task(0, 0.01), &d, None, true).unwrap_err();
    assert!(err.to_string().contains("last.safetensors"), "{err}");
    // The other file of the pair is truncated JSON.
    std::fs::write(&ckpt, &bytes).unwrap();
    let json = dir.path().join("checkpoints/last.json");
    std::fs::write(&json, "{\"trunc").unwrap();
    let err = trainer.fit(&mut task(0, 0.01), &d, None, true).unwrap_err();
    assert!(err.to_string().contains("last.json"), "{err}");
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let d = data(128, 5);
    let mut cfg = config(30);
    // A learning rate this high makes val_loss noisy, so it stops well before 30 epochs.
    cfg.early_stopping = Some(EarlyStoppingConfig {
        patience: 1,
        restore_best_weights: true,
        ..Default::default()
    });
    let mut t = task(0, 0.5);
    let (outcome, state) = Trainer::new(cfg, dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut t, &d, None, false)
        .unwrap();
    assert_eq!(outcome, Outcome::EarlyStopped);
    assert!(state.history.len() < 30);
    let best_epoch = state.early_stopping.best_epoch.unwrap();
    let best_val = state.history[best_epoch].metrics["val_loss"];
    // Restored weights reproduce the best epoch's validation loss.
    let val: Vec<usize> = (102..128).collect();
    let batch = d.batch(&val).unwrap();
    let m = tch::no_grad(|| t.valid_step(&batch)).unwrap();
    assert!(
        (m.mean("loss").unwrap() - best_val).abs() < 1e-6,
        "{} vs {best_val}",
        m.mean("loss").unwrap()
    );
}

#[test]
fn max_steps_and_bad_configs() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let d = data(100, 6);
    let mut cfg = config(5);
    cfg.max_steps = Some(4);
    let (_, state) = Trainer::new(cfg.clone(), dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut task(0, 0.01), &d, None, false)
        .unwrap();
    assert_eq!(state.global_step, 4);
    assert_eq!(
        state.history.len(),
        2,
        "3 batches per epoch: epoch 2 ends early at step 4"
    );
    cfg.validation_split = 1.5;
    let err = Trainer::new(cfg, dir.path())
        .fit(&mut task(0, 0.01), &d, None, false)
        .unwrap_err();
    assert!(err.to_string().contains("validation_split"), "{err}");
}

#[test]
fn subset_maps_indices_and_lengths_and_rejects_out_of_range() {
    let full = data(10, 3);
    let subset = gen_train::Subset::new(&full, vec![7, 2, 9]).unwrap();
    assert_eq!(subset.len(), 3);
    let lengths = full.lengths().unwrap();
    assert_eq!(
        subset.lengths().unwrap(),
        vec![lengths[7], lengths[2], lengths[9]]
    );
    // Sample 1 of the subset is sample 2 of the whole set, sample 2 is sample 9.
    let a: TextBatch = subset.batch(&[1, 2]).unwrap();
    let b: TextBatch = full.batch(&[2, 9]).unwrap();
    assert!(a.tokens.equal(&b.tokens));
    assert!(a.labels.equal(&b.labels));
    assert!(subset.batch(&[3]).is_err());
    assert!(gen_train::Subset::new(&full, vec![10]).is_err());
}

#[test]
fn precision_applies_to_training_steps_only() {
    let _serial = serial();
    for (precision, kind) in [
        (gen_core::Precision::Fp32, None),
        (gen_core::Precision::Bf16, Some(tch::Kind::BFloat16)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(1);
        cfg.validation_split = 0.25;
        cfg.precision = precision;
        let mut t = Spy::new(task(0, 0.01), 0);
        Trainer::new(cfg, dir.path())
            .verbosity(Verbosity::Silent)
            .fit(&mut t, &data(40, 1), None, false)
            .unwrap();
        let train: Vec<_> = t.seen.iter().filter(|(train, _)| *train).collect();
        let valid: Vec<_> = t.seen.iter().filter(|(train, _)| !*train).collect();
        assert!(!train.is_empty() && !valid.is_empty());
        assert!(
            train.iter().all(|(_, k)| *k == kind),
            "{precision:?}: {train:?}"
        );
        assert!(
            valid.iter().all(|(_, k)| k.is_none()),
            "{precision:?}: {valid:?}"
        );
        assert_eq!(gen_core::autocast_kind(), None);
    }
}

/// A task without a model: its training step reports metric `name` = `value_at(step)`
/// (1-based), so a test chooses every epoch's log.
struct Scripted {
    name: &'static str,
    value_at: fn(u64) -> f64,
    steps: u64,
}

impl Scripted {
    fn new(name: &'static str, value_at: fn(u64) -> f64) -> Self {
        Scripted {
            name,
            value_at,
            steps: 0,
        }
    }
}

impl TrainStep for Scripted {
    type Batch = Vec<usize>;
    fn train_step(&mut self, _batch: &Vec<usize>) -> gen_train::Result<Metrics> {
        self.steps += 1;
        let mut m = Metrics::new();
        m.add(self.name, (self.value_at)(self.steps), 1.0);
        Ok(m)
    }
    fn valid_step(&mut self, _batch: &Vec<usize>) -> gen_train::Result<Metrics> {
        Ok(Metrics::new())
    }
    fn set_lr_factor(&mut self, _f: f64) {}
    fn state(&self) -> gen_train::Result<Vec<(String, Tensor)>> {
        Ok(vec![(
            "steps".into(),
            Tensor::from_slice(&[self.steps as i64]),
        )])
    }
    fn load_state(&mut self, t: &HashMap<String, Tensor>, _p: &Path) -> gen_train::Result<()> {
        self.steps = t["steps"].int64_value(&[0]) as u64;
        Ok(())
    }
}

/// `n` samples whose batches are their indices.
struct Indices(usize);

impl Dataset for Indices {
    type Batch = Vec<usize>;
    fn len(&self) -> usize {
        self.0
    }
    fn batch(&self, indices: &[usize]) -> gen_train::Result<Vec<usize>> {
        Ok(indices.to_vec())
    }
}

fn scripted_config(epochs: usize) -> TrainerConfig {
    TrainerConfig {
        epochs,
        batch_size: 2,
        ..Default::default()
    }
}

/// Defect: the NaN guard read `mean("loss").unwrap_or(0.0)`, so a task whose metrics lacked
/// `loss` trained on through NaNs.
#[test]
fn a_training_step_without_loss_stops_with_an_error() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut t = Scripted::new("nll", |_| f64::NAN);
    let err = Trainer::new(scripted_config(2), dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut t, &Indices(4), None, false)
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingLoss { step: 1, epoch: 1 }),
        "{err}"
    );
    assert!(err.to_string().contains("`loss`"), "{err}");
}

/// Defect: without its metric (`val_accuracy` with no validation data) the best checkpoint fell
/// back to `loss` but kept maximising, so it kept the epoch with the HIGHEST loss.
#[test]
fn without_its_metric_the_best_checkpoint_minimises_the_loss() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = scripted_config(3);
    cfg.monitor = "val_accuracy".into();
    // 4 samples in batches of 2: epoch e's mean loss falls as 1 / step.
    let mut t = Scripted::new("loss", |step| 1.0 / step as f64);
    let (_, state) = Trainer::new(cfg, dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut t, &Indices(4), None, false)
        .unwrap();
    let losses: Vec<f64> = state.history.iter().map(|h| h.metrics["loss"]).collect();
    assert!(losses[0] > losses[1] && losses[1] > losses[2], "{losses:?}");
    assert_eq!(state.best, Some(losses[2]));
    let (_, best): (_, TrainerState) =
        gen_train::checkpoint::load(&dir.path().join("checkpoints"), "best").unwrap();
    assert_eq!(best.history.len(), 3, "the best epoch is the last one");
}

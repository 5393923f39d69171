//! The music task: the taped training pass equals autograd, the test score equals gen-data's
//! metric on the model's probabilities, and a small GRU learns a pattern that no per-key
//! baseline can.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

mod common;

use gen_data::music::{NllPerFrame, PianoRoll, baselines};
use gen_models::{FrameGru, FrameGruConfig, FrameOutput, GruConfig, Module};
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, OptimizerConfig};
use gen_train::tasks::music::{
    MusicTaskConfig, RollData, evaluate_nll, fit_music, load_music_model,
};
use gen_train::{Dataset, TrainerConfig};
use ndarray::Array2;
use tch::Device;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// libtorch's generator is global: tests that seed it run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Roll `i` of `n` frames: the chords C-E-G, F-A-C, G-B-D in turn, each held two frames,
/// starting at chord `i % 3`; every third roll is one octave up.
fn roll(i: usize, n: usize) -> PianoRoll {
    let chords: [[u8; 3]; 3] = [[60, 64, 67], [65, 69, 72], [67, 71, 74]];
    let octave = if i % 3 == 2 { 12 } else { 0 };
    let cells = (0..n).flat_map(|t| {
        let chord = chords[(i + t / 2) % 3];
        chord.map(|k| (t, k + octave))
    });
    PianoRoll::from_cells(n, cells).unwrap()
}

fn rolls(range: std::ops::Range<usize>) -> Vec<PianoRoll> {
    range.map(|i| roll(i, 10 + i % 7)).collect()
}

#[test]
fn taped_training_pass_equals_autograd() {
    // backward_loss runs the 2-layer GRU through its hand-written backward passes; without
    // dropout it must give the loss and every gradient of forward_loss + backward.
    let _s = serial();
    tch::manual_seed(3);
    let config = FrameGruConfig {
        hidden_size: 8,
        gru: GruConfig {
            num_layers: 2,
            ..Default::default()
        },
        dropout: 0.0,
        ..Default::default()
    };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let model = FrameGru::init(&vs.root(), &config).unwrap();
    let data = RollData::new(rolls(0..6), Device::Cpu).unwrap();
    let batch = data.batch(&[0, 3, 4, 5]).unwrap(); // lengths 10, 13, 14, 15: padded
    common::assert_backward_loss_equals_autograd(&model, &vs, &batch, |_| true);
}

#[test]
fn nade_taped_training_pass_equals_autograd() {
    // The NADE output runs under autograd on the taped GRU's outputs: the same loss and
    // gradients as the whole pass under autograd, every variable moved.
    let _s = serial();
    tch::manual_seed(6);
    let config = FrameGruConfig {
        hidden_size: 8,
        dropout: 0.0,
        output: FrameOutput::Nade,
        nade_hidden: 5,
        ..Default::default()
    };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let model = FrameGru::init(&vs.root(), &config).unwrap();
    let data = RollData::new(rolls(0..6), Device::Cpu).unwrap();
    let batch = data.batch(&[1, 2, 5]).unwrap(); // lengths 11, 12, 15: padded
    common::assert_backward_loss_equals_autograd(&model, &vs, &batch, |_| true);
}

#[test]
fn the_test_score_is_gen_datas_metric_on_the_model_probabilities() {
    let _s = serial();
    tch::manual_seed(4);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let config = FrameGruConfig {
        hidden_size: 8,
        ..Default::default()
    };
    let model = FrameGru::init(&vs.root(), &config).unwrap();
    let test = rolls(0..5);
    let ours = evaluate_nll(&model, &test, 2).unwrap();
    let mut reference = NllPerFrame::new();
    for r in &test {
        let x = tch::Tensor::f_from_slice(&r.to_f32().iter().copied().collect::<Vec<f32>>())
            .unwrap()
            .view([1, r.frames() as i64, 88]);
        let p = model
            .logits(&x, false)
            .unwrap()
            .sigmoid()
            .to_kind(tch::Kind::Double);
        let p = Vec::<f64>::try_from(p.reshape([-1])).unwrap();
        let probs = Array2::from_shape_vec((r.frames(), 88), p).unwrap();
        reference.add(probs.view(), r).unwrap();
    }
    assert_eq!(ours.frames, reference.frames);
    let (a, b) = (ours.mean().unwrap(), reference.mean().unwrap());
    assert!((a - b).abs() < 1e-4, "{a} vs {b}");
}

#[test]
fn a_small_gru_learns_chord_changes_that_per_key_baselines_cannot() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (train, valid, test) = (rolls(0..24), rolls(24..30), rolls(30..36));
    let config = MusicTaskConfig {
        model: FrameGruConfig {
            hidden_size: 24,
            dropout: 0.0,
            ..Default::default()
        },
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        }),
        trainer: TrainerConfig {
            epochs: 80,
            batch_size: 6,
            early_stopping: None,
            ..MusicTaskConfig::default().trainer
        },
        ..Default::default()
    };
    let train_data = RollData::new(train.clone(), Device::Cpu).unwrap();
    let valid_data = RollData::new(valid, Device::Cpu).unwrap();
    let fit = |d: &std::path::Path| {
        fit_music(
            &train_data,
            &valid_data,
            &config,
            d,
            |t| t.verbosity(Verbosity::Silent),
            false,
        )
        .unwrap()
    };
    let trained = fit(dir.path());
    let history = &trained.state.history;
    let val = |i: usize| history[i].metrics["val_loss"];
    assert!(val(history.len() - 1) < val(0) / 3.0, "{history:?}");

    let (task, _) = load_music_model(dir.path(), "best", Device::Cpu).unwrap();
    let nll = evaluate_nll(&task.model, &test, 4).unwrap().mean().unwrap();
    let b = baselines(train.iter(), test.iter()).unwrap().unwrap();
    assert!(nll < b.markov, "GRU {nll} vs Markov {}", b.markov);

    // The same seed gives the same run.
    let again = tempfile::tempdir().unwrap();
    let repeat = fit(again.path());
    assert_eq!(
        repeat.state.history.last().unwrap().metrics["val_loss"],
        val(history.len() - 1)
    );
}

/// Roll `i` of 12 frames, each frame one of two chords, C-E-G or D-F-A, picked by a hash of
/// `(i, t)`: a coin flip per frame that no earlier frame predicts.
fn coin_chords(i: usize) -> PianoRoll {
    let cells = (0..12).flat_map(move |t| {
        let h = (i * 7919 + t * 104_729).wrapping_mul(2_654_435_761) >> 7;
        let chord: [u8; 3] = if h % 2 == 0 {
            [60, 64, 67]
        } else {
            [62, 65, 69]
        };
        chord.map(|k| (t, k))
    });
    PianoRoll::from_cells(12, cells).unwrap()
}

#[test]
fn a_nade_learns_chords_that_independent_keys_cannot() {
    // Every frame is C-E-G or D-F-A by a coin flip that no earlier frame predicts, so any
    // model of independent keys (a Bernoulli GRU included) can do no better in expectation
    // than the per-key Bernoulli baseline, p = 1/2 for six keys: 6 ln 2 = 4.16 nats per frame.
    // A NADE knows the chord from its lowest key: ln 2 = 0.69.
    let _s = serial();
    let (train, valid, test): (Vec<_>, Vec<_>, Vec<_>) = (
        (0..32).map(coin_chords).collect(),
        (32..40).map(coin_chords).collect(),
        (40..56).map(coin_chords).collect(),
    );
    let nade = {
        let output = FrameOutput::Nade;
        let dir = tempfile::tempdir().unwrap();
        let config = MusicTaskConfig {
            model: FrameGruConfig {
                hidden_size: 8,
                dropout: 0.0,
                output,
                nade_hidden: 8,
                ..Default::default()
            },
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 2e-2,
                ..AdamConfig::default()
            }),
            trainer: TrainerConfig {
                epochs: 60,
                batch_size: 8,
                early_stopping: None,
                ..MusicTaskConfig::default().trainer
            },
            ..Default::default()
        };
        let data = |r: &[PianoRoll]| RollData::new(r.to_vec(), Device::Cpu).unwrap();
        let (t, v) = (data(&train), data(&valid));
        fit_music(
            &t,
            &v,
            &config,
            dir.path(),
            |t| t.verbosity(Verbosity::Silent),
            false,
        )
        .unwrap();
        // Read back from the run folder: the NADE's settings survive music.json.
        let (task, saved) = load_music_model(dir.path(), "best", Device::Cpu).unwrap();
        assert_eq!(saved.model.output, output);
        evaluate_nll(&task.model, &test, 8).unwrap().mean().unwrap()
    };
    let bernoulli = baselines(train.iter(), test.iter())
        .unwrap()
        .unwrap()
        .bernoulli;
    let ln2 = std::f64::consts::LN_2;
    assert!(bernoulli > 6.0 * ln2 - 0.3, "Bernoulli {bernoulli}");
    assert!(nade < 2.0 * ln2, "NADE {nade}");
}

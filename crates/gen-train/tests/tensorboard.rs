//! Every run folder gets `tb/`: the trainer's TensorBoard events hold exactly the metrics of
//! `metrics.jsonl` at their steps, the learning rate and the step time, the task's sample
//! images, audio clips and text, and the config, and a resumed run shows each step once. Read
//! back with gen-log's reader, which verifies every checksum;
//! gen-log's `tensorboard_python` test holds that reader equal to TensorBoard's own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

mod common;

use common::StopAfter;
use gen_log::tensorboard::proto::{Event, Summary, event, summary};
use gen_log::tensorboard::{HParam, TbRun, event_files, record::write_record};
use gen_train::learner::Verbosity;
use gen_train::{
    Dataset, Metrics, Optimizer, OptimizerConfig, Outcome, TrainStep, Trainer, TrainerConfig,
};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::Tensor;
use tch::nn::VarStore;

/// A task without a model whose metrics are fixed functions of its step count, and which
/// writes a 4x4 grey sample image per epoch (and a `real.png` once), as the GAN task does,
/// a clip and a text; its one optimiser's learning rate is `LR` times the schedule's factor.
struct Scripted {
    steps: u64,
    optimizer: Optimizer,
    _vs: VarStore,
}

const LR: f64 = 0.25;

impl Scripted {
    fn new() -> Self {
        let vs = VarStore::new(tch::Device::Cpu);
        let _ = vs.root().zeros("w", &[1]);
        let optimizer = Optimizer::new(&vs, OptimizerConfig::default()).unwrap();
        Scripted {
            steps: 0,
            optimizer,
            _vs: vs,
        }
    }
}

/// The clip the task writes after `epoch`.
fn clip(epoch: usize) -> Vec<f32> {
    (0..80)
        .map(|i| (i as f32 * epoch as f32 * 0.01).sin())
        .collect()
}

impl TrainStep for Scripted {
    type Batch = Vec<usize>;
    fn train_step(&mut self, batch: &Vec<usize>) -> gen_train::Result<Metrics> {
        self.steps += 1;
        let s = self.steps as f64;
        let mut m = Metrics::new();
        m.add("loss", 1.0 / s + 0.1 * s.sqrt(), 1.0);
        m.add("accuracy", batch.len() as f64 / 3.0, 1.0);
        Ok(m)
    }
    fn valid_step(&mut self, _batch: &Vec<usize>) -> gen_train::Result<Metrics> {
        let mut m = Metrics::new();
        m.add("loss", 2.0 / (self.steps as f64 + 0.7), 1.0);
        Ok(m)
    }
    fn set_lr_factor(&mut self, factor: f64) {
        self.optimizer.set_lr(LR * factor);
    }
    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        vec![&mut self.optimizer]
    }
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
    fn on_epoch_end(&mut self, epoch: usize, run_dir: &Path) -> gen_train::Result<()> {
        let dir = run_dir.join("samples");
        std::fs::create_dir_all(&dir).unwrap();
        let grey = image::GrayImage::from_pixel(4, 4, image::Luma([40 * epoch as u8]));
        grey.save(dir.join(format!("epoch_{epoch:03}.png")))
            .unwrap();
        if epoch == 1 {
            grey.save(dir.join("real.png")).unwrap();
        }
        let wav = dir.join(format!("clip_{epoch:03}.wav"));
        gen_data::audio::wav::write_wav_i16(&wav, &clip(epoch), 8000).unwrap();
        std::fs::write(
            dir.join(format!("text_{epoch:03}.txt")),
            format!("epoch {epoch}"),
        )
        .unwrap();
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

fn config() -> TrainerConfig {
    TrainerConfig {
        epochs: 3,
        batch_size: 3,
        validation_split: 0.2,
        ..Default::default()
    }
}

const CONFIG_TOML: &str = "[trainer]\nepochs = 3\n\n[model]\nhidden_size = 64\nname = \"tiny\"\n";

/// Trains `config()` in `dir` (10 samples: 8 train in 3 batches, 2 validation), stopping at
/// step `stop_at` when given.
fn train(dir: &Path, stop_at: Option<u64>, resume: bool, task: Scripted) -> (Outcome, Scripted) {
    let flag = Arc::new(AtomicBool::new(false));
    let mut task = StopAfter::new(task, stop_at.unwrap_or(0), flag.clone());
    let (outcome, _) = Trainer::new(config(), dir)
        .verbosity(Verbosity::Silent)
        .stop_flag(flag)
        .fit(&mut task, &Indices(10), None, resume)
        .unwrap();
    (outcome, task.inner)
}

/// The `(step, value as f32)` series of every metric in `metrics.jsonl`.
fn jsonl_series(dir: &Path) -> BTreeMap<String, Vec<(i64, f32)>> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let mut series: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for line in text.lines() {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap();
        let step = object["step"].as_i64().unwrap();
        for (name, value) in &object {
            if name != "epoch" && name != "step" {
                let value = value.as_f64().unwrap() as f32;
                series.entry(name.clone()).or_default().push((step, value));
            }
        }
    }
    series
}

/// The scalars of `run` but the learning rate and the step time: the metrics.
fn metric_scalars(run: &TbRun) -> BTreeMap<String, Vec<(i64, f32)>> {
    let mut scalars = run.scalars.clone();
    scalars.remove("lr");
    scalars.remove("step_seconds");
    scalars
}

#[test]
fn tb_holds_the_metrics_of_metrics_jsonl_the_samples_and_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), CONFIG_TOML).unwrap();
    let (outcome, _) = train(dir.path(), None, false, Scripted::new());
    assert_eq!(outcome, Outcome::Completed);

    let tb = TbRun::read(dir.path().join("tb")).unwrap();
    let expected = jsonl_series(dir.path());
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["accuracy", "loss", "val_loss"]
    );
    assert_eq!(
        expected["loss"].iter().map(|s| s.0).collect::<Vec<_>>(),
        [3, 6, 9]
    );
    assert_eq!(metric_scalars(&tb), expected);
    // The learning rate of the epoch's last step, and the mean seconds per step.
    assert_eq!(tb.scalars["lr"], [(3, 0.25), (6, 0.25), (9, 0.25)]);
    let times = &tb.scalars["step_seconds"];
    assert_eq!(times.iter().map(|s| s.0).collect::<Vec<_>>(), [3, 6, 9]);
    assert!(times.iter().all(|s| s.1 > 0.0 && s.1 < 10.0), "{times:?}");

    // One grid per epoch at the epoch's last step, byte for byte the file; `real` once.
    let grids = &tb.images["samples/epoch"];
    assert_eq!(grids.iter().map(|g| g.0).collect::<Vec<_>>(), [3, 6, 9]);
    let last = std::fs::read(dir.path().join("samples/epoch_003.png")).unwrap();
    assert_eq!(grids[2].1.png, last);
    assert_eq!((grids[2].1.width, grids[2].1.height), (4, 4));
    assert_eq!(tb.images["samples/real"].len(), 1);
    assert_eq!(tb.images.len(), 2);
    // A WAV as an audio clip, byte for byte; a text file as verbatim text.
    let clips = &tb.audio["samples/clip"];
    assert_eq!(clips.iter().map(|c| c.0).collect::<Vec<_>>(), [3, 6, 9]);
    let wav = std::fs::read(dir.path().join("samples/clip_002.wav")).unwrap();
    assert_eq!(clips[1].1.wav, wav);
    assert_eq!((clips[1].1.sample_rate, clips[1].1.frames), (8000.0, 80));
    assert_eq!(
        tb.text["samples/text"],
        [3, 6, 9].map(|s| (s, format!("    epoch {}\n", s / 3)))
    );

    // The resolved config: flattened as hparams, verbatim as text at step 0.
    let hparams = tb.hparams.unwrap();
    assert_eq!(hparams["model.hidden_size"], HParam::Number(64.0));
    assert_eq!(hparams["model.name"], HParam::Text("tiny".into()));
    let (step, text) = &tb.text["config"][0];
    assert_eq!(*step, 0);
    assert!(text.contains("    hidden_size = 64\n"), "{text}");
}

/// Without a `config.toml` (a library user's run), the trainer's own settings are the config.
/// With `samples_every = 2` of 3 epochs, the task writes samples after epochs 2 and 3 (the
/// last) only: files and TensorBoard alike, while every epoch's scalars are logged.
#[test]
fn samples_every_skips_the_samples_of_other_epochs_but_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        samples_every: 2,
        ..config()
    };
    let mut task = Scripted::new();
    let (outcome, _) = Trainer::new(config.clone(), dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut task, &Indices(10), None, false)
        .unwrap();
    assert_eq!(outcome, Outcome::Completed);
    let samples = dir.path().join("samples");
    let exists = |name: &str| samples.join(name).exists();
    assert!(!exists("epoch_001.png") && !exists("clip_001.wav"));
    assert!(exists("epoch_002.png") && exists("epoch_003.png"));
    let tb = TbRun::read(dir.path().join("tb")).unwrap();
    let steps: Vec<i64> = tb.images["samples/epoch"].iter().map(|s| s.0).collect();
    assert_eq!(steps, [6, 9]);
    assert_eq!(tb.text["samples/text"].len(), 2);
    assert_eq!(tb.scalars["loss"].len(), 3);

    let zero = TrainerConfig {
        samples_every: 0,
        ..config
    };
    let err = Trainer::new(zero, dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut Scripted::new(), &Indices(10), None, false)
        .unwrap_err();
    assert!(err.to_string().contains("trainer.samples_every"), "{err}");
}

#[test]
fn without_config_toml_the_trainer_settings_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), None, false, Scripted::new());
    let tb = TbRun::read(dir.path().join("tb")).unwrap();
    let hparams = tb.hparams.unwrap();
    assert_eq!(hparams["trainer.epochs"], HParam::Number(3.0));
    assert_eq!(hparams["trainer.batch_size"], HParam::Number(3.0));
    assert!(tb.text["config"][0].1.contains("\"validation_split\": 0.2"));
}

/// A run interrupted in epoch 2, which had also logged a later value beyond its checkpoint (as
/// a run killed between its TensorBoard write and its checkpoint would), then resumed, reads
/// back exactly as the uninterrupted run: the resumed file's start drops the stale value, and
/// no step appears twice.
#[test]
fn a_resumed_run_appends_and_shows_each_step_once() {
    let straight = tempfile::tempdir().unwrap();
    train(straight.path(), None, false, Scripted::new());
    let expected = TbRun::read(straight.path().join("tb")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (outcome, _) = train(dir.path(), Some(5), false, Scripted::new());
    assert_eq!(outcome, Outcome::Interrupted);
    let files = event_files(dir.path().join("tb")).unwrap();
    assert_eq!(files.len(), 1);
    append_scalar(&files[0], "loss", 6, 999.0);
    assert!(TbRun::read(dir.path().join("tb")).unwrap().scalars["loss"].contains(&(6, 999.0)));

    let (outcome, _) = train(dir.path(), None, true, Scripted::new());
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(event_files(dir.path().join("tb")).unwrap().len(), 2);
    let resumed = TbRun::read(dir.path().join("tb")).unwrap();
    assert_eq!(metric_scalars(&resumed), metric_scalars(&expected));
    assert_eq!(metric_scalars(&resumed), jsonl_series(dir.path()));
    assert_eq!(resumed.scalars["lr"], expected.scalars["lr"]);
    let steps_of =
        |run: &TbRun| -> Vec<i64> { run.scalars["step_seconds"].iter().map(|s| s.0).collect() };
    assert_eq!(steps_of(&resumed), steps_of(&expected));
    let steps = |run: &TbRun| -> BTreeMap<String, Vec<i64>> {
        let images = run.images.iter();
        images
            .map(|(tag, v)| (tag.clone(), v.iter().map(|i| i.0).collect()))
            .collect()
    };
    assert_eq!(steps(&resumed), steps(&expected));
    assert_eq!(resumed.text, expected.text);
    assert_eq!(resumed.hparams, expected.hparams);
}

/// Appends a scalar event to an event file, as the interrupted writer would have.
fn append_scalar(path: &Path, tag: &str, step: i64, value: f32) {
    let event = Event {
        wall_time: 0.0,
        step,
        what: Some(event::What::Summary(Summary {
            value: vec![summary::Value {
                tag: tag.into(),
                metadata: None,
                value: Some(summary::value::Value::SimpleValue(value)),
            }],
        })),
    };
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    write_record(&mut file, &event.encode_to_vec()).unwrap();
}

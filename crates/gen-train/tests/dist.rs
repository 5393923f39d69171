//! Data-parallel training: two ranks over Gloo on 127.0.0.1, each with half of every batch,
//! against one process with the whole batch (parameters and losses within 1e-5 after 20
//! steps); and a rank that dies mid-epoch makes its peer fail with a clear error.
//!
//! The ranks are this test binary run again on the ignored test `rank_of_a_test_run`, with the
//! variables of a [`LocalAgent`] (which hosts the store on a free port first, so no port
//! race), one thread each, under a 60 s timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

use gen_data::sequence::{PadOptions, Padding};
use gen_dist::{DistConfig, LocalAgent, ProcessGroup};
use gen_models::Module;
use gen_models::{GruClassifier, GruClassifierConfig, GruConfig};
use gen_models::{GruLanguageModel, GruLanguageModelConfig};
use gen_train::learner::{DataParallel, Verbosity};
use gen_train::optim::{AdamConfig, GradClip, Optimizer, OptimizerConfig};
use gen_train::tasks::Objective;
use gen_train::tasks::Supervised;
use gen_train::tasks::classifier::TextClassificationData;
use gen_train::tasks::lm::{LmData, LmDataConfig};
use gen_train::{Metrics, TrainStep, Trainer, TrainerConfig, TrainerState};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tch::{Device, Tensor, nn::VarStore};

/// Which run a rank takes part in (`GEN_TEST_DIST_CASE`).
const CASE: &str = "GEN_TEST_DIST_CASE";
/// Where rank 0 writes its parameters and history (`GEN_TEST_DIST_OUT`, a folder).
const OUT: &str = "GEN_TEST_DIST_OUT";
/// The classifier's global batch: odd, so the two shards of every batch differ in size.
const CLASSIFIER_BATCH: usize = 13;

/// libtorch's generator and thread count are global: tests here run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Like `imdb-gru`: padded reviews (here ids 1..=30, lengths 2..=13, label: first id above
/// 15), a GRU classifier, Keras's Adam, a validation split and length bucketing.
fn classifier_data() -> TextClassificationData {
    let mut rng = gen_data::splitmix::SplitMix64::new(5);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..190 {
        let len = 2 + rng.below(12) as usize;
        let seq: Vec<i64> = (0..len).map(|_| 1 + rng.below(30) as i64).collect();
        ys.push(i64::from(seq[0] > 15));
        xs.push(seq);
    }
    let pad = PadOptions {
        maxlen: Some(16),
        padding: Padding::Post,
        ..Default::default()
    };
    TextClassificationData::new(&xs, &ys, &pad, Device::Cpu).unwrap()
}

fn classifier_task() -> Supervised<GruClassifier> {
    tch::manual_seed(11);
    let vs = VarStore::new(Device::Cpu);
    let config = GruClassifierConfig {
        vocab_size: 31,
        embedding_dim: 8,
        hidden_size: 12,
        dropout: 0.0,
        ..Default::default()
    };
    let model = GruClassifier::init(&vs.root(), &config).unwrap();
    let opt = OptimizerConfig::Adam(AdamConfig {
        lr: 0.01,
        ..AdamConfig::keras()
    });
    Supervised::new(model, vs, opt, GradClip::None).unwrap()
}

fn classifier_config() -> TrainerConfig {
    TrainerConfig {
        epochs: 3,
        batch_size: CLASSIFIER_BATCH,
        validation_split: 0.2,
        bucket_factor: Some(4),
        max_steps: Some(20),
        seed: 3,
        ..Default::default()
    }
}

/// Like `text-char`: windows of a character stream, a GRU language model, Adam and clipping
/// by norm (tight enough to clip, so the average must come before the clip). Dropout is off:
/// each rank draws its own masks, which one process does not.
fn lm_data() -> LmData {
    let text = "the quick brown fox jumps over the lazy dog; ".repeat(12);
    let ids: Vec<i64> = text.bytes().map(|b| i64::from(b % 32)).collect();
    LmData::new(ids, &LmDataConfig { seq_len: 12 }, Device::Cpu).unwrap()
}

fn lm_task() -> Supervised<GruLanguageModel> {
    tch::manual_seed(12);
    let vs = VarStore::new(Device::Cpu);
    let config = GruLanguageModelConfig {
        vocab_size: 32,
        embedding_dim: 8,
        hidden_size: 16,
        gru: GruConfig {
            num_layers: 1,
            ..Default::default()
        },
        dropout: 0.0,
        tie_weights: false,
        adaptive: None,
    };
    let model = GruLanguageModel::init(&vs.root(), &config).unwrap();
    let opt = OptimizerConfig::Adam(AdamConfig {
        lr: 0.003,
        ..Default::default()
    });
    Supervised::new(model, vs, opt, GradClip::Norm(0.5)).unwrap()
}

fn lm_config() -> TrainerConfig {
    TrainerConfig {
        epochs: 10,
        batch_size: 8,
        max_steps: Some(20),
        seed: 4,
        ..Default::default()
    }
}

/// Wraps a task; on rank 1 of a run, the process exits at training step `at`, as if killed.
struct DieAt<T> {
    inner: T,
    at: Option<u64>,
    steps: u64,
}

impl<T: TrainStep> TrainStep for DieAt<T> {
    type Batch = T::Batch;
    fn train_step(&mut self, batch: &T::Batch) -> gen_train::Result<Metrics> {
        self.steps += 1;
        if self.at == Some(self.steps) {
            eprintln!("rank 1 exits at step {}", self.steps);
            std::process::exit(3);
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
    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        self.inner.optimizers_mut()
    }
}

/// Trains `case` in `dir`, on the ranks of `dist` or alone; returns the model's variables and
/// the final state.
fn train(
    case: &str,
    dist: Option<DataParallel>,
    dir: &Path,
) -> gen_train::Result<(Vec<(String, Tensor)>, TrainerState)> {
    fn fit<O: Objective, D: gen_train::Dataset<Batch = O::Batch>>(
        task: Supervised<O>,
        data: &D,
        config: TrainerConfig,
        dist: Option<DataParallel>,
        die_at: Option<u64>,
        dir: &Path,
    ) -> gen_train::Result<(Vec<(String, Tensor)>, TrainerState)> {
        let mut trainer = Trainer::new(config, dir).verbosity(Verbosity::Silent);
        if let Some(dist) = dist {
            trainer = trainer.data_parallel(dist);
        }
        let mut task = DieAt {
            inner: task,
            at: die_at,
            steps: 0,
        };
        let (_, state) = trainer.fit(&mut task, data, None, false)?;
        let vars = gen_train::tasks::named_variables(&task.inner.vs, "");
        Ok((vars, state))
    }
    let die_at = (case == "die").then_some(5);
    let rank1 = dist.as_ref().is_some_and(|d| d.group().rank() == 1);
    match case {
        "classifier" | "die" => fit(
            classifier_task(),
            &classifier_data(),
            classifier_config(),
            dist,
            die_at.filter(|_| rank1),
            dir,
        ),
        "lm" => fit(lm_task(), &lm_data(), lm_config(), dist, None, dir),
        other => panic!("unknown case {other}"),
    }
}

/// One rank of a run that a test below starts: joins the group from the environment,
/// trains, and (rank 0) writes the variables and the history into `GEN_TEST_DIST_OUT`.
#[test]
#[ignore = "a rank of the data-parallel tests, which start it"]
fn rank_of_a_test_run() {
    let case = std::env::var(CASE).expect("started by a test of this file");
    let out = std::path::PathBuf::from(std::env::var(OUT).unwrap());
    tch::set_num_threads(1);
    let config = DistConfig::default().with_timeouts(Duration::from_secs(30));
    let group = ProcessGroup::from_env(&config)
        .unwrap()
        .expect("RANK is set");
    let rank = group.rank();
    let dist = DataParallel::new(Rc::new(group), &config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = if rank == 0 {
        out.clone()
    } else {
        dir.path().to_path_buf()
    };
    match train(&case, Some(dist), &run_dir) {
        Ok((vars, state)) if rank == 0 => {
            Tensor::write_safetensors(&vars, out.join("vars.safetensors")).unwrap();
            std::fs::write(
                out.join("state.json"),
                serde_json::to_string(&state).unwrap(),
            )
            .unwrap();
        }
        Ok(_) => {}
        Err(e) => panic!("rank {rank} failed: {e}"),
    }
}

/// Runs `case` on `world` ranks (this binary's ignored test), each with one thread, under a
/// 60 s timeout; returns each rank's output and the wall time.
fn run_ranks(case: &str, world: usize, out: &Path) -> (Vec<Output>, Duration) {
    let agent = LocalAgent::host(world, Duration::from_secs(60)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let start = Instant::now();
    let mut children: Vec<_> = (0..world)
        .map(|rank| {
            Command::new(&exe)
                .args(["--exact", "rank_of_a_test_run", "--ignored", "--nocapture"])
                .envs(agent.rank_env(rank))
                .env(CASE, case)
                .env(OUT, out)
                .env("OMP_NUM_THREADS", "1")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log(out, rank)).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        if start.elapsed() > Duration::from_secs(60) {
            for child in &mut children {
                let _ = child.kill();
            }
            panic!("the ranks of `{case}` ran past 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let outputs = children
        .into_iter()
        .enumerate()
        .map(|(rank, c)| Output {
            status: c.wait_with_output().unwrap().status,
            stdout: Vec::new(),
            stderr: std::fs::read(log(out, rank)).unwrap(),
        })
        .collect();
    (outputs, elapsed)
}

/// Where rank `rank` writes its stderr (a file: a full pipe could block it).
fn log(out: &Path, rank: usize) -> std::path::PathBuf {
    out.join(format!("rank{rank}.log"))
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Trains `case` on 2 ranks and in this process; asserts equal variables and epoch losses.
fn two_ranks_match_one_process(case: &str) {
    let _serial = serial();
    tch::set_num_threads(1);
    let out = tempfile::tempdir().unwrap();
    let (outputs, _) = run_ranks(case, 2, out.path());
    for (rank, output) in outputs.iter().enumerate() {
        assert!(output.status.success(), "rank {rank}:\n{}", text(output));
    }
    let alone = tempfile::tempdir().unwrap();
    let (vars, state) = train(case, None, alone.path()).unwrap();
    assert_eq!(state.global_step, 20);
    let ranked: HashMap<String, Tensor> =
        Tensor::read_safetensors(out.path().join("vars.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(ranked.len(), vars.len());
    let mut worst = 0.0f64;
    for (name, single) in &vars {
        let diff = (&ranked[name] - single).abs().max().double_value(&[]);
        worst = worst.max(diff);
        assert!(diff < 1e-5, "{case}: {name} differs by {diff}");
    }
    // The parameters moved: the equality is not that of two untrained models.
    let initial = match case {
        "lm" => gen_train::tasks::named_variables(&lm_task().vs, ""),
        _ => gen_train::tasks::named_variables(&classifier_task().vs, ""),
    };
    let moved = initial
        .iter()
        .zip(&vars)
        .map(|((_, a), (_, b))| (a - b).abs().max().double_value(&[]))
        .fold(0.0, f64::max);
    assert!(
        moved > 1e-2,
        "{case}: training moved the parameters by only {moved}"
    );
    let ranked_state: TrainerState =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(ranked_state.global_step, state.global_step);
    assert_eq!(ranked_state.history.len(), state.history.len());
    for (a, b) in ranked_state.history.iter().zip(&state.history) {
        for (key, value) in &b.metrics {
            let other = a.metrics[key];
            assert!(
                (other - value).abs() < 1e-5,
                "{case}: epoch {} {key}: 2 ranks {other}, 1 process {value}",
                b.epoch
            );
        }
    }
    eprintln!("{case}: largest parameter difference {worst:e}");
}

#[test]
fn classifier_on_two_ranks_matches_one_process() {
    // Odd batches, the last one too: the two shards differ in size and are weighted.
    let (train, _) = gen_data::batch::validation_split(190, 0.2).unwrap();
    assert_eq!(train.len() % CLASSIFIER_BATCH % 2, 1);
    two_ranks_match_one_process("classifier");
}

#[test]
fn language_model_on_two_ranks_matches_one_process() {
    two_ranks_match_one_process("lm");
}

#[test]
fn a_rank_that_dies_makes_the_other_fail_with_a_clear_error() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let (outputs, elapsed) = run_ranks("die", 2, out.path());
    assert_eq!(outputs[1].status.code(), Some(3), "{}", text(&outputs[1]));
    let survivor = text(&outputs[0]);
    assert!(!outputs[0].status.success(), "{survivor}");
    assert!(
        survivor.contains("rank 0 failed: rank 0 of 2"),
        "{survivor}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // Rank 0 wrote nothing it should not have: no finished run's state.
    assert!(!out.path().join("state.json").exists());
}

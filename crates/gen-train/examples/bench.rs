//! The gen side of `cargo xtask bench`: one workload, served over stdin/stdout.
//!
//! ```text
//! cargo run --release -p gen-train --example bench -- seed-step --threads 2 --warmup 2 --dir target/bench/work
//! ```
//!
//! Workloads (the peers in `bench/peers/*.py` build the same ones, with the same shapes):
//! - `seed-step`: the source's classifier (Embedding 10000x128 -> GRU 128 -> Dense 2), one train
//!   step (forward, backward, Adam) on a batch of 128 random reviews of 256 tokens, all full
//!   length (no bucketing).
//! - `ddp-step`: `seed-step` as one data-parallel run of 2 processes, each with half the
//!   batch (64 reviews) and half of `--threads` (at least 1), averaging gradients over a c10d
//!   Gloo group as `gen train --nproc-per-node 2` does (`DataParallel`'s gradient buckets).
//!   This process is rank 0 and speaks the protocol; it starts rank 1 (this program again,
//!   with torchrun's variables) and tells it, before each turn, how many steps to take
//!   (`bench/ddp.rs`). Launched by torchrun instead, rank 0 speaks and the others follow.
//! - `seed-epoch`: the `imdb-gru` preset (read from `crates/gen-cli/src/presets/`) trained for
//!   one epoch on the real IMDB data from a fresh model; reports `val_accuracy`. At start it
//!   writes the padded training arrays as `seed_x.npy` (int32) and `seed_y.npy` (int64) into
//!   `--dir`, for the Keras peer.
//! - `dcgan-step`: one D and one G update of gen's DCGAN for 28x28 grey images at width
//!   `ngf = ndf = 64`, batch 64 (random images in [-1, 1]).
//! - `dcgan-step-bf16`: the same with `trainer.precision = "bf16"` (convolutions in bfloat16,
//!   f32 weights and optimiser).
//! - `lm-generate-b1`, `lm-generate-b32`: 512 tokens sampled (temperature 1) from a GRU language
//!   model (vocab 256, embedding 128, 2 layers of 256) for batch 1 or 32, from a one-token prompt.
//!
//! Protocol: after set-up and `--warmup` untimed iterations the program prints one JSON line
//! `{"ready": true, "side": "gen", "shape": {...}, "version": ...}`. Then each stdin line
//! `run N` runs N timed iterations and prints `{"times_ms": [...], "metrics": {name: [...]}}`;
//! `quit` (or end of input) ends it. Everything else goes to stderr.

use anyhow::{Context, Result, bail};
use gen_core::Precision;
use gen_data::imdb::{self, ImdbSource, LoadOptions};
use gen_data::sequence::{PadOptions, Padding, Truncating};
use gen_models::gan::{Gan, GanConfig, GanKind};
use gen_models::{
    GruClassifier, GruClassifierConfig, GruLanguageModel, GruLanguageModelConfig, Module,
    SamplingConfig, generate,
};
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, OptimizerConfig};
use gen_train::tasks::Supervised;
use gen_train::tasks::classifier::{TextBatch, TextClassificationData};
use gen_train::tasks::gan::{GanTask, GanTaskConfig, ImageBatch};
use gen_train::{GradClip, TrainStep, Trainer, TrainerConfig};
use serde::Deserialize;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

#[path = "../../../bench/protocol.rs"]
mod protocol;

#[path = "bench/ddp.rs"]
mod ddp;

/// The seed model's shapes (the source's Keras model).
const VOCAB: i64 = 10000;
const BATCH: i64 = 128;
const SEQ: i64 = 256;
/// DCGAN: batch, image size, width of both networks, latent size.
const GAN_BATCH: i64 = 64;
const GAN_SIZE: i64 = 28;
const GAN_WIDTH: i64 = 64;
const GAN_LATENT: i64 = 100;
/// The language model and the generation length.
const LM_VOCAB: i64 = 256;
const LM_EMBEDDING: i64 = 128;
const LM_HIDDEN: i64 = 256;
const LM_LAYERS: i64 = 2;
const LM_TOKENS: usize = 512;

/// One benchmark workload: a set-up, then repeated iterations.
trait Workload {
    /// The shapes and sizes, which every side must report equal.
    fn shape(&self) -> Value;
    /// One iteration; returns metrics to report besides its time.
    fn iteration(&mut self) -> Result<BTreeMap<String, f64>>;
    /// Before each turn of `n` iterations (untimed), and with `None` at the end.
    fn turn(&mut self, _n: Option<usize>) -> Result<()> {
        Ok(())
    }
}

struct Options {
    workload: String,
    threads: usize,
    warmup: usize,
    dir: PathBuf,
}

fn parse_args() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let workload = args
        .next()
        .context("usage: bench WORKLOAD [--threads N] [--warmup N] [--dir DIR]")?;
    let mut options = Options {
        workload,
        threads: 1,
        warmup: 1,
        dir: PathBuf::from("target/bench/work"),
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--threads" => options.threads = value.parse().context("--threads")?,
            "--warmup" => options.warmup = value.parse().context("--warmup")?,
            "--dir" => options.dir = PathBuf::from(value),
            _ => bail!("unknown option {flag}"),
        }
    }
    Ok(options)
}

fn main() -> Result<()> {
    let options = parse_args()?;
    // gen's CLI default (`runtime.flush_denormals`); GEN_FLUSH_DENORMAL=0 measures without.
    let flush = std::env::var("GEN_FLUSH_DENORMAL").map_or(true, |v| v != "0");
    gen_core::set_flush_denormal(flush);
    // Also gen's CLI default (`runtime.retain_memory`); GEN_RETAIN_MEMORY=0 measures without.
    if std::env::var("GEN_RETAIN_MEMORY").map_or(true, |v| v != "0") {
        gen_core::retain_freed_memory();
    }
    // `ddp-step` splits the side's threads over its ranks.
    let threads = match options.workload.as_str() {
        "ddp-step" => ddp::threads_per_rank(options.threads),
        _ => options.threads,
    };
    gen_core::set_threads(Some(threads))?;
    gen_core::set_interop_threads(Some(threads))?;
    gen_core::seed_everything(0);
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("cannot create {}", options.dir.display()))?;

    let mut workload: Box<dyn Workload> = match options.workload.as_str() {
        "seed-step" => Box::new(SeedStep::new(0, 1)?),
        "ddp-step" => {
            let step = ddp::DdpStep::new(threads)?;
            if !step.is_main() {
                // Another rank: it takes the steps rank 0 announces; no protocol.
                return step.follow(options.warmup);
            }
            Box::new(step)
        }
        "seed-epoch" => Box::new(SeedEpoch::new(&options.dir)?),
        "dcgan-step" => Box::new(DcganStep::new(Precision::Fp32)?),
        "dcgan-step-bf16" => Box::new(DcganStep::new(Precision::Bf16)?),
        "lm-generate-b1" => Box::new(LmGenerate::new(1)?),
        "lm-generate-b32" => Box::new(LmGenerate::new(32)?),
        other => bail!("unknown workload {other}"),
    };
    for _ in 0..options.warmup {
        workload.iteration()?;
    }
    let ready = json!({
        "ready": true,
        "side": "gen",
        "version": format!("gen {} (libtorch {})", env!("CARGO_PKG_VERSION"), "2.13.0"),
        "threads": threads,
        "shape": workload.shape(),
    });
    let workload = RefCell::new(workload);
    protocol::serve_turns(
        &ready,
        |n| workload.borrow_mut().turn(n),
        || Ok(((), workload.borrow_mut().iteration()?)),
    )
}

/// Keras's Adam (lr 1e-3, eps 1e-7 in the epsilon-hat form), as the `imdb-gru` preset has it.
fn keras_adam() -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig {
        eps: 1e-7,
        keras_epsilon: true,
        ..AdamConfig::default()
    })
}

struct SeedStep {
    task: Supervised<GruClassifier>,
    batch: TextBatch,
}

impl SeedStep {
    /// Rank `rank`'s contiguous share of the batch of `BATCH` over `world` ranks (the whole
    /// batch for `(0, 1)`); every rank draws the same model and batch (same seed) first.
    fn new(rank: i64, world: i64) -> Result<Self> {
        let vs = VarStore::new(Device::Cpu);
        let config = GruClassifierConfig {
            vocab_size: VOCAB,
            embedding_dim: 128,
            hidden_size: 128,
            num_classes: 2,
            ..GruClassifierConfig::default()
        };
        let model = GruClassifier::init(&vs.root(), &config)?;
        let task = Supervised::new(model, vs, keras_adam(), GradClip::None)?;
        let tokens = Tensor::f_randint_low(1, VOCAB, [BATCH, SEQ], (Kind::Int64, Device::Cpu))?;
        let labels = Tensor::f_randint(2, [BATCH], (Kind::Int64, Device::Cpu))?;
        let rows = BATCH / world;
        let batch = TextBatch {
            tokens: tokens.f_narrow(0, rank * rows, rows)?.f_contiguous()?,
            lengths: Tensor::f_full([rows], SEQ, (Kind::Int64, Device::Cpu))?,
            labels: labels.f_narrow(0, rank * rows, rows)?.f_contiguous()?,
        };
        Ok(SeedStep { task, batch })
    }
}

impl Workload for SeedStep {
    fn shape(&self) -> Value {
        json!({"vocab": VOCAB, "embedding": 128, "gru": 128, "classes": 2, "batch": BATCH, "seq": SEQ})
    }

    fn iteration(&mut self) -> Result<BTreeMap<String, f64>> {
        self.task.train_step(&self.batch)?;
        Ok(BTreeMap::new())
    }
}

/// The parts of the `imdb-gru` preset that the epoch needs.
#[derive(Deserialize)]
struct Preset {
    data: PresetData,
    model: GruClassifierConfig,
    optimizer: OptimizerConfig,
    trainer: TrainerConfig,
}

#[derive(Deserialize)]
struct PresetData {
    num_words: usize,
    maxlen: usize,
    padding: Padding,
    truncating: Truncating,
}

struct SeedEpoch {
    preset: Preset,
    data: TextClassificationData,
    run_dir: PathBuf,
    x_sum: i64,
}

impl SeedEpoch {
    fn new(dir: &Path) -> Result<Self> {
        let path = Path::new("crates/gen-cli/src/presets/imdb-gru.toml");
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {} (run from the root)", path.display()))?;
        let mut preset: Preset =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        preset.trainer.epochs = 1;
        let source = ImdbSource::locate()?;
        let opts = LoadOptions {
            num_words: Some(preset.data.num_words),
            ..LoadOptions::default()
        };
        let raw = imdb::load_data(&source, &opts)?;
        let pad = PadOptions {
            maxlen: Some(preset.data.maxlen),
            padding: preset.data.padding,
            truncating: preset.data.truncating,
            value: 0i64,
        };
        let data = TextClassificationData::new(&raw.x_train, &raw.y_train, &pad, Device::Cpu)?;
        // The same arrays for the Keras peer, as `np.load` reads them.
        let x = data.padded().mapv(|v| v as i32);
        let y = ndarray::Array1::from(raw.y_train.clone());
        ndarray_npy::write_npy(dir.join("seed_x.npy"), &x)?;
        ndarray_npy::write_npy(dir.join("seed_y.npy"), &y)?;
        let x_sum = x.iter().map(|&v| i64::from(v)).sum();
        Ok(SeedEpoch {
            preset,
            data,
            run_dir: dir.join("gen-seed-epoch-run"),
            x_sum,
        })
    }
}

impl Workload for SeedEpoch {
    fn shape(&self) -> Value {
        let c = &self.preset.trainer;
        json!({
            "samples": gen_train::Dataset::len(&self.data),
            "maxlen": self.preset.data.maxlen,
            "x_sum": self.x_sum,
            "batch": c.batch_size,
            "validation_split": c.validation_split,
            "epochs": c.epochs,
        })
    }

    fn iteration(&mut self) -> Result<BTreeMap<String, f64>> {
        if self.run_dir.exists() {
            std::fs::remove_dir_all(&self.run_dir)?;
        }
        gen_core::seed_everything(self.preset.trainer.seed);
        let vs = VarStore::new(Device::Cpu);
        let model = GruClassifier::init(&vs.root(), &self.preset.model)?;
        let mut task = Supervised::new(model, vs, self.preset.optimizer.clone(), GradClip::None)?;
        let trainer =
            Trainer::new(self.preset.trainer.clone(), &self.run_dir).verbosity(Verbosity::Silent);
        let (_, state) = trainer.fit(&mut task, &self.data, None, false)?;
        let last = state.history.last().context("no epoch was logged")?;
        let mut metrics = BTreeMap::new();
        for key in ["val_accuracy", "accuracy"] {
            if let Some(v) = last.metrics.get(key) {
                metrics.insert(key.to_string(), *v);
            }
        }
        Ok(metrics)
    }
}

struct DcganStep {
    task: GanTask,
    batch: ImageBatch,
    precision: Precision,
}

impl DcganStep {
    fn new(precision: Precision) -> Result<Self> {
        let mut config = GanConfig {
            kind: GanKind::Dcgan,
            latent_dim: GAN_LATENT,
            channels: 1,
            image_size: GAN_SIZE,
            ..GanConfig::default()
        };
        config.dcgan.ngf = GAN_WIDTH;
        config.dcgan.ndf = GAN_WIDTH;
        let g_vs = VarStore::new(Device::Cpu);
        let d_vs = VarStore::new(Device::Cpu);
        let gan = Gan::new(&g_vs.root(), &d_vs.root(), &config)?;
        let mut task_config = GanTaskConfig::default();
        task_config.samples.enabled = false;
        let task = GanTask::new(gan, g_vs, d_vs, task_config)?;
        let images = Tensor::f_rand(
            [GAN_BATCH, 1, GAN_SIZE, GAN_SIZE],
            (Kind::Float, Device::Cpu),
        )?
        .f_mul_scalar(2.0)?
        .f_sub_scalar(1.0)?;
        let labels = Tensor::f_zeros([GAN_BATCH], (Kind::Int64, Device::Cpu))?;
        Ok(DcganStep {
            task,
            batch: ImageBatch { images, labels },
            precision,
        })
    }
}

impl Workload for DcganStep {
    fn shape(&self) -> Value {
        json!({"batch": GAN_BATCH, "image": GAN_SIZE, "channels": 1, "ngf": GAN_WIDTH, "ndf": GAN_WIDTH, "latent": GAN_LATENT, "precision": self.precision})
    }

    fn iteration(&mut self) -> Result<BTreeMap<String, f64>> {
        // As the trainer runs a step with `trainer.precision`.
        gen_core::autocast(self.precision, || self.task.train_step(&self.batch))?;
        Ok(BTreeMap::new())
    }
}

struct LmGenerate {
    model: GruLanguageModel,
    _vs: VarStore,
    batch: usize,
    seed: u64,
}

impl LmGenerate {
    fn new(batch: usize) -> Result<Self> {
        let vs = VarStore::new(Device::Cpu);
        let mut config = GruLanguageModelConfig {
            vocab_size: LM_VOCAB,
            embedding_dim: LM_EMBEDDING,
            hidden_size: LM_HIDDEN,
            ..GruLanguageModelConfig::default()
        };
        config.gru.num_layers = LM_LAYERS;
        let model = GruLanguageModel::init(&vs.root(), &config)?;
        Ok(LmGenerate {
            model,
            _vs: vs,
            batch,
            seed: 0,
        })
    }
}

impl Workload for LmGenerate {
    fn shape(&self) -> Value {
        json!({"vocab": LM_VOCAB, "embedding": LM_EMBEDDING, "hidden": LM_HIDDEN, "layers": LM_LAYERS, "batch": self.batch, "tokens": LM_TOKENS})
    }

    fn iteration(&mut self) -> Result<BTreeMap<String, f64>> {
        self.seed += 1;
        let config = SamplingConfig {
            max_tokens: LM_TOKENS,
            temperature: 1.0,
            seed: self.seed,
            ..SamplingConfig::default()
        };
        let start = Instant::now();
        let texts = generate(&self.model, &[1], self.batch, &config, |_, _| {})?;
        let seconds = start.elapsed().as_secs_f64();
        let tokens: usize = texts.iter().map(Vec::len).sum();
        let mut metrics = BTreeMap::new();
        metrics.insert("tokens_per_s".to_string(), tokens as f64 / seconds);
        Ok(metrics)
    }
}

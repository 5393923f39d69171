//! Text-classifier runs: IMDB through Keras's pipeline into the GRU classifier.

use crate::config::TextClassifierRun;
use crate::runs::FitContext;
use anyhow::{Context, Result, bail};
use gen_data::imdb::{self, ImdbData, ImdbSource, LoadOptions};
use gen_data::sequence::PadOptions;
use gen_models::{GruClassifier, Module};
use gen_train::tasks::Supervised;
use gen_train::tasks::classify::TextClassificationData;
use gen_train::{Dataset, Metrics, Outcome, Subset, TrainStep, Trainer, TrainerState};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tch::nn::VarStore;

/// Train and test sets, padded.
pub struct TextData {
    pub train: TextClassificationData,
    pub test: TextClassificationData,
}

/// Loads the dataset with Keras's `load_data` semantics and pads it with `pad_sequences`.
pub fn load(run: &TextClassifierRun, device: tch::Device) -> Result<TextData> {
    let d = &run.data;
    if d.dataset != "imdb" {
        bail!(
            "data.dataset = `{}`: text classifiers read `imdb` only",
            d.dataset
        );
    }
    let dir = gen_data::paths::dataset_dir(&d.dataset)?;
    let source = ImdbSource::find(&dir)?;
    let opts = LoadOptions {
        num_words: d.num_words,
        skip_top: d.skip_top,
        maxlen: d.load_maxlen,
        seed: d.seed,
        ..LoadOptions::default()
    };
    let data = load_imdb(&source, &opts, &dir)?;
    if let Some(n) = d.num_words {
        if n as i64 > run.model.vocab_size {
            bail!(
                "model.vocab_size = {} is smaller than data.num_words = {n}",
                run.model.vocab_size
            );
        }
    }
    let pad = PadOptions {
        maxlen: Some(d.maxlen),
        padding: d.padding,
        truncating: d.truncating,
        value: 0i64,
    };
    Ok(TextData {
        train: TextClassificationData::new(&data.x_train, &data.y_train, &pad, device)?,
        test: TextClassificationData::new(&data.x_test, &data.y_test, &pad, device)?,
    })
}

/// The last IMDB load of this process. Training and the test evaluation after it (and every
/// fold of `gen cv` and trial of `gen tune`) read the same files with the same options; the
/// reviews are parsed and tokenised once (0.6 s for the 25,000).
static LOADED: Mutex<Option<(ImdbSource, LoadOptions, Arc<ImdbData>)>> = Mutex::new(None);

/// `imdb::load_data`, reusing the previous result for the same source and options.
fn load_imdb(source: &ImdbSource, opts: &LoadOptions, dir: &Path) -> Result<Arc<ImdbData>> {
    let mut cache = LOADED
        .lock()
        .map_err(|_| anyhow::anyhow!("the IMDB cache is poisoned"))?;
    if let Some((s, o, data)) = cache.as_ref() {
        if s == source && o == opts {
            return Ok(data.clone());
        }
    }
    let start = std::time::Instant::now();
    let data = Arc::new(
        imdb::load_data(source, opts).with_context(|| format!("loading {}", dir.display()))?,
    );
    tracing::info!(
        train = data.x_train.len(),
        test = data.x_test.len(),
        seconds = start.elapsed().as_secs_f64(),
        "loaded {}",
        dir.display()
    );
    *cache = Some((source.clone(), opts.clone(), data.clone()));
    Ok(data)
}

/// Builds the model and its optimiser.
pub fn task(run: &TextClassifierRun, device: tch::Device) -> Result<Supervised<GruClassifier>> {
    let vs = VarStore::new(device);
    let model = GruClassifier::init(&vs.root(), &run.model)?;
    Ok(Supervised::new(
        model,
        vs,
        run.optimizer.clone(),
        run.grad_clip,
    )?)
}

/// Trains (or resumes) in `ctx.dir`; with a fold, trains on the other folds of the training
/// reviews and validates on this one.
pub fn train(run: &TextClassifierRun, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
    let data = load(run, ctx.device)?;
    let mut task = task(run, ctx.device)?;
    let trainer = Trainer::new(run.trainer.clone(), &ctx.dir)
        .verbosity(ctx.verbosity)
        .stop_flag(ctx.stop.clone());
    Ok(match ctx.fold {
        None => trainer.fit(&mut task, &data.train, None, ctx.resume)?,
        Some(fold) => {
            let (train, valid) = fold.split(data.train.len())?;
            let train = Subset::new(&data.train, train)?;
            let valid = Subset::new(&data.train, valid)?;
            trainer.fit(&mut task, &train, Some(&valid), ctx.resume)?
        }
    })
}

/// Evaluates the run's `best` checkpoint (else `last`) on the test split.
pub fn evaluate(
    run: &TextClassifierRun,
    dir: &Path,
    device: tch::Device,
) -> Result<BTreeMap<String, f64>> {
    let data = load(run, device)?;
    let mut task = task(run, device)?;
    crate::runs::load_checkpoint(&mut task, dir, &["best", "last"])?;
    let test = &data.test;
    let indices: Vec<usize> = (0..test.len()).collect();
    let mut metrics = Metrics::new();
    for chunk in indices.chunks(run.trainer.batch_size.max(1)) {
        let batch = test.batch(chunk)?;
        metrics.merge(&tch::no_grad(|| task.valid_step(&batch))?);
    }
    let mut out: BTreeMap<String, f64> = metrics
        .means()
        .into_iter()
        .map(|(k, v)| (format!("test_{k}"), v))
        .collect();
    out.insert("test_samples".into(), test.len() as f64);
    Ok(out)
}

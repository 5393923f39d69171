//! Text-classifier runs: IMDB through Keras's pipeline into the GRU classifier.

use crate::config::TextClassifierRun;
use crate::fit::{FitContext, MetricMap, RunKind};
use anyhow::{Context, Result, bail};
use gen_data::imdb::{self, ImdbSource, LoadOptions};
use gen_data::sequence::PadOptions;
use gen_models::{GruClassifier, Module};
use gen_train::tasks::Supervised;
use gen_train::tasks::classifier::TextClassificationData;
use gen_train::{Dataset, Metrics, Outcome, Subset, TrainStep, TrainerState};
use std::path::Path;
use tch::nn::VarStore;

/// Train and test sets, padded.
pub struct TextData {
    pub train: TextClassificationData,
    pub test: TextClassificationData,
}

/// Builds the model and its optimiser.
fn task(run: &TextClassifierRun, device: tch::Device) -> Result<Supervised<GruClassifier>> {
    let vs = VarStore::new(device);
    let model = GruClassifier::init(&vs.root(), &run.model)?;
    Ok(Supervised::new(
        model,
        vs,
        run.optimizer.clone(),
        run.grad_clip,
    )?)
}

impl RunKind for TextClassifierRun {
    type Data = TextData;

    /// Loads the dataset with Keras's `load_data` semantics and pads it with `pad_sequences`.
    fn load(&self, device: tch::Device) -> Result<TextData> {
        let d = &self.data;
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
        let start = std::time::Instant::now();
        let data = imdb::load_data(&source, &opts)
            .with_context(|| format!("loading {}", dir.display()))?;
        if let Some(n) = d.num_words {
            if n as i64 > self.model.vocab_size {
                bail!(
                    "model.vocab_size = {} is smaller than data.num_words = {n}",
                    self.model.vocab_size
                );
            }
        }
        let pad = PadOptions {
            maxlen: Some(d.maxlen),
            padding: d.padding,
            truncating: d.truncating,
            value: 0i64,
        };
        let padded = TextData {
            train: TextClassificationData::new(&data.x_train, &data.y_train, &pad, device)?,
            test: TextClassificationData::new(&data.x_test, &data.y_test, &pad, device)?,
        };
        tracing::info!(
            train = data.x_train.len(),
            test = data.x_test.len(),
            seconds = start.elapsed().as_secs_f64(),
            "loaded {}",
            dir.display()
        );
        Ok(padded)
    }

    /// Trains (or resumes) in `ctx.dir`; with a fold, trains on the other folds of the
    /// training reviews and validates on this one.
    fn train(&self, data: &TextData, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
        let mut task = task(self, ctx.device)?;
        let trainer = ctx.trainer(self.trainer.clone());
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
    fn evaluate(&self, data: &TextData, dir: &Path, device: tch::Device) -> Result<MetricMap> {
        let mut task = task(self, device)?;
        crate::runs::load_checkpoint(&mut task, dir, &["best", "last"])?;
        let test = &data.test;
        let indices: Vec<usize> = (0..test.len()).collect();
        let mut metrics = Metrics::new();
        for chunk in indices.chunks(self.trainer.batch_size.max(1)) {
            let batch = test.batch(chunk)?;
            metrics.merge(&tch::no_grad(|| task.valid_step(&batch))?);
        }
        let mut out: MetricMap = metrics
            .means()
            .into_iter()
            .map(|(k, v)| (format!("test_{k}"), v))
            .collect();
        out.insert("test_samples".into(), test.len() as f64);
        Ok(out)
    }
}

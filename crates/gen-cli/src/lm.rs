//! Language-model runs: a corpus cut into windows, the GRU language model, held-out
//! perplexity against a unigram baseline, and streamed generation.

use crate::config::{LanguageModelRun, TokenLevel};
use crate::fit::{FitContext, MetricMap, RunKind};
use anyhow::{Context, Result, bail};
use gen_data::imdb::{self, ImdbSource, LoadOptions, WordDecoder};
use gen_data::text::{self, CharVocab};
use gen_models::{GruLanguageModel, GruLanguageModelConfig, Module, SamplingConfig, generate};
use gen_train::tasks::Supervised;
use gen_train::tasks::lm::{
    LmData, LmDataConfig, evaluate_lm, evaluate_lm_carried, unigram_bits_per_token,
};
use gen_train::{Dataset, Outcome, Subset, TrainerState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tch::nn::VarStore;

/// The run's vocabulary, saved as `vocab.json` so that `gen generate` needs no data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "level", rename_all = "snake_case")]
pub enum Vocab {
    /// Characters, sorted; the id is the position.
    Char {
        /// The characters.
        vocab: CharVocab,
    },
    /// Words: `words[id]` (ids 0, 1 and 2 are Keras's padding, start and OOV markers).
    Word {
        /// The words by id.
        words: Vec<String>,
    },
}

/// Keras's IMDB markers.
const START_ID: i64 = 1;
const OOV_ID: i64 = 2;

impl Vocab {
    /// The number of ids.
    pub fn len(&self) -> usize {
        match self {
            Vocab::Char { vocab } => vocab.len(),
            Vocab::Word { words } => words.len(),
        }
    }

    /// The ids of a prompt; unknown characters or words become the OOV id with a warning.
    pub fn encode(&self, prompt: &str) -> Result<Vec<i64>> {
        match self {
            Vocab::Char { vocab } => Ok(gen_train::tasks::lm::encode_prompt(vocab, prompt)?),
            Vocab::Word { words } => {
                let index: HashMap<&str, i64> = words
                    .iter()
                    .enumerate()
                    .skip(3)
                    .map(|(i, w)| (w.as_str(), i as i64))
                    .collect();
                // A review starts with the start marker, as in training.
                let mut ids = vec![START_ID];
                for word in prompt.split_whitespace() {
                    let word = word.to_lowercase();
                    ids.push(index.get(word.as_str()).copied().unwrap_or_else(|| {
                        tracing::warn!(word, "prompt word not in the vocabulary; using the OOV id");
                        OOV_ID
                    }));
                }
                Ok(ids)
            }
        }
    }

    /// The text of one token (words get a leading space).
    pub fn piece(&self, id: i64) -> String {
        match self {
            Vocab::Char { vocab } => usize::try_from(id)
                .ok()
                .and_then(|i| vocab.char_of(i))
                .map(String::from)
                .unwrap_or_default(),
            Vocab::Word { words } => match id {
                START_ID => "\n".into(),
                OOV_ID => " <unk>".into(),
                _ => usize::try_from(id)
                    .ok()
                    .and_then(|i| words.get(i))
                    .map(|w| format!(" {w}"))
                    .unwrap_or_default(),
            },
        }
    }

    /// The token that ends a sample: the start marker of the next review (word models).
    pub fn stop_token(&self) -> Option<i64> {
        match self {
            Vocab::Char { .. } => None,
            Vocab::Word { .. } => Some(START_ID),
        }
    }

    /// The default prompt.
    pub fn default_prompt(&self) -> &'static str {
        match self {
            Vocab::Char { .. } => "The ",
            Vocab::Word { .. } => "this movie",
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(VOCAB_FILE);
        let tmp = dir.join(format!("{VOCAB_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads a run's `vocab.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(VOCAB_FILE);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid vocabulary", path.display()))
    }
}

/// The vocabulary file in a run folder.
pub const VOCAB_FILE: &str = "vocab.json";

/// A corpus as token streams.
pub struct Corpus {
    /// Its vocabulary.
    pub vocab: Vocab,
    /// Training tokens.
    pub train: Vec<i64>,
    /// Validation tokens.
    pub valid: Vec<i64>,
    /// Test tokens.
    pub test: Vec<i64>,
}

/// Reads and tokenises the run's corpus.
pub(crate) fn read_corpus(run: &LanguageModelRun) -> Result<Corpus> {
    let d = &run.data;
    let (valid_f, test_f) = (d.valid_fraction, d.test_fraction);
    let fractions = [1.0 - valid_f - test_f, valid_f, test_f];
    match (d.level, d.dataset.as_str()) {
        (TokenLevel::Word, "imdb") => load_imdb_words(run),
        (TokenLevel::Word, other) => {
            bail!("data.dataset = `{other}`: word-level models read `imdb` only")
        }
        (TokenLevel::Char, name @ ("canterbury" | "fortunes" | "imdb")) => {
            let texts: Vec<String> = match name {
                "canterbury" => text::load_canterbury()?
                    .into_iter()
                    .map(|f| f.text)
                    .collect(),
                "fortunes" => vec![text::load_fortunes()?.join("\n%\n")],
                _ => bail!("data.dataset = `imdb`: use data.level = \"word\" for IMDB"),
            };
            let vocab = CharVocab::from_texts(texts.iter().map(String::as_str));
            let mut corpus = Corpus {
                vocab: Vocab::Char {
                    vocab: vocab.clone(),
                },
                train: Vec::new(),
                valid: Vec::new(),
                test: Vec::new(),
            };
            for t in &texts {
                let ids: Vec<i64> = vocab.encode(t)?.into_iter().map(|i| i as i64).collect();
                let (a, b, c) = text::split_train_valid_test(&ids, fractions)?;
                corpus.train.extend_from_slice(a);
                corpus.valid.extend_from_slice(b);
                corpus.test.extend_from_slice(c);
            }
            Ok(corpus)
        }
        (_, other) => bail!(
            "data.dataset = `{other}`: language models read imdb (word), canterbury or fortunes \
             (char)"
        ),
    }
}

/// IMDB reviews as one word stream, each review opened by Keras's start id.
fn load_imdb_words(run: &LanguageModelRun) -> Result<Corpus> {
    let d = &run.data;
    let dir = gen_data::paths::dataset_dir("imdb")?;
    let source = ImdbSource::find(&dir)?;
    let opts = LoadOptions {
        num_words: Some(d.num_words),
        ..LoadOptions::default()
    };
    let data =
        imdb::load_data(&source, &opts).with_context(|| format!("loading {}", dir.display()))?;
    let word_index = data
        .word_index
        .as_ref()
        .with_context(|| format!("{} has no word index", dir.display()))?;
    let decoder = WordDecoder::new(word_index, opts.index_from);
    let words: Vec<String> = (0..d.num_words as i64)
        .map(|id| match id {
            0 => "<pad>".to_string(),
            START_ID => "<start>".to_string(),
            OOV_ID => "<unk>".to_string(),
            _ => decoder.decode(&[id]),
        })
        .collect();
    let reviews = match d.max_reviews {
        Some(n) => &data.x_train[..n.min(data.x_train.len())],
        None => &data.x_train[..],
    };
    let n = reviews.len();
    let cut = ((n as f64) * (1.0 - d.valid_fraction)).floor() as usize;
    let (train, valid) = reviews.split_at(cut.min(n));
    let test_n = ((data.x_test.len() as f64) * d.test_fraction.max(0.0)).ceil() as usize;
    let flat = |r: &[Vec<i64>]| r.iter().flatten().copied().collect::<Vec<i64>>();
    Ok(Corpus {
        vocab: Vocab::Word { words },
        train: flat(train),
        valid: flat(valid),
        test: flat(&data.x_test[..test_n.min(data.x_test.len())]),
    })
}

fn model_config(run: &LanguageModelRun, vocab: &Vocab) -> GruLanguageModelConfig {
    GruLanguageModelConfig {
        vocab_size: vocab.len() as i64,
        ..run.model.clone()
    }
}

fn task(
    run: &LanguageModelRun,
    vocab: &Vocab,
    device: tch::Device,
) -> Result<Supervised<GruLanguageModel>> {
    let vs = VarStore::new(device);
    let model = GruLanguageModel::init(&vs.root(), &model_config(run, vocab))?;
    Ok(Supervised::new(
        model,
        vs,
        run.optimizer.clone(),
        run.grad_clip,
    )?)
}

fn windows(run: &LanguageModelRun, ids: Vec<i64>, device: tch::Device) -> Result<LmData> {
    let config = LmDataConfig {
        seq_len: run.data.seq_len,
    };
    Ok(LmData::new(ids, &config, device)?)
}

/// Loads the run's model from its `best` checkpoint, else `last`.
pub(crate) fn trained(
    run: &LanguageModelRun,
    dir: &Path,
    device: tch::Device,
) -> Result<(Supervised<GruLanguageModel>, Vocab)> {
    let vocab = Vocab::load(dir)?;
    let mut task = task(run, &vocab, device)?;
    crate::runs::load_checkpoint(&mut task, dir, &["best", "last"])?;
    Ok((task, vocab))
}

impl RunKind for LanguageModelRun {
    type Data = Corpus;

    fn load(&self, _device: tch::Device) -> Result<Corpus> {
        read_corpus(self)
    }

    /// Trains (or resumes) in `ctx.dir`; with a fold, over the windows of the training
    /// stream. A text sample goes to `samples/` after each epoch ([`with_epoch_text`]).
    fn train(&self, corpus: &Corpus, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
        tracing::info!(
            vocabulary = corpus.vocab.len(),
            train = corpus.train.len(),
            valid = corpus.valid.len(),
            test = corpus.test.len(),
            "tokens of {}",
            self.data.dataset
        );
        corpus.vocab.save(&ctx.dir)?;
        let train = windows(self, corpus.train.clone(), ctx.device)?;
        let mut task =
            with_epoch_text(task(self, &corpus.vocab, ctx.device)?, self, &corpus.vocab)?;
        let trainer = ctx.trainer(self.trainer.clone());
        Ok(match ctx.fold {
            None => {
                let valid = windows(self, corpus.valid.clone(), ctx.device)?;
                trainer.fit(&mut task, &train, Some(&valid), ctx.resume)?
            }
            Some(fold) => {
                let (a, b) = fold.split(train.len())?;
                let (a, b) = (Subset::new(&train, a)?, Subset::new(&train, b)?);
                trainer.fit(&mut task, &a, Some(&b), ctx.resume)?
            }
        })
    }

    /// Test perplexity and bits per token, with the add-one unigram baseline.
    fn evaluate(&self, corpus: &Corpus, dir: &Path, device: tch::Device) -> Result<MetricMap> {
        let (task, _) = trained(self, dir, device)?;
        let baseline = unigram_bits_per_token(&corpus.train, &corpus.test, corpus.vocab.len())?;
        let test = windows(self, corpus.test.clone(), device)?;
        let nll = evaluate_lm(&task.model, &test, self.trainer.batch_size.max(1))?;
        let mut out = MetricMap::new();
        let empty = || format!("{}: the test split has no tokens", self.data.dataset);
        out.insert(
            "test_perplexity".into(),
            nll.perplexity().with_context(empty)?,
        );
        out.insert(
            "test_bits_per_token".into(),
            nll.bits_per_token().with_context(empty)?,
        );
        // The same text with the GRU state carried from window to window, as language models
        // are usually scored: each token is predicted from all the text before it.
        let carried = evaluate_lm_carried(&task.model, &test, self.trainer.batch_size.max(1))?;
        out.insert(
            "test_bits_per_token_carried".into(),
            carried.bits_per_token().with_context(empty)?,
        );
        out.insert("test_unigram_bits_per_token".into(), baseline);
        out.insert("test_tokens".into(), nll.count as f64);
        Ok(out)
    }
}

/// Options of `gen generate`; `None` keeps the run's `[sample]` settings.
#[derive(Debug, Default, Clone)]
pub struct GenerateOptions {
    /// The prompt.
    pub prompt: Option<String>,
    /// Tokens per sample.
    pub max_tokens: Option<usize>,
    /// Sampling temperature (0 = greedy).
    pub temperature: Option<f64>,
    /// Top-k filter.
    pub top_k: Option<usize>,
    /// Nucleus filter.
    pub top_p: Option<f64>,
    /// Samples.
    pub num: Option<usize>,
    /// Seed.
    pub seed: Option<u64>,
}

/// The prompt and sampling settings of `opts`, the run's `[sample]` settings where it has
/// none.
fn sampling_of(
    run: &LanguageModelRun,
    vocab: &Vocab,
    opts: &GenerateOptions,
) -> (String, SamplingConfig) {
    let spec = &run.sample;
    let prompt = opts
        .prompt
        .clone()
        .or_else(|| spec.prompt.clone())
        .unwrap_or_else(|| vocab.default_prompt().to_string());
    let sampling = SamplingConfig {
        max_tokens: opts.max_tokens.unwrap_or(spec.sampling.max_tokens),
        temperature: opts.temperature.unwrap_or(spec.sampling.temperature),
        top_k: opts.top_k.or(spec.sampling.top_k),
        top_p: opts.top_p.or(spec.sampling.top_p),
        seed: opts.seed.unwrap_or(spec.sampling.seed),
        stop_token: spec.sampling.stop_token.or(vocab.stop_token()),
        ..spec.sampling.clone()
    };
    (prompt, sampling)
}

/// Tokens of the sample written after each epoch, at most.
const EPOCH_SAMPLE_TOKENS: usize = 200;

/// After each epoch, one sample of the run's `[sample]` settings (at most
/// [`EPOCH_SAMPLE_TOKENS`] tokens; the sampler's own seeded streams) to
/// `samples/text_<epoch, 3 digits>.txt`: TensorBoard's `samples/text`.
fn with_epoch_text(
    task: Supervised<GruLanguageModel>,
    run: &LanguageModelRun,
    vocab: &Vocab,
) -> Result<Supervised<GruLanguageModel>> {
    let (prompt, mut sampling) = sampling_of(run, vocab, &GenerateOptions::default());
    sampling.max_tokens = sampling.max_tokens.min(EPOCH_SAMPLE_TOKENS);
    let ids = vocab.encode(&prompt)?;
    let vocab = vocab.clone();
    Ok(task.with_epoch_samples(move |model, epoch, dir| {
        let mut text = prompt.clone();
        generate(model, &ids, 1, &sampling, |_, token| {
            text.push_str(&vocab.piece(token));
        })?;
        let folder = dir.join("samples");
        let path = folder.join(format!("text_{epoch:03}.txt"));
        std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| gen_train::Error::io(&path, e))?;
        Ok(gen_train::EpochSamples {
            seed: sampling.seed,
            files: vec![path],
        })
    }))
}

/// Generates samples from the run's model. The first sample streams to `out` token by token;
/// the others follow when all are done. Returns the samples' texts (prompt included).
pub fn generate_text(
    run: &LanguageModelRun,
    dir: &Path,
    device: tch::Device,
    opts: &GenerateOptions,
    out: &mut dyn Write,
) -> Result<Vec<String>> {
    let (task, vocab) = trained(run, dir, device)?;
    let (prompt, sampling) = sampling_of(run, &vocab, opts);
    let num = opts.num.unwrap_or(run.sample.num).max(1);
    let ids = vocab.encode(&prompt)?;
    let mut texts = vec![prompt.clone(); num];
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut write_error = None;
    generate(&task.model, &ids, num, &sampling, |sample, token| {
        let piece = vocab.piece(token);
        if sample == 0 && write_error.is_none() {
            if let Err(e) = write!(out, "{piece}").and_then(|()| out.flush()) {
                write_error = Some(e);
            }
        }
        if let Some(t) = texts.get_mut(sample) {
            t.push_str(&piece);
        }
    })?;
    if let Some(e) = write_error {
        return Err(e).context("cannot write the sample");
    }
    writeln!(out)?;
    for (i, t) in texts.iter().enumerate().skip(1) {
        writeln!(out, "--- sample {}\n{t}", i + 1)?;
    }
    Ok(texts)
}

/// The sampling settings `generate_text` uses for `opts`, as a provenance record's
/// `sampling` (the run's defaults under the options given).
pub fn sampling_record(
    run: &LanguageModelRun,
    opts: &GenerateOptions,
) -> crate::provenance::Sampling {
    let spec = &run.sample;
    let mut s = crate::provenance::Sampling::new();
    let prompt = opts.prompt.clone().or_else(|| spec.prompt.clone());
    if let Some(p) = prompt {
        s.insert("prompt".into(), p.into());
    }
    s.insert(
        "max_tokens".into(),
        opts.max_tokens.unwrap_or(spec.sampling.max_tokens).into(),
    );
    s.insert(
        "temperature".into(),
        opts.temperature.unwrap_or(spec.sampling.temperature).into(),
    );
    if let Some(k) = opts.top_k.or(spec.sampling.top_k) {
        s.insert("top_k".into(), k.into());
    }
    if let Some(p) = opts.top_p.or(spec.sampling.top_p) {
        s.insert("top_p".into(), p.into());
    }
    s.insert("num".into(), opts.num.unwrap_or(spec.num).max(1).into());
    s
}

/// The seed `generate_text` uses for `opts`.
pub fn sampling_seed(run: &LanguageModelRun, opts: &GenerateOptions) -> u64 {
    opts.seed.unwrap_or(run.sample.sampling.seed)
}

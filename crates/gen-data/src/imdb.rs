//! The IMDB sentiment dataset, loaded exactly as Keras `keras.datasets.imdb.load_data`.
//!
//! [`load_data`] reads an [`ImdbSource`] and applies Keras's steps, in Keras's order
//! (`keras/src/datasets/imdb.py`):
//! 1. one `np.random.RandomState(seed)` shuffles the train split (reviews and labels with the
//!    same permutation), then the *same stream* shuffles the test split;
//! 2. every id is shifted by `index_from` and `start_char` is prepended when set;
//! 3. when `maxlen` is set (and not 0: Keras tests `if maxlen:`), reviews with
//!    `len >= maxlen` (start char included) are *dropped*, not truncated; a split left empty
//!    is an error;
//! 4. when `num_words` is unset (or 0), it becomes the largest id over train and test, so
//!    that id itself falls outside the vocabulary (a Keras quirk, kept);
//! 5. ids outside `[skip_top, num_words)` become `oov_char`, or are removed when it is
//!    `None`; this also applies to `start_char`.
//!
//! Where Keras crashes, gen differs: step 4 ignores empty reviews (Keras's `max(x)` raises on
//! one, possible only with `start_char=None`), and fails with a clear error only when there
//! is no id at all; an id overflowing `i64` after the shift is an error.
//!
//! Sources:
//! - [`ImdbSource::Npz`]: Keras's own `imdb.npz` (word ids, most frequent word = 1) and
//!   optionally `imdb_word_index.json`.
//! - [`ImdbSource::AclImdb`], [`ImdbSource::Csv`]: raw review text. A Keras-default
//!   [`Tokenizer`] is fitted on the *train* texts only (so test words never leak into the
//!   vocabulary) and both splits become ids from 1, most frequent first, like the npz. Test
//!   words unseen in training are dropped, which is what the Keras docstring describes for
//!   its own data. The Keras npz keeps `<br />` as the word `"br"`; so does gen by default
//!   ([`LoadOptions::strip_html_breaks`] removes it).

mod npz;
mod pickle;
mod raw;

pub use pickle::ALLOWED_PICKLE_GLOBALS;

/// The IMDB parsers on raw bytes, for [`crate::fuzzing`].
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz_entry {
    use super::{npz, pickle, raw};
    use std::path::Path;

    const ORIGIN: &str = "fuzz-input";

    pub(crate) fn npz(bytes: &[u8]) -> bool {
        npz::read_npz_bytes(bytes, Path::new(ORIGIN)).is_ok()
    }

    pub(crate) fn npy(bytes: &[u8]) -> bool {
        let ints = npz::read_int_npy(bytes, Path::new(ORIGIN), "y").is_ok();
        npz::read_object_npy(bytes, Path::new(ORIGIN), "x").is_ok() || ints
    }

    pub(crate) fn pickle(bytes: &[u8]) -> bool {
        pickle::decode_int_lists(bytes, npz::MAX_ELEMENTS).is_ok()
    }

    pub(crate) fn csv(bytes: &[u8]) -> bool {
        raw::read_csv_from(bytes, Path::new(ORIGIN)).is_ok()
    }
}

use crate::paths;
use crate::tokenizer::{Tokenizer, TokenizerOptions};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the IMDB data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImdbSource {
    /// Keras's `imdb.npz` (a zip of `.npy` arrays of word ids), with its optional
    /// `imdb_word_index.json`.
    Npz {
        /// The `imdb.npz` file.
        npz: PathBuf,
        /// The `imdb_word_index.json` file, if any; fills [`ImdbData::word_index`].
        word_index: Option<PathBuf>,
    },
    /// Stanford's `aclImdb/` folder: `{train,test}/{neg,pos}/<id>_<rating>.txt`. Reviews are
    /// read `neg` then `pos`, each in ascending `<id>`.
    AclImdb {
        /// The `aclImdb` folder (the one holding `train/` and `test/`).
        dir: PathBuf,
    },
    /// Two CSV files with a header naming a `text` and a `label` column (other columns are
    /// ignored; labels `0`/`1`, `neg`/`pos` or `negative`/`positive`).
    Csv {
        /// The training CSV.
        train: PathBuf,
        /// The test CSV.
        test: PathBuf,
    },
}

impl ImdbSource {
    /// The source in folder `dir`: `imdb.npz` (with `imdb_word_index.json` when present),
    /// else `train.csv` and `test.csv`, else `aclImdb/` (or `dir` itself when it holds
    /// `train/pos`).
    ///
    /// # Errors
    /// [`Error::MissingDataset`] when none is there.
    pub fn find(dir: &Path) -> Result<Self> {
        let npz = dir.join("imdb.npz");
        if npz.is_file() {
            let index = dir.join("imdb_word_index.json");
            return Ok(ImdbSource::Npz {
                npz,
                word_index: index.is_file().then_some(index),
            });
        }
        let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
        if train.is_file() && test.is_file() {
            return Ok(ImdbSource::Csv { train, test });
        }
        let acl = dir.join("aclImdb");
        if acl.join("train").join("pos").is_dir() {
            return Ok(ImdbSource::AclImdb { dir: acl });
        }
        if dir.join("train").join("pos").is_dir() {
            return Ok(ImdbSource::AclImdb {
                dir: dir.to_path_buf(),
            });
        }
        Err(Error::MissingDataset {
            name: "imdb".to_string(),
            path: dir.to_path_buf(),
        })
    }

    /// [`ImdbSource::find`] in the `imdb` folder of the data folder
    /// ([`paths::dataset_dir`]).
    ///
    /// # Errors
    /// [`Error::MissingDataset`] when the folder or the data is missing.
    pub fn locate() -> Result<Self> {
        Self::find(&paths::dataset_dir("imdb")?)
    }
}

/// Options of [`load_data`], with Keras's names and defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadOptions {
    /// Keep ids `< num_words`; others become `oov_char`. Default `None`: the largest id
    /// present (which itself becomes `oov_char`, as in Keras). `Some(0)` means `None`.
    pub num_words: Option<usize>,
    /// Ids `< skip_top` become `oov_char`. Default 0.
    pub skip_top: usize,
    /// Drop reviews with `len >= maxlen` (start char included). Default `None`: keep all.
    /// `Some(0)` means `None`, as Keras's `if maxlen:`.
    pub maxlen: Option<usize>,
    /// Seed of the numpy `RandomState` that shuffles both splits; at most `2**32 - 1`.
    /// Default 113.
    pub seed: u64,
    /// Id prepended to every review. Default `Some(1)`.
    pub start_char: Option<i64>,
    /// Id that replaces out-of-vocabulary ids; `None` removes them. Default `Some(2)`.
    pub oov_char: Option<i64>,
    /// Added to every word id. Default 3 (ids 0, 1, 2 are pad, start, oov).
    pub index_from: i64,
    /// gen addition, raw-text sources only: drop `<br />` tags before tokenizing.
    /// Default `false`, matching Keras's npz, where `"br"` is a word.
    pub strip_html_breaks: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            num_words: None,
            skip_top: 0,
            maxlen: None,
            seed: 113,
            start_char: Some(1),
            oov_char: Some(2),
            index_from: 3,
            strip_html_breaks: false,
        }
    }
}

/// The loaded dataset: Keras's `(x_train, y_train), (x_test, y_test)` plus the word index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImdbData {
    /// Training reviews as word ids (variable length; pad them with
    /// [`crate::sequence::pad_sequences`]).
    pub x_train: Vec<Vec<i64>>,
    /// Training labels: 0 negative, 1 positive.
    pub y_train: Vec<i64>,
    /// Test reviews as word ids.
    pub x_test: Vec<Vec<i64>>,
    /// Test labels.
    pub y_test: Vec<i64>,
    /// Word to raw id (before `index_from`), as `imdb_word_index.json`: from that file for
    /// [`ImdbSource::Npz`] (when given), from the fitted tokenizer for raw-text sources.
    pub word_index: Option<HashMap<String, i64>>,
}

/// Both splits as raw ids (from 1), in source order.
struct Splits {
    x_train: Vec<Vec<i64>>,
    y_train: Vec<i64>,
    x_test: Vec<Vec<i64>>,
    y_test: Vec<i64>,
    word_index: Option<HashMap<String, i64>>,
}

/// Loads IMDB from `source` with Keras's `load_data` steps (see the module docs).
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] (naming the file and field) for unreadable or corrupt
/// files, [`Error::InvalidArgument`] for a seed above `2**32 - 1`, a `maxlen` that leaves a
/// split empty, or data with no word id at all.
pub fn load_data(source: &ImdbSource, opts: &LoadOptions) -> Result<ImdbData> {
    let splits = read_source(source, opts)?;
    process(splits, opts)
}

fn read_source(source: &ImdbSource, opts: &LoadOptions) -> Result<Splits> {
    match source {
        ImdbSource::Npz { npz, word_index } => {
            let a = npz::read_npz(npz)?;
            let word_index = word_index.as_deref().map(get_word_index).transpose()?;
            Ok(Splits {
                x_train: a.x_train,
                y_train: a.y_train,
                x_test: a.x_test,
                y_test: a.y_test,
                word_index,
            })
        }
        ImdbSource::AclImdb { dir } => tokenize(
            raw::read_acl_split(dir, "train")?,
            raw::read_acl_split(dir, "test")?,
            opts,
        ),
        ImdbSource::Csv { train, test } => {
            tokenize(raw::read_csv(train)?, raw::read_csv(test)?, opts)
        }
    }
}

/// Fits a Keras-default tokenizer on the train texts and encodes both splits.
fn tokenize(train: raw::Labeled, test: raw::Labeled, opts: &LoadOptions) -> Result<Splits> {
    let mut tok = Tokenizer::new(TokenizerOptions {
        strip_html_breaks: opts.strip_html_breaks,
        ..TokenizerOptions::default()
    })?;
    let to_i64 = |seq: Vec<usize>| -> Vec<i64> {
        seq.into_iter()
            .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
            .collect()
    };
    // Fitting and encoding the train texts in one pass splits and looks up each word once.
    let x_train = tok
        .fit_on_texts_to_sequences(&train.texts)
        .into_iter()
        .map(to_i64)
        .collect();
    let x_test = test
        .texts
        .iter()
        .map(|t| to_i64(tok.text_to_sequence(t)))
        .collect();
    let word_index = tok
        .word_index()
        .iter()
        .map(|(w, &i)| (w.clone(), i64::try_from(i).unwrap_or(i64::MAX)))
        .collect();
    Ok(Splits {
        x_train,
        y_train: train.labels,
        x_test,
        y_test: test.labels,
        word_index: Some(word_index),
    })
}

/// Reorders `x` and `y` by one permutation drawn from `rng`, as Keras's
/// `indices = np.arange(len(x)); rng.shuffle(indices); x = x[indices]; y = y[indices]`.
fn shuffle_split(
    rng: &mut crate::numpy_rng::RandomState,
    x: Vec<Vec<i64>>,
    y: Vec<i64>,
) -> Result<(Vec<Vec<i64>>, Vec<i64>)> {
    if x.len() != y.len() {
        return Err(Error::invalid(
            "labels",
            format!("{} labels for {} reviews", y.len(), x.len()),
        ));
    }
    let perm = rng.permutation(x.len());
    let mut x: Vec<Option<Vec<i64>>> = x.into_iter().map(Some).collect();
    let mut xs = Vec::with_capacity(x.len());
    let mut ys = Vec::with_capacity(y.len());
    for &i in &perm {
        xs.push(x.get_mut(i).and_then(Option::take).unwrap_or_default());
        ys.push(y.get(i).copied().unwrap_or_default());
    }
    Ok((xs, ys))
}

/// Keras's `load_data` steps after reading the arrays.
fn process(s: Splits, o: &LoadOptions) -> Result<ImdbData> {
    let mut rng = crate::numpy_rng::RandomState::try_new(o.seed)?;
    let (x_train, mut y_train) = shuffle_split(&mut rng, s.x_train, s.y_train)?;
    let (x_test, mut y_test) = shuffle_split(&mut rng, s.x_test, s.y_test)?;

    let shift = |x: Vec<Vec<i64>>| -> Result<Vec<Vec<i64>>> {
        x.into_iter()
            .map(|review| {
                let mut out = Vec::with_capacity(review.len() + 1);
                out.extend(o.start_char);
                for w in review {
                    out.push(w.checked_add(o.index_from).ok_or_else(|| {
                        Error::invalid(
                            "index_from",
                            format!("word id {w} + index_from {} overflows i64", o.index_from),
                        )
                    })?);
                }
                Ok(out)
            })
            .collect()
    };
    let mut x_train = shift(x_train)?;
    let mut x_test = shift(x_test)?;

    if let Some(maxlen) = o.maxlen.filter(|&m| m > 0) {
        for (x, y) in [(&mut x_train, &mut y_train), (&mut x_test, &mut y_test)] {
            let keep: Vec<bool> = x.iter().map(|r| r.len() < maxlen).collect();
            let mut k = keep.iter();
            x.retain(|_| k.next().copied().unwrap_or(false));
            let mut k = keep.iter();
            y.retain(|_| k.next().copied().unwrap_or(false));
        }
        if x_train.is_empty() || x_test.is_empty() {
            return Err(Error::invalid(
                "maxlen",
                format!(
                    "after filtering for sequences shorter than maxlen={maxlen}, no sequence \
                     was kept; increase maxlen"
                ),
            ));
        }
    }

    let num_words = match o.num_words.filter(|&n| n > 0) {
        Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
        None => x_train
            .iter()
            .chain(&x_test)
            .flat_map(|r| r.iter().copied())
            .max()
            .ok_or_else(|| {
                Error::invalid(
                    "num_words",
                    "cannot infer num_words: the data holds no word id",
                )
            })?,
    };
    let skip_top = i64::try_from(o.skip_top).unwrap_or(i64::MAX);
    let in_vocab = |w: i64| skip_top <= w && w < num_words;
    for review in x_train.iter_mut().chain(x_test.iter_mut()) {
        match o.oov_char {
            Some(oov) => review.iter_mut().for_each(|w| {
                if !in_vocab(*w) {
                    *w = oov;
                }
            }),
            None => review.retain(|&w| in_vocab(w)),
        }
    }
    Ok(ImdbData {
        x_train,
        y_train,
        x_test,
        y_test,
        word_index: s.word_index,
    })
}

/// Reads a Keras word index (`imdb_word_index.json`: `{"word": id, ...}`), as
/// `keras.datasets.imdb.get_word_index`.
///
/// # Errors
/// [`Error::Io`] when unreadable; [`Error::Format`] when it is not a JSON object of
/// integers.
pub fn get_word_index(path: &Path) -> Result<HashMap<String, i64>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| Error::format(path, "word index", e.to_string()))
}

/// Decodes reviews to text the way Keras users do with the word index
/// (`" ".join(reverse_word_index.get(i - index_from, "?") for i in ids)`).
#[derive(Clone, Debug)]
pub struct WordDecoder {
    words: HashMap<i64, String>,
    index_from: i64,
}

impl WordDecoder {
    /// A decoder for `word_index` (raw ids, as [`get_word_index`] returns) and the
    /// `index_from` the reviews were loaded with. When two words share an id, the
    /// lexicographically smallest is used.
    pub fn new(word_index: &HashMap<String, i64>, index_from: i64) -> Self {
        let mut words: HashMap<i64, String> = HashMap::with_capacity(word_index.len());
        for (w, &i) in word_index {
            match words.get(&i) {
                Some(existing) if existing <= w => {}
                _ => {
                    words.insert(i, w.clone());
                }
            }
        }
        WordDecoder { words, index_from }
    }

    /// The words of `ids`, space-separated; padding (0), start (1), oov (2) and any id
    /// without a word become `?`.
    pub fn decode(&self, ids: &[i64]) -> String {
        let words: Vec<&str> = ids
            .iter()
            .map(|&i| {
                i.checked_sub(self.index_from)
                    .and_then(|raw| self.words.get(&raw))
                    .map_or("?", String::as_str)
            })
            .collect();
        words.join(" ")
    }
}

/// Decodes one review; see [`WordDecoder`] (build one to decode many reviews).
pub fn decode(ids: &[i64], word_index: &HashMap<String, i64>, index_from: i64) -> String {
    WordDecoder::new(word_index, index_from).decode(ids)
}

#[cfg(test)]
mod tests;

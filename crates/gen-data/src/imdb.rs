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
mod tests {
    use super::*;

    /// `fixture.npz`, written by numpy 2.4.6:
    /// ```python
    /// xtr = [[1, 5, 2], [7, 8, 9, 10, 11, 12], [3], [20, 1, 1, 4], [6, 6], [13, 2, 25, 3, 1],
    ///        [4, 4, 4, 4, 4, 4, 4], [30]]
    /// ytr = [1, 0, 0, 1, 1, 0, 1, 0]
    /// xte = [[2, 3], [14, 15, 16, 17, 18], [1], [9, 9, 27], [5, 26, 1, 2], [11]]
    /// yte = [0, 1, 1, 0, 1, 0]
    /// def obj(ls):
    ///     a = np.empty(len(ls), dtype=object)
    ///     for i, l in enumerate(ls): a[i] = l
    ///     return a
    /// np.savez("fixture.npz", x_train=obj(xtr), y_train=np.array(ytr, dtype=np.int64),
    ///          x_test=obj(xte), y_test=np.array(yte, dtype=np.int64))
    /// open("fixture.npz", "rb").read().hex()
    /// ```
    const NUMPY_NPZ_HEX: &[&str] = &[
        "504b03042d00000000000000210089a74053ffffffffffffffff0b001400785f747261696e2e6e7079010010006d0100",
        "00000000006d01000000000000934e554d5059010076007b276465736372273a20277c4f272c2027666f727472616e5f",
        "6f72646572273a2046616c73652c20277368617065273a2028382c292c207d2020202020202020202020202020202020",
        "20202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a800495",
        "e2000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e73747275637494",
        "93948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b08859468038c05647479",
        "70659493948c024f3894898887945294284b038c017c944e4e4e4affffffff4affffffff4b3f749462895d94285d9428",
        "4b014b054b02655d94284b074b084b094b0a4b0b4b0c655d944b03615d94284b144b014b014b04655d94284b064b0665",
        "5d94284b0d4b024b194b034b01655d94284b044b044b044b044b044b044b04655d944b1e61657494622e504b03042d00",
        "0000000000002100d2d913e8ffffffffffffffff0b001400795f747261696e2e6e707901001000c000000000000000c0",
        "00000000000000934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572",
        "273a2046616c73652c20277368617065273a2028382c292c207d20202020202020202020202020202020202020202020",
        "20202020202020202020202020202020202020202020202020202020202020202020202020200a010000000000000000",
        "000000000000000000000000000000010000000000000001000000000000000000000000000000010000000000000000",
        "00000000000000504b03042d000000000000002100d08d8fa7ffffffffffffffff0a001400785f746573742e6e707901",
        "0010004b010000000000004b01000000000000934e554d5059010076007b276465736372273a20277c4f272c2027666f",
        "727472616e5f6f72646572273a2046616c73652c20277368617065273a2028362c292c207d2020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020",
        "20200a800495c0000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e73",
        "74727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b06859468",
        "038c0564747970659493948c024f3894898887945294284b038c017c944e4e4e4affffffff4affffffff4b3f74946289",
        "5d94285d94284b024b03655d94284b0e4b0f4b104b114b12655d944b01615d94284b094b094b1b655d94284b054b1a4b",
        "014b02655d944b0b61657494622e504b03042d00000000000000210095dc8e99ffffffffffffffff0a001400795f7465",
        "73742e6e707901001000b000000000000000b000000000000000934e554d5059010076007b276465736372273a20273c",
        "6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028362c292c207d202020",
        "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020",
        "2020202020202020200a0000000000000000010000000000000001000000000000000000000000000000010000000000",
        "00000000000000000000504b01022d032d00000000000000210089a740536d0100006d0100000b000000000000000000",
        "0000800100000000785f747261696e2e6e7079504b01022d032d000000000000002100d2d913e8c0000000c00000000b",
        "00000000000000000000008001aa010000795f747261696e2e6e7079504b01022d032d000000000000002100d08d8fa7",
        "4b0100004b0100000a00000000000000000000008001a7020000785f746573742e6e7079504b01022d032d0000000000",
        "0000210095dc8e99b0000000b00000000a000000000000000000000080012e040000795f746573742e6e7079504b0506",
        "0000000004000400e20000001a0500000000",
    ];

    fn numpy_npz() -> Vec<u8> {
        let hex: String = NUMPY_NPZ_HEX.concat();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn write_fixture(dir: &Path) -> ImdbSource {
        let npz = dir.join("imdb.npz");
        std::fs::write(&npz, numpy_npz()).unwrap();
        ImdbSource::Npz {
            npz,
            word_index: None,
        }
    }

    fn load(src: &ImdbSource, o: LoadOptions) -> ImdbData {
        load_data(src, &o).unwrap()
    }

    /// Expected values below come from a line-by-line transcription of Keras's
    /// `load_data` (keras/src/datasets/imdb.py, after `np.load`) run with numpy 2.4.6 on
    /// `fixture.npz`, e.g. `load()` for Keras `imdb.load_data()` defaults.
    #[test]
    fn numpy_written_npz_matches_keras_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let src = write_fixture(dir.path());
        // load() -> x_train [[1, 10, 11, 12, 13, 14, 15], [1, 23, 4, 4, 7],
        //   [1, 7, 7, 7, 7, 7, 7, 7], [1, 4, 8, 5], [1, 2], [1, 6], [1, 9, 9],
        //   [1, 16, 5, 28, 6, 4]]; y_train [0, 1, 1, 1, 0, 0, 1, 0]
        //   x_test [[1, 4], [1, 12, 12, 30], [1, 8, 29, 4, 5], [1, 17, 18, 19, 20, 21],
        //   [1, 5, 6], [1, 14]]; y_test [1, 0, 1, 1, 0, 0]
        // ([30] + 3 = 33 is the largest id, so num_words = 33 turns it into oov 2.)
        let d = load(&src, LoadOptions::default());
        assert_eq!(
            d.x_train,
            vec![
                vec![1, 10, 11, 12, 13, 14, 15],
                vec![1, 23, 4, 4, 7],
                vec![1, 7, 7, 7, 7, 7, 7, 7],
                vec![1, 4, 8, 5],
                vec![1, 2],
                vec![1, 6],
                vec![1, 9, 9],
                vec![1, 16, 5, 28, 6, 4]
            ]
        );
        assert_eq!(d.y_train, [0, 1, 1, 1, 0, 0, 1, 0]);
        assert_eq!(
            d.x_test,
            vec![
                vec![1, 4],
                vec![1, 12, 12, 30],
                vec![1, 8, 29, 4, 5],
                vec![1, 17, 18, 19, 20, 21],
                vec![1, 5, 6],
                vec![1, 14]
            ]
        );
        assert_eq!(d.y_test, [1, 0, 1, 1, 0, 0]);
        assert_eq!(d.word_index, None);
        // Keras's `if maxlen:` / `if not num_words:`: 0 means unset.
        let zero = load(
            &src,
            LoadOptions {
                maxlen: Some(0),
                num_words: Some(0),
                ..LoadOptions::default()
            },
        );
        assert_eq!(zero, d);
    }

    #[test]
    fn numpy_written_npz_matches_keras_options() {
        let dir = tempfile::tempdir().unwrap();
        let src = write_fixture(dir.path());
        // load(num_words=10, skip_top=5)
        let d = load(
            &src,
            LoadOptions {
                num_words: Some(10),
                skip_top: 5,
                ..LoadOptions::default()
            },
        );
        assert_eq!(
            d.x_train,
            vec![
                vec![2, 2, 2, 2, 2, 2, 2],
                vec![2, 2, 2, 2, 7],
                vec![2, 7, 7, 7, 7, 7, 7, 7],
                vec![2, 2, 8, 5],
                vec![2, 2],
                vec![2, 6],
                vec![2, 9, 9],
                vec![2, 2, 5, 2, 6, 2]
            ]
        );
        assert_eq!(
            d.x_test,
            vec![
                vec![2, 2],
                vec![2, 2, 2, 2],
                vec![2, 8, 2, 2, 5],
                vec![2, 2, 2, 2, 2, 2],
                vec![2, 5, 6],
                vec![2, 2]
            ]
        );
        // load(maxlen=5): drops reviews with len >= 5, start char included.
        let d = load(
            &src,
            LoadOptions {
                maxlen: Some(5),
                ..LoadOptions::default()
            },
        );
        assert_eq!(
            d.x_train,
            vec![vec![1, 4, 8, 5], vec![1, 2], vec![1, 6], vec![1, 9, 9]]
        );
        assert_eq!(d.y_train, [1, 0, 0, 1]);
        assert_eq!(
            d.x_test,
            vec![vec![1, 4], vec![1, 12, 12, 30], vec![1, 5, 6], vec![1, 14]]
        );
        assert_eq!(d.y_test, [1, 0, 0, 0]);
        // load(start_char=None, oov_char=None, index_from=0, num_words=20, skip_top=3)
        let d = load(
            &src,
            LoadOptions {
                start_char: None,
                oov_char: None,
                index_from: 0,
                num_words: Some(20),
                skip_top: 3,
                ..LoadOptions::default()
            },
        );
        let want_train: Vec<Vec<i64>> = vec![
            vec![7, 8, 9, 10, 11, 12],
            vec![4],
            vec![4, 4, 4, 4, 4, 4, 4],
            vec![5],
            vec![],
            vec![3],
            vec![6, 6],
            vec![13, 3],
        ];
        assert_eq!(d.x_train, want_train);
        let want_test: Vec<Vec<i64>> = vec![
            vec![],
            vec![9, 9],
            vec![5],
            vec![14, 15, 16, 17, 18],
            vec![3],
            vec![11],
        ];
        assert_eq!(d.x_test, want_test);
        // load(seed=7, oov_char=None, num_words=12)
        let d = load(
            &src,
            LoadOptions {
                seed: 7,
                oov_char: None,
                num_words: Some(12),
                ..LoadOptions::default()
            },
        );
        assert_eq!(
            d.x_train,
            vec![
                vec![1, 6],
                vec![1, 5, 6, 4],
                vec![1, 4, 8, 5],
                vec![1, 7, 7, 7, 7, 7, 7, 7],
                vec![1, 4, 4, 7],
                vec![1, 10, 11],
                vec![1, 9, 9],
                vec![1]
            ]
        );
        assert_eq!(d.y_train, [0, 0, 1, 1, 1, 0, 1, 0]);
        assert_eq!(
            d.x_test,
            vec![
                vec![1, 8, 4, 5],
                vec![1],
                vec![1],
                vec![1, 4],
                vec![1],
                vec![1, 5, 6]
            ]
        );
        assert_eq!(d.y_test, [1, 0, 0, 1, 1, 0]);
    }

    #[test]
    fn option_errors() {
        let dir = tempfile::tempdir().unwrap();
        let src = write_fixture(dir.path());
        // load(maxlen=2) raises ValueError in Keras: every review has >= 2 ids.
        let e = load_data(
            &src,
            &LoadOptions {
                maxlen: Some(2),
                ..LoadOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { name: "maxlen", .. }),
            "{e}"
        );
        let e = load_data(
            &src,
            &LoadOptions {
                seed: 1 << 32,
                ..LoadOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { name: "seed", .. }),
            "{e}"
        );
        let e = load_data(
            &src,
            &LoadOptions {
                index_from: i64::MAX,
                ..LoadOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    name: "index_from",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn options_serde() {
        let o: LoadOptions = serde_json::from_str(r#"{"num_words": 10000}"#).unwrap();
        assert_eq!(
            o,
            LoadOptions {
                num_words: Some(10000),
                ..LoadOptions::default()
            }
        );
        let o: LoadOptions = serde_json::from_str(r#"{"oov_char": null}"#).unwrap();
        assert_eq!(o.oov_char, None);
        assert!(serde_json::from_str::<LoadOptions>(r#"{"numwords": 1}"#).is_err());
    }

    const TRAIN: [(&str, i64); 4] = [
        ("This movie was bad. Really bad!<br /><br />Avoid.", 0),
        ("Boring plot, bad acting.", 0),
        ("A great movie. Great acting!", 1),
        ("Loved it: the best movie of the year.", 1),
    ];
    const TEST: [(&str, i64); 3] = [
        ("Bad, bad movie; zebra.", 0),
        ("Great fun. The acting was great.", 1),
        ("Best.", 1),
    ];

    fn write_acl(root: &Path) {
        for (split, rows) in [("train", &TRAIN[..]), ("test", &TEST[..])] {
            for (k, (text, label)) in rows.iter().enumerate() {
                let class = if *label == 1 { "pos" } else { "neg" };
                let folder = root.join("aclImdb").join(split).join(class);
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(folder.join(format!("{k}_{}.txt", 3 + 5 * label)), text).unwrap();
            }
        }
    }

    fn write_csv(path: &Path, rows: &[(&str, i64)]) {
        let mut w = csv::Writer::from_path(path).unwrap();
        w.write_record(["label", "text", "source"]).unwrap();
        for (text, label) in rows {
            let l = if *label == 1 { "pos" } else { "neg" };
            w.write_record([l, text, "imdb"]).unwrap();
        }
        w.flush().unwrap();
    }

    /// Raw text goes through Keras's Tokenizer (fitted on train texts) then `load_data`.
    /// Golden values from the Keras transcriptions in Python (numpy 2.4.6):
    /// ```python
    /// t = Tokenizer(); t.fit_on_texts([x for x, _ in TRAIN])
    /// # word_index: movie 1, bad 2, br 3, acting 4, great 5, the 6, this 7, was 8, ...
    /// xtr = t.texts_to_sequences(...); xte = t.texts_to_sequences(...)  # 'zebra' dropped
    /// load(xtr, ytr, xte, yte)  # the load_data steps on these arrays
    /// ```
    #[test]
    fn raw_sources_match_keras_tokenizer_then_load_data() {
        let dir = tempfile::tempdir().unwrap();
        write_acl(dir.path());
        let acl = ImdbSource::find(dir.path()).unwrap();
        assert_eq!(
            acl,
            ImdbSource::AclImdb {
                dir: dir.path().join("aclImdb")
            }
        );
        let d = load(&acl, LoadOptions::default());
        assert_eq!(
            d.x_train,
            vec![
                vec![1, 17, 18, 9, 19, 4, 20, 9, 2],
                vec![1, 16, 8, 4, 8, 7],
                vec![1, 10, 4, 11, 5, 12, 5, 6, 6, 13],
                vec![1, 14, 15, 5, 7]
            ]
        );
        assert_eq!(d.y_train, [1, 1, 0, 0]);
        assert_eq!(
            d.x_test,
            vec![vec![1, 8, 9, 7, 11, 8], vec![1, 5, 5, 4], vec![1, 19]]
        );
        assert_eq!(d.y_test, [1, 0, 1]);
        let wi = d.word_index.clone().unwrap();
        assert_eq!(
            (wi["movie"], wi["bad"], wi["br"], wi["year"]),
            (1, 2, 3, 18)
        );
        assert!(!wi.contains_key("zebra"));

        // load(..., num_words=8)
        let d8 = load(
            &acl,
            LoadOptions {
                num_words: Some(8),
                ..LoadOptions::default()
            },
        );
        assert_eq!(
            d8.x_train,
            vec![
                vec![1, 2, 2, 2, 2, 4, 2, 2, 2],
                vec![1, 2, 2, 4, 2, 7],
                vec![1, 2, 4, 2, 5, 2, 5, 6, 6, 2],
                vec![1, 2, 2, 5, 7]
            ]
        );
        assert_eq!(
            d8.x_test,
            vec![vec![1, 2, 2, 7, 2, 2], vec![1, 5, 5, 4], vec![1, 2]]
        );

        // The same reviews as CSV give the same data.
        let csv_dir = tempfile::tempdir().unwrap();
        write_csv(&csv_dir.path().join("train.csv"), &TRAIN);
        write_csv(&csv_dir.path().join("test.csv"), &TEST);
        let csv = ImdbSource::find(csv_dir.path()).unwrap();
        assert!(matches!(csv, ImdbSource::Csv { .. }));
        assert_eq!(load(&csv, LoadOptions::default()), d);

        // strip_html_breaks removes "br" from the vocabulary.
        let stripped = load(
            &acl,
            LoadOptions {
                strip_html_breaks: true,
                ..LoadOptions::default()
            },
        );
        assert!(!stripped.word_index.unwrap().contains_key("br"));
    }

    #[test]
    fn find_prefers_npz_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let e = ImdbSource::find(dir.path()).unwrap_err();
        assert!(e.to_string().contains("cargo xtask fetch-data imdb"), "{e}");
        write_acl(dir.path());
        write_csv(&dir.path().join("train.csv"), &TRAIN);
        write_csv(&dir.path().join("test.csv"), &TEST);
        assert!(matches!(
            ImdbSource::find(dir.path()).unwrap(),
            ImdbSource::Csv { .. }
        ));
        write_fixture(dir.path());
        std::fs::write(
            dir.path().join("imdb_word_index.json"),
            r#"{"the": 1, "a": 2}"#,
        )
        .unwrap();
        let src = ImdbSource::find(dir.path()).unwrap();
        assert_eq!(
            src,
            ImdbSource::Npz {
                npz: dir.path().join("imdb.npz"),
                word_index: Some(dir.path().join("imdb_word_index.json"))
            }
        );
        let d = load(&src, LoadOptions::default());
        assert_eq!(d.word_index.unwrap()["a"], 2);
    }

    #[test]
    fn word_index_and_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wi.json");
        std::fs::write(&path, r#"{"the": 1, "and": 2, "film": 19}"#).unwrap();
        let wi = get_word_index(&path).unwrap();
        assert_eq!(wi.len(), 3);
        // " ".join(reverse_word_index.get(i - 3, "?") for i in [1, 4, 2, 22, 5, 0, 999])
        // -> "? the ? film and ? ?"
        assert_eq!(
            decode(&[1, 4, 2, 22, 5, 0, 999], &wi, 3),
            "? the ? film and ? ?"
        );
        assert_eq!(decode(&[i64::MIN], &wi, 3), "?");
        std::fs::write(&path, r#"{"the": "one"}"#).unwrap();
        let e = get_word_index(&path).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert!(matches!(
            get_word_index(&dir.path().join("none.json")).unwrap_err(),
            Error::Io { .. }
        ));
    }

    #[test]
    fn corrupt_npz_is_a_format_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let npz = dir.path().join("imdb.npz");
        let mut bytes = numpy_npz();
        bytes.truncate(700);
        std::fs::write(&npz, bytes).unwrap();
        let e = load_data(
            &ImdbSource::Npz {
                npz: npz.clone(),
                word_index: None,
            },
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Format { path, .. } if *path == npz),
            "{e}"
        );
    }

    /// 25,000 reviews of ~240 ids (IMDB's size) load quickly. Run with
    /// `cargo test -p gen-data --release -- --ignored imdb_sized_load --nocapture`.
    #[test]
    #[ignore = "timing check; run in release"]
    fn imdb_sized_load_is_fast() {
        let mut rng = crate::numpy_rng::RandomState::new(0);
        let mut make = |n: usize| -> (Vec<Vec<i64>>, Vec<i64>) {
            (0..n)
                .map(|_| {
                    let len = 10 + rng.random_interval(460) as usize;
                    let review = (0..len)
                        .map(|_| 1 + rng.random_interval(88_000) as i64)
                        .collect();
                    (review, rng.random_interval(1) as i64)
                })
                .unzip()
        };
        let (xtr, ytr) = make(25_000);
        let (xte, yte) = make(25_000);
        let bytes = npz::tests::npz_bytes(&xtr, &ytr, &xte, &yte, true);
        let dir = tempfile::tempdir().unwrap();
        let npz = dir.path().join("imdb.npz");
        std::fs::write(&npz, &bytes).unwrap();
        let start = std::time::Instant::now();
        let d = load_data(
            &ImdbSource::Npz {
                npz,
                word_index: None,
            },
            &LoadOptions {
                num_words: Some(10_000),
                ..LoadOptions::default()
            },
        )
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "loaded {} + {} reviews in {secs:.3} s",
            d.x_train.len(),
            d.x_test.len()
        );
        assert_eq!(d.x_train.len(), 25_000);
        assert!(secs < 2.0, "{secs} s");
    }
}

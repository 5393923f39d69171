//! A word tokenizer that matches the Keras (legacy) `Tokenizer` and `text_to_word_sequence`.
//!
//! Keras semantics (`keras/src/legacy/preprocessing/text.py`):
//! - a text is lowercased (Unicode lowercase, as Python's `str.lower`), every character of
//!   `filters` is replaced by `split`, the text is split on `split`, and empty pieces are
//!   dropped. Only `split` separates words: with the default `" "`, a `\r` or a non-breaking
//!   space stays inside a word, as in Keras;
//! - [`Tokenizer::fit_on_texts`] counts words over every text fitted so far and numbers them
//!   from 1 by descending count; ties keep first-seen order (Python's stable sort);
//!   an `oov_token` takes index 1 and shifts the words up by one; index 0 is never assigned;
//! - [`Tokenizer::texts_to_sequences`] drops unknown words, and words whose index is
//!   `>= num_words`, or maps both to the `oov_token`'s index when one is set.
//!
//! gen addition: [`TokenizerOptions::strip_html_breaks`] (default `false`) removes the
//! `<br />` tags that the raw IMDB reviews contain. Keras has no such option, and the
//! Keras `imdb.npz` was *not* built with it: its word index holds `"br"` as the 7th most
//! frequent word. Leave it off to match Keras.
//!
//! Not ported: `char_level`, `analyzer`, `word_docs`/`index_docs` and `texts_to_matrix`.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;

/// Keras's default `filters`: ASCII punctuation except `'`, plus tab and newline.
pub const DEFAULT_FILTERS: &str = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// The HTML line break that raw IMDB reviews contain.
const HTML_BREAK: &str = "<br />";

/// Options of a [`Tokenizer`], with Keras's names and defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerOptions {
    /// Keep only words with index `< num_words` in [`Tokenizer::texts_to_sequences`]
    /// (that is, the `num_words - 1` most frequent). Default `None`: keep all. As in Keras,
    /// `Some(0)` also keeps all.
    pub num_words: Option<usize>,
    /// Characters replaced by `split` before splitting. Default [`DEFAULT_FILTERS`].
    pub filters: String,
    /// Lowercase texts first. Default `true`.
    pub lower: bool,
    /// The word separator; must not be empty. Default `" "`.
    pub split: String,
    /// A token for unknown words, given index 1. Default `None`: unknown words are dropped.
    pub oov_token: Option<String>,
    /// gen addition: replace every `<br />` (after lowercasing) by `split` before filtering.
    /// Default `false`, as Keras (which makes `<br />` the word `"br"`).
    pub strip_html_breaks: bool,
}

impl Default for TokenizerOptions {
    fn default() -> Self {
        TokenizerOptions {
            num_words: None,
            filters: DEFAULT_FILTERS.to_string(),
            lower: true,
            split: " ".to_string(),
            oov_token: None,
            strip_html_breaks: false,
        }
    }
}

/// The compiled splitting rule of a [`TokenizerOptions`].
#[derive(Clone, Debug)]
struct Splitter {
    /// ASCII characters that end a word (filters, and a one-character `split`).
    ascii: [bool; 128],
    /// Non-ASCII filter characters.
    other: Vec<char>,
    /// `Some(c)` when `split` is one character: the fast path applies.
    single: Option<char>,
    split: String,
    filters: String,
    lower: bool,
    strip_html_breaks: bool,
}

impl Splitter {
    fn new(opts: &TokenizerOptions) -> Result<Self> {
        if opts.split.is_empty() {
            return Err(Error::invalid(
                "split",
                "the word separator must not be empty",
            ));
        }
        let mut chars = opts.split.chars();
        let single = match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        };
        let mut ascii = [false; 128];
        let mut other = Vec::new();
        for c in opts.filters.chars().chain(single) {
            match ascii.get_mut(c as usize) {
                Some(slot) => *slot = true,
                None => other.push(c),
            }
        }
        Ok(Splitter {
            ascii,
            other,
            single,
            split: opts.split.clone(),
            filters: opts.filters.clone(),
            lower: opts.lower,
            strip_html_breaks: opts.strip_html_breaks,
        })
    }

    fn is_delim(&self, c: char) -> bool {
        match self.ascii.get(c as usize) {
            Some(&d) => d,
            None => self.other.contains(&c),
        }
    }

    /// Calls `f` on each word of `text`, in order.
    fn for_each_word(&self, text: &str, mut f: impl FnMut(&str)) {
        let mut text: Cow<'_, str> = Cow::Borrowed(text);
        if self.lower {
            if text.is_ascii() {
                if text.bytes().any(|b| b.is_ascii_uppercase()) {
                    text = Cow::Owned(text.to_ascii_lowercase());
                }
            } else {
                text = Cow::Owned(text.to_lowercase());
            }
        }
        if self.strip_html_breaks && text.contains(HTML_BREAK) {
            text = Cow::Owned(text.replace(HTML_BREAK, &self.split));
        }
        if self.single.is_some() {
            text.split(|c: char| self.is_delim(c))
                .filter(|w| !w.is_empty())
                .for_each(f);
        } else {
            // A multi-character separator: translate, then split, exactly as Python does.
            let mut translated = String::with_capacity(text.len());
            for c in text.chars() {
                if self.filters.contains(c) {
                    translated.push_str(&self.split);
                } else {
                    translated.push(c);
                }
            }
            for w in translated.split(self.split.as_str()) {
                if !w.is_empty() {
                    f(w);
                }
            }
        }
    }
}

/// Keras `text_to_word_sequence(text, filters, lower, split)`: the words of `text`
/// (`opts.num_words` and `opts.oov_token` are not used).
///
/// # Errors
/// [`Error::InvalidArgument`] (`split`) when `opts.split` is empty.
pub fn text_to_word_sequence(text: &str, opts: &TokenizerOptions) -> Result<Vec<String>> {
    let splitter = Splitter::new(opts)?;
    let mut words = Vec::new();
    splitter.for_each_word(text, |w| words.push(w.to_string()));
    Ok(words)
}

/// A Keras-compatible word tokenizer: fit a vocabulary, then map texts to word indices.
///
/// ```
/// use gen_data::tokenizer::{Tokenizer, TokenizerOptions};
/// let mut tok = Tokenizer::new(TokenizerOptions::default())?;
/// tok.fit_on_texts(&["The cat sat.", "the dog"]);
/// assert_eq!(tok.word_index().get("the"), Some(&1));
/// assert_eq!(tok.texts_to_sequences(&["the cat and the dog"]), vec![vec![1, 2, 1, 4]]);
/// # Ok::<(), gen_data::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Tokenizer {
    options: TokenizerOptions,
    splitter: Splitter,
    /// Word counts in first-seen order (Keras's `word_counts` `OrderedDict`).
    counts: Vec<(String, u64)>,
    /// Position of each word in `counts`.
    count_pos: HashMap<String, usize>,
    /// `pos_index[p]` is `word_index[counts[p].0]`, so that a fit can encode its own texts
    /// without looking their words up again.
    pos_index: Vec<usize>,
    word_index: HashMap<String, usize>,
    /// `index_word[i - 1]` is the word with index `i`.
    index_word: Vec<String>,
    document_count: usize,
}

impl Tokenizer {
    /// An empty tokenizer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`split`) when `options.split` is empty.
    pub fn new(options: TokenizerOptions) -> Result<Self> {
        let splitter = Splitter::new(&options)?;
        Ok(Tokenizer {
            options,
            splitter,
            counts: Vec::new(),
            count_pos: HashMap::new(),
            pos_index: Vec::new(),
            word_index: HashMap::new(),
            index_word: Vec::new(),
            document_count: 0,
        })
    }

    /// The options this tokenizer was made with.
    pub fn options(&self) -> &TokenizerOptions {
        &self.options
    }

    /// Counts the words of `texts` (adding to earlier fits) and renumbers the vocabulary:
    /// index 1 is the `oov_token` when set, then words by descending count, ties in
    /// first-seen order.
    pub fn fit_on_texts<S: AsRef<str>>(&mut self, texts: &[S]) {
        for text in texts {
            self.count_words(text.as_ref(), |_| {});
        }
        self.rebuild_index();
    }

    /// `fit_on_texts(texts)` then `texts_to_sequences(texts)`, in one pass over the texts:
    /// each word is split and looked up once.
    pub(crate) fn fit_on_texts_to_sequences<S: AsRef<str>>(
        &mut self,
        texts: &[S],
    ) -> Vec<Vec<usize>> {
        let mut sequences: Vec<Vec<usize>> = texts
            .iter()
            .map(|text| {
                let mut seq = Vec::new();
                self.count_words(text.as_ref(), |p| seq.push(p));
                seq
            })
            .collect();
        self.rebuild_index();
        // Positions in `counts` become indices in place.
        let (limit, oov) = (self.limit(), self.oov_index());
        for seq in &mut sequences {
            seq.retain_mut(
                |p| match resolve(self.pos_index.get(*p).copied(), limit, oov) {
                    Some(i) => {
                        *p = i;
                        true
                    }
                    None => false,
                },
            );
        }
        sequences
    }

    /// Counts the words of one text, calling `seen` with each word's position in `counts`.
    fn count_words(&mut self, text: &str, mut seen: impl FnMut(usize)) {
        self.document_count += 1;
        let counts = &mut self.counts;
        let count_pos = &mut self.count_pos;
        self.splitter.for_each_word(text, |w| {
            let p = match count_pos.get(w) {
                Some(&p) => p,
                None => {
                    let p = counts.len();
                    count_pos.insert(w.to_string(), p);
                    counts.push((w.to_string(), 0));
                    p
                }
            };
            if let Some(entry) = counts.get_mut(p) {
                entry.1 += 1;
            }
            seen(p);
        });
    }

    fn rebuild_index(&mut self) {
        let mut order: Vec<usize> = (0..self.counts.len()).collect();
        // Stable: equal counts keep first-seen order, as Python's `list.sort`.
        order.sort_by_key(|&i| std::cmp::Reverse(self.counts.get(i).map_or(0, |c| c.1)));
        let oov = self.options.oov_token.iter().cloned();
        let vocab = oov.chain(
            order
                .iter()
                .filter_map(|&i| self.counts.get(i).map(|c| c.0.clone())),
        );
        self.index_word = vocab.collect();
        self.word_index = HashMap::with_capacity(self.index_word.len());
        // Later duplicates win, as Python's `dict(zip(...))` (only possible when the
        // oov_token is also a word of the texts).
        for (i, w) in self.index_word.iter().enumerate() {
            self.word_index.insert(w.clone(), i + 1);
        }
        self.pos_index = self
            .counts
            .iter()
            .map(|(w, _)| self.word_index.get(w).copied().unwrap_or(0))
            .collect();
    }

    /// Word to index (from 1), as Keras's `word_index`.
    pub fn word_index(&self) -> &HashMap<String, usize> {
        &self.word_index
    }

    /// The word with index `index`, as Keras's `index_word[index]`.
    pub fn index_word(&self, index: usize) -> Option<&str> {
        index
            .checked_sub(1)
            .and_then(|i| self.index_word.get(i))
            .map(String::as_str)
    }

    /// Number of words in the vocabulary (including the `oov_token` when set).
    pub fn vocab_len(&self) -> usize {
        self.index_word.len()
    }

    /// Word counts in first-seen order, as Keras's `word_counts`.
    pub fn word_counts(&self) -> &[(String, u64)] {
        &self.counts
    }

    /// Number of texts fitted so far, as Keras's `document_count`.
    pub fn document_count(&self) -> usize {
        self.document_count
    }

    fn limit(&self) -> Option<usize> {
        self.options.num_words.filter(|&n| n > 0)
    }

    fn oov_index(&self) -> Option<usize> {
        self.options
            .oov_token
            .as_ref()
            .and_then(|t| self.word_index.get(t).copied())
    }

    /// The word indices of one text (see [`Tokenizer::texts_to_sequences`]).
    pub fn text_to_sequence(&self, text: &str) -> Vec<usize> {
        let limit = self.limit();
        let oov = self.oov_index();
        let mut out = Vec::new();
        self.splitter.for_each_word(text, |w| {
            out.extend(resolve(self.word_index.get(w).copied(), limit, oov));
        });
        out
    }

    /// Keras `texts_to_sequences`: each text as word indices. Unknown words, and words with
    /// index `>= num_words`, become the `oov_token`'s index, or are dropped without one.
    pub fn texts_to_sequences<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<usize>> {
        texts
            .iter()
            .map(|t| self.text_to_sequence(t.as_ref()))
            .collect()
    }

    /// Keras `sequences_to_texts`: words joined by spaces. Unknown indices, and indices
    /// `>= num_words`, become the `oov_token`, or are dropped without one.
    pub fn sequences_to_texts<S: AsRef<[usize]>>(&self, sequences: &[S]) -> Vec<String> {
        let limit = self.limit();
        let oov_word = self.oov_index().and_then(|i| self.index_word(i));
        sequences
            .iter()
            .map(|seq| {
                let words: Vec<&str> = seq
                    .as_ref()
                    .iter()
                    .filter_map(|&i| match self.index_word(i) {
                        Some(_) if limit.is_some_and(|n| i >= n) => oov_word,
                        Some(w) => Some(w),
                        None => oov_word,
                    })
                    .collect();
                words.join(" ")
            })
            .collect()
    }
}

/// The output index of one word in Keras's `texts_to_sequences`: `index` (the word's,
/// `None` when unknown) when known and `< limit`, else `oov` (`None`: the word is dropped).
fn resolve(index: Option<usize>, limit: Option<usize>, oov: Option<usize>) -> Option<usize> {
    match index {
        Some(i) if limit.is_none_or(|n| i < n) => Some(i),
        _ => oov,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(opts: TokenizerOptions) -> Tokenizer {
        Tokenizer::new(opts).unwrap()
    }

    const TEXTS: [&str; 3] = [
        "The cat sat on the mat.",
        "The dog ate my homework!",
        "Cat, dog; and THE bird?\tit's\r\nok",
    ];

    // Keras (keras/src/legacy/preprocessing/text.py; the same output from a line-by-line
    // transcription run in Python 3):
    //   t = Tokenizer(); t.fit_on_texts(TEXTS)
    //   sorted(t.word_index.items(), key=lambda x: x[1]) ->
    //   [('the', 1), ('cat', 2), ('dog', 3), ('sat', 4), ('on', 5), ('mat', 6), ('ate', 7),
    //    ('my', 8), ('homework', 9), ('and', 10), ('bird', 11), ("it's\r", 12), ('ok', 13)]
    //   t.texts_to_sequences(TEXTS + ["a new cat"]) ->
    //   [[1, 2, 4, 5, 1, 6], [1, 3, 7, 8, 9], [2, 3, 10, 1, 11, 12, 13], [2]]
    #[test]
    fn keras_word_index_and_sequences() {
        let mut t = tok(TokenizerOptions::default());
        t.fit_on_texts(&TEXTS);
        let want = [
            "the", "cat", "dog", "sat", "on", "mat", "ate", "my", "homework", "and", "bird",
            "it's\r", "ok",
        ];
        assert_eq!(t.vocab_len(), want.len());
        for (i, w) in want.iter().enumerate() {
            assert_eq!(t.word_index().get(*w), Some(&(i + 1)), "{w}");
            assert_eq!(t.index_word(i + 1), Some(*w));
        }
        assert_eq!(t.index_word(0), None);
        let mut texts = TEXTS.to_vec();
        texts.push("a new cat");
        assert_eq!(
            t.texts_to_sequences(&texts),
            vec![
                vec![1, 2, 4, 5, 1, 6],
                vec![1, 3, 7, 8, 9],
                vec![2, 3, 10, 1, 11, 12, 13],
                vec![2]
            ]
        );
        assert_eq!(t.document_count(), 3);
        assert_eq!(t.word_counts().first(), Some(&("the".to_string(), 4)));
    }

    // t = Tokenizer(num_words=4, oov_token="<OOV>"); t.fit_on_texts(TEXTS)
    // t.word_index: '<OOV>' -> 1, 'the' -> 2, 'cat' -> 3, 'dog' -> 4, ...
    // t.texts_to_sequences(["the zebra ate the cat mat"]) -> [[2, 1, 1, 2, 3, 1]]
    // t.sequences_to_texts([[1, 2, 3, 4, 5, 99]]) -> ['<OOV> the cat <OOV> <OOV> <OOV>']
    #[test]
    fn keras_num_words_and_oov_token() {
        let mut t = tok(TokenizerOptions {
            num_words: Some(4),
            oov_token: Some("<OOV>".into()),
            ..TokenizerOptions::default()
        });
        t.fit_on_texts(&TEXTS);
        assert_eq!(t.word_index().get("<OOV>"), Some(&1));
        assert_eq!(t.word_index().get("dog"), Some(&4));
        assert_eq!(
            t.texts_to_sequences(&["the zebra ate the cat mat"]),
            vec![vec![2, 1, 1, 2, 3, 1]]
        );
        assert_eq!(
            t.sequences_to_texts(&[vec![1, 2, 3, 4, 5, 99]]),
            vec!["<OOV> the cat <OOV> <OOV> <OOV>".to_string()]
        );
        // Without an oov_token, limited and unknown words are dropped.
        let mut t = tok(TokenizerOptions {
            num_words: Some(3),
            ..TokenizerOptions::default()
        });
        t.fit_on_texts(&TEXTS);
        assert_eq!(
            t.texts_to_sequences(&["dog the cat zebra"]),
            vec![vec![1, 2]]
        );
        assert_eq!(t.sequences_to_texts(&[[3usize, 1, 2, 0]]), vec!["the cat"]);
    }

    // text_to_word_sequence("Hello,World!!  foo--bar<br />BAZ ΣΑΣ")
    //   -> ['hello', 'world', 'foo', 'bar', 'br', 'baz', 'σας']   (final sigma as Python)
    // text_to_word_sequence("a-b c", split="-") -> ['a', 'b c']
    // text_to_word_sequence("xaybz", filters="y", split="ab") -> ['xa', 'bz']
    #[test]
    fn keras_text_to_word_sequence() {
        let d = TokenizerOptions::default();
        assert_eq!(
            text_to_word_sequence("Hello,World!!  foo--bar<br />BAZ ΣΑΣ", &d).unwrap(),
            ["hello", "world", "foo", "bar", "br", "baz", "σας"]
        );
        let dash = TokenizerOptions {
            split: "-".into(),
            ..TokenizerOptions::default()
        };
        assert_eq!(text_to_word_sequence("a-b c", &dash).unwrap(), ["a", "b c"]);
        let multi = TokenizerOptions {
            filters: "y".into(),
            split: "ab".into(),
            ..TokenizerOptions::default()
        };
        assert_eq!(
            text_to_word_sequence("xaybz", &multi).unwrap(),
            ["xa", "bz"]
        );
        let keep_case = TokenizerOptions {
            lower: false,
            ..TokenizerOptions::default()
        };
        assert_eq!(
            text_to_word_sequence("A b", &keep_case).unwrap(),
            ["A", "b"]
        );
        let empty = TokenizerOptions {
            split: String::new(),
            ..TokenizerOptions::default()
        };
        assert!(text_to_word_sequence("a", &empty).is_err());
        assert!(Tokenizer::new(empty).is_err());
    }

    #[test]
    fn strip_html_breaks_is_opt_in() {
        let text = "Great film.<br /><br />Loved it<BR />!";
        let d = TokenizerOptions::default();
        assert_eq!(
            text_to_word_sequence(text, &d).unwrap(),
            ["great", "film", "br", "br", "loved", "it", "br"]
        );
        let strip = TokenizerOptions {
            strip_html_breaks: true,
            ..TokenizerOptions::default()
        };
        assert_eq!(
            text_to_word_sequence(text, &strip).unwrap(),
            ["great", "film", "loved", "it"]
        );
    }

    #[test]
    fn fits_accumulate_like_keras() {
        // Keras keeps word_counts across calls and renumbers on each fit:
        // t.fit_on_texts(["b a"]); t.fit_on_texts(["a c c c"]) -> c: 1, a: 2, b: 3
        let mut t = tok(TokenizerOptions::default());
        t.fit_on_texts(&["b a"]);
        assert_eq!(t.word_index().get("b"), Some(&1));
        t.fit_on_texts(&["a c c c"]);
        assert_eq!(t.word_index().get("c"), Some(&1));
        assert_eq!(t.word_index().get("a"), Some(&2));
        assert_eq!(t.word_index().get("b"), Some(&3));
        assert_eq!(t.document_count(), 2);
    }

    proptest::proptest! {
        /// The one-pass fit-and-encode the IMDB loader uses gives exactly what
        /// `fit_on_texts` then `texts_to_sequences` give, with a vocabulary limit, an
        /// `oov_token` that may also be a word of the texts, and an earlier fit.
        #[test]
        fn fit_on_texts_to_sequences_equals_fit_then_encode(
            earlier in proptest::collection::vec("[abcAB ,.é]{0,12}", 0..3),
            texts in proptest::collection::vec("[abcAB ,.é]{0,12}", 0..8),
            num_words in proptest::option::of(0usize..6),
            oov in proptest::option::of(proptest::sample::select(vec!["a", "<oov>"])),
        ) {
            let mut want = tok(TokenizerOptions {
                num_words,
                oov_token: oov.map(str::to_string),
                ..TokenizerOptions::default()
            });
            want.fit_on_texts(&earlier);
            let mut got = want.clone();
            want.fit_on_texts(&texts);
            let sequences = got.fit_on_texts_to_sequences(&texts);
            proptest::prop_assert_eq!(sequences, want.texts_to_sequences(&texts));
            proptest::prop_assert_eq!(got.word_index(), want.word_index());
            proptest::prop_assert_eq!(got.word_counts(), want.word_counts());
            proptest::prop_assert_eq!(got.document_count(), want.document_count());
        }
    }

    #[test]
    fn options_serde_defaults() {
        let o: TokenizerOptions = serde_json::from_str(r#"{"num_words": 100}"#).unwrap();
        assert_eq!(o.num_words, Some(100));
        assert_eq!(o.filters, DEFAULT_FILTERS);
        assert!(o.lower && !o.strip_html_breaks);
        assert!(serde_json::from_str::<TokenizerOptions>(r#"{"lowercase": true}"#).is_err());
    }
}

//! Verbatim overlap of token sequences with a training corpus: which n-grams of a text occur
//! word for word in the corpus, and the longest span that does.

use crate::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;

/// Candidate corpus positions followed per n-gram when extending the longest span; a very
/// common n-gram's other occurrences are skipped (the span found is then a lower bound).
const MAX_CANDIDATES: usize = 256;

/// Turns words or characters into token ids shared by the corpus and the samples.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    ids: HashMap<String, u32>,
}

impl Vocabulary {
    /// An empty vocabulary.
    pub fn new() -> Self {
        Self::default()
    }

    /// `text`'s tokens: lower-cased whitespace-separated words when `words`, else characters.
    pub fn tokens(&mut self, text: &str, words: bool) -> Vec<u32> {
        let mut id = |s: String| {
            let next = self.ids.len() as u32;
            *self.ids.entry(s).or_insert(next)
        };
        if words {
            text.split_whitespace()
                .map(|w| id(w.to_lowercase()))
                .collect()
        } else {
            text.chars().map(|c| id(c.to_string())).collect()
        }
    }
}

/// Every n-gram of a corpus of documents, for verbatim look-ups. N-grams never cross a
/// document boundary.
#[derive(Debug, Clone)]
pub struct NgramIndex {
    n: usize,
    docs: Vec<Vec<u32>>,
    /// `(hash, doc, start)`, sorted.
    grams: Vec<(u64, u32, u32)>,
}

/// Where a verbatim span sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The sample it is in.
    pub sample: usize,
    /// Its first token in the sample.
    pub start: usize,
    /// Its length in tokens.
    pub len: usize,
    /// The training document it comes from.
    pub doc: usize,
    /// Its first token in that document.
    pub doc_start: usize,
}

/// How much of a set of texts occurs verbatim in the corpus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    /// The n-gram length.
    pub n: usize,
    /// N-grams in the texts.
    pub ngrams: usize,
    /// Those found verbatim in the corpus.
    pub verbatim: usize,
    /// `verbatim / ngrams` (0 when there are none).
    pub fraction: f64,
    /// The longest span found verbatim (at least `n` tokens), if any n-gram matched.
    pub longest: Option<Span>,
}

fn hash(gram: &[u32]) -> u64 {
    // FNV-1a over the ids' bytes: deterministic across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &t in gram {
        for b in t.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl NgramIndex {
    /// Indexes every `n`-gram of `docs`. Errors when `n` is 0.
    pub fn new(docs: Vec<Vec<u32>>, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("n-gram length", "0"));
        }
        let mut grams = Vec::new();
        for (d, doc) in docs.iter().enumerate() {
            for (s, w) in doc.windows(n).enumerate() {
                grams.push((hash(w), d as u32, s as u32));
            }
        }
        grams.sort_unstable();
        Ok(Self { n, docs, grams })
    }

    /// The n-gram length.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The corpus positions `(doc, start)` where `gram` (of length n) occurs.
    fn occurrences<'a>(&'a self, gram: &'a [u32]) -> impl Iterator<Item = (usize, usize)> + 'a {
        let h = hash(gram);
        let from = self.grams.partition_point(|g| g.0 < h);
        self.grams
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(move |g| g.0 == h)
            .map(|g| (g.1 as usize, g.2 as usize))
            .filter(move |&(d, s)| {
                self.docs.get(d).and_then(|doc| doc.get(s..s + gram.len())) == Some(gram)
            })
    }

    /// The tokens of training document `doc` from `start`, `len` of them.
    pub fn doc_tokens(&self, doc: usize, start: usize, len: usize) -> &[u32] {
        self.docs
            .get(doc)
            .and_then(|d| d.get(start..start + len))
            .unwrap_or_default()
    }

    /// How much of `samples` occurs verbatim in the corpus.
    pub fn overlap(&self, samples: &[Vec<u32>]) -> Overlap {
        let n = self.n;
        let (mut ngrams, mut verbatim) = (0, 0);
        let mut longest: Option<Span> = None;
        for (k, sample) in samples.iter().enumerate() {
            for (i, gram) in sample.windows(n).enumerate() {
                ngrams += 1;
                let mut hit = false;
                for (d, s) in self.occurrences(gram).take(MAX_CANDIDATES) {
                    hit = true;
                    let doc = self.docs.get(d).map(Vec::as_slice).unwrap_or_default();
                    let rest_a = sample.get(i..).unwrap_or_default();
                    let rest_b = doc.get(s..).unwrap_or_default();
                    let len = rest_a
                        .iter()
                        .zip(rest_b)
                        .take_while(|(a, b)| a == b)
                        .count();
                    if longest.as_ref().is_none_or(|l| len > l.len) {
                        longest = Some(Span {
                            sample: k,
                            start: i,
                            len,
                            doc: d,
                            doc_start: s,
                        });
                    }
                }
                verbatim += usize::from(hit);
            }
        }
        let fraction = if ngrams == 0 {
            0.0
        } else {
            verbatim as f64 / ngrams as f64
        };
        Overlap {
            n,
            ngrams,
            verbatim,
            fraction,
            longest,
        }
    }
}

/// Whether `generated`'s verbatim fraction exceeds `heldout`'s (real unseen text, the
/// baseline) by more than three binomial standard deviations of the generated n-gram count
/// and is more than twice it: the rule that flags a text model as copying.
pub fn copies_text(generated: &Overlap, heldout: &Overlap) -> bool {
    let p = heldout.fraction;
    let n = generated.ngrams.max(1) as f64;
    let sd = (p * (1.0 - p) / n).sqrt();
    generated.fraction > 2.0 * p && generated.fraction > p + 3.0 * sd.max(1.0 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_verbatim_ngrams_and_the_longest_span() {
        let corpus = vec![vec![1, 2, 3, 4, 5, 6], vec![7, 8, 9]];
        let index = NgramIndex::new(corpus, 3).unwrap();
        // Sample 0: [9, 2, 3, 4, 5, 0] has 4 trigrams; [2,3,4] and [3,4,5] are in doc 0.
        // Sample 1: [8, 9, 1] crosses the document boundary: not verbatim.
        let o = index.overlap(&[vec![9, 2, 3, 4, 5, 0], vec![8, 9, 1]]);
        assert_eq!((o.ngrams, o.verbatim), (5, 2));
        assert!((o.fraction - 0.4).abs() < 1e-12);
        assert_eq!(
            o.longest,
            Some(Span {
                sample: 0,
                start: 1,
                len: 4,
                doc: 0,
                doc_start: 1
            })
        );
        assert_eq!(index.doc_tokens(0, 1, 4), &[2, 3, 4, 5]);
        let none = index.overlap(&[vec![1, 2]]);
        assert_eq!((none.ngrams, none.fraction, none.longest), (0, 0.0, None));
    }

    #[test]
    fn words_are_lower_cased_and_shared() {
        let mut v = Vocabulary::new();
        assert_eq!(v.tokens("The cat  the", true), vec![0, 1, 0]);
        assert_eq!(v.tokens("ab a", false), vec![2, 3, 4, 2]);
    }

    #[test]
    fn the_copy_rule_needs_a_clear_excess() {
        let at = |fraction: f64, ngrams: usize| Overlap {
            n: 8,
            ngrams,
            verbatim: 0,
            fraction,
            longest: None,
        };
        assert!(copies_text(&at(0.5, 1000), &at(0.01, 1000)));
        assert!(!copies_text(&at(0.015, 1000), &at(0.01, 1000)));
        // Twice the baseline, but within noise of 50 n-grams.
        assert!(!copies_text(&at(0.04, 50), &at(0.02, 1000)));
        assert!(!copies_text(&at(0.0, 1000), &at(0.0, 1000)));
    }

    /// Random "documents" of a 40-token language: training text, held-out text, a model that
    /// copies training passages, and one that writes fresh text of the same language.
    #[test]
    fn a_copying_text_model_is_flagged_and_fresh_text_is_not() {
        let mut rng = crate::splitmix::SplitMix64::new(9);
        let mut doc = |len: usize| -> Vec<u32> { (0..len).map(|_| rng.below(40) as u32).collect() };
        let train: Vec<Vec<u32>> = (0..200).map(|_| doc(300)).collect();
        let heldout: Vec<Vec<u32>> = (0..50).map(|_| doc(100)).collect();
        let fresh: Vec<Vec<u32>> = (0..50).map(|_| doc(100)).collect();
        let copies: Vec<Vec<u32>> = (0..50).map(|i| train[i * 3][50..150].to_vec()).collect();
        let index = NgramIndex::new(train, 8).unwrap();
        let base = index.overlap(&heldout);
        let copied = index.overlap(&copies);
        assert_eq!(copied.fraction, 1.0);
        assert_eq!(copied.longest.as_ref().map(|s| s.len), Some(100));
        assert!(copies_text(&copied, &base));
        let honest = index.overlap(&fresh);
        assert!(!copies_text(&honest, &base), "{honest:?} {base:?}");
        // Half-copied samples: 50 of every 100 tokens come from training text.
        let half: Vec<Vec<u32>> = copies
            .iter()
            .zip(&fresh)
            .map(|(c, f)| c[..50].iter().chain(&f[50..]).copied().collect())
            .collect();
        assert!(copies_text(&index.overlap(&half), &base));
    }
}

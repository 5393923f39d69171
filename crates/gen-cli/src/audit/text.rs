//! The audit of language models: the fraction of generated n-grams (8 words, or 32 characters)
//! found verbatim in the training stream, against the same fraction for held-out test text of
//! the same lengths, and the longest verbatim span with where it comes from. Character models
//! are compared with each run of whitespace read as one space: indentation and blank lines
//! repeat throughout a corpus (the Canterbury texts have 60-space runs), so they are layout,
//! not content that a model could leak.

use super::AuditOptions;
use crate::config::{LanguageModelRun, TokenLevel};
use crate::lm::{self, Vocab};
use anyhow::{Result, bail};
use gen_data::memorisation::ngram::{NgramIndex, Overlap, copies_text};
use gen_models::{SamplingConfig, generate};
use serde::Serialize;
use std::path::Path;

/// Generated texts by default.
pub const DEFAULT_NUM: usize = 100;
/// The n-gram length for word models.
pub const WORD_N: usize = 8;
/// The n-gram length for character models.
pub const CHAR_N: usize = 32;

/// The text audit.
#[derive(Debug, Clone, Serialize)]
pub struct TextReport {
    /// `word` or `char`.
    pub level: String,
    /// Training tokens searched.
    pub train_tokens: usize,
    /// Verbatim n-grams of the generated texts.
    pub generated: Overlap,
    /// Verbatim n-grams of held-out test text cut to the generated lengths (the baseline).
    pub heldout: Overlap,
    /// The longest generated span found verbatim in the training text.
    pub longest_text: String,
    /// Whether the generated fraction clearly exceeds the held-out one
    /// (`gen_data::memorisation::ngram::copies_text`).
    pub copying: bool,
}

impl TextReport {
    /// Lines for people.
    pub fn summary(&self) -> String {
        let (g, h) = (&self.generated, &self.heldout);
        let longest = match &g.longest {
            Some(s) => format!(
                "longest verbatim span: {} tokens (sample {}, training token {}): {:?}\n",
                s.len,
                s.sample,
                s.doc_start,
                self.longest_text.chars().take(400).collect::<String>()
            ),
            None => "no generated n-gram occurs verbatim in the training text\n".to_string(),
        };
        format!(
            "{}-level {}-grams found verbatim in {} training tokens: {:.2}% of {} generated vs \
             {:.2}% of {} held-out\n{longest}",
            self.level,
            g.n,
            self.train_tokens,
            100.0 * g.fraction,
            g.ngrams,
            100.0 * h.fraction,
            h.ngrams
        )
    }
}

fn as_u32(ids: &[i64]) -> Vec<u32> {
    ids.iter()
        .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect()
}

/// Held-out pieces with the lengths of `samples`, spread evenly over `test`.
fn heldout_pieces(test: &[i64], lengths: &[usize]) -> Vec<Vec<u32>> {
    let k = lengths.len().max(1);
    let stride = test.len() / k;
    lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let start = (i * stride).min(test.len());
            as_u32(
                test.get(start..(start + len).min(test.len()))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// `ids` with each run of whitespace tokens replaced by one `space`.
fn collapse_whitespace(ids: &[i64], is_space: &[bool], space: i64) -> Vec<i64> {
    let blank = |id: i64| usize::try_from(id).ok().and_then(|i| is_space.get(i)) == Some(&true);
    let mut out = Vec::with_capacity(ids.len());
    let mut in_run = false;
    for &id in ids {
        if blank(id) {
            if !in_run {
                out.push(space);
            }
            in_run = true;
        } else {
            out.push(id);
            in_run = false;
        }
    }
    out
}

/// Audits `samples` (generated token ids) against the corpus; `vocab` decodes the longest span.
/// For character models, whitespace runs are collapsed first (see the module docs).
pub fn audit_samples(
    train: &[i64],
    test: &[i64],
    samples: &[Vec<i64>],
    vocab: &Vocab,
    level: TokenLevel,
) -> Result<TextReport> {
    let n = match level {
        TokenLevel::Word => WORD_N,
        TokenLevel::Char => CHAR_N,
    };
    let is_space: Vec<bool> = (0..vocab.len() as i64)
        .map(|id| {
            let piece = vocab.piece(id);
            !piece.is_empty() && piece.chars().all(char::is_whitespace)
        })
        .collect();
    let space = (0..vocab.len() as i64).find(|&id| vocab.piece(id) == " ");
    let collapse = |ids: &[i64]| match (level, space) {
        (TokenLevel::Char, Some(space)) => collapse_whitespace(ids, &is_space, space),
        _ => ids.to_vec(),
    };
    let (train, test) = (collapse(train), collapse(test));
    let samples: Vec<Vec<i64>> = samples.iter().map(|s| collapse(s)).collect();
    let index = NgramIndex::new(vec![as_u32(&train)], n)?;
    let generated_ids: Vec<Vec<u32>> = samples.iter().map(|s| as_u32(s)).collect();
    let lengths: Vec<usize> = samples.iter().map(Vec::len).collect();
    let generated = index.overlap(&generated_ids);
    let heldout = index.overlap(&heldout_pieces(&test, &lengths));
    let longest_text = generated
        .longest
        .as_ref()
        .map(|s| {
            index
                .doc_tokens(s.doc, s.doc_start, s.len)
                .iter()
                .map(|&t| vocab.piece(i64::from(t)))
                .collect::<String>()
        })
        .unwrap_or_default();
    Ok(TextReport {
        level: match level {
            TokenLevel::Word => "word",
            TokenLevel::Char => "char",
        }
        .into(),
        train_tokens: train.len(),
        copying: copies_text(&generated, &heldout),
        generated,
        heldout,
        longest_text,
    })
}

/// Audits the language-model run in `dir`: `num` samples from the run's prompt and sampling
/// settings with the given seed.
pub fn audit(
    run: &LanguageModelRun,
    dir: &Path,
    device: tch::Device,
    opts: &AuditOptions,
) -> Result<TextReport> {
    let num = opts.num.unwrap_or(DEFAULT_NUM);
    if num == 0 {
        bail!("--num must be at least 1");
    }
    let corpus = lm::read_corpus(run)?;
    let (task, vocab) = lm::trained(run, dir, device)?;
    let spec = &run.sample;
    let prompt = spec
        .prompt
        .clone()
        .unwrap_or_else(|| vocab.default_prompt().to_string());
    let sampling = SamplingConfig {
        seed: opts.seed,
        stop_token: spec.sampling.stop_token.or(vocab.stop_token()),
        ..spec.sampling.clone()
    };
    let ids = vocab.encode(&prompt)?;
    let samples = generate(&task.model, &ids, num, &sampling, |_, _| {})?;
    audit_samples(
        &corpus.train,
        &corpus.test,
        &samples,
        &vocab,
        run.data.level,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_runs_become_one_space() {
        // ids: 0 'a', 1 ' ', 2 '\n', 3 'b'
        let is_space = [false, true, true, false];
        assert_eq!(
            collapse_whitespace(&[1, 1, 0, 1, 2, 1, 3, 2], &is_space, 1),
            [1, 0, 1, 3, 1]
        );
        assert_eq!(collapse_whitespace(&[0, 3], &is_space, 1), [0, 3]);
        assert!(collapse_whitespace(&[], &is_space, 1).is_empty());
    }
}

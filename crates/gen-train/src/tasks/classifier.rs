//! Sequence classification: padded token ids with real lengths, and one label per sequence.

use super::Objective;
use crate::metrics::Metrics;
use crate::{Dataset, Error, Result};
use gen_core::{CrossEntropyOptions, accuracy, cross_entropy};
use gen_data::sequence::{PadOptions, Padding, pad_sequences};
use gen_models::{GruClassifier, Module};
use ndarray::{Array2, Axis};
use tch::{Device, Tensor};

/// A batch of token ids `[batch, time]`, real lengths `[batch]` and labels `[batch]`.
#[derive(Debug)]
pub struct TextBatch {
    /// Token ids, int64.
    pub tokens: Tensor,
    /// Real lengths (before padding), int64.
    pub lengths: Tensor,
    /// Class labels, int64.
    pub labels: Tensor,
}

/// Labelled sequences, padded once with Keras's `pad_sequences`.
///
/// With `padding = post`, each batch is cut to its longest real length, so a batch never runs
/// over columns that are padding in every row (with `pre` it keeps all `maxlen` columns).
#[derive(Debug)]
pub struct TextClassificationData {
    padded: Array2<i64>,
    lengths: Vec<usize>,
    labels: Vec<i64>,
    post: bool,
    device: Device,
}

impl TextClassificationData {
    /// Pads `sequences` with `pad` and keeps `labels` (one per sequence).
    pub fn new(
        sequences: &[Vec<i64>],
        labels: &[i64],
        pad: &PadOptions<i64>,
        device: Device,
    ) -> Result<Self> {
        if sequences.len() != labels.len() {
            return Err(Error::config(
                "data",
                format!("{} sequences but {} labels", sequences.len(), labels.len()),
            ));
        }
        let padded = pad_sequences(sequences, pad)?;
        let width = padded.ncols();
        let lengths = sequences.iter().map(|s| s.len().min(width)).collect();
        Ok(TextClassificationData {
            padded,
            lengths,
            labels: labels.to_vec(),
            post: pad.padding == Padding::Post,
            device,
        })
    }

    /// The padded ids `[n, maxlen]`, as Keras's `pad_sequences` returns them.
    pub fn padded(&self) -> &Array2<i64> {
        &self.padded
    }
}

impl Dataset for TextClassificationData {
    type Batch = TextBatch;

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<TextBatch> {
        let mut lengths = Vec::with_capacity(indices.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let (Some(&len), Some(&label)) = (self.lengths.get(i), self.labels.get(i)) else {
                return Err(Error::config(
                    "batch",
                    format!("index {i} out of range of {}", self.labels.len()),
                ));
            };
            lengths.push(len as i64);
            labels.push(label);
        }
        let width = if self.post {
            lengths.iter().copied().max().unwrap_or(1).max(1) as usize
        } else {
            self.padded.ncols()
        };
        let rows = self.padded.select(Axis(0), indices);
        let cut = rows
            .slice(ndarray::s![.., ..width.min(rows.ncols())])
            .to_owned();
        let tokens = gen_core::array_to_tensor(&cut)?.f_to_device(self.device)?;
        Ok(TextBatch {
            tokens,
            lengths: Tensor::f_from_slice(&lengths)?,
            labels: Tensor::f_from_slice(&labels)?.f_to_device(self.device)?,
        })
    }

    fn lengths(&self) -> Option<Vec<usize>> {
        Some(self.lengths.clone())
    }
}

impl Objective for GruClassifier {
    type Batch = TextBatch;

    fn forward_loss(&self, batch: &TextBatch, train: bool) -> Result<(Tensor, Metrics)> {
        let logits = self.forward_t((&batch.tokens, &batch.lengths), train)?;
        classification_loss(&logits, &batch.labels)
    }

    /// Trains through the GRU's hand-written backward pass (`GruClassifier::forward_taped`).
    fn backward_loss(&self, batch: &TextBatch) -> Result<Metrics> {
        let (logits, tapes) = self.forward_taped(&batch.tokens, &batch.lengths)?;
        let (loss, metrics) = classification_loss(&logits, &batch.labels)?;
        tapes.backward_after(&loss)?;
        Ok(metrics)
    }
}

/// The mean cross-entropy of `logits` against `labels`, with loss and accuracy metrics.
fn classification_loss(logits: &Tensor, labels: &Tensor) -> Result<(Tensor, Metrics)> {
    let loss = cross_entropy(logits, labels, &CrossEntropyOptions::default())?;
    let acc = accuracy(logits, labels, None)?;
    let n = acc.total as f64;
    let mut metrics = Metrics::new();
    metrics.add("loss", loss.f_double_value(&[])? * n, n);
    metrics.add("accuracy", acc.correct as f64, n);
    Ok((loss, metrics))
}

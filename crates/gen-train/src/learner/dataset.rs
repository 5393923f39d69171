//! What the trainer reads: indexed samples gathered into batches, and subsets of them.

use crate::{Error, Result};

/// Indexed samples that can be gathered into batches.
pub trait Dataset {
    /// What one batch is (e.g. padded token ids and labels as tensors).
    type Batch;
    /// The number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Gathers the samples `indices` into a batch.
    fn batch(&self, indices: &[usize]) -> Result<Self::Batch>;
    /// Per-sample lengths, for length bucketing. Default: none (bucketing unavailable).
    fn lengths(&self) -> Option<Vec<usize>> {
        None
    }
}

/// The samples `indices` of another dataset, in that order: a cross-validation fold, or any
/// subset, without copying the data.
#[derive(Debug)]
pub struct Subset<'a, D> {
    data: &'a D,
    indices: Vec<usize>,
}

impl<'a, D: Dataset> Subset<'a, D> {
    /// The samples `indices` of `data`; errors when an index is out of range.
    pub fn new(data: &'a D, indices: Vec<usize>) -> Result<Self> {
        if let Some(&i) = indices.iter().find(|&&i| i >= data.len()) {
            return Err(Error::config(
                "indices",
                format!("index {i} is out of range for {} samples", data.len()),
            ));
        }
        Ok(Subset { data, indices })
    }
}

impl<D: Dataset> Dataset for Subset<'_, D> {
    type Batch = D::Batch;

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<D::Batch> {
        let mapped = indices
            .iter()
            .map(|&i| {
                self.indices.get(i).copied().ok_or_else(|| {
                    Error::config(
                        "batch",
                        format!("index {i} is out of range for {} samples", self.len()),
                    )
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        self.data.batch(&mapped)
    }

    fn lengths(&self) -> Option<Vec<usize>> {
        let all = self.data.lengths()?;
        self.indices.iter().map(|&i| all.get(i).copied()).collect()
    }
}

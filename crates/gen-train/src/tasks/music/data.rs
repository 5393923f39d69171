//! The data: piano-rolls of any length, padded per batch.

use crate::{Dataset, Error, Result};
use gen_data::music::{KEYS, PianoRoll};
use tch::{Device, Tensor};

/// A batch of piano-rolls.
#[derive(Debug)]
pub struct RollBatch {
    /// Cells `[B, T, 88]`, float 0/1, silent after each roll's end (`T` is the batch's
    /// longest roll).
    pub rolls: Tensor,
    /// Real frames per roll `[B]`, int64.
    pub lengths: Tensor,
}

/// Piano-rolls, batched with padding.
#[derive(Debug, Clone)]
pub struct RollData {
    rolls: Vec<PianoRoll>,
    device: Device,
}

impl RollData {
    /// The rolls, in order; errors when one has no frames.
    pub fn new(rolls: Vec<PianoRoll>, device: Device) -> Result<Self> {
        if let Some(i) = rolls.iter().position(|r| r.frames() == 0) {
            return Err(Error::config("data", format!("roll {i} has no frames")));
        }
        Ok(RollData { rolls, device })
    }

    /// The rolls.
    pub fn rolls(&self) -> &[PianoRoll] {
        &self.rolls
    }
}

impl Dataset for RollData {
    type Batch = RollBatch;

    fn len(&self) -> usize {
        self.rolls.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<RollBatch> {
        let picked = indices
            .iter()
            .map(|&i| {
                self.rolls.get(i).ok_or_else(|| {
                    Error::config(
                        "batch",
                        format!("index {i} out of range of {} rolls", self.rolls.len()),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let longest = picked.iter().map(|r| r.frames()).max().unwrap_or(1).max(1);
        let mut cells = vec![0f32; picked.len() * longest * KEYS];
        for (roll, out) in picked.iter().zip(cells.chunks_mut(longest * KEYS)) {
            for (cell, &v) in out.iter_mut().zip(roll.view().iter()) {
                *cell = f32::from(v);
            }
        }
        let lengths: Vec<i64> = picked.iter().map(|r| r.frames() as i64).collect();
        Ok(RollBatch {
            rolls: Tensor::f_from_slice(&cells)?
                .f_view([picked.len() as i64, longest as i64, KEYS as i64])?
                .f_to_device(self.device)?,
            lengths: Tensor::f_from_slice(&lengths)?.f_to_device(self.device)?,
        })
    }

    fn lengths(&self) -> Option<Vec<usize>> {
        Some(self.rolls.iter().map(PianoRoll::frames).collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batches_pad_with_silence_and_keep_lengths() {
        let a = PianoRoll::from_cells(3, [(0, 60), (2, 64)]).unwrap();
        let b = PianoRoll::from_cells(1, [(0, 21)]).unwrap();
        let data = RollData::new(vec![a, b], Device::Cpu).unwrap();
        assert_eq!(data.lengths(), Some(vec![3, 1]));
        let batch = data.batch(&[1, 0]).unwrap();
        assert_eq!(batch.rolls.size(), [2, 3, 88]);
        assert_eq!(Vec::<i64>::try_from(&batch.lengths).unwrap(), [1, 3]);
        assert_eq!(batch.rolls.double_value(&[0, 0, 0]), 1.0);
        assert_eq!(batch.rolls.double_value(&[1, 2, 64 - 21]), 1.0);
        // Roll b is padded with two silent frames; 3 cells sound in all.
        assert_eq!(batch.rolls.sum(tch::Kind::Float).double_value(&[]), 3.0);
        assert!(data.batch(&[2]).is_err());
        assert!(RollData::new(vec![PianoRoll::silent(0)], Device::Cpu).is_err());
    }
}

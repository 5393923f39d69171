//! [`PianoRoll`]: which of the 88 piano keys sound in each frame.

use crate::{Error, Result};
use ndarray::{Array2, ArrayView1, ArrayView2};

/// Keys on the piano, and columns of a [`PianoRoll`].
pub const KEYS: usize = 88;
/// MIDI number of the lowest key, A0 (column 0).
pub const LOWEST_KEY: u8 = 21;
/// MIDI number of the highest key, C8 (column 87).
pub const HIGHEST_KEY: u8 = 108;

/// A piano-roll: `frames x 88` cells, 1 where the key sounds in that frame, else 0. Column `k` is
/// MIDI note `21 + k`. For the chorales a frame is a quarter note; a held note is 1 in every
/// frame that it sounds in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PianoRoll {
    cells: Array2<u8>,
}

/// A note of a piano-roll: a maximal run of frames in which one key sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RollNote {
    /// The first frame.
    pub start: usize,
    /// The MIDI note number (21..=108).
    pub key: u8,
    /// How many frames it lasts (at least 1).
    pub frames: usize,
}

impl PianoRoll {
    /// A roll from a `frames x 88` array of 0/1 cells; an error names the first other value or a
    /// wrong width.
    pub fn new(cells: Array2<u8>) -> Result<Self> {
        if cells.ncols() != KEYS {
            return Err(Error::invalid(
                "piano-roll",
                format!("{} columns, expected {KEYS} keys", cells.ncols()),
            ));
        }
        if let Some(((f, k), v)) = cells.indexed_iter().find(|(_, v)| **v > 1) {
            return Err(Error::invalid(
                "piano-roll",
                format!("cell (frame {f}, key {k}) is {v}, expected 0 or 1"),
            ));
        }
        Ok(Self { cells })
    }

    /// A silent roll of `frames` frames.
    pub fn silent(frames: usize) -> Self {
        Self {
            cells: Array2::zeros((frames, KEYS)),
        }
    }

    /// A roll of `frames` frames from `(frame, midi)` pairs that sound; an error names a pair
    /// outside the roll.
    pub fn from_cells(frames: usize, on: impl IntoIterator<Item = (usize, u8)>) -> Result<Self> {
        let mut roll = Self::silent(frames);
        for (frame, midi) in on {
            roll.set(frame, midi)?;
        }
        Ok(roll)
    }

    /// Turns key `midi` on in `frame`.
    pub fn set(&mut self, frame: usize, midi: u8) -> Result<()> {
        let column = key_column(midi)?;
        match self.cells.get_mut((frame, column)) {
            Some(cell) => {
                *cell = 1;
                Ok(())
            }
            None => Err(Error::invalid(
                "piano-roll frame",
                format!("frame {frame} is past the roll's {} frames", self.frames()),
            )),
        }
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.cells.nrows()
    }

    /// The `frames x 88` cells.
    pub fn view(&self) -> ArrayView2<'_, u8> {
        self.cells.view()
    }

    /// Frame `t`'s 88 cells, or `None` past the end.
    pub fn frame(&self, t: usize) -> Option<ArrayView1<'_, u8>> {
        (t < self.frames()).then(|| self.cells.row(t))
    }

    /// The cells, as an array.
    pub fn into_array(self) -> Array2<u8> {
        self.cells
    }

    /// The cells as `f32` 0.0/1.0, e.g. for a model's input.
    pub fn to_f32(&self) -> Array2<f32> {
        self.cells.mapv(f32::from)
    }

    /// Whether key `midi` sounds in `frame` (false outside the roll or the keyboard).
    pub fn is_on(&self, frame: usize, midi: u8) -> bool {
        key_column(midi)
            .ok()
            .and_then(|k| self.cells.get((frame, k)))
            .is_some_and(|&v| v == 1)
    }

    /// How many cells sound, over all frames.
    pub fn sounding(&self) -> usize {
        self.cells.iter().filter(|&&v| v == 1).count()
    }

    /// The notes: maximal runs of one key over consecutive frames, sorted by start then key.
    pub fn notes(&self) -> Vec<RollNote> {
        let mut notes = Vec::new();
        for (k, column) in self.cells.columns().into_iter().enumerate() {
            let key = LOWEST_KEY + k as u8;
            let mut start = None;
            for (t, &v) in column.iter().enumerate() {
                match (v == 1, start) {
                    (true, None) => start = Some(t),
                    (false, Some(s)) => {
                        notes.push(RollNote {
                            start: s,
                            key,
                            frames: t - s,
                        });
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                notes.push(RollNote {
                    start: s,
                    key,
                    frames: self.frames() - s,
                });
            }
        }
        notes.sort();
        notes
    }

    /// The lowest and highest sounding MIDI keys, or `None` for a silent roll.
    pub fn key_range(&self) -> Option<(u8, u8)> {
        let mut used = self
            .cells
            .columns()
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.iter().any(|&v| v == 1))
            .map(|(k, _)| LOWEST_KEY + k as u8);
        let low = used.next()?;
        Some((low, used.next_back().unwrap_or(low)))
    }

    /// The shifts (in semitones) that keep every note on the keyboard: `lo..=hi`, with
    /// `lo <= 0 <= hi`. A silent roll may move anywhere on the keyboard (`-87..=87`).
    pub fn transpose_range(&self) -> (i32, i32) {
        match self.key_range() {
            Some((low, high)) => (
                i32::from(LOWEST_KEY) - i32::from(low),
                i32::from(HIGHEST_KEY) - i32::from(high),
            ),
            None => (1 - KEYS as i32, KEYS as i32 - 1),
        }
    }

    /// The roll moved by `semitones` (positive is up); an error when a note would leave the
    /// keyboard (see [`PianoRoll::transpose_range`]).
    pub fn transposed(&self, semitones: i32) -> Result<Self> {
        let (lo, hi) = self.transpose_range();
        if semitones < lo || semitones > hi {
            return Err(Error::invalid(
                "transposition",
                format!("{semitones} semitones moves notes off the keyboard (allowed {lo}..={hi})"),
            ));
        }
        let mut out = Array2::zeros(self.cells.raw_dim());
        for ((t, k), &v) in self.cells.indexed_iter() {
            let to = k as i64 + i64::from(semitones);
            if v == 1 {
                if let Some(cell) = usize::try_from(to).ok().and_then(|c| out.get_mut((t, c))) {
                    *cell = 1;
                }
            }
        }
        Ok(Self { cells: out })
    }
}

/// The roll column of MIDI note `midi`, or an error outside 21..=108.
pub fn key_column(midi: u8) -> Result<usize> {
    if (LOWEST_KEY..=HIGHEST_KEY).contains(&midi) {
        Ok(usize::from(midi - LOWEST_KEY))
    } else {
        Err(Error::invalid(
            "MIDI key",
            format!("{midi} is off the piano (21..=108)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_runs_of_frames() {
        // C4 for frames 0-1, E4 at frame 1, C4 again at frame 3 (a new note).
        let roll = PianoRoll::from_cells(4, [(0, 60), (1, 60), (1, 64), (3, 60)]).unwrap();
        assert_eq!(
            roll.notes(),
            [
                RollNote {
                    start: 0,
                    key: 60,
                    frames: 2
                },
                RollNote {
                    start: 1,
                    key: 64,
                    frames: 1
                },
                RollNote {
                    start: 3,
                    key: 60,
                    frames: 1
                },
            ]
        );
        assert_eq!(roll.sounding(), 4);
        assert_eq!(roll.key_range(), Some((60, 64)));
        assert!(roll.is_on(1, 64) && !roll.is_on(2, 64) && !roll.is_on(9, 60));
        assert_eq!(roll.to_f32()[[0, 60 - 21]], 1.0);
    }

    #[test]
    fn transposition_stays_on_the_keyboard() {
        let roll = PianoRoll::from_cells(2, [(0, 21), (1, 100)]).unwrap();
        assert_eq!(roll.transpose_range(), (0, 8));
        let up = roll.transposed(8).unwrap();
        assert!(up.is_on(0, 29) && up.is_on(1, 108));
        assert!(roll.transposed(9).is_err() && roll.transposed(-1).is_err());
        assert_eq!(PianoRoll::silent(3).transpose_range(), (-87, 87));
    }

    #[test]
    fn rejects_bad_cells() {
        assert!(PianoRoll::new(Array2::zeros((2, 87))).is_err());
        let mut cells = Array2::zeros((2, KEYS));
        cells[[1, 3]] = 2;
        let err = PianoRoll::new(cells).unwrap_err().to_string();
        assert!(err.contains("frame 1, key 3"), "{err}");
        assert!(PianoRoll::from_cells(2, [(2, 60)]).is_err());
        assert!(PianoRoll::from_cells(2, [(0, 20)]).is_err());
    }
}

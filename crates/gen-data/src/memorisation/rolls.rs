//! The music audit: piano-roll windows of [`WINDOW_FRAMES`] frames compared by Hamming
//! distance (how many of the `frames x 88` cells differ).
//!
//! **Four bars.** A chorale frame is a quarter note ([`crate::music::roll`]), and most
//! chorales are in 4/4, so four bars are 16 frames (in 3/4 the same window spans 5 1/3 bars).
//!
//! Each generated roll and each held-out roll is cut into non-overlapping windows (frames
//! `0..16`, `16..32`, ...; a tail shorter than a window is dropped); the training rolls give a
//! window at *every* frame, so a copy is found at whatever offset it starts. Each query
//! window's distance to its nearest training window then goes into [`CopyTest`]: generated
//! against held-out.

use super::CopyTest;
use crate::music::{KEYS, LOWEST_KEY, PianoRoll, RollImageOptions, roll_image};
use crate::{Error, Result};
use image::{Rgb, RgbImage};
use serde::Serialize;

/// Frames per window: four bars of 4/4 at one frame per quarter note.
pub const WINDOW_FRAMES: usize = 16;

/// Windows of piano-rolls packed as bits (`frames x 88` cells, row-major), for Hamming
/// distances by `xor` and `popcount`.
#[derive(Debug, Clone)]
pub struct RollWindows {
    frames: usize,
    words: usize,
    bits: Vec<u64>,
    /// `(roll, first frame)` of each window.
    origin: Vec<(usize, usize)>,
}

impl RollWindows {
    /// The windows of `frames` frames starting every `hop` frames of each roll (a roll shorter
    /// than `frames` gives none). Errors on `frames` or `hop` of 0.
    pub fn new<'a>(
        rolls: impl IntoIterator<Item = &'a PianoRoll>,
        frames: usize,
        hop: usize,
    ) -> Result<Self> {
        if frames == 0 || hop == 0 {
            return Err(Error::invalid(
                "roll windows",
                format!("{frames} frames every {hop} frames: both must be at least 1"),
            ));
        }
        let cells = frames * KEYS;
        let words = cells.div_ceil(64);
        let mut out = Self {
            frames,
            words,
            bits: Vec::new(),
            origin: Vec::new(),
        };
        for (r, roll) in rolls.into_iter().enumerate() {
            let view = roll.view();
            let mut start = 0;
            while start + frames <= roll.frames() {
                let mut packed = vec![0u64; words];
                for t in 0..frames {
                    for k in 0..KEYS {
                        if view.get((start + t, k)).is_some_and(|&v| v == 1) {
                            let bit = t * KEYS + k;
                            if let Some(w) = packed.get_mut(bit / 64) {
                                *w |= 1 << (bit % 64);
                            }
                        }
                    }
                }
                out.bits.extend(packed);
                out.origin.push((r, start));
                start += hop;
            }
        }
        Ok(out)
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.origin.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.origin.is_empty()
    }

    /// Frames per window.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// `(roll, first frame)` of window `i`.
    pub fn origin(&self, i: usize) -> Option<(usize, usize)> {
        self.origin.get(i).copied()
    }

    fn window(&self, i: usize) -> &[u64] {
        self.bits
            .get(i * self.words..(i + 1) * self.words)
            .unwrap_or_default()
    }
}

/// The Hamming distance between two packed windows.
fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// For each window of `queries`, the Hamming distance to its nearest window of `refs` and
/// that window's index (the first one on ties). Errors when `refs` is empty or the window
/// lengths differ.
pub fn nearest_hamming(queries: &RollWindows, refs: &RollWindows) -> Result<Vec<(u32, usize)>> {
    if refs.is_empty() || refs.frames != queries.frames {
        return Err(Error::invalid(
            "training windows",
            format!(
                "{} windows of {} frames for queries of {} frames",
                refs.len(),
                refs.frames,
                queries.frames
            ),
        ));
    }
    Ok((0..queries.len())
        .map(|i| {
            let q = queries.window(i);
            let mut best = (u32::MAX, 0);
            for j in 0..refs.len() {
                let d = hamming(q, refs.window(j));
                if d < best.0 {
                    best = (d, j);
                    if d == 0 {
                        break;
                    }
                }
            }
            best
        })
        .collect())
}

/// A generated window and its nearest training window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollPair {
    /// The generated roll.
    pub generated: usize,
    /// The window's first frame in it.
    pub generated_start: usize,
    /// The training roll of the nearest window.
    pub train: usize,
    /// That window's first frame.
    pub train_start: usize,
    /// Cells that differ (of `frames x 88`).
    pub distance: u32,
}

/// The music audit of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollAudit {
    /// Frames per window.
    pub window_frames: usize,
    /// Training windows searched (one at every frame).
    pub train_windows: usize,
    /// Hamming distances to the nearest training window, generated against held-out windows.
    pub test: CopyTest,
    /// The generated windows closest to a training window, closest first.
    pub closest: Vec<RollPair>,
    /// Whether the model is flagged as copying ([`CopyTest::copying`]).
    pub copying: bool,
}

/// Audits `generated` rolls against the `train` rolls they might copy, with `heldout` real
/// rolls as the baseline, over windows of [`WINDOW_FRAMES`] frames; the threshold is the
/// held-out distances' `q`-quantile; keeps the `pairs` closest generated/training pairs.
/// Errors when the generated or held-out rolls give no window, or the training rolls none.
pub fn audit_rolls(
    train: &[PianoRoll],
    heldout: &[PianoRoll],
    generated: &[PianoRoll],
    q: f64,
    pairs: usize,
) -> Result<RollAudit> {
    let f = WINDOW_FRAMES;
    let refs = RollWindows::new(train, f, 1)?;
    let gen_w = RollWindows::new(generated, f, f)?;
    let held_w = RollWindows::new(heldout, f, f)?;
    for (name, w) in [
        ("training rolls", &refs),
        ("generated rolls", &gen_w),
        ("held-out rolls", &held_w),
    ] {
        if w.is_empty() {
            return Err(Error::invalid(
                name,
                format!("none has the {f} frames (4 bars) of one window"),
            ));
        }
    }
    let gen_nn = nearest_hamming(&gen_w, &refs)?;
    let held_nn = nearest_hamming(&held_w, &refs)?;
    let dist = |v: &[(u32, usize)]| v.iter().map(|p| f64::from(p.0)).collect::<Vec<_>>();
    let test = CopyTest::new(&dist(&gen_nn), &dist(&held_nn), q)?;
    let mut closest: Vec<RollPair> = gen_nn
        .iter()
        .enumerate()
        .filter_map(|(i, &(distance, j))| {
            let (g, gs) = gen_w.origin(i)?;
            let (t, ts) = refs.origin(j)?;
            Some(RollPair {
                generated: g,
                generated_start: gs,
                train: t,
                train_start: ts,
                distance,
            })
        })
        .collect();
    closest.sort_by_key(|p| p.distance);
    closest.truncate(pairs);
    Ok(RollAudit {
        window_frames: f,
        train_windows: refs.len(),
        copying: test.copying,
        test,
        closest,
    })
}

/// Frames of silence between the two windows of a pair in [`pairs_image`] (a whole bar, so
/// that the bar lines of both halves line up).
const GAP_FRAMES: usize = 4;
/// Pixels between pairs in [`pairs_image`].
const PAIR_GAP_PX: u32 = 6;

/// Keys drawn above the highest and below the lowest sounding key of [`pairs_image`].
const MARGIN_KEYS: usize = 2;

/// The closest pairs drawn one under the other: each row is the generated window on the left
/// and its nearest training window on the right ([`roll_image`]), every row over the same keys
/// (the lowest to the highest sounding in any pair, and two more each side) so that pitch
/// lines up; rows apart by a white band.
pub fn pairs_image(
    generated: &[PianoRoll],
    train: &[PianoRoll],
    closest: &[RollPair],
) -> Result<RgbImage> {
    let f = WINDOW_FRAMES;
    let options = RollImageOptions {
        frame_width: 4,
        key_height: 2,
        margin_keys: None,
    };
    let mut rows = Vec::with_capacity(closest.len());
    let (mut low, mut high) = (KEYS, 0);
    for p in closest {
        let window = |rolls: &[PianoRoll], r: usize, start: usize| -> Result<PianoRoll> {
            let roll = rolls.get(r).ok_or_else(|| {
                Error::invalid("closest pairs", format!("roll {r} is not in the set"))
            })?;
            let cells = roll
                .view()
                .slice(ndarray::s![start..(start + f).min(roll.frames()), ..])
                .to_owned();
            PianoRoll::new(cells)
        };
        let g = window(generated, p.generated, p.generated_start)?;
        let t = window(train, p.train, p.train_start)?;
        let mut joined = PianoRoll::silent(2 * f + GAP_FRAMES);
        for (offset, part) in [(0, &g), (f + GAP_FRAMES, &t)] {
            for note in part.notes() {
                for d in 0..note.frames {
                    joined.set(offset + note.start + d, note.key)?;
                }
            }
        }
        if let Some((lo, hi)) = joined.key_range() {
            low = low.min(usize::from(lo - LOWEST_KEY));
            high = high.max(usize::from(hi - LOWEST_KEY));
        }
        rows.push(roll_image(&joined, &options)?);
    }
    let Some(first) = rows.first() else {
        return Err(Error::invalid("closest pairs", "none to draw"));
    };
    // Row `r` of the full image shows key column `KEYS - 1 - r / key_height`.
    let kh = options.key_height;
    let (top, bottom) = if low <= high {
        (
            (KEYS - 1).saturating_sub(high + MARGIN_KEYS),
            (KEYS - 1).saturating_sub(low.saturating_sub(MARGIN_KEYS)),
        )
    } else {
        (0, KEYS - 1)
    };
    let (y0, h) = (top as u32 * kh, (bottom - top + 1) as u32 * kh);
    let w = first.width();
    let rows: Vec<RgbImage> = rows
        .iter()
        .map(|r| image::imageops::crop_imm(r, 0, y0, w, h).to_image())
        .collect();
    let n = rows.len() as u32;
    let mut img = RgbImage::from_pixel(w, n * h + (n - 1) * PAIR_GAP_PX, Rgb([255, 255, 255]));
    for (i, row) in rows.iter().enumerate() {
        image::imageops::replace(&mut img, row, 0, i64::from(i as u32 * (h + PAIR_GAP_PX)));
    }
    Ok(img)
}

/// Writes [`pairs_image`] to the PNG file `path`.
pub fn write_pairs_png(
    path: &std::path::Path,
    generated: &[PianoRoll],
    train: &[PianoRoll],
    closest: &[RollPair],
) -> Result<()> {
    pairs_image(generated, train, closest)?
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::format(path, "PNG", e.to_string()))
}

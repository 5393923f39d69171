//! A piano-roll as a picture: time to the right, pitch upwards.

use super::roll::{KEYS, PianoRoll};
use crate::{Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// How a roll is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct RollImageOptions {
    /// Pixels per frame, across. Default 6.
    pub frame_width: u32,
    /// Pixels per key, up. Default 3.
    pub key_height: u32,
    /// Draw only the keys from the lowest to the highest sounding one, plus this many on each
    /// side; `None` draws all 88. Default `Some(2)`.
    pub margin_keys: Option<u8>,
}

impl Default for RollImageOptions {
    fn default() -> Self {
        Self {
            frame_width: 6,
            key_height: 3,
            margin_keys: Some(2),
        }
    }
}

const BACKGROUND: Rgb<u8> = Rgb([250, 250, 247]);
/// Every C, and every fourth frame (a 4/4 bar at quarter-note frames).
const GUIDE: Rgb<u8> = Rgb([222, 222, 215]);
const NOTE: Rgb<u8> = Rgb([32, 64, 140]);
/// The first frame of each note, so repeated notes stay apart.
const ONSET: Rgb<u8> = Rgb([200, 80, 40]);

/// The roll drawn as an image: one column of `frame_width` pixels per frame, one row of
/// `key_height` pixels per key, high keys at the top; light lines at every C and every fourth
/// frame; each note dark blue, its first pixel column orange.
pub fn roll_image(roll: &PianoRoll, options: &RollImageOptions) -> Result<RgbImage> {
    let (fw, kh) = (options.frame_width, options.key_height);
    if !(1..=64).contains(&fw) || !(1..=64).contains(&kh) {
        return Err(Error::invalid(
            "roll image",
            format!("frame_width {fw} and key_height {kh} must be in 1..=64"),
        ));
    }
    let last_key = KEYS as u8 - 1;
    let (low, high) = match (options.margin_keys, roll.key_range()) {
        (Some(m), Some((lo, hi))) => (
            (lo - super::roll::LOWEST_KEY).saturating_sub(m),
            (hi - super::roll::LOWEST_KEY)
                .saturating_add(m)
                .min(last_key),
        ),
        _ => (0, last_key),
    };
    let rows = u32::from(high - low) + 1;
    let frames = u32::try_from(roll.frames())
        .ok()
        .filter(|&f| u64::from(f) * u64::from(fw) <= 1 << 16)
        .ok_or_else(|| {
            Error::invalid(
                "roll image",
                format!("{} frames are too wide to draw", roll.frames()),
            )
        })?;
    let mut img = RgbImage::from_pixel(frames.max(1) * fw, rows * kh, BACKGROUND);
    let y_of = |column: u8| (u32::from(high - column)) * kh;
    for column in low..=high {
        // MIDI 21 + column is a C when (21 + column) % 12 == 0.
        if (21 + u32::from(column)) % 12 == 0 {
            fill(&mut img, 0, y_of(column) + kh - 1, frames * fw, 1, GUIDE);
        }
    }
    for t in (0..frames).step_by(4) {
        fill(&mut img, t * fw, 0, 1, rows * kh, GUIDE);
    }
    for note in roll.notes() {
        let column = note.key - super::roll::LOWEST_KEY;
        let (x, y) = (note.start as u32 * fw, y_of(column));
        fill(&mut img, x, y, note.frames as u32 * fw, kh, NOTE);
        fill(&mut img, x, y, 1, kh, ONSET);
    }
    Ok(img)
}

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: Rgb<u8>) {
    for yy in y..y.saturating_add(h).min(img.height()) {
        for xx in x..x.saturating_add(w).min(img.width()) {
            img.put_pixel(xx, yy, colour);
        }
    }
}

/// Writes [`roll_image`] to the PNG file `path`.
pub fn write_roll_png(path: &Path, roll: &PianoRoll, options: &RollImageOptions) -> Result<()> {
    roll_image(roll, options)?
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::format(path, "PNG", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_land_where_expected() {
        // C4 for frames 0-1 and E4 at frame 2; keys C4-2 .. E4+2 drawn (9 rows).
        let roll = PianoRoll::from_cells(3, [(0, 60), (1, 60), (2, 64)]).unwrap();
        let options = RollImageOptions::default();
        let img = roll_image(&roll, &options).unwrap();
        assert_eq!(img.dimensions(), (3 * 6, 9 * 3));
        // E4 is row 2 from the top (E4+2, E4+1, E4), C4 row 6.
        assert_eq!(*img.get_pixel(2 * 6, 2 * 3), ONSET);
        assert_eq!(*img.get_pixel(2 * 6 + 3, 2 * 3 + 1), NOTE);
        assert_eq!(*img.get_pixel(6 + 3, 6 * 3), NOTE);
        // A held note has one onset.
        assert_eq!(*img.get_pixel(6, 6 * 3 + 1), NOTE);
        assert_eq!(*img.get_pixel(2 * 6 + 3, 6 * 3 + 1), BACKGROUND);

        let all = RollImageOptions {
            margin_keys: None,
            ..options
        };
        assert_eq!(roll_image(&roll, &all).unwrap().height(), 88 * 3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roll.png");
        write_roll_png(&path, &roll, &all).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back, roll_image(&roll, &all).unwrap());
    }

    #[test]
    fn silent_and_empty_rolls_draw() {
        let img = roll_image(&PianoRoll::silent(0), &RollImageOptions::default()).unwrap();
        assert_eq!(img.dimensions(), (6, 88 * 3));
    }
}

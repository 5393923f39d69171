//! Image grids as PNG files, for sample previews.

use crate::checkpoint::write_atomic;
use crate::{Error, Result};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Pixels of black padding around and between the images of a grid (torchvision's default).
pub const GRID_PADDING: usize = 2;

/// Maps a value in `[-1, 1]` to a byte: `round((x + 1) * 127.5)`, clamped to `0..=255`
/// (values outside `[-1, 1]` saturate; NaN maps to 0).
pub fn to_byte(x: f32) -> u8 {
    ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Lays `images` `[n, c, h, w]` (`c` = 1 for grey or 3 for RGB, values in `[-1, 1]`) out in
/// rows of `nrow` images, like torchvision's `make_grid(nrow=nrow, padding=2, pad_value=0)`,
/// and returns `(bytes, width, height, channels)`: row-major pixels, channels interleaved.
///
/// Image `k` sits at row `k / nrow`, column `k % nrow`, its top-left pixel at
/// `x = 2 + col (w + 2)`, `y = 2 + row (h + 2)`; the grid is
/// `nrow (w + 2) + 2` by `ceil(n / nrow) (h + 2) + 2` pixels (`min(n, nrow)` columns).
pub fn grid_pixels(images: &Tensor, nrow: usize) -> Result<(Vec<u8>, usize, usize, usize)> {
    let size = images.size();
    let (n, c, h, w) = match size.as_slice() {
        [n, c, h, w] if (*c == 1 || *c == 3) && *n > 0 && *h > 0 && *w > 0 => {
            (*n as usize, *c as usize, *h as usize, *w as usize)
        }
        _ => {
            return Err(Error::config(
                "grid images",
                format!("expected [n >= 1, 1 or 3, h, w], got shape {size:?}"),
            ));
        }
    };
    if nrow == 0 {
        return Err(Error::config("grid nrow", "must be at least 1"));
    }
    let values: Vec<f32> = Vec::<f32>::try_from(
        &images
            .f_detach()?
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?
            .f_reshape([-1])?,
    )?;
    let cols = nrow.min(n);
    let rows = n.div_ceil(nrow);
    let p = GRID_PADDING;
    let width = cols * (w + p) + p;
    let height = rows * (h + p) + p;
    let mut bytes = vec![0u8; width * height * c];
    for k in 0..n {
        let (x0, y0) = (p + (k % nrow) * (w + p), p + (k / nrow) * (h + p));
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let src = ((k * c + ch) * h + y) * w + x;
                    let dst = ((y0 + y) * width + x0 + x) * c + ch;
                    if let (Some(v), Some(d)) = (values.get(src), bytes.get_mut(dst)) {
                        *d = to_byte(*v);
                    }
                }
            }
        }
    }
    Ok((bytes, width, height, c))
}

/// Writes `images` `[n, c, h, w]` in `[-1, 1]` as one PNG grid of `nrow` images per row
/// (see [`grid_pixels`]) to `path`, through a temporary file and a rename. Grey for one
/// channel, RGB for three.
pub fn grid_png(images: &Tensor, nrow: usize, path: &Path) -> Result<()> {
    let (bytes, width, height, channels) = grid_pixels(images, nrow)?;
    let color = if channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    let too_large = || Error::config("grid", format!("{width}x{height} pixels is too large"));
    let (w, h) = (
        u32::try_from(width).map_err(|_| too_large())?,
        u32::try_from(height).map_err(|_| too_large())?,
    );
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&bytes, w, h, color)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_map_minus_one_to_black_and_one_to_white() {
        assert_eq!(to_byte(-1.0), 0);
        assert_eq!(to_byte(1.0), 255);
        // (0 + 1) * 127.5 = 127.5 rounds away from zero.
        assert_eq!(to_byte(0.0), 128);
        assert_eq!(to_byte(-7.0), 0);
        assert_eq!(to_byte(3.0), 255);
        assert_eq!(to_byte(f32::NAN), 0);
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(grid_pixels(&Tensor::zeros([2, 2, 4, 4], (Kind::Float, Device::Cpu)), 2).is_err());
        assert!(grid_pixels(&Tensor::zeros([4, 4], (Kind::Float, Device::Cpu)), 2).is_err());
        assert!(grid_pixels(&Tensor::zeros([1, 1, 4, 4], (Kind::Float, Device::Cpu)), 0).is_err());
    }
}

//! Overlay plots of real and generated trajectories, as PNG.

use super::report::TrajectoryReport;
use crate::checkpoint::write_atomic;
use crate::{Error, Result};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use ndarray::Array2;
use std::path::Path;

/// One panel of an overlay plot: trajectories drawn in colour layers, bottom to top.
#[derive(Debug, Clone, Default)]
pub struct OverlayPanel {
    /// Real demonstrations (drawn grey-blue).
    pub real: Vec<Array2<f64>>,
    /// A highlighted real demonstration, e.g. the held-out one (drawn black).
    pub highlight: Option<Array2<f64>>,
    /// Generated trajectories (drawn red).
    pub generated: Vec<Array2<f64>>,
}

impl OverlayPanel {
    /// The panel of shape `i` of `report`: training demos, the held-out demo highlighted, and
    /// the samples that start at its first point.
    pub fn from_report(report: &TrajectoryReport, i: usize) -> Option<Self> {
        let t = report.trajectories.get(i)?;
        Some(OverlayPanel {
            real: t.train.clone(),
            highlight: Some(t.heldout.clone()),
            generated: t.samples.clone(),
        })
    }
}

const BACKGROUND: [u8; 3] = [255, 255, 255];
const REAL: [u8; 3] = [120, 150, 200];
const HIGHLIGHT: [u8; 3] = [0, 0, 0];
const GENERATED: [u8; 3] = [220, 30, 30];
const TARGET: [u8; 3] = [0, 160, 0];
const BORDER: [u8; 3] = [200, 200, 200];

/// Draws `panels` in a grid of `columns` panels of `panel_px` square pixels each and returns
/// `(rgb bytes, width, height)`. Each panel fits its own trajectories (equal scale on both
/// axes, 8% margin, y up), marks the target `(0, 0)` with a green cross and has a light grey
/// border. Lines are 2 pixels wide.
pub fn overlay_pixels(
    panels: &[OverlayPanel],
    columns: usize,
    panel_px: usize,
) -> Result<(Vec<u8>, usize, usize)> {
    if panels.is_empty() || columns == 0 || panel_px < 16 {
        return Err(Error::config(
            "overlay",
            format!(
                "needs panels, columns >= 1 and panel_px >= 16 (got {}, {columns}, {panel_px})",
                panels.len()
            ),
        ));
    }
    let cols = columns.min(panels.len());
    let rows = panels.len().div_ceil(columns);
    let (width, height) = (cols * panel_px, rows * panel_px);
    let mut canvas = Canvas {
        bytes: vec![255; width * height * 3],
        width,
        height,
    };
    for (k, panel) in panels.iter().enumerate() {
        let (x0, y0) = ((k % columns) * panel_px, (k / columns) * panel_px);
        canvas.fill_rect(x0, y0, panel_px, panel_px, BACKGROUND);
        let all: Vec<&Array2<f64>> = panel
            .real
            .iter()
            .chain(panel.highlight.iter())
            .chain(panel.generated.iter())
            .collect();
        let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for t in &all {
            for p in t.outer_iter() {
                let (x, y) = (
                    p.get(0).copied().unwrap_or(0.0),
                    p.get(1).copied().unwrap_or(0.0),
                );
                if x.is_finite() && y.is_finite() {
                    lo_x = lo_x.min(x);
                    hi_x = hi_x.max(x);
                    lo_y = lo_y.min(y);
                    hi_y = hi_y.max(y);
                }
            }
        }
        let span = (hi_x - lo_x).max(hi_y - lo_y).max(1e-9) * 1.16;
        let (cx, cy) = ((lo_x + hi_x) / 2.0, (lo_y + hi_y) / 2.0);
        let px = panel_px as f64;
        let to_px = |x: f64, y: f64| -> (f64, f64) {
            (
                x0 as f64 + (0.5 + (x - cx) / span) * (px - 1.0),
                y0 as f64 + (0.5 - (y - cy) / span) * (px - 1.0),
            )
        };
        let mut draw = |t: &Array2<f64>, color: [u8; 3]| {
            let pts: Vec<(f64, f64)> = t
                .outer_iter()
                .map(|p| {
                    to_px(
                        p.get(0).copied().unwrap_or(0.0),
                        p.get(1).copied().unwrap_or(0.0),
                    )
                })
                .collect();
            for w in pts.windows(2) {
                if let [a, b] = w {
                    canvas.line(*a, *b, color, (x0, y0, panel_px));
                }
            }
        };
        for t in &panel.real {
            draw(t, REAL);
        }
        if let Some(h) = &panel.highlight {
            draw(h, HIGHLIGHT);
        }
        for t in &panel.generated {
            draw(t, GENERATED);
        }
        let (tx, ty) = to_px(0.0, 0.0);
        let arm = (panel_px as f64 / 40.0).max(3.0);
        canvas.line((tx - arm, ty), (tx + arm, ty), TARGET, (x0, y0, panel_px));
        canvas.line((tx, ty - arm), (tx, ty + arm), TARGET, (x0, y0, panel_px));
        for i in 0..panel_px {
            for (x, y) in [
                (x0 + i, y0),
                (x0 + i, y0 + panel_px - 1),
                (x0, y0 + i),
                (x0 + panel_px - 1, y0 + i),
            ] {
                canvas.set(x, y, BORDER);
            }
        }
    }
    Ok((canvas.bytes, width, height))
}

/// Writes [`overlay_pixels`] as an RGB PNG to `path` (through a temporary file), creating
/// the folder when needed.
pub fn write_overlay_png(
    path: &Path,
    panels: &[OverlayPanel],
    columns: usize,
    panel_px: usize,
) -> Result<()> {
    let (bytes, width, height) = overlay_pixels(panels, columns, panel_px)?;
    let too_large = || Error::config("overlay", format!("{width}x{height} pixels is too large"));
    let (w, h) = (
        u32::try_from(width).map_err(|_| too_large())?,
        u32::try_from(height).map_err(|_| too_large())?,
    );
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&bytes, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_atomic(path, &png)
}

/// An RGB canvas with clipped, 2-pixel-wide line drawing.
struct Canvas {
    bytes: Vec<u8>,
    width: usize,
    height: usize,
}

impl Canvas {
    fn set(&mut self, x: usize, y: usize, color: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            if let Some(px) = self.bytes.get_mut(i..i + 3) {
                px.copy_from_slice(&color);
            }
        }
    }

    fn fill_rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, color: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.set(x, y, color);
            }
        }
    }

    /// A line from `a` to `b` (pixel coordinates), sampled every half pixel, each sample
    /// painting a 2x2 block; clipped to the panel `(x0, y0, size)`.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: [u8; 3], clip: (usize, usize, usize)) {
        let (cx, cy, size) = clip;
        if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
            return;
        }
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0)
            .ceil()
            .min(1e5) as usize
            + 1;
        for i in 0..=steps {
            let f = i as f64 / steps as f64;
            let (x, y) = (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1));
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                let (px, py) = ((x + dx - 0.5).round(), (y + dy - 0.5).round());
                if px >= cx as f64
                    && py >= cy as f64
                    && px < (cx + size) as f64
                    && py < (cy + size) as f64
                {
                    self.set(px as usize, py as usize, color);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn pixel(bytes: &[u8], width: usize, x: usize, y: usize) -> [u8; 3] {
        let i = (y * width + x) * 3;
        [bytes[i], bytes[i + 1], bytes[i + 2]]
    }

    /// A horizontal generated line from (-1, 0) to (1, 0) crosses the middle row of the
    /// panel; its ends sit at the 8% margins; the target cross is green, the border grey.
    #[test]
    fn overlay_draws_where_the_points_are() {
        let panel = OverlayPanel {
            generated: vec![array![[-1.0, 0.0], [1.0, 0.0]]],
            ..Default::default()
        };
        let (bytes, w, h) = overlay_pixels(&[panel.clone(), panel], 2, 101).unwrap();
        assert_eq!((w, h), (202, 101));
        assert_eq!(bytes.len(), 202 * 101 * 3);
        // Span 2 * 1.16; x = -1 maps to (0.5 - 1 / 2.32) * 100 = 6.9 pixels.
        let row = 50;
        assert_eq!(pixel(&bytes, w, 10, row), GENERATED);
        assert_eq!(pixel(&bytes, w, 90, row), GENERATED);
        assert_eq!(pixel(&bytes, w, 3, row), BACKGROUND);
        assert_eq!(pixel(&bytes, w, 50, 20), BACKGROUND);
        // The target cross at the centre, drawn over the line.
        assert_eq!(pixel(&bytes, w, 50, 47), TARGET);
        assert_eq!(pixel(&bytes, w, 0, 0), BORDER);
        // The second panel is the same, shifted right by one panel.
        assert_eq!(pixel(&bytes, w, 101 + 10, row), GENERATED);
        assert!(overlay_pixels(&[], 2, 100).is_err());
        assert!(overlay_pixels(&[OverlayPanel::default()], 0, 100).is_err());
    }
}

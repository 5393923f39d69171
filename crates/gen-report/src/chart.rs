//! Line charts as inline SVG: one per metric, every run's training and validation curves.

use crate::html::escape;
use std::fmt::Write;

/// One curve: `(x, y)` points in order; a non-finite `y` breaks the line.
pub struct Series {
    /// The legend's label.
    pub label: String,
    /// The stroke colour (`#rrggbb`).
    pub colour: &'static str,
    /// Drawn dashed (validation curves).
    pub dashed: bool,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// The run colours: matplotlib's `tab10`, in order.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const WIDTH: f64 = 460.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 34.0;

/// An SVG chart of `series` titled `metric`, x being the epoch. Each series is a `polyline`
/// (one per unbroken stretch) with a dot per point, so a one-epoch run still shows.
pub fn line_chart(metric: &str, series: &[Series]) -> String {
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let (mut x0, mut x1) = bounds(finite().map(|p| p.0));
    let (mut y0, mut y1) = bounds(finite().map(|p| p.1));
    if x1 <= x0 {
        (x0, x1) = (x0 - 1.0, x1 + 1.0);
    }
    if y1 <= y0 {
        let pad = if y0 == 0.0 { 1.0 } else { y0.abs() * 0.1 };
        (y0, y1) = (y0 - pad, y1 + pad);
    }
    let pad = (y1 - y0) * 0.05;
    (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT);
    let py = |y: f64| HEIGHT - BOTTOM - (y - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM);

    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg class="chart" data-metric="{m}" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{m}</title><text x="{tx}" y="17" class="title">{m}</text>"##,
        m = escape(metric),
        tx = WIDTH / 2.0,
    );
    let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
    for y in ticks(y0, y1, 5) {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{p:.1}" x2="{right}" y2="{p:.1}" class="grid"/><text x="{lx}" y="{ty:.1}" class="ytick">{label}</text>"##,
            p = py(y),
            lx = LEFT - 6.0,
            ty = py(y) + 4.0,
            label = format_tick(y),
        );
    }
    for x in ticks(x0, x1, 8).into_iter().filter(|x| x.fract() == 0.0) {
        let _ = write!(
            svg,
            r##"<text x="{p:.1}" y="{ty}" class="xtick">{x}</text>"##,
            p = px(x),
            ty = bottom + 16.0,
        );
    }
    let _ = write!(
        svg,
        r##"<path d="M{LEFT} {TOP}V{bottom}H{right}" class="axis"/><text x="{cx}" y="{ly}" class="xlabel">epoch</text>"##,
        cx = (LEFT + right) / 2.0,
        ly = HEIGHT - 3.0,
    );
    for s in series {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        for stretch in s.points.split(|(x, y)| !(x.is_finite() && y.is_finite())) {
            if stretch.is_empty() {
                continue;
            }
            let points: Vec<String> = stretch
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}><title>{}</title></polyline>"##,
                points.join(" "),
                s.colour,
                escape(&s.label),
            );
            for &(x, y) in stretch {
                let _ = write!(
                    svg,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{} epoch {x}: {y}</title></circle>"##,
                    px(x),
                    py(y),
                    s.colour,
                    escape(&s.label),
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The smallest and largest of `values`; `(0, 1)` when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi { (0.0, 1.0) } else { (lo, hi) }
}

/// Round tick positions in `[lo, hi]`, about `n` of them: steps of 1, 2 or 5 times a power of
/// ten.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let raw = (hi - lo) / n.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return vec![lo];
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label: at most four significant digits, without trailing zeros.
fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e4 || v.abs() < 1e-3 {
        return format!("{v:.2e}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(1.0, 10.0, 8), [2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(1234.6), "1235");
        assert_eq!(format_tick(2e-5), "2.00e-5");
    }

    #[test]
    fn points_map_into_the_plot_area_and_nan_breaks_the_line() {
        let s = Series {
            label: "a".into(),
            colour: PALETTE[0],
            dashed: false,
            points: vec![(1.0, 1.0), (2.0, f64::NAN), (3.0, 3.0), (4.0, 2.0)],
        };
        let svg = line_chart("loss", &[s]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3);
        // x 1..4 spans the plot (62..448); y 1..3, padded by 5% to 0.9..3.1, spans 216..26.
        assert!(svg.contains(r#"points="62.0,207.4""#), "{svg}");
        assert!(svg.contains(r#"points="319.3,34.6 448.0,121.0""#), "{svg}");
    }
}

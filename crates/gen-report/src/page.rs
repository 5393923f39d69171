//! [`render`]: the page, section by section.

use crate::chart::{PALETTE, Series, line_chart};
use crate::config::{differences, flatten};
use crate::html::{escape, png_url, wav_url};
use crate::run::Run;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.swatch { display: inline-block; width: 14px; height: 14px; margin-right: 6px; vertical-align: -2px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { border: 1px solid #e4e4e4; background: #fff; }
svg .grid { stroke: #eee; }
svg .axis { stroke: #888; fill: none; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; font-weight: 600; text-anchor: middle; }
svg .ytick { text-anchor: end; }
svg .xtick, svg .xlabel { text-anchor: middle; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
.strip { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 240px; image-rendering: pixelated; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; }
";

/// The whole page of `runs`: self-contained HTML (no script, no external URL), well-formed
/// as XML too.
pub fn render(runs: &[Run]) -> String {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>gen report: {}</title><style>{STYLE}</style></head><body>\n<h1>gen report</h1>\n",
        escape(&names.join(", "))
    );
    page.push_str(&runs_table(runs));
    page.push_str(&curves(runs));
    page.push_str(&results(runs));
    page.push_str(&configs(runs));
    page.push_str(&images(runs));
    page.push_str(&audio(runs));
    page.push_str("</body></html>\n");
    page
}

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A number in a table: up to six significant digits.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1e6 || v.abs() < 1e-4 {
        return format!("{v:.4e}");
    }
    let decimals = (5 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Each run with its colour, folder, epochs and steps.
fn runs_table(runs: &[Run]) -> String {
    let mut out = String::from(
        "<table class=\"runs\"><tr><th>run</th><th>folder</th><th>epochs</th><th>steps</th></tr>\n",
    );
    for (i, run) in runs.iter().enumerate() {
        let last = run.history.last();
        let _ = writeln!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            colour(i),
            escape(&run.name),
            escape(&run.dir.display().to_string()),
            last.map_or(0, |r| r.epoch),
            last.map_or(0, |r| r.step),
        );
    }
    out.push_str("</table>\n");
    out
}

/// The chart names: every metric, a `val_` one charted with its training metric.
fn chart_names(runs: &[Run]) -> BTreeSet<String> {
    runs.iter()
        .flat_map(|r| r.metric_names())
        .map(|m| m.strip_prefix("val_").unwrap_or(m).to_owned())
        .collect()
}

/// One chart per metric: each run's training curve solid and its validation curve dashed.
fn curves(runs: &[Run]) -> String {
    let names = chart_names(runs);
    if names.is_empty() {
        return "<h2>Curves</h2><p>No metrics.jsonl yet.</p>\n".into();
    }
    let mut out = String::from(
        "<h2>Curves</h2><p>Per epoch; solid: training, dashed: validation (<code>val_</code>).</p><div class=\"charts\">\n",
    );
    for name in &names {
        let mut series = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            for (metric, dashed) in [(name.clone(), false), (format!("val_{name}"), true)] {
                let points: Vec<(f64, f64)> = run
                    .history
                    .iter()
                    .filter_map(|row| Some((row.epoch as f64, *row.metrics.get(&metric)?)))
                    .collect();
                if !points.is_empty() {
                    series.push(Series {
                        label: format!("{} {metric}", run.name),
                        colour: colour(i),
                        dashed,
                        points,
                    });
                }
            }
        }
        out.push_str(&line_chart(name, &series));
        out.push('\n');
    }
    out.push_str("</div>\n");
    out
}

/// A table with a row per name and a column per run; empty when no run has a value.
fn table(runs: &[Run], rows: &BTreeMap<String, Vec<Option<f64>>>) -> String {
    let mut out = String::from("<table><tr><th></th>");
    for run in runs {
        let _ = write!(out, "<th>{}</th>", escape(&run.name));
    }
    out.push_str("</tr>\n");
    for (name, values) in rows {
        let _ = write!(out, "<tr><td>{}</td>", escape(name));
        for v in values {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                v.map(number).unwrap_or_default()
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The last epoch's metrics and the test metrics (`eval.json`), the runs side by side.
fn results(runs: &[Run]) -> String {
    let mut out = String::new();
    let mut last: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        if let Some(row) = run.history.last() {
            for (k, v) in &row.metrics {
                last.entry(k.clone())
                    .or_insert_with(|| vec![None; runs.len()])[i] = Some(*v);
            }
        }
    }
    if !last.is_empty() {
        out.push_str("<h2>Last epoch</h2>\n");
        out.push_str(&table(runs, &last));
    }
    let mut eval: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for (k, v) in run.eval.iter().flatten() {
            eval.entry(k.clone())
                .or_insert_with(|| vec![None; runs.len()])[i] = Some(*v);
        }
    }
    if !eval.is_empty() {
        out.push_str("<h2>Evaluation</h2><p>The test split, from <code>eval.json</code>.</p>\n");
        out.push_str(&table(runs, &eval));
    }
    out
}

/// The keys whose values differ between the runs, then each whole `config.toml`.
fn configs(runs: &[Run]) -> String {
    let with_config: Vec<(&Run, &(String, toml::Table))> = runs
        .iter()
        .filter_map(|r| Some((r, r.config.as_ref()?)))
        .collect();
    if with_config.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>Config</h2>\n");
    if with_config.len() > 1 {
        let flat: Vec<BTreeMap<String, String>> =
            with_config.iter().map(|(_, (_, t))| flatten(t)).collect();
        let diff = differences(&flat);
        if diff.is_empty() {
            out.push_str("<p>The configs are the same.</p>\n");
        } else {
            out.push_str("<h3>Differences</h3><table class=\"diff\"><tr><th>key</th>");
            for (run, _) in &with_config {
                let _ = write!(out, "<th>{}</th>", escape(&run.name));
            }
            out.push_str("</tr>\n");
            for (key, values) in diff {
                let _ = write!(out, "<tr><td>{}</td>", escape(&key));
                for v in values {
                    let _ = write!(
                        out,
                        "<td>{}</td>",
                        v.map(|v| escape(&v)).unwrap_or_default()
                    );
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
    }
    for (run, (text, _)) in &with_config {
        let _ = writeln!(
            out,
            "<details><summary>{} config.toml</summary><pre>{}</pre></details>",
            escape(&run.name),
            escape(text)
        );
    }
    out
}

/// Every run's PNGs: per key, its frames in order (epoch by epoch for sample grids).
fn images(runs: &[Run]) -> String {
    if runs.iter().all(|r| r.images.is_empty()) {
        return String::new();
    }
    let mut out = String::from("<h2>Samples and figures</h2>\n");
    for run in runs.iter().filter(|r| !r.images.is_empty()) {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&run.name));
        let mut key = None;
        for image in &run.images {
            if key != Some(&image.key) {
                if key.is_some() {
                    out.push_str("</div>\n");
                }
                let _ = write!(
                    out,
                    "<p><code>{}</code></p><div class=\"strip\">",
                    escape(&image.key)
                );
                key = Some(&image.key);
            }
            let caption = match image.frame {
                Some(frame) => format!("epoch {frame}"),
                None => image.key.rsplit('/').next().unwrap_or_default().to_owned(),
            };
            let _ = write!(
                out,
                "<figure><img src=\"{}\" alt=\"{key} {c}\"/><figcaption>{c}</figcaption></figure>",
                png_url(&image.png),
                key = escape(&image.key),
                c = escape(&caption),
            );
        }
        out.push_str("</div>\n");
    }
    out
}

/// Every run's WAVs, each with a player.
fn audio(runs: &[Run]) -> String {
    if runs.iter().all(|r| r.audio.is_empty()) {
        return String::new();
    }
    let mut out = String::from("<h2>Audio</h2>\n");
    for run in runs.iter().filter(|r| !r.audio.is_empty()) {
        let _ = writeln!(out, "<h3>{}</h3><div class=\"strip\">", escape(&run.name));
        for clip in &run.audio {
            let _ = write!(
                out,
                "<figure><audio controls=\"controls\" preload=\"metadata\" src=\"{}\"></audio><figcaption>{}</figcaption></figure>",
                wav_url(&clip.wav),
                escape(&clip.key),
            );
        }
        out.push_str("</div>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_six_significant_digits() {
        assert_eq!(number(0.123456789), "0.123457");
        assert_eq!(number(98.5), "98.5");
        assert_eq!(number(123456.0), "123456");
        assert_eq!(number(1.5e-7), "1.5000e-7");
    }
}

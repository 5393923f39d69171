//! The run's logs, `metrics.jsonl` and `metrics.csv`, rewritten from the whole history at the
//! end of every epoch (atomically), so a crash or resume never duplicates or loses a line.

use super::{EpochLog, files};
use crate::checkpoint::write_atomic;
use crate::{Error, Result};
use std::path::Path;

/// Writes both logs of `history` into `run_dir` (created if needed).
pub(super) fn write(run_dir: &Path, history: &[EpochLog]) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    write_atomic(&run_dir.join(files::METRICS_JSONL), &jsonl(history)?)?;
    let path = run_dir.join(files::METRICS_CSV);
    let csv = csv(history).map_err(|e| Error::io(&path, e))?;
    write_atomic(&path, &csv)
}

/// One JSON object per epoch: `epoch`, `step` and the metrics.
fn jsonl(history: &[EpochLog]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for line in history {
        serde_json::to_writer(&mut out, line)
            .map_err(|e| Error::config("metrics", e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// A header `epoch,step,<every metric, sorted>` and one row per epoch, with an empty cell
/// where an epoch lacks a metric. Values are Rust's shortest round-trip form.
fn csv(history: &[EpochLog]) -> std::io::Result<Vec<u8>> {
    let mut columns: Vec<&String> = history.iter().flat_map(|h| h.metrics.keys()).collect();
    columns.sort();
    columns.dedup();
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = ["epoch", "step"]
        .into_iter()
        .chain(columns.iter().map(|c| c.as_str()));
    out.write_record(header)?;
    for h in history {
        let cells =
            [h.epoch.to_string(), h.step.to_string()]
                .into_iter()
                .chain(columns.iter().map(|c| {
                    h.metrics
                        .get(c.as_str())
                        .map_or_else(String::new, f64::to_string)
                }));
        out.write_record(cells)?;
    }
    out.into_inner().map_err(|e| e.into_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_every_column_and_empty_cells_for_missing_metrics() {
        let log = |epoch: usize, pairs: &[(&str, f64)]| EpochLog {
            epoch,
            step: 10 * epoch as u64,
            metrics: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        let history = [
            log(1, &[("loss", 0.5), ("accuracy", 0.25)]),
            log(2, &[("loss", 1e-7), ("val_loss", 0.1)]),
        ];
        let text = String::from_utf8(csv(&history).unwrap()).unwrap();
        assert_eq!(
            text,
            "epoch,step,accuracy,loss,val_loss\n1,10,0.25,0.5,\n2,20,,0.0000001,0.1\n"
        );
        let jsonl = String::from_utf8(jsonl(&history).unwrap()).unwrap();
        assert_eq!(
            jsonl.lines().next().unwrap(),
            r#"{"epoch":1,"step":10,"accuracy":0.25,"loss":0.5}"#
        );
    }
}

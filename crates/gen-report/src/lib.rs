//! # gen-report
//!
//! One self-contained HTML page that shows one or more runs: the curves of every metric per
//! epoch (training and validation, the runs overlaid) as inline SVG, the evaluation table
//! (`eval.json`), the differences between the runs' configs and each whole config, and every
//! PNG the runs wrote (sample grids epoch by epoch, plots) embedded as `data:` URLs. The page
//! loads nothing: no script, no stylesheet, no font, no URL.
//!
//! gen-report has no libtorch dependency: it reads a run folder's files (`metrics.jsonl`,
//! `config.toml`, `eval.json`, `*.png`), so `gen report` is instant and its tests run in seconds.
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("run-a");
//! # std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("metrics.jsonl"), "{\"epoch\":1,\"step\":10,\"loss\":0.5}\n")?;
//! let runs = gen_report::Run::load_all(&[dir])?;
//! let html = gen_report::render(&runs);
//! assert!(html.contains("<svg class=\"chart\" data-metric=\"loss\""));
//! # Ok(())
//! # }
//! ```

mod chart;
mod config;
pub mod error;
mod html;
mod page;
mod run;

pub use error::{Error, Result};
pub use page::render;
pub use run::{Audio, EpochRow, Image, MAX_AUDIO, MAX_AUDIO_BYTES, Run};

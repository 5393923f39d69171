//! Behaviour generation on the LASA handwriting dataset: a GRU mixture-density network learns
//! all 30 shapes (one model, conditioned on the shape), with demo `k` of every shape held out,
//! then is measured against the held-out demos and the mean-demo baseline.
//!
//! Run from the project root (fetch the data first with `cargo xtask fetch-data lasa`):
//!
//! ```text
//! cargo run --release -p gen-train --example lasa -- --threads 1 --out runs/lasa
//! ```
//!
//! Prints the per-shape table and the summary, and writes into `--out`: `overlay.png` (every
//! shape: training demos blue, held-out demo black, samples from the held-out start red,
//! target green), `overlay_free.png` (samples with a start drawn by the model), `points.csv`
//! (every trajectory of the table), `report.json`, and the run's checkpoints and logs.
//!
//! Options (`--name value`; defaults from `TrajectoryTaskConfig::default()`): `out`
//! (runs/lasa), `threads` (1), `epochs` (200), `repeats` (4), `batch` (60), `lr` (0.005),
//! `hidden` (128), `layers` (2), `components` (8), `length` (50), `offset-noise` (0.4),
//! `time-warp` (0.0), `time-input` (true), `holdout`
//! (0; a comma-separated list such as `0,1,2,3,4,5,6` runs several folds, one model each),
//! `samples` (8), `bias` (1.0), `spread` (0.25), `seed` (0), `shapes` (all; comma-separated names),
//! `panel` (220 pixels), `load` (a run folder: evaluate its model again instead of training;
//! the outputs go to `out`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // Example code may panic.

use anyhow::{Context, bail};
use gen_data::lasa::load_lasa;
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, OptimizerConfig};
use gen_train::tasks::trajectory::{
    OverlayPanel, TrajectoryReport, TrajectoryTaskConfig, evaluate_trajectories,
    load_trajectory_model, select_shapes, train_trajectories, write_overlay_png, write_report_csv,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                bail!("expected --name value, got {key:?}");
            };
            let value = it
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value);
        }
        Ok(Args(map))
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| anyhow::anyhow!("--{name} {v:?}: {e}")),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let threads: usize = args.get("threads", 1)?;
    gen_core::set_threads(Some(threads))?;
    let out: PathBuf = args.get("out", PathBuf::from("runs/lasa"))?;
    let folds: Vec<usize> = args
        .get("holdout", "0".to_string())?
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .context("--holdout: comma-separated demo indices")?;
    let panel: usize = args.get("panel", 220)?;
    let load: Option<PathBuf> = args.0.get("load").map(PathBuf::from);

    let start = Instant::now();
    let all = load_lasa(gen_data::paths::dataset_dir(gen_data::lasa::DATASET)?)?;
    println!(
        "lasa: {} shapes, {} demos, loaded in {:.2} s",
        all.len(),
        all.iter().map(|s| s.demos.len()).sum::<usize>(),
        start.elapsed().as_secs_f64()
    );

    let mut config = TrajectoryTaskConfig::default();
    let shapes: String = args.get("shapes", String::new())?;
    config.shapes = shapes
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    config.model.hidden_size = args.get("hidden", config.model.hidden_size)?;
    config.model.gru.num_layers = args.get("layers", config.model.gru.num_layers)?;
    config.model.num_components = args.get("components", config.model.num_components)?;
    config.model.length = args.get("length", config.model.length)?;
    config.model.time_input = args.get("time-input", config.model.time_input)?;
    config.model.offset_noise = args.get("offset-noise", config.model.offset_noise)?;
    config.model.time_warp = args.get("time-warp", config.model.time_warp)?;
    config.optimizer = OptimizerConfig::Adam(AdamConfig {
        lr: args.get("lr", config.optimizer.lr())?,
        ..Default::default()
    });
    config.trainer.epochs = args.get("epochs", config.trainer.epochs)?;
    config.epoch_repeats = args.get("repeats", config.epoch_repeats)?;
    config.trainer.batch_size = args.get("batch", config.trainer.batch_size)?;
    config.trainer.seed = args.get("seed", 0)?;
    config.eval.samples = args.get("samples", config.eval.samples)?;
    config.eval.bias = args.get("bias", config.eval.bias)?;
    config.eval.spread = args.get("spread", config.eval.spread)?;
    config.eval.seed = config.trainer.seed;

    let mut reports: Vec<TrajectoryReport> = Vec::new();
    for &fold in &folds {
        config.holdout = Some(fold);
        let dir = if folds.len() == 1 {
            out.clone()
        } else {
            out.join(format!("fold{fold}"))
        };
        println!(
            "fold {fold}: training on {} threads for {} epochs (batch {}), run folder {}",
            threads,
            config.trainer.epochs,
            config.trainer.batch_size,
            dir.display()
        );
        let t = Instant::now();
        let trained = if let Some(run) = &load {
            // Evaluate a trained run again (e.g. with another bias), without training.
            let (task, mut resolved) = load_trajectory_model(run, tch::Device::Cpu)?;
            resolved.eval = config.eval.clone();
            let state: gen_train::TrainerState =
                gen_train::checkpoint::load::<gen_train::TrainerState>(
                    &run.join(gen_train::learner::files::CHECKPOINTS),
                    "last",
                )?
                .1;
            gen_train::tasks::trajectory::TrainedTrajectories {
                task,
                outcome: gen_train::Outcome::Completed,
                config: resolved,
                state,
            }
        } else {
            train_trajectories(&all, &config, &dir, Verbosity::Silent, None)?
        };
        let fold = trained.config.holdout.unwrap_or(fold);
        let train_s = t.elapsed().as_secs_f64();
        let every = (trained.state.history.len() / 8).max(1);
        let curve: Vec<String> = trained
            .state
            .history
            .iter()
            .filter(|h| h.epoch == 1 || h.epoch % every == 0)
            .map(|h| {
                format!(
                    "{}: {:.3}",
                    h.epoch,
                    h.metrics.get("loss").copied().unwrap_or(f64::NAN)
                )
            })
            .collect();
        println!("fold {fold}: training NLL by epoch: {}", curve.join(", "));
        let last = trained.state.history.last();
        println!(
            "fold {fold}: {:?} after {} steps in {train_s:.1} s; final training NLL {:.4} per point",
            trained.outcome,
            trained.state.global_step,
            last.and_then(|h| h.metrics.get("loss").copied())
                .unwrap_or(f64::NAN)
        );
        let t = Instant::now();
        let shapes = select_shapes(&all, &trained.config.shapes)?;
        let report =
            evaluate_trajectories(&trained.task.model, &shapes, fold, &trained.config.eval)?;
        println!(
            "fold {fold}: evaluated in {:.1} s (DTW per point, data units = mm; {} samples per shape, bias {}, spread {})",
            t.elapsed().as_secs_f64(),
            config.eval.samples,
            config.eval.bias,
            config.eval.spread
        );
        print!("{}", report.table());

        let panels: Vec<OverlayPanel> = (0..report.shapes.len())
            .filter_map(|i| OverlayPanel::from_report(&report, i))
            .collect();
        write_overlay_png(&dir.join("overlay.png"), &panels, 6, panel)?;
        let free: Vec<OverlayPanel> = report
            .trajectories
            .iter()
            .map(|t| OverlayPanel {
                real: t.train.clone(),
                highlight: Some(t.heldout.clone()),
                generated: t.free_samples.clone(),
            })
            .collect();
        write_overlay_png(&dir.join("overlay_free.png"), &free, 6, panel)?;
        write_report_csv(&dir.join("points.csv"), &report)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&(&report.shapes, report.summary()))?,
        )?;
        println!(
            "fold {fold}: wrote {}/overlay.png, overlay_free.png, points.csv, report.json",
            dir.display()
        );
        reports.push(report);
    }
    if reports.len() > 1 {
        println!("over {} folds:", reports.len());
        for r in &reports {
            let s = r.summary();
            println!(
                "  fold {}: beats baseline {}/{} (best of samples {}/{}, free start {}/{}), mean dtw {:.3} (best {:.3}) vs baseline {:.3}, max endpoint {:.3}, min diversity {:.3}",
                r.holdout,
                s.beat_baseline,
                s.shapes,
                s.beat_baseline_best,
                s.shapes,
                s.beat_baseline_free,
                s.shapes,
                s.mean_dtw,
                s.mean_dtw_best,
                s.mean_baseline,
                s.max_endpoint,
                s.min_diversity
            );
        }
        let pairs: usize = reports.iter().map(|r| r.summary().beat_baseline).sum();
        let total: usize = reports.iter().map(|r| r.shapes.len()).sum();
        // Per shape: in how many folds its samples beat the mean demo.
        let mut wins: HashMap<&str, usize> = HashMap::new();
        for s in reports.iter().flat_map(|r| &r.shapes) {
            *wins.entry(s.name.as_str()).or_default() += usize::from(s.dtw < s.baseline);
        }
        let majority = wins.values().filter(|&&w| 2 * w > reports.len()).count();
        println!(
            "  all folds: beats baseline on {pairs}/{total} (shape, held-out demo) pairs; {majority}/{} shapes in a majority of folds",
            wins.len()
        );
    }
    println!("total {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

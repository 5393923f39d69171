//! Many runs of one preset: k-fold cross-validation (`gen cv`) and hyper-parameter search
//! (`gen tune`). Each fold or trial is an ordinary run in its own subfolder, trained through
//! the same code as `gen train`.

use crate::config::{self, RunConfig};
use crate::fit::{FitContext, Fold, RunKind, for_kind};
use crate::settings::{Resolved, with_overrides};
use crate::{runs, runtime};
use anyhow::{Context, Result, bail};
use gen_data::splitmix::SplitMix64;
use gen_train::Outcome;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one fold or trial produced: the final epoch's metrics.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run folder.
    pub dir: PathBuf,
    /// The last finished epoch's metrics (`loss`, `val_*`, ...).
    pub metrics: BTreeMap<String, f64>,
}

/// Trains `run` (of `config`) on `data` in `dir`, a fresh folder, optionally on a fold.
/// `label` names the run (`fold 2/5`, `trial 3/8`) in the progress line and the errors.
fn run_one<K: RunKind>(
    run: &K,
    config: &RunConfig,
    data: &K::Data,
    dir: &Path,
    fold: Option<Fold>,
    label: &str,
    quiet: bool,
) -> Result<RunResult> {
    if !quiet {
        eprintln!("== {label} ({})", dir.display());
    }
    runs::create(dir, false)?;
    runs::write_config(dir, config)?;
    let device = runtime::setup(config)?;
    let ctx = FitContext {
        fold,
        ..FitContext::new(dir, device, quiet)?
    };
    let (outcome, state) = run.train(data, &ctx)?;
    if outcome == Outcome::Interrupted {
        bail!("interrupted during {label}");
    }
    let metrics = state
        .history
        .last()
        .map(|h| h.metrics.clone())
        .with_context(|| format!("{}: no epoch finished", dir.display()))?;
    Ok(RunResult {
        dir: dir.to_path_buf(),
        metrics,
    })
}

/// Mean and sample standard deviation (n - 1; 0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// k-fold cross-validation of `settings`: fold `i` trains on the other folds of the training
/// split and validates on fold `i`; the data is loaded once for all folds. Prints the
/// per-fold table and mean ± std of every validation metric; writes `cv.json` in `out`.
pub fn cross_validate(
    settings: &Resolved,
    folds: usize,
    out: &Path,
    force: bool,
    quiet: bool,
) -> Result<BTreeMap<String, (f64, f64)>> {
    if folds < 2 {
        bail!("--folds {folds}: need at least 2");
    }
    let config = &settings.config;
    if matches!(config, RunConfig::ImageGan(_) | RunConfig::SoundGan(_)) {
        bail!(
            "{} is a GAN run: cross-validation needs held-out labels or text \
             (text-classifier and language-model presets)",
            settings.origin
        );
    }
    runs::create(out, force)?;
    let seed = config.trainer().seed;
    let results: Vec<RunResult> = for_kind!(config, |run| {
        let data = run.load(runtime::setup(config)?)?;
        (0..folds)
            .map(|index| {
                let dir = out.join(format!("fold-{}", index + 1));
                let fold = Fold { index, folds, seed };
                let label = format!("fold {}/{folds}", index + 1);
                run_one(run, config, &data, &dir, Some(fold), &label, quiet)
            })
            .collect::<Result<_>>()
    })?;
    let names: Vec<String> = results
        .first()
        .map(|r| {
            r.metrics
                .keys()
                .filter(|k| k.starts_with("val_"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut header = format!("{:<6}", "fold");
    for n in &names {
        header.push_str(&format!(" {n:>14}"));
    }
    println!("{header}");
    for (i, r) in results.iter().enumerate() {
        let mut line = format!("{:<6}", i + 1);
        for n in &names {
            let v = r.metrics.get(n).copied().unwrap_or(f64::NAN);
            line.push_str(&format!(" {v:>14.4}"));
        }
        println!("{line}");
    }
    let mut summary = BTreeMap::new();
    let mut line = format!("{:<6}", "mean");
    for n in &names {
        let values: Vec<f64> = results
            .iter()
            .filter_map(|r| r.metrics.get(n).copied())
            .collect();
        let (m, s) = mean_std(&values);
        line.push_str(&format!(" {:>14}", format!("{m:.4}±{s:.4}")));
        summary.insert(n.clone(), (m, s));
    }
    println!("{line}");
    let json = serde_json::json!({
        "folds": folds,
        "per_fold": results.iter().map(|r| &r.metrics).collect::<Vec<_>>(),
        "mean": summary.iter().map(|(k, (m, _))| (k.clone(), *m)).collect::<BTreeMap<_, _>>(),
        "std": summary.iter().map(|(k, (_, s))| (k.clone(), *s)).collect::<BTreeMap<_, _>>(),
    });
    let path = out.join("cv.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(summary)
}

/// One `--search key.path=v1,v2,...`: the key and its candidate values (TOML literals).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchAxis {
    /// The dotted key.
    pub key: String,
    /// The values, as written.
    pub values: Vec<String>,
}

impl SearchAxis {
    /// Parses `key.path=v1,v2,...`. A value may be a TOML array only if it has no comma.
    pub fn parse(spec: &str) -> Result<Self> {
        let (key, values) = spec
            .split_once('=')
            .with_context(|| format!("--search `{spec}`: expected key.path=v1,v2,..."))?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if key.trim().is_empty() || values.is_empty() {
            bail!("--search `{spec}`: expected key.path=v1,v2,...");
        }
        Ok(SearchAxis {
            key: key.trim().to_string(),
            values,
        })
    }
}

/// The trials of a search: every combination (grid), or `trials` combinations drawn with
/// replacement-free sampling from the grid with `seed` (random search).
pub fn trials(axes: &[SearchAxis], random: Option<usize>, seed: u64) -> Vec<Vec<String>> {
    let mut grid: Vec<Vec<String>> = vec![Vec::new()];
    for axis in axes {
        grid = grid
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |v| {
                    let mut t = prefix.clone();
                    t.push(format!("{}={v}", axis.key));
                    t
                })
            })
            .collect();
    }
    match random {
        Some(n) if n < grid.len() => {
            // Partial Fisher-Yates: the first n of a seeded shuffle.
            let mut rng = SplitMix64::new(seed);
            for i in 0..n {
                let j = i + rng.below((grid.len() - i) as u64) as usize;
                grid.swap(i, j);
            }
            grid.truncate(n);
            grid
        }
        _ => grid,
    }
}

/// Whether larger is better for `metric` (accuracies, inception score, coverage).
pub fn higher_is_better(metric: &str) -> bool {
    metric.contains("acc") || metric.contains("inception") || metric.contains("coverage")
}

/// Runs every trial of the search in `out/trial-NNN`, each on `settings` with the trial's
/// overrides, prints the results sorted by `metric`, and writes the best trial's resolved
/// config to `out/best.toml`. Returns its path.
pub fn tune(
    settings: &Resolved,
    axes: &[SearchAxis],
    random: Option<usize>,
    metric: &str,
    out: &Path,
    force: bool,
    quiet: bool,
) -> Result<PathBuf> {
    if axes.is_empty() {
        bail!("give at least one --search key.path=v1,v2,...");
    }
    // Every trial's config must resolve before anything trains.
    let plan = trials(axes, random, 0);
    let mut configs = Vec::new();
    for sets in &plan {
        let origin = format!("{} with {}", settings.origin, sets.join(" "));
        let (_, config) = with_overrides(&settings.table, &settings.origin, sets, &origin)?;
        configs.push(config);
    }
    runs::create(out, force)?;
    let mut rows: Vec<(usize, f64, RunResult)> = Vec::new();
    for (i, (sets, cfg)) in plan.iter().zip(&configs).enumerate() {
        let dir = out.join(format!("trial-{:03}", i + 1));
        let label = format!("trial {}/{}: {}", i + 1, plan.len(), sets.join(" "));
        // Trials may change the data settings: each loads its own.
        let r = for_kind!(cfg, |run| {
            let data = run.load(runtime::setup(cfg)?)?;
            run_one(run, cfg, &data, &dir, None, &label, quiet)
        })?;
        let value = r.metrics.get(metric).copied().with_context(|| {
            let names: Vec<&str> = r.metrics.keys().map(String::as_str).collect();
            format!(
                "--metric {metric}: trial {} has no such metric; it has {}",
                i + 1,
                names.join(", ")
            )
        })?;
        rows.push((i, value, r));
    }
    let up = higher_is_better(metric);
    rows.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        if up { o.reverse() } else { o }
    });
    println!("{:<5} {:>12}  settings", "rank", metric);
    for (rank, (i, value, _)) in rows.iter().enumerate() {
        let sets = plan.get(*i).map(|s| s.join(" ")).unwrap_or_default();
        println!("{:<5} {value:>12.4}  {sets}", rank + 1);
    }
    let (best_i, best_value, best) = rows.first().context("no trial ran")?;
    let best_config = configs.get(*best_i).context("no trial ran")?;
    let path = out.join("best.toml");
    let header = format!(
        "# gen tune: best of {} trials by {metric} = {best_value:.6} ({})\n\
         # train it with: gen train --config {}\n",
        plan.len(),
        best.dir.display(),
        path.display()
    );
    std::fs::write(&path, header + &config::to_toml(best_config)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("best config: {}", path.display());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_the_cartesian_product_in_order() {
        let axes = [
            SearchAxis::parse("optimizer.lr=0.1,0.01").unwrap(),
            SearchAxis::parse("model.hidden_size=8, 16 ,32").unwrap(),
        ];
        let grid = trials(&axes, None, 0);
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[0], ["optimizer.lr=0.1", "model.hidden_size=8"]);
        assert_eq!(grid[5], ["optimizer.lr=0.01", "model.hidden_size=32"]);
        // Random search: distinct members of the grid, reproducible by seed.
        let some = trials(&axes, Some(4), 7);
        assert_eq!(some.len(), 4);
        assert_eq!(some, trials(&axes, Some(4), 7));
        for t in &some {
            assert!(grid.contains(t));
        }
        let mut unique = some.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        // More trials than the grid: the whole grid.
        assert_eq!(trials(&axes, Some(10), 0).len(), 6);
    }

    #[test]
    fn bad_search_specs_are_errors() {
        assert!(SearchAxis::parse("optimizer.lr").is_err());
        assert!(SearchAxis::parse("=1,2").is_err());
        assert!(SearchAxis::parse("a=").is_err());
    }

    #[test]
    fn mean_and_sample_std() {
        // numpy: np.mean([1, 2, 3, 4]) = 2.5, np.std([1, 2, 3, 4], ddof=1) = 1.2909944487358056
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12);
        assert!((s - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn metric_direction() {
        assert!(higher_is_better("val_acc"));
        assert!(!higher_is_better("val_loss"));
    }
}

//! Many runs of one preset: k-fold cross-validation (`gen cv`) and hyper-parameter search
//! (`gen tune`). Each fold or trial is an ordinary run in its own subfolder, trained through
//! the same code as `gen train`, that ends with its final metrics in `result.json`.
//!
//! A study splits over the machines of a cluster with [`Part::Shard`] (`--shard i/N`: the
//! folds or trials whose index modulo N is i - 1, e.g. one task of a SLURM array or of a
//! Kubernetes indexed Job each) and [`Part::Collect`] (`--collect`: the summary of the
//! `result.json` files once every shard is done). A whole run is all its folds or trials,
//! then the same summary.

use crate::config::{self, RunConfig};
use crate::fit::{FitContext, Fold, RunKind, for_kind};
use crate::settings::{Resolved, with_overrides};
use crate::{runs, runtime};
use anyhow::{Context, Result, bail};
use gen_data::splitmix::SplitMix64;
use gen_train::Outcome;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in a fold's or trial's folder that holds its final metrics.
pub const RESULT_FILE: &str = "result.json";

/// `--shard i/N`: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, `1..=count`.
    pub index: usize,
    /// How many shards the study is split into.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    /// Parses `i/N` with `1 <= i <= N`.
    fn from_str(spec: &str) -> Result<Shard> {
        let parsed = spec.split_once('/').and_then(|(i, n)| {
            Some((
                i.trim().parse::<usize>().ok()?,
                n.trim().parse::<usize>().ok()?,
            ))
        });
        match parsed {
            Some((index, count)) if (1..=count).contains(&index) => Ok(Shard { index, count }),
            _ => bail!("--shard `{spec}`: expected i/N with 1 <= i <= N, e.g. 2/4"),
        }
    }
}

impl Shard {
    /// Whether this shard runs the fold or trial `item` (0-based): `item % count == index - 1`.
    pub fn takes(self, item: usize) -> bool {
        item % self.count == self.index - 1
    }
}

/// Which part of a study this process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every fold or trial, then the summary.
    All,
    /// The folds or trials of one shard, in the study folder (made if missing, kept if there);
    /// no summary.
    Shard(Shard),
    /// No training: the summary of the folds' or trials' results in the study folder.
    Collect,
}

impl Part {
    /// Whether this part trains item `item` (0-based).
    fn trains(self, item: usize) -> bool {
        match self {
            Part::All => true,
            Part::Shard(shard) => shard.takes(item),
            Part::Collect => false,
        }
    }

    /// Prepares the study folder: a whole run makes it fresh (or refuses an existing one without
    /// `force`); a shard makes it if missing and keeps what the other shards wrote.
    fn prepare(self, out: &Path, force: bool) -> Result<()> {
        match self {
            Part::All => runs::create(out, force),
            Part::Shard(_) => std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display())),
            Part::Collect => Ok(()),
        }
    }

    /// For a shard: says which `items` (0-based) it trained and how to finish, and returns
    /// true (it writes no summary).
    fn shard_report(self, what: &str, items: &[usize], out: &Path) -> bool {
        let Part::Shard(shard) = self else {
            return false;
        };
        let list: Vec<String> = items.iter().map(|i| (i + 1).to_string()).collect();
        println!(
            "shard {}/{}: {what} {} done in {}; when every shard is done, run the same command \
             with --collect instead of --shard",
            shard.index,
            shard.count,
            if list.is_empty() {
                "none".into()
            } else {
                list.join(", ")
            },
            out.display()
        );
        true
    }
}

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
#[allow(clippy::too_many_arguments)]
fn run_one<K: RunKind>(
    run: &K,
    config: &RunConfig,
    data: &K::Data,
    dir: &Path,
    fold: Option<Fold>,
    label: &str,
    force: bool,
    quiet: bool,
) -> Result<()> {
    if !quiet {
        eprintln!("== {label} ({})", dir.display());
    }
    runs::create(dir, force)?;
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
    let path = dir.join(RESULT_FILE);
    let json = serde_json::to_string_pretty(&serde_json::json!({ "metrics": metrics }))?;
    gen_train::checkpoint::write_atomic(&path, json.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The result of the fold or trial in `dir`, which must have been trained with `config`
/// (its `runtime` section aside: shards may run on other machines); `label` names it.
fn load_result(dir: &Path, config: &RunConfig, label: &str) -> Result<RunResult> {
    let path = dir.join(RESULT_FILE);
    if !path.is_file() {
        bail!(
            "{label} has not finished: {} is missing; run the shard that trains it (or the whole \
             study) first",
            path.display()
        );
    }
    let mut theirs = runs::read_config(dir)?;
    let mut ours = config.clone();
    *theirs.runtime_mut() = Default::default();
    *ours.runtime_mut() = Default::default();
    if config::to_toml(&theirs)? != config::to_toml(&ours)? {
        bail!(
            "{label} in {} was trained with another config than this command's; run --collect \
             with the settings the shards had",
            dir.display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let metrics = serde_json::from_value(value["metrics"].clone())
        .with_context(|| format!("{}: `metrics` is not a map of numbers", path.display()))?;
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
/// split and validates on fold `i`; the data is loaded once for all the folds `part` trains.
/// Then, unless `part` is a shard, prints the per-fold table and mean ± std of every
/// validation metric and writes `cv.json` in `out` (`None` for a shard).
pub fn cross_validate(
    settings: &Resolved,
    folds: usize,
    out: &Path,
    force: bool,
    quiet: bool,
    part: Part,
) -> Result<Option<BTreeMap<String, (f64, f64)>>> {
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
    part.prepare(out, force)?;
    let seed = config.trainer().seed;
    let mine: Vec<usize> = (0..folds).filter(|&i| part.trains(i)).collect();
    let fold_dir = |index: usize| out.join(format!("fold-{}", index + 1));
    if !mine.is_empty() {
        for_kind!(config, |run| {
            let data = run.load(runtime::setup(config)?)?;
            mine.iter().try_for_each(|&index| {
                let fold = Fold { index, folds, seed };
                let label = format!("fold {}/{folds}", index + 1);
                run_one(
                    run,
                    config,
                    &data,
                    &fold_dir(index),
                    Some(fold),
                    &label,
                    force,
                    quiet,
                )
            })
        })?;
    }
    if part.shard_report("folds", &mine, out) {
        return Ok(None);
    }
    let results: Vec<RunResult> = (0..folds)
        .map(|index| load_result(&fold_dir(index), config, &format!("fold {}", index + 1)))
        .collect::<Result<_>>()?;
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
    Ok(Some(summary))
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

/// Runs the trials of the search that `part` trains in `out/trial-NNN`, each on `settings`
/// with the trial's overrides; then, unless `part` is a shard, prints the results sorted by
/// `metric` and writes the best trial's resolved config to `out/best.toml`. Returns its path
/// (`None` for a shard).
#[allow(clippy::too_many_arguments)]
pub fn tune(
    settings: &Resolved,
    axes: &[SearchAxis],
    random: Option<usize>,
    metric: &str,
    out: &Path,
    force: bool,
    quiet: bool,
    part: Part,
) -> Result<Option<PathBuf>> {
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
    part.prepare(out, force)?;
    let trial_dir = |i: usize| out.join(format!("trial-{:03}", i + 1));
    let mut mine = Vec::new();
    for (i, (sets, cfg)) in plan.iter().zip(&configs).enumerate() {
        if !part.trains(i) {
            continue;
        }
        mine.push(i);
        let label = format!("trial {}/{}: {}", i + 1, plan.len(), sets.join(" "));
        // Trials may change the data settings: each loads its own.
        for_kind!(cfg, |run| {
            let data = run.load(runtime::setup(cfg)?)?;
            run_one(run, cfg, &data, &trial_dir(i), None, &label, force, quiet)
        })?;
    }
    if part.shard_report("trials", &mine, out) {
        return Ok(None);
    }
    let mut rows: Vec<(usize, f64, RunResult)> = Vec::new();
    for (i, cfg) in configs.iter().enumerate() {
        let r = load_result(&trial_dir(i), cfg, &format!("trial {}", i + 1))?;
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
    Ok(Some(path))
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
    fn shards_split_the_items_round_robin() {
        let one: Shard = "1/3".parse().unwrap();
        let three: Shard = " 3 / 3 ".parse().unwrap();
        assert_eq!((one.index, one.count), (1, 3));
        let take = |s: Shard| (0..7).filter(|&i| s.takes(i)).collect::<Vec<_>>();
        assert_eq!(take(one), [0, 3, 6]);
        assert_eq!(take("2/3".parse().unwrap()), [1, 4]);
        assert_eq!(take(three), [2, 5]);
        // Every item in exactly one shard.
        for n in 1..5 {
            for item in 0..10 {
                let owners = (1..=n)
                    .filter(|&i| Shard { index: i, count: n }.takes(item))
                    .count();
                assert_eq!(owners, 1);
            }
        }
        for bad in ["0/2", "3/2", "1", "a/2", "1/0", "", "1/2/3"] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("--shard"), "{bad}: {err}");
        }
        assert!(Part::All.trains(5) && !Part::Collect.trains(0));
        assert!(Part::Shard(one).trains(3) && !Part::Shard(one).trains(4));
    }

    #[test]
    fn metric_direction() {
        assert!(higher_is_better("val_acc"));
        assert!(!higher_is_better("val_loss"));
    }
}

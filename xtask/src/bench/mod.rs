//! `cargo xtask bench`: gen side by side with PyTorch and Keras/TensorFlow.
//!
//! Each workload runs as one long-lived worker process per side: gen's is a release example
//! (`crates/gen-train/examples/bench.rs`, `crates/gen-data/examples/bench_pad.rs`), each peer
//! configuration's is `bench/peers/*.py` in the environment of [`peers`]. A peer runs as its
//! users get it (`torch`, `keras`) and tuned (`torch-tuned`, `keras-tuned`: the documented
//! settings that were measured to speed it up on this workload). Every worker sets up its
//! model and data, runs its warm-up and says it is ready (gen first: it writes the data files
//! the peers read); their shapes must agree. Then the sides take turns, A B C A B C ..., each
//! running a few timed iterations per round, on the same thread count. The report gives
//! each side's median over all its iterations, gen/peer ratios of the medians (below 1: gen
//! is faster), the fastest peer configuration and gen's ratio to it (the headline), and each
//! side's peak resident memory (`VmHWM`).

mod peers;
mod report;
mod stats;
mod worker;
mod workloads;

use crate::util::{cargo, prepend_library_path, project_root, run_checked};
use crate::{fetch, setup};
use anyhow::{Context, Result, bail};
use peers::Config;
use std::path::PathBuf;
use std::process::Command;
use worker::{Round, Worker};
use workloads::GenProgram;
pub use workloads::{Plan, Workload, select};

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug, Default, PartialEq)]
pub struct BenchArgs {
    /// Fewer rounds and iterations, and no `seed-epoch` unless `--only` names it: the rest
    /// runs in under 3 minutes. Default: off.
    #[arg(long)]
    pub quick: bool,
    /// Run only these workloads, or groups of them (`lm-generate`); repeat the option or
    /// separate names by commas. Default: all.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub only: Vec<String>,
    /// Where to write the JSON report. Default: `bench/latest.json` in the repository.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Threads of every side (intra-op and inter-op). Default: the number of CPUs.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Rounds per workload, instead of each workload's own. Default: theirs.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Also run the peer settings that lost when the tuned configurations were chosen (each
    /// as its own worker), to check the choice on this machine. Default: off.
    #[arg(long)]
    pub trials: bool,
}

/// One side's results on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct SideResult {
    /// `gen`, or the peer configuration's name (`torch`, `torch-tuned`, ...).
    pub side: String,
    /// A peer configuration only run with `--trials`.
    pub trial: bool,
    /// gen on its [`Workload::baseline`] workload, not a peer.
    pub baseline: bool,
    /// The settings it was started with (`--flush-denormal`, `OMP_WAIT_POLICY=PASSIVE`).
    pub settings: Vec<String>,
    /// The settings the worker reported seeing (its `ready` line's `settings`).
    pub reported: serde_json::Value,
    /// Framework and version.
    pub version: String,
    /// Every timed iteration, in milliseconds, in the order run.
    pub samples: Vec<f64>,
    /// Other per-iteration figures.
    pub metrics: std::collections::BTreeMap<String, Vec<f64>>,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: Option<u64>,
}

impl SideResult {
    fn add(&mut self, round: Round) {
        self.samples.extend(round.times_ms);
        for (k, v) in round.metrics {
            self.metrics.entry(k).or_default().extend(v);
        }
    }
}

/// One workload's results: gen first, then its peers.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadResult {
    /// The workload's name.
    pub name: String,
    /// What one iteration is.
    pub what: String,
    /// Its target for gen's ratio to the fastest peer configuration.
    pub target: Option<f64>,
    /// The shapes all sides agreed on.
    pub shape: serde_json::Value,
    /// The plan it ran.
    pub plan: Plan,
    /// gen, then the peers.
    pub sides: Vec<SideResult>,
}

/// Everything a run needs to start workers.
struct Env {
    threads: usize,
    trials: bool,
    python: PathBuf,
    work: PathBuf,
    logs: PathBuf,
    libtorch_lib: PathBuf,
    bin_dir: PathBuf,
}

/// Runs `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let chosen = select(args)?;
    if chosen.is_empty() {
        bail!("nothing to run (seed-epoch runs without --quick, or with --only seed-epoch)");
    }
    let libtorch = setup::run(&setup::SetupArgs::default())?;
    let mut datasets: Vec<String> = chosen
        .iter()
        .filter_map(|(w, _)| w.dataset.map(String::from))
        .collect();
    datasets.dedup();
    if !datasets.is_empty() {
        fetch::run(&fetch::FetchArgs {
            names: datasets,
            ..Default::default()
        })?;
    }
    let python = peers::python()?;
    eprintln!("bench: building gen's bench programs (release) ...");
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "gen-train",
        "--example",
        "bench",
        "-p",
        "gen-data",
        "--example",
        "bench_pad",
    ]);
    run_checked(&mut build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    let bench_dir = target.join("bench");
    let ctx = Env {
        threads: args.threads.unwrap_or_else(report::cpus).max(1),
        trials: args.trials,
        python,
        work: bench_dir.join("work"),
        logs: bench_dir.join("logs"),
        libtorch_lib: libtorch.lib_dir(),
        bin_dir: target.join("release").join("examples"),
    };
    for dir in [&ctx.work, &ctx.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let meta_start = report::Meta::now(ctx.threads, args.quick);
    let mut results = Vec::new();
    for (w, plan) in chosen {
        results.push(run_workload(w, plan, &ctx)?);
    }
    let meta = meta_start.finish();
    println!("{}", report::table(&meta, &results));
    let json_path = args
        .json
        .clone()
        .unwrap_or_else(|| project_root().join("bench").join("latest.json"));
    let text = serde_json::to_string_pretty(&report::json(&meta, &results))?;
    std::fs::write(&json_path, text + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    eprintln!("bench: wrote {}", json_path.display());
    Ok(())
}

/// A side of a workload: who runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// gen.
    Gen,
    /// gen on another workload ([`Workload::baseline`]).
    Baseline(&'static str),
    /// A peer configuration.
    Peer(&'static Config),
}

impl Side {
    /// Its name in tables, the JSON and the logs.
    fn name(self) -> String {
        match self {
            Side::Gen => "gen".into(),
            Side::Baseline(workload) => format!("gen-{workload}"),
            Side::Peer(config) => config.name.into(),
        }
    }

    /// What its worker must say it is.
    fn framework(self) -> &'static str {
        match self {
            Side::Gen | Side::Baseline(_) => "gen",
            Side::Peer(config) => config.peer.name(),
        }
    }
}

/// The command of `side` for workload `w`. Only a peer configuration's own settings are
/// added; everything else, OpenMP's wait policy included, is the environment of the bench,
/// the same for every side.
fn command(w: &Workload, side: Side, plan: Plan, ctx: &Env) -> Command {
    let mut cmd = match side {
        Side::Gen | Side::Baseline(_) => {
            let program = match w.r#gen {
                GenProgram::Train => "bench",
                GenProgram::Data => "bench_pad",
            };
            let mut c = Command::new(ctx.bin_dir.join(program));
            prepend_library_path(&mut c, &ctx.libtorch_lib);
            c
        }
        Side::Peer(config) => {
            let mut c = Command::new(&ctx.python);
            c.arg(config.peer.script());
            c
        }
    };
    let workload = match side {
        Side::Baseline(name) => name,
        _ => w.name,
    };
    cmd.arg(workload)
        .arg("--threads")
        .arg(ctx.threads.to_string())
        .arg("--warmup")
        .arg(plan.warmup.to_string())
        .arg("--dir")
        .arg(&ctx.work)
        .current_dir(project_root());
    if let Side::Peer(config) = side {
        config.apply(&mut cmd);
    }
    cmd
}

fn start(w: &Workload, side: Side, plan: Plan, ctx: &Env) -> Result<Worker> {
    let name = side.name();
    eprintln!("bench: {}: starting {name} ...", w.name);
    let log = ctx.logs.join(format!("{}-{name}.log", w.name));
    let worker = Worker::start(command(w, side, plan, ctx), &log)
        .with_context(|| format!("{}: the {name} worker", w.name))?;
    let want = side.framework();
    if worker.ready.side != want {
        bail!(
            "{}: the {name} worker says it is {}, not {want}",
            w.name,
            worker.ready.side
        );
    }
    if let Side::Peer(config) = side {
        config
            .check(&worker.ready.settings)
            .with_context(|| format!("{}: see {}", w.name, log.display()))?;
    }
    Ok(worker)
}

/// Whether every field of `part` is in `whole` with the same value (a baseline's shapes in
/// its workload's).
fn shape_within(part: &serde_json::Value, whole: &serde_json::Value) -> bool {
    match (part.as_object(), whole.as_object()) {
        (Some(part), Some(whole)) => part.iter().all(|(k, v)| whole.get(k) == Some(v)),
        _ => part == whole,
    }
}

/// The peer configurations of `w` that run: the trials only with `--trials`.
fn configs(w: &Workload, trials: bool) -> impl Iterator<Item = &'static Config> {
    w.peers.iter().filter(move |c| trials || !c.trial)
}

/// Runs one workload: starts gen, its baseline, then each peer configuration; checks that
/// the shapes agree; takes turns.
fn run_workload(w: &Workload, plan: Plan, ctx: &Env) -> Result<WorkloadResult> {
    let sides: Vec<Side> = std::iter::once(Side::Gen)
        .chain(w.baseline.map(Side::Baseline))
        .chain(configs(w, ctx.trials).map(Side::Peer))
        .collect();
    let mut workers = Vec::new();
    for &side in &sides {
        workers.push(start(w, side, plan, ctx)?);
    }
    let shape = workers
        .first()
        .map(|g| g.ready.shape.clone())
        .unwrap_or_default();
    for (worker, &side) in workers.iter().zip(&sides) {
        let agrees = match side {
            Side::Baseline(_) => shape_within(&worker.ready.shape, &shape),
            _ => worker.ready.shape == shape,
        };
        if !agrees {
            bail!(
                "{}: the sides disagree on the workload: gen has {shape}, {} has {}",
                w.name,
                side.name(),
                worker.ready.shape
            );
        }
    }
    let mut sides: Vec<SideResult> = workers
        .iter()
        .zip(sides)
        .map(|(wk, side)| {
            let config = match side {
                Side::Peer(c) => Some(c),
                _ => None,
            };
            SideResult {
                side: side.name(),
                trial: config.is_some_and(|c| c.trial),
                baseline: matches!(side, Side::Baseline(_)),
                settings: config
                    .map_or_else(Vec::new, |c| c.settings.iter().map(|s| s.label()).collect()),
                reported: wk.ready.settings.clone(),
                version: wk.ready.version.clone(),
                samples: Vec::new(),
                metrics: Default::default(),
                peak_rss_kib: None,
            }
        })
        .collect();
    for round in 0..plan.rounds {
        let mut line = format!("bench: {}: round {}/{}", w.name, round + 1, plan.rounds);
        for (worker, side) in workers.iter_mut().zip(sides.iter_mut()) {
            let r = if plan.warmup > 0 {
                let mut r = worker.run(plan.iters + 1)?;
                r.drop_first();
                r
            } else {
                worker.run(plan.iters)?
            };
            let m = stats::median(&r.times_ms).unwrap_or(f64::NAN);
            line.push_str(&format!("  {} {}", side.side, report::fmt_ms(m)));
            side.add(r);
        }
        eprintln!("{line} ms");
    }
    for (worker, side) in workers.into_iter().zip(sides.iter_mut()) {
        side.peak_rss_kib = worker.finish()?;
    }
    Ok(WorkloadResult {
        name: w.name.to_string(),
        what: w.what.to_string(),
        target: w.target,
        shape,
        plan,
        sides,
    })
}

#[cfg(test)]
mod tests {
    use super::peers::Peer;
    use super::workloads::{FLUSH, PASSIVE, TORCH, WORKLOADS, plan};
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    pub(super) fn parse(argv: &[&str]) -> BenchArgs {
        Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn parses_the_options() {
        assert_eq!(parse(&[]), BenchArgs::default());
        let a = parse(&[
            "--quick",
            "--only",
            "pad,seed-step",
            "--only",
            "lm-generate",
            "--json",
            "out.json",
            "--threads",
            "2",
            "--rounds",
            "4",
        ]);
        assert!(a.quick);
        assert_eq!(a.only, ["pad", "seed-step", "lm-generate"]);
        assert_eq!(a.json, Some(PathBuf::from("out.json")));
        assert_eq!((a.threads, a.rounds), (Some(2), Some(4)));
        assert!(Cli::try_parse_from(["bench", "--threads", "two"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--fast"]).is_err());
    }

    #[test]
    fn trials_run_only_when_asked() {
        let w = WORKLOADS.iter().find(|w| w.name == "seed-step").unwrap();
        let plain: Vec<&str> = configs(w, false).map(|c| c.name).collect();
        assert!(plain.contains(&"torch") && plain.contains(&"torch-tuned"));
        assert!(configs(w, false).all(|c| !c.trial));
        assert!(configs(w, true).count() >= plain.len());
        assert!(parse(&["--trials"]).trials);
    }

    fn env() -> Env {
        Env {
            threads: 2,
            trials: false,
            python: PathBuf::from("python"),
            work: PathBuf::from("work"),
            logs: PathBuf::from("logs"),
            libtorch_lib: PathBuf::from("lib"),
            bin_dir: PathBuf::from("bin"),
        }
    }

    fn args_of(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env_of(cmd: &Command, name: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn tuned_settings_reach_their_peer_worker_only() {
        const TUNED: Config = Config::tuned("torch-tuned", Peer::Torch, &[FLUSH, PASSIVE]);
        let plan = plan(1, 1, 1);
        for w in WORKLOADS {
            let r#gen = command(w, Side::Gen, plan, &env());
            assert!(!args_of(&r#gen).iter().any(|a| a.starts_with("--flush")));
            assert!(!args_of(&r#gen).iter().any(|a| a.starts_with("--jit")));
            assert_eq!(env_of(&r#gen, "OMP_WAIT_POLICY"), None);
            assert_eq!(env_of(&r#gen, "TF_ENABLE_ONEDNN_OPTS"), None);
            let defaults = command(w, Side::Peer(&TORCH), plan, &env());
            assert!(!args_of(&defaults).contains(&"--flush-denormal".to_string()));
            assert_eq!(env_of(&defaults, "OMP_WAIT_POLICY"), None);
        }
        let w = WORKLOADS.first().unwrap();
        let cmd = command(w, Side::Peer(&TUNED), plan, &env());
        assert!(args_of(&cmd).contains(&"--flush-denormal".to_string()));
        assert_eq!(env_of(&cmd, "OMP_WAIT_POLICY").as_deref(), Some("PASSIVE"));
    }

    #[test]
    fn a_baseline_is_gen_on_its_own_workload() {
        let w = WORKLOADS.iter().find(|w| w.name == "ddp-step").unwrap();
        let side = Side::Baseline(w.baseline.unwrap());
        assert_eq!(side.name(), "gen-seed-step");
        assert_eq!(side.framework(), "gen");
        let cmd = command(w, side, plan(1, 1, 1), &env());
        assert_eq!(cmd.get_program(), Path::new("bin").join("bench"));
        assert_eq!(args_of(&cmd).first().map(String::as_str), Some("seed-step"));
        assert_eq!(
            args_of(&command(w, Side::Gen, plan(1, 1, 1), &env())).first(),
            Some(&"ddp-step".to_string())
        );
        // Every baseline is a workload of the same gen program.
        for w in WORKLOADS {
            if let Some(b) = w.baseline {
                let base = WORKLOADS.iter().find(|x| x.name == b).unwrap();
                assert_eq!(base.r#gen, w.r#gen, "{}", w.name);
            }
        }
    }

    #[test]
    fn a_baseline_shape_must_be_part_of_the_workload_shape() {
        let ddp = serde_json::json!({"batch": 128, "seq": 256, "ranks": 2, "batch_per_rank": 64});
        assert!(shape_within(
            &serde_json::json!({"batch": 128, "seq": 256}),
            &ddp
        ));
        assert!(shape_within(&serde_json::json!({}), &ddp));
        assert!(!shape_within(
            &serde_json::json!({"batch": 64, "seq": 256}),
            &ddp
        ));
        assert!(!shape_within(&serde_json::json!({"vocab": 10000}), &ddp));
        assert!(!shape_within(&serde_json::json!(null), &ddp));
    }

    #[test]
    fn a_worker_must_report_the_settings_it_was_given() {
        let tuned = Config::tuned("torch-tuned", Peer::Torch, &[FLUSH, PASSIVE]);
        let ok = serde_json::json!({"flush_denormal": true, "OMP_WAIT_POLICY": "PASSIVE"});
        tuned.check(&ok).unwrap();
        let unset = serde_json::json!({"flush_denormal": true, "OMP_WAIT_POLICY": null});
        let err = tuned.check(&unset).unwrap_err().to_string();
        assert!(err.contains("OMP_WAIT_POLICY=PASSIVE"), "{err}");
        let off = serde_json::json!({"flush_denormal": false, "OMP_WAIT_POLICY": "PASSIVE"});
        assert!(tuned.check(&off).is_err());
        // The defaults ask for nothing.
        TORCH.check(&serde_json::Value::Null).unwrap();
    }
}

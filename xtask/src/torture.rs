//! `cargo xtask torture [--kills N] [--seed S] [--gen PATH]`: SIGKILLs a small training run at
//! random moments, and proves that every state a kill leaves behind resumes to the same end,
//! bit for bit, as the run that was never interrupted.
//!
//! 1. Trains the reference: a small `text-char` run (the canterbury data; checkpoints every
//!    step), uninterrupted, and times it.
//! 2. Starts the same run in another folder and SIGKILLs it after a random delay (up to the
//!    reference's duration), N times: each kill is followed by `gen resume` of that folder,
//!    itself killed by the next. The checkpoint writer sleeps between its two renames
//!    (`GEN_CHECKPOINT_WRITE_DELAY_MS`), which widens the window in which a kill tears a
//!    checkpoint, so fallbacks to the previous generation get exercised too.
//! 3. After each kill, a copy of the folder is resumed to the end, and its final
//!    `checkpoints/last.safetensors` (weights, optimiser state, step) and `metrics.jsonl`
//!    must equal the reference's byte for byte.
//!
//! It prints one line per kill (delay, the step the copy resumed from, whether it fell back)
//! and the total `N/N identical`; any difference or failed resume fails the command.

use crate::progress::build_gen;
use crate::util::project_root;
use anyhow::{Context, Result, bail};
use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Options of `cargo xtask torture`.
#[derive(clap::Args, Debug)]
pub struct TortureArgs {
    /// Kills (each followed by a resume to the end and a comparison). Default 30.
    #[arg(long, default_value_t = 30)]
    pub kills: u32,
    /// Seed of the random kill moments. Default 0.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training steps of the run. Default 40.
    #[arg(long, default_value_t = 40)]
    pub steps: u32,
    /// The `gen` binary to torture. Default: build gen in release.
    #[arg(long = "gen", value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Where the runs go (kept for inspection). Default: `target/torture` under the target folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The run: small enough that one takes seconds, with a checkpoint after every step.
fn run_args(steps: u32) -> Vec<String> {
    [
        "--max-steps",
        &steps.to_string(),
        "--seed",
        "0",
        "--threads",
        "1",
        "--set",
        "model.hidden_size=48",
        "--set",
        "model.embedding_dim=16",
        "--set",
        "trainer.batch_size=16",
        "--set",
        "trainer.checkpoint_every=1",
        "--set",
        "sample.num=1",
        "--set",
        "sample.sampling.max_tokens=8",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs `cargo xtask torture`.
pub fn run(args: &TortureArgs) -> Result<()> {
    let gen_exe = match &args.binary {
        Some(path) => path.clone(),
        None => build_gen(false)?,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| project_root().join("target"), PathBuf::from)
            .join("torture")
    });
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let gen_run = |args: &[String], log: &Path, delay_ms: u64| -> Result<std::process::Child> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        Command::new(&gen_exe)
            .args(args)
            .env("GEN_CHECKPOINT_WRITE_DELAY_MS", delay_ms.to_string())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", gen_exe.display()))
    };
    let train_args = |dir: &Path, force: bool| -> Vec<String> {
        let mut a = vec![
            "train".to_string(),
            "text-char".into(),
            "--out".into(),
            dir.display().to_string(),
        ];
        if force {
            a.push("--force".into());
        }
        a.extend(run_args(args.steps));
        a
    };
    let finish = |child: std::process::Child, log: &Path| -> Result<()> {
        let status = child.wait_with_output()?.status;
        if !status.success() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("gen failed ({status}); {}:\n{text}", log.display());
        }
        Ok(())
    };

    // 1. The reference, uninterrupted (and without the write delay).
    let reference = out.join("reference");
    let start = Instant::now();
    let log = out.join("reference.log");
    finish(gen_run(&train_args(&reference, false), &log, 0)?, &log)?;
    let duration = start.elapsed();
    let want = Outcome::read(&reference)?;
    println!(
        "torture: reference run of {} steps took {:.1} s; final loss {}",
        args.steps,
        duration.as_secs_f64(),
        want.final_loss
    );

    // 2. and 3. Kill, copy and finish the copy, resume the original.
    let tortured = out.join("tortured");
    let mut rng = SplitMix64::seed_from_u64(args.seed);
    let window_ms = (duration.as_millis() as u64).max(100);
    let (mut identical, mut fallbacks) = (0, 0);
    // A run that ended before its kill starts again from scratch, so that every kill lands in
    // a live run.
    let mut restart = true;
    for kill in 1..=args.kills {
        let started = !restart && tortured.join("config.toml").is_file();
        let command = if started {
            vec![
                "resume".to_string(),
                tortured.display().to_string(),
                "-q".into(),
            ]
        } else {
            train_args(&tortured, true)
        };
        let delay = Duration::from_millis(rng.next_u64() % window_ms);
        let log = out.join(format!("kill-{kill}.log"));
        let mut child = gen_run(&command, &log, 5)?;
        std::thread::sleep(delay);
        let killed = child.try_wait()?.is_none();
        // SIGKILL on Unix.
        child.kill().ok();
        child.wait()?;
        restart = !killed;

        let copy = out.join(format!("copy-{kill}"));
        copy_dir(&tortured, &copy)?;
        let left = checkpoint_step(&copy);
        let log = out.join(format!("copy-{kill}.log"));
        let resumed = if copy.join("config.toml").is_file() {
            let args = vec!["resume".to_string(), copy.display().to_string()];
            gen_run(&args, &log, 0)?
        } else {
            gen_run(&train_args(&copy, true), &log, 0)?
        };
        finish(resumed, &log)?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let fell_back = text.contains("falling back to the previous checkpoint");
        fallbacks += u32::from(fell_back);
        let got = Outcome::read(&copy)?;
        let same = got == want;
        identical += u32::from(same);
        println!(
            "kill {kill:>3}: after {:>5} ms{}; left {left}{}: {}",
            delay.as_millis(),
            if killed { "" } else { " (had already ended)" },
            if fell_back {
                ", fell back to the previous checkpoint"
            } else {
                ""
            },
            if same { "identical" } else { "DIFFERENT" }
        );
        std::fs::remove_dir_all(&copy).ok();
    }
    println!(
        "torture: {identical}/{} kills resumed to the identical final loss ({}) and weights; \
         {fallbacks} resumed from the previous generation after a torn checkpoint",
        args.kills, want.final_loss
    );
    if identical != args.kills {
        bail!("{} resumed runs differ", args.kills - identical);
    }
    Ok(())
}

/// What a kill left in `dir`: the step of `checkpoints/last` as its state file says, or why
/// there is none to read.
fn checkpoint_step(dir: &Path) -> String {
    let path = dir.join("checkpoints/last.json");
    match std::fs::read(&path) {
        Err(_) if !dir.join("config.toml").is_file() => "no run yet".into(),
        Err(_) => "no last checkpoint".into(),
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => format!("last at step {}", v[0]),
            Err(_) => "a torn last.json".into(),
        },
    }
}

/// The end of a run: its final checkpoint's bytes and metrics, and the final loss.
#[derive(Debug, PartialEq)]
struct Outcome {
    tensors: Vec<u8>,
    metrics: Vec<u8>,
    final_loss: String,
}

impl Outcome {
    fn read(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        let state: serde_json::Value = serde_json::from_slice(&read("checkpoints/last.json")?)
            .context("checkpoints/last.json")?;
        // `[step, state, record]`: the last logged loss of the state's history.
        let final_loss = state[1]["history"]
            .as_array()
            .and_then(|h| h.last())
            .map_or_else(|| "none".into(), |e| e["metrics"]["loss"].to_string());
        Ok(Outcome {
            tensors: read("checkpoints/last.safetensors")?,
            metrics: read("metrics.jsonl")?,
            final_loss,
        })
    }
}

/// Copies the folder tree `from` to `to` (plain files and folders; the lock file too).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return std::fs::create_dir_all(to).with_context(|| format!("{}", to.display()));
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("{}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

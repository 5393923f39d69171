//! `gen sample`: a PNG grid from a GAN run, WAVs and a spectrogram grid from a sound-GAN run,
//! trajectories (PNG and CSV) from a trajectory run, or chorales (MIDI, WAV and PNG) from a music
//! run.

use super::{Global, wrong_kind};
use crate::config::RunConfig;
use crate::fit::RunKind;
use crate::{gan, music, provenance, runs, runtime, sound, trajectory};
use anyhow::Result;
use clap::Args;
use gen_data::drums::DrumClass;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SampleArgs {
    /// The run folder (an image-GAN, sound-GAN, trajectory or music run).
    #[arg(long)]
    run: PathBuf,
    /// Images in the grid, trajectories per shape (at most 64), or chorales. Default: 64
    /// images or trajectories, 4 chorales.
    #[arg(long)]
    num: Option<usize>,
    /// Generate this class (conditional GANs: an index; sound runs also take a name, e.g.
    /// `snare`) or this shape index (trajectory runs). Default: classes drawn uniformly; every
    /// shape.
    #[arg(long)]
    class: Option<String>,
    /// Seed of the latents.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG to write (sound runs write `<stem>-NN.wav` beside it; music runs: the folder).
    /// Default: `<run>/samples/sample-seed<S>[-class<K>].png` (sound runs: `[-<name>]`;
    /// music runs: `<run>/samples`)
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the samples and prints the paths of the files written.
pub fn run(args: SampleArgs, global: &Global) -> Result<ExitCode> {
    runtime::init_logging(global.level(), None)?;
    let config = runs::read_config(&args.run)?;
    let device = runtime::setup(&config)?;
    let num = args.num.unwrap_or(64);
    let class = args
        .class
        .as_deref()
        .map(|c| class_index(&config, c))
        .transpose()?;
    // Sound runs name the class in file names and provenance; the others give its index.
    let drum = class
        .filter(|_| matches!(config, RunConfig::SoundGan(_)))
        .and_then(|k| usize::try_from(k).ok())
        .and_then(DrumClass::from_index);
    let out = args.out.clone().unwrap_or_else(|| {
        let class = match (drum, class) {
            (Some(d), _) => format!("-{}", d.name()),
            (None, Some(k)) => format!("-class{k}"),
            (None, None) => String::new(),
        };
        args.run
            .join("samples")
            .join(format!("sample-seed{}{class}.png", args.seed))
    });
    let mut sampling = provenance::Sampling::new();
    sampling.insert("num".into(), args.num.into());
    match (drum, class) {
        (Some(d), _) => {
            sampling.insert("class".into(), d.name().into());
        }
        (None, Some(k)) => {
            sampling.insert("class".into(), k.into());
        }
        (None, None) => {}
    }
    match &config {
        RunConfig::ImageGan(r) => {
            let opts = gan::SampleOptions {
                num,
                class,
                seed: args.seed,
                out: out.clone(),
            };
            gan::sample(r, &args.run, device, &opts)?;
            let record = provenance::for_run(&args.run, &["last"], args.seed, sampling)?;
            provenance::label(&[out.as_path()], &record)?;
            println!("{}", out.display());
        }
        RunConfig::SoundGan(r) => {
            let opts = gan::SampleOptions {
                num: args.num.unwrap_or(16),
                class,
                seed: args.seed,
                out: out.clone(),
            };
            let written = sound::sample(r, &args.run, device, &opts)?;
            let record = provenance::for_run(&args.run, &["last"], args.seed, sampling)?;
            let files: Vec<&std::path::Path> = written.iter().map(PathBuf::as_path).collect();
            provenance::label(&files, &record)?;
            for path in &written {
                println!("{}", path.display());
            }
        }
        RunConfig::Trajectory(r) => {
            let opts = trajectory::SampleOptions {
                num: num.min(64),
                shape: class,
                seed: args.seed,
                out: out.clone(),
            };
            let csv = trajectory::sample(r, &args.run, device, &opts)?;
            let record = provenance::for_run(&args.run, &["last"], args.seed, sampling)?;
            provenance::label(&[out.as_path(), csv.as_path()], &record)?;
            println!("{}\n{}", out.display(), csv.display());
        }
        RunConfig::Music(r) => {
            if class.is_some() {
                anyhow::bail!("--class: a music run is not conditional");
            }
            let opts = music::SampleOptions {
                num: args.num.unwrap_or(4),
                seed: args.seed,
                out: args.out.unwrap_or_else(|| args.run.join("samples")),
            };
            let set = r.load(device)?;
            let written = music::sample(r, &args.run, &set, &opts)?;
            // The generated chorales carry a label; the renderings of real test chorales do not.
            let generated: Vec<&std::path::Path> = written
                .iter()
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("chorale-"))
                })
                .map(PathBuf::as_path)
                .collect();
            let record = provenance::for_run(&args.run, &["best", "last"], args.seed, sampling)?;
            provenance::label(&generated, &record)?;
            for path in &written {
                println!("{}", path.display());
            }
        }
        _ => {
            return Err(wrong_kind(
                &args.run,
                &config,
                "sample",
                "an image-GAN run (mnist-dcgan, fashion-cgan, ...), a sound-GAN run (drums-specgan), \
                 a trajectory run (lasa-traj) or a music run (bach-gru, bach-nade)",
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--class` as an index: a number, or for sound runs a drum class name.
fn class_index(config: &RunConfig, class: &str) -> Result<i64> {
    if let Ok(k) = class.trim().parse::<i64>() {
        return Ok(k);
    }
    match config {
        RunConfig::SoundGan(_) => class
            .parse::<DrumClass>()
            .map(|c| c.index() as i64)
            .map_err(|e| anyhow::anyhow!("--class {class}: {e}")),
        _ => anyhow::bail!("--class {class}: expected a class index (0, 1, ...)"),
    }
}

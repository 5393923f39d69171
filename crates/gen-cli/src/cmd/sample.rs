//! `gen sample`: a PNG grid from a GAN run, WAVs and a spectrogram grid from a sound-GAN run,
//! or trajectories (PNG and CSV) from a trajectory run.

use super::{Global, wrong_kind};
use crate::config::RunConfig;
use crate::{gan, runs, runtime, sound, trajectory};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SampleArgs {
    /// The run folder (an image-GAN, sound-GAN or trajectory run).
    #[arg(long)]
    run: PathBuf,
    /// Images in the grid.
    #[arg(long, default_value_t = 64)]
    num: usize,
    /// Generate this class (conditional GANs) or this shape index (trajectory runs).
    /// Default: classes drawn uniformly; every shape.
    #[arg(long)]
    class: Option<i64>,
    /// Seed of the latents.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG to write (sound runs write `<stem>-NN.wav` beside it). Default:
    /// `<run>/samples/sample-seed<S>[-class<K>].png`
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the samples and prints the paths of the files written.
pub fn run(args: SampleArgs, global: &Global) -> Result<ExitCode> {
    runtime::init_logging(global.level(), None)?;
    let config = runs::read_config(&args.run)?;
    let device = runtime::setup(&config)?;
    let out = args.out.unwrap_or_else(|| {
        let class = args.class.map(|k| format!("-class{k}")).unwrap_or_default();
        args.run
            .join("samples")
            .join(format!("sample-seed{}{class}.png", args.seed))
    });
    match &config {
        RunConfig::ImageGan(r) => {
            let opts = gan::SampleOptions {
                num: args.num,
                class: args.class,
                seed: args.seed,
                out: out.clone(),
            };
            gan::sample(r, &args.run, device, &opts)?;
            println!("{}", out.display());
        }
        RunConfig::SoundGan(r) => {
            let opts = gan::SampleOptions {
                num: args.num,
                class: args.class,
                seed: args.seed,
                out: out.clone(),
            };
            for path in sound::sample(r, &args.run, device, &opts)? {
                println!("{}", path.display());
            }
        }
        RunConfig::Trajectory(r) => {
            let opts = trajectory::SampleOptions {
                num: args.num.min(64),
                shape: args.class,
                seed: args.seed,
                out: out.clone(),
            };
            let csv = trajectory::sample(r, &args.run, device, &opts)?;
            println!("{}\n{}", out.display(), csv.display());
        }
        _ => {
            return Err(wrong_kind(
                &args.run,
                &config,
                "sample",
                "an image-GAN run (mnist-dcgan, fashion-cgan, ...), a sound-GAN run (drums-specgan) or a trajectory run (lasa-traj)",
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! Project automation for gen, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! One module per command. The xtask is lean: it depends on no gen crate and no tch, and it
//! fetches through the ordinary registry clients (pip, apt-get, npm).

mod bench;
// gen-data's data-folder rule, compiled from its one source file: xtask depends on no gen crate.
#[path = "../../crates/gen-data/src/data_dir_rule.rs"]
mod data_dir_rule;
mod fetch;
mod fuzz;
mod install;
mod progress;
mod setup;
mod torture;
mod train;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// gen's project tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "gen's project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install libtorch for tch 0.26 (PyTorch 2.13.0) into the per-user cache and link it as
    /// `.libtorch`. Idempotent; respects a `LIBTORCH` you set yourself.
    ///
    /// Example: `cargo xtask setup`
    Setup(setup::SetupArgs),
    /// Set up, then run every test of the workspace, doctests included: plain `cargo test
    /// --workspace`, which works as it is once libtorch is set up.
    ///
    /// Example: `cargo xtask test -- --nocapture`
    Test {
        /// Extra arguments passed to `cargo test --workspace`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fetch datasets into `<data folder>/<name>/` from the sources in `datasets/datasets.toml`,
    /// tried in order and checked against its sha256 checksums. The data folder is the one `gen`
    /// reads: `$GEN_DATA_DIR`, else this checkout's `datasets/`, else the per-user
    /// `~/.local/share/gen/datasets`. A verified copy is skipped; URL sources are only tried
    /// with `--urls`. `--list` shows each dataset's licence and sources.
    ///
    /// Example: `cargo xtask fetch-data imdb mnist` (or `cargo xtask fetch-data --list`)
    FetchData(fetch::FetchArgs),
    /// Set up, then install `gen` with `cargo install` (into `~/.cargo/bin` by default), with a
    /// run path to libtorch so that it starts from any folder; checks that it does.
    ///
    /// Example: `cargo xtask install`, `cargo xtask install --root /opt/gen`
    Install(install::InstallArgs),
    /// Set up, fetch the preset's data, then train it in release (`gen train`).
    ///
    /// Example: `cargo xtask train` (the default preset), `cargo xtask train -- --epochs 2`
    Train {
        /// Arguments passed to `gen train` (a preset name, `--set key=value`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Time gen against PyTorch and Keras/TensorFlow, interleaved, on the same workloads,
    /// shapes and thread count; print a table and write JSON. Installs the peers into
    /// `bench/.peers` on first use.
    ///
    /// Example: `cargo xtask bench --quick`, `cargo xtask bench --only seed-step,pad`
    Bench(bench::BenchArgs),
    /// Fuzz every parser (npz, npy, pickle, IDX, CSV, MAT, MusicXML, audio, drumkit.xml, TOML,
    /// safetensors) with libFuzzer, coverage-guided, on stable Rust: 10^6 inputs per target by
    /// default, mutated from the fixtures and the data folder's real files; keeps a corpus in
    /// `fuzz/corpus/` and prints inputs/s, peak heap and the slowest input per target.
    ///
    /// Example: `cargo xtask fuzz`, `cargo xtask fuzz --seconds 5`, `cargo xtask fuzz --target mat`
    Fuzz(fuzz::FuzzArgs),
    /// SIGKILL a small training run at N random moments (checkpoint writes slowed to widen the
    /// torn window); each state a kill leaves must resume to the uninterrupted run's final
    /// weights and metrics, bit for bit. Prints N/N.
    ///
    /// Example: `cargo xtask torture`, `cargo xtask torture --kills 5 --gen target/release/gen`
    Torture(torture::TortureArgs),
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Setup(args) => setup::run(&args).map(|_| ()),
        Command::FetchData(args) => fetch::run(&args),
        Command::Install(args) => install::run(&args),
        Command::Train { args } => train::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Torture(args) => torture::run(&args),
        Command::Test { args } => {
            // Plain `cargo test` needs no LD_LIBRARY_PATH: every binary, test and doctest that
            // links libtorch records its folder as run path (crates/gen-core/build/).
            setup::run(&setup::SetupArgs::default())?;
            let mut cmd = util::cargo();
            cmd.args(["test", "--workspace"]).args(&args);
            util::run_checked(&mut cmd)
        }
    }
}

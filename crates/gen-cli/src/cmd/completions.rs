//! `gen completions`: the shell completion script (clap_complete).

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;
use std::process::ExitCode;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Prints the completion script of `command` for the shell asked for.
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> Result<ExitCode> {
    clap_complete::generate(args.shell, &mut command, "gen", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "poetry", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

//! The `poetry` command line: clap definitions, one module of glue per
//! subcommand, and what goes to the terminal. Everything else is the library.

mod cli;
mod commands;
mod exit;
mod term;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    commands::run(cli)
}

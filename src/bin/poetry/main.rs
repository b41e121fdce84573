//! The `poetry` command line: clap definitions, one module of glue per
//! subcommand, and what goes to the terminal. Everything else is the library.

mod cli;
mod commands;
mod exit;
mod process;
mod term;

fn main() -> std::process::ExitCode {
    // Before anything can print: `poetry ... | head -1` ends quietly with 0.
    term::exit_quietly_when_stdout_closes();
    let cli = cli::parse();
    commands::run(cli)
}

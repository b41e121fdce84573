//! One module per subcommand: thin glue from parsed arguments to the library.

mod bench;
mod completions;
mod get;
mod recite;
mod serve;
mod test;
mod transform;
mod transforms;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::term;

/// Runs the command line, reporting any error on stderr.
pub fn run(cli: Cli) -> ExitCode {
    let color = term::init_color(cli.color);
    let result = match cli.command {
        Command::Serve(args) => {
            term::init_logging(cli.verbose, cli.quiet, color);
            serve::run(args)
        }
        Command::Transform(args) => transform::run(args, cli.quiet > 0),
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Recite(args) => {
            term::init_logging(cli.verbose, cli.quiet, color);
            recite::run(args)
        }
        Command::Get(args) => get::run(args, cli.quiet > 0),
        Command::Transforms => transforms::run(),
        Command::Completions { shell } => completions::run(shell),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            use colored::Colorize;
            eprintln!("{} {err:#}", "error:".red().bold());
            ExitCode::FAILURE
        }
    }
}

/// A current-thread runtime for the client commands: one request needs no more.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

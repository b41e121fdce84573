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
use crate::{exit, term};

/// Runs the command line, reporting any error on stderr with the exit code
/// of its class.
pub fn run(cli: Cli) -> ExitCode {
    let color = term::init_color(cli.color);
    let result = match cli.command {
        Command::Serve(args) => {
            term::init_logging(cli.verbose, cli.quiet, color);
            serve::run(args)
        }
        Command::Transform(args) => transform::run(args, cli.verbose, cli.quiet),
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
        // Whoever read our stdout has all they wanted (`| head -1`).
        Err(err) if term::is_closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            term::say(term::error_label(), &format!("{err:#}"));
            exit::code_of(&err).into()
        }
    }
}

/// A current-thread runtime for the client commands: one request needs no more.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

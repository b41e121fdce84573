//! `poetry transform`: one poem to stdout, or a batch of them into a directory.

mod batch;
mod explain;
mod wire;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{ServerArg, TransformArgs};
use crate::exit::{fail, Exit};
use crate::term;
use poetry::client::{self, Client, Options};

/// Transforms one poem to stdout, or a batch into `--out-dir`.
pub fn run(args: TransformArgs, verbose: u8, quiet: u8) -> anyhow::Result<ExitCode> {
    let client = Client {
        servers: server_addresses(&args),
        options: Options {
            connect_timeout: args.connect_timeout,
            timeout: args.timeout,
            max_reply: args.max_reply,
        },
        retries: args.retries,
    };
    let batch = args.out_dir.is_some() || args.files.len() > 1 || args.files.iter().any(|f| f.is_dir());
    if batch {
        if args.print_nc {
            return Err(fail(Exit::Usage, "--print-nc takes one poem, not a batch"));
        }
        return batch::run(&args, &client, quiet);
    }
    let poem = read_poem(args.files.first().map(PathBuf::as_path), quiet > 0)?;
    check_utf8(&poem)?;
    let request = client::request_bytes(&args.name, &poem);
    if args.print_nc {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", wire::nc_command(&request, &client.servers[0]))?;
        stdout.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let level = match (verbose, quiet) {
        _ if args.trace || verbose >= 2 => wire::Level::Trace,
        (1, _) => wire::Level::Verbose,
        (_, 0) => wire::Level::Retries,
        _ => wire::Level::Quiet,
    };
    let mut shown = wire::Shown::new(level);
    let runtime = super::client_runtime()?;
    let result =
        runtime.block_on(client.transform_observed(&args.name, &poem, &mut |event| shown.event(event)));
    match result {
        Ok(reply) => {
            term::write_reply(&reply)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failures) => {
            let report = explain::report(&failures, &args.name, request.len());
            if !args.fallback {
                return Err(fail(report.exit, report.message));
            }
            if quiet == 0 {
                term::say(term::warning_label(), &report.message);
                term::say(term::warning_label(), "printing the poem unchanged (--fallback)");
            }
            // The poem is the user's own: it goes out as it came in.
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&poem)?;
            stdout.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Refuses a poem the protocol cannot carry.
fn check_utf8(poem: &[u8]) -> anyhow::Result<()> {
    if let Err(e) = std::str::from_utf8(poem) {
        anyhow::bail!(
            "the poem is not UTF-8 (invalid byte at offset {}); the protocol carries UTF-8 text only: \
             convert it first, e.g. with `iconv -t UTF-8`",
            e.valid_up_to()
        );
    }
    Ok(())
}

/// The poem from `file`, or from stdin when there is none (or `-`). A person
/// at a terminal is told that stdin is being read, rather than left to
/// wonder why nothing happens.
fn read_poem(file: Option<&Path>, quiet: bool) -> anyhow::Result<Vec<u8>> {
    match file {
        Some(path) if path != Path::new("-") => {
            std::fs::read(path).with_context(|| format!("cannot read the poem from {}", path.display()))
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() && !quiet {
                eprintln!(
                    "reading the poem from the terminal (stdin): type it, then press Ctrl-D at the \
                     start of a line; or give a FILE"
                );
            }
            let mut poem = Vec::new();
            stdin
                .lock()
                .read_to_end(&mut poem)
                .context("cannot read the poem from stdin")?;
            Ok(poem)
        }
    }
}

/// `host:port` for each server to try, in order.
fn server_addresses(args: &TransformArgs) -> Vec<String> {
    if args.servers.is_empty() {
        return vec![client::host_port(&args.host, args.port)];
    }
    args.servers
        .iter()
        .map(|server| match server {
            ServerArg::Port(port) => client::host_port(&args.host, *port),
            ServerArg::At { host, port } => client::host_port(host, *port),
        })
        .collect()
}

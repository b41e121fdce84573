use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use colored::Colorize;

use crate::cli::TransformArgs;
use crate::client::{self, ClientError, Options};
use crate::codec::TWISTED_MAX_LENGTH;
use crate::registry::{Registry, RegistryError};

pub fn run(args: TransformArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let poem = read_poem(args.file.as_deref())?;
    if let Err(e) = std::str::from_utf8(&poem) {
        bail!(
            "the poem is not UTF-8 (invalid byte at offset {}); the protocol carries UTF-8 text only: \
             convert it first, e.g. with `iconv -t UTF-8`",
            e.valid_up_to()
        );
    }
    let servers = server_addresses(&args);
    let options = Options {
        connect_timeout: args.connect_timeout,
        timeout: args.timeout,
        max_reply: args.max_reply,
    };
    let runtime = super::client_runtime()?;
    let mut failures = Vec::new();
    for addr in &servers {
        match runtime.block_on(client::transform(addr, &args.name, &poem, &options)) {
            Ok(reply) => {
                write_stdout(&reply)?;
                return Ok(ExitCode::SUCCESS);
            }
            Err(err) => {
                let retryable = err.is_retryable();
                failures.push(err);
                if !retryable {
                    break;
                }
            }
        }
    }
    let request_len = client::request_bytes(&args.name, &poem).len();
    let report = explain(&failures, &args.name, request_len);
    if args.fallback {
        if !quiet {
            eprintln!("{} {report}", "warning:".yellow().bold());
            eprintln!(
                "{} printing the poem unchanged (--fallback)",
                "warning:".yellow().bold()
            );
        }
        write_stdout(&poem)?;
        return Ok(ExitCode::SUCCESS);
    }
    bail!(report)
}

fn read_poem(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match file {
        Some(path) if path != Path::new("-") => {
            std::fs::read(path).with_context(|| format!("cannot read the poem from {}", path.display()))
        }
        _ => {
            let mut poem = Vec::new();
            std::io::stdin()
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
        return vec![join_host_port(&args.host, args.port)];
    }
    args.servers
        .iter()
        .map(|server| match server.parse::<u16>() {
            Ok(port) => join_host_port(&args.host, port),
            Err(_) => server.clone(),
        })
        .collect()
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}") // a bare IPv6 address
    } else {
        format!("{host}:{port}")
    }
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")
}

/// What went wrong with every server tried, and what to try next.
fn explain(failures: &[ClientError], name: &str, request_len: usize) -> String {
    let mut lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let hint = |lines: &mut Vec<String>, text: String| {
        if !lines.contains(&text) {
            lines.push(text);
        }
    };
    for failure in failures {
        match failure {
            ClientError::Refused { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::Connect { .. } => hint(
                &mut lines,
                "  is `poetry serve` running there? Start one with `poetry serve --port 11000`, \
                 or point --host/--port (POETRY_HOST/POETRY_PORT) or --server at one."
                    .into(),
            ),
            ClientError::NoReply { .. } => {
                let registry = Registry::standard();
                let known: Vec<&str> = registry.names().collect();
                let mut text = format!(
                    "  the server refused the request: it does not know the transform {name:?}, \
                     or the transform failed. This build knows: {} (see `poetry transforms`).",
                    known.join(", ")
                );
                if let Err(RegistryError::UnknownTransform { name: part }) = registry.resolve(name) {
                    if let Some(near) = registry.suggest(&part) {
                        text.push_str(&format!("\n  did you mean {near:?}?"));
                    }
                }
                if request_len > TWISTED_MAX_LENGTH {
                    text.push_str(&format!(
                        "\n  the request is {request_len} bytes: the server may cap request size \
                         (Twisted's default is {TWISTED_MAX_LENGTH} bytes; see `poetry serve --max-length`)."
                    ));
                }
                hint(&mut lines, text);
            }
            ClientError::CutOff { .. } => hint(
                &mut lines,
                "  the server stopped mid-reply (it may have crashed or been stopped); try again.".into(),
            ),
            ClientError::Timeout { .. } => hint(
                &mut lines,
                "  the server is slow or stuck; try a larger --timeout.".into(),
            ),
            ClientError::ReplyTooLong { .. } => hint(
                &mut lines,
                "  raise --max-reply if the reply is expected to be that large.".into(),
            ),
            ClientError::Malformed { .. } | ClientError::Io { .. } => {}
        }
    }
    lines.join("\n")
}

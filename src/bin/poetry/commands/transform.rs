use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use colored::Colorize;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::TransformArgs;
use poetry::client::{self, Client, ClientError, Options};
use poetry::codec::TWISTED_MAX_LENGTH;
use poetry::registry::{Registry, RegistryError};

pub fn run(args: TransformArgs, quiet: bool) -> anyhow::Result<ExitCode> {
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
        return run_batch(&args, &client, quiet);
    }
    let poem = read_poem(args.files.first().map(PathBuf::as_path))?;
    check_utf8(&poem)?;
    let runtime = super::client_runtime()?;
    let result = runtime.block_on(client.transform(&args.name, &poem, |err| {
        if !quiet {
            eprintln!("{} {err}; trying again", "retry:".yellow().bold());
        }
    }));
    match result {
        Ok(reply) => {
            write_stdout(&reply)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failures) => {
            let report = explain(
                &failures,
                &args.name,
                client::request_bytes(&args.name, &poem).len(),
            );
            if !args.fallback {
                bail!(report);
            }
            if !quiet {
                eprintln!("{} {report}", "warning:".yellow().bold());
                eprintln!(
                    "{} printing the poem unchanged (--fallback)",
                    "warning:".yellow().bold()
                );
            }
            write_stdout(&poem)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check_utf8(poem: &[u8]) -> anyhow::Result<()> {
    if let Err(e) = std::str::from_utf8(poem) {
        bail!(
            "the poem is not UTF-8 (invalid byte at offset {}); the protocol carries UTF-8 text only: \
             convert it first, e.g. with `iconv -t UTF-8`",
            e.valid_up_to()
        );
    }
    Ok(())
}

/// How one file of a batch ended.
enum FileOutcome {
    Done,
    FellBack(String),
    Failed(String),
}

/// Transforms every file (directories: their regular files) into `--out-dir`,
/// up to `--jobs` at once; a failure is reported and the others go on.
fn run_batch(args: &TransformArgs, client: &Client, quiet: bool) -> anyhow::Result<ExitCode> {
    let Some(out_dir) = &args.out_dir else {
        bail!("several poems need --out-dir DIR to write the results to");
    };
    let files = expand_files(&args.files)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(files.len() as u64, total_bytes, quiet);
    let started = Instant::now();

    let runtime = super::client_runtime()?;
    let outcomes: Vec<(PathBuf, FileOutcome)> = runtime.block_on(async {
        futures_util::stream::iter(files.iter())
            .map(|path| async {
                let outcome = transform_file(args, client, path, out_dir).await;
                bar.inc(1);
                if let Ok(meta) = path.metadata() {
                    bar.set_message(format!("{}", indicatif::HumanBytes(meta.len())));
                }
                (path.clone(), outcome)
            })
            .buffer_unordered(jobs)
            .collect()
            .await
    });
    bar.finish_and_clear();

    let (mut done, mut fell_back, mut failed) = (0, 0, 0);
    for (path, outcome) in &outcomes {
        match outcome {
            FileOutcome::Done => done += 1,
            FileOutcome::FellBack(why) => {
                fell_back += 1;
                if !quiet {
                    eprintln!(
                        "{} {}: {why}; wrote it unchanged (--fallback)",
                        "warning:".yellow().bold(),
                        path.display()
                    );
                }
            }
            FileOutcome::Failed(why) => {
                failed += 1;
                eprintln!("{} {}: {why}", "error:".red().bold(), path.display());
            }
        }
    }
    if !quiet {
        eprintln!(
            "{} of {} poems transformed, {fell_back} written unchanged, {failed} failed, in {:.2} s, into {}",
            done,
            files.len(),
            started.elapsed().as_secs_f64(),
            out_dir.display()
        );
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn transform_file(args: &TransformArgs, client: &Client, path: &Path, out_dir: &Path) -> FileOutcome {
    let Some(file_name) = path.file_name() else {
        return FileOutcome::Failed("not a file name".into());
    };
    let poem = match tokio::fs::read(path).await {
        Ok(poem) => poem,
        Err(e) => return FileOutcome::Failed(format!("cannot read it: {e}")),
    };
    if let Err(e) = check_utf8(&poem) {
        return FileOutcome::Failed(e.to_string());
    }
    let (bytes, outcome) = match client.transform(&args.name, &poem, |_| {}).await {
        Ok(reply) => (reply.to_vec(), FileOutcome::Done),
        Err(failures) => {
            let why = failures
                .last()
                .map_or_else(|| "no server to try".to_owned(), ToString::to_string);
            if !args.fallback {
                return FileOutcome::Failed(why);
            }
            (poem, FileOutcome::FellBack(why))
        }
    };
    let target = out_dir.join(file_name);
    match tokio::fs::write(&target, bytes).await {
        Ok(()) => outcome,
        Err(e) => FileOutcome::Failed(format!("cannot write {}: {e}", target.display())),
    }
}

/// The files to transform: each argument, or the regular files directly in a
/// directory argument, sorted for a stable order.
fn expand_files(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        if arg == Path::new("-") {
            bail!("stdin (`-`) cannot be part of a batch; give file names");
        }
        if arg.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(arg)
                .with_context(|| format!("cannot list {}", arg.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(arg.clone());
        }
    }
    if files.is_empty() {
        bail!("no poems to transform");
    }
    Ok(files)
}

/// Files done of total, with an ETA; drawn on stderr only when it is a terminal.
fn progress_bar(files: u64, bytes: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(files), ProgressDrawTarget::hidden());
    if !quiet && std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} poems ({} in all), ETA {{eta}}",
                indicatif::HumanBytes(bytes)
            ))
            .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
    }
    bar
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

/// What went wrong with every server tried, and what to try next. Repeated
/// failures (the same server on each retry) are said once.
fn explain(failures: &[ClientError], name: &str, request_len: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut add = |text: String| {
        if !lines.contains(&text) {
            lines.push(text);
        }
    };
    for failure in failures {
        add(failure.to_string());
    }
    for failure in failures {
        match failure {
            ClientError::Refused { .. }
            | ClientError::Resolve { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::Connect { .. } => add(
                "  is `poetry serve` running there? Start one with `poetry serve --port 11000`, \
                 or point --host/--port (POETRY_HOST/POETRY_PORT) or --server at one."
                    .into(),
            ),
            ClientError::NoReply { .. } | ClientError::Rejected { .. } => {
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
                add(text);
            }
            ClientError::CutOff { .. } => {
                add("  the server stopped mid-reply (it may have crashed or been stopped); try again.".into())
            }
            ClientError::Timeout { .. } => {
                add("  the server is slow or stuck; try a larger --timeout.".into())
            }
            ClientError::ReplyTooLong { .. } => {
                add("  raise --max-reply if the reply is expected to be that large.".into())
            }
            ClientError::Malformed { .. } | ClientError::Io { .. } => {}
        }
    }
    lines.join("\n")
}

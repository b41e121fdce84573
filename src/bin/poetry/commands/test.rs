use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use colored::Colorize;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ServerArg, TestArgs};
use crate::exit::Exit;
use poetry::client;
use poetry::codec::TWISTED_MAX_LENGTH;
use poetry::conformance::cases::Target;
use poetry::conformance::probe;
use poetry::conformance::suite::{self, Report, Selection};
use poetry::conformance::{self, report};

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        let listing = if args.json {
            report::list_json() + "\n"
        } else {
            report::list_text()
        };
        write_stdout(listing.as_bytes())?;
        return Ok(Exit::Ok.into());
    }
    let addr = address(&args);
    let runtime = super::client_runtime()?;
    if args.probe_limits {
        return probe_limits(&runtime, &args, &addr);
    }
    let runs_suite = args.suite
        || args.strict
        || args.json
        || args.junit.is_some()
        || args.max_length.is_some()
        || !args.cases.is_empty()
        || !args.skips.is_empty();
    if runs_suite {
        return run_suite(&runtime, &args, addr);
    }
    let round_trip = match runtime.block_on(conformance::round_trip(&addr, args.timeout)) {
        Ok(round_trip) => round_trip,
        Err(err) => {
            eprintln!("{} {addr}: {err}", "FAIL".red().bold());
            return Ok(Exit::Connect.into());
        }
    };
    if round_trip.reply.len > 0 {
        write_stdout(&[&round_trip.reply.head[..], b"\n"].concat())?;
    }
    Ok(match round_trip.verdict {
        Ok(how) => {
            eprintln!("{} {addr}: {how}", "PASS".green().bold());
            Exit::Ok
        }
        Err(why) => {
            eprintln!("{} {addr}: {why}", "FAIL".red().bold());
            Exit::Failure
        }
    }
    .into())
}

/// `host:port` from `[HOST:]PORT`, else `--host` and `--port`.
fn address(args: &TestArgs) -> String {
    match &args.server {
        Some(ServerArg::At { host, port }) => client::host_port(host, *port),
        Some(ServerArg::Port(port)) => client::host_port(&args.host, *port),
        None => client::host_port(&args.host, args.port),
    }
}

/// Runs the selected cases one after another (a case may be concurrent
/// inside), then writes the report.
fn run_suite(runtime: &tokio::runtime::Runtime, args: &TestArgs, addr: String) -> anyhow::Result<ExitCode> {
    let selection = match Selection::new(&args.cases, &args.skips) {
        Ok(selection) => selection,
        Err(err) => {
            eprintln!("{} {err}", "error:".red().bold());
            return Ok(Exit::Usage.into());
        }
    };
    let target = Target {
        addr,
        max_length: args.max_length.unwrap_or(TWISTED_MAX_LENGTH),
        timeout: args.timeout,
    };
    if let Err(err) = runtime.block_on(suite::reachable(&target.addr, target.timeout)) {
        eprintln!("{} {err}; no case was run", "error:".red().bold());
        return Ok(Exit::Connect.into());
    }

    let picked: Vec<_> = selection.picked().collect();
    let bar = progress_bar(picked.len() as u64)?;
    let mut results = Vec::with_capacity(picked.len());
    for case in picked {
        bar.set_message(case.id);
        results.push(runtime.block_on(suite::run_case(case, &target, args.strict)));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = Report {
        target,
        strict: args.strict,
        results,
    };

    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&report))
            .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?;
    }
    let out = if args.json {
        report::json(&report) + "\n"
    } else {
        report::text(&report)
    };
    write_stdout(out.as_bytes())?;
    Ok(if report.passed() { Exit::Ok } else { Exit::Failure }.into())
}

/// Bisects the server's largest answered payload, one probe after another,
/// then writes the result.
fn probe_limits(runtime: &tokio::runtime::Runtime, args: &TestArgs, addr: &str) -> anyhow::Result<ExitCode> {
    let up_to = args.probe_up_to.unwrap_or(probe::DEFAULT_UP_TO);
    let bar = progress_bar(probe::max_probes(up_to) as u64)?;
    let measured = runtime.block_on(probe::probe_limits(addr, up_to, args.timeout, |len| {
        bar.set_message(format!("{len} bytes"));
        bar.inc(1);
    }));
    bar.finish_and_clear();
    let limits = match measured {
        Ok(limits) => limits,
        Err(err) => {
            eprintln!("{} {err}; nothing was probed", "error:".red().bold());
            return Ok(Exit::Connect.into());
        }
    };
    let out = if args.json { limits.json() } else { limits.line() };
    write_stdout(format!("{out}\n").as_bytes())?;
    Ok(if limits.found() { Exit::Ok } else { Exit::Failure }.into())
}

/// A bar on stderr when it is a terminal; nothing otherwise.
fn progress_bar(len: u64) -> anyhow::Result<ProgressBar> {
    let draw_target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), draw_target);
    bar.set_style(ProgressStyle::with_template("{bar:24} {pos}/{len} {msg}")?);
    Ok(bar)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")
}

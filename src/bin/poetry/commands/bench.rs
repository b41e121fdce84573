use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use colored::Colorize;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::BenchArgs;
use poetry::bench::idle::{self, half_request};
use poetry::bench::procstat::Process;
use poetry::bench::report::{Report, ServerFigures};
use poetry::bench::{load, request_and_reply, Plan, Stop};

/// The poem of the classic request.
const CLASSIC_POEM: &[u8] = b"HERE IS MY POEM";
/// How long a run lasts when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(5);
/// File descriptors kept free for everything but the load's sockets.
const SPARE_FILES: u64 = 64;

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let poem = match &args.poem {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read the poem from {}", path.display()))?
        }
        None => CLASSIC_POEM.to_vec(),
    };
    let (request, expected) = request_and_reply(&args.transform, &poem)?;
    let addr = resolve(&args.host, args.port)?;
    let concurrency = args.concurrency as usize;
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let stop = match args.requests {
        Some(n) => Stop::Requests(n),
        None => Stop::After(args.duration.unwrap_or(DEFAULT_DURATION)),
    };
    let server = args.server_pid.map(Process::open).transpose()?;
    raise_open_files_limit(concurrency as u64 + args.idle.unwrap_or(0) as u64 + SPARE_FILES)?;

    let plan = Plan {
        addr,
        transform: args.transform.clone(),
        request,
        expected,
        concurrency,
        threads: threads.min(concurrency),
        stop,
        timeout: args.timeout,
    };
    let bar = progress_bar(stop);
    let cpu_before = server.map(|s| s.cpu_time()).transpose()?;
    let outcome = load::run(&plan, |done, elapsed| {
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        match stop {
            Stop::Requests(_) => bar.set_position(done),
            Stop::After(_) => bar.set_position(elapsed.as_millis() as u64),
        }
        bar.set_message(format!("{done} requests, {rate:.0} req/s"));
    })?;
    let figures = match (server, cpu_before) {
        (Some(server), Some(before)) => Some(ServerFigures {
            cpu: server.cpu_time()?.saturating_sub(before),
            rss_bytes: server.rss_bytes()?,
        }),
        _ => None,
    };
    bar.finish_and_clear();

    let idle = match (args.idle, server) {
        (Some(n), Some(server)) => {
            if std::io::stderr().is_terminal() {
                eprintln!("holding {n} idle connections open…");
            }
            let half = half_request(&plan.request, poem.len());
            Some(idle::measure(addr, half, n, &server, args.timeout)?)
        }
        _ => None,
    };
    let report = Report::new(&plan, &outcome, figures, idle.as_ref());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.human());
    }
    if report.has_errors() {
        eprintln!(
            "{} {} of {} requests failed",
            "FAIL".red().bold(),
            report.errors.total,
            report.requests
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The one address to load, resolved once so that no request waits on a lookup.
fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    // `localhost` often resolves to ::1 first, while servers of this protocol
    // (ours and the Twisted original) listen on 127.0.0.1 by default.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("{host} has no address"))
}

/// Makes room for a socket per connection in flight and per idle connection.
fn raise_open_files_limit(needed: u64) -> anyhow::Result<()> {
    let got = rlimit::increase_nofile_limit(needed).context("cannot raise the open-files limit")?;
    if got < needed {
        bail!(
            "the open-files limit is {got}, and this run needs about {needed}: \
             lower --concurrency or --idle, or raise the hard limit (ulimit -Hn)"
        );
    }
    Ok(())
}

/// A bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(stop: Stop) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (len, template) = match stop {
        Stop::Requests(n) => (n, "{bar:40} {pos}/{len} {msg}"),
        Stop::After(d) => (d.as_millis() as u64, "{bar:40} {elapsed} {msg}"),
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(style)
}

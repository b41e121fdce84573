use std::io::{IsTerminal, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use colored::Colorize;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{BenchArgs, BenchArrivals};
use crate::exit::Exit;
use poetry::bench::idle::{self, half_request};
use poetry::bench::load::{self, Interrupt};
use poetry::bench::procstat::Process;
use poetry::bench::report::{plural, Report};
use poetry::bench::schedule::Arrivals;
use poetry::bench::{request_and_reply, spectrum, Load, Plan, Stop};

/// The poem of the classic request.
const CLASSIC_POEM: &[u8] = b"HERE IS MY POEM";
/// How long a run lasts when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(5);
/// File descriptors kept free for everything but the load's sockets.
const SPARE_FILES: u64 = 64;
/// The exit code of a run stopped by Ctrl-C: the shell's for death by
/// SIGINT, so that a script's loop around `poetry bench` stops too.
const INTERRUPTED: u8 = 130;
/// Rows and width of the latency histogram drawn on a terminal.
const HISTOGRAM_ROWS: usize = 10;
const HISTOGRAM_WIDTH: usize = 40;

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
    let load = match args.rate {
        Some(rate) => Load::Open {
            rate,
            arrivals: match args.arrivals {
                BenchArrivals::Uniform => Arrivals::Uniform,
                BenchArrivals::Poisson => Arrivals::Poisson,
            },
        },
        None => Load::Closed,
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
        load,
        warmup: args.warmup,
        stop,
        timeout: args.timeout,
        server,
    };
    // One request first: a server that is not there is said at once, not
    // after a whole run of refused connections.
    if let Err(err) = load::probe(addr, &plan.request, plan.expected.len(), plan.timeout) {
        eprintln!(
            "{} cannot connect to {addr}: {err}; nothing was loaded (is the server running on that port?)",
            "error:".red().bold()
        );
        return Ok(Exit::Connect.into());
    }

    let interrupt = Arc::new(Interrupt::new());
    stop_on_ctrl_c(Arc::clone(&interrupt))?;
    let bar = progress_bar(stop, plan.warmup);
    // Requests finished in the warm-up, which a count of requests leaves out.
    let mut warmed_up = None;
    let outcome = load::run(&plan, &interrupt, |done, elapsed| {
        let warming = elapsed < plan.warmup;
        if !warming && warmed_up.is_none() {
            warmed_up = Some(done);
        }
        match stop {
            Stop::Requests(_) => bar.set_position(done - warmed_up.unwrap_or(done)),
            Stop::After(_) => bar.set_position(elapsed.as_millis() as u64),
        }
        let doing = if warming { "warming up: " } else { "" };
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        bar.set_message(format!("{doing}{done} requests, {rate:.0} req/s"));
    })?;
    bar.finish_and_clear();

    let idle = match (args.idle, server) {
        (Some(n), Some(server)) if !outcome.interrupted => {
            if std::io::stderr().is_terminal() {
                eprintln!("holding {n} idle connections open…");
            }
            let half = half_request(&plan.request, poem.len());
            Some(idle::measure(addr, half, n, &server, args.timeout)?)
        }
        _ => None,
    };
    let report = Report::new(&plan, &outcome, idle.as_ref());
    let latency = outcome.all_latency_us();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let mut text = report.human();
        if std::io::stdout().is_terminal() {
            let rows = spectrum::draw(&latency, HISTOGRAM_ROWS, HISTOGRAM_WIDTH);
            if !rows.is_empty() {
                text.push_str("  histogram   latency of every measured request, from when it was due\n");
                for row in rows {
                    text.push_str(&format!("    {row}\n"));
                }
            }
        }
        print!("{text}");
    }
    std::io::stdout().flush()?;
    if let Some(path) = &args.hist {
        write_spectrum(path, &latency)?;
    }

    if outcome.interrupted {
        return Ok(ExitCode::from(INTERRUPTED));
    }
    if report.has_errors() {
        eprintln!(
            "{} {} of {} failed",
            "FAIL".red().bold(),
            report.errors.total,
            plural(report.requests, "request")
        );
        return Ok(Exit::Failure.into());
    }
    if let Some(rate) = report.rate.filter(|r| r.shortfall) {
        eprintln!(
            "{} achieved {:.0} of the {} requests a second asked for: the server (or this machine) \
             could not keep the rate",
            "SHORT".red().bold(),
            rate.achieved_rps,
            rate.target_rps
        );
        return Ok(Exit::Shortfall.into());
    }
    Ok(Exit::Ok.into())
}

/// Writes the percentile spectrum to `path`.
fn write_spectrum(path: &std::path::Path, latency: &hdrhistogram::Histogram<u64>) -> anyhow::Result<()> {
    let context = || format!("cannot write the latency spectrum to {}", path.display());
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).with_context(context)?);
    spectrum::write_percentiles(latency, &mut file).with_context(context)?;
    file.flush().with_context(context)
}

/// On the first Ctrl-C, stops the run (which then reports what it
/// measured); on a second, exits at once.
fn stop_on_ctrl_c(interrupt: Arc<Interrupt>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before any load, so that no Ctrl-C can slip past it.
    let mut sigint = {
        let _context = runtime.enter();
        signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?
    };
    std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        runtime.block_on(async move {
            if sigint.recv().await.is_some() {
                interrupt.trigger();
            }
            if sigint.recv().await.is_some() {
                std::process::exit(INTERRUPTED.into());
            }
        });
    })?;
    Ok(())
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
fn progress_bar(stop: Stop, warmup: Duration) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (len, template) = match stop {
        Stop::Requests(n) => (n, "{bar:40} {pos}/{len} {msg}"),
        Stop::After(d) => ((warmup + d).as_millis() as u64, "{bar:40} {elapsed} {msg}"),
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(style)
}

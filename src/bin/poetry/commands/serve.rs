use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::exit::{fail, Exit};
use crate::process::{ensure_file_limit, Signals};
use poetry::client::host_port;
use poetry::registry::Registry;
use poetry::server::{Config, Listeners, Server};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config {
        max_length: args.max_length,
        max_reply: args.max_reply,
        max_chain: args.max_chain,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_buffered: args.max_buffered,
        timeout: args.timeout,
        shutdown_timeout: args.shutdown_timeout,
        transform_threads: args.transform_threads,
        proxy_protocol: args.proxy_protocol,
        proxy_from: if args.proxy_from.is_empty() {
            poetry::server::loopback()
        } else {
            args.proxy_from.clone()
        },
    };
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    if args.check_config {
        return check_config(&args, &config, threads);
    }
    check_ports(&args)?;
    config
        .validate()
        .map_err(|err| fail(Exit::Usage, format!("{err:#}")))?;
    ensure_file_limit(config.max_connections)?;
    let server = Server::new(Registry::standard(), config)?;
    // One worker is best served by the current-thread scheduler: no work
    // stealing to pay for. Heavy transforms still go to the transform pool.
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    let exit = runtime.block_on(async {
        // All are bound before any is announced: a port that is taken
        // fails the start instead of leaving half a server running.
        let netstring = bind(&args.iface, args.port, "--port").await?;
        let http = match args.http_port {
            Some(port) => Some(bind(&args.iface, port, "--http-port").await?),
            None => None,
        };
        let metrics = match args.metrics_port {
            Some(port) => Some(bind(&args.iface, port, "--metrics-port").await?),
            None => None,
        };
        let signal = shutdown_signal()?;
        // A SocketAddr shows an IPv6 address in brackets: `[::1]:11000`.
        let mut lines = vec![format!("Serving transforms on {}.", netstring.local_addr()?)];
        if let Some(http) = &http {
            lines.push(format!("Serving HTTP on {}.", http.local_addr()?));
        }
        if let Some(metrics) = &metrics {
            lines.push(format!("Serving metrics on {}.", metrics.local_addr()?));
        }
        announce(&lines);
        let summary = server
            .run(
                Listeners {
                    netstring,
                    http,
                    metrics,
                },
                signal,
            )
            .await;
        tracing::info!("{summary}");
        Ok(ExitCode::SUCCESS)
    });
    // Heavy transforms cut off at the deadline may still be on their threads
    // (they stop at their next step): do not wait for them.
    runtime.shutdown_background();
    exit
}

/// The settings `poetry serve` would run with, as `--check-config` prints them.
#[derive(serde::Serialize)]
struct Settings<'a> {
    iface: &'a str,
    port: u16,
    http_port: Option<u16>,
    metrics_port: Option<u16>,
    proxy_protocol: bool,
    proxy_from: Vec<String>,
    max_length: usize,
    max_reply: usize,
    max_chain: usize,
    max_connections: usize,
    max_connections_per_ip: Option<usize>,
    max_buffered: usize,
    timeout_secs: f64,
    shutdown_timeout_secs: f64,
    threads: usize,
    transform_threads: usize,
}

/// `--check-config`: validates as a start would, prints the settings, binds nothing.
fn check_config(args: &ServeArgs, config: &Config, threads: usize) -> anyhow::Result<ExitCode> {
    if let Err(err) = check_ports(args)
        .and_then(|()| config.validate())
        .and_then(|()| ensure_file_limit(config.max_connections))
    {
        eprintln!("error: {err:#}");
        return Ok(Exit::Usage.into());
    }
    let settings = Settings {
        iface: &args.iface,
        port: args.port,
        http_port: args.http_port,
        metrics_port: args.metrics_port,
        proxy_protocol: config.proxy_protocol,
        proxy_from: config.proxy_from.iter().map(ToString::to_string).collect(),
        max_length: config.max_length,
        max_reply: config.max_reply(),
        max_chain: config.max_chain,
        max_connections: config.max_connections,
        max_connections_per_ip: config.max_connections_per_ip,
        max_buffered: config.max_buffered,
        timeout_secs: config.timeout.as_secs_f64(),
        shutdown_timeout_secs: config.shutdown_timeout.as_secs_f64(),
        threads,
        transform_threads: config.transform_threads(),
    };
    println!("{}", serde_json::to_string_pretty(&settings)?);
    Ok(Exit::Ok.into())
}

/// Prints the address lines on stdout, for scripts. A stdout that went away
/// (`| head -1` has read its line) must not stop the server: the lines go to
/// the log instead, and serving goes on.
fn announce(lines: &[String]) {
    let mut stdout = std::io::stdout().lock();
    let written = lines
        .iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush());
    if let Err(err) = written {
        tracing::warn!(
            "cannot write to stdout ({err}); serving all the same. {}",
            lines.join(" ")
        );
    }
}

/// Refuses two listeners on one port before binding either: the second bind
/// would fail with a bare "Address already in use", blaming no one.
fn check_ports(args: &ServeArgs) -> anyhow::Result<()> {
    let ports = [
        ("--port", Some(args.port)),
        ("--http-port", args.http_port),
        ("--metrics-port", args.metrics_port),
    ];
    for (i, &(first, a)) in ports.iter().enumerate() {
        for &(second, b) in &ports[i + 1..] {
            if let (Some(a), Some(b)) = (a, b) {
                if a == b && a != 0 {
                    return Err(fail(
                        Exit::Usage,
                        format!(
                            "{second} {b} is the same port as {first}: each needs a port of its own \
                             (0 picks a free one)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A listener on `iface:port`, with the address and the flag in the error.
async fn bind(iface: &str, port: u16, flag: &str) -> anyhow::Result<TcpListener> {
    let host = iface.trim_start_matches('[').trim_end_matches(']');
    let addr = host_port(host, port);
    match TcpListener::bind((host, port)).await {
        Ok(listener) => Ok(listener),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Err(anyhow::anyhow!(
            "cannot listen on {addr} ({flag}): another program already listens on port {port} \
             (another `poetry serve`?); pick another {flag}, or 0 for any free port"
        )),
        Err(err) => Err(err).with_context(|| format!("cannot listen on {addr} ({flag})")),
    }
}

/// Listens for SIGINT and SIGTERM from now on (so a signal sent as soon as
/// the address line is out is not missed). The future completes on the
/// first; a second ends the process at once, without waiting for requests
/// in flight.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut signals = Signals::new()?;
    let (first, second) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        signals.next().await;
        let _ = first.send(());
        signals.next().await;
        tracing::warn!("second shutdown signal received; exiting at once");
        std::process::exit(Exit::Failure as i32);
    });
    Ok(async move {
        let _ = second.await;
        tracing::info!("shutdown signal received; no new connections, finishing requests in flight");
    })
}

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::exit::{fail, Exit};
use poetry::client::host_port;
use poetry::registry::Registry;
use poetry::server::{Config, Listeners, Server};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config {
        max_length: args.max_length,
        max_connections: args.max_connections,
        max_buffered: args.max_buffered,
        timeout: args.timeout,
        shutdown_timeout: args.shutdown_timeout,
        proxy_protocol: args.proxy_protocol,
        ..Config::default()
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
    // stealing to pay for. Big transforms still go to the blocking pool.
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
    runtime.block_on(async {
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
                shutdown_signal(),
            )
            .await;
        tracing::info!("{summary}");
        Ok(ExitCode::SUCCESS)
    })
}

/// The settings `poetry serve` would run with, as `--check-config` prints them.
#[derive(serde::Serialize)]
struct Settings<'a> {
    iface: &'a str,
    port: u16,
    http_port: Option<u16>,
    metrics_port: Option<u16>,
    proxy_protocol: bool,
    max_length: usize,
    max_connections: usize,
    max_buffered: usize,
    timeout_secs: f64,
    shutdown_timeout_secs: f64,
    threads: usize,
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
        max_length: config.max_length,
        max_connections: config.max_connections,
        max_buffered: config.max_buffered,
        timeout_secs: config.timeout.as_secs_f64(),
        shutdown_timeout_secs: config.shutdown_timeout.as_secs_f64(),
        threads,
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

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received; no new connections, finishing requests in flight");
}

/// File descriptors the server needs besides one per connection: listeners,
/// epoll, stdio, the odd log file.
const SPARE_FDS: u64 = 64;

/// Raises the soft open-files limit toward the hard one, as nginx and Go do,
/// and refuses to start when `max_connections` cannot fit under it: running
/// out of descriptors mid-flight would fail clients at random instead.
fn ensure_file_limit(max_connections: usize) -> anyhow::Result<()> {
    let need = max_connections as u64 + SPARE_FDS;
    let limit =
        rlimit::increase_nofile_limit(need.max(65_536)).context("cannot read the open-files limit")?;
    anyhow::ensure!(
        limit >= need,
        "--max-connections {max_connections} needs about {need} open files, but the limit is {limit} \
         (raise it with `ulimit -n` or LimitNOFILE=, or lower --max-connections)"
    );
    Ok(())
}

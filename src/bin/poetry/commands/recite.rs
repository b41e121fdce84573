use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cli::ReciteArgs;
use crate::exit::Exit;
use poetry::recite::{self, Config};

pub fn run(args: ReciteArgs) -> anyhow::Result<ExitCode> {
    let config = Config {
        delay: args.delay,
        chunk: args.num_bytes as usize,
        netstring: args.netstring,
        max_connections: args.max_connections as usize,
        timeout: args.timeout,
        shutdown_timeout: args.shutdown_timeout,
    };
    if let Err(err) = config.validate() {
        eprintln!("error: {err:#}");
        return Ok(Exit::Usage.into());
    }
    let poem = recite::read_poem(&args.file)?;
    // Each client holds a descriptor: the connection limit, not running out
    // of descriptors, must be what holds clients back.
    let need = config.max_connections as u64 + 64;
    let limit = rlimit::increase_nofile_limit(need).context("cannot read the open-files limit")?;
    anyhow::ensure!(
        limit >= need,
        "--max-connections {} needs about {need} open files, but the limit is {limit} \
         (raise it with `ulimit -n`, or lower --max-connections)",
        config.max_connections
    );
    // Reciting is waiting, not computing: one thread serves every client.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind((args.iface.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.iface, args.port))?;
        let mut stdout = std::io::stdout();
        writeln!(
            stdout,
            "Reciting {} on {}.",
            args.file.display(),
            listener.local_addr()?
        )?;
        stdout.flush()?;
        let summary = recite::run(listener, poem, config, stop_signal()).await;
        tracing::info!("{summary}");
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on SIGINT or SIGTERM (on other systems, Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("stopping: no new clients; recitals in flight send the rest of the poem at once");
}

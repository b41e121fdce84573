use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cli::ReciteArgs;
use crate::exit::Exit;
use crate::process::{ensure_file_limit, Signals};
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
    ensure_file_limit(config.max_connections)?;
    // Reciting is waiting, not computing: one thread serves every client.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind((args.iface.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.iface, args.port))?;
        // Listened for before the address line, so that a signal sent as
        // soon as it is out is not missed.
        let stop = stop_signal(Signals::new()?);
        let mut stdout = std::io::stdout();
        writeln!(
            stdout,
            "Reciting {} on {}.",
            args.file.display(),
            listener.local_addr()?
        )?;
        stdout.flush()?;
        let summary = recite::run(listener, poem, config, stop).await;
        tracing::info!("{summary}");
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on SIGINT or SIGTERM (on other systems, Ctrl-C).
async fn stop_signal(mut signals: Signals) {
    signals.next().await;
    tracing::info!("stopping: no new clients; recitals in flight send the rest of the poem at once");
}

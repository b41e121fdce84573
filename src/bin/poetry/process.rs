//! What a long-running command needs from its process: the signals that
//! stop it, and enough open files for the connections it may hold.

use anyhow::Context as _;

/// SIGINT and SIGTERM, registered once.
#[cfg(unix)]
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    pub fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// Completes on the next SIGINT or SIGTERM.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self)
    }

    pub async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// File descriptors a server needs besides one per connection: listeners,
/// epoll, stdio, the odd log file.
const SPARE_FDS: u64 = 64;

/// Raises the soft open-files limit toward the hard one, as nginx and Go do,
/// and refuses to start when `max_connections` cannot fit under it: running
/// out of descriptors mid-flight would fail clients at random instead.
pub fn ensure_file_limit(max_connections: usize) -> anyhow::Result<()> {
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

//! A poetry server: the tutorial's slow (and fast) poetry server, made
//! concurrent and bounded.
//!
//! Every client that connects gets the same poem, in pieces of `chunk` bytes
//! every `delay` (all at once when `delay` is zero), and then the connection
//! closes. With `netstring`, the poem goes out framed as one netstring (the
//! tutorial's exercise 6), so a client can tell a whole poem from a cut-off
//! one. Clients are served concurrently up to `max_connections`; each has a
//! deadline, and the server never reads more than [`READ_LIMIT`] bytes from
//! one. On shutdown, recitals in flight drop their pauses and send the rest at
//! once, so clients get whole poems rather than cut-off ones.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::{Buf, Bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec;

/// The largest poem file `recite` will load.
pub const MAX_POEM: usize = 64 * 1024 * 1024;

/// Bytes read (and dropped) from a client before the server stops reading it.
///
/// A poetry client sends nothing, but reading what a stray client does send
/// lets the connection end with a clean close rather than a reset (which could
/// destroy the poem's tail in the client's buffer). Past this, the kernel's
/// flow control holds the client back and nothing more is buffered here.
pub const READ_LIMIT: usize = 4 * 1024;

/// How the poem is recited, and the server's limits.
#[derive(Debug, Clone)]
pub struct Config {
    /// Pause between two pieces of the poem; zero sends it all at once.
    pub delay: Duration,
    /// Bytes in each piece.
    pub chunk: usize,
    /// Frame the poem as one netstring.
    pub netstring: bool,
    /// Clients served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// Time a client gets to take the poem beyond the pauses themselves.
    pub timeout: Duration,
    /// Time recitals in flight get to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    /// The tutorial's slow server: 10 bytes every 0.7 s.
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(700),
            chunk: 10,
            netstring: false,
            max_connections: 1024,
            timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Checks that the settings can serve anyone.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.chunk > 0, "--num-bytes must be at least 1");
        anyhow::ensure!(self.max_connections > 0, "--max-connections must be at least 1");
        Ok(())
    }

    /// The pauses of one whole recital of `len` bytes, saturating.
    pub fn pacing(&self, len: usize) -> Duration {
        if self.delay.is_zero() {
            return Duration::ZERO;
        }
        let pauses = len.div_ceil(self.chunk.max(1)).saturating_sub(1);
        self.delay
            .saturating_mul(u32::try_from(pauses).unwrap_or(u32::MAX))
    }
}

/// Reads the poem at `path`, refusing one larger than [`MAX_POEM`] without
/// reading past it (the path may name a device that never ends).
pub fn read_poem(path: &Path) -> anyhow::Result<Bytes> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read the poem from {}", path.display()))?;
    let mut poem = Vec::new();
    file.take(MAX_POEM as u64 + 1)
        .read_to_end(&mut poem)
        .with_context(|| format!("cannot read the poem from {}", path.display()))?;
    anyhow::ensure!(
        poem.len() <= MAX_POEM,
        "{} is larger than the {} MiB a poem may be",
        path.display(),
        MAX_POEM / (1024 * 1024)
    );
    Ok(Bytes::from(poem))
}

/// The bytes a client receives: the poem, or the poem as one netstring.
pub fn on_the_wire(poem: Bytes, netstring: bool) -> Bytes {
    if !netstring {
        return poem;
    }
    let mut framed = codec::frame(poem);
    framed.copy_to_bytes(framed.remaining())
}

/// What the server did, as said when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Clients that got the whole poem.
    pub recited: u64,
    /// Clients that went away (reset the connection) before the end.
    pub left_early: u64,
    /// Clients cut off at their deadline: they did not take the poem in time.
    pub timed_out: u64,
    /// Recitals cut off because the shutdown timeout ran out.
    pub cut_off: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Shut down: {} recited in full, {} left early, {} timed out, {} cut off at the shutdown deadline.",
            self.recited, self.left_early, self.timed_out, self.cut_off
        )
    }
}

/// How one recital ended.
#[derive(Debug)]
enum Outcome {
    Recited,
    LeftEarly(io::Error),
    TimedOut,
    CutOff,
}

#[derive(Debug, Default)]
struct Counts {
    recited: AtomicU64,
    left_early: AtomicU64,
    timed_out: AtomicU64,
    cut_off: AtomicU64,
}

impl Counts {
    fn record(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Recited => &self.recited,
            Outcome::LeftEarly(_) => &self.left_early,
            Outcome::TimedOut => &self.timed_out,
            Outcome::CutOff => &self.cut_off,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn summary(&self) -> Summary {
        Summary {
            recited: self.recited.load(Ordering::Relaxed),
            left_early: self.left_early.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            cut_off: self.cut_off.load(Ordering::Relaxed),
        }
    }
}

/// How often reaching the connection limit is logged, at most.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(60);

/// Recites `poem` to every client of `listener` until `signal` completes;
/// then stops accepting, lets recitals in flight finish without their pauses
/// (up to the shutdown timeout), and says what it did.
pub async fn run(
    listener: TcpListener,
    poem: Bytes,
    config: Config,
    signal: impl Future<Output = ()>,
) -> Summary {
    let wire = on_the_wire(poem, config.netstring);
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let hurry = CancellationToken::new();
    let cut = CancellationToken::new();
    let tracker = TaskTracker::new();
    let counts = Arc::new(Counts::default());
    let mut limit_logged: Option<Instant> = None;
    tokio::pin!(signal);
    loop {
        // A slot first, then accept: while none is free, new clients wait in
        // the kernel's backlog instead of holding a task and a buffer here.
        let slot = tokio::select! {
            biased;
            () = &mut signal => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        if slots.available_permits() == 0 && limit_logged.is_none_or(|at| at.elapsed() >= LIMIT_LOG_EVERY) {
            tracing::info!(
                max_connections = config.max_connections,
                "connection limit reached; new clients wait in the backlog"
            );
            limit_logged = Some(Instant::now());
        }
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or memory: pause rather than spin.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (wire, config, hurry, cut, counts) = (
            wire.clone(),
            config.clone(),
            hurry.clone(),
            cut.clone(),
            counts.clone(),
        );
        tracing::debug!(%peer, "reciting");
        tracker.spawn(async move {
            let outcome = recite_to(stream, &wire, &config, &hurry, &cut).await;
            log(peer, &outcome);
            counts.record(&outcome);
            drop(slot);
        });
    }
    drop(listener);
    tracker.close();
    hurry.cancel();
    if tokio::time::timeout(config.shutdown_timeout, tracker.wait())
        .await
        .is_err()
    {
        cut.cancel();
        tracker.wait().await;
    }
    counts.summary()
}

fn log(peer: SocketAddr, outcome: &Outcome) {
    match outcome {
        Outcome::Recited => tracing::debug!(%peer, "recited the whole poem"),
        Outcome::LeftEarly(err) => tracing::debug!(%peer, "client left before the end: {err}"),
        Outcome::TimedOut => tracing::info!(%peer, "timed out: the client did not take the poem in time"),
        Outcome::CutOff => tracing::info!(%peer, "cut off at the shutdown deadline"),
    }
}

/// One client's recital, within its deadline: the pauses plus the timeout.
async fn recite_to(
    mut stream: TcpStream,
    wire: &Bytes,
    config: &Config,
    hurry: &CancellationToken,
    cut: &CancellationToken,
) -> Outcome {
    // Each piece must leave when written, not wait to be merged with the next.
    let _ = stream.set_nodelay(true);
    let allowed = config.pacing(wire.len()).saturating_add(config.timeout);
    let deadline = Instant::now().checked_add(allowed);
    let (mut reader, mut writer) = stream.split();
    tokio::select! {
        sent = send(&mut writer, wire, config, hurry) => match sent {
            Ok(()) => Outcome::Recited,
            Err(err) => Outcome::LeftEarly(err),
        },
        err = drain(&mut reader) => Outcome::LeftEarly(err),
        () = until(deadline) => Outcome::TimedOut,
        () = cut.cancelled() => Outcome::CutOff,
    }
}

/// Completes at `deadline`, or never when there is none.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes `wire` in pieces, pausing between them until `hurry` is cancelled;
/// then the rest goes at once. Ends with a clean close of the write side.
async fn send(
    writer: &mut WriteHalf<'_>,
    wire: &[u8],
    config: &Config,
    hurry: &CancellationToken,
) -> io::Result<()> {
    let mut sent = 0;
    while sent < wire.len() {
        if sent > 0 {
            tokio::select! {
                () = tokio::time::sleep(config.delay) => {}
                () = hurry.cancelled() => {}
            }
        }
        let end = if config.delay.is_zero() || hurry.is_cancelled() {
            wire.len()
        } else {
            wire.len().min(sent + config.chunk)
        };
        writer.write_all(&wire[sent..end]).await?;
        sent = end;
    }
    writer.shutdown().await
}

/// Reads and drops up to [`READ_LIMIT`] bytes; completes only when the client
/// resets the connection, so a gone client stops its recital at once.
async fn drain(reader: &mut ReadHalf<'_>) -> io::Error {
    let mut buf = [0u8; 1024];
    let mut taken = 0;
    while taken < READ_LIMIT {
        match reader.read(&mut buf).await {
            // A half-close: the client may still be reading the poem.
            Ok(0) => break,
            Ok(n) => taken += n,
            Err(err) => return err,
        }
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_counts_the_pauses_between_pieces() {
        let config = Config {
            delay: Duration::from_millis(100),
            chunk: 10,
            ..Config::default()
        };
        assert_eq!(config.pacing(0), Duration::ZERO);
        assert_eq!(config.pacing(10), Duration::ZERO);
        assert_eq!(config.pacing(11), Duration::from_millis(100));
        assert_eq!(config.pacing(50), Duration::from_millis(400));
        let fast = Config {
            delay: Duration::ZERO,
            ..config.clone()
        };
        assert_eq!(fast.pacing(1_000_000), Duration::ZERO);
        let slow = Config {
            delay: Duration::MAX,
            chunk: 1,
            ..config
        };
        assert_eq!(slow.pacing(3), Duration::MAX);
    }

    #[test]
    fn the_netstring_form_frames_the_poem_once() {
        assert_eq!(
            on_the_wire(Bytes::from_static(b"HERE IS MY POEM"), true),
            Bytes::from_static(b"15:HERE IS MY POEM,")
        );
        assert_eq!(on_the_wire(Bytes::new(), true), Bytes::from_static(b"0:,"));
        assert_eq!(
            on_the_wire(Bytes::from_static(b"as is"), false),
            Bytes::from_static(b"as is")
        );
    }

    #[test]
    fn settings_that_serve_no_one_are_refused() {
        let zero_chunk = Config {
            chunk: 0,
            ..Config::default()
        };
        assert!(zero_chunk.validate().is_err());
        let no_slots = Config {
            max_connections: 0,
            ..Config::default()
        };
        assert!(no_slots.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }
}

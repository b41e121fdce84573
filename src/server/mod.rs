//! The server: listeners, admission and shutdown around the one pipeline.
//!
//! Each accepted connection is served once it has a slot (and, with
//! `--max-connections-per-ip`, its address is under the cap), on a task of
//! its own (on a single-threaded runtime, first right in the accept loop,
//! and on a task only once it must wait). The adapters
//! (`netstring`, `http`) turn bytes into a [`Request`](crate::request::Request)
//! and hand it to the [`pipeline`], where every limit a request meets lives:
//! deadline, budget, chain and reply caps, the transform pool, accounting.
//! Shutdown comes in two steps: the listeners close and every idle
//! connection is released from its slot; at the shutdown deadline, the `cut`
//! token stops what is still in flight.

mod config;
mod http;
mod limits;
mod linger;
mod log;
pub mod metrics;
mod netstring;
mod pipeline;
mod pool;
pub mod proxy;
mod socket;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{loopback, Config};
pub use http::{HEADER_BUFFER, KEEPALIVE_LIFETIME, KEEPALIVE_REQUESTS};
pub use limits::{Budget, PerIp, Slots, FREE_PER_CONNECTION};
pub use linger::{LINGER_BYTES, LINGER_TIME};
pub use log::{LINES_PER_SECOND, SUMMARY_EVERY};
pub use metrics::{Metrics, Protocol};
pub use pool::{Pool, HEAVY_WORK};

use crate::registry::Registry;
use log::LogLimit;

/// How one connection ended, as counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The reply was written.
    Ok,
    /// No transform by that name.
    UnknownTransform,
    /// The payload is not `<name>.<poem>` in UTF-8.
    BadRequest,
    /// The bytes are not a netstring.
    MalformedFrame,
    /// The declared length is over the maximum.
    TooLong,
    /// The request or reply took longer than the timeout.
    Timeout,
    /// The transform returned an error or panicked.
    TransformFailed,
    /// The client went away mid-request or mid-reply.
    ClientGone,
    /// The transformed poem grew past `--max-reply`.
    ReplyTooLong,
    /// The connection was turned away: an untrusted PROXY header, or too
    /// many connections from its client.
    Refused,
    /// Still in flight at the shutdown deadline.
    Cut,
}

impl Outcome {
    /// The outcome's name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::UnknownTransform => "unknown_transform",
            Outcome::BadRequest => "bad_request",
            Outcome::MalformedFrame => "malformed_frame",
            Outcome::TooLong => "too_long",
            Outcome::Timeout => "timeout",
            Outcome::TransformFailed => "transform_failed",
            Outcome::ClientGone => "client_gone",
            Outcome::ReplyTooLong => "reply_too_long",
            Outcome::Refused => "refused",
            Outcome::Cut => "cut",
        }
    }
}

/// Counts kept over the server's life, for the summary line at exit.
#[derive(Debug, Default)]
pub struct Stats {
    replied: AtomicU64,
    failed: AtomicU64,
}

impl Stats {
    fn record(&self, outcome: Outcome) {
        let counter = if outcome == Outcome::Ok {
            &self.replied
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the server did over its life; printed as one line at exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Requests answered.
    pub replied: u64,
    /// Connections closed without a reply (bad input, timeouts, failures).
    pub failed: u64,
    /// Connections still in flight when the shutdown timeout ran out.
    pub cut_at_deadline: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Shut down: {} replied, {} closed without a reply, {} cut off at the shutdown deadline.",
            self.replied, self.failed, self.cut_at_deadline
        )
    }
}

/// Connections the metrics port serves at once. It has its own slots so that
/// a scrape still gets in while the transform ports are full, and a new
/// connection there makes the oldest give way, so idle or slow clients
/// cannot hold it.
pub const METRICS_CONNECTIONS: usize = 8;

/// What every connection shares: the registry, the limits, the counters.
#[derive(Debug)]
pub struct Context {
    registry: Arc<Registry>,
    config: Config,
    budget: Budget,
    slots: Slots,
    metrics_slots: Slots,
    per_ip: Option<Arc<PerIp>>,
    pool: Pool,
    stats: Stats,
    metrics: Metrics,
    log: LogLimit,
    /// Stops what is still in flight, at the shutdown deadline.
    cut: CancellationToken,
}

impl Context {
    /// The metrics exposition, as of now.
    fn render_metrics(&self) -> String {
        self.metrics
            .render(self.budget.in_use(), self.pool.waiting(), self.pool.running())
    }

    /// The slots the connections of `protocol`'s listener share.
    fn slots(&self, protocol: Protocol) -> &Slots {
        match protocol {
            Protocol::Metrics => &self.metrics_slots,
            Protocol::Netstring | Protocol::Http => &self.slots,
        }
    }
}

/// The sockets a server listens on: one per protocol, all served by the same service.
#[derive(Debug)]
pub struct Listeners {
    /// The netstring protocol's listener.
    pub netstring: TcpListener,
    /// The HTTP listener, when HTTP is served too.
    pub http: Option<TcpListener>,
    /// A listener that serves only `GET /metrics` over HTTP.
    pub metrics: Option<TcpListener>,
}

/// A configured server, ready to run on listeners it is given.
#[derive(Debug, Clone)]
pub struct Server {
    ctx: Arc<Context>,
}

impl Server {
    /// A server for `registry` with `config` (checked).
    pub fn new(registry: Registry, config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let metrics = Metrics::new(registry.names(), config.max_buffered);
        let ctx = Context {
            registry: Arc::new(registry),
            budget: Budget::new(config.max_buffered),
            slots: Slots::new(config.max_connections),
            metrics_slots: Slots::new(METRICS_CONNECTIONS),
            per_ip: config.max_connections_per_ip.map(PerIp::new),
            pool: Pool::new(config.transform_threads()),
            stats: Stats::default(),
            metrics,
            log: LogLimit::default(),
            cut: CancellationToken::new(),
            config,
        };
        Ok(Self { ctx: Arc::new(ctx) })
    }

    /// The registry every protocol of this server calls.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.ctx.registry
    }

    /// Serves netstring (and HTTP) requests on `listeners` until `signal`
    /// completes, then stops accepting, closes idle connections, lets
    /// requests in flight finish up to the shutdown timeout, cuts off the
    /// rest, and says what it did. It returns within the shutdown timeout
    /// (and a moment for the cut-off requests to be counted); heavy
    /// transforms still running on their threads stop at their next step.
    pub async fn run(self, listeners: Listeners, signal: impl Future<Output = ()>) -> Summary {
        let ctx = &self.ctx;
        let tracker = TaskTracker::new();
        let netstring = accept_loop(
            listeners.netstring,
            Protocol::Netstring,
            ctx,
            &tracker,
            netstring::serve,
        );
        let http = async {
            let Some(listener) = listeners.http else {
                return std::future::pending().await;
            };
            let app = http::router(ctx.clone());
            accept_loop(
                listener,
                Protocol::Http,
                ctx,
                &tracker,
                |stream, peer, ctx, admission| {
                    http::serve(stream, peer, ctx, app.clone(), Protocol::Http, admission)
                },
            )
            .await;
        };
        let metrics = async {
            let Some(listener) = listeners.metrics else {
                return std::future::pending().await;
            };
            let app = http::metrics_router(ctx.clone());
            accept_loop(
                listener,
                Protocol::Metrics,
                ctx,
                &tracker,
                |stream, peer, ctx, admission| {
                    http::serve(stream, peer, ctx, app.clone(), Protocol::Metrics, admission)
                },
            )
            .await;
        };
        let log_summaries = async {
            let mut every = tokio::time::interval(SUMMARY_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                ctx.log.summarize(SUMMARY_EVERY);
            }
        };
        tokio::select! {
            () = netstring => {}
            () = http => {}
            () = metrics => {}
            () = log_summaries => {}
            () = signal => {}
        }
        // The accept loops (and with them the listeners) are dropped: nothing
        // new is accepted. Idle connections close; requests in flight go on.
        ctx.slots.release_idle();
        ctx.metrics_slots.release_idle();
        tracker.close();
        let finished = tokio::time::timeout(ctx.config.shutdown_timeout, tracker.wait())
            .await
            .is_ok();
        let cut_at_deadline = if finished { 0 } else { tracker.len() };
        if !finished {
            ctx.cut.cancel();
            // Cut-off requests end at once (transforms between two steps):
            // give them a moment to be counted.
            let _ = tokio::time::timeout(CUT_GRACE, tracker.wait()).await;
        }
        ctx.log.summarize(SUMMARY_EVERY);
        Summary {
            replied: ctx.stats.replied.load(Ordering::Relaxed),
            failed: ctx.stats.failed.load(Ordering::Relaxed),
            cut_at_deadline,
        }
    }
}

/// A listener that accepts connections without registering them with the
/// reactor: a connection served without ever waiting then never is (see
/// `socket.rs`).
struct Accepting(tokio::io::unix::AsyncFd<mio::net::TcpListener>);

impl Accepting {
    fn new(listener: TcpListener) -> std::io::Result<Self> {
        let listener = mio::net::TcpListener::from_std(listener.into_std()?);
        let interest = tokio::io::Interest::READABLE;
        // SAFETY: the mio listener owns its descriptor, which stays open, the
        // same one, for as long as the AsyncFd that owns the listener.
        unsafe { tokio::io::unix::AsyncFd::register_with_interest(listener, interest) }
            .map(Self)
            .map_err(std::io::Error::from)
    }

    /// The next connection, non-blocking and unregistered. Each wait for
    /// readiness counts against the task's budget, so that a flood of
    /// connections served in the loop still lets other tasks run.
    async fn accept(&self) -> std::io::Result<(std::net::TcpStream, SocketAddr)> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Ok(accepted) = ready.try_io(|listener| listener.get_ref().accept()) {
                return accepted.map(|(stream, peer)| {
                    use std::os::fd::{FromRawFd, IntoRawFd};
                    // SAFETY: the descriptor comes from `into_raw_fd`, and is owned once.
                    (
                        unsafe { std::net::TcpStream::from_raw_fd(stream.into_raw_fd()) },
                        peer,
                    )
                });
            }
        }
    }
}

/// What a served connection holds until it ends: its slot, its count
/// against its address, its place in `poetry_open_connections`.
#[derive(Debug)]
pub(crate) struct Admission {
    _open: metrics::GaugeGuard,
    _slot: limits::Slot,
    _ip_slot: Option<limits::IpSlot>,
}

/// How long, after the shutdown deadline, cut-off requests get to be counted.
const CUT_GRACE: Duration = Duration::from_millis(200);

/// Accepts connections and serves each with `handler` on its own task (on
/// one thread, in the loop until it must wait), once its address is under
/// `--max-connections-per-ip` (for netstring behind a PROXY header, the
/// adapter checks the client the header names instead) and a slot is free.
/// While none is, the connection idle longest is asked to give its slot up,
/// the one connection accepted waits (counted in
/// `poetry_connections_waiting`), and the rest stay in the kernel's accept
/// backlog. Never returns: the caller drops it.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    protocol: Protocol,
    ctx: &Arc<Context>,
    tracker: &TaskTracker,
    handler: F,
) where
    F: Fn(std::net::TcpStream, SocketAddr, Arc<Context>, Admission) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    ctx.metrics.listening(protocol);
    let listener = match Accepting::new(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, protocol = protocol.as_str(), "cannot accept on the listener");
            return std::future::pending().await;
        }
    };
    // On one thread, a task buys a connection nothing that it does not
    // cost: most requests arrive with their connection and need no waiting,
    // so they are served here, and only those that must wait get a task. On
    // several threads, every connection gets a task, so that they spread.
    let inline =
        tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread;
    let slots = ctx.slots(protocol);
    let per_ip = match protocol {
        Protocol::Netstring if ctx.config.proxy_protocol => None,
        Protocol::Metrics => None,
        Protocol::Netstring | Protocol::Http => ctx.per_ip.as_ref(),
    };
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, most likely: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed; retrying in 50 ms");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip_slot = match per_ip.map(|per_ip| (per_ip, per_ip.admit(peer.ip()))) {
            None => None,
            Some((_, Some(ip_slot))) => Some(ip_slot),
            Some((per_ip, None)) => {
                ctx.metrics.refused(protocol);
                if ctx.log.allow() {
                    tracing::warn!(
                        %peer,
                        protocol = protocol.as_str(),
                        "connection refused: its address already has the --max-connections-per-ip of {} open",
                        per_ip.max()
                    );
                }
                continue;
            }
        };
        let slot = match slots.try_acquire() {
            Some(slot) => slot,
            None => {
                let _waiting = ctx.metrics.waiting_connection(protocol);
                slots.acquire().await
            }
        };
        let admission = Admission {
            _open: ctx.metrics.open_connection(protocol),
            _slot: slot,
            _ip_slot: ip_slot,
        };
        // The connection's future holds its admission: no wrapper around it
        // to move a second time into the task.
        let connection = handler(stream, peer, ctx.clone(), admission);
        if !inline {
            tracker.spawn(connection);
            continue;
        }
        // Boxed once, since a future polled may move no more.
        let mut connection = Box::pin(connection);
        if first_poll(connection.as_mut(), protocol, ctx).await.is_pending() {
            tracker.spawn(connection);
        }
    }
}

/// Polls a new connection's future once, here in the accept loop. A task
/// keeps a panic to its own connection; this does the same for the first
/// poll, so that a bug met on one connection never stops the listener.
async fn first_poll<F: Future<Output = ()>>(
    mut connection: Pin<&mut F>,
    protocol: Protocol,
    ctx: &Context,
) -> Poll<()> {
    std::future::poll_fn(|cx| {
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| connection.as_mut().poll(cx)));
        Poll::Ready(polled.unwrap_or_else(|_| {
            if ctx.log.allow() {
                tracing::error!(
                    protocol = protocol.as_str(),
                    "a connection panicked and was closed"
                );
            }
            Poll::Ready(())
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A connection that panics while served in the accept loop is closed;
    /// the loop goes on accepting and serving the next one.
    #[tokio::test]
    async fn a_panic_in_the_accept_loop_ends_only_its_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(crate::registry::Registry::standard(), Config::default()).unwrap();
        let tracker = TaskTracker::new();
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        let handler = move |mut stream: std::net::TcpStream, _peer, _ctx, admission: Admission| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                let _admission = admission;
                assert!(n > 0, "the first connection's handler panics");
                stream.write_all(b"2:ok,").unwrap();
            }
        };
        let ctx = server.ctx.clone();
        let accepting = tokio::spawn(async move {
            accept_loop(listener, Protocol::Netstring, &ctx, &tracker, handler).await;
        });
        let read_all = move || {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reply = Vec::new();
            let _ = client.read_to_end(&mut reply);
            reply
        };
        let first = tokio::task::spawn_blocking(read_all).await.unwrap();
        let second = tokio::task::spawn_blocking(read_all).await.unwrap();
        assert_eq!(first, b"", "the panicking connection is closed without a reply");
        assert_eq!(second, b"2:ok,", "the next connection is still served");
        assert!(!accepting.is_finished(), "the accept loop goes on");
        accepting.abort();
    }
}

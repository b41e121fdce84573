//! The server: listeners, limits and shutdown around the protocol adapters.
//!
//! Each accepted connection gets its own task; the adapters (`netstring`,
//! `http`) turn bytes into a [`Request`], and every adapter reaches the service
//! through the one function [`transform`], so limits, offloading and outcome
//! accounting are the same whatever protocol a client speaks. Metrics are
//! recorded in those shared places too: [`transform`], [`Context::record`]
//! and the accept loop.

mod http;
mod limits;
pub mod metrics;
mod netstring;
pub mod proxy;
pub mod shutdown;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

pub use limits::{Budget, ConnectionLimit, UNBUDGETED};
pub use metrics::{Metrics, Protocol};
use shutdown::Shutdown;

use crate::registry::{Registry, RegistryError};
use crate::request::Request;

/// Limits and timeouts of a server; every field has a production default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest request payload accepted, in bytes.
    pub max_length: usize,
    /// Connections served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// Request bytes buffered across all connections at once.
    pub max_buffered: usize,
    /// Time for a whole request to arrive, and again for its reply to be written.
    pub timeout: Duration,
    /// Time requests in flight get to finish after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Poems at least this long are transformed off the async workers.
    pub blocking_threshold: usize,
    /// Netstring connections start with a PROXY protocol header (v1 or v2)
    /// naming the client a load balancer relays.
    pub proxy_protocol: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_length: 1024 * 1024,
            max_connections: 1024,
            max_buffered: 256 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            blocking_threshold: 64 * 1024,
            proxy_protocol: false,
        }
    }
}

impl Config {
    /// Checks that the limits fit together.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_connections > 0, "--max-connections must be at least 1");
        anyhow::ensure!(
            self.max_length <= self.max_buffered,
            "--max-length ({}) is larger than --max-buffered ({}): such a request could never be read",
            self.max_length,
            self.max_buffered
        );
        anyhow::ensure!(
            self.max_length <= u32::MAX as usize,
            "--max-length must be at most {} bytes",
            u32::MAX
        );
        anyhow::ensure!(!self.timeout.is_zero(), "--timeout must be more than 0");
        Ok(())
    }
}

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
        }
    }
}

impl From<&RegistryError> for Outcome {
    fn from(err: &RegistryError) -> Self {
        match err {
            RegistryError::UnknownTransform { .. } => Outcome::UnknownTransform,
            RegistryError::TransformFailed { .. } => Outcome::TransformFailed,
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
/// a scrape still gets in while the transform ports are at --max-connections.
const METRICS_CONNECTIONS: usize = 8;

/// What every connection shares: the registry, the limits, the counters.
#[derive(Debug)]
pub struct Context {
    registry: Arc<Registry>,
    config: Config,
    budget: Budget,
    limit: ConnectionLimit,
    stats: Stats,
    metrics: Metrics,
}

impl Context {
    /// Counts a request of `protocol`, begun at `started`, that ended with
    /// `outcome`; `transform` is the name asked for, once the request has one.
    fn record(&self, protocol: Protocol, transform: Option<&str>, outcome: Outcome, started: Instant) {
        self.stats.record(outcome);
        self.metrics
            .request(protocol, transform, outcome, started.elapsed());
    }

    /// The metrics exposition, as of now.
    fn render_metrics(&self) -> String {
        self.metrics.render(self.budget.in_use())
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
            limit: ConnectionLimit::new(config.max_connections),
            stats: Stats::default(),
            metrics,
            config,
        };
        Ok(Self { ctx: Arc::new(ctx) })
    }

    /// The registry every protocol of this server calls.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.ctx.registry
    }

    /// Serves netstring (and HTTP) requests on `listeners` until `signal`
    /// completes, then stops accepting, lets requests in flight finish (up to
    /// the shutdown timeout), and says what it did.
    pub async fn run(self, listeners: Listeners, signal: impl Future<Output = ()>) -> Summary {
        let (trigger, shutdown) = shutdown::channel();
        let tracker = TaskTracker::new();
        let netstring = accept_loop(
            listeners.netstring,
            Protocol::Netstring,
            &self.ctx.limit,
            &self.ctx,
            &tracker,
            &shutdown,
            netstring::serve,
        );
        let http = async {
            let Some(listener) = listeners.http else {
                return std::future::pending().await;
            };
            let app = http::router(self.ctx.clone());
            accept_loop(
                listener,
                Protocol::Http,
                &self.ctx.limit,
                &self.ctx,
                &tracker,
                &shutdown,
                |stream, peer, ctx, shutdown| http::serve(stream, peer, ctx, shutdown, app.clone()),
            )
            .await;
        };
        let metrics_limit = ConnectionLimit::new(METRICS_CONNECTIONS);
        let metrics = async {
            let Some(listener) = listeners.metrics else {
                return std::future::pending().await;
            };
            let app = http::metrics_router(self.ctx.clone());
            accept_loop(
                listener,
                Protocol::Metrics,
                &metrics_limit,
                &self.ctx,
                &tracker,
                &shutdown,
                |stream, peer, ctx, shutdown| http::serve(stream, peer, ctx, shutdown, app.clone()),
            )
            .await;
        };
        tokio::select! {
            () = netstring => {}
            () = http => {}
            () = metrics => {}
            () = signal => {}
        }
        // The accept loops (and with them the listeners) are dropped: nothing new is accepted.
        trigger.fire();
        tracker.close();
        let finished = tokio::time::timeout(self.ctx.config.shutdown_timeout, tracker.wait())
            .await
            .is_ok();
        Summary {
            replied: self.ctx.stats.replied.load(Ordering::Relaxed),
            failed: self.ctx.stats.failed.load(Ordering::Relaxed),
            cut_at_deadline: if finished { 0 } else { tracker.len() },
        }
    }
}

/// Accepts connections and serves each on its own task with `handler`, once
/// a slot under `limit` is free. While none is, the one connection accepted
/// waits (counted in `poetry_connections_waiting`) and the rest stay in the
/// kernel's accept backlog. Never returns: the caller drops it.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    protocol: Protocol,
    limit: &ConnectionLimit,
    ctx: &Arc<Context>,
    tracker: &TaskTracker,
    shutdown: &Shutdown,
    handler: F,
) where
    F: Fn(TcpStream, SocketAddr, Arc<Context>, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    ctx.metrics.listening(protocol);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let permit = match limit.try_acquire() {
                    Some(permit) => permit,
                    None => {
                        let _waiting = ctx.metrics.waiting_connection(protocol);
                        limit.acquire().await
                    }
                };
                let open = ctx.metrics.open_connection(protocol);
                let connection = handler(stream, peer, ctx.clone(), shutdown.clone());
                // A combinator, not an `async move` block: the block would hold
                // the connection's future twice (as capture and as awaitee).
                tracker.spawn(connection.map(move |()| drop((open, permit))));
            }
            Err(err) => {
                // Out of file descriptors, most likely: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed; retrying in 50 ms");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Transforms a request with the registry: the one door from every protocol
/// to the service, where the poem bytes in and out are counted. Large poems
/// are transformed on the blocking pool so that a CPU-heavy request never
/// stalls the connections sharing its worker.
pub async fn transform(ctx: &Context, protocol: Protocol, request: Request) -> Result<String, RegistryError> {
    ctx.metrics.request_bytes(protocol, request.len());
    let result = if request.len() < ctx.config.blocking_threshold {
        ctx.registry.apply(request.name(), request.poem())
    } else {
        let registry = ctx.registry.clone();
        let name = request.name_for_log().to_owned();
        tokio::task::spawn_blocking(move || registry.apply(request.name(), request.poem()))
            .await
            .unwrap_or_else(|err| {
                Err(RegistryError::TransformFailed {
                    name,
                    reason: err.to_string(),
                })
            })
    };
    if let Ok(reply) = &result {
        ctx.metrics.reply_bytes(protocol, reply.len());
    }
    result
}

//! The one request pipeline every protocol goes through.
//!
//! An adapter (`netstring`, `http`) only turns its wire format into a
//! [`Request`] and an outcome into its wire answer. Everything else happens
//! here, the same on every port: the request's deadline (from its first byte,
//! covering the transform), its share of the byte budget (request bytes as
//! they arrive, then the reply until it is written), the chain cap, the
//! transform pool, the reply cap, cancellation at the shutdown deadline, and
//! the accounting of every exchange in stats, metrics and (rate-limited) logs.
//! A third protocol would get every limit by going through an [`Exchange`].

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::time::{timeout_at, Instant};
use tracing::field::display;

use super::limits::{Held, FREE_PER_CONNECTION};
use super::pool::HEAVY_WORK;
use super::proxy::ProxyError;
use super::{Context, Outcome, Protocol};
use crate::codec::NetstringError;
use crate::registry::{Entry, RegistryError, CHAIN_SEPARATOR};
use crate::request::{self, Name, Request, RequestError};

/// Why an exchange ended without a reply.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// The bytes are not a netstring, or declare too much.
    #[error("{0}")]
    Frame(NetstringError),
    /// The PROXY protocol header is missing or malformed.
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    /// A PROXY header from a peer that `--proxy-from` does not trust.
    #[error("PROXY protocol header from {0}, which is not in --proxy-from")]
    UntrustedProxy(std::net::IpAddr),
    /// The client's address is at `--max-connections-per-ip`.
    #[error("{0} already has the --max-connections-per-ip of {1} connections open")]
    PerIp(std::net::IpAddr, usize),
    /// An HTTP path that names no transform.
    #[error("bad transform name in the path: {0}")]
    Path(String),
    /// The payload is not `<name>.<poem>` in UTF-8.
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
    /// Unknown name, or a transform that failed.
    #[error("{0}")]
    Transform(#[from] RegistryError),
    /// More parts chained than `--max-chain`.
    #[error("chain of {parts} transforms is longer than the maximum of {max}")]
    ChainTooLong { parts: usize, max: usize },
    /// An HTTP request (name and body) over `--max-length`.
    #[error("request is longer than the maximum of {max} bytes")]
    TooLong { max: usize },
    /// The transformed poem would be over `--max-reply`.
    #[error("the transformed poem grew past the maximum reply of {max} bytes")]
    ReplyTooLong { max: usize },
    /// A phase took longer than its deadline allows.
    #[error("timed out after {} s while {what}", .after.as_secs_f64())]
    Timeout { what: &'static str, after: Duration },
    /// The shutdown deadline passed while the exchange was in flight.
    #[error("cut off at the shutdown deadline while {0}")]
    Cut(&'static str),
    /// The client closed or reset the connection.
    #[error("client went away while {what}: {source}")]
    Gone { what: &'static str, source: io::Error },
}

impl From<NetstringError> for Failure {
    fn from(err: NetstringError) -> Self {
        match err {
            NetstringError::Io(source) => Failure::Gone {
                what: "reading the request",
                source,
            },
            other => Failure::Frame(other),
        }
    }
}

impl Failure {
    /// How the exchange is counted.
    pub(super) fn outcome(&self) -> Outcome {
        match self {
            Failure::Frame(NetstringError::TooLong { .. } | NetstringError::TooManyDigits { .. })
            | Failure::TooLong { .. } => Outcome::TooLong,
            Failure::Frame(NetstringError::Truncated { .. }) | Failure::Gone { .. } => Outcome::ClientGone,
            Failure::Frame(_) | Failure::Proxy(_) => Outcome::MalformedFrame,
            Failure::UntrustedProxy(_) | Failure::PerIp(..) => Outcome::Refused,
            Failure::Path(_) | Failure::Request(_) | Failure::ChainTooLong { .. } => Outcome::BadRequest,
            Failure::Transform(RegistryError::UnknownTransform { .. }) => Outcome::UnknownTransform,
            Failure::Transform(RegistryError::TransformFailed { .. }) => Outcome::TransformFailed,
            Failure::ReplyTooLong { .. } => Outcome::ReplyTooLong,
            Failure::Timeout { .. } => Outcome::Timeout,
            Failure::Cut(_) => Outcome::Cut,
        }
    }

    /// The HTTP status that carries it.
    pub(super) fn status(&self) -> StatusCode {
        match self.outcome() {
            Outcome::UnknownTransform => StatusCode::NOT_FOUND,
            Outcome::TooLong | Outcome::ReplyTooLong => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Timeout => StatusCode::REQUEST_TIMEOUT,
            Outcome::TransformFailed => StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::Cut => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::Refused => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Limits checked between the steps of a chain, carried to the pool's thread.
#[derive(Debug, Clone)]
struct Between {
    deadline: Instant,
    /// The shutdown's cut, for work on the pool; light work ends in
    /// microseconds and needs none (a clone takes a lock).
    cut: Option<tokio_util::sync::CancellationToken>,
    max_reply: usize,
    timeout: Duration,
}

impl Between {
    fn check(&self, len: usize) -> Result<(), Failure> {
        if len > self.max_reply {
            return Err(Failure::ReplyTooLong { max: self.max_reply });
        }
        if self.cut.as_ref().is_some_and(|cut| cut.is_cancelled()) {
            return Err(Failure::Cut("transforming"));
        }
        if Instant::now() >= self.deadline {
            return Err(Failure::Timeout {
                what: "transforming",
                after: self.timeout,
            });
        }
        Ok(())
    }
}

/// Applies `chain` to `poem` step by step, stopping between steps once a
/// limit is passed.
fn apply_chain<'e>(
    chain: impl IntoIterator<Item = &'e Entry>,
    poem: &str,
    between: &Between,
) -> Result<String, Failure> {
    let mut text = Cow::Borrowed(poem);
    for (i, entry) in chain.into_iter().enumerate() {
        if i > 0 {
            between.check(text.len())?;
        }
        text = Cow::Owned(entry.apply(&text)?);
    }
    if text.len() > between.max_reply {
        return Err(Failure::ReplyTooLong {
            max: between.max_reply,
        });
    }
    Ok(text.into_owned())
}

/// One exchange (a request and its reply, or what ended it) as it goes
/// through the pipeline, with what it holds and what it will be counted as.
#[derive(Debug)]
pub(super) struct Exchange<'a> {
    ctx: &'a Context,
    protocol: Protocol,
    /// The client: the socket's peer, or the one a trusted PROXY header names.
    pub peer: SocketAddr,
    /// The balancer that relayed the client, when a PROXY header named one.
    pub via: Option<SocketAddr>,
    /// When the connection was accepted (netstring) or the request began (HTTP).
    started: std::time::Instant,
    /// From the request's first byte: reading and transforming must end by then.
    deadline: Option<Instant>,
    /// The transform asked for, once the request parsed.
    name: Option<Name>,
    bytes_in: usize,
    bytes_out: usize,
    held: Held,
}

impl<'a> Exchange<'a> {
    /// An exchange of `protocol` with `peer`, begun now.
    pub(super) fn new(ctx: &'a Context, protocol: Protocol, peer: SocketAddr) -> Self {
        Self {
            ctx,
            protocol,
            peer,
            via: None,
            started: std::time::Instant::now(),
            deadline: None,
            name: None,
            bytes_in: 0,
            bytes_out: 0,
            held: Held::default(),
        }
    }

    /// The server's settings.
    pub(super) fn ctx(&self) -> &'a Context {
        self.ctx
    }

    /// When the exchange began: the connection accepted, or the HTTP request begun.
    pub(super) fn started_at(&self) -> Instant {
        Instant::from_std(self.started)
    }

    /// The request's first byte has arrived at `at`: from then on it is in
    /// flight, and must be read and transformed within the timeout.
    pub(super) fn begin(&mut self, at: Instant) {
        self.deadline = Some(at + self.ctx.config.timeout);
    }

    /// The request's deadline (a timeout from now if it has not begun).
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + self.ctx.config.timeout)
    }

    /// Counts request bytes received.
    pub(super) fn received(&mut self, n: usize) {
        self.bytes_in += n;
    }

    /// Counts reply bytes sent.
    pub(super) fn sent(&mut self, n: usize) {
        self.bytes_out += n;
    }

    /// Runs `step` of the request by its deadline, unless the shutdown
    /// deadline cuts it off first.
    pub(super) async fn within<T>(
        &self,
        what: &'static str,
        step: impl Future<Output = T>,
    ) -> Result<T, Failure> {
        self.by(self.deadline(), what, step).await
    }

    /// Runs `step` by `deadline` (the reply's, say), unless the shutdown
    /// deadline cuts it off first.
    pub(super) async fn by<T>(
        &self,
        deadline: Instant,
        what: &'static str,
        step: impl Future<Output = T>,
    ) -> Result<T, Failure> {
        tokio::select! {
            biased;
            () = self.ctx.cut.cancelled() => Err(Failure::Cut(what)),
            result = timeout_at(deadline, step) => result.map_err(|_| Failure::Timeout {
                what,
                after: self.ctx.config.timeout,
            }),
        }
    }

    /// Makes sure `total` buffered bytes are covered by the budget, waiting
    /// (by the deadline) while it is spent.
    pub(super) async fn cover(&mut self, total: usize) -> Result<(), Failure> {
        if total <= self.held.covered() {
            return Ok(());
        }
        let (budget, deadline, cut) = (&self.ctx.budget, self.deadline(), &self.ctx.cut);
        let timeout = self.ctx.config.timeout;
        tokio::select! {
            biased;
            () = cut.cancelled() => Err(Failure::Cut("waiting for buffer budget")),
            result = timeout_at(deadline, self.held.cover(budget, total)) => {
                result.map_err(|_| Failure::Timeout { what: "waiting for buffer budget", after: timeout })
            }
        }
    }

    /// Bytes the budget covers for this exchange now.
    pub(super) fn covered(&self) -> usize {
        self.held.covered()
    }

    /// Transforms the request: the chain is resolved within `--max-chain`,
    /// heavy work goes to the pool, the deadline covers waiting and working,
    /// and the reply, within `--max-reply`, is charged to the budget in place
    /// of the request until it is written.
    pub(super) async fn transform(&mut self, request: Request) -> Result<String, Failure> {
        let ctx = self.ctx;
        // Kept until the exchange ends, past the request: a small request's
        // buffer may go with it, a big one's may not.
        let name = request.name_handle();
        self.name = Some(if request.len() < FREE_PER_CONNECTION {
            name.clone()
        } else {
            name.detached()
        });
        ctx.metrics.request_bytes(self.protocol, request.len());
        // Counted before any lookup: a long chain costs nothing to refuse.
        let separator = CHAIN_SEPARATOR as u8;
        let parts = memchr::memchr_iter(separator, request.name().as_bytes()).count() + 1;
        let max = ctx.config.max_chain;
        if parts > max {
            return Err(Failure::ChainTooLong { parts, max });
        }
        let mut between = Between {
            deadline: self.deadline(),
            cut: None,
            max_reply: ctx.config.max_reply(),
            timeout: ctx.config.timeout,
        };
        let reply = if request.len().saturating_mul(parts) < HEAVY_WORK {
            if parts == 1 {
                let entry = ctx.registry.get(request.name())?;
                apply_chain([entry], request.poem(), &between)?
            } else {
                // Every part known before any runs; looked up twice, never collected.
                ctx.registry
                    .lookup(request.name())
                    .try_for_each(|entry| entry.map(drop))?;
                let chain = ctx.registry.lookup(request.name()).flatten();
                apply_chain(chain, request.poem(), &between)?
            }
        } else {
            let chain = ctx.registry.resolve(request.name())?;
            between.cut = Some(ctx.cut.clone());
            // Boxed: only heavy work needs the pool's state.
            Box::pin(self.on_pool(chain, request, between)).await?
        };
        ctx.metrics.reply_bytes(self.protocol, reply.len());
        // The request's bytes are gone by now; the reply's take their place.
        self.held.charge(&ctx.budget, reply.len());
        Ok(reply)
    }

    /// Runs a heavy chain on the transform pool, by the request's deadline.
    async fn on_pool(
        &self,
        chain: Vec<Entry>,
        request: Request,
        between: Between,
    ) -> Result<String, Failure> {
        let job = move || apply_chain(&chain, request.poem(), &between);
        match self.within("transforming", self.ctx.pool.run(job)).await? {
            Ok(reply) => reply,
            // The registry catches panics; this is the thread itself failing.
            Err(err) => Err(Failure::Transform(RegistryError::TransformFailed {
                name: request::shorten(self.name.as_ref().map_or("", Name::as_str)).to_owned(),
                reason: err.to_string(),
            })),
        }
    }

    /// Hands the bytes this exchange holds against the budget to whoever
    /// outlives it (an HTTP body being written after its handler returned).
    pub(super) fn take_held(&mut self) -> Held {
        std::mem::take(&mut self.held)
    }

    /// Counts and logs how the exchange ended (never with the poem).
    pub(super) fn finish(self, result: Result<(), Failure>) {
        let ctx = self.ctx;
        let outcome = result.as_ref().err().map_or(Outcome::Ok, Failure::outcome);
        ctx.stats.record(outcome);
        let elapsed = self.started.elapsed();
        let name = self.name.as_ref().map(Name::as_str);
        ctx.metrics.request(self.protocol, name, outcome, elapsed);
        let (peer, via) = (self.peer, self.via.map(display));
        let transform = name.map(request::shorten);
        let (ms, bytes_in, bytes_out) = (elapsed.as_secs_f64() * 1e3, self.bytes_in, self.bytes_out);
        let protocol = self.protocol.as_str();
        let Err(failure) = result else {
            tracing::debug!(%peer, via, protocol, transform, ms, bytes_in, bytes_out, "replied");
            return;
        };
        if !ctx.log.allow() {
            return;
        }
        let outcome = outcome.as_str();
        match failure.outcome() {
            Outcome::ClientGone | Outcome::Timeout | Outcome::Cut => tracing::info!(
                %peer, via, protocol, transform, outcome, ms, bytes_in, bytes_out,
                "closed without a reply: {failure}"
            ),
            _ => tracing::warn!(
                %peer, via, protocol, transform, outcome, ms, bytes_in, bytes_out,
                "closed without a reply: {failure}"
            ),
        }
    }

    /// Logs a connection that ended before any request began (not counted
    /// as a request).
    pub(super) fn finish_idle(self, why: &str) {
        tracing::debug!(peer = %self.peer, via = self.via.map(display), protocol = self.protocol.as_str(), "{why}");
    }
}

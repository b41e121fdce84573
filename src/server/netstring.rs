//! The netstring protocol adapter: one connection, one request, one reply.
//!
//! Read one netstring, turn it into a [`Request`], have it transformed, write
//! the reply as one netstring, close. Any failure closes the connection
//! without sending a byte and is logged with the peer and the reason, never
//! with the poem.
//!
//! With `--proxy-protocol`, a PROXY header comes first; it is read within the
//! same deadline as the request, and the client it names is the peer logged.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant, Sleep};
use tokio_util::codec::Decoder;
use tracing::field::{display, DisplayValue};

use super::limits::Reservation;
use super::proxy::{self, ProxyError};
use super::shutdown::Shutdown;
use super::{Context, Outcome, Protocol};
use crate::codec::{self, NetstringCodec, NetstringError};
use crate::registry::RegistryError;
use crate::request::{Request, RequestError};

/// Reads of a connection's first bytes land here, on the stack, so that an
/// idle connection holds no buffer and a busy one holds only what arrived.
const CHUNK: usize = 16 * 1024;

/// Bytes read and dropped after the first frame before closing, so that the
/// close does not turn into a reset that could destroy the reply in transit.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Why a connection was closed without a reply.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Frame(NetstringError),
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
    #[error("{0}")]
    Transform(#[from] RegistryError),
    #[error("timed out after {} s while {what}", .after.as_secs_f64())]
    Timeout { after: Duration, what: &'static str },
    #[error("client went away while {0}: {1}")]
    Gone(&'static str, io::Error),
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    #[error("client went away in the middle of the PROXY protocol header")]
    ProxyTruncated,
}

impl From<NetstringError> for Failure {
    fn from(err: NetstringError) -> Self {
        match err {
            NetstringError::Io(io) => Failure::Gone("reading the request", io),
            other => Failure::Frame(other),
        }
    }
}

impl Failure {
    fn outcome(&self) -> Outcome {
        match self {
            Failure::Frame(NetstringError::TooLong { .. } | NetstringError::TooManyDigits { .. }) => {
                Outcome::TooLong
            }
            Failure::Frame(NetstringError::Truncated { .. }) => Outcome::ClientGone,
            Failure::Frame(_) => Outcome::MalformedFrame,
            Failure::Request(_) => Outcome::BadRequest,
            Failure::Transform(err) => err.into(),
            Failure::Timeout { .. } => Outcome::Timeout,
            Failure::Gone(..) | Failure::ProxyTruncated => Outcome::ClientGone,
            Failure::Proxy(_) => Outcome::MalformedFrame,
        }
    }
}

/// Who a connection is from, and what it asked for, as far as known.
struct Exchange {
    /// The client: the socket's peer, or the one a PROXY header names.
    peer: SocketAddr,
    /// The balancer that relayed the client, when a PROXY header named one.
    via: Option<SocketAddr>,
    /// The transform asked for, once the request parsed.
    name: Option<String>,
}

impl Exchange {
    /// The `via` log field: absent unless the connection was relayed.
    fn via(&self) -> Option<DisplayValue<SocketAddr>> {
        self.via.map(display)
    }
}

/// Serves one connection to its end, then logs and counts how it ended.
///
/// A plain fn returning an `async move` block rather than an `async fn`: the
/// block uses what it captures in place, where an `async fn` would keep its
/// arguments twice (as arguments and as locals) in every connection's task.
pub(super) fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    shutdown: Shutdown,
) -> impl Future<Output = ()> + Send {
    let started = std::time::Instant::now();
    let mut exchange = Exchange {
        peer,
        via: None,
        name: None,
    };
    async move {
        let result = handle(&mut stream, &ctx, shutdown, &mut exchange).await;
        log_outcome(&ctx, &exchange, result, started);
    }
}

/// Counts how a connection ended, and logs it (never with the poem).
fn log_outcome(
    ctx: &Context,
    exchange: &Exchange,
    result: Result<bool, Failure>,
    started: std::time::Instant,
) {
    let Exchange { peer, ref name, .. } = *exchange;
    let via = exchange.via();
    match result {
        Ok(true) => {
            ctx.record(Protocol::Netstring, name.as_deref(), Outcome::Ok, started);
            let transform = name.as_deref().map(crate::request::shorten);
            tracing::debug!(%peer, via, transform, "replied");
        }
        Ok(false) => tracing::debug!(%peer, via, "closed before sending a request"),
        Err(failure) => {
            let outcome = failure.outcome();
            ctx.record(Protocol::Netstring, name.as_deref(), outcome, started);
            match outcome {
                Outcome::ClientGone | Outcome::Timeout => {
                    tracing::info!(%peer, via, outcome = outcome.as_str(), "closed without a reply: {failure}")
                }
                _ => {
                    tracing::warn!(%peer, via, outcome = outcome.as_str(), "closed without a reply: {failure}")
                }
            }
        }
    }
}

/// The request-reply exchange. `Ok(false)`: the client sent no request.
async fn handle(
    stream: &mut TcpStream,
    ctx: &Context,
    shutdown: Shutdown,
    exchange: &mut Exchange,
) -> Result<bool, Failure> {
    let Some(received) = read_request(stream, ctx, shutdown, exchange).await? else {
        return Ok(false);
    };
    // Boxed: an idle connection's task is sized by its largest state, and
    // answering needs more state than waiting does.
    Box::pin(respond(stream, ctx, received, exchange)).await?;
    Ok(true)
}

/// A whole request frame, and what reading it left behind.
struct Received {
    payload: Bytes,
    /// The request's share of the buffer budget, held until it is answered.
    reservation: Option<Reservation>,
    /// Bytes followed the frame (a pipelining client).
    pipelined: bool,
}

/// Reads one request frame (after a PROXY header, when configured) within
/// the timeout. `None`: the client sent nothing before closing or shutdown.
async fn read_request(
    stream: &mut TcpStream,
    ctx: &Context,
    mut shutdown: Shutdown,
    exchange: &mut Exchange,
) -> Result<Option<Received>, Failure> {
    let timeout = ctx.config.timeout;
    // One timer for the whole request, however many reads it takes: a
    // connection that waits holds one timer entry, not one per await.
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut codec = NetstringCodec::new(ctx.config.max_length);
    let mut buf = BytesMut::new();

    // Until its first byte, a connection is not in flight: shutdown closes it.
    // Readiness alone is not a byte (it may be spurious), so read to know.
    loop {
        tokio::select! {
            biased;
            ready = readable_by(stream, deadline.as_mut(), timeout, "waiting for the request") => ready?,
            () = shutdown.recv() => return Ok(None),
        }
        match read_some(stream, &mut buf, None) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Failure::Gone("waiting for the request", e)),
        }
    }

    if ctx.config.proxy_protocol {
        let header = Box::pin(read_proxy_header(stream, &mut buf, deadline.as_mut(), timeout)).await?;
        if let Some(source) = header.source {
            exchange.via = Some(std::mem::replace(&mut exchange.peer, source));
        }
    }

    let mut reservation: Option<Reservation> = None;
    let payload = loop {
        if let Some(frame) = codec.decode(&mut buf)? {
            break frame;
        }
        if reservation.is_none() {
            if let Some(len) = codec.declared_length() {
                let reserve = reserve(stream, ctx, len, buf.is_empty(), deadline.deadline());
                reservation = Some(Box::pin(reserve).await?);
            }
        }
        readable_by(stream, deadline.as_mut(), timeout, "reading the request").await?;
        let need = codec.declared_length().map(|len| len + 1);
        match read_some(stream, &mut buf, need) {
            Ok(0) => match codec.decode_eof(&mut buf)? {
                Some(frame) => break frame,
                // decode_eof reports a partial frame as an error: nothing came after
                // a PROXY header (a balancer's health check does just that).
                None => return Ok(None),
            },
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Failure::Gone("reading the request", e)),
        }
    };
    Ok(Some(Received {
        payload,
        reservation,
        pipelined: !buf.is_empty(),
    }))
}

/// Parses and transforms the request, writes the reply frame within a fresh
/// timeout, and closes the write side.
async fn respond(
    stream: &mut TcpStream,
    ctx: &Context,
    received: Received,
    exchange: &mut Exchange,
) -> Result<(), Failure> {
    let timeout = ctx.config.timeout;
    let request = Request::parse(received.payload)?;
    exchange.name = Some(request.name().to_owned());
    let reply = super::transform(ctx, Protocol::Netstring, request).await?;
    drop(received.reservation);

    // The reply gets a fresh allowance: a slow transform must not eat the
    // client's time to read it.
    let deadline = Instant::now() + timeout;
    let mut framed = codec::frame(Bytes::from(reply));
    timeout_at(deadline, async {
        stream.write_all_buf(&mut framed).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| Failure::Timeout {
        after: timeout,
        what: "writing the reply",
    })?
    .map_err(|e| Failure::Gone("writing the reply", e))?;

    if received.pipelined {
        drain(stream, deadline).await;
    }
    Ok(())
}

/// Waits until the socket is readable, or fails with a timeout once
/// `deadline` passes. Polls the stream's own readiness instead of holding a
/// `readable()` future (one task reads each stream), and is a plain closure
/// rather than an async fn: every idle connection holds one of these.
fn readable_by<'a>(
    stream: &'a TcpStream,
    mut deadline: Pin<&'a mut Sleep>,
    timeout: Duration,
    what: &'static str,
) -> impl Future<Output = Result<(), Failure>> + 'a {
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(ready) = stream.poll_read_ready(cx) {
            return Poll::Ready(ready.map_err(|e| Failure::Gone(what, e)));
        }
        deadline
            .as_mut()
            .poll(cx)
            .map(|()| Err(Failure::Timeout { after: timeout, what }))
    })
}

/// Reads the PROXY header at the start of `buf` (reading more as needed, at
/// most [`proxy::MAX_HEADER`] bytes, by `deadline`) and removes it, leaving
/// any bytes after it for the netstring decoder.
async fn read_proxy_header(
    stream: &TcpStream,
    buf: &mut BytesMut,
    mut deadline: Pin<&mut Sleep>,
    timeout: Duration,
) -> Result<proxy::Header, Failure> {
    const WHAT: &str = "reading the PROXY protocol header";
    loop {
        if let Some(header) = proxy::parse(buf)? {
            let _ = buf.split_to(header.len);
            return Ok(header);
        }
        readable_by(stream, deadline.as_mut(), timeout, WHAT).await?;
        match read_some(stream, buf, None) {
            Ok(0) => return Err(Failure::ProxyTruncated),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Failure::Gone(WHAT, e)),
        }
    }
}

/// Reserves a request's bytes from the server's budget. The reservation waits
/// until payload bytes are actually there, so a client that sends a header
/// and nothing more holds no share of the budget.
async fn reserve(
    stream: &TcpStream,
    ctx: &Context,
    len: usize,
    nothing_buffered: bool,
    deadline: Instant,
) -> Result<Reservation, Failure> {
    let timeout = ctx.config.timeout;
    if nothing_buffered {
        timeout_at(deadline, stream.readable())
            .await
            .map_err(|_| Failure::Timeout {
                after: timeout,
                what: "reading the request",
            })?
            .map_err(|e| Failure::Gone("reading the request", e))?;
    }
    timeout_at(deadline, ctx.budget.reserve(len))
        .await
        .map_err(|_| Failure::Timeout {
            after: timeout,
            what: "waiting for buffer budget",
        })
}

/// Reads what the socket holds now without blocking. `need` is how many more
/// bytes the frame needs, once its length is known: the buffer then grows
/// with the data (doubling, capped at the need), never from the header alone.
fn read_some(stream: &TcpStream, buf: &mut BytesMut, need: Option<usize>) -> io::Result<usize> {
    let spare = buf.capacity() - buf.len();
    match need {
        Some(need) if need > buf.len() + spare && need > CHUNK => {
            buf.reserve((need - buf.len()).min(buf.len().max(CHUNK)));
            stream.try_read_buf(buf)
        }
        _ if spare > 0 => stream.try_read_buf(buf),
        _ => {
            let mut chunk = [0u8; CHUNK];
            let n = stream.try_read(&mut chunk)?;
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
    }
}

/// After the reply to a pipelined request: reads and drops what else the
/// client sent (bounded), so the close is a FIN and not a reset.
async fn drain(stream: &mut TcpStream, deadline: Instant) {
    let mut dropped = 0;
    while dropped < DRAIN_LIMIT {
        if timeout_at(deadline, stream.readable()).await.is_err() {
            return;
        }
        let mut chunk = [0u8; 4096];
        match stream.try_read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => dropped += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection costs its task: keep the task's future small, since
    /// thousands of half-sent requests each hold one.
    #[test]
    fn a_connection_future_is_small() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let stream = TcpStream::from_std(client).unwrap();
        let server =
            super::super::Server::new(crate::registry::Registry::standard(), Default::default()).unwrap();
        let (_trigger, shutdown) = super::super::shutdown::channel();
        let peer = stream.peer_addr().unwrap();
        let future = serve(stream, peer, server.ctx.clone(), shutdown);
        let size = std::mem::size_of_val(&future);
        eprintln!("connection future: {size} bytes");
        assert!(size <= 768, "a connection's future takes {size} bytes");
    }
}

//! The netstring protocol adapter: one connection, one request, one reply.
//!
//! Wait for the request's first byte (an idle connection gives way to
//! shutdown and to connections waiting for a slot), read one netstring into
//! a [`Request`], have the pipeline transform it, write the reply as one
//! netstring, and close without destroying it. Any failure closes the
//! connection without sending a byte.
//!
//! With `--proxy-protocol`, a PROXY header comes first; it does not make the
//! connection busy, and only a peer in `--proxy-from` may send one.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::codec::Decoder;

use super::limits::{IpSlot, Release};
use super::pipeline::{Exchange, Failure};
use super::socket::Socket;
use super::{linger, proxy, Admission, Context, Protocol};
use crate::codec::{self, NetstringCodec};
use crate::request::Request;

/// A connection's first read lands here, on the stack, so that an idle
/// connection holds no buffer and a busy one holds only what arrived.
const CHUNK: usize = 16 * 1024;

/// Serves one connection to its end, then counts and logs how it ended.
///
/// A plain fn returning an `async move` block rather than an `async fn`: the
/// block uses what it captures in place, where an `async fn` would keep its
/// arguments twice (as arguments and as locals) in every connection's task
/// (48 bytes more, measured).
#[allow(clippy::manual_async_fn)]
pub(super) fn serve(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    admission: Admission,
) -> impl Future<Output = ()> + Send {
    let mut socket = Socket::new(stream);
    async move {
        let mut exchange = Exchange::new(&ctx, Protocol::Netstring, peer);
        match handle(&mut socket, &mut exchange).await {
            Ok(Idle::Replied) => exchange.finish(Ok(())),
            Ok(idle) => exchange.finish_idle(idle.why()),
            Err(failure) => exchange.finish(Err(failure)),
        }
        drop(admission);
    }
}

/// How a connection ended when it did not end in a failure.
enum Idle {
    Replied,
    Closed,
    ShutDown,
    Reclaimed,
}

impl Idle {
    fn why(&self) -> &'static str {
        match self {
            Idle::Replied => "replied",
            Idle::Closed => "closed before sending a request",
            Idle::ShutDown => "closed idle at shutdown",
            Idle::Reclaimed => "closed idle to give its slot to a waiting connection",
        }
    }
}

/// The request-reply exchange.
async fn handle(stream: &mut Socket, exchange: &mut Exchange<'_>) -> Result<Idle, Failure> {
    let ctx = exchange.ctx();
    let mut buf = BytesMut::new();
    // One timer for the connection, however many waits it takes, and only
    // made if one does: until the first byte, the idle deadline (not in
    // flight: shutdown and a connection waiting for a slot may close it),
    // then the request's.
    let mut timer = std::pin::pin!(None::<Sleep>);
    let idle_until = exchange.started_at() + ctx.config.timeout;
    // The bytes usually came with the connection: no waiting, no reactor.
    let mut began = exchange.started_at();
    match read_first(|room| stream.try_read_buf(room), &mut buf, exchange)? {
        Some(Some(idle)) => return Ok(idle),
        Some(None) => {}
        None => {
            let wait = wait_for_bytes(stream, &mut buf, exchange, set(timer.as_mut(), idle_until));
            if let Some(idle) = wait.await? {
                return Ok(idle);
            }
            began = Instant::now();
        }
    }
    let mut _per_ip: Option<IpSlot> = None;
    if ctx.config.proxy_protocol {
        // Boxed: only proxied connections pay for this state.
        _per_ip = Box::pin(read_proxy_header(
            stream,
            &mut buf,
            exchange,
            timer.as_mut(),
            idle_until,
        ))
        .await?;
        // A header alone does not make a connection busy (a balancer's health
        // check sends just that).
        if buf.is_empty() {
            let wait = wait_for_bytes(stream, &mut buf, exchange, set(timer.as_mut(), idle_until));
            if let Some(idle) = wait.await? {
                return Ok(idle);
            }
            began = Instant::now();
        }
    }
    // In flight from here, by the request's deadline.
    exchange.begin(began);
    let (frame, extra) = read_frame(stream, &mut buf, exchange, timer.as_mut()).await?;
    drop(buf);
    // Boxed: a connection's task is sized by its largest state, and
    // answering needs more state than waiting or reading does.
    Box::pin(answer(stream, frame, extra, exchange)).await?;
    Ok(Idle::Replied)
}

/// The connection's timer, set to `at`: made on first use, reset after.
fn set(slot: Pin<&mut Option<Sleep>>, at: Instant) -> Pin<&mut Sleep> {
    let mut slot = slot;
    match slot.as_mut().as_pin_mut() {
        Some(sleep) if sleep.deadline() == at => {}
        Some(sleep) => sleep.reset(at),
        None => slot.set(Some(tokio::time::sleep_until(at))),
    }
    slot.as_pin_mut().expect("the timer was made just above")
}

/// Waits, idle, until the client sends bytes (read into `buf`). `Some`: the
/// connection ended first: closed by the client, shut down, or reclaimed.
async fn wait_for_bytes(
    socket: &mut Socket,
    buf: &mut BytesMut,
    exchange: &mut Exchange<'_>,
    mut deadline: Pin<&mut Sleep>,
) -> Result<Option<Idle>, Failure> {
    let ctx = exchange.ctx();
    let stream = registered(socket, "waiting for the request")?;
    loop {
        tokio::select! {
            biased;
            ready = readable_by(stream, deadline.as_mut(), exchange, "waiting for the request") => ready?,
            why = ctx.slots.until_released() => {
                return Ok(Some(match why {
                    Release::Shutdown => Idle::ShutDown,
                    Release::Reclaimed => {
                        ctx.metrics.reclaimed(Protocol::Netstring);
                        Idle::Reclaimed
                    }
                }));
            }
        }
        // Readiness alone is not a byte (it may be spurious): read to know.
        if let Some(read) = read_first(|room| stream.try_read_buf(room), buf, exchange)? {
            return Ok(read);
        }
    }
}

/// Tries to read the first bytes of a request, without waiting: `None` when
/// none has arrived yet, `Some(None)` when some have (in `buf`),
/// `Some(Some(Idle::Closed))` when the client closed instead.
fn read_first(
    try_read: impl FnOnce(&mut &mut [MaybeUninit<u8>]) -> io::Result<usize>,
    buf: &mut BytesMut,
    exchange: &mut Exchange<'_>,
) -> Result<Option<Option<Idle>>, Failure> {
    // Not zeroed: a request is usually a few dozen bytes of these 16 KiB.
    let mut chunk = [MaybeUninit::<u8>::uninit(); CHUNK];
    match try_read(&mut &mut chunk[..]) {
        Ok(0) => Ok(Some(Some(Idle::Closed))),
        Ok(n) => {
            // SAFETY: the read initialised the first `n` bytes.
            let arrived = unsafe { &*(std::ptr::from_ref(&chunk[..n]) as *const [u8]) };
            buf.extend_from_slice(arrived);
            exchange.received(n);
            Ok(Some(None))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(source) => Err(Failure::Gone {
            what: "waiting for the request",
            source,
        }),
    }
}

/// The socket registered with the reactor, since it must wait for `what`.
fn registered<'s>(socket: &'s mut Socket, what: &'static str) -> Result<&'s mut TcpStream, Failure> {
    socket
        .registered()
        .map_err(|source| Failure::Gone { what, source })
}

/// Waits until the socket is readable, or fails with a timeout once
/// `deadline` passes. Polls the stream's own readiness instead of holding a
/// `readable()` future (one task reads each stream): every idle connection
/// holds one of these.
fn readable_by<'a>(
    stream: &'a TcpStream,
    mut deadline: Pin<&'a mut Sleep>,
    exchange: &Exchange<'_>,
    what: &'static str,
) -> impl Future<Output = Result<(), Failure>> + 'a {
    let after = exchange.ctx().config.timeout;
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(ready) = stream.poll_read_ready(cx) {
            return Poll::Ready(ready.map_err(|source| Failure::Gone { what, source }));
        }
        deadline
            .as_mut()
            .poll(cx)
            .map(|()| Err(Failure::Timeout { what, after }))
    })
}

/// Reads the PROXY header at the start of `buf` (reading more as needed, at
/// most [`proxy::MAX_HEADER`] bytes, by the idle deadline), removes it, and
/// takes the client it names as the peer when the sender is trusted.
async fn read_proxy_header(
    socket: &mut Socket,
    buf: &mut BytesMut,
    exchange: &mut Exchange<'_>,
    mut timer: Pin<&mut Option<Sleep>>,
    until: Instant,
) -> Result<Option<IpSlot>, Failure> {
    const WHAT: &str = "reading the PROXY protocol header";
    let ctx = exchange.ctx();
    let header = loop {
        if let Some(header) = proxy::parse(buf)? {
            let _ = buf.split_to(header.len);
            break header;
        }
        let stream = registered(socket, WHAT)?;
        readable_by(stream, set(timer.as_mut(), until), exchange, WHAT).await?;
        if !read_counted(stream, buf, proxy::MAX_HEADER - buf.len(), exchange, WHAT)? {
            return Err(ended(WHAT));
        }
    };
    let sender = exchange.peer.ip();
    if !ctx.config.trusts_proxy(sender) {
        return Err(Failure::UntrustedProxy(sender));
    }
    let Some(client) = header.source else {
        // A LOCAL header (a health check): the balancer speaks for itself.
        return Ok(None);
    };
    exchange.via = Some(std::mem::replace(&mut exchange.peer, client));
    match &ctx.per_ip {
        None => Ok(None),
        Some(per_ip) => match per_ip.admit(client.ip()) {
            Some(slot) => Ok(Some(slot)),
            None => Err(Failure::PerIp(client.ip(), per_ip.max())),
        },
    }
}

/// Reads the request frame (what follows it says `extra`), waiting by the
/// request's deadline, with the budget covering what arrives.
async fn read_frame(
    socket: &mut Socket,
    buf: &mut BytesMut,
    exchange: &mut Exchange<'_>,
    mut timer: Pin<&mut Option<Sleep>>,
) -> Result<(Bytes, bool), Failure> {
    const WHAT: &str = "reading the request";
    let ctx = exchange.ctx();
    let mut codec = NetstringCodec::new(ctx.config.max_length);
    let until = exchange.deadline();
    loop {
        if let Some(frame) = codec.decode(buf)? {
            return Ok((frame, !buf.is_empty()));
        }
        let stream = registered(socket, WHAT)?;
        tokio::select! {
            biased;
            () = ctx.cut.cancelled() => return Err(Failure::Cut(WHAT)),
            ready = readable_by(stream, set(timer.as_mut(), until), exchange, WHAT) => ready?,
        }
        // Budget covers bytes that have arrived, never a declared length: a
        // client holds no more of it than it has sent.
        let lacking = codec.declared_length().map_or(CHUNK, |len| len + 1 - buf.len());
        let arrived = queued(stream).unwrap_or(CHUNK).min(lacking);
        if buf.len() + arrived > exchange.covered() {
            // Boxed: only requests past the free share wait for the budget.
            Box::pin(exchange.cover(buf.len() + arrived)).await?;
        }
        // Nothing queued yet readable: the end of the stream, or a byte
        // that arrived since (one uncovered byte at most).
        let room = arrived.max(1);
        if !read_counted(stream, buf, room, exchange, WHAT)? {
            return codec
                .decode_eof(buf)?
                .map(|frame| (frame, false))
                .ok_or_else(|| ended(WHAT));
        }
    }
}

/// Has the request transformed, writes the reply within a fresh timeout,
/// and closes without a reset.
async fn answer(
    socket: &mut Socket,
    frame: Bytes,
    extra: bool,
    exchange: &mut Exchange<'_>,
) -> Result<(), Failure> {
    let request = Request::parse(frame)?;
    let reply = exchange.transform(request).await?;
    let header = codec::Header::new(reply.len());
    // Usually the send buffer takes it all at once: one writev, no waiting.
    let whole = [
        io::IoSlice::new(header.as_bytes()),
        io::IoSlice::new(reply.as_bytes()),
        io::IoSlice::new(b","),
    ];
    let written = match socket.try_write_vectored(&whole) {
        Ok(written) => written,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(source) => {
            return Err(Failure::Gone {
                what: "writing the reply",
                source,
            })
        }
    };
    let len = reply.len();
    if written < header.as_bytes().len() + len + 1 {
        // Boxed, as waiting is: only a big reply or a slow reader waits.
        Box::pin(write_rest(socket, exchange, header, reply, written)).await?;
    }
    exchange.sent(len);
    if linger::needed(socket, extra) {
        Box::pin(linger_close(socket, exchange)).await?;
    }
    Ok(())
}

/// Writes what the first write left of the reply, within a fresh timeout:
/// a slow transform must not eat the client's time to read it.
async fn write_rest(
    socket: &mut Socket,
    exchange: &Exchange<'_>,
    header: codec::Header,
    reply: String,
    written: usize,
) -> Result<(), Failure> {
    const WHAT: &str = "writing the reply";
    let deadline = Instant::now() + exchange.ctx().config.timeout;
    let mut rest = Bytes::copy_from_slice(header.as_bytes())
        .chain(Bytes::from(reply))
        .chain(&b","[..]);
    rest.advance(written);
    let stream = registered(socket, WHAT)?;
    exchange
        .by(deadline, WHAT, stream.write_all_buf(&mut rest))
        .await?
        .map_err(|source| Failure::Gone { what: WHAT, source })
}

/// Ends the write side and lingers, so that the close does not destroy the
/// reply (see `linger.rs`).
async fn linger_close(socket: &mut Socket, exchange: &Exchange<'_>) -> Result<(), Failure> {
    const WHAT: &str = "closing";
    let deadline = Instant::now() + exchange.ctx().config.timeout;
    exchange
        .by(deadline, WHAT, linger::close(socket))
        .await?
        .map_err(|source| Failure::Gone { what: WHAT, source })
}

/// Bytes waiting in the socket's receive queue (`FIONREAD`).
#[cfg(unix)]
fn queued(stream: &TcpStream) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut queued) };
    (rc == 0).then(|| usize::try_from(queued).unwrap_or(0))
}

#[cfg(not(unix))]
fn queued(_stream: &TcpStream) -> Option<usize> {
    None
}

/// Reads what has arrived, at most `room` bytes, into `buf` and counts it;
/// `false` at the end of the stream. Nothing yet is not an error: readiness
/// may be spurious.
fn read_counted(
    stream: &TcpStream,
    buf: &mut BytesMut,
    room: usize,
    exchange: &mut Exchange<'_>,
    what: &'static str,
) -> Result<bool, Failure> {
    match read_some(stream, buf, room) {
        Ok(0) => Ok(false),
        Ok(n) => {
            exchange.received(n);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(source) => Err(Failure::Gone { what, source }),
    }
}

/// The client closed while `what` was still under way.
fn ended(what: &'static str) -> Failure {
    Failure::Gone {
        what,
        source: io::ErrorKind::UnexpectedEof.into(),
    }
}

/// Reads what the socket holds now, at most `room` bytes, without blocking.
/// The buffer grows with the data, never from a declared length alone.
fn read_some(stream: &TcpStream, buf: &mut BytesMut, room: usize) -> io::Result<usize> {
    if buf.capacity() - buf.len() < room {
        // Doubling, as a Vec does, but never past what the budget covers.
        buf.reserve(room.min(buf.len().max(CHUNK)));
    }
    let mut limited = bytes::BufMut::limit(&mut *buf, room);
    stream.try_read_buf(&mut limited)
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
        let peer = stream.peer_addr().unwrap();
        let ctx = server.ctx.clone();
        let admission = Admission {
            _open: ctx.metrics.open_connection(Protocol::Netstring),
            _slot: ctx.slots.try_acquire().unwrap(),
            _ip_slot: None,
        };
        let future = serve(stream.into_std().unwrap(), peer, ctx, admission);
        let size = std::mem::size_of_val(&future);
        eprintln!("connection future: {size} bytes");
        // 888 today, its admission (slot and counts) included: with the
        // task's header, a connection holding half a request costs about
        // 1.5 KB in all (the kit's bare server: 1.3 KB).
        assert!(size <= 900, "a connection's future takes {size} bytes");
    }
}

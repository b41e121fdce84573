//! Closing a connection without destroying its reply.
//!
//! Closing a socket that has unread bytes, or that receives bytes after the
//! close, makes the kernel send a reset, and a reset makes the client's kernel
//! drop whatever of the reply it has not yet received. A reply that the client
//! has acknowledged already sits in its receive queue and survives; one still
//! in our send queue does not. So, as nginx's `lingering_close`, the server
//! reads and drops what the client sends until the reply is acknowledged (or
//! the client closes), bounded in bytes and time; when the reply is already
//! acknowledged and nothing followed the request, which is the common case,
//! it closes at once.

use std::io;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::socket::Socket;

/// The longest a connection lingers after its reply.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

/// The most bytes read and dropped while lingering.
pub const LINGER_BYTES: usize = 1024 * 1024;

/// How often the send queue is looked at while the client sends nothing.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// True when closing now could destroy the reply: bytes followed the request
/// (`extra`), or the reply is not all acknowledged. Otherwise the caller
/// just drops the socket.
pub(super) fn needed(socket: &Socket, extra: bool) -> bool {
    extra || unacknowledged(socket).is_some_and(|n| n > 0)
}

/// Ends the write side after the reply, then reads and drops what the
/// client sends until closing is safe (see [`needed`]).
pub(super) async fn close(socket: &mut Socket) -> io::Result<()> {
    let stream = socket.registered()?;
    stream.shutdown().await?;
    linger(stream).await;
    Ok(())
}

/// Reads and drops until the client closes, the reply is acknowledged with
/// nothing left unread, or the bounds are reached.
async fn linger(stream: &TcpStream) {
    let until = Instant::now() + LINGER_TIME;
    let mut dropped = 0;
    while dropped < LINGER_BYTES && Instant::now() < until {
        match drop_unread(stream) {
            Some(n) => dropped += n,
            None => return,
        }
        // After the shutdown, the FIN itself counts as one unacknowledged byte.
        if unacknowledged(stream).is_none_or(|n| n <= 1) {
            return;
        }
        let wake = until.min(Instant::now() + POLL_EVERY);
        let _ = tokio::time::timeout_at(wake, stream.readable()).await;
    }
}

/// Reads and drops what has arrived, without waiting: how many bytes, or
/// `None` once the client has closed (or the connection failed). A plain fn,
/// so that its buffer is on the stack, not in every lingering task.
fn drop_unread(stream: &TcpStream) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    let mut dropped = 0;
    loop {
        match stream.try_read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => dropped += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(dropped),
            Err(_) => return None,
        }
    }
}

/// Bytes sent but not yet acknowledged by the peer (Linux `SIOCOUTQ`), or
/// `None` where the system cannot tell.
#[cfg(target_os = "linux")]
fn unacknowledged(stream: &impl std::os::fd::AsRawFd) -> Option<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ for sockets) writes one int through the pointer.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    (rc == 0).then(|| usize::try_from(queued).unwrap_or(0))
}

#[cfg(not(target_os = "linux"))]
fn unacknowledged<S>(_stream: &S) -> Option<usize> {
    None
}

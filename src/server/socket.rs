//! A connection's socket, registered with the reactor only once it must wait.
//!
//! A request usually arrives with its connection, and its reply usually fits
//! the socket's send buffer at once. Read, answered and closed without ever
//! waiting, such a connection never needs the reactor, which saves the two
//! `epoll_ctl` calls that registering and deregistering cost: what is left is
//! what the kernel needs for any server (accept, read, write, close). The
//! first operation that would wait registers the socket, and from then on it
//! is an ordinary tokio `TcpStream`.

use std::io::{self, IoSlice, Write};

use bytes::BufMut;
use std::os::fd::{AsRawFd, RawFd};

use tokio::net::TcpStream;

/// A connection's socket: raw until it has to wait, then registered.
#[derive(Debug)]
pub(super) struct Socket(Inner);

#[derive(Debug)]
enum Inner {
    /// Non-blocking, unknown to the reactor.
    Raw(std::net::TcpStream),
    /// Registered with the reactor.
    Registered(TcpStream),
    /// Registration failed: the socket is closed.
    Lost,
}

fn lost() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket could not be registered")
}

impl Socket {
    /// A socket for `stream`, which must be non-blocking.
    pub(super) fn new(stream: std::net::TcpStream) -> Self {
        Self(Inner::Raw(stream))
    }

    /// Reads what has arrived into `buf`'s spare room, without waiting and
    /// without first zeroing the room.
    pub(super) fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        match &self.0 {
            Inner::Raw(stream) => {
                let room = buf.chunk_mut();
                // SAFETY: recv writes at most `room.len()` bytes at its start;
                // writing to uninitialised memory is what it is for.
                let n = unsafe { libc::recv(stream.as_raw_fd(), room.as_mut_ptr().cast(), room.len(), 0) };
                let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
                // SAFETY: recv initialised the first `n` bytes of the room.
                unsafe { buf.advance_mut(n) };
                Ok(n)
            }
            Inner::Registered(stream) => stream.try_read_buf(buf),
            Inner::Lost => Err(lost()),
        }
    }

    /// Writes what the send buffer takes now, without waiting.
    pub(super) fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &self.0 {
            Inner::Raw(stream) => (&*stream).write_vectored(bufs),
            Inner::Registered(stream) => stream.try_write_vectored(bufs),
            Inner::Lost => Err(lost()),
        }
    }

    /// The socket as a tokio stream, registering it with the reactor first
    /// if it is not yet.
    pub(super) fn registered(&mut self) -> io::Result<&mut TcpStream> {
        if let Inner::Raw(_) = self.0 {
            let Inner::Raw(stream) = std::mem::replace(&mut self.0, Inner::Lost) else {
                unreachable!("matched just above");
            };
            self.0 = Inner::Registered(TcpStream::from_std(stream)?);
        }
        match &mut self.0 {
            Inner::Registered(stream) => Ok(stream),
            Inner::Raw(_) | Inner::Lost => Err(lost()),
        }
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match &self.0 {
            Inner::Raw(stream) => stream.as_raw_fd(),
            Inner::Registered(stream) => stream.as_raw_fd(),
            Inner::Lost => -1,
        }
    }
}

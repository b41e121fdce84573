//! The netstring client: connect, send one request, read exactly one reply.
//!
//! Failures are typed so that a caller can tell "nobody is listening" from
//! "the server refused the request" from "the reply was cut off".

use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::Decoder;

use crate::codec::{self, NetstringCodec, NetstringError};

/// Where to find a server and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time allowed to establish the TCP connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole exchange, connection included.
    pub timeout: Duration,
    /// Largest reply accepted, in bytes.
    pub max_reply: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            max_reply: 64 * 1024 * 1024,
        }
    }
}

/// Why a request got no (complete) reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the address.
    #[error("no server at {addr} (connection refused)")]
    Refused {
        /// The address tried.
        addr: String,
    },
    /// The address could not be resolved or connected to.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// What the system said.
        source: io::Error,
    },
    /// The connection was not established in time.
    #[error("connecting to {addr} timed out after {} s", .after.as_secs_f64())]
    ConnectTimeout {
        /// The address tried.
        addr: String,
        /// The connect timeout.
        after: Duration,
    },
    /// The server closed the connection without sending a byte.
    #[error("{addr} closed the connection without a reply")]
    NoReply {
        /// The server's address.
        addr: String,
    },
    /// The reply stopped before its declared length.
    #[error("reply from {addr} cut off after {received} of {declared} bytes")]
    CutOff {
        /// The server's address.
        addr: String,
        /// Payload bytes received.
        received: usize,
        /// Payload bytes declared.
        declared: usize,
    },
    /// The reply declares more bytes than the client accepts.
    #[error("reply from {addr} is longer than the {max} bytes accepted (see --max-reply)")]
    ReplyTooLong {
        /// The server's address.
        addr: String,
        /// The limit in force.
        max: usize,
    },
    /// The reply is not a netstring.
    #[error("reply from {addr} is not a netstring: {source}")]
    Malformed {
        /// The server's address.
        addr: String,
        /// What is wrong with it.
        source: NetstringError,
    },
    /// The exchange took longer than the timeout.
    #[error("no reply from {addr} within {} s", .after.as_secs_f64())]
    Timeout {
        /// The server's address.
        addr: String,
        /// The timeout in force.
        after: Duration,
    },
    /// The connection failed mid-exchange (reset, broken pipe).
    #[error("connection to {addr} failed: {source}")]
    Io {
        /// The server's address.
        addr: String,
        /// What the system said.
        source: io::Error,
    },
}

impl ClientError {
    /// True when another server might succeed where this one failed.
    pub fn tries_next_server(&self) -> bool {
        !matches!(
            self,
            ClientError::ReplyTooLong { .. } | ClientError::Malformed { .. }
        )
    }

    /// True when asking again may succeed: nobody answered, or the answer was
    /// lost. Safe because transforms are pure: a repeated request does no harm.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Refused { .. } | ClientError::NoReply { .. } | ClientError::CutOff { .. } => true,
            ClientError::Io { source, .. } => is_reset(source),
            _ => false,
        }
    }
}

/// The first pause between two rounds of attempts; it doubles each round.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Servers to try in order, and how often to go round them again.
#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port` of each server, in the order to try them.
    pub servers: Vec<String>,
    /// Timeouts and limits of each exchange.
    pub options: Options,
    /// Extra rounds over the servers after a retryable failure.
    pub retries: u32,
}

impl Client {
    /// Transforms `poem`, trying each server in order and going round again
    /// (after a short, doubling pause) up to `retries` times while some
    /// failure is retryable. `on_retry` hears of each failure that is followed
    /// by another try. On failure, returns every error met, in order.
    pub async fn transform(
        &self,
        name: &str,
        poem: &[u8],
        mut on_retry: impl FnMut(&ClientError),
    ) -> Result<Bytes, Vec<ClientError>> {
        let request = request_bytes(name, poem);
        let mut failures: Vec<ClientError> = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        for round in 0..=self.retries {
            if round > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            for addr in &self.servers {
                if let Some(previous) = failures.last() {
                    on_retry(previous);
                }
                match exchange(addr, &request, &self.options).await {
                    Ok(reply) => return Ok(reply),
                    Err(err) if err.tries_next_server() => failures.push(err),
                    Err(err) => {
                        failures.push(err);
                        return Err(failures);
                    }
                }
            }
            // Go round again only if some server may answer on a second try.
            let this_round = &failures[failures.len() - self.servers.len()..];
            if !this_round.iter().any(ClientError::is_retryable) {
                break;
            }
        }
        Err(failures)
    }
}

/// The netstring request for `name` applied to `poem`.
pub fn request_bytes(name: &str, poem: &[u8]) -> Bytes {
    let mut payload = BytesMut::with_capacity(name.len() + 1 + poem.len());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(b".");
    payload.extend_from_slice(poem);
    let mut framed = codec::frame(payload.freeze());
    framed.copy_to_bytes(framed.remaining())
}

/// Sends one request to `addr` (`host:port`) and returns the reply's payload.
pub async fn transform(addr: &str, name: &str, poem: &[u8], options: &Options) -> Result<Bytes, ClientError> {
    exchange(addr, &request_bytes(name, poem), options).await
}

/// Sends an already framed request and reads exactly one netstring back.
pub async fn exchange(addr: &str, request: &[u8], options: &Options) -> Result<Bytes, ClientError> {
    let deadline = Instant::now() + options.timeout;
    let mut stream = connect(addr, options, deadline).await?;
    let timed_out = || ClientError::Timeout {
        addr: addr.to_owned(),
        after: options.timeout,
    };
    let io_failed = |source: io::Error| ClientError::Io {
        addr: addr.to_owned(),
        source,
    };
    timeout_at(deadline, stream.write_all(request))
        .await
        .map_err(|_| timed_out())?
        .map_err(io_failed)?;
    timeout_at(deadline, read_reply(&mut stream, addr, options.max_reply))
        .await
        .map_err(|_| timed_out())?
}

/// Connects to `addr`, telling a refused connection from other failures.
pub async fn connect(addr: &str, options: &Options, deadline: Instant) -> Result<TcpStream, ClientError> {
    let connect_deadline = deadline.min(Instant::now() + options.connect_timeout);
    match timeout_at(connect_deadline, TcpStream::connect(addr)).await {
        Err(_) => Err(ClientError::ConnectTimeout {
            addr: addr.to_owned(),
            after: options.connect_timeout.min(options.timeout),
        }),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Err(ClientError::Refused {
            addr: addr.to_owned(),
        }),
        Ok(Err(source)) => Err(ClientError::Connect {
            addr: addr.to_owned(),
            source,
        }),
        Ok(Ok(stream)) => Ok(stream),
    }
}

async fn read_reply(stream: &mut TcpStream, addr: &str, max_reply: usize) -> Result<Bytes, ClientError> {
    let mut codec = NetstringCodec::new(max_reply);
    let mut buf = BytesMut::new();
    let mut received = 0usize;
    loop {
        buf.reserve(8 * 1024);
        let n = match stream.read_buf(&mut buf).await {
            Ok(n) => n,
            // A reset after some bytes is a cut-off reply; before any, no reply.
            Err(e) if received == 0 && is_reset(&e) => 0,
            Err(e) if is_reset(&e) => {
                return Err(cut_off(addr, &mut codec, &mut buf));
            }
            Err(source) => {
                return Err(ClientError::Io {
                    addr: addr.to_owned(),
                    source,
                })
            }
        };
        received += n;
        let decoded = if n == 0 {
            if received == 0 {
                return Err(ClientError::NoReply {
                    addr: addr.to_owned(),
                });
            }
            codec.decode_eof(&mut buf)
        } else {
            codec.decode(&mut buf)
        };
        match decoded {
            Ok(Some(reply)) => return Ok(reply),
            Ok(None) => {}
            Err(NetstringError::Truncated {
                received,
                declared: Some(declared),
            }) => {
                return Err(ClientError::CutOff {
                    addr: addr.to_owned(),
                    received,
                    declared,
                })
            }
            Err(NetstringError::TooLong { max } | NetstringError::TooManyDigits { max, .. }) => {
                return Err(ClientError::ReplyTooLong {
                    addr: addr.to_owned(),
                    max,
                })
            }
            Err(source) => {
                return Err(ClientError::Malformed {
                    addr: addr.to_owned(),
                    source,
                })
            }
        }
    }
}

fn cut_off(addr: &str, codec: &mut NetstringCodec, buf: &mut BytesMut) -> ClientError {
    match codec.decode_eof(buf) {
        Err(NetstringError::Truncated {
            received,
            declared: Some(declared),
        }) => ClientError::CutOff {
            addr: addr.to_owned(),
            received,
            declared,
        },
        _ => ClientError::Io {
            addr: addr.to_owned(),
            source: io::ErrorKind::ConnectionReset.into(),
        },
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_classic_request() {
        assert_eq!(
            &request_bytes("cummingsify", b"HERE IS MY POEM")[..],
            b"27:cummingsify.HERE IS MY POEM,"
        );
    }
}

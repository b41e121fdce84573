//! The netstring client: connect, send one request, read exactly one reply.
//!
//! Failures are typed so that a caller can tell "nobody is listening" from
//! "the server refused the request" from "the reply was cut off". On the wire
//! a refusal (the protocol's close without a byte) looks just like a server
//! dying mid-request, so after such a close [`Client`] sends the same server
//! the classic request as a canary: answered, the server is up and refused
//! this request, and sending it again would only be refused again; not
//! answered, the server is failing, and a retry may find it (or a balancer's
//! other instances) well again.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::Decoder;

use crate::codec::{self, NetstringCodec, NetstringError, TWISTED_MAX_LENGTH};
use crate::conformance::{CLASSIC_REPLY, CLASSIC_REQUEST};
use crate::registry::{Registry, RegistryError};

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
    /// The host name did not resolve to any address.
    #[error("cannot resolve the host name of {addr}: {source}")]
    Resolve {
        /// The address given.
        addr: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// Nothing listens at the address.
    #[error("no server at {addr} (connection refused{})", tried_list(addr, tried))]
    Refused {
        /// The address given.
        addr: String,
        /// The socket addresses it resolved to, each refused.
        tried: Vec<SocketAddr>,
    },
    /// The address could not be connected to.
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
    /// The server closed the connection without sending a byte, and did not
    /// answer the canary either (or was not asked): it is failing.
    #[error("{addr} closed the connection without a reply")]
    NoReply {
        /// The server's address.
        addr: String,
    },
    /// The server closed the connection without a reply, then answered the
    /// canary: it is up, and refused this request.
    #[error("{addr} refused the request (closed the connection without a reply, then answered the classic request)")]
    Rejected {
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

/// ` at A, B` when `addr` resolved to socket addresses other than itself.
fn tried_list(addr: &str, tried: &[SocketAddr]) -> String {
    if tried.is_empty() || (tried.len() == 1 && tried[0].to_string() == addr) {
        return String::new();
    }
    let list: Vec<String> = tried.iter().map(ToString::to_string).collect();
    format!(" at {}", list.join(" and "))
}

impl ClientError {
    /// The address (as given) of the server this failure is about.
    pub fn addr(&self) -> &str {
        match self {
            ClientError::Resolve { addr, .. }
            | ClientError::Refused { addr, .. }
            | ClientError::Connect { addr, .. }
            | ClientError::ConnectTimeout { addr, .. }
            | ClientError::NoReply { addr }
            | ClientError::Rejected { addr }
            | ClientError::CutOff { addr, .. }
            | ClientError::ReplyTooLong { addr, .. }
            | ClientError::Malformed { addr, .. }
            | ClientError::Timeout { addr, .. }
            | ClientError::Io { addr, .. } => addr,
        }
    }

    /// True when another server might succeed where this one failed.
    pub fn tries_next_server(&self) -> bool {
        !matches!(
            self,
            ClientError::ReplyTooLong { .. } | ClientError::Malformed { .. }
        )
    }

    /// True when asking the same server again may succeed: nobody answered,
    /// or the answer was lost. Safe because transforms are pure: a repeated
    /// request does no harm. A refusal is not: the server is up and would
    /// refuse again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Refused { .. } | ClientError::NoReply { .. } | ClientError::CutOff { .. } => true,
            ClientError::Io { source, .. } => is_reset(source),
            _ => false,
        }
    }

    /// How far the exchange got before it failed: with several servers, the
    /// failure that got furthest says most about why the request failed.
    pub fn progress(&self) -> u8 {
        match self {
            ClientError::Resolve { .. } | ClientError::Refused { .. } | ClientError::Connect { .. } => 0,
            ClientError::ConnectTimeout { .. } => 1,
            ClientError::Timeout { .. } => 2,
            ClientError::NoReply { .. }
            | ClientError::CutOff { .. }
            | ClientError::ReplyTooLong { .. }
            | ClientError::Malformed { .. }
            | ClientError::Io { .. } => 3,
            ClientError::Rejected { .. } => 4,
        }
    }
}

/// What this build can tell of why a server refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikelyRefusal {
    /// A name in the request is unknown to this build.
    UnknownName {
        /// The unknown name (a part of the chain).
        name: String,
        /// The known name closest to it, if any is close.
        suggestion: Option<String>,
    },
    /// The request is longer than the cap of Twisted's server, which many
    /// servers of the protocol keep.
    OverCommonCap {
        /// The request's length in bytes, framing included.
        len: usize,
    },
}

/// Why a server would most likely refuse the request for `name` of `len`
/// bytes, if this build can tell.
pub fn likely_refusal(name: &str, len: usize) -> Option<LikelyRefusal> {
    let registry = Registry::standard();
    if let Err(RegistryError::UnknownTransform { name: part }) = registry.resolve(name) {
        let suggestion = registry.suggest(&part).map(str::to_owned);
        return Some(LikelyRefusal::UnknownName {
            name: part,
            suggestion,
        });
    }
    (len > TWISTED_MAX_LENGTH).then_some(LikelyRefusal::OverCommonCap { len })
}

/// What a request is doing, as it happens, for a caller that shows the wire.
#[derive(Debug)]
pub enum Event<'a> {
    /// The address resolved to these socket addresses.
    Resolved {
        /// The address as given.
        addr: &'a str,
        /// What it resolved to, in the order they are tried.
        peers: &'a [SocketAddr],
        /// Time taken.
        took: Duration,
    },
    /// A connection to one of the address's socket addresses failed.
    ConnectFailed {
        /// The socket address.
        peer: SocketAddr,
        /// What the system said.
        error: &'a io::Error,
    },
    /// Connected.
    Connected {
        /// The address as given.
        addr: &'a str,
        /// The socket address connected to.
        peer: SocketAddr,
        /// Time taken by the connection itself.
        took: Duration,
    },
    /// The whole request was written.
    Sent {
        /// The request's bytes, framing included.
        request: &'a [u8],
        /// Time taken.
        took: Duration,
    },
    /// The first byte of the reply arrived.
    FirstByte {
        /// Time since the request was sent: the server's turn.
        after: Duration,
    },
    /// The whole reply arrived.
    Received {
        /// The reply's payload.
        reply: &'a [u8],
        /// Bytes received, framing included.
        bytes: usize,
        /// Time from the first byte to the last.
        took: Duration,
    },
    /// The exchange failed.
    Failed {
        /// Why.
        error: &'a ClientError,
        /// The first bytes received, if any (at most [`HEAD_KEPT`]).
        head: &'a [u8],
        /// Bytes received in all.
        received: usize,
    },
    /// The server closed without a reply; the canary asked whether it is up.
    Canary {
        /// The server's address.
        addr: &'a str,
        /// True when it answered the classic request correctly.
        answered: bool,
    },
    /// A pause before the next round over the servers.
    Pause {
        /// How long.
        pause: Duration,
    },
    /// Another attempt follows an earlier failure.
    Retry {
        /// The failure that led to it.
        after: &'a ClientError,
        /// The server tried next.
        next: &'a str,
    },
}

/// Received bytes kept to show a failed reply.
pub const HEAD_KEPT: usize = 64;

/// The first pause between two rounds of attempts; it doubles each round.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest a canary may take: a server that is up answers the classic
/// request at once, and one that does not is treated as failing.
pub const CANARY_TIMEOUT: Duration = Duration::from_secs(5);

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
        self.transform_observed(name, poem, &mut |event| {
            if let Event::Retry { after, .. } = event {
                on_retry(after);
            }
        })
        .await
    }

    /// Like [`Client::transform`], telling `observe` of every step.
    ///
    /// A server that closes without a reply gets the canary (see the module
    /// docs). When it answers, the request is not sent to that server again
    /// if this build can tell why it was refused ([`likely_refusal`]);
    /// otherwise it is sent once more, since behind a load balancer the close
    /// may have come from an instance that died with the request, and the
    /// canary from another one.
    pub async fn transform_observed(
        &self,
        name: &str,
        poem: &[u8],
        observe: &mut dyn FnMut(Event<'_>),
    ) -> Result<Bytes, Vec<ClientError>> {
        let request = request_bytes(name, poem);
        let explained = likely_refusal(name, request.len()).is_some();
        let mut refusals = vec![0u32; self.servers.len()];
        let mut failures: Vec<ClientError> = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        for round in 0..=self.retries {
            if round > 0 {
                observe(Event::Pause { pause: backoff });
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let mut again = false;
            for (addr, refused) in self.servers.iter().zip(&mut refusals) {
                if *refused > 0 && (explained || *refused > 1) {
                    continue;
                }
                if let Some(previous) = failures.last() {
                    observe(Event::Retry {
                        after: previous,
                        next: addr,
                    });
                }
                let err = match exchange_observed(addr, &request, &self.options, observe).await {
                    Ok(reply) => return Ok(reply),
                    Err(ClientError::NoReply { addr }) => {
                        let answered = canary(&addr, &self.options).await;
                        observe(Event::Canary {
                            addr: &addr,
                            answered,
                        });
                        if answered {
                            *refused += 1;
                            again |= !explained && *refused == 1;
                            ClientError::Rejected { addr }
                        } else {
                            again = true;
                            ClientError::NoReply { addr }
                        }
                    }
                    Err(err) if err.tries_next_server() => {
                        again |= err.is_retryable();
                        err
                    }
                    Err(err) => {
                        failures.push(err);
                        return Err(failures);
                    }
                };
                failures.push(err);
            }
            if !again {
                break;
            }
        }
        Err(failures)
    }
}

/// Sends the classic request to `addr`: true when it gets the classic reply.
pub async fn canary(addr: &str, options: &Options) -> bool {
    let options = Options {
        timeout: options.timeout.min(CANARY_TIMEOUT),
        ..options.clone()
    };
    match exchange(addr, CLASSIC_REQUEST, &options).await {
        Ok(reply) => framed(&reply) == CLASSIC_REPLY,
        Err(_) => false,
    }
}

/// `payload` as a netstring, in one buffer.
fn framed(payload: &Bytes) -> Bytes {
    let mut framed = codec::frame(payload.clone());
    framed.copy_to_bytes(framed.remaining())
}

/// The netstring request for `name` applied to `poem`.
pub fn request_bytes(name: &str, poem: &[u8]) -> Bytes {
    let mut payload = BytesMut::with_capacity(name.len() + 1 + poem.len());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(b".");
    payload.extend_from_slice(poem);
    framed(&payload.freeze())
}

/// `host:port`, with a bare IPv6 address put in brackets (`[::1]:11000`).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends one request to `addr` (`host:port`) and returns the reply's payload.
pub async fn transform(addr: &str, name: &str, poem: &[u8], options: &Options) -> Result<Bytes, ClientError> {
    exchange(addr, &request_bytes(name, poem), options).await
}

/// Sends an already framed request and reads exactly one netstring back.
pub async fn exchange(addr: &str, request: &[u8], options: &Options) -> Result<Bytes, ClientError> {
    exchange_observed(addr, request, options, &mut |_| {}).await
}

/// Like [`exchange`], telling `observe` of every step.
pub async fn exchange_observed(
    addr: &str,
    request: &[u8],
    options: &Options,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Bytes, ClientError> {
    let mut seen = Seen::default();
    let result = exchange_steps(addr, request, options, observe, &mut seen).await;
    if let Err(error) = &result {
        observe(Event::Failed {
            error,
            head: &seen.head,
            received: seen.received,
        });
    }
    result
}

/// What a failed exchange had received, to show it.
#[derive(Default)]
struct Seen {
    head: Vec<u8>,
    received: usize,
}

async fn exchange_steps(
    addr: &str,
    request: &[u8],
    options: &Options,
    observe: &mut dyn FnMut(Event<'_>),
    seen: &mut Seen,
) -> Result<Bytes, ClientError> {
    let deadline = Instant::now() + options.timeout;
    let mut stream = connect_observed(addr, options, deadline, observe).await?;
    let timed_out = || ClientError::Timeout {
        addr: addr.to_owned(),
        after: options.timeout,
    };
    let started = Instant::now();
    match timeout_at(deadline, stream.write_all(request)).await {
        Err(_) => return Err(timed_out()),
        // The server stopped reading before the end of the request: it
        // refused it from what it had read (its length, say), or died.
        Ok(Err(e)) if is_reset(&e) => {
            return Err(ClientError::NoReply {
                addr: addr.to_owned(),
            })
        }
        Ok(Err(source)) => {
            return Err(ClientError::Io {
                addr: addr.to_owned(),
                source,
            })
        }
        Ok(Ok(())) => {}
    }
    observe(Event::Sent {
        request,
        took: started.elapsed(),
    });
    timeout_at(
        deadline,
        read_reply(&mut stream, addr, options.max_reply, observe, seen),
    )
    .await
    .map_err(|_| timed_out())?
}

/// Connects to `addr` within the connect timeout (and `deadline`), trying
/// each address it resolves to in turn, telling a refused connection and a
/// name that does not resolve from other failures.
pub async fn connect(addr: &str, options: &Options, deadline: Instant) -> Result<TcpStream, ClientError> {
    connect_observed(addr, options, deadline, &mut |_| {}).await
}

async fn connect_observed(
    addr: &str,
    options: &Options,
    deadline: Instant,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<TcpStream, ClientError> {
    let started = Instant::now();
    let connect_deadline = deadline.min(started + options.connect_timeout);
    let timed_out = || ClientError::ConnectTimeout {
        addr: addr.to_owned(),
        after: options.connect_timeout.min(options.timeout),
    };
    let peers: Vec<SocketAddr> = match timeout_at(connect_deadline, tokio::net::lookup_host(addr)).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(source)) => {
            return Err(ClientError::Resolve {
                addr: addr.to_owned(),
                source,
            })
        }
        Ok(Ok(peers)) => peers.collect(),
    };
    if peers.is_empty() {
        return Err(ClientError::Resolve {
            addr: addr.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "it has no address"),
        });
    }
    observe(Event::Resolved {
        addr,
        peers: &peers,
        took: started.elapsed(),
    });
    let mut refused = Vec::new();
    let mut other = None;
    for &peer in &peers {
        let attempt = Instant::now();
        match timeout_at(connect_deadline, TcpStream::connect(peer)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(stream)) => {
                observe(Event::Connected {
                    addr,
                    peer,
                    took: attempt.elapsed(),
                });
                return Ok(stream);
            }
            Ok(Err(error)) => {
                observe(Event::ConnectFailed { peer, error: &error });
                if error.kind() == io::ErrorKind::ConnectionRefused {
                    refused.push(peer);
                } else {
                    other = Some(error);
                }
            }
        }
    }
    // "Nobody listens" is the likelier story (and the one with a remedy)
    // when one address refused and another was unreachable.
    match other {
        Some(source) if refused.is_empty() => Err(ClientError::Connect {
            addr: addr.to_owned(),
            source,
        }),
        _ => Err(ClientError::Refused {
            addr: addr.to_owned(),
            tried: refused,
        }),
    }
}

async fn read_reply(
    stream: &mut TcpStream,
    addr: &str,
    max_reply: usize,
    observe: &mut dyn FnMut(Event<'_>),
    seen: &mut Seen,
) -> Result<Bytes, ClientError> {
    let mut codec = NetstringCodec::new(max_reply);
    let mut buf = BytesMut::new();
    let waiting = Instant::now();
    let mut first_byte = None;
    loop {
        buf.reserve(8 * 1024);
        let before = buf.len();
        let n = match stream.read_buf(&mut buf).await {
            Ok(n) => n,
            // A reset after some bytes is a cut-off reply; before any, no reply.
            Err(e) if seen.received == 0 && is_reset(&e) => 0,
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
        if n > 0 && first_byte.is_none() {
            first_byte = Some(Instant::now());
            observe(Event::FirstByte {
                after: waiting.elapsed(),
            });
        }
        let room = HEAD_KEPT.saturating_sub(seen.head.len()).min(n);
        seen.head.extend_from_slice(&buf[before..before + room]);
        seen.received += n;
        let decoded = if n == 0 {
            if seen.received == 0 {
                return Err(ClientError::NoReply {
                    addr: addr.to_owned(),
                });
            }
            codec.decode_eof(&mut buf)
        } else {
            codec.decode(&mut buf)
        };
        match decoded {
            Ok(Some(reply)) => {
                observe(Event::Received {
                    reply: &reply,
                    bytes: seen.received - buf.len(),
                    took: first_byte.map_or(Duration::ZERO, |t| t.elapsed()),
                });
                return Ok(reply);
            }
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

    #[test]
    fn bare_ipv6_addresses_get_brackets() {
        assert_eq!(host_port("::1", 11000), "[::1]:11000");
        assert_eq!(host_port("[::1]", 11000), "[::1]:11000");
        assert_eq!(host_port("localhost", 11000), "localhost:11000");
    }

    #[test]
    fn refusals_this_build_can_explain() {
        assert_eq!(
            likely_refusal("cummingsfy", 20),
            Some(LikelyRefusal::UnknownName {
                name: "cummingsfy".into(),
                suggestion: Some("cummingsify".into())
            })
        );
        assert_eq!(
            likely_refusal("shout+nope", 20),
            Some(LikelyRefusal::UnknownName {
                name: "nope".into(),
                suggestion: None
            })
        );
        assert_eq!(
            likely_refusal("shout", 100_000),
            Some(LikelyRefusal::OverCommonCap { len: 100_000 })
        );
        assert_eq!(likely_refusal("shout", TWISTED_MAX_LENGTH), None);
    }
}

//! The get-poetry client: download a poem from a poetry server and, as in the
//! tutorial's Part 13, send it through a transformation server, keeping the
//! original when that fails.
//!
//! A plain poem is whatever arrives before the server closes, so a server that
//! dies mid-poem cannot be told from one that finished; with `netstring` the
//! poem is one netstring (exercise 6) and a cut-off poem is an error.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::Decoder;

use crate::client::{self, ClientError};
use crate::codec::{NetstringCodec, NetstringError};

/// Time allowed to establish a connection, within the download's timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an address given as `[HOST:]PORT` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `:PORT` and not a port either.
    #[error("{0:?} is not [HOST:]PORT (for example 10001 or localhost:10001)")]
    NoPort(String),
    /// The port is not a number from 1 to 65535.
    #[error("{port:?} in {text:?} is not a port from 1 to 65535")]
    BadPort {
        /// The whole address.
        text: String,
        /// The part after the last `:`.
        port: String,
    },
    /// An IPv6 address without brackets: its colons hide where the port starts.
    #[error("{0:?}: put an IPv6 address in brackets, as in [::1]:10001")]
    UnbracketedIpv6(String),
    /// Brackets around something other than an IPv6 address.
    #[error("{0:?}: only an IPv6 address goes in brackets, as in [::1]:10001")]
    BadIpv6(String),
    /// Nothing before the `:`.
    #[error("{0:?} has an empty host")]
    EmptyHost(String),
}

/// Parses `[HOST:]PORT` into `host:port`; a bare port means 127.0.0.1, and an
/// IPv6 host keeps its brackets (`[::1]:10001`).
pub fn parse_address(text: &str) -> Result<String, AddressError> {
    let bad_port = |port: &str| AddressError::BadPort {
        text: text.to_owned(),
        port: port.to_owned(),
    };
    let check_port = |port: &str| match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad_port(port)),
        Ok(port) => Ok(port),
    };
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return Ok(format!("127.0.0.1:{}", check_port(text)?));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(AddressError::NoPort(text.to_owned()));
    };
    if let Some(inner) = host.strip_prefix('[') {
        let is_ipv6 = inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        if !is_ipv6 {
            return Err(AddressError::BadIpv6(text.to_owned()));
        }
    } else if host.contains(':') {
        return Err(AddressError::UnbracketedIpv6(text.to_owned()));
    }
    if host.is_empty() {
        return Err(AddressError::EmptyHost(text.to_owned()));
    }
    let port = check_port(port)?;
    Ok(format!("{host}:{port}"))
}

/// How to download a poem.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time allowed for the whole download, connection included.
    pub timeout: Duration,
    /// Largest poem accepted, in bytes.
    pub max_size: usize,
    /// The server sends the poem as one netstring.
    pub netstring: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            max_size: 16 * 1024 * 1024,
            netstring: false,
        }
    }
}

/// Why a download gave no poem.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The server could not be reached.
    #[error(transparent)]
    Connect(ClientError),
    /// The download did not finish in time.
    #[error("no whole poem from {addr} within {} s ({received} bytes so far)", .after.as_secs_f64())]
    Timeout {
        /// The server's address.
        addr: String,
        /// The timeout in force.
        after: Duration,
        /// Bytes received before it ran out.
        received: usize,
    },
    /// The poem is larger than accepted.
    #[error("the poem from {addr} is larger than the {max} bytes accepted (see --max-size)")]
    TooLarge {
        /// The server's address.
        addr: String,
        /// The limit in force.
        max: usize,
    },
    /// The netstring poem stopped before its declared length.
    #[error("the poem from {addr} was cut off after {received} of {declared} bytes")]
    CutOff {
        /// The server's address.
        addr: String,
        /// Poem bytes received.
        received: usize,
        /// Poem bytes declared.
        declared: usize,
    },
    /// The server closed without sending a netstring poem (or inside its length).
    #[error("{addr} closed the connection before sending a whole netstring poem ({received} bytes)")]
    NoPoem {
        /// The server's address.
        addr: String,
        /// Bytes received.
        received: usize,
    },
    /// What arrived is not a netstring.
    #[error("the poem from {addr} is not a netstring ({source}); does that server send netstrings?")]
    NotANetstring {
        /// The server's address.
        addr: String,
        /// What is wrong with it.
        source: NetstringError,
    },
    /// The connection failed mid-download.
    #[error("the connection to {addr} failed after {received} bytes: {source}")]
    Io {
        /// The server's address.
        addr: String,
        /// Bytes received before it failed.
        received: usize,
        /// What the system said.
        source: io::Error,
    },
}

/// The class of a failed download, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The server could not be reached.
    Connect,
    /// The download took too long.
    Timeout,
    /// What arrived is not a whole poem.
    BadPoem,
}

impl GetError {
    /// The class of this failure.
    pub fn class(&self) -> FailureClass {
        match self {
            GetError::Connect(ClientError::ConnectTimeout { .. }) | GetError::Timeout { .. } => {
                FailureClass::Timeout
            }
            GetError::Connect(_) => FailureClass::Connect,
            GetError::TooLarge { .. }
            | GetError::CutOff { .. }
            | GetError::NoPoem { .. }
            | GetError::NotANetstring { .. }
            | GetError::Io { .. } => FailureClass::BadPoem,
        }
    }
}

/// Downloads the poem at `addr` (`host:port`), telling `progress` the bytes
/// received so far after each read.
pub async fn download(
    addr: &str,
    options: &Options,
    mut progress: impl FnMut(usize),
) -> Result<Bytes, GetError> {
    let deadline = Instant::now().checked_add(options.timeout);
    let connect_options = client::Options {
        connect_timeout: CONNECT_TIMEOUT,
        timeout: options.timeout,
        ..client::Options::default()
    };
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    let mut stream = client::connect(addr, &connect_options, deadline.unwrap_or_else(far))
        .await
        .map_err(GetError::Connect)?;
    let mut received = 0;
    let read = read_poem(&mut stream, addr, options, &mut received, &mut progress);
    match deadline {
        Some(deadline) => timeout_at(deadline, read).await.unwrap_or_else(|_| {
            Err(GetError::Timeout {
                addr: addr.to_owned(),
                after: options.timeout,
                received,
            })
        }),
        None => read.await,
    }
}

async fn read_poem(
    stream: &mut TcpStream,
    addr: &str,
    options: &Options,
    received: &mut usize,
    progress: &mut impl FnMut(usize),
) -> Result<Bytes, GetError> {
    let mut codec = NetstringCodec::new(options.max_size);
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(8 * 1024);
        let n = match stream.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(source) => {
                return Err(GetError::Io {
                    addr: addr.to_owned(),
                    received: *received,
                    source,
                })
            }
        };
        *received += n;
        if n > 0 {
            progress(*received);
        }
        if !options.netstring {
            if buf.len() > options.max_size {
                return Err(GetError::TooLarge {
                    addr: addr.to_owned(),
                    max: options.max_size,
                });
            }
            if n == 0 {
                return Ok(buf.freeze());
            }
            continue;
        }
        let decoded = if n == 0 {
            codec.decode_eof(&mut buf)
        } else {
            codec.decode(&mut buf)
        };
        match decoded {
            Ok(Some(poem)) => return Ok(poem),
            Ok(None) if n == 0 => {
                return Err(GetError::NoPoem {
                    addr: addr.to_owned(),
                    received: *received,
                })
            }
            Ok(None) => {}
            Err(NetstringError::Truncated {
                received,
                declared: Some(declared),
            }) => {
                return Err(GetError::CutOff {
                    addr: addr.to_owned(),
                    received,
                    declared,
                })
            }
            Err(NetstringError::Truncated { declared: None, .. }) => {
                return Err(GetError::NoPoem {
                    addr: addr.to_owned(),
                    received: *received,
                })
            }
            Err(NetstringError::TooLong { max } | NetstringError::TooManyDigits { max, .. }) => {
                return Err(GetError::TooLarge {
                    addr: addr.to_owned(),
                    max,
                })
            }
            Err(source) => {
                return Err(GetError::NotANetstring {
                    addr: addr.to_owned(),
                    source,
                })
            }
        }
    }
}

/// Where to send each poem to be transformed (the Part 13 step).
#[derive(Debug, Clone)]
pub struct Transform {
    /// The transform's name (a `+` chain too).
    pub name: String,
    /// The transformation server, `host:port`.
    pub via: String,
    /// Timeouts and reply limit of the exchange.
    pub options: client::Options,
}

/// A poem after the transform step.
#[derive(Debug)]
pub enum Transformed {
    /// The transformation server's reply.
    Done(Bytes),
    /// The transform failed; the original poem is kept.
    Kept {
        /// The original poem.
        poem: Bytes,
        /// Why the transform failed.
        why: ClientError,
    },
}

impl Transformed {
    /// The poem to show: transformed, or the original.
    pub fn poem(&self) -> &Bytes {
        match self {
            Transformed::Done(poem) | Transformed::Kept { poem, .. } => poem,
        }
    }
}

/// Sends `poem` through the transformation server once; on any failure the
/// original is kept, as the tutorial's Part 13 client does. No retries: a
/// transformation server that is down should not slow every poem down.
pub async fn transform_or_keep(poem: Bytes, transform: &Transform) -> Transformed {
    match client::transform(&transform.via, &transform.name, &poem, &transform.options).await {
        Ok(reply) => Transformed::Done(reply),
        Err(why) => Transformed::Kept { poem, why },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port_with_a_bare_port_on_loopback() {
        assert_eq!(parse_address("10001").unwrap(), "127.0.0.1:10001");
        assert_eq!(parse_address("localhost:10001").unwrap(), "localhost:10001");
        assert_eq!(parse_address("10.0.0.2:80").unwrap(), "10.0.0.2:80");
        assert_eq!(parse_address("[::1]:10001").unwrap(), "[::1]:10001");
        assert_eq!(parse_address("host:010").unwrap(), "host:10");
    }

    #[test]
    fn unusable_addresses_say_why() {
        for (text, expected) in [
            ("", AddressError::NoPort(String::new())),
            ("localhost", AddressError::NoPort("localhost".into())),
            ("::1:10001", AddressError::UnbracketedIpv6("::1:10001".into())),
            (":10001", AddressError::EmptyHost(":10001".into())),
        ] {
            assert_eq!(parse_address(text), Err(expected), "{text:?}");
        }
        for text in ["0", "65536", "localhost:", "localhost:http", "host:-1", "[::1]:0"] {
            assert!(
                matches!(parse_address(text), Err(AddressError::BadPort { .. })),
                "{text:?}: {:?}",
                parse_address(text)
            );
        }
        for text in ["[]:10001", "[::1:10001", "[localhost]:10001", "[::1]x:10001"] {
            assert_eq!(
                parse_address(text),
                Err(AddressError::BadIpv6(text.into())),
                "{text:?}"
            );
        }
    }
}

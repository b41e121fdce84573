//! The PROXY protocol header (HAProxy's `send-proxy` v1 text and
//! `send-proxy-v2` binary) that a load balancer puts before a client's bytes
//! to say whom it is relaying. Parsing is `ppp`'s; this module decides how
//! much of a stream to wait for and what the header means for the server.

use std::net::SocketAddr;

use ppp::{v1, v2, PartialResult};

/// The longest header accepted. v1 is at most 107 bytes; v2 is 16 bytes and
/// a declared length of up to 64 KiB, of which addresses need 216 at most:
/// the rest is TLVs, which this server has no use for beyond a few.
pub const MAX_HEADER: usize = 4096;

/// The longest v1 header, CRLF included (the spec's).
const V1_MAX: usize = 107;

/// A v2 header's fixed part (signature, command, family, length) before its
/// declared length; the spec's, which `ppp` keeps private.
const V2_FIXED: usize = 16;

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The connection does not start with either version's signature.
    #[error("no PROXY protocol header (--proxy-protocol is on; the first byte is {first:#04x})")]
    Missing {
        /// The first byte received.
        first: u8,
    },
    /// A header that does not parse.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// A v2 header that declares more than [`MAX_HEADER`] bytes.
    #[error("PROXY protocol v2 header of {len} bytes is over the maximum of {MAX_HEADER}")]
    TooLong {
        /// The declared length, signature included.
        len: usize,
    },
}

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes the header takes at the start of the stream.
    pub len: usize,
    /// The client the balancer relays; `None` for a v2 LOCAL command (a
    /// balancer's own health check) or an unknown or unix address, where the
    /// connection's own peer stands.
    pub source: Option<SocketAddr>,
}

/// Parses the header at the start of `buf`: `Ok(None)` while more bytes are
/// needed (never more than [`MAX_HEADER`] in all).
pub fn parse(buf: &[u8]) -> Result<Option<Header>, ProxyError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let v1_prefix = v1::PROTOCOL_PREFIX.as_bytes();
    let starts_like = |signature: &[u8]| {
        let n = buf.len().min(signature.len());
        buf[..n] == signature[..n]
    };
    if !starts_like(v1_prefix) && !starts_like(v2::PROTOCOL_PREFIX) {
        return Err(ProxyError::Missing { first });
    }
    if starts_like(v2::PROTOCOL_PREFIX) {
        return match v2::Header::try_from(buf) {
            Ok(header) => Ok(Some(Header {
                len: header.len(),
                source: match (header.command, header.addresses) {
                    (v2::Command::Proxy, v2::Addresses::IPv4(ip)) => {
                        Some((ip.source_address, ip.source_port).into())
                    }
                    (v2::Command::Proxy, v2::Addresses::IPv6(ip)) => {
                        Some((ip.source_address, ip.source_port).into())
                    }
                    (v2::Command::Local, _) | (_, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => {
                        None
                    }
                },
            })),
            Err(v2::ParseError::Partial(_, declared)) if V2_FIXED + declared > MAX_HEADER => {
                Err(ProxyError::TooLong {
                    len: V2_FIXED + declared,
                })
            }
            Err(err) if err.is_incomplete() => Ok(None),
            Err(err) => Err(ProxyError::Malformed(format!("v2: {err}"))),
        };
    }
    // v1 is a line: `ppp` takes some cut-off lines for whole ones (a missing
    // last port, say), so it is handed only whole lines.
    if !buf[..buf.len().min(V1_MAX)].contains(&b'\n') && buf.len() < V1_MAX {
        return Ok(None);
    }
    match v1::Header::try_from(buf) {
        Ok(header) => Ok(Some(Header {
            len: header.header.len(),
            source: match header.addresses {
                v1::Addresses::Tcp4(ip) => Some((ip.source_address, ip.source_port).into()),
                v1::Addresses::Tcp6(ip) => Some((ip.source_address, ip.source_port).into()),
                v1::Addresses::Unknown => None,
            },
        })),
        // Even a whole line can be "incomplete" to `ppp` (`PROXY\r\n`): it is not a header.
        Err(err) => Err(ProxyError::Malformed(format!("v1: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Command, Protocol, Version};

    const V1: &[u8] = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 11000\r\n";

    fn v2(command: Command, addresses: impl Into<v2::Addresses>) -> Vec<u8> {
        Builder::with_addresses(Version::Two | command, Protocol::Stream, addresses)
            .build()
            .unwrap()
    }

    #[test]
    fn v1_gives_the_source_and_leaves_what_follows() {
        let mut input = V1.to_vec();
        input.extend_from_slice(b"27:cummingsify.HERE IS MY POEM,");
        let header = parse(&input).unwrap().unwrap();
        assert_eq!(header.len, V1.len());
        assert_eq!(header.source, Some("203.0.113.7:51000".parse().unwrap()));
        let header = parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap();
        assert_eq!(header.source, None);
    }

    #[test]
    fn every_prefix_of_a_header_asks_for_more() {
        let v6: (std::net::SocketAddr, std::net::SocketAddr) = (
            "[2001:db8::1]:443".parse().unwrap(),
            "[2001:db8::2]:11000".parse().unwrap(),
        );
        for header in [V1.to_vec(), v2(Command::Proxy, v6)] {
            for end in 0..header.len() {
                assert!(
                    matches!(parse(&header[..end]), Ok(None)),
                    "{end}: {:?}",
                    &header[..end]
                );
            }
            assert!(parse(&header).unwrap().is_some());
        }
    }

    #[test]
    fn v2_proxy_and_local() {
        let addresses: (std::net::SocketAddr, std::net::SocketAddr) = (
            "198.51.100.9:40000".parse().unwrap(),
            "127.0.0.1:11000".parse().unwrap(),
        );
        let proxy = v2(Command::Proxy, addresses);
        let header = parse(&proxy).unwrap().unwrap();
        assert_eq!((header.len, header.source), (proxy.len(), Some(addresses.0)));
        let local = v2(Command::Local, addresses);
        assert_eq!(parse(&local).unwrap().unwrap().source, None);
    }

    #[test]
    fn refuses_missing_malformed_and_oversized_headers() {
        assert!(matches!(
            parse(b"27:cummingsify."),
            Err(ProxyError::Missing { first: b'2' })
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 nowhere 127.0.0.1 1 2\r\n"),
            Err(ProxyError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"PROXY TCP9 a b 1 2\r\n"),
            Err(ProxyError::Malformed(_))
        ));
        let mut huge = v2(Command::Proxy, v2::Addresses::Unspecified);
        huge[14..16].copy_from_slice(&60_000u16.to_be_bytes());
        assert!(matches!(parse(&huge), Err(ProxyError::TooLong { len: 60_016 })));
        // v1 with no end of line within its 107 bytes.
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
        assert!(matches!(parse(&long), Err(ProxyError::Malformed(_))));
    }
}

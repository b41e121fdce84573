//! Checks of a server's behaviour on the wire, for any server of the protocol:
//! the classic round trip of `poetry test`, and the building blocks of the
//! conformance suite. Everything here talks raw bytes, so it judges exactly
//! what a server sends, not what our own client would make of it.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub mod suite;

/// The classic request of the tutorial's netcat test.
pub const CLASSIC_REQUEST: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
/// The reply the classic request must get.
pub const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// How the server ended an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed the connection (FIN).
    Closed,
    /// The connection was reset.
    Reset,
    /// The server neither sent more nor closed within the timeout.
    TimedOut,
}

/// Everything the server sent, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// The bytes received, as they came.
    pub bytes: Vec<u8>,
    /// How the exchange ended.
    pub ending: Ending,
}

/// Why no exchange took place.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Nothing listens at the address.
    #[error("no server at {0} (connection refused)")]
    Refused(String),
    /// Connecting failed otherwise, or took too long.
    #[error("cannot connect to {0}: {1}")]
    Connect(String, io::Error),
    /// Sending the request failed.
    #[error("sending to {0} failed: {1}")]
    Send(String, io::Error),
}

/// Connects to `addr` within `step`.
pub async fn connect(addr: &str, step: Duration) -> Result<TcpStream, ExchangeError> {
    match timeout(step, TcpStream::connect(addr)).await {
        Err(_) => Err(ExchangeError::Connect(
            addr.to_owned(),
            io::ErrorKind::TimedOut.into(),
        )),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Err(ExchangeError::Refused(addr.to_owned()))
        }
        Ok(Err(e)) => Err(ExchangeError::Connect(addr.to_owned(), e)),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// Sends `request` in one write, then reads until the server closes, resets,
/// or stays silent for `step`.
pub async fn exchange(addr: &str, request: &[u8], step: Duration) -> Result<RawReply, ExchangeError> {
    let mut stream = connect(addr, step).await?;
    match timeout(step, stream.write_all(request)).await {
        Err(_) => {
            return Err(ExchangeError::Send(
                addr.to_owned(),
                io::ErrorKind::TimedOut.into(),
            ))
        }
        Ok(Err(e)) => return Err(ExchangeError::Send(addr.to_owned(), e)),
        Ok(Ok(())) => {}
    }
    Ok(read_to_end(&mut stream, step).await)
}

/// Reads until EOF, reset, or `step` of silence.
pub async fn read_to_end(stream: &mut TcpStream, step: Duration) -> RawReply {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match timeout(step, stream.read(&mut chunk)).await {
            Err(_) => {
                return RawReply {
                    bytes,
                    ending: Ending::TimedOut,
                }
            }
            Ok(Ok(0)) => {
                return RawReply {
                    bytes,
                    ending: Ending::Closed,
                }
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
            Ok(Err(_)) => {
                return RawReply {
                    bytes,
                    ending: Ending::Reset,
                }
            }
        }
    }
}

/// The verdict on the classic round trip: `Ok` with a description, or `Err`
/// with what came back instead.
pub fn judge_classic(reply: &RawReply) -> Result<String, String> {
    judge_exact(reply, CLASSIC_REPLY)
}

/// The verdict on an exchange that must get exactly `expected`, then a close.
pub fn judge_exact(reply: &RawReply, expected: &[u8]) -> Result<String, String> {
    let shown = show(&reply.bytes);
    match (reply.bytes.as_slice() == expected, reply.ending) {
        (true, Ending::Closed) => Ok(format!("got {shown} and the server closed the connection")),
        (true, Ending::TimedOut) => Err(format!(
            "got the right reply {shown}, but the server did not close the connection"
        )),
        (true, Ending::Reset) => Err(format!(
            "got the right reply {shown}, but the connection was reset"
        )),
        (false, ending) if reply.bytes.is_empty() => Err(match ending {
            Ending::Closed => "the server closed the connection without a reply".to_owned(),
            Ending::Reset => "the server reset the connection without a reply".to_owned(),
            Ending::TimedOut => "the server sent nothing and did not close the connection".to_owned(),
        }),
        (false, _) => Err(format!("expected {}, got {shown}", show(expected))),
    }
}

/// The verdict on an exchange the server must refuse: no byte, then a close
/// (a reset is a close too: the server may drop unread input with it).
pub fn judge_refusal(reply: &RawReply) -> Result<String, String> {
    match (reply.bytes.is_empty(), reply.ending) {
        (true, Ending::Closed) => Ok("closed without a byte".to_owned()),
        (true, Ending::Reset) => Ok("reset without a byte".to_owned()),
        (true, Ending::TimedOut) => Err("sent nothing but did not close the connection".to_owned()),
        (false, _) => Err(format!(
            "expected a close without a byte, got {}",
            show(&reply.bytes)
        )),
    }
}

/// Bytes as a quoted, escaped string for messages (long ones cut).
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let cut = bytes.len() > MAX;
    let text = bytes[..bytes.len().min(MAX)].escape_ascii().to_string();
    format!(
        "`{text}`{}",
        if cut {
            format!(" ({} bytes in all)", bytes.len())
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: &[u8], ending: Ending) -> RawReply {
        RawReply {
            bytes: bytes.to_vec(),
            ending,
        }
    }

    #[test]
    fn only_the_exact_reply_then_close_passes() {
        assert!(judge_classic(&reply(CLASSIC_REPLY, Ending::Closed)).is_ok());
        assert!(judge_classic(&reply(CLASSIC_REPLY, Ending::TimedOut)).is_err());
        assert!(judge_classic(&reply(b"15:HERE IS MY POEM,", Ending::Closed)).is_err());
        assert!(judge_classic(&reply(b"15:here is my poem,\n", Ending::Closed)).is_err());
        let err = judge_classic(&reply(b"", Ending::Closed)).unwrap_err();
        assert!(err.contains("without a reply"), "{err}");
    }

    #[test]
    fn a_refusal_is_a_close_or_reset_without_a_byte() {
        assert!(judge_refusal(&reply(b"", Ending::Closed)).is_ok());
        assert!(judge_refusal(&reply(b"", Ending::Reset)).is_ok());
        assert!(judge_refusal(&reply(b"", Ending::TimedOut)).is_err());
        assert!(judge_refusal(&reply(b"0:,", Ending::Closed)).is_err());
    }
}

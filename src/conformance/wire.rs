//! Raw, bounded I/O with a server under test: what to send (written by hand,
//! not by our codec, so a framing bug we share with a server cannot hide),
//! and what came back. Every step ends by a deadline, and no read keeps more
//! than a few KiB nor reads past a byte cap, so a server that streams, drips
//! or hangs costs a case its deadline and little memory.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout_at, Instant};

use super::show::{netcat_address, printf_format, quote};

/// Bytes of a reply kept to show and to decode; the rest is only counted
/// (and compared with the expected reply as it arrives).
pub const KEPT: usize = 16 * 1024;

/// The largest piece of a repeated run written at once.
const WRITE_CHUNK: usize = 64 * 1024;

/// What a client sends on one connection, piece by piece.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wire {
    pieces: Vec<Piece>,
}

/// One piece of a [`Wire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `unit` `count` times over: a large request without holding it whole.
    Repeat {
        /// The bytes repeated.
        unit: Vec<u8>,
        /// How many times.
        count: usize,
    },
    /// Wait before the next write, so it travels in a segment of its own.
    Pause(Duration),
    /// Shut the write side (a half-close): the server reads end of stream.
    ShutWrite,
}

impl Wire {
    /// A wire of these bytes, in one write.
    pub fn bytes(bytes: impl AsRef<[u8]>) -> Self {
        Wire::default().then(bytes)
    }

    /// `payload` framed as a netstring, its length counted here.
    pub fn netstring(payload: Wire) -> Self {
        Wire::bytes(format!("{}:", payload.len()))
            .then_wire(payload)
            .then(",")
    }

    /// These bytes after the rest, in the same write.
    pub fn then(mut self, bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        match self.pieces.last_mut() {
            Some(Piece::Bytes(last)) => last.extend_from_slice(bytes),
            _ => self.pieces.push(Piece::Bytes(bytes.to_vec())),
        }
        self
    }

    /// `unit` repeated `count` times after the rest.
    pub fn then_repeat(mut self, unit: impl AsRef<[u8]>, count: usize) -> Self {
        self.pieces.push(Piece::Repeat {
            unit: unit.as_ref().to_vec(),
            count,
        });
        self
    }

    /// Another wire's pieces after these.
    pub fn then_wire(mut self, other: Wire) -> Self {
        for piece in other.pieces {
            self = match piece {
                Piece::Bytes(bytes) => self.then(bytes),
                piece => {
                    self.pieces.push(piece);
                    self
                }
            };
        }
        self
    }

    /// A pause, then what follows in a write of its own.
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pieces.push(Piece::Pause(pause));
        self
    }

    /// A half-close after what was sent.
    pub fn shut_write(mut self) -> Self {
        self.pieces.push(Piece::ShutWrite);
        self
    }

    /// Bytes in all.
    pub fn len(&self) -> usize {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Bytes(bytes) => bytes.len(),
                Piece::Repeat { unit, count } => unit.len() * count,
                Piece::Pause(_) | Piece::ShutWrite => 0,
            })
            .sum()
    }

    /// True when nothing is sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every byte, in order, without building them all at once.
    pub fn iter_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.pieces
            .iter()
            .flat_map(|piece| -> Box<dyn Iterator<Item = u8> + '_> {
                match piece {
                    Piece::Bytes(bytes) => Box::new(bytes.iter().copied()),
                    Piece::Repeat { unit, count } => {
                        Box::new(unit.iter().copied().cycle().take(unit.len() * count))
                    }
                    Piece::Pause(_) | Piece::ShutWrite => Box::new(std::iter::empty()),
                }
            })
    }

    /// Every byte, in one vector (for small wires).
    pub fn to_vec(&self) -> Vec<u8> {
        self.iter_bytes().collect()
    }

    fn writes(&self) -> usize {
        1 + self
            .pieces
            .iter()
            .filter(|p| matches!(p, Piece::Pause(_)))
            .count()
    }

    fn shuts_write(&self) -> bool {
        self.pieces.contains(&Piece::ShutWrite)
    }

    /// For a person: the bytes quoted (runs as `unit × count`), the writes
    /// and the half-close said.
    pub fn show(&self) -> String {
        let writes = self.writes();
        // Many small writes read best as the bytes they add up to.
        if writes > 4 {
            let pause = self.pieces.iter().find_map(|p| match p {
                Piece::Pause(pause) => Some(*pause),
                _ => None,
            });
            return format!(
                "{} in {writes} writes{}",
                quote(&self.to_vec()),
                pause.map_or(String::new(), |p| format!(" {} ms apart", p.as_millis()))
            );
        }
        let mut parts: Vec<String> = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Bytes(bytes) => parts.push(quote(bytes)),
                Piece::Repeat { unit, count } => parts.push(format!("{} × {count}", quote(unit))),
                Piece::Pause(pause) => parts.push(format!("(pause {} ms)", pause.as_millis())),
                Piece::ShutWrite => parts.push("(then shut the write side)".to_owned()),
            }
        }
        parts.join(" + ").replace(" + (", " (")
    }

    /// A shell line that sends the same bytes in the same writes to `addr`
    /// and prints what comes back.
    pub fn reproduce(&self, addr: &str) -> String {
        let mut commands: Vec<String> = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Bytes(bytes) => commands.push(format!("printf {}", printf_format(bytes))),
                Piece::Repeat { unit, count } => commands.push(match unit.as_slice() {
                    [byte] if byte.is_ascii_alphanumeric() => {
                        format!("head -c {count} /dev/zero | tr '\\0' '{}'", char::from(*byte))
                    }
                    _ => format!("for i in $(seq {count}); do printf {}; done", printf_format(unit)),
                }),
                Piece::Pause(pause) => commands.push(format!("sleep {}", pause.as_secs_f64().max(0.1))),
                Piece::ShutWrite => {}
            }
        }
        let input = match commands.as_slice() {
            [one] => one.clone(),
            _ => format!("{{ {}; }}", commands.join("; ")),
        };
        // netcat-traditional cannot half-close; OpenBSD netcat's -N does.
        let netcat = if self.shuts_write() {
            "nc -N"
        } else {
            "nc.traditional -q -1"
        };
        format!("{input} | {netcat} {}", netcat_address(addr))
    }
}

/// How the server ended an exchange, as far as the tester waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed the connection (end of stream).
    Closed,
    /// The connection was reset (or failed otherwise).
    Reset,
    /// The deadline came with the connection still open.
    TimedOut,
    /// The server sent more than the tester reads; it stopped reading.
    TooLong,
}

/// What came back on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// The first bytes received (at most [`KEPT`]).
    pub head: Vec<u8>,
    /// Bytes received in all.
    pub len: usize,
    /// How the exchange ended.
    pub ending: Ending,
    /// Where the bytes first differ from the expected reply (a longer reply
    /// differs where the expected one ended); `None` when every byte
    /// received matches, or nothing was expected.
    pub first_difference: Option<usize>,
}

impl RawReply {
    /// True when every byte came back as `expected` (all of it), then a close.
    pub fn is_exactly(&self, expected: &Wire) -> bool {
        self.first_difference.is_none() && self.len == expected.len() && self.ending == Ending::Closed
    }

    /// True when all that was received was kept.
    pub fn is_whole(&self) -> bool {
        self.head.len() == self.len
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing listens at the address.
    #[error("no server at {0} (connection refused)")]
    Refused(String),
    /// The deadline passed first.
    #[error("connecting to {0} took longer than the deadline")]
    TimedOut(String),
    /// Resolving or connecting failed otherwise.
    #[error("cannot connect to {0}: {1}")]
    Other(String, io::Error),
}

/// Connects to `addr` by `deadline`.
pub async fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, ConnectError> {
    match timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => Err(ConnectError::TimedOut(addr.to_owned())),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Err(ConnectError::Refused(addr.to_owned()))
        }
        Ok(Err(e)) => Err(ConnectError::Other(addr.to_owned(), e)),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// Sends `wire` by `deadline`; on failure, says how many bytes went and why.
/// A server that refuses a request may close before it is all sent: the
/// caller reads what it said all the same.
pub async fn send(stream: &mut TcpStream, wire: &Wire, deadline: Instant) -> Result<(), String> {
    if wire.writes() > 1 {
        // Without this, the kernel may coalesce the writes into one segment.
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
    }
    let mut sent = 0usize;
    let failed =
        |sent: usize, why: String| format!("sending stopped after {sent} of {} bytes: {why}", wire.len());
    for piece in &wire.pieces {
        let result = match piece {
            Piece::Bytes(bytes) => timeout_at(deadline, stream.write_all(bytes)).await,
            Piece::Repeat { unit, count } => {
                timeout_at(deadline, write_repeat(stream, unit, *count, &mut sent)).await
            }
            Piece::Pause(pause) => {
                if timeout_at(deadline, sleep(*pause)).await.is_err() {
                    return Err(failed(sent, "the case's deadline passed".to_owned()));
                }
                continue;
            }
            Piece::ShutWrite => timeout_at(deadline, stream.shutdown()).await,
        };
        match result {
            Err(_) => {
                return Err(failed(
                    sent,
                    "the server stopped reading until the deadline".to_owned(),
                ))
            }
            Ok(Err(e)) => return Err(failed(sent, e.to_string())),
            Ok(Ok(())) => {}
        }
        if let Piece::Bytes(bytes) = piece {
            sent += bytes.len();
        }
    }
    Ok(())
}

/// Writes `unit` `count` times, adding to `sent` as each chunk goes, so that
/// a write cut off by a deadline still says how far it got.
async fn write_repeat(stream: &mut TcpStream, unit: &[u8], count: usize, sent: &mut usize) -> io::Result<()> {
    if unit.is_empty() || count == 0 {
        return Ok(());
    }
    let per_chunk = (WRITE_CHUNK / unit.len()).max(1);
    let chunk = unit.repeat(per_chunk.min(count));
    let mut left = count;
    while left > 0 {
        let n = left.min(per_chunk);
        stream.write_all(&chunk[..n * unit.len()]).await?;
        *sent += n * unit.len();
        left -= n;
    }
    Ok(())
}

/// Reads until the server closes or resets, the deadline passes, or more
/// than `cap` bytes have come; compares what arrives with `expected`.
pub async fn receive(
    stream: &mut TcpStream,
    cap: usize,
    deadline: Instant,
    expected: Option<&Wire>,
) -> RawReply {
    let mut head = Vec::new();
    let mut len = 0usize;
    let mut first_difference = None;
    let mut want = expected.map(|wire| wire.iter_bytes());
    let mut chunk = vec![0u8; KEPT];
    let ending = loop {
        // Never read past the cap: one byte over it is enough to know.
        let room = (cap + 1 - len).min(chunk.len());
        let n = match timeout_at(deadline, stream.read(&mut chunk[..room])).await {
            Err(_) => break Ending::TimedOut,
            Ok(Ok(0)) => break Ending::Closed,
            Ok(Err(_)) => break Ending::Reset,
            Ok(Ok(n)) => n,
        };
        let got = &chunk[..n];
        if let Some(want) = want.as_mut() {
            if first_difference.is_none() {
                first_difference = got
                    .iter()
                    .zip(want.by_ref().map(Some).chain(std::iter::repeat(None)))
                    .position(|(g, w)| Some(*g) != w)
                    .map(|at| len + at);
            }
        }
        head.extend_from_slice(&got[..n.min(KEPT - head.len())]);
        len += n;
        if len > cap {
            break Ending::TooLong;
        }
    };
    RawReply {
        head,
        len,
        ending,
        first_difference,
    }
}

/// The outcome of one request on one connection.
#[derive(Debug)]
pub struct Exchanged {
    /// What came back.
    pub reply: RawReply,
    /// Why sending stopped early, if it did.
    pub send_error: Option<String>,
}

/// Connects, sends `wire`, and reads the reply (at most `cap` bytes), all by
/// `deadline`.
pub async fn exchange(
    addr: &str,
    wire: &Wire,
    expected: Option<&Wire>,
    cap: usize,
    deadline: Instant,
) -> Result<Exchanged, ConnectError> {
    let mut stream = connect(addr, deadline).await?;
    let send_error = send(&mut stream, wire, deadline).await.err();
    let reply = receive(&mut stream, cap, deadline, expected).await;
    Ok(Exchanged { reply, send_error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_netstring_is_counted_in_bytes_over_every_piece() {
        let wire = Wire::netstring(Wire::bytes("cummingsify.").then_repeat("É", 3));
        assert_eq!(wire.to_vec(), "18:cummingsify.ÉÉÉ,".as_bytes());
        assert_eq!(wire.len(), 22);
        assert_eq!(Wire::netstring(Wire::default()).to_vec(), b"0:,");
    }

    #[test]
    fn a_wire_shows_its_runs_and_writes() {
        let wire = Wire::bytes("100:cummingsify.").then_repeat("A", 88).then(",");
        assert_eq!(wire.show(), "`100:cummingsify.` + `A` × 88 + `,`");
        let split = Wire::bytes("2").pause(Duration::from_millis(20)).then("7:x,");
        assert_eq!(split.show(), "`2` (pause 20 ms) + `7:x,`");
        let many = (0..6).fold(Wire::default(), |w, _| {
            w.then("a").pause(Duration::from_millis(3))
        });
        assert_eq!(many.show(), "`aaaaaa` in 7 writes 3 ms apart");
    }

    #[test]
    fn a_reproduction_is_one_shell_line() {
        let addr = "127.0.0.1:11000";
        assert_eq!(
            Wire::bytes("27:cummingsify.HERE IS MY POEM,").reproduce(addr),
            "printf '27:cummingsify.HERE IS MY POEM,' | nc.traditional -q -1 127.0.0.1 11000"
        );
        let wire = Wire::bytes("2")
            .pause(Duration::from_millis(20))
            .then("7:")
            .then_repeat("A", 3);
        assert_eq!(
            wire.reproduce(addr),
            "{ printf '2'; sleep 0.1; printf '7:'; head -c 3 /dev/zero | tr '\\0' 'A'; } \
             | nc.traditional -q -1 127.0.0.1 11000"
        );
        let half = Wire::bytes("É").then_repeat("ΣΑ", 2).shut_write();
        assert_eq!(
            half.reproduce(addr),
            "{ printf '\\303\\211'; for i in $(seq 2); do printf '\\316\\243\\316\\221'; done; } \
             | nc -N 127.0.0.1 11000"
        );
    }

    /// The reproduction lines run as they read: the shell rebuilds the bytes.
    #[test]
    fn a_reproduction_rebuilds_the_same_bytes_in_a_shell() {
        let wire = Wire::bytes("5:a%b'\\,\n\u{1}é")
            .then_repeat("ΣΑ ", 3)
            .then_repeat("Z", 5)
            .pause(Duration::from_millis(1))
            .then(",");
        let line = wire.reproduce("127.0.0.1:1");
        let script = line.rsplit_once(" | nc").unwrap().0;
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, wire.to_vec());
    }
}

//! Deliberately broken servers of the protocol, for testing the tester: one
//! small server of our own that keeps every rule (plain threads, its own
//! framing code, nothing shared with the library), and flaws that each
//! break exactly one rule, the way real servers get it wrong.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The largest payload the server takes, as Twisted's.
pub const MAX_LENGTH: usize = 99_999;

/// How long a connection may hold a thread of a broken server: past every
/// test's use of it, so no thread outlives its test binary by much.
const HOLD: Duration = Duration::from_secs(30);

/// The one rule a server breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// None: the server keeps every rule.
    None,
    /// Reads `027:` as 27 (a decimal parse with no grammar).
    LeadingZeros,
    /// Parses the length with `str::parse`, which takes a leading `+`.
    SignedLengths,
    /// Has no byte other than the digits in mind: takes the length from the
    /// digits it finds, skipping spaces and underscores, as lenient parsers do.
    SkipsNonDigits,
    /// Applies no maximum: answers over-long requests and waits for their payload.
    NoLengthCap,
    /// Keeps the length in a 32-bit integer that wraps.
    WrappingLength,
    /// Never checks the byte after the payload.
    NoCommaCheck,
    /// Splits the payload at its LAST period.
    LastPeriod,
    /// Matches names whatever their case.
    CaseInsensitiveNames,
    /// Matches a name that is a prefix of a known one, or that a known one prefixes.
    PrefixNames,
    /// Trims whitespace around the name.
    TrimmedNames,
    /// Replaces invalid UTF-8 with U+FFFD instead of refusing the request.
    LossyUtf8,
    /// Lowercases ASCII letters only.
    AsciiLowercase,
    /// Frames the reply by its length in characters.
    CharLengths,
    /// Answers an unknown name with an error message instead of a bare close.
    ErrorReplies,
    /// Replies, but never closes the connection.
    NeverCloses,
    /// Replies, then streams bytes for as long as the client reads.
    StreamsForever,
    /// Sends its reply a byte at a time, slowly, then goes on dripping.
    Drips,
    /// Serves one connection at a time, to its end.
    OneAtATime,
    /// Stops accepting connections after a client resets one.
    DiesOnReset,
    /// (Open behaviour.) Answers every frame of a pipelining client.
    AnswersPipelined,
    /// (Open behaviour.) Drops a client that shuts its write side.
    DropsHalfClosed,
}

/// A broken server on a free port of 127.0.0.1; it stops accepting when dropped.
pub struct BrokenServer {
    /// Its port.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for BrokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl BrokenServer {
    /// Starts a server with `flaw`; it is listening when this returns.
    pub fn start(flaw: Flaw) -> BrokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if flaw == Flaw::OneAtATime {
                    serve(flaw, stream, &stopped);
                } else {
                    let stopped = stopped.clone();
                    thread::spawn(move || serve(flaw, stream, &stopped));
                }
            }
        });
        BrokenServer { port, stop }
    }
}

/// What the framing made of the bytes so far.
enum Parse {
    /// More bytes are needed.
    Need,
    /// Not a netstring (or too long): close.
    Bad,
    /// A payload, and the bytes it took with its framing.
    Frame(Vec<u8>, usize),
}

/// The length of the netstring at the start of `buf`, and where its payload
/// starts; `Ok(None)` while the length is incomplete.
fn length(flaw: Flaw, buf: &[u8]) -> Result<Option<(usize, usize)>, ()> {
    let colon = buf.iter().position(|&b| b == b':');
    let digits = &buf[..colon.unwrap_or(buf.len())];
    let cap = if flaw == Flaw::NoLengthCap {
        64 << 20
    } else {
        MAX_LENGTH
    };
    let mut value: usize = 0;
    let mut wrapped: u32 = 0;
    let mut seen = 0;
    for (i, &byte) in digits.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                if seen == 1 && value == 0 && flaw != Flaw::LeadingZeros {
                    return Err(());
                }
                seen += 1;
                let digit = usize::from(byte - b'0');
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(digit))
                    .ok_or(())?;
                wrapped = wrapped.wrapping_mul(10).wrapping_add(digit as u32);
            }
            b'+' if i == 0 && flaw == Flaw::SignedLengths => {}
            b' ' | b'_' | b'\t' if flaw == Flaw::SkipsNonDigits => {}
            _ => return Err(()),
        }
        // Refused as soon as the digits show it; a wrapping parser only
        // learns its (wrapped) value at the colon.
        if value > cap && flaw != Flaw::WrappingLength {
            return Err(());
        }
    }
    let value = if flaw == Flaw::WrappingLength {
        wrapped as usize
    } else {
        value
    };
    match colon {
        None => Ok(None),
        Some(_) if seen == 0 || value > cap => Err(()),
        Some(colon) => Ok(Some((value, colon + 1))),
    }
}

fn parse(flaw: Flaw, buf: &[u8]) -> Parse {
    let (len, start) = match length(flaw, buf) {
        Err(()) => return Parse::Bad,
        Ok(None) => return Parse::Need,
        Ok(Some(found)) => found,
    };
    if buf.len() < start + len + 1 {
        return Parse::Need;
    }
    if buf[start + len] != b',' && flaw != Flaw::NoCommaCheck {
        return Parse::Bad;
    }
    Parse::Frame(buf[start..start + len].to_vec(), start + len + 1)
}

/// The reply to a payload, or `None` for a bare close.
fn respond(flaw: Flaw, payload: &[u8]) -> Option<Vec<u8>> {
    let repaired;
    let payload = if flaw == Flaw::LossyUtf8 {
        repaired = String::from_utf8_lossy(payload).into_owned().into_bytes();
        &repaired[..]
    } else {
        payload
    };
    let dot = if flaw == Flaw::LastPeriod {
        payload.iter().rposition(|&b| b == b'.')?
    } else {
        payload.iter().position(|&b| b == b'.')?
    };
    let name = std::str::from_utf8(&payload[..dot]).ok()?;
    let poem = std::str::from_utf8(&payload[dot + 1..]).ok()?;
    const KNOWN: &str = "cummingsify";
    let known = match flaw {
        Flaw::CaseInsensitiveNames => name.eq_ignore_ascii_case(KNOWN),
        Flaw::PrefixNames => !name.is_empty() && (KNOWN.starts_with(name) || name.starts_with(KNOWN)),
        Flaw::TrimmedNames => name.trim() == KNOWN,
        _ => name == KNOWN,
    };
    if !known {
        return (flaw == Flaw::ErrorReplies)
            .then(|| framed(flaw, &format!("error: unknown transform {name:?}")));
    }
    let lowered = if flaw == Flaw::AsciiLowercase {
        poem.to_ascii_lowercase()
    } else {
        poem.to_lowercase()
    };
    Some(framed(flaw, &lowered))
}

fn framed(flaw: Flaw, text: &str) -> Vec<u8> {
    let len = if flaw == Flaw::CharLengths {
        text.chars().count()
    } else {
        text.len()
    };
    let mut out = format!("{len}:").into_bytes();
    out.extend_from_slice(text.as_bytes());
    out.push(b',');
    out
}

fn serve(flaw: Flaw, mut stream: TcpStream, stopped: &AtomicBool) {
    let started = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut replied = false;
    loop {
        match parse(flaw, &buf) {
            Parse::Bad => return,
            Parse::Frame(payload, used) => {
                if flaw == Flaw::DropsHalfClosed && at_end_of_stream(&mut stream) {
                    return;
                }
                let Some(reply) = respond(flaw, &payload) else {
                    return;
                };
                if write_reply(flaw, &mut stream, &reply).is_err() {
                    return;
                }
                replied = true;
                buf.drain(..used);
                if flaw == Flaw::AnswersPipelined && !buf.is_empty() {
                    continue;
                }
                break;
            }
            Parse::Need => {}
        }
        if started.elapsed() > HOLD {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                if e.kind() == ErrorKind::ConnectionReset && flaw == Flaw::DiesOnReset {
                    stopped.store(true, Ordering::SeqCst);
                }
                return;
            }
        }
    }
    if replied {
        after_reply(flaw, stream, started);
    }
}

/// True when the client has shut its write side (peeked, without waiting long).
fn at_end_of_stream(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    matches!(stream.peek(&mut [0u8; 1]), Ok(0))
}

fn write_reply(flaw: Flaw, stream: &mut TcpStream, reply: &[u8]) -> std::io::Result<()> {
    if flaw != Flaw::Drips {
        return stream.write_all(reply);
    }
    for byte in reply {
        stream.write_all(&[*byte])?;
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// After the reply: close as the protocol says, or not, as the flaw says.
fn after_reply(flaw: Flaw, mut stream: TcpStream, started: Instant) {
    match flaw {
        Flaw::NeverCloses => {
            // Held open until the client goes.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            while started.elapsed() < HOLD && !matches!(stream.read(&mut [0u8; 1024]), Ok(0)) {}
        }
        Flaw::StreamsForever => {
            let noise = [b'x'; 64 * 1024];
            while started.elapsed() < HOLD && stream.write_all(&noise).is_ok() {}
        }
        Flaw::Drips => {
            while started.elapsed() < HOLD && stream.write_all(b" ").is_ok() {
                thread::sleep(Duration::from_millis(100));
            }
        }
        _ => {
            // Read what else the client sent, so that closing sends a FIN, not a reset.
            let _ = stream.shutdown(Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut sink = [0u8; 16 * 1024];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

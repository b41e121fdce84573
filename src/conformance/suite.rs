//! The conformance suite of `poetry test --suite`: twelve cases that any
//! server of the protocol (ours, the Twisted original, another) should meet.
//!
//! Each case builds its requests by hand, independent of our codec, so a bug
//! shared by our server and our framing code cannot hide itself. A case that
//! sees a behaviour the protocol leaves open (answering pipelined frames,
//! dropping a half-closed client) reports it as [`Verdict::Differs`], which
//! is not a failure.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{connect, exchange, judge_classic, judge_exact, judge_refusal, read_to_end, show, Ending};
use super::{RawReply, CLASSIC_REPLY, CLASSIC_REQUEST};

/// The server under test and the time each network step may take.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` of the server.
    pub addr: String,
    /// Bound on every connect, write, and wait for the next byte.
    pub step: Duration,
}

/// What a case found, with a one-line reason either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The server behaved as the protocol says.
    Pass(String),
    /// The server broke the protocol.
    Fail(String),
    /// The server took a path the protocol leaves open; not a failure.
    Differs(String),
}

impl Verdict {
    /// The word shown in the table: `PASS`, `FAIL` or `DIFFERS`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass(_) => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Differs(_) => "DIFFERS",
        }
    }

    /// The one-line reason.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass(why) | Verdict::Fail(why) | Verdict::Differs(why) => why,
        }
    }
}

impl From<Result<String, String>> for Verdict {
    fn from(result: Result<String, String>) -> Self {
        match result {
            Ok(why) => Verdict::Pass(why),
            Err(why) => Verdict::Fail(why),
        }
    }
}

/// One case of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The tutorial's request gets exactly its reply, then a close.
    ClassicRoundTrip,
    /// Periods and non-ASCII letters in the poem are lowercased, not split on.
    UnicodePoem,
    /// The empty poem gets the empty netstring.
    EmptyPoem,
    /// A request written one byte at a time is reassembled.
    OneByteWrites,
    /// An unknown transform name gets a close without a byte.
    UnknownTransform,
    /// A payload without a period gets a close without a byte.
    NoPeriod,
    /// Malformed netstrings get a close without a byte, and hurt no one else.
    MalformedNetstrings,
    /// A huge declared length is refused from its header alone.
    OverLongLength,
    /// Many clients at once each get their own reply.
    ConcurrentClients,
    /// A stalled client does not hold up another one.
    SlowClient,
    /// A client that shuts its write side after the request gets the reply.
    HalfClose,
    /// Two requests in one write: one reply, then a close.
    PipelinedFrames,
}

/// How many clients [`Case::ConcurrentClients`] runs at once.
const CONCURRENT_CLIENTS: usize = 100;

/// The pause between the writes of [`Case::OneByteWrites`]: long enough that
/// each byte travels in its own segment, short enough to keep the suite quick.
const BYTE_PAUSE: Duration = Duration::from_millis(3);

/// A request that no server should know how to answer.
const UNKNOWN_NAME: &str = "no-such-transform-anywhere";

/// Periods (only the first one splits), plus Greek with a word-final sigma,
/// Cyrillic, and Latin accents, all long in Unicode so every lowercasing
/// table agrees on them.
const UNICODE_POEM: &str = "ODE. TO THE SEA.\n\
                            ΘΑΛΑΣΣΑ ΚΑΙ ΟΚΕΑΝΟΣ. ΣΟΦΙΑ.\n\
                            МОРЕ ШУМИТ, ЁЖ И ЩУКА.\n\
                            ÉCUME, ÎLE, NAÏVE, ÜBER, SEÑOR, ÅR, ŒUVRE.\n";

impl Case {
    /// Every case, in the order the suite runs them.
    pub const ALL: [Case; 12] = [
        Case::ClassicRoundTrip,
        Case::UnicodePoem,
        Case::EmptyPoem,
        Case::OneByteWrites,
        Case::UnknownTransform,
        Case::NoPeriod,
        Case::MalformedNetstrings,
        Case::OverLongLength,
        Case::ConcurrentClients,
        Case::SlowClient,
        Case::HalfClose,
        Case::PipelinedFrames,
    ];

    /// The short name shown in the table.
    pub fn name(self) -> &'static str {
        match self {
            Case::ClassicRoundTrip => "classic-round-trip",
            Case::UnicodePoem => "unicode-poem",
            Case::EmptyPoem => "empty-poem",
            Case::OneByteWrites => "one-byte-writes",
            Case::UnknownTransform => "unknown-transform",
            Case::NoPeriod => "no-period",
            Case::MalformedNetstrings => "malformed-netstrings",
            Case::OverLongLength => "over-long-length",
            Case::ConcurrentClients => "concurrent-clients",
            Case::SlowClient => "slow-client",
            Case::HalfClose => "half-close",
            Case::PipelinedFrames => "pipelined-frames",
        }
    }

    /// Runs the case against `target`; every network step is bounded by its step.
    pub async fn run(self, target: &Target) -> Verdict {
        match self {
            Case::ClassicRoundTrip => classic_round_trip(target).await,
            Case::UnicodePoem => unicode_poem(target).await,
            Case::EmptyPoem => empty_poem(target).await,
            Case::OneByteWrites => one_byte_writes(target).await,
            Case::UnknownTransform => {
                refused(target, &netstring(format!("{UNKNOWN_NAME}.HELLO").as_bytes())).await
            }
            Case::NoPeriod => refused(target, b"15:HERE IS MY POEM,").await,
            Case::MalformedNetstrings => malformed_netstrings(target).await,
            Case::OverLongLength => over_long_length(target).await,
            Case::ConcurrentClients => concurrent_clients(target).await,
            Case::SlowClient => slow_client(target).await,
            Case::HalfClose => half_close(target).await,
            Case::PipelinedFrames => pipelined_frames(target).await,
        }
    }
}

/// The tally of a run, as the table's last line shows it.
pub fn summary(verdicts: &[Verdict]) -> String {
    let count = |label| verdicts.iter().filter(|v| v.label() == label).count();
    let mut line = format!("{} passed, {} failed", count("PASS"), count("FAIL"));
    let differ = count("DIFFERS");
    if differ > 0 {
        let _ = write!(line, ", {differ} differ");
    }
    line
}

/// A netstring holding `payload`, built here rather than by our codec.
fn netstring(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out.push(b',');
    out
}

/// The request `name.poem` and the reply `cummingsify` must give to it.
fn cummingsify(poem: &str) -> (Vec<u8>, Vec<u8>) {
    (
        netstring(format!("cummingsify.{poem}").as_bytes()),
        netstring(poem.to_lowercase().as_bytes()),
    )
}

/// One request in one write, read to the end.
async fn request(target: &Target, bytes: &[u8]) -> Result<RawReply, String> {
    exchange(&target.addr, bytes, target.step)
        .await
        .map_err(|e| e.to_string())
}

async fn open(target: &Target) -> Result<TcpStream, String> {
    connect(&target.addr, target.step)
        .await
        .map_err(|e| e.to_string())
}

async fn send(stream: &mut TcpStream, bytes: &[u8], step: Duration) -> Result<(), String> {
    match timeout(step, stream.write_all(bytes)).await {
        Err(_) => Err(format!("sending took longer than {}", secs(step))),
        Ok(Err(e)) => Err(format!("sending failed: {e}")),
        Ok(Ok(())) => Ok(()),
    }
}

fn secs(step: Duration) -> String {
    format!("{} s", step.as_secs_f64())
}

async fn classic_round_trip(target: &Target) -> Verdict {
    match request(target, CLASSIC_REQUEST).await {
        Ok(reply) => judge_classic(&reply).into(),
        Err(why) => Verdict::Fail(why),
    }
}

async fn unicode_poem(target: &Target) -> Verdict {
    let (req, want) = cummingsify(UNICODE_POEM);
    match request(target, &req).await {
        // The expected reply is too long to quote in one line; say what it is instead.
        Ok(reply) => judge_exact(&reply, &want)
            .map(|_| "periods kept, Greek, Cyrillic and accented letters lowercased".to_owned())
            .map_err(|why| {
                if reply.bytes.is_empty() || reply.bytes == want {
                    why
                } else {
                    format!(
                        "expected the poem lowercased ({} bytes with its framing), got {}",
                        want.len(),
                        show(&reply.bytes)
                    )
                }
            })
            .into(),
        Err(why) => Verdict::Fail(why),
    }
}

async fn empty_poem(target: &Target) -> Verdict {
    match request(target, b"12:cummingsify.,").await {
        Ok(reply) => judge_exact(&reply, b"0:,").into(),
        Err(why) => Verdict::Fail(why),
    }
}

async fn one_byte_writes(target: &Target) -> Verdict {
    let result = async {
        let mut stream = open(target).await?;
        // Without this, the kernel may coalesce the bytes into one segment.
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        for (sent, byte) in CLASSIC_REQUEST.chunks(1).enumerate() {
            if let Err(why) = send(&mut stream, byte, target.step).await {
                // Most likely the server gave up on the partial request: show what it said.
                let reply = read_to_end(&mut stream, target.step).await;
                return Err(format!(
                    "{why} after {sent} of {} bytes; the server had sent {}",
                    CLASSIC_REQUEST.len(),
                    show(&reply.bytes)
                ));
            }
            tokio::time::sleep(BYTE_PAUSE).await;
        }
        let reply = read_to_end(&mut stream, target.step).await;
        judge_classic(&reply).map(|how| format!("{} bytes sent one at a time; {how}", CLASSIC_REQUEST.len()))
    };
    result.await.into()
}

/// A request the server must refuse with a close and no byte.
async fn refused(target: &Target, bytes: &[u8]) -> Verdict {
    match request(target, bytes).await {
        Ok(reply) => judge_refusal(&reply)
            .map(|how| format!("{}: {how}", show(bytes)))
            .map_err(|why| format!("{}: {why}", show(bytes)))
            .into(),
        Err(why) => Verdict::Fail(why),
    }
}

async fn malformed_netstrings(target: &Target) -> Verdict {
    let cases: [(&str, &[u8]); 3] = [
        ("non-digit in the length", b"2x:cummingsify.HERE IS MY POEM,"),
        ("empty length", b":cummingsify.HERE IS MY POEM,"),
        ("no comma after the payload", b"27:cummingsify.HERE IS MY POEM."),
    ];
    for (what, bytes) in cases {
        let verdict = match request(target, bytes).await {
            Ok(reply) => judge_refusal(&reply),
            Err(why) => Err(why),
        };
        if let Err(why) = verdict {
            return Verdict::Fail(format!("{what} {}: {why}", show(bytes)));
        }
    }
    match request(target, CLASSIC_REQUEST)
        .await
        .and_then(|reply| judge_classic(&reply))
    {
        Ok(_) => Verdict::Pass(
            "non-digit length, empty length and missing comma each closed without a byte; \
             the classic request was still answered"
                .to_owned(),
        ),
        Err(why) => Verdict::Fail(format!("after the malformed requests, the classic one: {why}")),
    }
}

async fn over_long_length(target: &Target) -> Verdict {
    // More digits than any length a server could accept (it overflows u64),
    // so no configuration makes waiting for the payload legitimate.
    const HEADER: &[u8] = b"99999999999999999999:";
    let started = Instant::now();
    match request(target, HEADER).await {
        Ok(reply) => match judge_refusal(&reply) {
            Ok(how) => Verdict::Pass(format!(
                "header {} alone: {how} after {} ms",
                show(HEADER),
                started.elapsed().as_millis()
            )),
            Err(_) if reply.ending == Ending::TimedOut && reply.bytes.is_empty() => Verdict::Fail(format!(
                "header {} alone: still open after {}; the server waits for the payload",
                show(HEADER),
                secs(target.step)
            )),
            Err(why) => Verdict::Fail(format!("header {} alone: {why}", show(HEADER))),
        },
        Err(why) => Verdict::Fail(why),
    }
}

async fn concurrent_clients(target: &Target) -> Verdict {
    // Each client sends its own poem so that crossed replies are caught.
    let client = |i: usize| async move {
        let (req, want) = cummingsify(&format!("POEM NUMBER {i} OF {CONCURRENT_CLIENTS}."));
        let mut stream = open(target).await?;
        send(&mut stream, &req, target.step).await?;
        let reply = read_to_end(&mut stream, target.step).await;
        judge_exact(&reply, &want)
    };
    let results = join_all((0..CONCURRENT_CLIENTS).map(client)).await;
    let failures: Vec<(usize, String)> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, result)| result.err().map(|why| (i, why)))
        .collect();
    match failures.first() {
        None => Verdict::Pass(format!(
            "{CONCURRENT_CLIENTS} clients at once, each got its own reply"
        )),
        Some((i, why)) => Verdict::Fail(format!(
            "{} of {CONCURRENT_CLIENTS} clients failed; client {i}: {why}",
            failures.len()
        )),
    }
}

async fn slow_client(target: &Target) -> Verdict {
    let (head, tail) = CLASSIC_REQUEST.split_at(CLASSIC_REQUEST.len() / 2);
    let result = async {
        let mut slow = open(target).await?;
        send(&mut slow, head, target.step).await?;
        request(target, CLASSIC_REQUEST)
            .await
            .and_then(|reply| judge_classic(&reply))
            .map_err(|why| format!("with a client stalled on half a request, a normal one: {why}"))?;
        // Finishing the stalled request proves it was still open all along.
        send(&mut slow, tail, target.step)
            .await
            .map_err(|why| format!("the stalled client, finishing its request: {why}"))?;
        let reply = read_to_end(&mut slow, target.step).await;
        judge_classic(&reply).map_err(|why| format!("the stalled client, once it finished: {why}"))?;
        Ok(format!(
            "a normal client was answered while another sat on {} of {} bytes; that one was answered later",
            head.len(),
            CLASSIC_REQUEST.len()
        ))
    };
    result.await.into()
}

async fn half_close(target: &Target) -> Verdict {
    let result = async {
        let mut stream = open(target).await?;
        send(&mut stream, CLASSIC_REQUEST, target.step).await?;
        timeout(target.step, stream.shutdown())
            .await
            .map_err(|_| "shutting down the write side timed out".to_owned())?
            .map_err(|e| format!("shutting down the write side failed: {e}"))?;
        Ok(read_to_end(&mut stream, target.step).await)
    };
    let reply: RawReply = match result.await {
        Ok(reply) => reply,
        Err(why) => return Verdict::Fail(why),
    };
    judge_half_close(&reply)
}

fn judge_half_close(reply: &RawReply) -> Verdict {
    match judge_classic(reply) {
        Ok(how) => Verdict::Pass(format!("after the client shut its write side: {how}")),
        // The protocol does not say whether a half-closed client is still served.
        Err(_) if reply.bytes.is_empty() && reply.ending != Ending::TimedOut => Verdict::Differs(format!(
            "the server {} without a reply once the client shut its write side",
            ending_verb(reply.ending)
        )),
        Err(why) => Verdict::Fail(format!("after the client shut its write side: {why}")),
    }
}

/// How a connection that ended did so, for messages.
fn ending_verb(ending: Ending) -> &'static str {
    match ending {
        Ending::Closed => "closed the connection",
        Ending::Reset => "reset the connection",
        Ending::TimedOut => "kept the connection open",
    }
}

async fn pipelined_frames(target: &Target) -> Verdict {
    let (second, second_reply) = cummingsify("A SECOND POEM");
    let mut both = CLASSIC_REQUEST.to_vec();
    both.extend_from_slice(&second);
    let reply = match request(target, &both).await {
        Ok(reply) => reply,
        Err(why) => return Verdict::Fail(why),
    };
    judge_pipelined(&reply, &second_reply)
}

/// The verdict on the reply to the classic request followed, in the same
/// write, by a request whose reply would be `second_reply`.
fn judge_pipelined(reply: &RawReply, second_reply: &[u8]) -> Verdict {
    let mut two_replies = CLASSIC_REPLY.to_vec();
    two_replies.extend_from_slice(second_reply);
    let bytes = reply.bytes.as_slice();
    match reply.ending {
        Ending::Closed if bytes == CLASSIC_REPLY => {
            Verdict::Pass("two requests in one write: replied to the first, then closed".to_owned())
        }
        Ending::Reset if bytes == CLASSIC_REPLY => Verdict::Differs(
            "replied to the first request, then reset the connection instead of closing it".to_owned(),
        ),
        Ending::Closed | Ending::Reset if bytes == two_replies => Verdict::Differs(format!(
            "answered both pipelined requests, then {}",
            ending_verb(reply.ending)
        )),
        ending => Verdict::Fail(format!(
            "two requests in one write: expected {} then a close, got {}, and the server {}",
            show(CLASSIC_REPLY),
            if bytes.is_empty() {
                "nothing".to_owned()
            } else {
                show(bytes)
            },
            ending_verb(ending)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_differences_only_when_there_are_some() {
        let pass = Verdict::Pass(String::new());
        let fail = Verdict::Fail(String::new());
        let differs = Verdict::Differs(String::new());
        assert_eq!(summary(&[pass.clone(), pass.clone()]), "2 passed, 0 failed");
        assert_eq!(
            summary(&[pass, fail, differs.clone(), differs]),
            "1 passed, 1 failed, 2 differ"
        );
    }

    fn reply(bytes: &[u8], ending: Ending) -> RawReply {
        RawReply {
            bytes: bytes.to_vec(),
            ending,
        }
    }

    #[test]
    fn one_reply_to_pipelined_frames_passes_and_two_differ() {
        let second = b"4:next,";
        let both = [CLASSIC_REPLY, second].concat();
        assert!(matches!(
            judge_pipelined(&reply(CLASSIC_REPLY, Ending::Closed), second),
            Verdict::Pass(_)
        ));
        assert!(matches!(
            judge_pipelined(&reply(&both, Ending::Closed), second),
            Verdict::Differs(_)
        ));
        assert!(matches!(
            judge_pipelined(&reply(CLASSIC_REPLY, Ending::Reset), second),
            Verdict::Differs(_)
        ));
        for (bytes, ending) in [
            (&b""[..], Ending::Closed),
            (CLASSIC_REPLY, Ending::TimedOut),
            (&both[..both.len() - 1], Ending::Closed),
        ] {
            assert!(matches!(
                judge_pipelined(&reply(bytes, ending), second),
                Verdict::Fail(_)
            ));
        }
    }

    #[test]
    fn a_half_closed_client_dropped_without_reply_differs_but_a_hang_fails() {
        assert!(matches!(
            judge_half_close(&reply(CLASSIC_REPLY, Ending::Closed)),
            Verdict::Pass(_)
        ));
        assert!(matches!(
            judge_half_close(&reply(b"", Ending::Closed)),
            Verdict::Differs(_)
        ));
        assert!(matches!(
            judge_half_close(&reply(b"", Ending::Reset)),
            Verdict::Differs(_)
        ));
        assert!(matches!(
            judge_half_close(&reply(b"", Ending::TimedOut)),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            judge_half_close(&reply(b"0:,", Ending::Closed)),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn every_case_has_its_own_name() {
        let mut names: Vec<_> = Case::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Case::ALL.len());
    }

    #[test]
    fn the_unicode_poem_changes_when_lowercased_beyond_ascii() {
        let (_, reply) = cummingsify(UNICODE_POEM);
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.contains("οκεανο\u{3c2}.") && reply.contains("ёж") && reply.contains("œuvre"));
        // Greek capital sigma becomes a final sigma at the end of a word only.
        assert!(reply.contains("θαλασσα ") && !reply.contains("\u{3c2}α"));
    }
}

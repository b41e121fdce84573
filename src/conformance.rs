//! Judging any server of the protocol by its bytes: the classic round trip
//! of `poetry test`, the conformance suite of `poetry test --suite`, and the
//! measure of a server's cap of `poetry test --probe-limits`.
//!
//! Requests are written by hand ([`wire::Wire`]), never by our codec, so a
//! framing bug that our server shares with our codec cannot hide; replies
//! are compared byte for byte, and described by our one netstring decoder.
//! Every read has a byte cap and every exchange a deadline: a server that
//! streams, drips or hangs costs a case its deadline and a few KiB.

use std::time::Duration;

use tokio::time::Instant;

pub mod cases;
pub mod judge;
pub mod probe;
pub mod report;
pub mod show;
pub mod suite;
pub mod wire;

use judge::{got, Expect};
use wire::{exchange, ConnectError, RawReply, Wire};

/// The classic request of the tutorial's netcat test.
pub const CLASSIC_REQUEST: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
/// The reply the classic request must get.
pub const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// The classic round trip, done.
#[derive(Debug)]
pub struct RoundTrip {
    /// What came back (at most a few KiB of it).
    pub reply: RawReply,
    /// `Ok` with an account, or `Err` with what was wrong and what came back.
    pub verdict: Result<String, String>,
}

/// Sends the classic request to `addr` and judges the reply; the whole
/// exchange ends within `timeout`, and reads stop a few KiB past the reply.
pub async fn round_trip(addr: &str, timeout: Duration) -> Result<RoundTrip, ConnectError> {
    let expect = Expect::Reply(Wire::bytes(CLASSIC_REPLY));
    let deadline = Instant::now() + timeout;
    let exchanged = exchange(
        addr,
        &Wire::bytes(CLASSIC_REQUEST),
        expect.reply(),
        expect.cap(),
        deadline,
    )
    .await?;
    let reply = exchanged.reply;
    let verdict = match expect.judge(&reply) {
        Err(why) if reply.len > 0 && reply.first_difference.is_some() => {
            Err(format!("{why}; got {}", got(&reply)))
        }
        Err(why) if reply.len > 0 && reply.len < CLASSIC_REPLY.len() => {
            Err(format!("{why}; got {}", got(&reply)))
        }
        verdict => verdict,
    };
    Ok(RoundTrip { reply, verdict })
}

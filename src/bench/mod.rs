//! `poetry bench`: a load generator for any server of the protocol, closed
//! loop or open loop at a fixed rate.
//!
//! Every request gets a connection of its own, as the protocol wants, and
//! every reply is checked byte for byte against the reply computed locally
//! with the same transform, so a fast but wrong server cannot look good.
//! [`load`] drives the traffic (when, in an open loop, [`schedule`] says) and
//! [`outcome`] keeps what it measured, [`procstat`] watches the server process from outside, [`idle`] measures
//! what a held-open connection costs it, [`report`] says what came of it, and
//! [`spectrum`] draws the latency distribution.

pub mod idle;
pub mod load;
pub mod outcome;
pub mod procstat;
pub mod report;
pub mod schedule;
pub mod spectrum;

use std::net::SocketAddr;
use std::time::Duration;

use self::procstat::Process;
use self::schedule::Arrivals;
use crate::registry::{Registry, RegistryError};

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Start new requests until this much time has passed.
    After(Duration),
    /// Send exactly this many requests.
    Requests(u64),
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Each connection sends its next request when the last is answered.
    Closed,
    /// Requests start when due, `rate` a second overall, whatever came of
    /// the earlier ones; latency counts from when each was due.
    Open {
        /// Requests per second, over all threads.
        rate: f64,
        /// How they are spaced.
        arrivals: Arrivals,
    },
}

/// What to send, where, and how hard.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub addr: SocketAddr,
    /// The transform (or chain) named in every request.
    pub transform: String,
    /// The whole request, framed.
    pub request: Vec<u8>,
    /// The exact reply every request must get, framed.
    pub expected: Vec<u8>,
    /// Requests in flight at once (in an open loop, at most).
    pub concurrency: usize,
    /// OS threads sharing them.
    pub threads: usize,
    /// Closed or open loop.
    pub load: Load,
    /// Time first spent loading without measuring.
    pub warmup: Duration,
    /// When to stop, after the warm-up.
    pub stop: Stop,
    /// Time allowed for each whole request: connect, send, reply, close.
    pub timeout: Duration,
    /// The server's process, to read its CPU time and memory.
    pub server: Option<Process>,
}

impl Plan {
    /// The longest latency a request of this plan can have: an open loop's
    /// request may wait for a slot from the start of the run to its end.
    fn latency_bound(&self) -> Duration {
        match (self.load, self.stop) {
            (Load::Open { .. }, Stop::After(duration)) => self.warmup + duration + self.timeout,
            _ => self.timeout,
        }
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The poem is not UTF-8, so no server of the protocol would take it.
    #[error("the poem is not UTF-8 (invalid byte at offset {0}); the protocol carries UTF-8 text only")]
    NotUtf8(usize),
    /// The transform cannot be computed here, so replies could not be checked.
    #[error(
        "unknown transform {name:?}: this build cannot compute the expected reply, so it cannot check \
         the server's; it knows {known}{hint}"
    )]
    UnknownTransform {
        /// The unknown name (or part of the chain).
        name: String,
        /// The names this build knows.
        known: String,
        /// A suggestion, if one is near.
        hint: String,
    },
    /// The transform fails on this poem here, so a server should refuse it.
    #[error("the transform fails on this poem here ({0}), so there is no correct reply to expect")]
    TransformFailed(RegistryError),
}

/// The request for `transform` applied to `poem`, and the reply it must get.
pub fn request_and_reply(transform: &str, poem: &[u8]) -> Result<(Vec<u8>, Vec<u8>), PlanError> {
    let text = std::str::from_utf8(poem).map_err(|e| PlanError::NotUtf8(e.valid_up_to()))?;
    let registry = Registry::standard();
    let reply = registry.apply(transform, text).map_err(|err| match err {
        RegistryError::UnknownTransform { name } => {
            let hint = registry
                .suggest(&name)
                .map(|near| format!("; did you mean {near:?}?"))
                .unwrap_or_default();
            PlanError::UnknownTransform {
                known: registry.names().collect::<Vec<_>>().join(", "),
                name,
                hint,
            }
        }
        failed @ RegistryError::TransformFailed { .. } => PlanError::TransformFailed(failed),
    })?;
    let mut payload = Vec::with_capacity(transform.len() + 1 + poem.len());
    payload.extend_from_slice(transform.as_bytes());
    payload.push(b'.');
    payload.extend_from_slice(poem);
    Ok((netstring(&payload), netstring(reply.as_bytes())))
}

/// `payload` framed as a netstring.
fn netstring(payload: &[u8]) -> Vec<u8> {
    let mut out = crate::codec::header(payload.len()).to_vec();
    out.extend_from_slice(payload);
    out.push(b',');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_pair() {
        let (request, reply) = request_and_reply("cummingsify", b"HERE IS MY POEM").unwrap();
        assert_eq!(request, crate::conformance::CLASSIC_REQUEST);
        assert_eq!(reply, crate::conformance::CLASSIC_REPLY);
    }

    #[test]
    fn unknown_names_and_bad_poems_are_refused() {
        let err = request_and_reply("cummingsfy", b"X").unwrap_err().to_string();
        assert!(
            err.contains("\"cummingsfy\"") && err.contains("did you mean \"cummingsify\""),
            "{err}"
        );
        assert!(matches!(
            request_and_reply("cummingsify+nope", b"X"),
            Err(PlanError::UnknownTransform { name, .. }) if name == "nope"
        ));
        assert!(matches!(
            request_and_reply("cummingsify", b"\xff"),
            Err(PlanError::NotUtf8(0))
        ));
    }
}

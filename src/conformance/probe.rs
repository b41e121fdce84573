//! `poetry test --probe-limits`: the largest payload a server answers, found
//! by bisection instead of taken on trust, for servers whose cap nobody wrote
//! down (and to check the one somebody did).
//!
//! Each probe is one request of an exact payload length, `cummingsify.`
//! followed by `a` bytes, so that the right reply is the same `a` bytes and
//! can be checked without computing a transform. A probe may be 16 MiB: the
//! request is streamed from a small repeated chunk and the reply compared as
//! it arrives ([`wire::send`], [`wire::receive`]), so neither is ever held
//! whole, and every probe ends by its own deadline.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::judge::{got, Expect, SLACK};
use super::wire::{self, ConnectError, Ending, Wire};

/// The transform every probe calls, with its period: it maps `a` to `a`.
const NAME: &str = "cummingsify.";

/// The smallest payload a probe can have: the name, its period, one `a`.
pub const SMALLEST: usize = NAME.len() + 1;

/// The largest payload tried when no bound is given: well past every common
/// cap, yet a probe of it takes a fraction of a second on a local network.
pub const DEFAULT_UP_TO: usize = 16 * 1024 * 1024;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The right reply, then a close.
    Answered,
    /// A close or reset without a byte: the server's way of saying no.
    Refused,
    /// Anything else, in words: neither a limit nor an answer.
    Wrong(String),
}

/// The request of a probe: a payload of exactly `len` bytes, as one netstring.
pub fn request(len: usize) -> Wire {
    Wire::netstring(Wire::bytes(NAME).then_repeat("a", poem_len(len)))
}

/// The reply a probe of `len` bytes must get: the poem unchanged.
pub fn expected_reply(len: usize) -> Wire {
    Wire::netstring(Wire::default().then_repeat("a", poem_len(len)))
}

fn poem_len(len: usize) -> usize {
    len.max(SMALLEST) - NAME.len()
}

/// Sends one probe of `len` bytes to `addr` and judges what came back; the
/// whole exchange ends within `timeout`. `Err` only when no connection could
/// be made, which says nothing about the length.
pub async fn probe(addr: &str, len: usize, timeout: Duration) -> Result<Outcome, ConnectError> {
    let expected = expected_reply(len);
    // A few KiB past the reply is enough to see that it runs on.
    let cap = expected.len() + SLACK;
    let exchanged = wire::exchange(
        addr,
        &request(len),
        Some(&expected),
        cap,
        Instant::now() + timeout,
    )
    .await?;
    let reply = exchanged.reply;
    if reply.len == 0 && matches!(reply.ending, Ending::Closed | Ending::Reset) {
        return Ok(Outcome::Refused);
    }
    if reply.is_exactly(&expected) {
        return Ok(Outcome::Answered);
    }
    let why = Expect::Reply(expected).judge(&reply).err().unwrap_or_default();
    // With nothing received, the judge's words already say all there is.
    let mut detail = if reply.len == 0 {
        why
    } else {
        format!("{why}; got {}", got(&reply))
    };
    if let Some(send_error) = exchanged.send_error {
        detail.push_str(&format!(" ({send_error})"));
    }
    Ok(Outcome::Wrong(detail))
}

/// What the bisection concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    /// A limit: answered up to `largest_answered`, refused one byte more.
    Limit,
    /// Every length up to the bound was answered: the limit, if any, is past it.
    AnswersAll,
    /// Even the smallest request was refused: no length tells a limit.
    RefusesSmallest,
    /// A probe got neither an answer nor a refusal.
    Wrong {
        /// The payload length of that probe.
        failed_at: usize,
        /// What was wrong and what came back.
        detail: String,
    },
}

/// A whole measurement: the verdict and the lengths that led to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// What was concluded (flattened into the JSON object).
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The largest payload length seen answered, if any.
    pub largest_answered: Option<usize>,
    /// The smallest payload length seen refused, if any.
    pub smallest_refused: Option<usize>,
    /// Probes sent.
    pub probes: usize,
    /// The bound the search stayed within.
    pub up_to: usize,
}

impl Limits {
    /// True when a limit (or none up to the bound) was found.
    pub fn found(&self) -> bool {
        matches!(self.verdict, Verdict::Limit | Verdict::AnswersAll)
    }

    /// The result in one line, for a person.
    pub fn line(&self) -> String {
        let probes = match self.probes {
            1 => "1 probe".to_owned(),
            n => format!("{n} probes"),
        };
        let known = |n: Option<usize>| n.map_or_else(|| "none".to_owned(), |n| n.to_string());
        match &self.verdict {
            Verdict::Limit => format!(
                "largest payload answered: {} bytes ({} refused); {probes}",
                known(self.largest_answered),
                known(self.smallest_refused)
            ),
            Verdict::AnswersAll => format!(
                "every payload answered up to the bound of {} bytes; {probes}",
                self.up_to
            ),
            Verdict::RefusesSmallest => {
                format!("no limit: even the smallest request ({SMALLEST} bytes) was refused; {probes}")
            }
            Verdict::Wrong { failed_at, detail } => {
                format!("no limit: at {failed_at} bytes, {detail}; {probes}")
            }
        }
    }

    /// One JSON object: `verdict`, `largest_answered`, `smallest_refused`,
    /// `probes`, `up_to`, and for a wrong reply `failed_at` and `detail`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("limits always serialize")
    }
}

/// The most probes a search up to `up_to` sends: the two ends, then one per
/// halving of the span between them.
pub fn max_probes(up_to: usize) -> usize {
    match up_to.max(SMALLEST) - SMALLEST {
        0 => 1,
        1 => 2,
        span => 2 + (usize::BITS - (span - 1).leading_zeros()) as usize,
    }
}

/// Finds the largest payload answered, from [`SMALLEST`] to `up_to` bytes,
/// asking `probe` about one length at a time.
///
/// It assumes what a cap means: every length up to it answered, every one
/// past it refused; a server that answers otherwise is caught only where a
/// probe lands. `Err` only when the first probe cannot connect at all: later,
/// a server that stops taking connections is a wrong answer at that length.
pub async fn bisect<F, Fut>(up_to: usize, mut probe: F) -> Result<Limits, ConnectError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Outcome, ConnectError>>,
{
    let up_to = up_to.max(SMALLEST);
    let mut limits = Limits {
        verdict: Verdict::Limit,
        largest_answered: None,
        smallest_refused: None,
        probes: 1,
        up_to,
    };
    match probe(SMALLEST).await? {
        Outcome::Answered => limits.largest_answered = Some(SMALLEST),
        Outcome::Refused => {
            limits.smallest_refused = Some(SMALLEST);
            limits.verdict = Verdict::RefusesSmallest;
            return Ok(limits);
        }
        Outcome::Wrong(detail) => {
            limits.verdict = Verdict::Wrong {
                failed_at: SMALLEST,
                detail,
            };
            return Ok(limits);
        }
    }
    if up_to == SMALLEST {
        limits.verdict = Verdict::AnswersAll;
        return Ok(limits);
    }
    // Answered at `lo`, refused at `hi` once a refusal is seen. The bound
    // goes first: a server with no cap below it costs two probes in all.
    let (mut lo, mut hi) = (SMALLEST, up_to);
    let mut len = up_to;
    loop {
        limits.probes += 1;
        let outcome = probe(len)
            .await
            .unwrap_or_else(|err| Outcome::Wrong(format!("no connection could be made: {err}")));
        match outcome {
            Outcome::Answered if len == up_to => {
                limits.largest_answered = Some(up_to);
                limits.verdict = Verdict::AnswersAll;
                return Ok(limits);
            }
            Outcome::Answered => {
                lo = len;
                limits.largest_answered = Some(len);
            }
            Outcome::Refused => {
                hi = len;
                limits.smallest_refused = Some(len);
            }
            Outcome::Wrong(detail) => {
                limits.verdict = Verdict::Wrong {
                    failed_at: len,
                    detail,
                };
                return Ok(limits);
            }
        }
        if hi - lo == 1 {
            return Ok(limits);
        }
        len = lo + (hi - lo) / 2;
    }
}

/// Measures the server at `addr` up to `up_to` bytes, each probe within
/// `timeout`; `before` hears each length just before it is sent.
pub async fn probe_limits(
    addr: &str,
    up_to: usize,
    timeout: Duration,
    mut before: impl FnMut(usize),
) -> Result<Limits, ConnectError> {
    bisect(up_to, |len| {
        before(len);
        probe(addr, len, timeout)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server with a cap, answering at or under it and refusing past it.
    fn capped(cap: usize) -> impl FnMut(usize) -> std::future::Ready<Result<Outcome, ConnectError>> {
        move |len| {
            std::future::ready(Ok(if len <= cap {
                Outcome::Answered
            } else {
                Outcome::Refused
            }))
        }
    }

    async fn run(
        up_to: usize,
        judge: impl FnMut(usize) -> std::future::Ready<Result<Outcome, ConnectError>>,
    ) -> Limits {
        bisect(up_to, judge).await.expect("the fake always connects")
    }

    #[tokio::test]
    async fn a_cap_inside_the_bound_is_found_exactly_within_the_probes_promised() {
        for up_to in [
            SMALLEST + 1,
            SMALLEST + 2,
            100,
            4096,
            99_999,
            100_000,
            DEFAULT_UP_TO,
        ] {
            for cap in [SMALLEST, SMALLEST + 1, 50, 4095, 5000, 99_999, up_to - 1] {
                if cap >= up_to {
                    continue;
                }
                let limits = run(up_to, capped(cap)).await;
                assert_eq!(limits.verdict, Verdict::Limit, "cap {cap} up to {up_to}");
                assert_eq!(limits.largest_answered, Some(cap), "up to {up_to}");
                assert_eq!(limits.smallest_refused, Some(cap + 1), "up to {up_to}");
                assert!(limits.probes <= max_probes(up_to), "{limits:?}");
                assert!(limits.found());
            }
        }
        // About log2 of the bound: 2 + 24 for 16 MiB.
        assert_eq!(max_probes(DEFAULT_UP_TO), 26);
    }

    #[tokio::test]
    async fn the_ends_are_said_as_such() {
        let all = run(DEFAULT_UP_TO, capped(usize::MAX)).await;
        assert_eq!(all.verdict, Verdict::AnswersAll);
        assert_eq!((all.largest_answered, all.probes), (Some(DEFAULT_UP_TO), 2));
        assert!(all.found());

        let at_bound = run(5000, capped(5000)).await;
        assert_eq!(at_bound.verdict, Verdict::AnswersAll);

        let none = run(DEFAULT_UP_TO, capped(0)).await;
        assert_eq!(none.verdict, Verdict::RefusesSmallest);
        assert_eq!((none.smallest_refused, none.probes), (Some(SMALLEST), 1));
        assert!(!none.found());

        let tiny = run(0, capped(usize::MAX)).await;
        assert_eq!(
            (tiny.verdict, tiny.up_to, tiny.probes),
            (Verdict::AnswersAll, SMALLEST, 1)
        );
    }

    #[tokio::test]
    async fn a_wrong_answer_stops_the_search_where_it_came() {
        let limits = run(100_000, |len| {
            std::future::ready(Ok(match len {
                0..=5000 => Outcome::Answered,
                5001..=60_000 => Outcome::Wrong("garbage".to_owned()),
                _ => Outcome::Refused,
            }))
        })
        .await;
        let Verdict::Wrong { failed_at, detail } = &limits.verdict else {
            panic!("{limits:?}");
        };
        assert!((5001..=60_000).contains(failed_at));
        assert_eq!(detail, "garbage");
        assert!(!limits.found());
        assert!(limits.line().contains(&format!("at {failed_at} bytes, garbage")));
    }

    #[tokio::test]
    async fn no_connection_is_an_error_first_and_a_wrong_answer_later() {
        let refused = || ConnectError::Refused("127.0.0.1:1".to_owned());
        assert!(bisect(1000, |_| std::future::ready(Err(refused())))
            .await
            .is_err());
        let limits = run(1000, |len| {
            std::future::ready(if len == SMALLEST {
                Ok(Outcome::Answered)
            } else {
                Err(refused())
            })
        })
        .await;
        assert!(
            matches!(limits.verdict, Verdict::Wrong { failed_at: 1000, .. }),
            "{limits:?}"
        );
    }

    #[test]
    fn probes_have_the_payload_length_they_claim_and_expect_the_poem_back() {
        assert_eq!(request(SMALLEST).to_vec(), b"13:cummingsify.a,");
        assert_eq!(expected_reply(SMALLEST).to_vec(), b"1:a,");
        let big = request(99_999);
        assert_eq!(big.len(), "99999:".len() + 99_999 + 1);
        assert_eq!(expected_reply(99_999).len(), "99987:".len() + 99_987 + 1);
    }

    #[test]
    fn the_line_and_the_json_say_the_same() {
        let limits = Limits {
            verdict: Verdict::Limit,
            largest_answered: Some(99_999),
            smallest_refused: Some(100_000),
            probes: 26,
            up_to: DEFAULT_UP_TO,
        };
        assert_eq!(
            limits.line(),
            "largest payload answered: 99999 bytes (100000 refused); 26 probes"
        );
        let json: serde_json::Value = serde_json::from_str(&limits.json()).unwrap();
        assert_eq!(json["verdict"], "limit");
        assert_eq!(json["largest_answered"], 99_999);
        assert_eq!(json["smallest_refused"], 100_000);
        assert_eq!(json["probes"], 26);
        assert_eq!(json["up_to"], DEFAULT_UP_TO);
        let wrong = Limits {
            verdict: Verdict::Wrong {
                failed_at: 13,
                detail: "no reply".to_owned(),
            },
            smallest_refused: None,
            largest_answered: None,
            ..limits
        };
        let json: serde_json::Value = serde_json::from_str(&wrong.json()).unwrap();
        assert_eq!(json["verdict"], "wrong");
        assert_eq!(json["failed_at"], 13);
        assert!(json["largest_answered"].is_null());
    }
}

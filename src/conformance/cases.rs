//! The cases of the conformance suite: one or more per rule of the protocol
//! (and per question of the tutorial's exercise on malformed and huge
//! netstrings), each with an id, the rule in one line, and whether the
//! protocol demands the behaviour (a MUST: breaking it FAILS) or leaves it
//! open (a different behaviour DIFFERS, and fails only under `--strict`).
//!
//! Requests are built by hand ([`Wire`]), never by our codec.

use std::time::Duration;

use futures_util::future::{join_all, LocalBoxFuture};
use serde::Serialize;
use tokio::time::Instant;

use super::judge::{got, Expect, SLACK};
use super::wire::{connect, exchange, receive, send, Ending, Exchanged, Wire};
use super::{CLASSIC_REPLY, CLASSIC_REQUEST};

/// Whether the protocol demands a behaviour or leaves it open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The protocol demands it: anything else FAILS.
    Must,
    /// The protocol leaves it open: another behaviour DIFFERS.
    Open,
}

impl Level {
    /// `MUST` or `open`, as the listing shows it.
    pub fn label(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Open => "open",
        }
    }
}

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The server behaved as the rule says.
    Pass,
    /// The server broke a MUST (or, under `--strict`, took an open path).
    Fail,
    /// The server took another path the protocol leaves open.
    Differs,
}

impl Verdict {
    /// `PASS`, `FAIL` or `DIFFERS`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Differs => "DIFFERS",
        }
    }
}

/// What was sent and what came back, for a case that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The request, quoted and cut to a readable length.
    pub sent: String,
    /// What the rule asks for.
    pub expected: String,
    /// What came back, and how the connection ended.
    pub got: String,
    /// A shell line that sends the same bytes.
    pub reproduce: String,
}

/// What a case found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Pass, fail or differs.
    pub verdict: Verdict,
    /// One line: what happened.
    pub detail: String,
    /// The exchange that decided it, unless it passed.
    pub evidence: Option<Box<Evidence>>,
}

impl Finding {
    fn pass(detail: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Pass,
            detail: detail.into(),
            evidence: None,
        }
    }

    fn fail(detail: impl Into<String>, evidence: Option<Evidence>) -> Self {
        Finding {
            verdict: Verdict::Fail,
            detail: detail.into(),
            evidence: evidence.map(Box::new),
        }
    }

    /// The same finding with `context` before its detail.
    fn within(mut self, context: &str) -> Self {
        self.detail = format!("{context}: {}", self.detail);
        self
    }
}

/// The server under test, as the suite is told of it.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// The server's maximum payload length (`--max-length`).
    pub max_length: usize,
    /// The deadline of each case, from its start.
    pub timeout: Duration,
}

/// The smallest maximum length the suite can test: room for its requests.
pub const MIN_MAX_LENGTH: usize = 256;

/// What a running case knows: where the server is, and when to give up.
#[derive(Debug)]
pub struct Ctx {
    addr: String,
    max_length: usize,
    deadline: Instant,
}

type Run = for<'a> fn(&'a Ctx) -> LocalBoxFuture<'a, Finding>;

/// One case of the suite.
pub struct Case {
    /// Its id: `group.name`, the group being the part of the protocol.
    pub id: &'static str,
    /// The rule it checks, in one line.
    pub rule: &'static str,
    /// Whether breaking it fails or differs.
    pub level: Level,
    run: Run,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// Runs the case against `target`; it settles by `target.timeout`.
    pub async fn run(&self, target: &Target) -> Finding {
        let cx = Ctx {
            addr: target.addr.clone(),
            max_length: target.max_length,
            deadline: Instant::now() + target.timeout,
        };
        // Every step already ends by the deadline; this only guards a slip.
        let guard = cx.deadline + Duration::from_secs(1);
        match tokio::time::timeout_at(guard, (self.run)(&cx)).await {
            Ok(finding) => finding,
            Err(_) => Finding::fail(
                format!(
                    "did not settle within its deadline of {} s",
                    target.timeout.as_secs_f64()
                ),
                None,
            ),
        }
    }

    /// The group of its id (`frame`, `request`, ...).
    pub fn group(&self) -> &'static str {
        self.id.split_once('.').map_or(self.id, |(group, _)| group)
    }
}

/// Every case, in the order they run. A burst of abuse goes last, so a
/// server it brings down fails that case and no other.
pub const CASES: &[Case] = &[
    Case {
        id: "classic.round-trip",
        rule: "`27:cummingsify.HERE IS MY POEM,` gets exactly `15:here is my poem,`, then a close",
        level: Level::Must,
        run: |cx| Box::pin(cx.one(Wire::bytes(CLASSIC_REQUEST), reply(CLASSIC_REPLY))),
    },
    Case {
        id: "frame.byte-length",
        rule: "a length counts bytes, not characters, in the request and in the reply",
        level: Level::Must,
        run: |cx| Box::pin(cx.cummingsify(&[BYTE_LENGTH_POEM])),
    },
    Case {
        id: "frame.empty",
        rule: "`0:,` is the empty netstring; as a request it has no period, so it is refused",
        level: Level::Must,
        run: |cx| Box::pin(cx.refused(&[b"0:,"])),
    },
    Case {
        id: "frame.one-byte-writes",
        rule: "a request that arrives one byte at a time is buffered until whole",
        level: Level::Must,
        run: |cx| Box::pin(cx.one(one_byte_at_a_time(CLASSIC_REQUEST), reply(CLASSIC_REPLY))),
    },
    Case {
        id: "frame.split-length",
        rule: "a request split inside its length digits (`2`, then `7:...`) is buffered until whole",
        level: Level::Must,
        run: |cx| Box::pin(split_length(cx)),
    },
    Case {
        id: "frame.split-anywhere",
        rule: "a request split after the colon, inside the payload or before the comma is buffered until whole",
        level: Level::Must,
        run: |cx| Box::pin(split_anywhere(cx)),
    },
    Case {
        id: "frame.netstring-in-poem",
        rule: "digits, colons, commas and whole netstrings inside the payload are payload",
        level: Level::Must,
        run: |cx| Box::pin(cx.cummingsify(&["3:ABC, 12:34, 0:, AND 1:X,", "HERE IS MY POEM,", ","])),
    },
    Case {
        id: "frame.leading-zeros",
        rule: "a length with a leading zero (`027:`, `00:`) is malformed: only `0:` starts with 0",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused(&[
                b"027:cummingsify.HERE IS MY POEM,",
                b"00:,",
                b"0027:cummingsify.HERE IS MY POEM,",
                b"012:cummingsify.,",
            ]))
        },
    },
    Case {
        id: "frame.non-digit-length",
        rule: "a byte other than an ASCII digit before `:` is malformed (spaces, `_`, `0x`, other scripts' digits)",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused(&[
                b"2x:cummingsify.HERE IS MY POEM,",
                b" 27:cummingsify.HERE IS MY POEM,",
                b"27 :cummingsify.HERE IS MY POEM,",
                b"\t27:cummingsify.HERE IS MY POEM,",
                b"2_7:cummingsify.HERE IS MY POEM,",
                b"0x1b:cummingsify.HERE IS MY POEM,",
                // 27 in Arabic-Indic digits, which some integer parsers accept.
                b"\xd9\xa2\xd9\xa7:cummingsify.HERE IS MY POEM,",
            ]))
        },
    },
    Case {
        id: "frame.signed-length",
        rule: "a signed length (`+27:`, `-27:`, `-0:`) is malformed",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused(&[
                b"+27:cummingsify.HERE IS MY POEM,",
                b"-27:cummingsify.HERE IS MY POEM,",
                b"-0:,",
                b"+0:,",
            ]))
        },
    },
    Case {
        id: "frame.empty-length",
        rule: "`:` with no digits before it is malformed",
        level: Level::Must,
        run: |cx| Box::pin(cx.refused(&[b":cummingsify.HERE IS MY POEM,", b":,"])),
    },
    Case {
        id: "frame.unframed",
        rule: "bytes that are no netstring at all (no length, no colon, plain text, HTTP) are malformed",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused(&[
                b"cummingsify.HERE IS MY POEM,",
                b"27cummingsify.HERE IS MY POEM,",
                b"HERE IS MY POEM",
                b"GET / HTTP/1.1\r\nHost: poetry\r\n\r\n",
            ]))
        },
    },
    Case {
        id: "frame.missing-comma",
        rule: "any byte other than `,` after the payload is malformed (also a payload longer than declared)",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused(&[
                b"27:cummingsify.HERE IS MY POEM.",
                b"27:cummingsify.HERE IS MY POEM\n",
                b"27:cummingsify.HERE IS MY POEM;",
                b"26:cummingsify.HERE IS MY POEM,",
                b"0:a,",
            ]))
        },
    },
    Case {
        id: "limit.at-max",
        rule: "a payload of exactly the maximum length (--max-length) is answered",
        level: Level::Must,
        run: |cx| Box::pin(at_max(cx)),
    },
    Case {
        id: "limit.over-max",
        rule: "a payload one byte over the maximum length is refused",
        level: Level::Must,
        run: |cx| Box::pin(over_max(cx)),
    },
    Case {
        id: "limit.over-max-header",
        rule: "a length over the maximum is refused from the header alone, before any payload",
        level: Level::Must,
        run: |cx| Box::pin(over_max_header(cx)),
    },
    Case {
        id: "limit.huge-length",
        rule: "lengths beyond any maximum, or that wrap 32- or 64-bit integers to a small one, are refused",
        level: Level::Must,
        run: |cx| Box::pin(huge_length(cx)),
    },
    Case {
        id: "request.first-period",
        rule: "the payload splits at its FIRST period: the poem keeps periods of its own",
        level: Level::Must,
        run: |cx| Box::pin(cx.cummingsify(&["ONE. TWO. THREE.", ".", "...", "A.B"])),
    },
    Case {
        id: "request.no-period",
        rule: "a payload without a period is refused",
        level: Level::Must,
        run: |cx| Box::pin(cx.refused_payloads(&[b"HERE IS MY POEM", b"cummingsify"])),
    },
    Case {
        id: "request.empty-poem",
        rule: "the empty poem (`cummingsify.`) gets the empty netstring `0:,`",
        level: Level::Must,
        run: |cx| Box::pin(cx.cummingsify(&[""])),
    },
    Case {
        id: "request.unknown-name",
        rule: "an unknown transform name, the empty one included, is refused",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b"no-such-transform-anywhere.HERE IS MY POEM",
                b".HERE IS MY POEM",
            ]))
        },
    },
    Case {
        id: "request.name-case",
        rule: "names are matched exactly: `CUMMINGSIFY` and `Cummingsify` are unknown",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b"CUMMINGSIFY.HERE IS MY POEM",
                b"Cummingsify.HERE IS MY POEM",
                b"cummingsIfy.HERE IS MY POEM",
            ]))
        },
    },
    Case {
        id: "request.name-spaces",
        rule: "names are matched exactly: spaces or control bytes around a name make it unknown",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b" cummingsify.HERE IS MY POEM",
                b"cummingsify .HERE IS MY POEM",
                b"\tcummingsify.HERE IS MY POEM",
                b"cummingsify\n.HERE IS MY POEM",
                b"cummingsify\r.HERE IS MY POEM",
                b"cummingsify\0.HERE IS MY POEM",
            ]))
        },
    },
    Case {
        id: "request.name-prefix",
        rule: "names are matched exactly: a prefix, an extension or a part of a name is unknown",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b"cummings.HERE IS MY POEM",
                b"cummingsifyy.HERE IS MY POEM",
                b"cummingsify2.HERE IS MY POEM",
                b"ummingsify.HERE IS MY POEM",
                b"c.HERE IS MY POEM",
            ]))
        },
    },
    Case {
        id: "request.name-reaches-nothing-else",
        rule: "a name reaches only the transforms exposed: internal names and paths are unknown",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b"xform_cummingsify.HERE IS MY POEM",
                b"__class__.HERE IS MY POEM",
                b"__init__.HERE IS MY POEM",
                b"transform.HERE IS MY POEM",
                b"buildProtocol.HERE IS MY POEM",
                b"/cummingsify.HERE IS MY POEM",
                b"cummingsify/.HERE IS MY POEM",
            ]))
        },
    },
    Case {
        id: "request.invalid-utf8-poem",
        rule: "a poem that is not UTF-8 (stray, overlong, surrogate, out-of-range or cut-off sequences) is refused, not repaired",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b"cummingsify.HERE IS \xff POEM",
                b"cummingsify.\x80",
                b"cummingsify.\xc0\xaf",
                b"cummingsify.\xe0\x80\xaf",
                b"cummingsify.\xed\xa0\x80",
                b"cummingsify.\xf4\x90\x80\x80",
                b"cummingsify.\xf8\x88\x80\x80\x80",
                b"cummingsify.CAF\xc3",
            ]))
        },
    },
    Case {
        id: "request.invalid-utf8-name",
        rule: "a transform name that is not UTF-8 is refused",
        level: Level::Must,
        run: |cx| {
            Box::pin(cx.refused_payloads(&[
                b"cummingsif\xff.HERE IS MY POEM",
                b"cummingsify\xc3.HERE IS MY POEM",
                b"cummingsify\xed\xa0\x80.HERE IS MY POEM",
            ]))
        },
    },
    Case {
        id: "reply.unicode-lowercase",
        rule: "cummingsify lowercases every script (Greek with its final sigma, Cyrillic, accented Latin), not only ASCII",
        level: Level::Must,
        run: |cx| Box::pin(cx.cummingsify(&[UNICODE_POEM])),
    },
    Case {
        id: "reply.longer-than-request",
        rule: "a reply longer in bytes than its request (`Ⱥ` lowercases from 2 bytes to 3) is framed by its own length",
        level: Level::Must,
        run: |cx| Box::pin(longer_than_request(cx)),
    },
    Case {
        id: "reply.large-poem",
        rule: "a large poem (64 KiB of several scripts, or less under a smaller maximum) comes back whole",
        level: Level::Must,
        run: |cx| Box::pin(large_poem(cx)),
    },
    Case {
        id: "conn.concurrent",
        rule: "100 clients at once each get their own reply",
        level: Level::Must,
        run: |cx| Box::pin(concurrent(cx)),
    },
    Case {
        id: "conn.slow-client",
        rule: "a client stalled part-way through its request holds up no other client",
        level: Level::Must,
        run: |cx| Box::pin(slow_client(cx)),
    },
    Case {
        id: "conn.pipelined",
        rule: "bytes after the first frame: a second request in the same write is not answered",
        level: Level::Open,
        run: |cx| Box::pin(pipelined(cx)),
    },
    Case {
        id: "conn.trailing-bytes",
        rule: "bytes after the first frame: garbage after the request does not stop its reply",
        level: Level::Open,
        run: |cx| Box::pin(trailing_bytes(cx)),
    },
    Case {
        id: "conn.half-close",
        rule: "a client that shuts its write side after the request still gets the reply",
        level: Level::Open,
        run: |cx| Box::pin(half_close(cx)),
    },
    Case {
        id: "conn.abuse-then-normal",
        rule: "after a burst of abusive connections (dropped, reset, garbage, huge lengths) a normal request is answered",
        level: Level::Must,
        run: |cx| Box::pin(abuse_then_normal(cx)),
    },
];

/// Already lowercase, so only the framing can go wrong: characters of 2, 3
/// and 4 bytes, and no period.
const BYTE_LENGTH_POEM: &str = "here is my poem — ünïcödé, ελληνικά, кириллица, 日本語 🌊";

/// No period (the split has a case of its own), Greek with a word-final
/// sigma, Cyrillic and accented Latin: letters long in Unicode, so every
/// lowercasing table agrees on them.
const UNICODE_POEM: &str = "ODE TO THE SEA\n\
                            ΘΑΛΑΣΣΑ ΚΑΙ ΟΚΕΑΝΟΣ, ΣΟΦΙΑ\n\
                            МОРЕ ШУМИТ, ЁЖ И ЩУКА\n\
                            ÉCUME, ÎLE, NAÏVE, ÜBER, SEÑOR, ÅR, ŒUVRE\n";

/// Lowercases from 6 bytes to 8 (`ⱥⱦ`, in Unicode since 5.0).
const GROWING_POEM: &str = "ȺȾ ";

/// One line of the large poem: several scripts, no period, no sigma (whose
/// lowercase depends on its neighbours), so the poem lowercases line by line.
const LARGE_POEM_LINE: &str =
    "THE HARBOUR LIGHTS — ΦΩΤΑ ΤΟΥ ΛΙΜΑΝΙΟΥ — ОГНИ ГАВАНИ — LES FEUX DU PORT: ÉCLAT, ÎLE, ŒIL\n";

/// The size the large poem aims at.
const LARGE_POEM_BYTES: usize = 64 * 1024;

/// Clients of [`concurrent`].
const CONCURRENT_CLIENTS: usize = 100;

/// The pause between writes meant to travel in segments of their own.
const PAUSE: Duration = Duration::from_millis(20);

/// The pause between the one-byte writes: short, so the case stays quick.
const BYTE_PAUSE: Duration = Duration::from_millis(3);

/// A payload framed as a netstring.
fn framed(payload: impl AsRef<[u8]>) -> Wire {
    Wire::netstring(Wire::bytes(payload))
}

fn reply(bytes: &[u8]) -> Expect {
    Expect::Reply(Wire::bytes(bytes))
}

/// The request for `cummingsify` on `poem`, and what it must get.
fn cummingsify(poem: &str) -> (Wire, Expect) {
    (
        framed(format!("cummingsify.{poem}")),
        Expect::Reply(framed(poem.to_lowercase())),
    )
}

fn one_byte_at_a_time(bytes: &[u8]) -> Wire {
    bytes
        .iter()
        .enumerate()
        .fold(Wire::default(), |wire, (i, &byte)| {
            let wire = if i == 0 { wire } else { wire.pause(BYTE_PAUSE) };
            wire.then([byte])
        })
}

/// `bytes` in writes cut at `cuts`, [`PAUSE`] apart.
fn split_at(bytes: &[u8], cuts: &[usize]) -> Wire {
    let mut wire = Wire::default();
    let mut start = 0;
    for &cut in cuts {
        wire = wire.then(&bytes[start..cut]).pause(PAUSE);
        start = cut;
    }
    wire.then(&bytes[start..])
}

impl Ctx {
    /// One request on a connection of its own, judged.
    async fn probe(&self, wire: &Wire, expect: &Expect) -> Result<String, Finding> {
        let exchanged = exchange(&self.addr, wire, expect.reply(), expect.cap(), self.deadline).await;
        self.judge(wire, expect, exchanged.map_err(|e| e.to_string()))
    }

    fn judge(
        &self,
        wire: &Wire,
        expect: &Expect,
        exchanged: Result<Exchanged, String>,
    ) -> Result<String, Finding> {
        let evidence = |got: String| Evidence {
            sent: wire.show(),
            expected: expect.describe(),
            got,
            reproduce: wire.reproduce(&self.addr),
        };
        match exchanged {
            Err(why) => Err(Finding::fail(why.clone(), Some(evidence(why)))),
            Ok(Exchanged { reply, send_error }) => expect.judge(&reply).map_err(|why| {
                let mut seen = got(&reply);
                if let Some(send_error) = send_error {
                    seen = format!("{seen} ({send_error})");
                }
                Finding::fail(why, Some(evidence(seen)))
            }),
        }
    }

    async fn one(&self, wire: Wire, expect: Expect) -> Finding {
        match self.probe(&wire, &expect).await {
            Ok(how) => Finding::pass(how),
            Err(finding) => finding,
        }
    }

    /// Each request in turn on its own connection; the first that does not
    /// get its due decides.
    async fn each(&self, probes: Vec<(Wire, Expect)>) -> Finding {
        let count = probes.len();
        let mut hows: Vec<String> = Vec::new();
        for (i, (wire, expect)) in probes.iter().enumerate() {
            match self.probe(wire, expect).await {
                // Replies differ by content; what matters in a summary is that each was exact.
                Ok(_) if count > 1 && expect.reply().is_some() => {
                    hows.push("got its exact reply, then a close".to_owned())
                }
                Ok(how) => hows.push(how),
                Err(finding) if count == 1 => return finding,
                Err(finding) => return finding.within(&format!("request {} of {count}", i + 1)),
            }
        }
        Finding::pass(summarize(&hows))
    }

    async fn cummingsify(&self, poems: &[&str]) -> Finding {
        self.each(poems.iter().map(|poem| cummingsify(poem)).collect())
            .await
    }

    /// Raw byte strings, each to be refused.
    async fn refused(&self, requests: &[&[u8]]) -> Finding {
        self.each(
            requests
                .iter()
                .map(|r| (Wire::bytes(r), Expect::Refusal))
                .collect(),
        )
        .await
    }

    /// Payloads, framed correctly, each to be refused.
    async fn refused_payloads(&self, payloads: &[&[u8]]) -> Finding {
        self.each(payloads.iter().map(|p| (framed(p), Expect::Refusal)).collect())
            .await
    }
}

/// `3 requests: each closed without a byte`, or `...: 2 closed without a
/// byte, 1 reset without a byte`.
fn summarize(hows: &[String]) -> String {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for how in hows {
        match groups.iter_mut().find(|(seen, _)| seen == how) {
            Some((_, n)) => *n += 1,
            None => groups.push((how, 1)),
        }
    }
    match groups.as_slice() {
        [(how, 1)] => (*how).to_owned(),
        [(how, _)] => format!("{} requests: each {how}", hows.len()),
        _ => format!(
            "{} requests: {}",
            hows.len(),
            groups
                .iter()
                .map(|(how, n)| format!("{n} {how}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

async fn longer_than_request(cx: &Ctx) -> Finding {
    cx.cummingsify(&[&GROWING_POEM.repeat(30)]).await
}

async fn split_length(cx: &Ctx) -> Finding {
    let (long, long_reply) = cummingsify(&"A".repeat(100));
    let long = long.to_vec();
    cx.each(vec![
        (split_at(CLASSIC_REQUEST, &[1]), reply(CLASSIC_REPLY)),
        (split_at(CLASSIC_REQUEST, &[2]), reply(CLASSIC_REPLY)),
        (split_at(&long, &[1, 2, 3]), long_reply),
    ])
    .await
}

async fn split_anywhere(cx: &Ctx) -> Finding {
    let cuts: [&[usize]; 4] = [&[3], &[17, 30], &[3, 15], &[30]];
    let probes = cuts
        .iter()
        .map(|cuts| (split_at(CLASSIC_REQUEST, cuts), reply(CLASSIC_REPLY)))
        .collect();
    cx.each(probes).await
}

/// `cummingsify.` and a poem of `A`s, `len` bytes of payload in all.
fn payload_of(len: usize) -> (Wire, usize) {
    const NAME: &str = "cummingsify.";
    let poem = len - NAME.len();
    (Wire::bytes(NAME).then_repeat("A", poem), poem)
}

async fn at_max(cx: &Ctx) -> Finding {
    let (payload, poem) = payload_of(cx.max_length);
    let expect = Expect::Reply(Wire::netstring(Wire::default().then_repeat("a", poem)));
    cx.one(Wire::netstring(payload), expect).await
}

async fn over_max(cx: &Ctx) -> Finding {
    let (payload, _) = payload_of(cx.max_length + 1);
    cx.one(Wire::netstring(payload), Expect::Refusal).await
}

async fn over_max_header(cx: &Ctx) -> Finding {
    let started = Instant::now();
    let finding = cx
        .one(Wire::bytes(format!("{}:", cx.max_length + 1)), Expect::Refusal)
        .await;
    match finding.verdict {
        Verdict::Pass => Finding::pass(format!(
            "{} after {} ms, with no payload sent",
            finding.detail,
            started.elapsed().as_millis()
        )),
        _ => finding,
    }
}

async fn huge_length(cx: &Ctx) -> Finding {
    let mut probes = vec![(Wire::bytes("99999999999999999999:"), Expect::Refusal)];
    // 2^32 + 27 and 2^64 + 27: 27 to a parser whose integer wraps.
    for wraps in ["4294967323", "18446744073709551643"] {
        if wraps.parse::<u128>().is_ok_and(|n| n > cx.max_length as u128) {
            let wire = Wire::bytes(format!("{wraps}:")).then(&CLASSIC_REQUEST[3..]);
            probes.push((wire, Expect::Refusal));
        }
    }
    cx.each(probes).await
}

async fn large_poem(cx: &Ctx) -> Finding {
    let room = LARGE_POEM_BYTES.min(cx.max_length - "cummingsify.".len());
    let lines = (room / LARGE_POEM_LINE.len()).max(1);
    let request = Wire::netstring(Wire::bytes("cummingsify.").then_repeat(LARGE_POEM_LINE, lines));
    let expect = Expect::Reply(Wire::netstring(
        Wire::default().then_repeat(LARGE_POEM_LINE.to_lowercase(), lines),
    ));
    cx.one(request, expect).await
}

async fn concurrent(cx: &Ctx) -> Finding {
    // Each client sends its own poem, so crossed replies are caught.
    let clients = (0..CONCURRENT_CLIENTS).map(|i| async move {
        let (wire, expect) = cummingsify(&format!("POEM NUMBER {i} OF {CONCURRENT_CLIENTS}"));
        cx.probe(&wire, &expect).await
    });
    let results = join_all(clients).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    match results
        .into_iter()
        .enumerate()
        .find_map(|(i, r)| r.err().map(|f| (i, f)))
    {
        None => Finding::pass(format!(
            "{CONCURRENT_CLIENTS} clients at once, each got its own reply"
        )),
        Some((i, finding)) => finding.within(&format!(
            "{failed} of {CONCURRENT_CLIENTS} clients failed; client {i}"
        )),
    }
}

async fn slow_client(cx: &Ctx) -> Finding {
    let (head, tail) = CLASSIC_REQUEST.split_at(15);
    let stalled = Wire::bytes(head).pause(PAUSE).then(tail);
    let mut slow = match connect(&cx.addr, cx.deadline).await {
        Ok(stream) => stream,
        Err(e) => return Finding::fail(e.to_string(), None),
    };
    if let Err(why) = send(&mut slow, &Wire::bytes(head), cx.deadline).await {
        return Finding::fail(format!("the stalled client: {why}"), None);
    }
    let context = format!(
        "while another client sat on {} of {} bytes, a normal one",
        head.len(),
        CLASSIC_REQUEST.len()
    );
    if let Err(finding) = cx
        .probe(&Wire::bytes(CLASSIC_REQUEST), &reply(CLASSIC_REPLY))
        .await
    {
        return finding.within(&context);
    }
    // Finishing the stalled request shows it was kept all along.
    let send_error = send(&mut slow, &Wire::bytes(tail), cx.deadline).await.err();
    let expect = reply(CLASSIC_REPLY);
    let received = receive(&mut slow, expect.cap(), cx.deadline, expect.reply()).await;
    match cx.judge(
        &stalled,
        &expect,
        Ok(Exchanged {
            reply: received,
            send_error,
        }),
    ) {
        Ok(_) => Finding::pass(format!(
            "a normal client was answered while another sat on {} of {} bytes; that one was answered later",
            head.len(),
            CLASSIC_REQUEST.len()
        )),
        Err(finding) => finding.within("the stalled client, once it finished its request"),
    }
}

/// Runs an open case, whose reply should be the classic one: that reply and
/// a close passes (`replied` says how). The same reply and a reset, nothing
/// at all (`refused`), or the `other` bytes (as their text says) differ:
/// the protocol leaves these open. Anything else (a hang, wrong bytes) fails.
async fn open_case(
    cx: &Ctx,
    wire: Wire,
    replied: &str,
    refused: &str,
    other: Option<(&[u8], &str)>,
) -> Finding {
    let expect = reply(CLASSIC_REPLY);
    let exchanged = exchange(&cx.addr, &wire, expect.reply(), expect.cap() + SLACK, cx.deadline)
        .await
        .map_err(|e| e.to_string());
    if let Ok(Exchanged { reply, .. }) = &exchanged {
        let what = match reply.head.as_slice() {
            _ if !reply.is_whole() => "",
            CLASSIC_REPLY => replied,
            b"" => refused,
            bytes => other.filter(|(b, _)| *b == bytes).map_or("", |(_, what)| what),
        };
        let verdict = match reply.ending {
            _ if what.is_empty() => None,
            Ending::Closed if what == replied => Some((Verdict::Pass, "closed")),
            Ending::Closed => Some((Verdict::Differs, "closed")),
            Ending::Reset => Some((Verdict::Differs, "reset")),
            Ending::TimedOut | Ending::TooLong => None,
        };
        if let Some((verdict, how)) = verdict {
            let evidence = (verdict != Verdict::Pass).then(|| {
                Box::new(Evidence {
                    sent: wire.show(),
                    expected: expect.describe(),
                    got: got(reply),
                    reproduce: wire.reproduce(&cx.addr),
                })
            });
            return Finding {
                verdict,
                detail: format!("{what}, then {how} the connection"),
                evidence,
            };
        }
    }
    match cx.judge(&wire, &expect, exchanged) {
        Ok(how) => Finding::pass(how),
        Err(finding) => finding,
    }
}

async fn pipelined(cx: &Ctx) -> Finding {
    let (second, second_reply) = cummingsify("A SECOND POEM");
    let both = [
        CLASSIC_REPLY,
        &second_reply.reply().map(Wire::to_vec).unwrap_or_default(),
    ]
    .concat();
    let wire = Wire::bytes(CLASSIC_REQUEST).then_wire(second);
    let replied = "replied to the first of two requests in one write";
    let other = Some((&both[..], "answered both pipelined requests"));
    open_case(cx, wire, replied, "answered neither pipelined request", other).await
}

async fn trailing_bytes(cx: &Ctx) -> Finding {
    let wire = Wire::bytes(CLASSIC_REQUEST).then("GARBAGE\r\n");
    let replied = "replied to the request despite the garbage after it";
    open_case(
        cx,
        wire,
        replied,
        "refused the request for the garbage after it",
        None,
    )
    .await
}

async fn half_close(cx: &Ctx) -> Finding {
    let wire = Wire::bytes(CLASSIC_REQUEST).shut_write();
    let replied = "replied after the client shut its write side";
    open_case(
        cx,
        wire,
        replied,
        "sent nothing once the client shut its write side",
        None,
    )
    .await
}

/// Abusive connections of each kind in the burst.
const ABUSERS_PER_KIND: usize = 10;

/// What one abusive client does; none waits for an answer.
async fn abuse(cx: &Ctx, kind: usize) {
    let Ok(mut stream) = connect(&cx.addr, cx.deadline).await else {
        return;
    };
    let over_max = format!("{}:", cx.max_length + 1);
    let bytes: &[u8] = match kind {
        0 => b"",
        1 => b"99999999999999999999:",
        2 => b"\xff\xfeGARBAGE\r\n\r\n",
        3 => &CLASSIC_REQUEST[..10],
        4 => CLASSIC_REQUEST,
        _ => over_max.as_bytes(),
    };
    let _ = send(&mut stream, &Wire::bytes(bytes), cx.deadline).await;
    if kind % 2 == 1 {
        // A reset instead of a close, with the request cut off or unread.
        let _ = stream.set_zero_linger();
    }
}

/// How long after the burst the second normal request comes: a server that
/// goes down over the abuse may take a moment to do so.
const AFTER_ABUSE: Duration = Duration::from_millis(250);

async fn abuse_then_normal(cx: &Ctx) -> Finding {
    let kinds = 6;
    join_all((0..kinds * ABUSERS_PER_KIND).map(|i| abuse(cx, i % kinds))).await;
    let abusers = kinds * ABUSERS_PER_KIND;
    let mut how = String::new();
    for (when, pause) in [("at once", Duration::ZERO), ("a moment later", AFTER_ABUSE)] {
        let _ = tokio::time::timeout_at(cx.deadline, tokio::time::sleep(pause)).await;
        let context = format!(
            "after {abusers} abusive connections (dropped at once, reset mid-request, garbage, \
             huge and over-max lengths, a request left unread), a normal request {when}"
        );
        match cx
            .probe(&Wire::bytes(CLASSIC_REQUEST), &reply(CLASSIC_REPLY))
            .await
        {
            Ok(got) => how = got,
            Err(finding) => return finding.within(&context),
        }
    }
    Finding::pass(format!(
        "after {abusers} abusive connections, a normal request at once and another {} ms later: each {how}",
        AFTER_ABUSE.as_millis()
    ))
}

/// The ids of every case, in order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    CASES.iter().map(|case| case.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_has_a_unique_grouped_id_and_a_one_line_rule() {
        let mut ids: Vec<_> = ids().collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CASES.len());
        for case in CASES {
            assert!(
                ["classic", "frame", "limit", "request", "reply", "conn"].contains(&case.group()),
                "{}",
                case.id
            );
            assert!(!case.rule.contains('\n') && case.rule.len() < 130, "{}", case.id);
        }
        assert_eq!(CASES.last().unwrap().id, "conn.abuse-then-normal");
    }

    #[test]
    fn the_unicode_poem_changes_when_lowercased_beyond_ascii() {
        let lower = UNICODE_POEM.to_lowercase();
        assert!(lower.contains("οκεανο\u{3c2},"), "{lower}");
        assert!(lower.contains("ёж") && lower.contains("œuvre"));
        // Greek capital sigma becomes a final sigma at the end of a word only.
        assert!(lower.contains("θαλασσα ") && !lower.contains("\u{3c2}α"));
        assert!(!UNICODE_POEM.contains('.'));
    }

    #[test]
    fn poems_meant_for_one_rule_break_no_other() {
        assert_eq!(BYTE_LENGTH_POEM.to_lowercase(), BYTE_LENGTH_POEM);
        assert!(BYTE_LENGTH_POEM.len() > BYTE_LENGTH_POEM.chars().count() + 20);
        let growing = GROWING_POEM.repeat(30);
        let (request, expect) = cummingsify(&growing);
        assert!(expect.reply().unwrap().len() > request.len());
        assert!(!LARGE_POEM_LINE.contains(['.', 'Σ']));
        assert_ne!(LARGE_POEM_LINE.to_lowercase(), LARGE_POEM_LINE);
    }

    #[test]
    fn summaries_count_what_each_request_got() {
        let hows = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            summarize(&hows(&["closed without a byte"])),
            "closed without a byte"
        );
        assert_eq!(
            summarize(&hows(&["closed without a byte", "closed without a byte"])),
            "2 requests: each closed without a byte"
        );
        assert_eq!(
            summarize(&hows(&[
                "closed without a byte",
                "reset without a byte",
                "closed without a byte"
            ])),
            "3 requests: 2 closed without a byte, 1 reset without a byte"
        );
    }

    #[test]
    fn requests_at_and_over_the_maximum_have_the_sizes_they_claim() {
        let (payload, _) = payload_of(MIN_MAX_LENGTH);
        let request = Wire::netstring(payload).to_vec();
        assert!(request.starts_with(format!("{MIN_MAX_LENGTH}:cummingsify.AAA").as_bytes()));
        assert_eq!(request.len(), 4 + MIN_MAX_LENGTH + 1);
    }
}

//! The conformance suite against servers that each break exactly one rule
//! of the protocol (`tests/common/broken.rs`): it must fail each one on the
//! cases of that rule and on no other, pass the same server without a flaw,
//! report open behaviours as DIFFERS (FAIL under --strict), and stay within
//! its deadlines and a few MiB against servers that hang, drip or stream.

mod common;

use std::time::Duration;

use common::broken::{BrokenServer, Flaw};
use common::suite::{poetry_test, set, Run};

/// The deadline of each case against the broken servers: a well-behaved
/// exchange with them takes milliseconds, so this is all margin.
const TIMEOUT: &str = "2";

/// Runs the suite (JSON report) against a server with `flaw`.
fn suite(flaw: Flaw, extra: &[&str]) -> Run {
    suite_within(flaw, TIMEOUT, extra)
}

/// Like [`suite`], with each case's deadline `timeout` seconds.
fn suite_within(flaw: Flaw, timeout: &str, extra: &[&str]) -> Run {
    let server = BrokenServer::start(flaw);
    let addr = format!("127.0.0.1:{}", server.port);
    let mut args = vec![addr.as_str(), "--suite", "--json", "--timeout", timeout];
    args.extend_from_slice(extra);
    poetry_test(&args)
}

/// The suite fails exactly the cases `ids`, and each failure shows what was
/// sent, what was expected, what came back, and how to reproduce it.
fn fails_exactly(flaw: Flaw, ids: &[&str]) {
    let run = suite(flaw, &[]);
    assert_eq!(run.code, 1, "{flaw:?}: {}\n{}", run.stdout, run.stderr);
    assert_eq!(run.ids("fail"), set(ids), "{flaw:?}: {}", run.stdout);
    assert!(run.ids("differs").is_empty(), "{flaw:?}: {}", run.stdout);
    assert_eq!(run.json()["tally"]["failed"], ids.len());
    for id in ids {
        let case = run.case(id);
        let evidence = &case["evidence"];
        for field in ["sent", "expected", "got"] {
            assert!(
                evidence[field].as_str().is_some_and(|s| !s.is_empty()),
                "{flaw:?} {id}: no {field} in {case}"
            );
        }
        assert!(
            evidence["reproduce"]
                .as_str()
                .is_some_and(|line| line.contains(" | nc") && line.contains("127.0.0.1 ")),
            "{flaw:?} {id}: {case}"
        );
    }
}

macro_rules! fails_exactly {
    ($($test:ident: $flaw:ident => [$($id:literal),+ $(,)?];)+) => {
        $(
            #[test]
            fn $test() {
                fails_exactly(Flaw::$flaw, &[$($id),+]);
            }
        )+
    };
}

fails_exactly! {
    a_server_that_accepts_leading_zeros: LeadingZeros => ["frame.leading-zeros"];
    a_server_that_accepts_signed_lengths: SignedLengths => ["frame.signed-length"];
    a_server_that_skips_spaces_in_lengths: SkipsNonDigits => ["frame.non-digit-length"];
    a_server_with_no_length_cap: NoLengthCap => ["limit.over-max", "limit.over-max-header"];
    a_server_whose_length_wraps: WrappingLength => ["limit.huge-length"];
    a_server_that_ignores_the_comma: NoCommaCheck => ["frame.missing-comma"];
    a_server_that_splits_at_the_last_period: LastPeriod => ["request.first-period"];
    a_server_that_ignores_the_case_of_names: CaseInsensitiveNames => ["request.name-case"];
    a_server_that_trims_names: TrimmedNames => ["request.name-spaces"];
    // `cummingsify .`, `cummingsify/.`: an extension of the name, to this server.
    a_server_that_matches_prefixes_of_names: PrefixNames => [
        "request.name-spaces",
        "request.name-prefix",
        "request.name-reaches-nothing-else",
    ];
    a_server_that_answers_unknown_names: ErrorReplies => [
        "request.unknown-name",
        "request.name-case",
        "request.name-spaces",
        "request.name-prefix",
        "request.name-reaches-nothing-else",
    ];
    a_server_that_repairs_invalid_utf8: LossyUtf8 => ["request.invalid-utf8-poem"];
    a_server_that_lowercases_ascii_only: AsciiLowercase => [
        "reply.unicode-lowercase",
        "reply.longer-than-request",
        "reply.large-poem",
    ];
    a_server_that_counts_characters: CharLengths => [
        "frame.byte-length",
        "reply.unicode-lowercase",
        "reply.longer-than-request",
        "reply.large-poem",
    ];
    a_server_that_serves_one_client_at_a_time: OneAtATime => ["conn.slow-client"];
    a_server_that_dies_on_a_reset: DiesOnReset => ["conn.abuse-then-normal"];
}

#[test]
fn the_same_server_without_a_flaw_passes_every_case() {
    let run = suite(Flaw::None, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.ids("fail").is_empty() && run.ids("differs").is_empty(),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.json()["tally"]["passed"],
        run.json()["cases"].as_array().unwrap().len()
    );
}

#[test]
fn open_behaviours_differ_and_fail_only_under_strict() {
    for (flaw, id) in [
        (Flaw::AnswersPipelined, "conn.pipelined"),
        (Flaw::DropsHalfClosed, "conn.half-close"),
    ] {
        let run = suite(flaw, &[]);
        assert_eq!(run.code, 0, "{flaw:?}: {}", run.stdout);
        assert_eq!(run.ids("differs"), set(&[id]), "{flaw:?}: {}", run.stdout);
        assert!(run.ids("fail").is_empty());
        assert_eq!(run.case(id)["level"], "open");
        let strict = suite(flaw, &["--strict"]);
        assert_eq!(strict.code, 1, "{flaw:?}: {}", strict.stdout);
        assert_eq!(strict.ids("fail"), set(&[id]));
        assert!(strict.ids("differs").is_empty());
    }
}

/// Peak memory of a `poetry test` run against a server that misbehaves must
/// stay under this: a run against a good one takes about 8 MiB, an unbounded
/// read against a streaming server reached 918 MB. Absolute, not relative to
/// a good run's: a fast run's peak can be sampled short on a loaded machine.
const MAX_PEAK_KIB: u64 = 16 * 1024;

/// A run against the good server, for the memory baseline: the same cases.
fn baseline(cases: &[&str]) -> Run {
    let run = suite_within(Flaw::None, "1", cases);
    assert_eq!(run.code, 0, "{}", run.stdout);
    run
}

/// Against servers that never close, drip, or stream forever, each case
/// ends at its deadline (or sooner), and memory stays near a good run's.
#[test]
fn hanging_dripping_and_streaming_servers_cost_a_deadline_and_little_memory() {
    let cases = [
        "--case",
        "classic.round-trip",
        "--case",
        "limit.at-max",
        "--case",
        "conn.concurrent",
    ];
    let good = baseline(&cases);
    for flaw in [Flaw::NeverCloses, Flaw::Drips, Flaw::StreamsForever] {
        let run = suite_within(flaw, "1", &cases);
        assert_eq!(run.code, 1, "{flaw:?}: {}", run.stdout);
        assert_eq!(
            run.ids("fail"),
            set(&["classic.round-trip", "limit.at-max", "conn.concurrent"]),
            "{flaw:?}: {}",
            run.stdout
        );
        // Three cases of one second each, and the start of the process.
        assert!(
            run.elapsed < Duration::from_secs(6),
            "{flaw:?} took {:?}",
            run.elapsed
        );
        assert!(
            run.peak_rss_kib < MAX_PEAK_KIB,
            "{flaw:?}: peak {} KiB against {} KiB for a good server",
            run.peak_rss_kib,
            good.peak_rss_kib
        );
        eprintln!(
            "{flaw:?}: 3 cases in {:?}, peak RSS {} KiB (good server: {:?}, {} KiB)",
            run.elapsed, run.peak_rss_kib, good.elapsed, good.peak_rss_kib
        );
    }
}

/// The single round trip is bounded the same way.
#[test]
fn the_round_trip_is_bounded_against_hanging_dripping_and_streaming_servers() {
    let good_server = BrokenServer::start(Flaw::None);
    let good = poetry_test(&[&good_server.port.to_string(), "--host", "127.0.0.1"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    for (flaw, says) in [
        (Flaw::NeverCloses, "did not close the connection"),
        (Flaw::Drips, "still open at the deadline"),
        (
            Flaw::StreamsForever,
            "still sending when the tester stopped reading",
        ),
    ] {
        let server = BrokenServer::start(flaw);
        let port = server.port.to_string();
        let run = poetry_test(&[&port, "--host", "127.0.0.1", "--timeout", "1"]);
        assert_eq!(run.code, 1, "{flaw:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{flaw:?}: {}", run.stderr);
        assert!(
            run.elapsed < Duration::from_secs(3),
            "{flaw:?} took {:?}",
            run.elapsed
        );
        // What came back is shown on stdout, but only as much as was read.
        assert!(
            run.stdout.len() < 8 * 1024,
            "{flaw:?}: {} bytes",
            run.stdout.len()
        );
        assert!(
            run.peak_rss_kib < MAX_PEAK_KIB,
            "{flaw:?}: peak {} KiB against {} KiB",
            run.peak_rss_kib,
            good.peak_rss_kib
        );
    }
}

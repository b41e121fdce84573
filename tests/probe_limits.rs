//! `poetry test --probe-limits` as a person or a script runs it: against our
//! server (the cap it was started with is found exactly), stand-in servers
//! that never answer (every probe ends at its deadline, memory stays small),
//! a port where nothing listens, and the command lines it refuses. The run
//! against the Twisted original is in `tests/interop.rs`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::suite::{poetry_test, Run};
use common::{closed_port, Server};

/// The bound a search uses unless told otherwise: 16 MiB.
const DEFAULT_UP_TO: u64 = 16 * 1024 * 1024;

/// Peak memory a probing `poetry test` must stay under, whatever the probe's
/// size: a run takes about 7 MiB, and holding one 16 MiB probe would not fit.
const MAX_PEAK_KIB: u64 = 16 * 1024;

/// How long a stand-in server keeps a connection: past any test's use of it.
const HOLD: Duration = Duration::from_secs(30);

fn probe(args: &[&str]) -> Run {
    let mut all = vec!["--probe-limits"];
    all.extend_from_slice(args);
    poetry_test(&all)
}

#[test]
fn the_cap_our_server_was_started_with_is_found_exactly() {
    let server = Server::poetry(&["--max-length", "5000"]);
    let run = probe(&[&server.addr(), "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["verdict"], "limit", "{json}");
    assert_eq!(json["largest_answered"], 5000, "{json}");
    assert_eq!(json["smallest_refused"], 5001, "{json}");
    assert_eq!(json["up_to"], DEFAULT_UP_TO, "{json}");
    // The smallest, the bound, then one per halving of what lies between.
    let probes = json["probes"].as_u64().unwrap();
    assert!((3..=26).contains(&probes), "{json}");

    let run = probe(&[&server.addr(), "--probe-up-to", "64KiB"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("largest payload answered: 5000 bytes (5001 refused); ")
            && run.stdout.ends_with(" probes\n"),
        "{}",
        run.stdout
    );
    // Off a terminal, nothing but the result is said.
    assert_eq!(run.stderr, "");
}

/// A server whose cap lies past the bound answers every probe, and a 16 MiB
/// probe costs no more memory than a small one: it is never held whole.
#[test]
fn a_server_with_no_cap_below_the_bound_answers_everything_in_little_memory() {
    let server = Server::poetry(&["--max-length", "20MiB"]);
    let run = probe(&[&server.addr(), "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["verdict"], "answers-all", "{json}");
    assert_eq!(json["largest_answered"], DEFAULT_UP_TO, "{json}");
    assert!(json["smallest_refused"].is_null(), "{json}");
    assert_eq!(json["probes"], 2, "{json}");
    assert!(
        run.peak_rss_kib < MAX_PEAK_KIB,
        "peak {} KiB for two probes of up to 16 MiB",
        run.peak_rss_kib
    );
    eprintln!(
        "two probes of up to 16 MiB in {:?}, peak RSS {} KiB",
        run.elapsed, run.peak_rss_kib
    );
}

/// A stand-in server on a free port of 127.0.0.1 that accepts every
/// connection and hands it to `serve` on a thread of its own.
fn stand_in(serve: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || serve(stream));
        }
    });
    port
}

/// Accepts, and neither reads nor answers.
fn deaf(stream: TcpStream) {
    thread::sleep(HOLD);
    drop(stream);
}

/// Reads all it is sent, and never answers.
fn mute(mut stream: TcpStream) {
    stream.set_read_timeout(Some(HOLD)).unwrap();
    let mut sink = [0u8; 64 * 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// Answers requests of up to 1000 bytes as it should; on a longer one, stops
/// reading and answers nothing, so that the client's writes stall.
fn stalls_on_large(mut stream: TcpStream) {
    stream.set_read_timeout(Some(HOLD)).unwrap();
    let mut digits = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).is_ok() && byte[0] != b':' {
        digits.push(byte[0]);
    }
    let len: usize = String::from_utf8(digits).unwrap().parse().unwrap();
    if len > 1000 {
        thread::sleep(HOLD);
        return;
    }
    let mut payload = vec![0u8; len + 1];
    stream.read_exact(&mut payload).unwrap();
    let poem = &payload[payload.iter().position(|&b| b == b'.').unwrap() + 1..len];
    let reply = [format!("{}:", poem.len()).as_bytes(), poem, b","].concat();
    let _ = stream.write_all(&reply);
}

/// Against servers that never answer, the probe that meets one ends at its
/// deadline, says where and what came back, and exits 1; one whose writes
/// stall stops writing at the deadline too.
#[test]
fn servers_that_never_answer_cost_a_probe_its_deadline() {
    for (serve, name, failed_at, says) in [
        (
            deaf as fn(TcpStream),
            "deaf",
            13,
            "sent nothing and did not close",
        ),
        (mute, "mute", 13, "sent nothing and did not close"),
        (
            stalls_on_large,
            "stalls on large requests",
            DEFAULT_UP_TO,
            "the server stopped reading until the deadline",
        ),
    ] {
        let port = stand_in(serve);
        let addr = format!("127.0.0.1:{port}");
        let run = probe(&[&addr, "--timeout", "1", "--json"]);
        assert_eq!(run.code, 1, "{name}: {}\n{}", run.stdout, run.stderr);
        let json = run.json();
        assert_eq!(json["verdict"], "wrong", "{name}: {json}");
        assert_eq!(json["failed_at"], failed_at, "{name}: {json}");
        assert!(json["detail"].as_str().unwrap().contains(says), "{name}: {json}");
        // One or two probes, the last ended by its one-second deadline.
        assert!(
            run.elapsed < Duration::from_secs(4),
            "{name} took {:?}",
            run.elapsed
        );
        assert!(
            run.peak_rss_kib < MAX_PEAK_KIB,
            "{name}: peak {} KiB",
            run.peak_rss_kib
        );
        eprintln!(
            "{name}: {:?}, peak RSS {} KiB: {}",
            run.elapsed, run.peak_rss_kib, json["detail"]
        );
    }

    let port = stand_in(mute);
    let run = probe(&[&format!("127.0.0.1:{port}"), "--timeout", "1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .starts_with("no limit: at 13 bytes, the server sent nothing"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_port_where_nothing_listens_exits_3_before_any_probe() {
    let addr = format!("127.0.0.1:{}", closed_port());
    for json in [false, true] {
        let mut args = vec![addr.as_str()];
        if json {
            args.push("--json");
        }
        let run = probe(&args);
        assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains("no server at"), "{}", run.stderr);
    }
}

#[test]
fn the_probe_and_the_suite_do_not_mix() {
    for args in [
        &["--probe-limits", "11000", "--suite"][..],
        &["--probe-limits", "11000", "--max-length", "5000"],
        &["--probe-limits", "11000", "--case", "frame.*"],
        &["--probe-limits", "--list"],
        &["11000", "--probe-up-to", "1MiB"],
        &["--probe-limits", "11000", "--probe-up-to", "12"],
        &["--probe-limits", "11000", "--probe-up-to", "lots"],
    ] {
        let run = poetry_test(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

//! End-to-end tests of the `poetry` binary: real server processes, real
//! clients, real sockets; and stand-in servers that misbehave on purpose.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{closed_port, fake_server, poetry, raw_exchange, Server, STEP};
use predicates::prelude::*;

const POEMS: &[&str] = &[
    include_str!("../poems/the-harbour-at-dusk.txt"),
    include_str!("../poems/letters-from-kyiv-and-crete.txt"),
    include_str!("../poems/kitchen-inventory.txt"),
];

#[test]
fn serve_transform_and_test_end_to_end() {
    let server = Server::poetry(&[]);
    assert!(
        server.banner.starts_with("Serving transforms on 127.0.0.1:"),
        "{}",
        server.banner
    );
    let port = server.port.to_string();
    common::transform_cummingsify(&port)
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stdout("here is my poem");
    poetry()
        .args(["test", &port])
        .assert()
        .success()
        .stdout("15:here is my poem,\n")
        .stderr(predicate::str::contains("PASS"));
}

#[test]
fn poems_round_trip_exactly_from_stdin_file_and_env() {
    let server = Server::poetry(&[]);
    let port = server.port.to_string();
    let tricky = "Dots. Commas, colons: 12:34, digits 0-9.\nΑΒΓ «Ёлка» Ærø Ünïcödé. Σ ΣΑΣ.\n\n.\n";
    for poem in POEMS.iter().copied().chain([tricky, "", "."]) {
        common::transform_cummingsify(&port)
            .write_stdin(poem)
            .assert()
            .success()
            .stdout(poem.to_lowercase());
    }
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/poems/letters-from-kyiv-and-crete.txt"
    );
    poetry()
        .args(["transform", "cummingsify", file])
        .env("POETRY_PORT", &port)
        .env("POETRY_HOST", "127.0.0.1")
        .assert()
        .success()
        .stdout(POEMS[1].to_lowercase());
    poetry()
        .args(["transform", "cummingsify", "-", "--port", &port])
        .write_stdin("A POEM FROM STDIN")
        .assert()
        .success()
        .stdout("a poem from stdin");
}

#[test]
fn the_server_survives_every_malformed_request() {
    let mut server = Server::poetry(&["--max-length", "50000"]);
    let addr = server.addr();
    let malformed: &[&[u8]] = &[
        b"x:",
        b"1x",
        b" 5:hello,",
        b"+5:hello,",
        b"-1:",
        b":",
        b":hello,",
        b"5:helloX",
        b"0:a,",
        b"3:abcd,",
        b"000005:hello,",
        b"60000:",
        b"100000:",
        b"99999999999999999999999999:",
        b"11:cummingsify,",      // no period
        b"13:cummingsify.\xff,", // not UTF-8
        b"5:nope.,",             // unknown transform
        b"10:cummings",          // cut off, then the client closes
    ];
    for request in malformed {
        // Half-closing lets the server see the end of a request that is cut off.
        let reply = common::raw_exchange_with(&addr, request, true);
        assert!(
            reply.is_empty(),
            "{:?} got a reply: {:?}",
            request.escape_ascii().to_string(),
            reply
        );
        assert_eq!(
            raw_exchange(&addr, b"27:cummingsify.HERE IS MY POEM,"),
            b"15:here is my poem,"
        );
    }
    // Every refusal was logged with the peer's address and a reason, never the poem.
    server.signal("INT");
    assert!(server.wait_exit(STEP).success());
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    for reason in [
        "where a length digit or ':' was expected",
        "empty length",
        "leading zero",
        "where ',' was expected",
        "more than the 5 digits",
        "exceeds the maximum of 50000 bytes",
        "no '.' between transform name and poem",
        "not UTF-8",
        "unknown transform \"nope\"",
        "cut off after 8 of 10 bytes",
    ] {
        assert!(log.contains(reason), "no log line says {reason:?}:\n{log}");
    }
    assert!(log.contains("peer=127.0.0.1:"), "{log}");
    assert!(
        !log.contains("HERE IS MY POEM"),
        "the poem leaked into the log:\n{log}"
    );
    assert!(log.contains(&format!(
        "{} replied, {} closed without a reply",
        malformed.len(),
        malformed.len()
    )));
}

#[test]
fn pipelined_frames_get_one_reply_then_close() {
    let server = Server::poetry(&[]);
    let reply = raw_exchange(
        &server.addr(),
        b"27:cummingsify.HERE IS MY POEM,27:cummingsify.HERE IS MY POEM,",
    );
    assert_eq!(reply, b"15:here is my poem,");
}

#[test]
fn transform_without_a_server_says_so_with_the_port_tried() {
    let port = closed_port().to_string();
    common::transform_cummingsify(&port)
        .write_stdin("POEM")
        .assert()
        .code(3)
        .stdout("")
        .stderr(
            predicate::str::contains("connection refused")
                .and(predicate::str::contains(format!("`poetry serve --port {port}`"))),
        );
}

#[test]
fn transform_with_an_unknown_name_lists_what_is_known() {
    let server = Server::poetry(&[]);
    poetry()
        .args(["transform", "cummingsfy", "--port", &server.port.to_string()])
        .write_stdin("POEM")
        .assert()
        .code(4)
        .stdout("")
        .stderr(
            predicate::str::starts_with("error: localhost:")
                .and(predicate::str::contains(
                    "refused the request: it most likely does not know the transform \"cummingsfy\"; \
                     did you mean \"cummingsify\"?",
                ))
                .and(predicate::str::contains(
                    "this build knows: alternate-case, cummingsify,",
                ))
                .and(predicate::str::contains("closed the connection without a reply")),
        );
}

#[test]
fn transform_reports_a_reply_cut_off() {
    let (port, server) = fake_server(|mut stream| {
        stream.write_all(b"15:here is").unwrap();
    });
    common::transform_cummingsify(&port.to_string())
        .args(["--retries", "0"])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(6)
        .stdout("")
        .stderr(predicate::str::contains("cut off after 7 of 15 bytes"));
    server.join().unwrap();
}

#[test]
fn transform_gives_up_after_its_timeout() {
    let (port, server) = fake_server(|stream| {
        // Hold the connection open, silent, until the client gives up.
        let mut stream = stream;
        let _ = stream.read(&mut [0u8; 1]);
    });
    common::transform_cummingsify(&port.to_string())
        .args(["--timeout", "0.5"])
        .write_stdin("POEM")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no reply from").and(predicate::str::contains("--timeout")));
    server.join().unwrap();
}

#[test]
fn transform_refuses_input_that_is_not_utf8_or_not_there() {
    common::transform_cummingsify(&closed_port().to_string())
        .write_stdin(&b"caf\xe9"[..])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not UTF-8 (invalid byte at offset 3)"));
    poetry()
        .args(["transform", "cummingsify", "no/such/poem.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot read the poem from no/such/poem.txt",
        ));
}

#[test]
fn test_fails_without_a_server() {
    poetry()
        .args(["test", &closed_port().to_string(), "--host", "127.0.0.1"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("FAIL").and(predicate::str::contains("connection refused")));
}

#[test]
fn test_fails_on_a_wrong_reply_and_shows_it() {
    let (port, server) = fake_server(|mut stream| {
        stream.write_all(b"15:HERE IS MY POEM,").unwrap();
    });
    poetry()
        .args(["test", &port.to_string(), "--host", "127.0.0.1"])
        .assert()
        .code(1)
        .stdout("15:HERE IS MY POEM,\n")
        .stderr(predicate::str::contains("FAIL").and(predicate::str::contains("got `15:HERE IS MY POEM,`")));
    server.join().unwrap();
}

#[test]
fn test_fails_when_the_server_does_not_close() {
    let (port, server) = fake_server(|mut stream| {
        stream.write_all(b"15:here is my poem,").unwrap();
        let _ = stream.read(&mut [0u8; 1]); // keep it open until the client leaves
    });
    poetry()
        .args([
            "test",
            &port.to_string(),
            "--host",
            "127.0.0.1",
            "--timeout",
            "0.5",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("did not close the connection"));
    server.join().unwrap();
}

#[test]
fn test_fails_when_the_server_closes_without_a_reply() {
    let (port, server) = fake_server(drop);
    poetry()
        .args(["test", &port.to_string(), "--host", "127.0.0.1"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("closed the connection without a reply"));
    server.join().unwrap();
}

#[test]
fn sigint_ends_the_server_cleanly() {
    let mut server = Server::poetry(&[]);
    assert_eq!(
        raw_exchange(&server.addr(), b"27:cummingsify.HERE IS MY POEM,"),
        b"15:here is my poem,"
    );
    server.signal("INT");
    let status = server.wait_exit(STEP);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_refuses_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    poetry()
        .args(["serve", "--port", &port])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot listen on 127.0.0.1:{port}"
        )));
}

#[test]
fn every_subcommand_explains_itself() {
    for sub in ["serve", "transform", "test", "transforms", "bench", "completions"] {
        poetry()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples"))
            // The flags of every subcommand under a heading of their own.
            .stdout(
                predicate::str::is_match(r"(?s)\nGlobal options:\n +--color <WHEN>.*\n +-v, --verbose")
                    .unwrap(),
            );
    }
    for sub in ["serve", "transform", "transforms", "completions"] {
        poetry()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Exit codes"));
    }
    poetry()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("poetry "));
    poetry()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage:"));
}

#[test]
fn a_slow_client_does_not_delay_another() {
    let server = Server::poetry(&[]);
    // Half a request, then silence: the server must go on serving others.
    let mut slow = common::connect(&server.addr());
    slow.write_all(b"27:cummingsify.HERE").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        raw_exchange(&server.addr(), b"27:cummingsify.HERE IS MY POEM,"),
        b"15:here is my poem,"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    slow.write_all(b" IS MY POEM,").unwrap();
    let mut reply = Vec::new();
    slow.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"15:here is my poem,");
}

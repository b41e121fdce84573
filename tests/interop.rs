//! Interoperability with the Twisted original, both ways, and the tutorial's
//! netcat test: our server must satisfy the Twisted client and netcat, our
//! client and conformance tester must work against the Twisted server (the
//! tester's probe finding its cap by itself), and both servers must answer
//! the same netstring vectors with the same bytes.
//!
//! Twisted comes from `POETRY_TWISTED_PYTHON` (a Python with Twisted) or else
//! `python3` when it can import it; netcat is Debian's `nc.traditional`. A
//! missing tool skips these tests locally and fails them under `CI=true`.

mod common;

use common::poetry;

use assert_cmd::Command;
use common::Server;
use predicates::prelude::*;

/// The tutorial's all-caps poem.
const CLASSIC: &str = "HERE IS MY POEM";

/// Periods (the request splits at the first one only), punctuation, digits,
/// newlines, and letters from several scripts, including a Greek final sigma
/// whose lowercase depends on its position in the word.
const RICH: &str = "THE 1ST LINE. ENDS, HERE: 42.\n\
                    ÉTÉ À L'ÎLE, ÇA VA? ÅNGSTRÖM, ÑANDÚ, ŒUVRE.\n\
                    ΟΔΥΣΣΕΥΣ ΚΑΙ Η ΣΟΦΙΑ.\n\
                    ЗДРАВСТВУЙ, МИР: 2024.\n";

/// The tutorial's netcat test, byte for byte; `PORT` is filled in.
const NETCAT_TEST: &str =
    r#"echo -n "27:cummingsify.HERE IS MY POEM," | nc.traditional -q -1 localhost PORT"#;

/// Netcat as the tutorial's test script uses it, if installed.
fn netcat() -> bool {
    common::require(
        "nc.traditional (netcat-traditional)",
        common::which("nc.traditional").is_some(),
    )
}

/// The Twisted client sending `poem` to the server on `port`.
fn twisted_client(python: &str, port: u16, name: &str, poem: &str) -> assert_cmd::assert::Assert {
    Command::new(python)
        .arg("-u")
        .arg(common::twisted::script("twisted_client.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), name])
        .write_stdin(poem)
        .timeout(common::STEP)
        .assert()
}

fn run_netcat_test(port: u16) -> assert_cmd::assert::Assert {
    Command::new("sh")
        .args(["-c", &NETCAT_TEST.replace("PORT", &port.to_string())])
        .timeout(common::STEP)
        .assert()
}

#[test]
fn twisted_client_gets_lowercased_poems_from_our_server() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = Server::poetry(&[]);
    for poem in [CLASSIC, RICH] {
        twisted_client(python, server.port, "cummingsify", poem)
            .success()
            .stdout(poem.to_lowercase());
    }
}

#[test]
fn our_client_and_tester_work_against_the_twisted_server() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = common::twisted::server(python);
    let port = server.port.to_string();
    for poem in [CLASSIC, RICH] {
        common::transform_cummingsify(&port)
            .write_stdin(poem)
            .assert()
            .success()
            .stdout(poem.to_lowercase());
    }
    poetry()
        .args(["test", &port])
        .assert()
        .success()
        .stdout("15:here is my poem,\n");
}

/// Probing finds the cap of Twisted's `NetstringReceiver` (99,999 bytes of
/// payload by default) without being told it.
#[test]
fn the_probe_finds_the_cap_of_the_twisted_server() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = common::twisted::server(python);
    let out = poetry()
        .args(["test", "--probe-limits", &server.addr(), "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
    assert_eq!(json["verdict"], "limit", "{json}");
    assert_eq!(json["largest_answered"], 99_999, "{json}");
    assert_eq!(json["smallest_refused"], 100_000, "{json}");
}

#[test]
fn tutorial_netcat_test_passes_against_our_server() {
    if !netcat() {
        return;
    }
    let server = Server::poetry(&[]);
    run_netcat_test(server.port)
        .success()
        .stdout("15:here is my poem,");
}

/// Proves the netcat harness itself against the original.
#[test]
fn tutorial_netcat_test_passes_against_the_twisted_server() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    if !netcat() {
        return;
    }
    let server = common::twisted::server(python);
    run_netcat_test(server.port)
        .success()
        .stdout("15:here is my poem,");
}

#[test]
fn unknown_transform_from_the_twisted_client_gets_no_reply_from_our_server() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = Server::poetry(&[]);
    twisted_client(python, server.port, "no-such-transform", CLASSIC)
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("closed the connection without a reply"));
}

#[test]
fn unknown_transform_from_our_client_gets_no_reply_from_the_twisted_server() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = common::twisted::server(python);
    poetry()
        .args(["transform", "shout", "--port", &server.port.to_string()])
        .write_stdin(CLASSIC)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains("closed the connection without a reply"));
}

/// Requests of the kinds Twisted's own `NetstringReceiver` tests use (our
/// own bytes): valid ones, lengths with leading zeros, signs, spaces or no
/// digits, payloads longer than declared, frames inside payloads, lengths
/// over the cap or wrapping an integer, and requests that are well framed
/// but not UTF-8 or not a known name. Pipelined frames are left out: there
/// the two servers differ, as the protocol allows.
fn twisted_style_vectors() -> Vec<Vec<u8>> {
    let mut vectors: Vec<Vec<u8>> = [
        &b"27:cummingsify.HERE IS MY POEM,"[..],
        b"027:cummingsify.HERE IS MY POEM,",
        b"0027:cummingsify.HERE IS MY POEM,",
        b"00:,",
        b"05:hello,",
        b"012:cummingsify.,",
        b"0:,",
        b"12:cummingsify.,",
        b"+27:cummingsify.HERE IS MY POEM,",
        b"-1:",
        b" 27:cummingsify.HERE IS MY POEM,",
        b"27 :cummingsify.HERE IS MY POEM,",
        b"2_7:cummingsify.HERE IS MY POEM,",
        b":,",
        b"27cummingsify.HERE IS MY POEM,",
        b"cummingsify.HERE IS MY POEM,",
        b"27:cummingsify.HERE IS MY POEM.",
        b"26:cummingsify.HERE IS MY POEM,",
        b"0:a,",
        b"100000:",
        b"99999999999999999999:",
        b"4294967323:cummingsify.HERE IS MY POEM,",
    ]
    .iter()
    .map(|v| v.to_vec())
    .collect();
    for payload in [
        &b"cummingsify.3:ABC,"[..],
        b"cummingsify.HERE IS MY POEM,",
        b"cummingsify.ONE. TWO. THREE.",
        "cummingsify.ΘΑΛΑΣΣΑ ΚΑΙ ΟΚΕΑΝΟΣ, ΣΟΦΙΑ, ȺȾ".as_bytes(),
        b"cummingsify.\xed\xa0\x80",
        b"cummingsify.\xc0\xaf",
        b"cummingsif\xff.HERE",
        b"CUMMINGSIFY.HERE",
        b"cummingsify .HERE",
        b"xform_cummingsify.HERE",
        b".HERE",
        b"HERE IS MY POEM",
    ] {
        vectors.push(common::netstring(payload));
    }
    vectors
}

/// Differential: the Twisted server and ours answer every vector with the
/// same bytes (often none at all).
#[test]
fn twisted_and_our_server_answer_netstring_vectors_alike() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let twisted = common::twisted::server(python);
    let ours = Server::poetry(&["--max-length", "99999"]);
    let mut answered = 0;
    for vector in twisted_style_vectors() {
        let from_twisted = common::raw_exchange(&twisted.addr(), &vector);
        let from_us = common::raw_exchange(&ours.addr(), &vector);
        assert_eq!(
            from_us.escape_ascii().to_string(),
            from_twisted.escape_ascii().to_string(),
            "for {}",
            vector.escape_ascii()
        );
        answered += usize::from(!from_us.is_empty());
    }
    // Both sides of the grammar were exercised.
    assert_eq!(answered, 6);
}

/// A stand-in server whose reply has a length with a leading zero.
fn leading_zero_reply() -> (u16, std::thread::JoinHandle<()>) {
    common::fake_server(|mut stream| {
        use std::io::Write;
        let _ = stream.write_all(b"015:here is my poem,");
    })
}

/// Leading zeros are refused by every decoder: the server's (above, against
/// Twisted's), the client's and the tester's, as Twisted's client does.
#[test]
fn a_reply_with_a_leading_zero_is_refused_by_our_client_tester_and_twisted() {
    let (port, server) = leading_zero_reply();
    common::transform_cummingsify(&port.to_string())
        .args(["--host", "127.0.0.1", "--retries", "0"])
        .write_stdin(CLASSIC)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains(
            "not a netstring: length starts with a leading zero",
        ));
    server.join().unwrap();

    let (port, server) = leading_zero_reply();
    poetry()
        .args(["test", &port.to_string(), "--host", "127.0.0.1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "not a netstring: length starts with a leading zero",
        ));
    server.join().unwrap();

    let Some(python) = common::twisted::python() else {
        return;
    };
    let (port, server) = leading_zero_reply();
    twisted_client(python, port, "cummingsify", CLASSIC)
        .code(1)
        .stdout("");
    server.join().unwrap();
}

//! Interoperability with the Twisted original, both ways, and the tutorial's
//! netcat test: our server must satisfy the Twisted client and netcat, and our
//! client and conformance tester must work against the Twisted server.
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

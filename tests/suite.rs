//! `poetry test PORT --suite` against our server, the Twisted original, and a
//! deliberately broken stand-in: the first two must pass, the last must not.
//!
//! Twisted comes from `POETRY_TWISTED_PYTHON` or else a `python3` that can
//! import it; without it the Twisted test skips locally and fails under `CI=true`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::Duration;

use assert_cmd::Command;
use common::{Server, STEP};

/// Output of a suite run: exit status and stderr.
struct Run {
    success: bool,
    stderr: String,
}

impl Run {
    /// The table's last line, the tally.
    fn last_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }

    /// The table row of the case named `name`, if any.
    fn row(&self, name: &str) -> Option<&str> {
        self.stderr
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(name))
    }
}

fn run_suite(port: u16) -> Run {
    let output = Command::cargo_bin("poetry")
        .unwrap()
        .args(["test", &port.to_string(), "--host", "127.0.0.1", "--suite"])
        .env_remove("POETRY_HOST")
        .env("NO_COLOR", "1")
        // Healthy and broken servers alike settle every case in well under a
        // second; this only bounds a hang, whose steps each give up after 5 s.
        .timeout(Duration::from_secs(90))
        .output()
        .expect("run poetry test --suite");
    let stderr = String::from_utf8(output.stderr).expect("UTF-8 on stderr");
    assert!(output.stdout.is_empty(), "the suite writes nothing on stdout");
    Run {
        success: output.status.success(),
        stderr,
    }
}

#[test]
fn our_server_passes_the_suite() {
    let server = Server::poetry(&[]);
    let run = run_suite(server.port);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.last_line(), "12 passed, 0 failed", "{}", run.stderr);
    for name in [
        "pipelined-frames",
        "half-close",
        "over-long-length",
        "concurrent-clients",
    ] {
        let row = run
            .row(name)
            .unwrap_or_else(|| panic!("no row {name} in {}", run.stderr));
        assert!(row.starts_with("PASS "), "{row}");
    }
}

#[test]
fn the_twisted_server_passes_the_suite_and_differs_on_pipelining() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = common::twisted::server(python);
    let run = run_suite(server.port);
    assert!(run.success, "{}", run.stderr);
    let last = run.last_line();
    assert!(
        last.starts_with("11 passed, 0 failed, 1 differ"),
        "{}",
        run.stderr
    );
    // Twisted's NetstringReceiver answers every frame it has buffered.
    let row = run.row("pipelined-frames").unwrap();
    assert!(
        row.starts_with("DIFFERS ") && row.contains("answered both"),
        "{row}"
    );
}

/// A server that reads whatever comes first, answers it with the untransformed
/// classic poem, and closes; ended when the test ends.
fn broken_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(STEP));
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"15:HERE IS MY POEM,");
                let _ = stream.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn a_broken_server_fails_the_suite_and_the_failing_cases_are_named() {
    let run = run_suite(broken_server());
    assert!(!run.success, "{}", run.stderr);
    let last = run.last_line();
    assert!(last.starts_with("0 passed, "), "{}", run.stderr);
    let failed: usize = last
        .strip_prefix("0 passed, ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failure count in {last:?}"));
    assert!(failed >= 10, "{}", run.stderr);
    for name in [
        "classic-round-trip",
        "unicode-poem",
        "empty-poem",
        "unknown-transform",
        "no-period",
        "malformed-netstrings",
        "over-long-length",
        "concurrent-clients",
    ] {
        let row = run
            .row(name)
            .unwrap_or_else(|| panic!("no row {name} in {}", run.stderr));
        assert!(row.starts_with("FAIL "), "{row}");
    }
    assert!(
        run.row("classic-round-trip")
            .unwrap()
            .contains("15:HERE IS MY POEM,"),
        "a failure says what came back"
    );
}

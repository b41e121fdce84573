//! What a person at a terminal, and a script at the end of a pipe, gets
//! from `poetry`: a closed stdout ends a command quietly and never stops a
//! server; on a terminal (a pseudo-terminal made by `script`) a hostile
//! reply is escaped, stdin being read is said, messages fit the width, and
//! `--color` reaches clap's own errors.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use common::{closed_port, fake_server, poetry, raw_exchange, Server, STEP};
use predicates::prelude::*;

/// A stdout whose reader has already gone: every write to it fails with a
/// broken pipe, as at the end of `| head -1`, without a race.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe fills two fresh descriptors; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let reader = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    drop(reader);
    Stdio::from(unsafe { OwnedFd::from_raw_fd(fds[1]) })
}

/// `poetry ARGS` started with a closed stdout, stdin and stderr piped,
/// none of the variables it reads inherited.
fn spawn_with_closed_stdout(args: &[&str]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("poetry"))
        .args(args)
        .env_remove("POETRY_PORT")
        .env_remove("POETRY_HOST")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `poetry ARGS` with a closed stdout: its exit code and stderr.
fn with_closed_stdout(args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    let mut child = spawn_with_closed_stdout(args);
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin);
    drop(input);
    let output = wait_with_output(child);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits for `child`, at most `STEP`.
fn wait_with_output(mut child: std::process::Child) -> std::process::Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > STEP {
            let _ = child.kill();
            panic!("still running after {STEP:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_with_0() {
    let server = Server::poetry(&[]);
    let port = server.port.to_string();
    let big = "HERE IS A LINE OF MY POEM\n".repeat(20_000);
    let runs: &[(&[&str], &[u8])] = &[
        (&["transforms"], b""),
        (&["completions", "bash"], b""),
        (&["--help"], b""),
        (&["transform", "--help"], b""),
        (&["transform", "shout", "--port", &port], big.as_bytes()),
        (&["transform", "shout", "--print-nc", "--port", &port], b"poem"),
        (&["test", &port], b""),
        // bench prints its report with print!: a panic there, were it not caught.
        (&["bench", &port, "--requests", "5", "--concurrency", "1"], b""),
    ];
    for (args, stdin) in runs {
        let (code, stderr) = with_closed_stdout(args, stdin);
        assert_eq!((code, stderr.as_str()), (Some(0), ""), "poetry {args:?}");
    }
    // A socket's broken pipe is no such thing: it is still an error.
    let (code, _) = with_closed_stdout(
        &["transform", "shout", "--port", &closed_port().to_string()],
        b"x",
    );
    assert_eq!(code, Some(3));
}

#[test]
fn a_server_whose_stdout_goes_away_keeps_serving() {
    let mut child =
        spawn_with_closed_stdout(&["serve", "--port", "0", "--http-port", "0", "--metrics-port", "0"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut rest = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line.clone()).is_err() {
                rest.push(line);
            }
        }
        rest
    });
    // Its address lines could not be printed, so the log has them.
    let line = match rx.recv_timeout(STEP) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("no log line within {STEP:?}");
        }
    };
    drop(rx);
    assert!(line.contains("cannot write to stdout"), "{line}");
    let port = line
        .split("Serving transforms on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    for _ in 0..3 {
        assert_eq!(
            raw_exchange(&format!("127.0.0.1:{port}"), b"27:cummingsify.HERE IS MY POEM,"),
            b"15:here is my poem,"
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_with_output(child).status.code(), Some(0));
    let rest = log.join().unwrap().join("\n");
    assert!(rest.contains("3 replied"), "{rest}");
}

#[test]
fn a_server_whose_stderr_goes_away_keeps_serving() {
    // As in `poetry serve 2>&1 | head -1`: its log lines have nowhere to go.
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("poetry"));
    // (With RUST_LOG set, Server::start leaves stderr as given.)
    command
        .args(["serve", "--port", "0"])
        .env("RUST_LOG", "info")
        .stderr(closed_pipe());
    let mut server = Server::start(command);
    for _ in 0..2 {
        // Each refusal is logged as a warning, which cannot be written.
        assert!(raw_exchange(&server.addr(), b"5:nope.,").is_empty());
        assert_eq!(
            raw_exchange(&server.addr(), b"27:cummingsify.HERE IS MY POEM,"),
            b"15:here is my poem,"
        );
    }
    server.signal("TERM");
    assert_eq!(server.wait_exit(STEP).code(), Some(0));
}

#[test]
fn serve_names_clashing_ports_and_a_taken_one() {
    poetry()
        .args(["serve", "--port", "11000", "--http-port", "11000"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--http-port 11000 is the same port as --port",
        ));
    poetry()
        .args(["serve", "--port", "0", "--http-port", "0", "--metrics-port", "0"])
        .arg("--check-config")
        .assert()
        .success();
    poetry()
        .args([
            "serve",
            "--port",
            "0",
            "--http-port",
            "12000",
            "--metrics-port",
            "12000",
        ])
        .arg("--check-config")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--metrics-port 12000 is the same port as --http-port",
        ));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    poetry()
        .args(["serve", "--port", "0", "--http-port", &port])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot listen on 127.0.0.1:{port} (--http-port): another program already listens on port {port}"
        )));
}

#[test]
fn ipv6_addresses_are_printed_in_brackets() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let server = Server::start({
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("poetry"));
        command.args(["serve", "--port", "0", "--iface", "::1"]);
        command
    });
    let addr = format!("[::1]:{}", server.port);
    assert_eq!(server.banner, format!("Serving transforms on {addr}."));
    poetry()
        .args(["transform", "shout", "--server", &addr, "-v"])
        .write_stdin("poem")
        .assert()
        .success()
        .stdout("POEM")
        .stderr(predicate::str::contains(format!(
            "* connected to {addr} ({addr})"
        )));
    poetry()
        .args([
            "transform",
            "shout",
            "--host",
            "::1",
            "--port",
            &server.port.to_string(),
        ])
        .write_stdin("poem")
        .assert()
        .success()
        .stdout("POEM");
}

/// `poetry ARGS` on a pseudo-terminal `cols` wide, with `input` typed: what
/// the terminal showed (CRLF made LF), and the exit code. `None` (skipped)
/// without `script`.
fn in_terminal(args: &[&str], cols: u16, input: &[u8]) -> Option<(String, Option<i32>)> {
    if !common::require("script (util-linux)", common::which("script").is_some()) {
        return None;
    }
    let quote = |arg: &str| format!("'{}'", arg.replace('\'', r"'\''"));
    let bin = assert_cmd::cargo::cargo_bin("poetry");
    let mut line = format!("stty cols {cols} rows 40; exec {}", quote(&bin.to_string_lossy()));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let output = assert_cmd::Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_remove("POETRY_PORT")
        .env_remove("POETRY_HOST")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .write_stdin(input)
        .timeout(STEP)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    Some((shown, output.status.code()))
}

#[test]
fn a_terminal_is_told_that_stdin_is_read() {
    let server = Server::poetry(&[]);
    let Some((shown, code)) = in_terminal(
        &["transform", "cummingsify", "--port", &server.port.to_string()],
        80,
        b"HERE IS MY POEM\n\x04",
    ) else {
        return;
    };
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("reading the poem from the terminal (stdin)"),
        "{shown}"
    );
    assert!(shown.contains("here is my poem\n"), "{shown}");
}

/// A stand-in server whose reply would retitle the window and hide text.
fn hostile_server() -> (u16, std::thread::JoinHandle<()>) {
    fake_server(|mut stream| {
        stream.write_all(b"17:\x1b]0;pwned\x07hi\x1b[8mX,").unwrap();
    })
}

#[test]
fn a_hostile_reply_is_escaped_on_a_terminal_and_kept_in_a_pipe() {
    let (port, server) = hostile_server();
    let poem = std::env::temp_dir().join(format!("poetry-hostile-{}.txt", std::process::id()));
    std::fs::write(&poem, "poem").unwrap();
    let shown = in_terminal(
        &[
            "transform",
            "shout",
            "--port",
            &port.to_string(),
            &poem.to_string_lossy(),
        ],
        80,
        b"",
    );
    server.join().unwrap();
    if let Some((shown, code)) = shown {
        assert_eq!(code, Some(0), "{shown}");
        assert!(!shown.contains('\x1b'), "{shown:?}");
        assert!(shown.contains(r"\u{1b}]0;pwned\u{7}hi\u{1b}[8mX"), "{shown:?}");
    }
    let (port, server) = hostile_server();
    poetry()
        .args(["transform", "shout", "--port", &port.to_string()])
        .arg(&poem)
        .assert()
        .success()
        .stdout(&b"\x1b]0;pwned\x07hi\x1b[8mX"[..]);
    server.join().unwrap();
    let _ = std::fs::remove_file(poem);
}

#[test]
fn messages_fit_the_terminal_width() {
    let server = Server::poetry(&[]);
    let Some((shown, code)) = in_terminal(
        &[
            "--color",
            "never",
            "transform",
            "cummingsfy",
            "--port",
            &server.port.to_string(),
            "/dev/null",
        ],
        60,
        b"",
    ) else {
        return;
    };
    assert_eq!(code, Some(4), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() >= 8, "not wrapped:\n{shown}");
    for line in &lines {
        assert!(
            line.chars().count() <= 60,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
    assert!(lines[0].starts_with("error: localhost:"), "{shown}");
    // Continuation lines are indented under their paragraph.
    assert!(lines[1].starts_with("  "), "{shown}");
}

#[test]
fn color_choice_reaches_clap_errors() {
    let Some((plain, code)) = in_terminal(&["--color", "never", "transform"], 80, b"") else {
        return;
    };
    assert_eq!(code, Some(2), "{plain}");
    assert!(
        plain.contains("error: the following required arguments"),
        "{plain}"
    );
    assert!(!plain.contains('\x1b'), "{plain:?}");
    let (coloured, _) = in_terminal(&["transform"], 80, b"").unwrap();
    assert!(
        coloured.contains("\x1b["),
        "auto colours a terminal: {coloured:?}"
    );
    let (never, _) = in_terminal(&["transform", "--port", "0", "--color=never"], 80, b"").unwrap();
    assert!(
        never.contains("--port <PORT>") && !never.contains('\x1b'),
        "{never:?}"
    );
}

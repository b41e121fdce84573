//! `poetry transform` as a client a careful user can trust: a refusal is
//! told from a failing server (and not sent again), each failure class has
//! its exit code and a message that leads with the likely cause, usage
//! errors name the flag or variable, and the wire can be watched (`-v`,
//! `--trace`) or replayed by hand (`--print-nc`).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{closed_port, fake_server, poetry, Server, STEP};
use predicates::prelude::*;

const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";

/// A stand-in server that records every request, and answers only the
/// classic request (as a server refusing all others would), or nothing at
/// all (as a failing one).
struct StandIn {
    port: u16,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Vec<u8>>>,
}

impl StandIn {
    fn start(answers_the_classic_request: bool) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut requests = Vec::new();
            while started.elapsed() < STEP * 2 {
                let mut stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if stopped.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(STEP)).unwrap();
                let request = read_netstring(&mut stream);
                if answers_the_classic_request && request == CLASSIC {
                    let _ = stream.write_all(b"15:here is my poem,");
                }
                requests.push(request);
            }
            requests
        });
        StandIn { port, stop, handle }
    }

    /// Every request received, once the client is done.
    fn requests(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("the stand-in")
    }
}

/// One netstring (or whatever arrived before the peer stopped sending).
fn read_netstring(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        if let Some(colon) = got.iter().position(|&b| b == b':') {
            let declared: usize = std::str::from_utf8(&got[..colon]).unwrap().parse().unwrap();
            // The length, ':', the payload and ','.
            if got.len() > colon + 1 + declared {
                return got;
            }
        }
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&byte[..n]),
        }
    }
}

fn other_than_classic(requests: &[Vec<u8>]) -> usize {
    requests.iter().filter(|r| r.as_slice() != CLASSIC).count()
}

#[test]
fn an_unknown_name_is_sent_once_not_once_per_retry() {
    let mut server = Server::poetry(&[]);
    poetry()
        .args(["transform", "cummingsfy", "--retries", "3"])
        .args(["--port", &server.port.to_string()])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("retry:").not());
    // Nor again when another server's failure calls for another round.
    let dead = closed_port().to_string();
    poetry()
        .args(["transform", "cummingsfy", "--retries", "3"])
        .args(["--server", &server.port.to_string(), "--server", &dead])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!("retry: no server at localhost:{dead}")).count(3));
    let log = common::stop_and_read_log(&mut server);
    assert_eq!(log.matches("unknown transform").count(), 2, "{log}");
}

#[test]
fn a_request_over_the_common_cap_is_sent_once_and_its_size_leads() {
    let mut server = Server::poetry(&["--max-length", "99999"]);
    // shout. and 8 MiB of letters, framed: 8388623 bytes, more than the
    // socket buffers take, so the server's close cuts the sending short.
    poetry()
        .args(["transform", "shout", "--port", &server.port.to_string()])
        .write_stdin("a".repeat(8 << 20))
        .assert()
        .code(4)
        .stdout("")
        .stderr(predicate::str::is_match(
            r"^error: localhost:\d+ refused the request, most likely for its size: 8\.00 MiB \(8388623 bytes\) is over the cap of Twisted's server \(99999 bytes\)",
        )
        .unwrap());
    let log = common::stop_and_read_log(&mut server);
    assert_eq!(log.matches("outcome=\"too_long\"").count(), 1, "{log}");
}

#[test]
fn a_refusal_this_build_cannot_explain_is_sent_twice_at_most() {
    // A balancer may have lost the first one with an instance that died.
    let picky = StandIn::start(true);
    poetry()
        .args(["transform", "shout", "--retries", "3"])
        .args(["--port", &picky.port.to_string()])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(4)
        .stderr(
            predicate::str::contains("refused the request: it may not know \"shout\"")
                .and(predicate::str::contains("retry:").count(1)),
        );
    let requests = picky.requests();
    assert_eq!(other_than_classic(&requests), 2, "{requests:?}");
    assert_eq!(requests.len(), 4, "each refusal got one canary: {requests:?}");

    let picky = StandIn::start(true);
    poetry()
        .args(["transform", "shout", "--retries", "0"])
        .args(["--port", &picky.port.to_string()])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(4);
    assert_eq!(other_than_classic(&picky.requests()), 1);
}

#[test]
fn a_failing_server_is_retried_and_said_to_be_failing() {
    let broken = StandIn::start(false);
    poetry()
        .args(["transform", "shout", "--retries", "2"])
        .args(["--port", &broken.port.to_string()])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains("did not answer the classic request either: the server is failing")
                .and(predicate::str::contains("retry:").count(2)),
        );
    assert_eq!(other_than_classic(&broken.requests()), 3);
}

#[test]
fn a_reply_that_is_not_a_netstring_is_a_bad_reply() {
    let (port, server) = fake_server(|mut stream| {
        stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
    });
    common::transform_cummingsify(&port.to_string())
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains("is not a netstring").and(predicate::str::contains("the right port?")),
        );
    server.join().unwrap();
}

#[test]
fn a_host_name_that_does_not_resolve_is_said_to_be_one() {
    poetry()
        .args([
            "transform",
            "shout",
            "--host",
            "no-such-host.invalid",
            "--connect-timeout",
            "10",
        ])
        .write_stdin("POEM")
        .assert()
        .code(3)
        .stderr(
            predicate::str::starts_with("error: cannot resolve the host name of no-such-host.invalid:11000")
                .and(predicate::str::contains("DNS"))
                .and(predicate::str::contains("poetry serve").not()),
        );
}

#[test]
fn usage_errors_exit_2_and_name_the_flag_or_variable() {
    // Arguments, environment, and what the message must name.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--server", "localhost:"], &[], "'--server <[HOST:]PORT>'"),
        (&["--server", "::1"], &[], "takes brackets: [:]:1"),
        (
            &["--timeout", "0"],
            &[],
            "'--timeout <SECS>': must be more than 0",
        ),
        (&["--connect-timeout", "0"], &[], "'--connect-timeout <SECS>'"),
        (&["--jobs", "0"], &[], "'--jobs <N>'"),
        (&["--max-reply", "0"], &[], "'--max-reply <BYTES>'"),
        (
            &[],
            &[("POETRY_PORT", "abc")],
            "in the environment variable POETRY_PORT (read as --port <PORT>)",
        ),
        (
            &[],
            &[("POETRY_PORT", "0")],
            "in the environment variable POETRY_PORT",
        ),
    ];
    for (args, env, named) in cases {
        let mut cmd = poetry();
        cmd.args(["transform", "shout"]).args(*args);
        for (key, value) in *env {
            cmd.env(key, value);
        }
        cmd.write_stdin("POEM")
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(*named));
    }
    // A typed flag wins over the variable, so a bad variable is not in the way.
    let server = Server::poetry(&[]);
    poetry()
        .args(["transform", "shout", "--port", &server.port.to_string()])
        .env("POETRY_PORT", "abc")
        .write_stdin("poem")
        .assert()
        .success()
        .stdout("POEM");
    poetry()
        .args(["serve", "--max-length", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "'--max-length <BYTES>': must be more than 0 bytes",
        ));
}

#[test]
fn verbose_shows_the_address_bytes_and_time_of_each_phase() {
    let server = Server::poetry(&[]);
    let port = server.port.to_string();
    common::transform_cummingsify(&port)
        .arg("-v")
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stdout("here is my poem")
        .stderr(
            predicate::str::is_match(format!(
                r"\* connected to 127\.0\.0\.1:{port} \(localhost:{port}\) in \d+\.\d ms"
            ))
            .unwrap()
            .and(predicate::str::is_match(r"\* sent 31 bytes in \d+\.\d ms").unwrap())
            .and(predicate::str::is_match(r"\* first byte of the reply after \d+\.\d ms").unwrap())
            .and(
                predicate::str::is_match(r"\* received 19 bytes \(a poem of 15 bytes\) in \d+\.\d ms")
                    .unwrap(),
            )
            .and(predicate::str::contains("payload").not()),
        );
    for trace in ["--trace", "-vv"] {
        common::transform_cummingsify(&port)
            .arg(trace)
            .write_stdin("HERE IS MY POEM")
            .assert()
            .success()
            .stderr(
                predicate::str::contains(
                    "> length 27 ':' payload \"cummingsify.HERE IS MY POEM\" ',' (31 bytes on the wire)",
                )
                .and(predicate::str::contains(
                    "< length 15 ':' payload \"here is my poem\" ',' (19 bytes on the wire)",
                ))
                .and(predicate::str::contains("* sent 31 bytes")),
            );
    }
}

#[test]
fn verbose_shows_every_retry_with_its_reason() {
    let port = closed_port();
    common::transform_cummingsify(&port.to_string())
        .args(["--host", "127.0.0.1", "--retries", "1", "-v"])
        .write_stdin("POEM")
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains(format!(
                "* connecting to 127.0.0.1:{port} failed: Connection refused"
            ))
            .and(predicate::str::contains(
                "* pausing 50.0 ms before the next round",
            ))
            .and(predicate::str::contains(format!(
                "retry: no server at 127.0.0.1:{port} (connection refused); trying again"
            ))),
        );
}

#[test]
fn trace_shows_the_bytes_of_a_reply_that_failed() {
    let (port, server) = fake_server(|mut stream| {
        stream.write_all(b"15:here is").unwrap();
    });
    common::transform_cummingsify(&port.to_string())
        .args(["--retries", "0", "--trace"])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "< 10 bytes before the failure: \"15:here is\"\n",
        ));
    server.join().unwrap();
}

#[test]
fn print_nc_prints_a_netcat_command_that_does_the_same_and_sends_nothing() {
    let poem = "it's 100% \\ done;\n\t«é» $HOME `x`\n";
    let listener = StandIn::start(true);
    let port = listener.port;
    let output = poetry()
        .args(["transform", "shout", "--print-nc", "--port", &port.to_string()])
        .write_stdin(poem)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(listener.requests().is_empty(), "--print-nc sent a request");
    let line = String::from_utf8(output.stdout).unwrap();
    assert!(
        line.starts_with("printf '42:shout.it'\\''s 100%% \\\\ done;\\n\\t«é» $HOME `x`\\n,' | ")
            && line.ends_with(&format!(" | nc.traditional -q -1 localhost {port}\n")),
        "{line}"
    );

    if !common::require(
        "nc.traditional (netcat-traditional)",
        common::which("nc.traditional").is_some(),
    ) {
        return;
    }
    let server = Server::poetry(&[]);
    let line = String::from_utf8(
        poetry()
            .args([
                "transform",
                "shout",
                "--print-nc",
                "--port",
                &server.port.to_string(),
            ])
            .write_stdin(poem)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let shouted = poem.to_uppercase();
    let expected = format!("{}:{shouted},", shouted.len());
    assert_cmd::Command::new("sh")
        .args(["-c", &line])
        .timeout(STEP)
        .assert()
        .success()
        .stdout(expected);
}

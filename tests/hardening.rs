//! The server under hostile, slow and broken peers, and the client when
//! servers are gone: limits, timeouts, shutdown, panics, fallbacks.

mod common;

use common::stop_and_read_log;

use common::poetry;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{raw_exchange, Server, STEP};
use predicates::prelude::*;

const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// True once the peer has closed `stream` (EOF or reset) within `STEP`.
fn closed_by_server(stream: &mut std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

/// The resident set size of a process, in bytes (Linux).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn an_over_long_request_is_refused_from_its_length_digits() {
    let mut server = Server::poetry(&["--max-length", "1000"]);
    let mut stream = common::connect(&server.addr());
    // Only the header: the server must not wait for 5000 bytes that never come.
    stream.write_all(b"5000:").unwrap();
    assert!(closed_by_server(&mut stream));
    let log = stop_and_read_log(&mut server);
    assert!(
        log.contains("declared length exceeds the maximum of 1000 bytes") && log.contains("peer=127.0.0.1:"),
        "{log}"
    );
}

#[test]
fn connections_over_the_limit_wait_in_the_backlog() {
    let mut server = Server::poetry(&["--max-connections", "2"]);
    let addr = server.addr();
    // Two connections in flight (a byte each) take both slots.
    let mut held: Vec<_> = (0..2)
        .map(|_| {
            let mut s = common::connect(&addr);
            s.write_all(b"1").unwrap();
            s
        })
        .collect();
    // Both a third and a fourth connect (the kernel's backlog) but get no answer yet.
    let mut waiting: Vec<_> = (0..2)
        .map(|_| {
            let mut s = common::connect(&addr);
            s.write_all(CLASSIC).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            let mut byte = [0u8; 1];
            let err = s.read(&mut byte).expect_err("served past --max-connections");
            assert!(matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ));
            s.set_read_timeout(Some(STEP)).unwrap();
            s
        })
        .collect();
    // Finishing the held requests frees their slots: the waiting ones are served.
    for s in &mut held {
        s.write_all(b"4:cummingsify.AB,").unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"2:ab,");
    }
    for s in &mut waiting {
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, CLASSIC_REPLY);
    }
    let log = stop_and_read_log(&mut server);
    assert_eq!(
        log.matches("connection limit reached").count(),
        1,
        "logged once per episode:\n{log}"
    );
}

#[test]
fn a_trickling_client_is_cut_off_at_the_timeout() {
    let mut server = Server::poetry(&["--timeout", "1"]);
    let mut stream = common::connect(&server.addr());
    // One byte every 200 ms: no read is ever idle for long, but the whole
    // request cannot arrive within the timeout.
    let started = Instant::now();
    let mut cut = false;
    for &byte in b"27:cummingsify.HERE IS MY POEM,".iter().take(20) {
        if stream.write_all(&[byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        cut || closed_by_server(&mut stream),
        "the trickling client was never cut off"
    );
    assert!(started.elapsed() < STEP);
    let log = stop_and_read_log(&mut server);
    assert!(
        log.contains("timed out after 1 s while reading the request"),
        "{log}"
    );
}

#[test]
fn a_request_in_flight_at_shutdown_gets_its_reply() {
    let mut server = Server::poetry(&[]);
    let addr = server.addr();
    let mut in_flight = common::connect(&addr);
    in_flight.write_all(b"27:cummingsify.HERE").unwrap();
    let mut idle = common::connect(&addr);
    // Make sure the server has accepted both before the signal.
    assert_eq!(raw_exchange(&addr, CLASSIC), CLASSIC_REPLY);
    server.signal("TERM");
    // The idle connection (no byte sent) is closed; new ones are refused.
    assert!(closed_by_server(&mut idle));
    let refused = (0..50).any(|_| {
        let gone = std::net::TcpStream::connect(&addr).is_err();
        if !gone {
            std::thread::sleep(Duration::from_millis(20));
        }
        gone
    });
    assert!(refused, "still accepting after SIGTERM");
    // The request in flight completes with its full reply.
    in_flight.write_all(b" IS MY POEM,").unwrap();
    let mut reply = Vec::new();
    in_flight.read_to_end(&mut reply).unwrap();
    assert_eq!(server.wait_exit(STEP).code(), Some(0));
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    assert_eq!(reply, CLASSIC_REPLY, "{log}");
    assert!(log.contains("Shut down: 2 replied"), "{log}");
}

#[test]
fn shutdown_gives_up_on_stragglers_after_the_shutdown_timeout() {
    let mut server = Server::poetry(&["--shutdown-timeout", "0.5"]);
    let mut stuck = common::connect(&server.addr());
    stuck.write_all(b"27:cummingsify").unwrap();
    assert_eq!(raw_exchange(&server.addr(), CLASSIC), CLASSIC_REPLY);
    server.signal("INT");
    assert_eq!(server.wait_exit(STEP).code(), Some(0));
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("1 cut off at the shutdown deadline"), "{log}");
}

#[test]
fn logs_follow_verbosity_and_rust_log() {
    let mut server = Server::poetry(&["-v"]);
    assert_eq!(raw_exchange(&server.addr(), CLASSIC), CLASSIC_REPLY);
    let log = stop_and_read_log(&mut server);
    assert!(
        log.contains("replied") && log.contains("transform=\"cummingsify\""),
        "{log}"
    );

    let mut server = Server::poetry(&["-q"]);
    assert!(raw_exchange(&server.addr(), b"5:nope.,").is_empty());
    let log = stop_and_read_log(&mut server);
    assert!(log.contains("unknown transform"), "warnings stay with -q: {log}");
    assert!(!log.contains("Shut down"), "info is hidden by -q: {log}");

    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("poetry"));
    command
        .args(["serve", "--port", "0"])
        .env("RUST_LOG", "error")
        .stderr(std::process::Stdio::piped());
    let mut server = Server::start(command);
    assert!(raw_exchange(&server.addr(), b"5:nope.,").is_empty());
    let log = stop_and_read_log(&mut server);
    assert!(
        !log.contains("unknown transform"),
        "RUST_LOG=error hides warnings: {log}"
    );
}

#[test]
fn the_client_refuses_a_reply_over_max_reply() {
    let (port, fake) = common::fake_server(|mut s| {
        let _ = s.write_all(b"999999999:endless");
    });
    common::transform_cummingsify(&port.to_string())
        .args(["--max-reply", "1000"])
        .write_stdin("POEM")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("longer than the 1000 bytes accepted"));
    fake.join().unwrap();
}

#[test]
fn the_client_tries_each_server_in_order() {
    let good = Server::poetry(&[]);
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A server that knows no such transform closes without a reply: try the next.
    let picky = Server::poetry(&["--max-length", "10"]);
    poetry()
        .args(["transform", "cummingsify"])
        .args(["--server", &refused.to_string()])
        .args(["--server", &format!("127.0.0.1:{}", picky.port)])
        .args(["--server", &format!("127.0.0.1:{}", good.port)])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stdout("here is my poem");
}

#[test]
fn fallback_prints_the_poem_unchanged_when_no_server_can() {
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    common::transform_cummingsify(&refused.to_string())
        .args(["--fallback"])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stdout("HERE IS MY POEM")
        .stderr(predicate::str::contains("warning:").and(predicate::str::contains("unchanged")));
}

#[test]
fn a_big_request_closed_without_reply_mentions_size_caps() {
    let server = Server::poetry(&["--max-length", "99999"]);
    common::transform_cummingsify(&server.port.to_string())
        .write_stdin("A".repeat(100_000))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("the server may cap request size"));
}

#[test]
fn bad_limits_are_refused_at_start() {
    poetry()
        .args([
            "serve",
            "--port",
            "0",
            "--max-length",
            "2MiB",
            "--max-buffered",
            "1MiB",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("larger than --max-buffered"));
    poetry()
        .args(["serve", "--port", "0", "--max-length", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected bytes"));
}

/// 1,000 clients each declare the maximum length and send a quarter of it,
/// then stall. Without the buffer budget the server would hold about 256 MiB
/// of their bytes; with it, only what the budget admits plus a small
/// per-connection overhead. Meanwhile a normal client is served.
#[test]
fn a_thousand_stalled_big_requests_stay_within_the_budget() {
    const CLIENTS: usize = 1000;
    const MAX: usize = 1024 * 1024;
    const BUDGET: u64 = 32 * 1024 * 1024;
    // Per connection: its first read (at most 16 KiB) and its task, plus the runtime.
    const OVERHEAD: u64 = CLIENTS as u64 * 20 * 1024 + 32 * 1024 * 1024;
    let server = Server::poetry(&[
        "--max-length",
        "1MiB",
        "--max-buffered",
        "32MiB",
        "--max-connections",
        "2000",
        "--timeout",
        "60",
    ]);
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use tokio::io::AsyncWriteExt;
        let chunk = vec![b'A'; MAX / 4];
        let mut streams = Vec::new();
        for _ in 0..CLIENTS {
            let mut s = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(&addr))
                .await
                .expect("connect in time")
                .unwrap();
            s.write_all(format!("{MAX}:cummingsify.").as_bytes())
                .await
                .unwrap();
            streams.push(s);
        }
        // Push the payloads as far as the server (or the kernel) takes them.
        let writes = streams.iter_mut().map(|s| {
            let chunk = &chunk;
            async move {
                let _ = tokio::time::timeout(Duration::from_millis(1500), s.write_all(chunk)).await;
            }
        });
        futures_util::future::join_all(writes).await;

        // The server reads on after the writes return (the kernel buffers
        // them): watch its memory for a while and judge the peak.
        let mut rss = 0;
        for _ in 0..30 {
            rss = rss.max(rss_bytes(server.child.id()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            rss < BUDGET + OVERHEAD,
            "RSS {} MiB over budget {} MiB + overhead {} MiB",
            rss >> 20,
            BUDGET >> 20,
            OVERHEAD >> 20
        );
        // A normal client is still answered.
        let reply = tokio::task::spawn_blocking(move || raw_exchange(&addr, CLASSIC))
            .await
            .unwrap();
        assert_eq!(reply, CLASSIC_REPLY);
        drop(streams);
    });
}

/// A stand-in server that closes its first connection without a reply and
/// answers the next ones properly (the client's canary among them): a
/// client with retries must get the reply.
fn flaky_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for answer in [&b""[..], CLASSIC_REPLY, CLASSIC_REPLY] {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(STEP)).unwrap();
            let mut request = vec![0u8; CLASSIC.len()];
            s.read_exact(&mut request).unwrap();
            s.write_all(answer).unwrap();
        }
    });
    (port, handle)
}

#[test]
fn the_client_retries_a_closed_connection_and_says_so() {
    let (port, server) = flaky_server();
    common::transform_cummingsify(&port.to_string())
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stdout("here is my poem")
        .stderr(predicate::str::contains("retry:").and(predicate::str::contains("without a reply")));
    server.join().unwrap();

    let (port, server) = flaky_server();
    common::transform_cummingsify(&port.to_string())
        .args(["-q"])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stderr("");
    server.join().unwrap();

    // Without retries, the answered canary makes the close a refusal.
    let (port, server) = flaky_server();
    common::transform_cummingsify(&port.to_string())
        .args(["--retries", "0"])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("without a reply"));
    // Let the stand-in finish its last accept.
    let _ = raw_exchange(&format!("127.0.0.1:{port}"), CLASSIC);
    server.join().unwrap();
}

#[test]
fn batch_mode_writes_each_poem_and_reports_failures() {
    let server = Server::poetry(&[]);
    let dir = std::env::temp_dir().join(format!("poetry-batch-{}", std::process::id()));
    let (input, output) = (dir.join("in"), dir.join("out"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&input).unwrap();
    let poems = [
        ("a.txt", "FIRST POEM.\n"),
        ("b.txt", "ΔΕΥΤΕΡΟ ΠΟΙΗΜΑ\n"),
        ("c.txt", "THIRD: Ünïcödé\n"),
    ];
    for (name, text) in poems {
        std::fs::write(input.join(name), text).unwrap();
    }
    std::fs::write(input.join("broken.txt"), b"caf\xe9").unwrap();
    let port = server.port.to_string();
    common::transform_cummingsify(&port)
        .args(["--jobs", "2", "--out-dir"])
        .arg(&output)
        .arg(&input)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("broken.txt: the poem is not UTF-8").and(predicate::str::contains(
                "3 of 4 poems transformed, 0 written unchanged, 1 failed",
            )),
        );
    for (name, text) in poems {
        assert_eq!(
            std::fs::read_to_string(output.join(name)).unwrap(),
            text.to_lowercase()
        );
    }
    assert!(!output.join("broken.txt").exists());

    // Nobody serving: with --fallback each poem is written unchanged, exit 0.
    drop(server);
    let fallback = dir.join("fallback");
    common::transform_cummingsify(&port)
        .args(["--retries", "0", "--fallback", "--out-dir"])
        .arg(&fallback)
        .arg(input.join("a.txt"))
        .arg(input.join("b.txt"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "0 of 2 poems transformed, 2 written unchanged, 0 failed",
        ));
    assert_eq!(
        std::fs::read_to_string(fallback.join("b.txt")).unwrap(),
        poems[1].1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_refuses_to_start_when_max_connections_cannot_fit_the_file_limit() {
    // No system allows a billion open files.
    poetry()
        .args(["serve", "--port", "0", "--max-connections", "1000000000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("open files, but the limit is"));
}

//! End-to-end tests of `poetry bench`: against our server, and against
//! stand-in servers that get the reply wrong in each way the report counts,
//! stall, crawl, hang, or fail while the load warms up.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{closed_port, require, which, Server, STEP};
use predicates::prelude::*;
use serde_json::Value;

const CLASSIC_REQUEST: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// `poetry bench`'s exit code when a run was interrupted, and when `--rate` was not kept.
const INTERRUPTED: i32 = 130;
const SHORTFALL: i32 = 7;

fn bench(port: u16) -> Command {
    let mut cmd = Command::cargo_bin("poetry").unwrap();
    cmd.timeout(STEP * 3)
        .env_remove("RUST_LOG")
        .arg("bench")
        .arg(port.to_string());
    cmd
}

/// Runs `cmd`, which must print one JSON object on stdout; the object and the exit code.
fn run_json(cmd: &mut Command) -> (Value, Option<i32>) {
    let out = cmd.arg("--json").output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code())
}

/// A field of the report that must be a number.
fn num(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} is not a number in {report}"))
}

/// What a stand-in does with a connection once it has read the request.
enum Answer {
    /// Writes these bytes and closes.
    Reply(&'static [u8]),
    /// Keeps the connection open and says nothing, for a test step.
    Hold,
}

/// A stand-in server that takes up to `connections` connections one after
/// another, reads the classic request on each, and does what `answer` says
/// for the n-th (0 is the check `poetry bench` makes before loading), told
/// also how long after that first one it arrived. The count of connections
/// taken so far is shared.
fn stand_in_with(
    connections: usize,
    answer: impl Fn(usize, Duration) -> Answer + Send + 'static,
) -> (u16, Arc<AtomicUsize>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let taken = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&taken);
    let handle = std::thread::spawn(move || {
        let mut first = None;
        let mut held = Vec::new();
        for n in 0..connections {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let since_first = first.get_or_insert_with(Instant::now).elapsed();
            count.fetch_add(1, Ordering::SeqCst);
            stream.set_read_timeout(Some(STEP)).unwrap();
            let mut request = [0; CLASSIC_REQUEST.len()];
            if stream.read_exact(&mut request).is_err() {
                continue;
            }
            assert_eq!(request, CLASSIC_REQUEST);
            match answer(n, since_first) {
                Answer::Reply(reply) => {
                    let _ = stream.write_all(reply);
                }
                Answer::Hold => held.push(stream),
            }
        }
        if !held.is_empty() {
            std::thread::sleep(STEP);
        }
    });
    (port, taken, handle)
}

/// A stand-in that answers every one of `connections` connections with `reply`.
fn stand_in(reply: &'static [u8], connections: usize) -> (u16, JoinHandle<()>) {
    let (port, _, handle) = stand_in_with(connections, move |_, _| Answer::Reply(reply));
    (port, handle)
}

/// A stand-in that answers right, but stops accepting for `stall` after
/// each `serve` of accepting (new connections wait in its backlog), for
/// `lifetime` in all.
fn stalling_stand_in(serve: Duration, stall: Duration, lifetime: Duration) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind("127.0.0.1:0".parse().unwrap())?;
            // Room in the backlog for every connection a stall holds back.
            socket.listen(1024)
        })
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let start = tokio::time::Instant::now();
            let mut phase = start;
            while phase < start + lifetime {
                let stop_accepting = tokio::time::sleep_until(phase + serve);
                tokio::pin!(stop_accepting);
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(answer_right(stream));
                            }
                        }
                        () = &mut stop_accepting => break,
                    }
                }
                phase += serve + stall;
                tokio::time::sleep_until(phase).await;
            }
        });
    });
    port
}

async fn answer_right(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = [0; CLASSIC_REQUEST.len()];
    let read = tokio::time::timeout(STEP, stream.read_exact(&mut request)).await;
    if matches!(read, Ok(Ok(_))) && request == CLASSIC_REQUEST {
        let _ = stream.write_all(CLASSIC_REPLY).await;
    }
}

#[test]
fn a_fixed_number_of_requests_all_verified() {
    let server = Server::poetry(&[]);
    let (report, code) = run_json(bench(server.port).args(["--requests", "500", "--concurrency", "8"]));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["mode"], "closed");
    assert!(report["rate"].is_null());
    assert_eq!(report["requests"], 500);
    assert_eq!(report["ok"], 500);
    assert_eq!(report["errors"]["total"], 0);
    assert!(report["rps"].as_f64().unwrap() > 0.0);
    let ok = &report["latency_us"]["ok"];
    assert_eq!(ok["count"], 500);
    assert!(ok["p50"].as_u64().unwrap() <= ok["p99"].as_u64().unwrap());
    assert!(ok["p99"].as_u64().unwrap() <= ok["max"].as_u64().unwrap());
    assert!(report["latency_us"]["failed"].is_null());
    assert!(report["latency_us"]["timed_out"].is_null());
    // Every request went through every phase; a closed loop has no wait.
    let phases = &report["phases_us"];
    for phase in ["connect", "request_written", "first_reply_byte", "close"] {
        assert_eq!(phases[phase]["count"], 500, "{phase}: {report}");
    }
    assert!(phases["wait"].is_null());
    assert!(report["bytes_per_sec"]["request"].as_f64().unwrap() > 0.0);
    assert!(report["server_cpu_us_per_request"].is_null());
}

#[test]
fn the_human_report_goes_to_stdout_and_no_bar_to_a_pipe() {
    let server = Server::poetry(&[]);
    bench(server.port)
        .args([
            "--requests",
            "50",
            "--concurrency",
            "1",
            "--transform",
            "cummingsify+shout",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("50 in")
                .and(predicate::str::contains("p99.9"))
                .and(predicate::str::contains("first reply byte"))
                .and(predicate::str::contains("closed loop, 1 connection on 1 thread"))
                .and(predicate::str::contains("histogram").not()),
        )
        .stderr(predicate::str::is_empty());
}

#[test]
fn on_a_terminal_the_report_ends_with_a_histogram() {
    let Some(script) = which("script") else {
        require("script (util-linux)", false);
        return;
    };
    let server = Server::poetry(&[]);
    let poetry = assert_cmd::cargo::cargo_bin("poetry");
    let command = format!(
        "{} bench {} --requests 200 --concurrency 4",
        poetry.display(),
        server.port
    );
    // `script` runs the command on a pseudo-terminal of its own.
    let out = Command::new(script)
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .timeout(STEP * 3)
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    let histogram = screen
        .split_once("histogram")
        .unwrap_or_else(|| panic!("no histogram on the terminal:\n{screen}"))
        .1;
    assert!(histogram.contains('█') && histogram.contains("≤"), "{screen}");
}

#[test]
fn the_servers_cpu_time_per_request() {
    let server = Server::poetry(&[]);
    let pid = server.child.id().to_string();
    // A whole second of load: /proc counts CPU time in ticks of 10 ms.
    let (report, code) = run_json(bench(server.port).args(["--duration", "1", "--server-pid", &pid]));
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report["server_cpu_us_per_request"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(report["server_rss_bytes"].as_u64().unwrap() > 0, "{report}");
    assert!(report["idle_rss_bytes_per_connection"].is_null());
}

#[test]
fn cpu_per_request_counts_only_the_requests_answered() {
    // Every request is over this server's cap, so it answers none: its CPU
    // time is not to be spread over requests it refused.
    // Quiet: nobody reads its stderr, and a refusal logs a warning each.
    let server = Server::poetry(&["--max-length", "20", "-qq"]);
    let pid = server.child.id().to_string();
    let (report, code) =
        run_json(bench(server.port).args(["--duration", "0.5", "--concurrency", "4", "--server-pid", &pid]));
    assert_eq!(code, Some(1), "{report}");
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["ok"], 0, "{report}");
    assert!(report["server_cpu_us_per_request"].is_null(), "{report}");
    assert!(report["latency_us"]["ok"].is_null(), "{report}");
    assert_eq!(
        num(&report, "/latency_us/failed/count"),
        num(&report, "/requests"),
        "every refused request has its latency in the failed row: {report}"
    );
}

#[test]
fn idle_connections_are_measured() {
    let server = Server::poetry(&[]);
    let pid = server.child.id().to_string();
    let (report, code) =
        run_json(bench(server.port).args(["--requests", "100", "--server-pid", &pid, "--idle", "50"]));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["idle_connections"], 50);
    assert_eq!(report["idle_accepted"], 50, "{report}");
    assert!(report["idle_rss_bytes_per_connection"].is_f64(), "{report}");
}

#[test]
fn each_wrong_reply_is_counted_by_kind_and_fails_the_run() {
    for (reply, kind) in [
        (&b"15:HERE IS MY POEM,"[..], "wrong_bytes"),
        (b"15:here is", "cut_off"),
        (b"", "closed_without_reply"),
    ] {
        // 20 requests, after the one that checks the server is there.
        let (port, handle) = stand_in(reply, 21);
        let (report, code) = run_json(bench(port).args(["--requests", "20", "--concurrency", "2"]));
        assert_eq!(code, Some(1), "{kind}: {report}");
        assert_eq!(report["requests"], 20, "{kind}: {report}");
        assert_eq!(report["ok"], 0, "{kind}: {report}");
        assert_eq!(report["errors"][kind], 20, "{kind}: {report}");
        assert_eq!(report["errors"]["total"], 20, "{kind}: {report}");
        assert!(report["latency_us"]["ok"].is_null());
        assert_eq!(report["latency_us"]["failed"]["count"], 20, "{kind}: {report}");
        // Only now, with all 21 connections made, is the stand-in sure to end.
        handle.join().unwrap();
    }
}

#[test]
fn a_port_nobody_listens_on_fails_fast_with_the_connect_code() {
    let port = closed_port();
    let started = Instant::now();
    bench(port)
        .args(["--duration", "30", "--concurrency", "64"])
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains(format!("cannot connect to 127.0.0.1:{port}"))
                .and(predicate::str::contains("refused")),
        );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_unknown_transform_is_refused_before_any_traffic() {
    // Nothing listens on port 1: the run must stop before it tries.
    bench(1)
        .args(["--transform", "cummingsfy", "--requests", "1"])
        .assert()
        .failure()
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("unknown transform \"cummingsfy\"")
                .and(predicate::str::contains("did you mean \"cummingsify\"")),
        );
}

#[test]
fn idle_needs_the_server_pid() {
    bench(1)
        .args(["--idle", "10"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--server-pid"));
}

#[test]
fn a_rate_needs_a_duration_and_a_positive_number() {
    for args in [
        &["--rate", "100", "--requests", "10"][..],
        &["--rate", "0"],
        &["--rate", "lots"],
        &["--arrivals", "poisson"],
    ] {
        bench(1)
            .args(args)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty());
    }
}

#[test]
fn a_stall_hides_from_the_closed_loop_and_shows_in_the_open_loop() {
    // Accepts for 1 s, then not for 1 s, and again: any 2 s of load meet
    // a whole second of stall.
    let second = Duration::from_secs(1);
    let port = stalling_stand_in(second, second, Duration::from_secs(10));
    let closed = std::thread::spawn(move || {
        run_json(bench(port).args(["--duration", "2", "--concurrency", "1", "--threads", "1"]))
    });
    let (open, _) = run_json(bench(port).args([
        "--rate",
        "100",
        "--duration",
        "2",
        "--concurrency",
        "500",
        "--threads",
        "1",
    ]));
    let (closed, code) = closed.join().unwrap();
    assert_eq!(code, Some(0), "{closed}");

    // The closed loop met the stall (its slowest request waited it out)
    // but sent nothing while it lasted, so its p99 does not show it.
    let closed_p99 = num(&closed, "/latency_us/ok/p99");
    assert!(num(&closed, "/latency_us/ok/max") >= 500_000.0, "{closed}");
    assert!(
        closed_p99 < 100_000.0,
        "closed-loop p99 {closed_p99} µs: {closed}"
    );

    // The open loop kept sending through the stall, and measured each
    // request from when it was due: about half waited out part of it.
    let open_p99 = num(&open, "/latency_us/ok/p99");
    assert!(open_p99 >= 500_000.0, "open-loop p99 {open_p99} µs: {open}");
    assert_eq!(open["mode"], "open");
    assert_eq!(open["errors"]["total"], 0, "{open}");
    assert_eq!(num(&open, "/rate/due"), 200.0, "{open}");
    assert_eq!(num(&open, "/latency_us/ok/count"), 200.0, "{open}");
    assert_eq!(num(&open, "/rate/late"), 0.0, "500 slots are plenty: {open}");
}

#[test]
fn a_rate_beyond_the_server_fails_with_the_shortfall_code() {
    // 50 replies a second at most, one after another, each after 20 ms.
    let (port, _, _) = stand_in_with(1_000, |_, _| {
        std::thread::sleep(Duration::from_millis(20));
        Answer::Reply(CLASSIC_REPLY)
    });
    let (report, code) = run_json(bench(port).args([
        "--rate",
        "200",
        "--duration",
        "1",
        "--concurrency",
        "4",
        "--threads",
        "1",
    ]));
    assert_eq!(code, Some(SHORTFALL), "{report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    let rate = &report["rate"];
    assert_eq!(rate["target_rps"], 200.0);
    assert_eq!(rate["arrivals"], "uniform");
    assert_eq!(rate["due"], 200, "{report}");
    assert_eq!(rate["shortfall"], true);
    assert!(num(rate, "/achieved_rps") < 100.0, "{report}");
    // Four slots could not keep up: requests waited for one, and those
    // still waiting at the end were never sent.
    assert!(num(rate, "/late") > 0.0, "{report}");
    assert!(num(rate, "/unsent") > 0.0, "{report}");
    assert_eq!(
        num(rate, "/unsent") + num(&report, "/requests"),
        200.0,
        "every request due was either sent and judged, or counted unsent: {report}"
    );
    // Waiting for a slot counts: latency runs from when each was due.
    assert!(num(&report, "/latency_us/ok/p99") >= 300_000.0, "{report}");
    // The kernel completes the handshake at once; the 20 ms is the server's.
    assert!(
        num(&report, "/phases_us/first_reply_byte/p50") >= 20_000.0,
        "{report}"
    );
    assert!(num(&report, "/phases_us/connect/p50") < 20_000.0, "{report}");
    assert!(num(&report, "/phases_us/wait/p99") >= 100_000.0, "{report}");
}

#[test]
fn a_rate_the_server_keeps_passes_and_writes_the_spectrum() {
    let server = Server::poetry(&[]);
    let dir = std::env::temp_dir().join(format!("poetry-bench-hist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("latency.hgrm");
    let (report, code) = run_json(bench(server.port).args([
        "--rate",
        "200",
        "--duration",
        "1",
        "--hist",
        file.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["rate"]["due"], 200, "{report}");
    assert_eq!(report["rate"]["unsent"], 0, "{report}");
    assert_eq!(report["rate"]["shortfall"], false, "{report}");
    let achieved = num(&report, "/rate/achieved_rps");
    assert!((190.0..=210.0).contains(&achieved), "{report}");

    let spectrum = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        spectrum.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
        "{spectrum}"
    );
    let last = spectrum
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .last()
        .unwrap();
    let columns: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(columns[1], "1.000000000000", "{spectrum}");
    assert_eq!(columns[2], report["requests"].to_string(), "{spectrum}");
    let max_ms: f64 = columns[0].parse().unwrap();
    assert!(
        (max_ms * 1000.0 - num(&report, "/latency_us/ok/max")).abs() < 1.0,
        "{spectrum}"
    );
}

#[test]
fn the_warm_up_is_left_out_of_every_figure() {
    // Fails every request in its first half second, then answers right:
    // a server still starting, say.
    let (port, _, _) = stand_in_with(1_000_000, |_, since_first| {
        Answer::Reply(if since_first < Duration::from_millis(500) {
            b""
        } else {
            CLASSIC_REPLY
        })
    });
    let (report, code) = run_json(bench(port).args([
        "--warmup",
        "1",
        "--duration",
        "0.5",
        "--concurrency",
        "2",
        "--threads",
        "1",
    ]));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    assert!(num(&report, "/requests") > 0.0, "{report}");
    assert!(num(&report, "/warmup/failed") > 0.0, "{report}");
    let window = num(&report, "/window_secs");
    assert!((0.5..0.6).contains(&window), "{report}");
    assert!(
        report["notes"][0].as_str().unwrap().contains("warm-up failed"),
        "{report}"
    );
}

#[test]
fn a_hung_request_times_out_in_its_own_row_and_stretches_nothing() {
    // The 5th request gets no answer at all.
    let (port, _, _) = stand_in_with(21, |n, _| {
        if n == 5 {
            Answer::Hold
        } else {
            Answer::Reply(CLASSIC_REPLY)
        }
    });
    let (report, code) =
        run_json(bench(port).args(["--requests", "20", "--concurrency", "2", "--timeout", "0.5"]));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], 19, "{report}");
    assert_eq!(report["errors"]["timeout"], 1, "{report}");
    let hung = &report["latency_us"]["timed_out"];
    assert_eq!(hung["count"], 1, "{report}");
    assert!(num(hung, "/max") >= 500_000.0, "{report}");
    assert_eq!(report["latency_us"]["ok"]["count"], 19, "{report}");
    // The window ends with the last request that did not time out.
    assert!(num(&report, "/window_secs") < 0.4, "{report}");
    assert!(num(&report, "/rps") > 19.0 / 0.4, "{report}");
}

#[test]
fn ctrl_c_prints_what_was_measured() {
    let (port, taken, _) = stand_in_with(1_000_000, |_, _| Answer::Reply(CLASSIC_REPLY));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("poetry"))
        .args([
            "bench",
            &port.to_string(),
            "--duration",
            "20",
            "--concurrency",
            "2",
            "--json",
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the load to be under way: 50 requests after the check.
    let deadline = Instant::now() + STEP;
    while taken.load(Ordering::SeqCst) < 51 {
        assert!(Instant::now() < deadline, "the load never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let interrupted_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let code = child.wait().unwrap().code();
    assert!(interrupted_at.elapsed() < STEP, "{:?}", interrupted_at.elapsed());
    assert_eq!(code, Some(INTERRUPTED), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(num(&report, "/requests") >= 49.0, "{report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    assert!(num(&report, "/window_secs") < 10.0, "{report}");
}

#[test]
fn a_server_gone_after_the_check_is_counted_as_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // Gone before the check's connection ends, so before the load starts.
        drop(listener);
        drop(stream);
    });
    let (report, code) = run_json(bench(port).args(["--requests", "5", "--concurrency", "1"]));
    handle.join().unwrap();
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["errors"]["refused"], 5, "{report}");
}

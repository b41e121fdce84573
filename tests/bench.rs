//! End-to-end tests of `poetry bench`: against our server, and against
//! stand-in servers that get the reply wrong in each way the report counts.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use assert_cmd::Command;
use common::{Server, STEP};
use predicates::prelude::*;
use serde_json::Value;

const CLASSIC_REQUEST: &[u8] = b"27:cummingsify.HERE IS MY POEM,";

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

/// A stand-in server that takes `connections` connections one after another,
/// reads the classic request on each, answers `reply`, and closes.
fn stand_in(reply: &'static [u8], connections: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(STEP)).unwrap();
            let mut request = [0; CLASSIC_REQUEST.len()];
            stream.read_exact(&mut request).unwrap();
            assert_eq!(request, CLASSIC_REQUEST);
            stream.write_all(reply).unwrap();
        }
    });
    (port, handle)
}

#[test]
fn a_fixed_number_of_requests_all_verified() {
    let server = Server::poetry(&[]);
    let (report, code) = run_json(bench(server.port).args(["--requests", "500", "--concurrency", "8"]));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["requests"], 500);
    assert_eq!(report["ok"], 500);
    assert_eq!(report["errors"]["total"], 0);
    assert!(report["rps"].as_f64().unwrap() > 0.0);
    let latency = &report["latency_us"];
    assert!(latency["p50"].as_u64().unwrap() <= latency["p99"].as_u64().unwrap());
    assert!(latency["p99"].as_u64().unwrap() <= latency["max"].as_u64().unwrap());
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
            "4",
            "--transform",
            "cummingsify+shout",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("50 in").and(predicate::str::contains("p99.9")))
        .stderr(predicate::str::is_empty());
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
        let (port, handle) = stand_in(reply, 20);
        let (report, code) = run_json(bench(port).args(["--requests", "20", "--concurrency", "2"]));
        assert_eq!(code, Some(1), "{kind}: {report}");
        assert_eq!(report["requests"], 20, "{kind}: {report}");
        assert_eq!(report["ok"], 0, "{kind}: {report}");
        assert_eq!(report["errors"][kind], 20, "{kind}: {report}");
        assert_eq!(report["errors"]["total"], 20, "{kind}: {report}");
        assert!(report["latency_us"].is_null());
        // Only now, with all 20 connections made, is the stand-in sure to end.
        handle.join().unwrap();
    }
}

#[test]
fn a_port_nobody_listens_on_is_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (report, code) = run_json(bench(port).args(["--requests", "5", "--concurrency", "1"]));
    assert_eq!(code, Some(1));
    assert_eq!(report["errors"]["refused"], 5, "{report}");
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

//! The deployment files agree with the server they deploy: the systemd unit's
//! limits fit the flags it passes (read with the server's own argument
//! parser, defaults included), its hardening is in place, and systemd accepts
//! it; HAProxy's timeouts and connection caps fit the server's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/poetry.service");
const HAPROXY_CFG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");

/// Where the unit expects the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/poetry";

/// Descriptors the server keeps besides one per connection (its start-up check).
const SPARE_FDS: usize = 64;

/// The `key=value` entries of a unit file, with their section, in order
/// (a key may repeat, as SystemCallFilter= does).
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a key=value line: {line:?}"));
        entries.push((section.clone(), key.trim().to_owned(), value.trim().to_owned()));
    }
    entries
}

/// The last value of `key` in `[Service]` (later ones override earlier ones).
fn service<'a>(entries: &'a [(String, String, String)], key: &str) -> &'a str {
    entries
        .iter()
        .rev()
        .find(|(section, k, _)| section == "Service" && k == key)
        .map(|(_, _, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {key}= in [Service]"))
}

/// A systemd time span in whole seconds or with an `s`, `min` suffix.
fn systemd_secs(value: &str) -> Duration {
    let (number, unit) = value
        .find(|c: char| !c.is_ascii_digit())
        .map_or((value, ""), |at| value.split_at(at));
    let n: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("not a time span: {value:?}"));
    match unit.trim() {
        "" | "s" | "sec" => Duration::from_secs(n),
        "min" | "m" => Duration::from_secs(n * 60),
        other => panic!("unexpected unit {other:?} in {value:?}"),
    }
}

/// The settings `poetry serve --check-config` reports (the ones checked here).
#[derive(Debug, Deserialize)]
struct ServeArgs {
    iface: String,
    proxy_protocol: bool,
    proxy_from: Vec<String>,
    http_port: Option<u16>,
    metrics_port: Option<u16>,
    max_connections: usize,
    #[serde(rename = "timeout_secs", deserialize_with = "secs")]
    timeout: Duration,
    #[serde(rename = "shutdown_timeout_secs", deserialize_with = "secs")]
    shutdown_timeout: Duration,
}

fn secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_secs_f64(f64::deserialize(d)?))
}

/// The unit's ExecStart, read by `poetry` itself: its own argument parser
/// and defaults, through `serve --check-config`.
fn serve_args(exec_start: &str) -> ServeArgs {
    let words: Vec<&str> = exec_start.split_whitespace().collect();
    assert_eq!(words[0], INSTALLED_BINARY, "{exec_start}");
    assert_eq!(
        words.get(1),
        Some(&"serve"),
        "ExecStart runs {exec_start:?}, not serve"
    );
    let out = common::poetry()
        .args(&words[1..])
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ExecStart does not pass --check-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--check-config prints JSON")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn the_unit_fits_the_servers_limits_and_is_hardened() {
    let entries = unit_entries(&read(UNIT));
    let args = serve_args(service(&entries, "ExecStart"));
    assert!(args.proxy_protocol, "the unit is for instances behind HAProxy");
    assert!(args.metrics_port.is_some(), "Prometheus scrapes the metrics port");
    assert!(
        args.http_port.is_none(),
        "the HTTP API is not for a balanced instance"
    );
    // HAProxy is the public face: the instance listens on loopback and
    // believes PROXY headers from loopback alone.
    assert_eq!(args.iface, "127.0.0.1");
    assert_eq!(args.proxy_from, ["127.0.0.1/32"]);

    let stop = systemd_secs(service(&entries, "TimeoutStopSec"));
    assert!(
        stop > args.shutdown_timeout,
        "systemd would SIGKILL ({stop:?}) before requests in flight had their {:?}",
        args.shutdown_timeout
    );
    let nofile: usize = service(&entries, "LimitNOFILE").parse().expect("a number");
    assert!(
        nofile >= args.max_connections + SPARE_FDS,
        "LimitNOFILE={nofile} is too low for --max-connections {}: the server would refuse to start",
        args.max_connections
    );

    for (key, value) in [
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(service(&entries, key), value, "{key}=");
    }
    assert!(
        entries
            .iter()
            .any(|(section, key, value)| section == "Install" && key == "WantedBy" && !value.is_empty()),
        "no WantedBy= in [Install]: `systemctl enable` would do nothing"
    );
}

/// The unit as systemd would load it, with the binary at the path this build
/// has (the only change), in a fresh directory.
fn unit_for_this_build(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("poetry");
    let unit = read(UNIT).replace(INSTALLED_BINARY, binary.to_str().expect("a UTF-8 path"));
    let path = dir.join("poetry.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn systemd_accepts_the_unit_without_a_warning() {
    let analyze = common::which("systemd-analyze");
    if !common::require("systemd-analyze", analyze.is_some()) {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("unit-{}", std::process::id()));
    let unit = unit_for_this_build(&dir);
    // `verify` exits 0 even for unknown keys or bad values, which it only
    // warns about: any output is a failure here.
    let verify = Command::new(analyze.as_ref().unwrap())
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let said =
        String::from_utf8_lossy(&verify.stderr).into_owned() + &String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");

    // The hardening, as systemd scores it (0 is best, 10 worst).
    let security = Command::new(analyze.as_ref().unwrap())
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze security");
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| line.split_once("Overall exposure level for poetry.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{report}{}",
                String::from_utf8_lossy(&security.stderr)
            )
        });
    assert!(exposure <= 2.0, "exposure {exposure} (was 1.5):\n{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `timeout NAME VALUE` lines of haproxy.cfg, in seconds.
fn haproxy_timeout(config: &str, name: &str) -> Duration {
    let value = config
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut words| {
            (words.next() == Some("timeout") && words.next() == Some(name)).then(|| words.next())?
        })
        .unwrap_or_else(|| panic!("no `timeout {name}` in haproxy.cfg"));
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let n: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("timeout {name} {value}"));
    match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(60 * n),
        other => panic!("unexpected unit {other:?} in timeout {name} {value}"),
    }
}

#[test]
fn haproxy_sets_every_timeout_and_leaves_the_server_in_charge_of_slow_clients() {
    let config = read(HAPROXY_CFG);
    let defaults = serve_args(&format!("{INSTALLED_BINARY} serve"));
    for name in ["connect", "client", "server", "check", "queue"] {
        assert!(haproxy_timeout(&config, name) > Duration::ZERO, "timeout {name}");
    }
    // The server gives a request --timeout to arrive; HAProxy cutting the
    // connection first would hide the server's own, logged, verdict.
    for name in ["client", "server"] {
        assert!(
            haproxy_timeout(&config, name) > defaults.timeout,
            "timeout {name} is not above the server's --timeout {:?}",
            defaults.timeout
        );
    }
    // HAProxy queues connections beyond each server's maxconn; above the
    // server's own --max-connections they would wait in its backlog instead.
    let maxconn: usize = config
        .lines()
        .find(|line| line.trim_start().starts_with("default-server "))
        .and_then(|line| line.split_whitespace().skip_while(|w| *w != "maxconn").nth(1))
        .and_then(|n| n.parse().ok())
        .expect("maxconn on default-server");
    assert!(maxconn <= defaults.max_connections, "maxconn {maxconn}");
    for needed in [
        "option tcp-check",
        "option redispatch",
        "retries 3",
        "send-proxy-v2",
        "check-send-proxy",
        "tcp-check send \"27:cummingsify.HERE IS MY POEM,\"",
        "tcp-check expect string \"15:here is my poem,\"",
    ] {
        assert!(config.contains(needed), "no {needed:?} in haproxy.cfg");
    }
}

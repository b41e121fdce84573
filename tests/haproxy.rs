//! `poetry serve` behind HAProxy, run with the committed deploy/haproxy.cfg
//! unmodified (its addresses come from environment variables): three
//! instances, one of them SIGKILLed under load and restarted on its port.
//! HAProxy's health check (the classic round trip, PROXY header included)
//! must mark it DOWN and then UP again, and every request must end with the
//! right reply: HAProxy retries refused connections on another instance,
//! and the client retries the few requests that were in flight on the
//! instance at the instant it died (TCP cannot replay those).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Server, STEP};

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");
const BACKEND: &str = "poetry_servers";
const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";
/// Requests sent through HAProxy at the least.
const MIN_REQUESTS: usize = 2000;
/// Poems per `poetry transform` batch run: the load is run after run of them.
const POEMS_PER_RUN: usize = 500;
/// Requests that must have gone through the frontend before the kill.
const REQUESTS_BEFORE_KILL: u64 = 300;
/// How long the whole load may take, kill and restart included.
const LOAD_LIMIT: Duration = Duration::from_secs(25);

/// One `poetry serve --proxy-protocol` instance, its debug log drained by a
/// thread (a full pipe would stall the server) and handed over when it exits.
struct Instance {
    server: Server,
    log: JoinHandle<String>,
}

impl Instance {
    /// Starts an instance on `port` (0: any free port).
    fn start(port: u16) -> Instance {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("poetry"));
        command.args(["serve", "--port", &port.to_string()]).args([
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.1",
            "--metrics-port",
            "0",
            "-v",
        ]);
        let mut server = Server::start(command);
        let mut stderr = server.take_stderr().expect("stderr is piped");
        let log = std::thread::spawn(move || {
            let mut log = String::new();
            let _ = stderr.read_to_string(&mut log);
            log
        });
        Instance { server, log }
    }

    /// Stops the instance with SIGTERM (it finishes what it is serving) and returns its log.
    fn stop(mut self) -> String {
        self.server.signal("TERM");
        assert_eq!(self.server.wait_exit(STEP).code(), Some(0));
        self.log.join().expect("the log reader")
    }

    /// Requests it answered that came through HAProxy (health checks carry a
    /// LOCAL PROXY header, so their lines have no `via=`).
    fn relayed(log: &str) -> usize {
        log.lines()
            .filter(|line| line.contains(" replied peer=127.0.0.1:") && line.contains(" via=127.0.0.1:"))
            .count()
    }
}

/// HAProxy in the foreground, its output drained, killed on drop.
struct Haproxy {
    child: Child,
    socket: PathBuf,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Haproxy {
    fn start(haproxy: &Path, frontend: u16, instances: &[u16], socket: PathBuf) -> Haproxy {
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new(haproxy);
        command
            .args(["-f", CONFIG, "-db"])
            .env("POETRY_FRONTEND", format!("127.0.0.1:{frontend}"))
            .env("HAPROXY_STATS_SOCKET", &socket)
            // Fast checks, so that DOWN and UP come within a second or so.
            .env("POETRY_CHECK_INTER", "200ms")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (i, port) in instances.iter().enumerate() {
            command.env(format!("POETRY_{}", i + 1), format!("127.0.0.1:{port}"));
        }
        let mut child = command.spawn().expect("start haproxy");
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = Some(drain(Box::new(child.stdout.take().unwrap())));
        let stderr = Some(drain(Box::new(child.stderr.take().unwrap())));
        Haproxy {
            child,
            socket,
            stdout,
            stderr,
        }
    }

    /// Kills HAProxy; everything it wrote (its log, then its warnings).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut output = self.stdout.take().unwrap().join().unwrap();
        output += &self.stderr.take().unwrap().join().unwrap();
        output
    }

    /// Fails the test, with HAProxy's output, if HAProxy has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            let output = self.stderr.take().unwrap().join().unwrap();
            panic!("haproxy exited ({status}):\n{output}");
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// One row of `show stat`: field name to value.
type Row = HashMap<String, String>;

/// `show stat` on HAProxy's admin socket, by svname (FRONTEND, BACKEND or a server).
fn show_stat(socket: &Path) -> std::io::Result<HashMap<String, Row>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(STEP))?;
    stream.set_write_timeout(Some(STEP))?;
    stream.write_all(b"show stat\n")?;
    let mut csv = String::new();
    stream.read_to_string(&mut csv)?;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .ok_or_else(|| std::io::Error::other(format!("not a stats CSV: {csv:?}")))?
        .split(',')
        .collect();
    Ok(lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let row: Row = header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                .collect();
            (row["svname"].clone(), row)
        })
        .collect())
}

fn field<'a>(stats: &'a HashMap<String, Row>, svname: &str, name: &str) -> &'a str {
    &stats[svname][name]
}

fn number(stats: &HashMap<String, Row>, svname: &str, name: &str) -> u64 {
    field(stats, svname, name)
        .parse()
        .unwrap_or_else(|_| panic!("{svname} {name} is not a number: {:?}", stats[svname]))
}

/// Polls `show stat` until `ready` holds, at most `limit`.
fn wait_for_stats(
    socket: &Path,
    what: &str,
    limit: Duration,
    mut ready: impl FnMut(&HashMap<String, Row>) -> bool,
) -> HashMap<String, Row> {
    let start = Instant::now();
    loop {
        let last = match show_stat(socket) {
            Ok(stats) if ready(&stats) => return stats,
            Ok(stats) => {
                let mut rows: Vec<String> = stats.keys().map(|name| summary(&stats, name)).collect();
                rows.sort();
                rows.join("; ")
            }
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < limit,
            "no {what} within {limit:?}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fields of a server's row that matter here, for failure messages.
fn summary(stats: &HashMap<String, Row>, svname: &str) -> String {
    let fields = [
        "status",
        "stot",
        "wretr",
        "wredis",
        "chkfail",
        "chkdown",
        "check_status",
    ];
    let values: Vec<String> = fields
        .iter()
        .map(|name| format!("{name}={}", stats[svname][*name]))
        .collect();
    format!("{svname}: {}", values.join(" "))
}

fn status_is(stats: &HashMap<String, Row>, svname: &str, status: &str) -> bool {
    stats.get(svname).is_some_and(|row| row["status"] == status)
}

/// The haproxy binary (Debian installs it in /usr/sbin, which a user's PATH
/// may lack); `None` (the test skips) when it is missing outside CI.
fn haproxy() -> Option<PathBuf> {
    let found = common::which("haproxy").or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/haproxy");
        sbin.is_file().then_some(sbin)
    });
    common::require("haproxy", found.is_some());
    found
}

/// A port that was free a moment ago, for HAProxy to bind.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `poetry_requests_total` for classic netstring requests that ended well,
/// from the instance's metrics port.
fn ok_requests(metrics_port: u16) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(STEP))
        .build()
        .into();
    let text = agent
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .call()
        .expect("GET /metrics")
        .body_mut()
        .read_to_string()
        .expect("the metrics text");
    let series = r#"poetry_requests_total{outcome="ok",protocol="netstring",transform="cummingsify"} "#;
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .map_or(0, |count| count.parse().expect("a count"))
}

/// Polls the metrics until they count at least `at_least` (a request is
/// counted just after its reply is sent), at most `STEP`; the count.
fn ok_requests_reaching(metrics_port: u16, at_least: u64) -> u64 {
    let start = Instant::now();
    loop {
        let count = ok_requests(metrics_port);
        if count >= at_least || start.elapsed() > STEP {
            return count;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Distinct poems, so that a reply given to the wrong request shows.
fn write_poems(dir: &Path) -> Vec<(PathBuf, String)> {
    std::fs::create_dir_all(dir).unwrap();
    (0..POEMS_PER_RUN)
        .map(|i| {
            let name = format!("poem-{i:03}.txt");
            let poem = format!("POEM NUMBER {i} FOR THE BALANCER.\nHERE IS MY POEM, THROUGH HAPROXY.\n");
            std::fs::write(dir.join(&name), &poem).unwrap();
            (PathBuf::from(name), poem.to_lowercase())
        })
        .collect()
}

/// One `poetry transform` batch over all the poems through the frontend,
/// with client retries; checks every result and returns how many there were.
fn transform_run(frontend: u16, poems_dir: &Path, out_dir: &Path, expected: &[(PathBuf, String)]) -> usize {
    let _ = std::fs::remove_dir_all(out_dir);
    let output = assert_cmd::Command::cargo_bin("poetry")
        .unwrap()
        .timeout(STEP * 2)
        .args(["transform", "cummingsify", "--server"])
        .arg(format!("127.0.0.1:{frontend}"))
        .args([
            "--retries",
            "3",
            "--jobs",
            "8",
            "--timeout",
            "10",
            "-q",
            "--out-dir",
        ])
        .arg(out_dir)
        .arg(poems_dir)
        .output()
        .expect("run poetry transform");
    assert!(
        output.status.success(),
        "a batch through HAProxy failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for (name, want) in expected {
        let got = std::fs::read_to_string(out_dir.join(name))
            .unwrap_or_else(|e| panic!("no result for {}: {e}", name.display()));
        assert_eq!(&got, want, "{}", name.display());
    }
    expected.len()
}

#[test]
fn haproxy_balances_and_survives_an_instance_killed_under_load() {
    let Some(haproxy) = haproxy() else {
        return;
    };
    let test_started = Instant::now();
    let mut instances: Vec<Instance> = (0..3).map(|_| Instance::start(0)).collect();
    let ports: Vec<u16> = instances.iter().map(|i| i.server.port).collect();
    let frontend = free_port();
    let socket = std::env::temp_dir().join(format!("poetry-haproxy-{}-{frontend}.sock", std::process::id()));
    let mut proxy = Haproxy::start(&haproxy, frontend, &ports, socket.clone());

    let servers = ["poetry1", "poetry2", "poetry3"];
    wait_for_stats(
        &socket,
        "frontend OPEN and all three instances UP",
        STEP,
        |stats| status_is(stats, "FRONTEND", "OPEN") && servers.iter().all(|s| status_is(stats, s, "UP")),
    );
    proxy.assert_running();

    // One request whose client port is known, to find in an instance's log.
    let mut probe = common::connect(&format!("127.0.0.1:{frontend}"));
    let probe_port = probe.local_addr().unwrap().port();
    probe.write_all(CLASSIC).unwrap();
    let mut reply = Vec::new();
    probe.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, CLASSIC_REPLY);

    // Kill poetry2 once the load is well under way, then restart it on the
    // same port, each step waiting for HAProxy's verdict.
    let victim = instances.remove(1);
    let victim_port = victim.server.port;
    let killer_socket = socket.clone();
    let killer = std::thread::spawn(move || {
        wait_for_stats(&killer_socket, "load through the frontend", LOAD_LIMIT, |stats| {
            number(stats, "FRONTEND", "stot") >= REQUESTS_BEFORE_KILL
        });
        let Instance { mut server, log } = victim;
        server.child.kill().expect("SIGKILL the instance");
        server.child.wait().unwrap();
        let killed_log = log.join().expect("the log reader");
        wait_for_stats(&killer_socket, "poetry2 DOWN", STEP, |stats| {
            status_is(stats, "poetry2", "DOWN")
        });
        let restarted = Instance::start(victim_port);
        assert_eq!(restarted.server.port, victim_port);
        wait_for_stats(&killer_socket, "poetry2 UP again", STEP, |stats| {
            status_is(stats, "poetry2", "UP")
        });
        (killed_log, restarted)
    });

    // The load: batch after batch until the kill-and-restart is over, then
    // one more so that the restarted instance takes its share.
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("haproxy-{}", std::process::id()));
    let poems_dir = work.join("poems");
    let expected = write_poems(&poems_dir);
    let load_started = Instant::now();
    let mut served = 0;
    loop {
        let cycle_over = killer.is_finished();
        served += transform_run(frontend, &poems_dir, &work.join("out"), &expected);
        if cycle_over && served >= MIN_REQUESTS {
            break;
        }
        assert!(
            load_started.elapsed() < LOAD_LIMIT,
            "the kill and restart did not finish within {LOAD_LIMIT:?}"
        );
    }
    let load_time = load_started.elapsed();
    let (killed_log, restarted) = killer.join().expect("the kill-and-restart thread");
    proxy.assert_running();
    let _ = std::fs::remove_dir_all(&work);

    let stats = show_stat(&socket).expect("show stat");
    // Every client connection (the probe too) went through the frontend.
    assert!(
        number(&stats, "FRONTEND", "stot") > served as u64,
        "{}",
        summary(&stats, "FRONTEND")
    );
    // The health check, not only traffic, took poetry2 out and back.
    assert!(
        number(&stats, "poetry2", "chkdown") >= 1,
        "{}",
        summary(&stats, "poetry2")
    );
    // Connections refused by the dead instance before it was marked DOWN
    // went to another one (`retries` with `option redispatch`).
    assert!(
        number(&stats, "poetry2", "wredis") > 0,
        "{}",
        summary(&stats, "poetry2")
    );

    // The survivors' metrics account for every connection HAProxy gave them
    // (and for the health checks on top).
    let survivors = [("poetry1", &instances[0]), ("poetry3", &instances[1])];
    for (name, instance) in survivors {
        let sessions = number(&stats, name, "stot");
        assert!(sessions > 0, "{name} served nothing: {}", summary(&stats, name));
        let metrics_port = instance.server.metrics_port.unwrap();
        let ok = ok_requests_reaching(metrics_port, sessions);
        assert!(
            ok >= sessions,
            "{name}: metrics count {ok} requests, HAProxy sent {sessions}"
        );
    }
    let restarted_metrics = restarted.server.metrics_port.unwrap();
    let restarted_ok = ok_requests(restarted_metrics);
    let proxy_output = proxy.stop();

    let mut logs = vec![killed_log];
    logs.extend(instances.into_iter().map(Instance::stop));
    let restarted_log = restarted.stop();
    // The restarted instance served clients, not just health checks, and
    // counted them.
    let relayed = Instance::relayed(&restarted_log) as u64;
    assert!(
        relayed > 0,
        "the restarted instance served no client:\n{restarted_log}"
    );
    assert!(
        restarted_ok >= relayed,
        "metrics {restarted_ok} < {relayed} requests logged"
    );
    logs.push(restarted_log);

    // The instances log the client HAProxy relays, not HAProxy itself.
    let probe_line = format!(" replied peer=127.0.0.1:{probe_port} via=127.0.0.1:");
    assert!(
        logs.iter().any(|log| log.contains(&probe_line)),
        "no instance logged {probe_line:?}"
    );

    // HAProxy's log says what happened to poetry2.
    for event in ["is DOWN", "is UP"] {
        let line = format!("Server {BACKEND}/poetry2 {event}");
        assert!(proxy_output.contains(&line), "no {line:?} in:\n{proxy_output}");
    }
    eprintln!(
        "{served} requests through HAProxy in {load_time:.1?}; whole test {:.1?}",
        test_started.elapsed()
    );
}

/// The committed file is valid as HAProxy reads it, with the defaults an operator gets.
#[test]
fn the_config_passes_haproxy_check() {
    let Some(haproxy) = haproxy() else {
        return;
    };
    let mut command = Command::new(haproxy);
    command.args(["-c", "-f", CONFIG]);
    for var in [
        "POETRY_FRONTEND",
        "POETRY_1",
        "POETRY_2",
        "POETRY_3",
        "POETRY_CHECK_INTER",
    ] {
        command.env_remove(var);
    }
    let output = command.output().expect("run haproxy -c");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

//! Helpers shared by the integration tests: real processes on real sockets,
//! every wait bounded.
#![allow(dead_code)] // each test binary uses its own subset

pub mod broken;
pub mod suite;
pub mod twisted;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long any single network step or process start may take in tests.
pub const STEP: Duration = Duration::from_secs(10);

/// A running `poetry serve` (or any server that prints its address), ended on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The first line the server printed on stdout.
    pub banner: String,
    /// The HTTP port, from the second line, when the server was started with `--http-port`.
    pub http_port: Option<u16>,
    /// The metrics port, from the line after, when started with `--metrics-port`.
    pub metrics_port: Option<u16>,
}

impl Server {
    /// Starts `poetry serve --port 0 <args>` and waits for its "Serving" line.
    pub fn poetry(args: &[&str]) -> Server {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("poetry"));
        command.args(["serve", "--port", "0"]).args(args);
        Server::start(command)
    }

    /// Starts `command` (stdout piped) and waits for a line holding `:PORT`
    /// (and for the HTTP and metrics ports' lines, when `command` has
    /// `--http-port` or `--metrics-port`).
    pub fn start(mut command: Command) -> Server {
        let serves_http = command.get_args().any(|arg| arg == "--http-port");
        let serves_metrics = command.get_args().any(|arg| arg == "--metrics-port");
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        if command.get_envs().all(|(k, _)| k != "RUST_LOG") {
            command.stderr(Stdio::piped());
        }
        let mut child = command.spawn().expect("start the server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the lines wanted (the receiver is gone by then)
            // so that the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut next_line = || match rx.recv_timeout(STEP) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!("server printed no address line within {STEP:?}; stderr: {err}");
            }
        };
        let banner = next_line();
        let port = port_in(&banner).unwrap_or_else(|| panic!("no port in {banner:?}"));
        let mut port_line = |what: &str| {
            let line = next_line();
            port_in(&line).unwrap_or_else(|| panic!("no {what} port in {line:?}"))
        };
        let http_port = serves_http.then(|| port_line("HTTP"));
        let metrics_port = serves_metrics.then(|| port_line("metrics"));
        Server {
            child,
            port,
            banner,
            http_port,
            metrics_port,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Takes the server's stderr (to read its logs), if it was piped.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the server to exit, at most `limit`; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "server did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in a line such as `Serving transforms on 127.0.0.1:4242.`
pub fn port_in(line: &str) -> Option<u16> {
    let tail = &line[line.rfind(':')? + 1..];
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Connects to `addr` with every step bounded by `STEP`.
pub fn connect(addr: &str) -> TcpStream {
    let sock_addr = addr.parse().expect("a socket address");
    let stream = TcpStream::connect_timeout(&sock_addr, STEP).expect("connect");
    stream.set_read_timeout(Some(STEP)).unwrap();
    stream.set_write_timeout(Some(STEP)).unwrap();
    stream
}

/// Sends raw bytes and reads until the server closes (or `STEP` passes).
pub fn raw_exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    raw_exchange_with(addr, request, false)
}

/// Like `raw_exchange`; with `half_close`, shuts the write side after sending.
pub fn raw_exchange_with(addr: &str, request: &[u8], half_close: bool) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(request).expect("send");
    if half_close {
        stream.shutdown(std::net::Shutdown::Write).expect("half-close");
    }
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading the reply from {addr}: {e}"),
    }
    reply
}

/// A netstring holding `payload`.
pub fn netstring(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out.push(b',');
    out
}

/// True when `CI=true`: an outside tool that is missing fails the test there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (returns false, saying so) when `tool` is missing on a developer's
/// machine; fails in CI, where `.ci/run` installs it.
pub fn require(tool: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if in_ci() {
        panic!("{tool} is required in CI (CI=true) but is not available");
    }
    eprintln!("skipped: {tool} is not available on this machine (.ci/run installs it)");
    false
}

/// The path of `program` on PATH, if any.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The `poetry` binary, with every run bounded by `STEP` and none of the
/// environment variables it reads inherited from the developer's shell.
pub fn poetry() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("poetry").unwrap();
    cmd.timeout(STEP)
        .env_remove("POETRY_HOST")
        .env_remove("POETRY_PORT")
        .env_remove("RUST_LOG");
    cmd
}

/// `poetry transform cummingsify --port PORT`, the client's most common call.
pub fn transform_cummingsify(port: &str) -> assert_cmd::Command {
    let mut cmd = poetry();
    cmd.args(["transform", "cummingsify", "--port", port]);
    cmd
}

/// Stops the server with SIGTERM, checks it exits 0, and returns its log.
pub fn stop_and_read_log(server: &mut Server) -> String {
    server.signal("TERM");
    assert_eq!(server.wait_exit(STEP).code(), Some(0));
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    log
}

/// An HTTP client that never waits longer than a test step and hands back
/// error statuses as responses, to be checked.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(STEP))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A stand-in server on a free port: accepts ONE connection, reads the
/// request, then does whatever `behave` does with the socket.
pub fn fake_server<F>(behave: F) -> (u16, std::thread::JoinHandle<()>)
where
    F: FnOnce(std::net::TcpStream) + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(STEP)).unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        behave(stream);
    });
    (port, handle)
}

/// A port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

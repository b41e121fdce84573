//! The rest of the tutorial's system: `poetry recite` (the poetry server) and
//! `poetry get` (the get-poetry client), checked on raw sockets, against each
//! other, and against the Twisted scripts of `tests/interop/` both ways; and
//! the whole Part 13 flow end to end (poetry servers, a transformation server,
//! the client that keeps the original poem when the transform fails).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{poetry, Server, STEP};
use predicates::prelude::*;

const HARBOUR: &str = "the-harbour-at-dusk.txt";
const KITCHEN: &str = "kitchen-inventory.txt";
const LETTERS: &str = "letters-from-kyiv-and-crete.txt";

/// The path of a poem in `poems/`.
fn poem(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("poems").join(name)
}

/// The text of a poem in `poems/`.
fn text(name: &str) -> String {
    std::fs::read_to_string(poem(name)).unwrap()
}

/// A directory of one test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("poetry-tutorial-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `contents` to a file in the directory; its path.
    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `poetry recite FILE --port 0 ARGS`, once it has said where it listens.
fn recite(file: &Path, args: &[&str]) -> Server {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("poetry"));
    command.arg("recite").arg(file).args(["--port", "0"]).args(args);
    let server = Server::start(command);
    assert_eq!(
        server.banner,
        format!("Reciting {} on {}.", file.display(), server.addr())
    );
    server
}

/// The server's log lines (stderr) as they come.
fn log_lines(server: &mut Server) -> mpsc::Receiver<String> {
    let stderr = server.take_stderr().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits (at most `STEP`) for a log line holding `needle`.
fn wait_for_log(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + STEP;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no log line with {needle:?} within {STEP:?}; saw {seen:?}"),
        }
    }
}

/// Reads until the server closes: the bytes, and the size of each read.
fn read_pieces(stream: &mut TcpStream) -> (Vec<u8>, Vec<usize>) {
    let mut got = Vec::new();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).expect("read the poem");
        if n == 0 {
            return (got, pieces);
        }
        got.extend_from_slice(&buf[..n]);
        pieces.push(n);
    }
}

/// Reads a whole recital from `addr`: when the first byte came and when the
/// server closed, both counted from `start`, and the bytes.
fn timed_recital(addr: &str, start: Instant) -> (Duration, Duration, Vec<u8>) {
    let mut stream = common::connect(addr);
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).expect("the first byte");
    let first_at = start.elapsed();
    let (rest, _) = read_pieces(&mut stream);
    let closed_at = start.elapsed();
    let mut poem = first.to_vec();
    poem.extend(rest);
    (first_at, closed_at, poem)
}

/// A stand-in poetry server on a free port: sends `bytes` to ONE client, then closes.
fn one_shot(bytes: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(bytes);
    });
    port
}

/// `poetry get` with the given arguments.
fn get(args: &[&str]) -> assert_cmd::Command {
    let mut cmd = poetry();
    cmd.arg("get").args(args);
    cmd
}

// ---------------------------------------------------------------------------
// poetry recite

#[test]
fn recite_sends_the_poem_in_paced_pieces_then_closes() {
    let scratch = Scratch::new("paced");
    let fifty: Vec<u8> = (0..50u8).map(|i| b'a' + i % 26).collect();
    let file = scratch.file("fifty.txt", &fifty);

    let slow = recite(&file, &["--delay", "0.2", "--num-bytes", "10"]);
    let start = Instant::now();
    let (got, pieces) = read_pieces(&mut common::connect(&slow.addr()));
    let took = start.elapsed();
    assert_eq!(got, fifty);
    // Five pieces with four pauses: a late reader may take two pieces in one
    // read, but never part of one.
    assert!((2..=5).contains(&pieces.len()), "reads: {pieces:?}");
    assert!(pieces.iter().all(|n| n % 10 == 0), "reads: {pieces:?}");
    assert!(took >= Duration::from_millis(800), "took {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");

    // The fast server: no pauses, one write.
    let fast = recite(&file, &["--delay", "0", "--num-bytes", "10"]);
    let (got, pieces) = read_pieces(&mut common::connect(&fast.addr()));
    assert_eq!(got, fifty);
    assert_eq!(pieces, [50]);
}

#[test]
fn recite_serves_every_client_at_once() {
    let scratch = Scratch::new("concurrent");
    let file = scratch.file("forty.txt", &[b'x'; 40]);
    let server = recite(&file, &["--delay", "0.5", "--num-bytes", "10"]);
    let start = Instant::now();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let addr = server.addr();
            std::thread::spawn(move || timed_recital(&addr, start))
        })
        .collect();
    let recitals: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for (_, _, poem) in &recitals {
        assert_eq!(poem, &[b'x'; 40]);
    }
    // One at a time, the last client's first byte would come after the first
    // client's close; at once, every client has started before any has ended.
    let last_start = recitals.iter().map(|r| r.0).max().unwrap();
    let first_end = recitals.iter().map(|r| r.1).min().unwrap();
    assert!(last_start < first_end, "{recitals:?}");
}

#[test]
fn recite_holds_clients_past_max_connections_in_the_backlog() {
    let scratch = Scratch::new("limit");
    let file = scratch.file("thirty.txt", &[b'y'; 30]);
    let server = recite(
        &file,
        &["--delay", "0.5", "--num-bytes", "10", "--max-connections", "1"],
    );
    let mut first = common::connect(&server.addr());
    let mut piece = [0u8; 10];
    first.read_exact(&mut piece).unwrap();
    // The one slot is taken for the next second (two pauses of 0.5 s).
    let waiting_since = Instant::now();
    let second = std::thread::spawn({
        let addr = server.addr();
        move || timed_recital(&addr, waiting_since)
    });
    let (rest, _) = read_pieces(&mut first);
    assert_eq!(rest, [b'y'; 20]);
    let (first_byte_at, _, poem) = second.join().unwrap();
    assert_eq!(poem, [b'y'; 30]);
    assert!(
        first_byte_at >= Duration::from_millis(600),
        "the second client got its first byte after {first_byte_at:?}, while the only slot was taken"
    );
}

/// 24 MiB of verse: more than the kernel buffers of a loopback connection hold.
fn long_poem(scratch: &Scratch) -> (PathBuf, usize) {
    let line = b"and the sea said nothing, and said it again,\n";
    let poem = line.repeat(24 * 1024 * 1024 / line.len());
    (scratch.file("long.txt", &poem), poem.len())
}

#[test]
fn recite_cuts_off_a_client_that_does_not_take_the_poem_in_time() {
    let scratch = Scratch::new("deadline");
    let (file, len) = long_poem(&scratch);
    let mut server = recite(&file, &["--delay", "0", "--timeout", "0.5"]);
    let logs = log_lines(&mut server);
    let mut stream = common::connect(&server.addr());
    // Not reading: the server's writes stall once the buffers are full.
    let line = wait_for_log(&logs, "timed out");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(got.len() < len, "got all {len} bytes");
}

#[test]
fn recite_reads_at_most_a_little_from_a_client() {
    let scratch = Scratch::new("chatty");
    let file = scratch.file("twenty.txt", &[b'z'; 20]);
    let server = recite(&file, &["--delay", "0.5", "--num-bytes", "1"]);
    let mut stream = common::connect(&server.addr());
    stream.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let junk = vec![b'!'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 * 1024 * 1024 {
        match stream.write(&junk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    // A server that read everything would take all 64 MiB; one that stops
    // reading leaves the client stuck once the kernel buffers are full.
    assert!(sent < 32 * 1024 * 1024, "the server took {sent} bytes");
    let mut piece = [0u8; 1];
    stream.read_exact(&mut piece).unwrap();
    assert_eq!(piece, [b'z']);
}

#[test]
fn recite_finishes_recitals_at_once_on_sigterm() {
    let scratch = Scratch::new("sigterm");
    let verse: Vec<u8> = b"slowly, slowly, the tide comes in.\n".repeat(9);
    let file = scratch.file("tide.txt", &verse);
    // Some 12 s of pauses, and more than that to finish after the signal.
    let mut server = recite(
        &file,
        &["--delay", "0.4", "--num-bytes", "10", "--shutdown-timeout", "30"],
    );
    let mut stream = common::connect(&server.addr());
    let mut piece = [0u8; 10];
    stream.read_exact(&mut piece).unwrap();
    server.signal("TERM");
    let signalled = Instant::now();
    let (rest, _) = read_pieces(&mut stream);
    assert_eq!([&piece[..], &rest].concat(), verse);
    assert!(server.wait_exit(STEP).success());
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(6), "the rest took {took:?}");
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("1 recited in full"), "{log}");
}

#[test]
fn recite_cuts_off_what_is_left_at_the_shutdown_deadline() {
    let scratch = Scratch::new("shutdown-deadline");
    let (file, _) = long_poem(&scratch);
    let mut server = recite(
        &file,
        &["--delay", "0", "--timeout", "60", "--shutdown-timeout", "0.5"],
    );
    let mut stream = common::connect(&server.addr());
    // One byte read: the recital has begun; then the client stops reading.
    stream.read_exact(&mut [0u8; 1]).unwrap();
    server.signal("TERM");
    assert!(server.wait_exit(STEP).success());
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("1 cut off at the shutdown deadline"), "{log}");
}

#[test]
fn recite_sends_one_netstring_with_netstring() {
    let server = recite(
        &poem(KITCHEN),
        &["--netstring", "--delay", "0.05", "--num-bytes", "100"],
    );
    let (got, pieces) = read_pieces(&mut common::connect(&server.addr()));
    let kitchen = text(KITCHEN);
    assert_eq!(got, format!("{}:{kitchen},", kitchen.len()).into_bytes());
    // 337 bytes in pieces of 100: still paced.
    assert!(pieces.len() >= 2, "reads: {pieces:?}");
}

#[test]
fn recite_works_with_netcat_as_the_tutorial_listens() {
    if !common::require(
        "nc.traditional (netcat-traditional)",
        common::which("nc.traditional").is_some(),
    ) {
        return;
    }
    let server = recite(&poem(HARBOUR), &["--delay", "0.01", "--num-bytes", "64"]);
    assert_cmd::Command::new("nc.traditional")
        .args(["-q", "-1", "127.0.0.1", &server.port.to_string()])
        .timeout(STEP)
        .assert()
        .success()
        .stdout(text(HARBOUR));
}

#[test]
fn recite_refuses_what_it_cannot_do() {
    poetry()
        .args(["recite", "no/such/poem.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot read the poem from no/such/poem.txt",
        ));
    // A "poem" that never ends is refused at the cap, not read forever.
    poetry()
        .args(["recite", "/dev/zero"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "/dev/zero is larger than the 64 MiB a poem may be",
        ));
    for bad in [
        ["--num-bytes", "0"],
        ["--delay", "soon"],
        ["--max-connections", "0"],
    ] {
        poetry()
            .arg("recite")
            .arg(poem(HARBOUR))
            .args(bad)
            .assert()
            .code(2);
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    poetry()
        .arg("recite")
        .arg(poem(HARBOUR))
        .args(["--port", &port])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot listen on 127.0.0.1:{port}"
        )));
}

// ---------------------------------------------------------------------------
// poetry get

#[test]
fn get_writes_the_poems_in_the_order_given() {
    // The first is the slowest, so they finish in another order.
    let slow = recite(&poem(HARBOUR), &["--delay", "0.1", "--num-bytes", "50"]);
    let fast = recite(&poem(KITCHEN), &["--delay", "0"]);
    let brisk = recite(&poem(LETTERS), &["--delay", "0.02", "--num-bytes", "100"]);
    let ports = [&slow, &fast, &brisk].map(|s| s.port.to_string());
    get(&[&ports[0], &ports[1], &ports[2]])
        .assert()
        .success()
        .stdout(text(HARBOUR) + &text(KITCHEN) + &text(LETTERS))
        .stderr(
            predicate::str::contains(format!("127.0.0.1:{}: 312 bytes of poetry", ports[0]))
                .and(predicate::str::contains("Got 3 of 3 poems"))
                // No progress lines off a terminal.
                .and(predicate::str::contains("\r").not())
                .and(predicate::str::contains("\x1b").not()),
        );
}

#[test]
fn get_with_netstring_tells_a_cut_off_poem_from_a_whole_one() {
    let server = recite(&poem(LETTERS), &["--netstring", "--delay", "0"]);
    get(&[&server.port.to_string(), "--netstring"])
        .assert()
        .success()
        .stdout(text(LETTERS));

    let cut: &[u8] = b"20:HERE IS MY P";
    get(&[&one_shot(cut).to_string(), "--netstring"])
        .assert()
        .code(6)
        .stdout("")
        .stderr(predicate::str::contains("was cut off after 12 of 20 bytes"));
    // Without netstrings, the same bytes pass for a whole poem: exercise 6's point.
    get(&[&one_shot(cut).to_string()])
        .assert()
        .success()
        .stdout("20:HERE IS MY P");

    get(&[&one_shot(b"").to_string(), "--netstring"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("before sending a whole netstring poem"));
    get(&[&one_shot(b"0:,").to_string(), "--netstring"])
        .assert()
        .success()
        .stdout("");
    get(&[&one_shot(b"HERE IS MY POEM").to_string(), "--netstring"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("is not a netstring"));
}

#[test]
fn get_reports_each_failure_and_still_writes_the_other_poems() {
    let server = recite(&poem(HARBOUR), &["--delay", "0"]);
    let good = server.port.to_string();
    let closed = common::closed_port().to_string();
    // Connections to it complete in the kernel, and nothing ever comes.
    let silent_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = silent_listener.local_addr().unwrap().port().to_string();

    get(&[&good, &closed])
        .assert()
        .code(3)
        .stdout(text(HARBOUR))
        .stderr(
            predicate::str::contains(format!("no server at 127.0.0.1:{closed}"))
                .and(predicate::str::contains("Got 1 of 2 poems")),
        );
    // The exit code is that of the first failure in the order given.
    get(&[&silent, &closed, &good, "--timeout", "0.5"])
        .assert()
        .code(5)
        .stdout(text(HARBOUR))
        .stderr(predicate::str::contains(format!(
            "no whole poem from 127.0.0.1:{silent} within 0.5 s (0 bytes so far)"
        )));
    get(&[&closed, &silent, "--timeout", "0.5"]).assert().code(3);
}

#[test]
fn get_caps_the_size_of_a_poem() {
    let plain = recite(&poem(HARBOUR), &["--delay", "0"]);
    get(&[&plain.port.to_string(), "--max-size", "100"])
        .assert()
        .code(6)
        .stdout("")
        .stderr(predicate::str::contains("larger than the 100 bytes accepted"));
    let framed = recite(&poem(HARBOUR), &["--delay", "0", "--netstring"]);
    get(&[&framed.port.to_string(), "--netstring", "--max-size", "100"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("larger than the 100 bytes accepted"));
    get(&[&framed.port.to_string(), "--netstring", "--max-size", "312"])
        .assert()
        .success()
        .stdout(text(HARBOUR));
}

#[test]
fn get_out_dir_writes_one_file_per_address() {
    let scratch = Scratch::new("out-dir");
    let a = recite(&poem(HARBOUR), &["--delay", "0"]);
    let b = recite(&poem(KITCHEN), &["--delay", "0"]);
    let (pa, pb) = (a.port.to_string(), b.port.to_string());
    let out = scratch.0.join("got");
    get(&[&pa, &format!("localhost:{pb}"), &pa, "--out-dir"])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let read = |name: String| std::fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(read(format!("1_127.0.0.1_{pa}.txt")), text(HARBOUR));
    assert_eq!(read(format!("2_localhost_{pb}.txt")), text(KITCHEN));
    assert_eq!(read(format!("3_127.0.0.1_{pa}.txt")), text(HARBOUR));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
}

#[test]
fn get_refuses_addresses_it_cannot_use() {
    for (bad, says) in [
        ("::1:10001", "put an IPv6 address in brackets"),
        ("localhost", "is not [HOST:]PORT"),
        ("0", "is not a port from 1 to 65535"),
        ("[localhost]:1", "only an IPv6 address goes in brackets"),
    ] {
        get(&[bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    get(&["10001", "--via", "11000"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--transform"));
}

#[test]
fn get_draws_one_progress_line_per_server_on_a_terminal() {
    // `script` runs the command on a pseudo-terminal.
    if !common::require("script (util-linux)", common::which("script").is_some()) {
        return;
    }
    let a = recite(&poem(HARBOUR), &["--delay", "0"]);
    let b = recite(&poem(KITCHEN), &["--delay", "0"]);
    let command = format!(
        "{} get {} {}",
        assert_cmd::cargo::cargo_bin("poetry").display(),
        a.port,
        b.port
    );
    let out = assert_cmd::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .timeout(STEP)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let screen = String::from_utf8_lossy(&out);
    for port in [a.port, b.port] {
        assert!(
            screen.contains(&format!("127.0.0.1:{port} done, ")),
            "no progress line for {port} in {screen:?}"
        );
    }
}

#[test]
fn recite_and_get_explain_themselves() {
    for (sub, says) in [
        ("recite", "Reciting FILE on HOST:PORT."),
        ("get", "Exit codes:\n  0  every poem arrived"),
    ] {
        poetry()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:").and(predicate::str::contains(says)));
    }
}

// ---------------------------------------------------------------------------
// Part 13, end to end with only `poetry`

#[test]
fn part_13_with_only_poetry_keeps_the_originals_when_the_transform_server_is_gone() {
    let names = [HARBOUR, KITCHEN, LETTERS];
    let servers = [
        recite(&poem(HARBOUR), &["--delay", "0.05", "--num-bytes", "64"]),
        recite(&poem(KITCHEN), &["--delay", "0"]),
        recite(&poem(LETTERS), &["--delay", "0.02", "--num-bytes", "128"]),
    ];
    let ports: Vec<String> = servers.iter().map(|s| s.port.to_string()).collect();
    let transformer = Server::poetry(&[]);
    let via = transformer.port.to_string();
    let run = |via: &str| {
        get(&[
            &ports[0],
            &ports[1],
            &ports[2],
            "--transform",
            "cummingsify",
            "--via",
            via,
        ])
        .assert()
    };

    let lowered: String = names.iter().map(|n| text(n).to_lowercase()).collect();
    run(&via)
        .success()
        .stdout(lowered)
        .stderr(predicate::str::contains("warning").not());

    drop(transformer); // killed: nothing listens there now
    let originals: String = names.iter().map(|n| text(n)).collect();
    let assert = run(&via).success().stdout(originals);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for port in &ports {
        let warning = format!(
            "warning: 127.0.0.1:{port}: cummingsify failed (no server at 127.0.0.1:{via} \
             (connection refused)); kept the original poem"
        );
        assert!(stderr.contains(&warning), "no {warning:?} in {stderr}");
    }
}

// ---------------------------------------------------------------------------
// Interop with the Twisted scripts of tests/interop/

#[test]
fn our_get_fetches_from_twisted_slow_and_fast_servers_and_transforms_via_twisted() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let slow = common::twisted::poetry_server(
        python,
        "slow_poetry.py",
        &poem(HARBOUR),
        &["--delay", "0.05", "--num-bytes", "40"],
    );
    let fast = common::twisted::poetry_server(python, "slow_poetry.py", &poem(KITCHEN), &["--delay", "0"]);
    let (ps, pf) = (slow.port.to_string(), fast.port.to_string());
    get(&[&ps, &pf])
        .assert()
        .success()
        .stdout(text(HARBOUR) + &text(KITCHEN));

    let transformer = common::twisted::server(python);
    get(&[
        &ps,
        &pf,
        "--transform",
        "cummingsify",
        "--via",
        &transformer.addr(),
    ])
    .assert()
    .success()
    .stdout(text(HARBOUR).to_lowercase() + &text(KITCHEN).to_lowercase());
}

#[test]
fn our_get_reads_twisted_netstring_poems_and_notices_a_cut_one() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let whole = common::twisted::poetry_server(python, "netstring_poetry.py", &poem(KITCHEN), &[]);
    get(&[&whole.port.to_string(), "--netstring"])
        .assert()
        .success()
        .stdout(text(KITCHEN));
    let cut = common::twisted::poetry_server(
        python,
        "netstring_poetry.py",
        &poem(KITCHEN),
        &["--cut-after", "100"],
    );
    get(&[&cut.port.to_string(), "--netstring"])
        .assert()
        .code(6)
        .stdout("")
        .stderr(predicate::str::contains("was cut off after 96 of 332 bytes"));
}

#[test]
fn twisted_get_poetry_works_with_our_recite_and_serve() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let transformer = Server::poetry(&[]);
    let plain = [
        recite(&poem(HARBOUR), &["--delay", "0.05", "--num-bytes", "64"]),
        recite(&poem(KITCHEN), &["--delay", "0"]),
    ];
    let framed = [
        recite(
            &poem(HARBOUR),
            &["--netstring", "--delay", "0.05", "--num-bytes", "64"],
        ),
        recite(&poem(KITCHEN), &["--netstring", "--delay", "0"]),
    ];
    let ports = |servers: &[Server; 2]| servers.each_ref().map(|s| s.port.to_string());
    let (plain, framed) = (ports(&plain), ports(&framed));
    let via = transformer.port.to_string();
    let lowered = text(HARBOUR).to_lowercase() + &text(KITCHEN).to_lowercase();
    common::twisted::get_poetry(python)
        .args([&via, &plain[0], &plain[1]])
        .assert()
        .success()
        .stdout(lowered.clone())
        .stderr(predicate::str::contains("Cummingsify failed!").not());
    common::twisted::get_poetry(python)
        .args(["--netstring", &via, &framed[0], &framed[1]])
        .assert()
        .success()
        .stdout(lowered);

    drop(transformer);
    let assert = common::twisted::get_poetry(python)
        .args(["--netstring", &via, &framed[0], &framed[1]])
        .assert()
        .success()
        .stdout(text(HARBOUR) + &text(KITCHEN));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.matches("Cummingsify failed!").count(), 2, "{stderr}");
}

#[test]
fn twisted_get_poetry_sees_a_cut_off_netstring_poem_from_us() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let mut server = recite(
        &poem(LETTERS),
        &["-v", "--netstring", "--delay", "0.3", "--num-bytes", "100"],
    );
    let logs = log_lines(&mut server);
    let port = server.port.to_string();
    let client = std::thread::spawn(move || {
        common::twisted::get_poetry(python)
            .args(["--netstring", "1", &port])
            .output()
            .unwrap()
    });
    // Once the client is being recited to, the server dies mid-poem.
    wait_for_log(&logs, "reciting");
    server.child.kill().unwrap();
    let out = client.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("closed before the netstring poem was whole"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Every resource a client can take is bounded, on every port: each test
//! here is an attack a stranger could make with a few bytes or one request,
//! and asserts the bound the server keeps (time to serve a normal client,
//! memory, exit time, log and metrics size, replies intact).
//!
//! All traffic goes to 127.0.0.1; every attack is bounded in count and time.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{netstring, raw_exchange, stop_and_read_log, Server, STEP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// How long a normal client may take to be served while an attack goes on:
/// generous for a loaded 2-core machine, far below any attack's hold.
const PROMPTLY: Duration = Duration::from_secs(1);

/// The resident set size of a process, in bytes (Linux).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Pages of memory the kernel's TCP stack holds now, machine-wide (Linux).
fn tcp_mem_pages() -> u64 {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap();
    let tcp = sockstat.lines().find(|l| l.starts_with("TCP:")).unwrap();
    let mut words = tcp.split_whitespace();
    words.find(|w| *w == "mem");
    words.next().unwrap().parse().unwrap()
}

/// Runs `request` to the end on a fresh connection and says how long it took.
fn timed(addr: &str, request: &[u8]) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let reply = raw_exchange(addr, request);
    (reply, started.elapsed())
}

/// A request for `cummingsify` of `len` bytes of poem, and its reply.
fn sized_request(len: usize) -> (Vec<u8>, Vec<u8>) {
    let poem = "Ab".repeat(len / 2);
    (
        netstring(format!("cummingsify.{poem}").as_bytes()),
        netstring(poem.to_lowercase().as_bytes()),
    )
}

/// Checks that a 20 KB and a 100 KB request are each answered, right, within [`PROMPTLY`].
fn normal_clients_are_served(addr: &str, during: &str) {
    for len in [20_000, 100_000] {
        let (request, expected) = sized_request(len);
        let (reply, took) = timed(addr, &request);
        assert!(reply == expected, "{len}-byte request {during}: wrong reply");
        assert!(
            took < PROMPTLY,
            "{len}-byte request {during}: answered after {took:?}"
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens `n` connections to `addr` and sends `first` on each; they stay open
/// until the returned streams are dropped.
async fn hold(addr: &str, n: usize, first: &[u8]) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        if !first.is_empty() {
            tokio::time::timeout(STEP, stream.write_all(first))
                .await
                .expect("send in time")
                .expect("send");
        }
        held.push(stream);
    }
    held
}

/// An HTTP request head for a chunked `POST /transform/cummingsify`.
const CHUNKED_HEAD: &[u8] =
    b"POST /transform/cummingsify HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";

/// Raises this process's open-files limit for tests that hold thousands of sockets.
fn enough_files(n: u64) {
    let limit = rlimit::increase_nofile_limit(n).unwrap();
    assert!(limit >= n, "this test needs {n} open files; the limit is {limit}");
}

#[test]
fn a_long_chain_is_refused_before_any_work_on_both_ports() {
    let server = Server::poetry(&["--http-port", "0"]);
    // 1,000 parts in 14 KB: hours of CPU without the cap.
    let chain = ["reverse-words"; 1000].join("+");
    let (reply, took) = timed(&server.addr(), &netstring(format!("{chain}.A B C").as_bytes()));
    assert_eq!(reply, b"");
    assert!(took < PROMPTLY, "refused after {took:?}");

    let response = common::http_agent()
        .post(format!(
            "http://127.0.0.1:{}/transform/{chain}",
            server.http_port.unwrap()
        ))
        .send("A B C")
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.into_body().read_to_string().unwrap();
    assert!(
        body.contains("chain of 1000 transforms is longer than the maximum of 8"),
        "{body}"
    );
    // Eight parts are served.
    let eight = ["reverse-words"; 8].join("+");
    assert_eq!(
        raw_exchange(&server.addr(), &netstring(format!("{eight}.a b c").as_bytes())),
        b"5:a b c,"
    );
}

/// A chain that is long in work though short in bytes goes to the transform
/// pool: on a server with one async worker, small requests are answered
/// while it runs.
#[test]
fn heavy_work_is_chosen_by_chain_times_poem_and_leaves_small_requests_alone() {
    let server = Server::poetry(&["--threads", "1", "--max-chain", "100", "--metrics-port", "0"]);
    let addr = server.addr();
    // 60 KB, under the poem size that alone would count as heavy; times 100 steps.
    let poem = "word ".repeat(12_000);
    let chain = ["reverse-words"; 100].join("+");
    let mut heavy = common::connect(&addr);
    heavy
        .write_all(&netstring(format!("{chain}.{poem}").as_bytes()))
        .unwrap();
    // The pool reports it running...
    let metrics = server.metrics_port.unwrap();
    let started = Instant::now();
    while !scrape(metrics).contains("poetry_transforms_running 1") {
        assert!(started.elapsed() < STEP, "the heavy chain never ran on the pool");
    }
    // ...while the one async worker answers everyone else.
    for _ in 0..10 {
        assert_eq!(raw_exchange(&addr, CLASSIC), CLASSIC_REPLY);
    }
    heavy.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let still_working = matches!(heavy.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    assert!(
        still_working,
        "the heavy chain ended before the small requests were served"
    );
    heavy.set_nonblocking(false).unwrap();
    heavy.set_read_timeout(Some(6 * STEP)).unwrap();
    let mut reply = Vec::new();
    heavy.read_to_end(&mut reply).unwrap();
    // An even number of word reversals gives the poem back.
    assert_eq!(reply, netstring(poem.as_bytes()));
}

/// `GET /metrics` on `port`, as text.
fn scrape(port: u16) -> String {
    common::http_agent()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("GET /metrics")
        .into_body()
        .read_to_string()
        .unwrap()
}

#[test]
fn the_deadline_covers_the_transform_and_stops_a_chain_between_steps() {
    let mut server = Server::poetry(&["--timeout", "1", "--max-chain", "400", "--metrics-port", "0"]);
    let poem = "some words to turn ".repeat(50_000);
    let chain = ["reverse-words"; 400].join("+");
    // A hundred steps take about a second here: far past the deadline.
    let (reply, took) = timed(&server.addr(), &netstring(format!("{chain}.{poem}").as_bytes()));
    assert_eq!(reply, b"");
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
    // The chain itself stopped (within a step), giving its thread back.
    let metrics = server.metrics_port.unwrap();
    let cut = Instant::now();
    while !scrape(metrics).contains("poetry_transforms_running 0") {
        assert!(
            cut.elapsed() < Duration::from_secs(2),
            "the chain went on running past its deadline"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = stop_and_read_log(&mut server);
    assert!(log.contains("timed out after 1 s while transforming"), "{log}");
}

#[test]
fn shutdown_keeps_its_deadline_with_heavy_transforms_in_flight() {
    let mut server = Server::poetry(&[
        "--shutdown-timeout",
        "1",
        "--max-chain",
        "1000",
        "--timeout",
        "120",
    ]);
    let poem = "some words to turn ".repeat(50_000);
    let chain = ["reverse-words"; 1000].join("+");
    let mut in_flight = Vec::new();
    for _ in 0..3 {
        let mut stream = common::connect(&server.addr());
        stream
            .write_all(&netstring(format!("{chain}.{poem}").as_bytes()))
            .unwrap();
        in_flight.push(stream);
    }
    // Let the transforms start.
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(STEP);
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "exited {took:?} after SIGTERM with --shutdown-timeout 1"
    );
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    server.take_stderr().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("3 cut off at the shutdown deadline"), "{log}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Server::poetry(&["--shutdown-timeout", "60"]);
    let mut in_flight = common::connect(&server.addr());
    in_flight.write_all(b"27:cummingsify.HERE").unwrap();
    // Served before the signal, so the half-sent one has surely been accepted.
    assert_eq!(raw_exchange(&server.addr(), CLASSIC), CLASSIC_REPLY);
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(STEP);
    assert!(signalled.elapsed() < PROMPTLY, "{:?}", signalled.elapsed());
    assert_eq!(status.code(), Some(1), "a forced exit is not a clean one");
}

/// Connections that declare the maximum and send a byte used to reserve the
/// whole declared length: 64 of them locked a 16 MiB budget.
#[test]
fn declared_lengths_reserve_nothing_on_either_port() {
    let server = Server::poetry(&["--max-buffered", "16MiB", "--http-port", "0"]);
    let addr = server.addr();
    let http = format!("127.0.0.1:{}", server.http_port.unwrap());
    runtime().block_on(async {
        let mut held = hold(&addr, 64, b"1048576:c").await;
        let mut chunked = CHUNKED_HEAD.to_vec();
        chunked.extend_from_slice(b"1\r\nA\r\n");
        held.extend(hold(&http, 64, &chunked).await);
        let served = tokio::task::spawn_blocking(move || {
            normal_clients_are_served(&addr, "with 128 one-byte requests declaring the maximum")
        });
        served.await.unwrap();
        drop(held);
    });
}

/// 1,000 connections of each hostile kind at once: the server's memory stays
/// within the budget plus its per-connection constants, and normal clients
/// are still answered promptly.
#[test]
fn a_thousand_hostile_connections_of_each_kind_stay_within_the_bounds() {
    const EACH: usize = 1000;
    const BUDGET: u64 = 64 * 1024 * 1024;
    enough_files(4 * EACH as u64 + 200);
    let server = Server::poetry(&[
        "--max-buffered",
        "64MiB",
        "--max-connections",
        "4500",
        "--http-port",
        "0",
    ]);
    let addr = server.addr();
    let http = format!("127.0.0.1:{}", server.http_port.unwrap());
    let pid = server.child.id();
    let baseline = rss_bytes(pid);
    let tcp_before = tcp_mem_pages();
    runtime().block_on(async {
        // Stalled headers declaring the maximum.
        let mut held = hold(&addr, EACH, b"1048576:").await;
        // Stalled payloads: the maximum declared, 8 KB of it sent.
        let mut payload = b"1048576:cummingsify.".to_vec();
        payload.resize(8 * 1024, b'A');
        held.extend(hold(&addr, EACH, &payload).await);
        // Chunked bodies of one byte.
        let mut chunked = CHUNKED_HEAD.to_vec();
        chunked.extend_from_slice(b"1\r\nA\r\n");
        held.extend(hold(&http, EACH, &chunked).await);
        // Request heads trickled toward 400 KB, 4 KB at a time.
        let mut trickled = hold(
            &http,
            EACH,
            b"POST /transform/cummingsify HTTP/1.1\r\nhost: x\r\n",
        )
        .await;
        let line = format!("x-filler: {}\r\n", "f".repeat(4000));
        for _ in 0..100 {
            let mut writes = Vec::new();
            for stream in &mut trickled {
                writes.push(async {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(200), stream.write_all(line.as_bytes()))
                            .await;
                });
            }
            futures_util::future::join_all(writes).await;
        }
        held.extend(trickled);

        let mut peak = 0;
        for _ in 0..10 {
            peak = peak.max(rss_bytes(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Per connection: its free 16 KiB share (or hyper's 16 KiB buffer),
        // its task and socket state; plus the budget itself.
        let constants = 4 * EACH as u64 * 20 * 1024;
        assert!(
            peak < baseline + BUDGET + constants,
            "RSS {} MiB, over the baseline {} MiB + budget {} MiB + {} MiB for {} connections",
            peak >> 20,
            baseline >> 20,
            BUDGET >> 20,
            constants >> 20,
            4 * EACH
        );
        let tcp_pages = tcp_mem_pages().saturating_sub(tcp_before);
        eprintln!(
            "peak RSS {} MiB over a {} MiB baseline; kernel TCP memory {} MiB more",
            peak >> 20,
            baseline >> 20,
            (tcp_pages * 4096) >> 20
        );
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            normal_clients_are_served(&addr, "among 4,000 hostile connections")
        })
        .await
        .unwrap();
        drop(held);
    });
}

/// Big requests that together need far more than the budget, from clients
/// that read their replies late: the server stays within the budget (replies
/// count until written), and every request completes in turn, since requests
/// each holding part of the budget never wait on each other for ever.
#[test]
fn requests_beyond_the_budget_all_complete_within_it() {
    const CLIENTS: usize = 100;
    const BUDGET: u64 = 16 * 1024 * 1024;
    let server = Server::poetry(&["--max-buffered", "16MiB", "--max-length", "1MiB"]);
    let addr = server.addr();
    let pid = server.child.id();
    let baseline = rss_bytes(pid);
    let (request, expected) = sized_request(1024 * 1024 - 100);
    runtime().block_on(async {
        let (go, _) = tokio::sync::broadcast::channel::<()>(1);
        let clients: Vec<_> = hold(&addr, CLIENTS, b"")
            .await
            .into_iter()
            .map(|mut stream| {
                let (request, mut go) = (request.clone(), go.subscribe());
                tokio::spawn(async move {
                    // Sends the whole request (waiting while the server's
                    // budget holds it back), reads the reply only when told.
                    stream.write_all(&request).await?;
                    let _ = go.recv().await;
                    let mut reply = Vec::new();
                    stream.read_to_end(&mut reply).await?;
                    Ok::<_, std::io::Error>(reply)
                })
            })
            .collect();
        let mut peak = 0;
        for _ in 0..30 {
            peak = peak.max(rss_bytes(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Without the replies in the budget: 100 MiB of replies waiting to be read.
        let constants = CLIENTS as u64 * 20 * 1024 + 16 * 1024 * 1024;
        assert!(
            peak < baseline + BUDGET + constants,
            "RSS {} MiB over a {} MiB baseline with a {} MiB budget",
            peak >> 20,
            baseline >> 20,
            BUDGET >> 20
        );
        // Reading the replies lets every request through in turn.
        go.send(()).unwrap();
        let replies = tokio::time::timeout(Duration::from_secs(30), futures_util::future::join_all(clients))
            .await
            .expect("every reply within 30 s");
        for reply in replies {
            assert!(reply.unwrap().unwrap() == expected, "a wrong or missing reply");
        }
    });
}

/// HTTP keep-alive connections that send a request now and then used to
/// hold their slots for ever: now an idle one gives way to a waiting client.
#[test]
fn idle_keep_alive_connections_give_way_to_waiting_clients() {
    let server = Server::poetry(&["--max-connections", "8", "--http-port", "0"]);
    let addr = server.addr();
    let http = format!("127.0.0.1:{}", server.http_port.unwrap());
    let mut keep_alive: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut s = common::connect(&http);
            s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
            let mut head = [0u8; 256];
            let n = s.read(&mut head).unwrap();
            assert!(head[..n].starts_with(b"HTTP/1.1 200"));
            s
        })
        .collect();
    for _ in 0..5 {
        let (reply, took) = timed(&addr, CLASSIC);
        assert_eq!(reply, CLASSIC_REPLY);
        assert!(
            took < PROMPTLY,
            "served after {took:?} with every slot kept alive"
        );
    }
    // The ones that gave way were closed, not left hanging.
    let closed = keep_alive
        .iter_mut()
        .filter_map(|s| {
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            matches!(s.read(&mut [0u8; 1]), Ok(0)).then_some(())
        })
        .count();
    assert!(closed >= 1, "no keep-alive connection gave way");
}

/// Idle and slow clients cannot hold the metrics port: a new connection makes
/// the oldest give way.
#[test]
fn the_metrics_port_cannot_be_held() {
    let server = Server::poetry(&["--metrics-port", "0"]);
    let metrics = format!("127.0.0.1:{}", server.metrics_port.unwrap());
    // The slow ones first: the oldest, and mid-way through a request head.
    let _slow: Vec<_> = (0..8)
        .map(|_| {
            let mut s = common::connect(&metrics);
            s.write_all(b"GET /metrics HTTP/1.1\r\nho").unwrap();
            s
        })
        .collect();
    let _idle: Vec<_> = (0..8).map(|_| common::connect(&metrics)).collect();
    let started = Instant::now();
    let text = scrape(server.metrics_port.unwrap());
    assert!(text.contains("poetry_open_connections"), "{text}");
    assert!(
        started.elapsed() < PROMPTLY,
        "scraped after {:?}",
        started.elapsed()
    );
}

#[test]
fn connections_per_address_are_capped_and_a_relayed_client_counts_as_itself() {
    let server = Server::poetry(&["--max-connections-per-ip", "2"]);
    let addr = server.addr();
    let mut held: Vec<_> = (0..2).map(|_| common::connect(&addr)).collect();
    for s in &mut held {
        s.write_all(b"27:cummingsify").unwrap();
    }
    // Both are surely accepted once this one, also from 127.0.0.1, is refused.
    let refused = raw_exchange(&addr, CLASSIC);
    assert_eq!(refused, b"", "a third connection from one address was served");
    drop(held);
    let started = Instant::now();
    loop {
        if raw_exchange(&addr, CLASSIC) == CLASSIC_REPLY {
            break;
        }
        assert!(
            started.elapsed() < STEP,
            "never served again after the others closed"
        );
    }

    let server = Server::poetry(&["--proxy-protocol", "--max-connections-per-ip", "1"]);
    let addr = server.addr();
    let header = |client: &str| format!("PROXY TCP4 {client} 127.0.0.1 40000 11000\r\n").into_bytes();
    let mut first = common::connect(&addr);
    first.write_all(&header("203.0.113.7")).unwrap();
    first.write_all(b"27:cummingsify").unwrap();
    // Wait until the first is counted: its own reply comes only later.
    std::thread::sleep(Duration::from_millis(200));
    let same = [header("203.0.113.7"), CLASSIC.to_vec()].concat();
    assert_eq!(
        raw_exchange(&addr, &same),
        b"",
        "a second connection of the relayed client"
    );
    let other = [header("203.0.113.8"), CLASSIC.to_vec()].concat();
    assert_eq!(
        raw_exchange(&addr, &other),
        CLASSIC_REPLY,
        "another relayed client"
    );
    first.write_all(b".HERE IS MY POEM,").unwrap();
}

#[test]
fn a_flood_of_bad_requests_writes_a_bounded_log() {
    const BAD: usize = 3000;
    let mut server = Server::poetry(&[]);
    let addr = server.addr();
    runtime().block_on(async {
        for _ in 0..BAD / 100 {
            let batch = (0..100).map(|_| async {
                if let Ok(Ok(mut s)) = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(&addr)).await
                {
                    let _ = s.write_all(b"x:").await;
                    let _ = tokio::time::timeout(STEP, s.read(&mut [0u8; 1])).await;
                }
            });
            futures_util::future::join_all(batch).await;
        }
    });
    let log = stop_and_read_log(&mut server);
    let lines = log
        .lines()
        .filter(|l| l.contains("closed without a reply"))
        .count();
    // At most 20 lines a second, and the run lasts a few seconds at most.
    assert!(lines < 200, "{lines} lines for {BAD} bad requests");
    assert!(
        log.len() < 64 * 1024,
        "{} bytes of log for {BAD} bad requests",
        log.len()
    );
    assert!(log.contains("similar per-connection lines suppressed"), "{log}");
}

#[test]
fn clients_cannot_grow_the_metrics_exposition() {
    let server = Server::poetry(&["--metrics-port", "0"]);
    let addr = server.addr();
    let names = ["shout", "title", "rot13", "strip"];
    for i in 0..200u32 {
        // Chains of known names, all distinct, some long.
        let parts: Vec<&str> = (0..8)
            .map(|k| names[((i >> (2 * (k % 4))) & 3) as usize])
            .collect();
        let chain = parts[..(i as usize % 8) + 1].join("+");
        let _ = raw_exchange(&addr, &netstring(format!("{chain}.{i}").as_bytes()));
        let long = [names[i as usize % 4]; 1000].join("+");
        let _ = raw_exchange(&addr, &netstring(format!("{long}.x").as_bytes()));
    }
    let text = scrape(server.metrics_port.unwrap());
    assert!(text.len() < 64 * 1024, "/metrics is {} bytes", text.len());
    let longest = text
        .lines()
        .filter_map(|l| l.split("transform=\"").nth(1)?.split('"').next())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest <= 64, "a transform label of {longest} bytes");
}

#[test]
fn a_proxy_header_from_an_untrusted_peer_is_refused() {
    let mut server = Server::poetry(&["--proxy-protocol", "--proxy-from", "192.0.2.0/24"]);
    let forged = [
        b"PROXY TCP4 1.2.3.4 127.0.0.1 40000 11000\r\n".to_vec(),
        CLASSIC.to_vec(),
    ]
    .concat();
    assert_eq!(raw_exchange(&server.addr(), &forged), b"");
    let log = stop_and_read_log(&mut server);
    assert!(log.contains("not in --proxy-from"), "{log}");
    assert!(!log.contains("1.2.3.4"), "a forged address was believed: {log}");
}

/// Bytes sent after the request used to turn the close into a reset that
/// destroyed a reply still in the server's send queue.
#[test]
fn late_bytes_do_not_destroy_the_reply() {
    let server = Server::poetry(&[]);
    let addr = server.addr();
    let (request, expected) = sized_request(147_000);
    for _ in 0..5 {
        let mut stream = common::connect(&addr);
        stream.write_all(&request).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        stream.write_all(&[b'z'; 4096]).unwrap();
        let mut reply = Vec::new();
        let read = stream.read_to_end(&mut reply);
        assert!(
            read.is_ok(),
            "{read:?} after {} of {} bytes",
            reply.len(),
            expected.len()
        );
        assert!(reply == expected, "{} of {} bytes", reply.len(), expected.len());
    }
}

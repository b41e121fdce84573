//! The server through the library API, with test-only transforms: a
//! transform that panics, and one that hogs its thread, must hurt nobody else.

mod common;

use std::io::Write;

use common::{netstring, raw_exchange, STEP};
use poetry::registry::Registry;
use poetry::server::{Config, Listeners, Server};

const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// Runs a server with `registry` on a single-threaded runtime in a thread of
/// its own; returns its address and the trigger that stops it.
fn start(
    registry: Registry,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            let server = Server::new(registry, Config::default()).unwrap();
            let listeners = Listeners {
                netstring: listener,
                http: None,
                metrics: None,
            };
            server
                .run(listeners, async {
                    let _ = stopped.await;
                })
                .await;
        });
    });
    (addr_rx.recv_timeout(STEP).unwrap(), stop, thread)
}

#[test]
fn a_panicking_transform_closes_only_its_own_connection() {
    let mut registry = Registry::standard();
    registry.register("boom", "always panics", |_| panic!("a transform that panics"));
    let (addr, stop, thread) = start(registry);
    assert_eq!(raw_exchange(&addr, &netstring(b"boom.A POEM")), b"");
    // The server (one thread, one runtime) is still there for the next client.
    assert_eq!(raw_exchange(&addr, CLASSIC), CLASSIC_REPLY);
    assert_eq!(raw_exchange(&addr, &netstring(b"boom.AGAIN")), b"");
    assert_eq!(raw_exchange(&addr, CLASSIC), CLASSIC_REPLY);
    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_big_slow_transform_does_not_stall_small_requests() {
    // "slow" holds its thread until told to finish: on the async worker it
    // would stall every other connection of this single-threaded server.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let mut registry = Registry::standard();
    registry.register("slow", "waits to be released", move |poem| {
        let _ = released.lock().unwrap().recv_timeout(STEP);
        Ok(poem.len().to_string())
    });
    let (addr, stop, thread) = start(registry);

    let poem = vec![b'a'; poetry::server::HEAVY_WORK];
    let mut big = common::connect(&addr);
    big.write_all(&netstring(&[&b"slow."[..], &poem].concat()))
        .unwrap();
    // While the big request is being transformed, small ones are answered.
    for _ in 0..3 {
        assert_eq!(raw_exchange(&addr, CLASSIC), CLASSIC_REPLY);
    }
    release.send(()).unwrap();
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut big, &mut reply).unwrap();
    assert_eq!(reply, netstring(poem.len().to_string().as_bytes()));
    stop.send(()).unwrap();
    thread.join().unwrap();
}

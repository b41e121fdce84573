//! `poetry serve --proxy-protocol` behind a (pretend) load balancer: PROXY
//! headers v1 and v2 before the netstring, the client they name in the logs,
//! and connections without a good header closed without a byte.

mod common;

use common::stop_and_read_log;

use std::io::Read;
use std::net::SocketAddr;

use common::{raw_exchange, Server};
use ppp::v2::{Builder, Command, Protocol, Version};

const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
const CLASSIC_REPLY: &[u8] = b"15:here is my poem,";

/// A v2 header as HAProxy's `send-proxy-v2` sends it.
fn v2_header(command: Command, source: &str, destination: &str) -> Vec<u8> {
    let addresses: (SocketAddr, SocketAddr) = (source.parse().unwrap(), destination.parse().unwrap());
    Builder::with_addresses(Version::Two | command, Protocol::Stream, addresses)
        .build()
        .expect("a v2 header")
}

fn with_request(header: &[u8]) -> Vec<u8> {
    [header, CLASSIC].concat()
}

#[test]
fn the_client_a_header_names_is_served_and_logged() {
    let mut server = Server::poetry(&["--proxy-protocol", "-v"]);
    let addr = server.addr();
    let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 11000\r\n";
    assert_eq!(raw_exchange(&addr, &with_request(v1)), CLASSIC_REPLY);
    let v2 = v2_header(Command::Proxy, "198.51.100.23:40404", "127.0.0.1:11000");
    assert_eq!(raw_exchange(&addr, &with_request(&v2)), CLASSIC_REPLY);
    let v6 = v2_header(Command::Proxy, "[2001:db8::17]:443", "[2001:db8::1]:11000");
    assert_eq!(raw_exchange(&addr, &with_request(&v6)), CLASSIC_REPLY);
    // A health check: LOCAL, then a request; the socket's own peer stands.
    let local = v2_header(Command::Local, "192.0.2.1:1", "192.0.2.2:2");
    assert_eq!(raw_exchange(&addr, &with_request(&local)), CLASSIC_REPLY);
    // A header split across writes is waited for, within the timeout.
    let mut stream = common::connect(&addr);
    for piece in [&v1[..9], &v1[9..30], &v1[30..], CLASSIC] {
        std::io::Write::write_all(&mut stream, piece).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, CLASSIC_REPLY);

    let log = stop_and_read_log(&mut server);
    let mut replied: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(" replied peer="))
        .collect();
    assert_eq!(replied.len(), 5, "{log}");
    // Connections are logged as each ends, on whichever worker served it: match
    // the lines in any order.
    for peer in [
        "peer=203.0.113.7:51000 via=127.0.0.1:",
        "peer=203.0.113.7:51000 via=127.0.0.1:",
        "peer=198.51.100.23:40404 via=127.0.0.1:",
        "peer=[2001:db8::17]:443 via=127.0.0.1:",
    ] {
        let at = replied
            .iter()
            .position(|line| line.contains(peer))
            .unwrap_or_else(|| panic!("{peer:?} not in {replied:?}"));
        replied.remove(at);
    }
    // The health check's LOCAL header leaves the socket's own peer, and no via.
    assert!(
        replied[0].contains("peer=127.0.0.1:") && !replied[0].contains("via="),
        "{}",
        replied[0]
    );
    assert!(
        log.contains("Shut down: 5 replied, 0 closed without a reply"),
        "{log}"
    );
}

#[test]
fn a_health_check_that_sends_only_local_is_no_failure() {
    let mut server = Server::poetry(&["--proxy-protocol", "-vv"]);
    let local = v2_header(Command::Local, "192.0.2.1:1", "192.0.2.2:2");
    // It closes its side after the header: no request follows.
    assert_eq!(common::raw_exchange_with(&server.addr(), &local, true), b"");
    let log = stop_and_read_log(&mut server);
    assert!(
        log.contains("Shut down: 0 replied, 0 closed without a reply"),
        "{log}"
    );
}

#[test]
fn no_header_or_a_bad_one_is_closed_without_a_byte_and_logged() {
    let mut server = Server::poetry(&["--proxy-protocol", "--max-length", "1000"]);
    let addr = server.addr();
    let bad: [&[u8]; 4] = [
        // A client that did not come through the balancer.
        CLASSIC,
        b"PROXY TCP4 not-an-address 127.0.0.1 51000 11000\r\n27:cummingsify.HERE IS MY POEM,",
        // v1 without an end of line within its 107 bytes.
        &[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(30),
        b"\r\n\r\n\0\r\nQUIT\n\x99\x11\x00\x0c garbage!!!",
    ];
    for request in bad {
        assert_eq!(raw_exchange(&addr, request), b"", "{request:?}");
    }
    // A v2 header declaring more than the server reads is refused from its length.
    let mut huge = v2_header(Command::Proxy, "198.51.100.23:40404", "127.0.0.1:11000");
    huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(raw_exchange(&addr, &huge), b"");

    let log = stop_and_read_log(&mut server);
    let refused: Vec<&str> = log.lines().filter(|line| line.contains("PROXY")).collect();
    assert_eq!(refused.len(), 5, "{log}");
    // Each names the socket's peer (no header vouched for any other) and the reason.
    for line in &refused {
        assert!(
            line.contains("peer=127.0.0.1:") && !line.contains("via="),
            "{line}"
        );
        assert!(line.contains("malformed_frame"), "{line}");
    }
    assert!(refused[0].contains("no PROXY protocol header"), "{}", refused[0]);
    assert!(
        refused[1].contains("malformed PROXY protocol header"),
        "{}",
        refused[1]
    );
    assert!(refused[4].contains("over the maximum of 4096"), "{}", refused[4]);
}

#[test]
fn without_the_flag_a_proxy_header_is_a_malformed_netstring() {
    let mut server = Server::poetry(&[]);
    let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 11000\r\n";
    assert_eq!(raw_exchange(&server.addr(), &with_request(v1)), b"");
    let v2 = v2_header(Command::Proxy, "198.51.100.23:40404", "127.0.0.1:11000");
    assert_eq!(raw_exchange(&server.addr(), &with_request(&v2)), b"");
    let log = stop_and_read_log(&mut server);
    assert_eq!(log.matches("malformed_frame").count(), 2, "{log}");
    assert!(!log.contains("203.0.113.7"), "{log}");
}

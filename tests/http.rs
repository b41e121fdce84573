//! The HTTP port end to end: a real `poetry serve --http-port 0`, spoken to
//! with a real HTTP client (and raw sockets where the client would hide what
//! is on the wire).

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Server, STEP};
use serde_json::Value;

fn url(server: &Server, path: &str) -> String {
    format!(
        "http://127.0.0.1:{}{path}",
        server.http_port.expect("an HTTP port")
    )
}

/// Status, headers and body of a response.
struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn from(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("an HTTP response");
        let body = response.body_mut().read_to_vec().expect("read the body");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body,
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The `error` field of a JSON error body.
    fn error(&self) -> String {
        assert!(self.header("content-type").starts_with("application/json"));
        let json: Value = serde_json::from_slice(&self.body).expect("a JSON body");
        json["error"].as_str().expect("an error message").to_owned()
    }
}

fn post(server: &Server, path: &str, body: &[u8]) -> Reply {
    Reply::from(common::http_agent().post(url(server, path)).send(body))
}

fn get(server: &Server, path: &str) -> Reply {
    Reply::from(common::http_agent().get(url(server, path)).call())
}

#[test]
fn both_ports_are_announced_and_the_netstring_port_still_works() {
    let server = Server::poetry(&["--http-port", "0"]);
    assert!(
        server.banner.starts_with("Serving transforms on 127.0.0.1:"),
        "{}",
        server.banner
    );
    assert_ne!(server.http_port, Some(server.port));
    let reply = common::raw_exchange(&server.addr(), b"27:cummingsify.HERE IS MY POEM,");
    assert_eq!(reply, b"15:here is my poem,");
    assert_eq!(
        post(&server, "/transform/cummingsify", b"HERE IS MY POEM").body,
        b"here is my poem"
    );
}

#[test]
fn transform_list_and_health() {
    let server = Server::poetry(&["--http-port", "0"]);

    let reply = post(&server, "/transform/cummingsify", b"HERE IS MY POEM");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(reply.body, b"here is my poem");

    // A chain ('+' is literal in a path), and a percent-encoded name.
    let reply = post(&server, "/transform/cummingsify+cummingsify", b"A. B. C.");
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"a. b. c."[..]));
    let reply = post(&server, "/transform/cummings%69fy", b"ABC");
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"abc"[..]));
    let reply = post(&server, "/transform/cummingsify", b"");
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b""[..]));

    let reply = get(&server, "/transforms");
    assert_eq!(reply.status, 200);
    let list: Value = serde_json::from_slice(&reply.body).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == "cummingsify")
        .expect("cummingsify is listed");
    assert!(!entry["description"].as_str().unwrap().is_empty());

    let reply = get(&server, "/healthz");
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
}

#[test]
fn errors_have_their_status_and_a_json_reason() {
    let server = Server::poetry(&["--http-port", "0", "--max-length", "1000"]);

    let reply = post(&server, "/transform/nope", b"X");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error(), "unknown transform \"nope\"");
    let reply = post(&server, "/transform/cummingsify+nope", b"X");
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains("\"nope\""));

    let reply = post(&server, "/transform/cummingsify", b"ab\xffcd");
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("not UTF-8"), "{}", reply.error());

    // As on the netstring port, the name and its period count: 12 + 988 bytes.
    let reply = post(&server, "/transform/cummingsify", &[b'A'; 988]);
    assert_eq!((reply.status, reply.body), (200, vec![b'a'; 988]));
    let reply = post(&server, "/transform/cummingsify", &[b'A'; 989]);
    assert_eq!(reply.status, 413);
    assert!(reply.error().contains("1000 bytes"), "{}", reply.error());

    let reply = get(&server, "/transform/cummingsify");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), "POST");
    assert_eq!(reply.error(), "method not allowed");
    let reply = Reply::from(common::http_agent().delete(url(&server, "/healthz")).call());
    assert_eq!(reply.status, 405);
    assert!(reply.header("allow").contains("GET"));
    assert_eq!(reply.error(), "method not allowed");

    for path in ["/", "/transform", "/transform/cummingsify/extra", "/nope"] {
        let reply = get(&server, path);
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.error(), "no such endpoint");
    }
}

#[test]
fn a_chunked_body_is_refused_once_it_passes_the_limit() {
    let server = Server::poetry(&["--http-port", "0", "--max-length", "1000"]);
    let addr = format!("127.0.0.1:{}", server.http_port.unwrap());
    let mut request = b"POST /transform/cummingsify HTTP/1.1\r\nHost: localhost\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for _ in 0..2 {
        request.extend_from_slice(b"1f5\r\n"); // 501 bytes
        request.extend_from_slice(&[b'A'; 501]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let reply = common::raw_exchange(&addr, &request);
    assert!(
        reply.starts_with(b"HTTP/1.1 413 "),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn the_http_reply_is_the_netstring_reply_byte_for_byte() {
    let server = Server::poetry(&["--http-port", "0"]);
    let poem = "HERE IS MY POEM.\nÎLE DE FRANCE — İSTANBUL, ΣΟΦΙΑ.\n\tTabs,  spaces . and periods...\n";
    for name in ["cummingsify", "cummingsify+cummingsify"] {
        let netstring = assert_cmd::Command::cargo_bin("poetry")
            .unwrap()
            .timeout(STEP)
            .env_remove("POETRY_HOST")
            .args(["transform", name, "--port", &server.port.to_string()])
            .write_stdin(poem)
            .output()
            .unwrap();
        assert!(netstring.status.success(), "{netstring:?}");
        let http = post(&server, &format!("/transform/{name}"), poem.as_bytes());
        assert_eq!(http.status, 200);
        assert_eq!(http.body, netstring.stdout, "{name}");
    }
}

/// Reads an HTTP response from `stream` until it holds `end` (or `STEP` passes).
fn read_until(stream: &mut std::net::TcpStream, end: &[u8]) -> Vec<u8> {
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply.windows(end.len()).any(|w| w == end) {
        let n = stream.read(&mut chunk).expect("read the response");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&chunk[..n]);
    }
    reply
}

#[test]
fn sigterm_closes_an_idle_keep_alive_connection_and_exits_at_once() {
    // A shutdown timeout far longer than the wait below: an idle connection
    // that held the server open would fail the test.
    let mut server = Server::poetry(&["--http-port", "0", "--shutdown-timeout", "60"]);
    let mut stream = common::connect(&format!("127.0.0.1:{}", server.http_port.unwrap()));
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let reply = read_until(&mut stream, b"\r\n\r\nok");
    assert!(reply.starts_with(b"HTTP/1.1 200 "));

    let start = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    let mut server = Server::poetry(&["--http-port", "0"]);
    let mut stream = common::connect(&format!("127.0.0.1:{}", server.http_port.unwrap()));
    // `Expect: 100-continue` tells us when the server is reading this request's body.
    stream
        .write_all(
            b"POST /transform/cummingsify HTTP/1.1\r\nHost: localhost\r\n\
              Content-Length: 15\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    read_until(&mut stream, b"100 Continue\r\n\r\n");

    server.signal("TERM");
    // Once the netstring port refuses connections, the shutdown is under way.
    let start = Instant::now();
    while std::net::TcpStream::connect(server.addr()).is_ok() {
        assert!(start.elapsed() < STEP, "the server kept accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }

    stream.write_all(b"HERE IS MY POEM").unwrap();
    let reply = read_until(&mut stream, b"\r\n\r\nhere is my poem");
    assert!(
        reply.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    let status = server.wait_exit(STEP);
    assert!(status.success(), "{status:?}");
}

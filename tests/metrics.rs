//! Prometheus metrics end to end: a real server, real requests over both
//! protocols, and the exposition read back over HTTP.

mod common;

use std::io::{Read, Write};
use std::time::Instant;

use common::{netstring, raw_exchange, Server, STEP};

const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";

/// `GET /metrics` on `port`: the body, after checking the status and type.
fn scrape(port: u16) -> String {
    let mut response = common::http_agent()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.body_mut().read_to_string().unwrap()
}

/// Scrapes until every line of `want` is in the exposition (a netstring
/// connection is counted just after its reply is sent), at most `STEP`.
fn scrape_until(port: u16, want: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let text = scrape(port);
        let missing: Vec<_> = want
            .iter()
            .filter(|line| !text.lines().any(|l| l == **line))
            .collect();
        if missing.is_empty() {
            return text;
        }
        assert!(start.elapsed() < STEP, "missing {missing:#?} in\n{text}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The distinct values of `label` among the series of `metric`.
fn label_values(text: &str, metric: &str, label: &str) -> std::collections::BTreeSet<String> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter_map(|line| {
            let start = line.find(&key)? + key.len();
            Some(line[start..start + line[start..].find('"')?].to_owned())
        })
        .collect()
}

#[test]
fn requests_of_both_protocols_are_counted_by_transform_and_outcome() {
    let server = Server::poetry(&["--http-port", "0", "--max-length", "1000"]);
    let http = server.http_port.unwrap();
    let addr = server.addr();

    for _ in 0..3 {
        assert_eq!(raw_exchange(&addr, CLASSIC), b"15:here is my poem,");
    }
    assert_eq!(raw_exchange(&addr, &netstring(b"no-such-transform.A POEM")), b"");
    assert_eq!(raw_exchange(&addr, b"12x"), b"", "malformed");
    assert_eq!(raw_exchange(&addr, b"5000:"), b"", "too long");
    assert_eq!(raw_exchange(&addr, &netstring(b"no period")), b"", "bad request");

    let post = |path: &str| {
        common::http_agent()
            .post(format!("http://127.0.0.1:{http}{path}"))
            .send("A POEM")
            .unwrap()
            .status()
    };
    assert_eq!(post("/transform/cummingsify"), 200);
    assert_eq!(post("/transform/cummingsify+cummingsify"), 200);
    assert_eq!(post("/transform/missing"), 404);

    let text = scrape_until(
        http,
        &[
            r#"poetry_requests_total{outcome="ok",protocol="netstring",transform="cummingsify"} 3"#,
            r#"poetry_requests_total{outcome="unknown_transform",protocol="netstring",transform="unknown"} 1"#,
            r#"poetry_requests_total{outcome="malformed_frame",protocol="netstring",transform="none"} 1"#,
            r#"poetry_requests_total{outcome="too_long",protocol="netstring",transform="none"} 1"#,
            r#"poetry_requests_total{outcome="bad_request",protocol="netstring",transform="none"} 1"#,
            r#"poetry_requests_total{outcome="ok",protocol="http",transform="cummingsify"} 1"#,
            r#"poetry_requests_total{outcome="ok",protocol="http",transform="cummingsify+cummingsify"} 1"#,
            r#"poetry_requests_total{outcome="unknown_transform",protocol="http",transform="unknown"} 1"#,
            r#"poetry_request_duration_seconds_count{protocol="netstring"} 7"#,
            r#"poetry_request_duration_seconds_count{protocol="http"} 3"#,
            // Poems handed to the service (the unknown names' too, 6 bytes
            // each) and transformed poems sent back.
            r#"poetry_request_bytes_total{protocol="netstring"} 51"#,
            r#"poetry_reply_bytes_total{protocol="netstring"} 45"#,
            r#"poetry_request_bytes_total{protocol="http"} 18"#,
            r#"poetry_reply_bytes_total{protocol="http"} 12"#,
            "poetry_buffered_bytes 0",
            "poetry_buffered_bytes_limit 268435456",
        ],
    );
    // Only the transform requests count: not /metrics, /healthz or the like.
    let total: u64 = text
        .lines()
        .filter(|line| line.starts_with("poetry_requests_total{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 10, "{text}");
    for line in [
        "# TYPE poetry_request_duration_seconds histogram",
        r#"poetry_request_duration_seconds_bucket{le="+Inf",protocol="netstring"} 7"#,
        "# TYPE poetry_open_connections gauge",
        "# TYPE poetry_connections_waiting gauge",
        "# TYPE poetry_requests counter",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // The scrape's own connection is open on the HTTP port.
    assert!(
        text.contains(r#"poetry_open_connections{protocol="http"} "#),
        "{text}"
    );
}

#[test]
fn a_flood_of_unknown_names_adds_no_label_values() {
    let server = Server::poetry(&["--http-port", "0"]);
    let http = server.http_port.unwrap();
    assert_eq!(raw_exchange(&server.addr(), CLASSIC), b"15:here is my poem,");
    // Names a client made up, each different (a cheap generator: no seed to manage).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let name = format!("{x:016x}-{i}");
        let request = netstring(format!("{name}.A POEM").as_bytes());
        assert_eq!(raw_exchange(&server.addr(), &request), b"");
        if i % 50 == 0 {
            // Through HTTP too, and as part of a chain.
            let status = common::http_agent()
                .post(format!("http://127.0.0.1:{http}/transform/cummingsify+{name}"))
                .send("A POEM")
                .unwrap()
                .status();
            assert_eq!(status, 404);
        }
    }
    let text = scrape_until(
        http,
        &[
            r#"poetry_requests_total{outcome="unknown_transform",protocol="netstring",transform="unknown"} 200"#,
            r#"poetry_requests_total{outcome="unknown_transform",protocol="http",transform="unknown"} 4"#,
        ],
    );
    let values = label_values(&text, "poetry_requests_total", "transform");
    assert_eq!(
        values.into_iter().collect::<Vec<_>>(),
        ["cummingsify", "unknown"],
        "{text}"
    );
}

#[test]
fn the_metrics_port_serves_metrics_only_and_sees_waiting_connections() {
    let mut server = Server::poetry(&["--metrics-port", "0", "--max-connections", "1"]);
    assert!(server.http_port.is_none());
    let metrics = server.metrics_port.unwrap();

    // Only /metrics: not the transform API.
    let status = common::http_agent()
        .get(format!("http://127.0.0.1:{metrics}/transforms"))
        .call()
        .unwrap()
        .status();
    assert_eq!(status, 404);

    // One connection in flight takes the only slot; the next one is accepted
    // and waits for it. The metrics port has slots of its own, so it answers.
    let mut held = common::connect(&server.addr());
    held.write_all(b"1").unwrap();
    let mut waiting = common::connect(&server.addr());
    waiting.write_all(CLASSIC).unwrap();
    scrape_until(
        metrics,
        &[
            r#"poetry_open_connections{protocol="netstring"} 1"#,
            r#"poetry_connections_waiting{protocol="netstring"} 1"#,
        ],
    );
    // Finishing the held request frees the slot for the waiting one.
    held.write_all(b"7:cummingsify.ABCDE,").unwrap();
    for (stream, want) in [
        (&mut held, &b"5:abcde,"[..]),
        (&mut waiting, b"15:here is my poem,"),
    ] {
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, want);
    }
    scrape_until(
        metrics,
        &[
            r#"poetry_connections_waiting{protocol="netstring"} 0"#,
            r#"poetry_open_connections{protocol="netstring"} 0"#,
            r#"poetry_requests_total{outcome="ok",protocol="netstring",transform="cummingsify"} 2"#,
        ],
    );

    server.signal("TERM");
    assert_eq!(server.wait_exit(STEP).code(), Some(0));
}

#[test]
fn both_http_ports_serve_the_metrics() {
    let server = Server::poetry(&["--http-port", "0", "--metrics-port", "0"]);
    let (http, metrics) = (server.http_port.unwrap(), server.metrics_port.unwrap());
    assert_ne!(http, metrics);
    for port in [http, metrics] {
        let text = scrape(port);
        assert!(
            text.contains("\npoetry_buffered_bytes_limit 268435456\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}

//! Prometheus metrics of one server, rendered by `prometheus-client`.
//!
//! Each [`Metrics`] owns its own registry, so two servers in one process (as
//! in tests) never share or clash over counters. The hot path touches only
//! handles kept here: a request costs a binary search over the known names,
//! a few atomic increments and one uncontended histogram lock; a label set
//! is created (and hashed) once, on its first use.
//!
//! The `transform` label is bounded: a known name, a chain of known names
//! (the first [`MAX_CHAIN_LABELS`] distinct chains of at most
//! [`MAX_CHAIN_LABEL_LEN`] bytes; others share `"chain"`), `"unknown"` for
//! any other name, `"none"` when the request never got as far as naming a
//! transform. Clients cannot create label values beyond those bounds.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::Outcome;
use crate::registry::CHAIN_SEPARATOR;

/// Distinct chains that get a label of their own; more would let clients
/// grow the label space with every permutation of names.
pub const MAX_CHAIN_LABELS: usize = 32;

/// Longest chain label, in bytes; a longer chain shares the `"chain"` label.
pub const MAX_CHAIN_LABEL_LEN: usize = 64;

/// Upper bounds of the request duration buckets, in seconds: from a small
/// poem served in tens of microseconds to the 30 s default timeout.
const DURATION_BUCKETS: [f64; 17] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

/// A listener of the server, as its metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The netstring port.
    Netstring,
    /// The HTTP transform API.
    Http,
    /// The port that serves only `/metrics`.
    Metrics,
}

impl Protocol {
    const COUNT: usize = 3;

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Netstring => "netstring",
            Protocol::Http => "http",
            Protocol::Metrics => "metrics",
        }
    }
}

const OUTCOMES: [Outcome; 11] = [
    Outcome::Ok,
    Outcome::UnknownTransform,
    Outcome::BadRequest,
    Outcome::MalformedFrame,
    Outcome::TooLong,
    Outcome::Timeout,
    Outcome::TransformFailed,
    Outcome::ClientGone,
    Outcome::ReplyTooLong,
    Outcome::Refused,
    Outcome::Cut,
];

impl Outcome {
    /// The outcome's position in [`OUTCOMES`], for table lookups.
    fn index(self) -> usize {
        self as usize
    }
}

/// Labels of `poetry_requests_total`, in the order they are rendered.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    outcome: &'static str,
    protocol: &'static str,
    transform: String,
}

/// Labels of the per-listener metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

/// The request counters of one `transform` label value, created on first use.
#[derive(Debug)]
struct Slot {
    label: String,
    counters: [[OnceLock<Counter>; OUTCOMES.len()]; Protocol::COUNT],
}

impl Slot {
    fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            counters: Default::default(),
        }
    }

    fn counter(
        &self,
        family: &Family<RequestLabels, Counter>,
        protocol: Protocol,
        outcome: Outcome,
    ) -> &Counter {
        self.counters[protocol as usize][outcome.index()].get_or_init(|| {
            family.get_or_create_owned(&RequestLabels {
                outcome: outcome.as_str(),
                protocol: protocol.as_str(),
                transform: self.label.clone(),
            })
        })
    }
}

/// A per-listener metric of each protocol, created on first use so that a
/// listener the server does not have shows no series.
#[derive(Debug)]
struct PerProtocol<M> {
    family: Family<ProtocolLabels, M, fn() -> M>,
    handles: [OnceLock<M>; Protocol::COUNT],
}

impl<M: Clone> PerProtocol<M> {
    fn new(constructor: fn() -> M) -> Self {
        Self {
            family: Family::new_with_constructor(constructor),
            handles: Default::default(),
        }
    }

    fn get(&self, protocol: Protocol) -> &M {
        self.handles[protocol as usize].get_or_init(|| {
            self.family.get_or_create_owned(&ProtocolLabels {
                protocol: protocol.as_str(),
            })
        })
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// Sorted known names, and their slots at the same positions in `slots`.
    names: Box<[Box<str>]>,
    slots: Box<[Slot]>,
    unknown: Slot,
    none: Slot,
    other_chains: Slot,
    chains: Mutex<HashMap<Box<str>, Slot>>,
    duration: PerProtocol<Histogram>,
    request_bytes: PerProtocol<Counter>,
    reply_bytes: PerProtocol<Counter>,
    open: PerProtocol<Gauge>,
    waiting: PerProtocol<Gauge>,
    refused: PerProtocol<Counter>,
    reclaimed: PerProtocol<Counter>,
    buffered: Gauge,
    transforms_waiting: Gauge,
    transforms_running: Gauge,
}

impl Metrics {
    /// Metrics for a server whose transforms are `names`, with a request
    /// buffer budget of `buffered_limit` bytes.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, buffered_limit: usize) -> Self {
        let mut names: Vec<Box<str>> = names.into_iter().map(Box::from).collect();
        names.sort();
        names.dedup();
        let slots = names.iter().map(|name| Slot::new(&**name)).collect();
        let metrics = Self {
            registry: Registry::default(),
            requests: Family::default(),
            names: names.into(),
            slots,
            unknown: Slot::new("unknown"),
            none: Slot::new("none"),
            other_chains: Slot::new("chain"),
            chains: Mutex::new(HashMap::new()),
            duration: PerProtocol::new(duration_histogram),
            request_bytes: PerProtocol::new(Counter::default),
            reply_bytes: PerProtocol::new(Counter::default),
            open: PerProtocol::new(Gauge::default),
            waiting: PerProtocol::new(Gauge::default),
            refused: PerProtocol::new(Counter::default),
            reclaimed: PerProtocol::new(Counter::default),
            buffered: Gauge::default(),
            transforms_waiting: Gauge::default(),
            transforms_running: Gauge::default(),
        };
        metrics.register(buffered_limit)
    }

    fn register(mut self, buffered_limit: usize) -> Self {
        let r = &mut self.registry;
        r.register(
            "poetry_requests",
            "Requests by protocol, transform and how they ended (a netstring connection is one request)",
            self.requests.clone(),
        );
        r.register_with_unit(
            "poetry_request_duration",
            "Time from accepting a netstring connection, or from an HTTP request's head, to its outcome",
            Unit::Seconds,
            self.duration.family.clone(),
        );
        r.register_with_unit(
            "poetry_request",
            "Poem bytes of the requests handed to the transforms (netstring payload after the name, or HTTP body)",
            Unit::Bytes,
            self.request_bytes.family.clone(),
        );
        r.register_with_unit(
            "poetry_reply",
            "Transformed poem bytes sent back (netstring payload or HTTP body)",
            Unit::Bytes,
            self.reply_bytes.family.clone(),
        );
        r.register(
            "poetry_open_connections",
            "Connections being served now, each holding a --max-connections slot (the metrics port has its own)",
            self.open.family.clone(),
        );
        r.register(
            "poetry_connections_waiting",
            "Connections accepted but waiting for a --max-connections slot (at most one per listener; \
             later ones wait unaccepted in the kernel's backlog)",
            self.waiting.family.clone(),
        );
        r.register(
            "poetry_connections_refused",
            "Connections closed at once because their address had --max-connections-per-ip open",
            self.refused.family.clone(),
        );
        r.register(
            "poetry_connections_reclaimed",
            "Idle connections closed to give their slot to a connection waiting for one",
            self.reclaimed.family.clone(),
        );
        r.register_with_unit(
            "poetry_buffered",
            "Bytes held now against the --max-buffered budget: requests as they arrive beyond each \
             connection's free 16 KiB, and replies until written (replies may go into debt)",
            Unit::Bytes,
            self.buffered.clone(),
        );
        r.register(
            "poetry_transforms_waiting",
            "Heavy transforms waiting for a thread of the transform pool",
            self.transforms_waiting.clone(),
        );
        r.register(
            "poetry_transforms_running",
            "Heavy transforms running now on the transform pool",
            self.transforms_running.clone(),
        );
        let limit = Gauge::<i64>::default();
        limit.set(i64::try_from(buffered_limit).unwrap_or(i64::MAX));
        r.register(
            "poetry_buffered_bytes_limit",
            "The --max-buffered budget, in bytes",
            limit,
        );
        self
    }

    /// Counts one request that ended with `outcome` after `elapsed`.
    /// `transform` is the name asked for, when the request got that far.
    pub fn request(&self, protocol: Protocol, transform: Option<&str>, outcome: Outcome, elapsed: Duration) {
        self.duration.get(protocol).observe(elapsed.as_secs_f64());
        let slot = match transform {
            None => &self.none,
            Some(_) if outcome == Outcome::UnknownTransform => &self.unknown,
            Some(name) => match self.names.binary_search_by(|known| (**known).cmp(name)) {
                Ok(i) => &self.slots[i],
                Err(_) if self.is_known_chain(name) => return self.count_chain(name, protocol, outcome),
                Err(_) => &self.unknown,
            },
        };
        slot.counter(&self.requests, protocol, outcome).inc();
    }

    fn is_known_chain(&self, name: &str) -> bool {
        name.contains(CHAIN_SEPARATOR)
            && name
                .split(CHAIN_SEPARATOR)
                .all(|part| self.names.binary_search_by(|known| (**known).cmp(part)).is_ok())
    }

    /// Chains are rare: a lock here costs the common path nothing.
    fn count_chain(&self, name: &str, protocol: Protocol, outcome: Outcome) {
        let mut chains = self
            .chains
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !chains.contains_key(name) && chains.len() < MAX_CHAIN_LABELS && name.len() <= MAX_CHAIN_LABEL_LEN
        {
            chains.insert(name.into(), Slot::new(name));
        }
        let slot = chains.get(name).unwrap_or(&self.other_chains);
        slot.counter(&self.requests, protocol, outcome).inc();
    }

    /// Counts the poem bytes of a request handed to a transform.
    pub fn request_bytes(&self, protocol: Protocol, len: usize) {
        self.request_bytes.get(protocol).inc_by(len as u64);
    }

    /// Counts the bytes of a transformed poem.
    pub fn reply_bytes(&self, protocol: Protocol, len: usize) {
        self.reply_bytes.get(protocol).inc_by(len as u64);
    }

    /// Shows a listener's connection gauges (at 0) from its start, so that
    /// an alert on them has a series to watch before the first connection.
    pub fn listening(&self, protocol: Protocol) {
        self.open.get(protocol);
        self.waiting.get(protocol);
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn open_connection(&self, protocol: Protocol) -> GaugeGuard {
        GaugeGuard::new(self.open.get(protocol))
    }

    /// Counts a connection refused for its address's connection count.
    pub fn refused(&self, protocol: Protocol) {
        self.refused.get(protocol).inc();
    }

    /// Counts an idle connection closed to free its slot.
    pub fn reclaimed(&self, protocol: Protocol) {
        self.reclaimed.get(protocol).inc();
    }

    /// Counts an accepted connection as waiting for a slot until the guard is dropped.
    pub fn waiting_connection(&self, protocol: Protocol) -> GaugeGuard {
        GaugeGuard::new(self.waiting.get(protocol))
    }

    /// The exposition text (OpenMetrics), with `buffered` bytes in use now
    /// and the transform pool's `waiting` and `running` counts.
    pub fn render(&self, buffered: usize, waiting: usize, running: usize) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.buffered.set(gauge(buffered));
        self.transforms_waiting.set(gauge(waiting));
        self.transforms_running.set(gauge(running));
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Keeps a gauge one higher while it lives.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(["cummingsify", "reverse-lines"], 1000)
    }

    fn series(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn outcomes_index_their_table() {
        for (i, outcome) in OUTCOMES.into_iter().enumerate() {
            assert_eq!(outcome.index(), i, "{outcome:?}");
        }
    }

    #[test]
    fn labels_are_bounded_whatever_the_names() {
        let m = metrics();
        let ok = Duration::from_micros(30);
        m.request(Protocol::Netstring, Some("cummingsify"), Outcome::Ok, ok);
        m.request(Protocol::Netstring, Some("cummingsify"), Outcome::Ok, ok);
        m.request(Protocol::Http, Some("cummingsify+reverse-lines"), Outcome::Ok, ok);
        for i in 0..100 {
            m.request(
                Protocol::Netstring,
                Some(&format!("nope{i}")),
                Outcome::UnknownTransform,
                ok,
            );
            // A name that is not known but failed otherwise must not leak either.
            m.request(Protocol::Http, Some(&format!("x{i}")), Outcome::BadRequest, ok);
        }
        m.request(Protocol::Netstring, None, Outcome::MalformedFrame, ok);
        let text = m.render(0, 0, 0);
        let requests = series(&text, "poetry_requests_total{");
        assert!(requests.contains(
            &r#"poetry_requests_total{outcome="ok",protocol="netstring",transform="cummingsify"} 2"#
                .to_owned()
        ));
        assert!(requests.contains(
            &r#"poetry_requests_total{outcome="ok",protocol="http",transform="cummingsify+reverse-lines"} 1"#
                .to_owned()
        ));
        assert!(requests.contains(
            &r#"poetry_requests_total{outcome="unknown_transform",protocol="netstring",transform="unknown"} 100"#
                .to_owned()
        ));
        assert!(requests.contains(
            &r#"poetry_requests_total{outcome="bad_request",protocol="http",transform="unknown"} 100"#
                .to_owned()
        ));
        assert!(requests.contains(
            &r#"poetry_requests_total{outcome="malformed_frame",protocol="netstring",transform="none"} 1"#
                .to_owned()
        ));
        assert_eq!(requests.len(), 5, "{requests:#?}");
    }

    #[test]
    fn chains_beyond_the_cap_share_one_label() {
        let names = ["shout", "title"];
        let m = Metrics::new(names, 1000);
        let long = ["shout"; 11].join("+");
        assert!(long.len() > MAX_CHAIN_LABEL_LEN);
        m.request(Protocol::Http, Some(&long), Outcome::Ok, Duration::ZERO);
        // Every chain of 6 names: 64 distinct, all of known names.
        for bits in 0..64u32 {
            let chain: Vec<&str> = (0..6).map(|i| names[(bits >> i & 1) as usize]).collect();
            m.request(
                Protocol::Netstring,
                Some(&chain.join("+")),
                Outcome::Ok,
                Duration::ZERO,
            );
        }
        let text = m.render(0, 0, 0);
        let requests = series(&text, "poetry_requests_total{");
        assert_eq!(requests.len(), MAX_CHAIN_LABELS + 2, "{requests:#?}");
        assert!(requests.contains(&format!(
            r#"poetry_requests_total{{outcome="ok",protocol="netstring",transform="chain"}} {}"#,
            64 - MAX_CHAIN_LABELS
        )));
        assert!(requests.contains(
            &r#"poetry_requests_total{outcome="ok",protocol="http",transform="chain"} 1"#.to_owned()
        ));
    }

    #[test]
    fn gauges_follow_their_guards_and_the_budget() {
        let m = metrics();
        let a = m.open_connection(Protocol::Netstring);
        let _b = m.open_connection(Protocol::Netstring);
        let _w = m.waiting_connection(Protocol::Http);
        drop(a);
        let text = m.render(600, 0, 0);
        for line in [
            r#"poetry_open_connections{protocol="netstring"} 1"#,
            r#"poetry_connections_waiting{protocol="http"} 1"#,
            "poetry_buffered_bytes 600",
            "poetry_buffered_bytes_limit 1000",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Two servers in one process keep separate counts.
        assert!(!metrics().render(0, 0, 0).contains("poetry_open_connections{"));
    }
}

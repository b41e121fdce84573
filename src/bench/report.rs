//! What a run came to, for people (a short table) and for programs (one JSON object).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::idle::IdleOutcome;
use super::load::{ErrorCounts, Outcome};
use super::Plan;

/// The server's side of a run, read from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFigures {
    /// CPU time the server used during the run.
    pub cpu: Duration,
    /// The server's resident memory at the end of the run, in bytes.
    pub rss_bytes: u64,
}

/// Every figure of a run; serialises to the `--json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `host:port` of the server.
    pub target: String,
    /// The transform (or chain) requested.
    pub transform: String,
    /// Bytes in each request, framing included.
    pub request_bytes: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Load threads.
    pub threads: usize,
    /// Requests finished, successful or not.
    pub requests: u64,
    /// Requests that got exactly the expected reply.
    pub ok: u64,
    /// Failed requests by kind, and their total.
    pub errors: Errors,
    /// Seconds from the first request to the end of the last.
    pub elapsed_secs: f64,
    /// Verified replies per second.
    pub rps: f64,
    /// Latency of the successful requests, connect to close (null when none succeeded).
    pub latency_us: Option<Latency>,
    /// Bytes moved per second each way.
    pub bytes_per_sec: Throughput,
    /// Server CPU time per finished request, in microseconds (with --server-pid).
    pub server_cpu_us_per_request: Option<f64>,
    /// The server's resident memory after the load, in bytes (with --server-pid).
    pub server_rss_bytes: Option<u64>,
    /// Idle connections opened for the memory measurement (with --idle).
    pub idle_connections: Option<usize>,
    /// Of those, how many the server had accepted, from its count of open files.
    pub idle_accepted: Option<usize>,
    /// Extra server memory per idle connection, in bytes (with --idle).
    pub idle_rss_bytes_per_connection: Option<f64>,
    /// Anything that qualifies the figures.
    pub notes: Vec<String>,
}

/// Failed requests by kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Errors {
    /// The counts.
    #[serde(flatten)]
    pub counts: ErrorCounts,
    /// Their sum.
    pub total: u64,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The slowest.
    pub max: u64,
    /// The mean.
    pub mean: f64,
}

/// Bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throughput {
    /// Request bytes written per second.
    pub request: f64,
    /// Reply bytes read per second.
    pub reply: f64,
}

impl Report {
    /// Puts the figures of a run together.
    pub fn new(
        plan: &Plan,
        outcome: &Outcome,
        server: Option<ServerFigures>,
        idle: Option<&IdleOutcome>,
    ) -> Self {
        let secs = outcome.elapsed.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let h = &outcome.latency_us;
        let latency = (outcome.ok > 0).then(|| Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        });
        let requests = outcome.requests();
        let mut notes = Vec::new();
        if let Some(err) = &outcome.first_other {
            notes.push(format!("the first failure of kind `other` was: {err}"));
        }
        if let Some(idle) = idle {
            if let Some(err) = &idle.open_error {
                notes.push(format!(
                    "only {} of {} idle connections could be opened: {err}",
                    idle.opened, idle.wanted
                ));
            }
            if let Some(accepted) = idle.accepted.filter(|&a| a < idle.opened) {
                notes.push(format!(
                    "the server had accepted only {accepted} of the {} idle connections (the rest \
                     waited in its listen backlog), so the per-connection figure is too low",
                    idle.opened
                ));
            }
        }
        Report {
            target: plan.addr.to_string(),
            transform: plan.transform.clone(),
            request_bytes: plan.request.len(),
            concurrency: plan.concurrency,
            threads: plan.threads.clamp(1, plan.concurrency.max(1)),
            requests,
            ok: outcome.ok,
            errors: Errors {
                counts: outcome.errors,
                total: outcome.errors.total(),
            },
            elapsed_secs: secs,
            rps: per_sec(outcome.ok),
            latency_us: latency,
            bytes_per_sec: Throughput {
                request: per_sec(outcome.request_bytes),
                reply: per_sec(outcome.reply_bytes),
            },
            server_cpu_us_per_request: server
                .filter(|_| requests > 0)
                .map(|s| s.cpu.as_secs_f64() * 1e6 / requests as f64),
            server_rss_bytes: server.map(|s| s.rss_bytes),
            idle_connections: idle.map(|i| i.opened),
            idle_accepted: idle.and_then(|i| i.accepted),
            idle_rss_bytes_per_connection: idle.and_then(IdleOutcome::bytes_per_connection),
            notes,
        }
    }

    /// True when any request failed.
    pub fn has_errors(&self) -> bool {
        self.errors.total > 0
    }

    /// The report as a short table for a person.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<12}{value}");
        };
        line(
            "target",
            format!(
                "{} `{}` ({} bytes a request), {} connections on {} threads",
                self.target, self.transform, self.request_bytes, self.concurrency, self.threads
            ),
        );
        line(
            "requests",
            format!(
                "{} in {:.2} s: {} ok, {} failed",
                self.requests, self.elapsed_secs, self.ok, self.errors.total
            ),
        );
        if self.errors.total > 0 {
            let kinds: Vec<String> = self
                .errors
                .counts
                .labelled()
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(label, n)| format!("{label} {n}"))
                .collect();
            line("errors", kinds.join(", "));
        }
        line(
            "throughput",
            format!(
                "{:.0} req/s; request {:.2} MB/s, reply {:.2} MB/s",
                self.rps,
                self.bytes_per_sec.request / 1e6,
                self.bytes_per_sec.reply / 1e6
            ),
        );
        if let Some(l) = &self.latency_us {
            line(
                "latency",
                format!(
                    "p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
                    micros(l.p50),
                    micros(l.p90),
                    micros(l.p99),
                    micros(l.p999),
                    micros(l.max)
                ),
            );
        }
        if let Some(rss) = self.server_rss_bytes {
            let cpu = self.server_cpu_us_per_request.map_or_else(
                || "no requests".to_owned(),
                |us| format!("{us:.1} µs CPU a request"),
            );
            line("server", format!("{cpu}, {} resident", mebibytes(rss)));
        }
        if let (Some(n), Some(bytes)) = (self.idle_connections, self.idle_rss_bytes_per_connection) {
            line(
                "idle",
                format!("{n} connections held open: {bytes:.0} bytes of server memory each"),
            );
        }
        for note in &self.notes {
            line("note", note.clone());
        }
        out
    }
}

/// Microseconds, in the unit that reads best.
pub(crate) fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(1_234), "1.23 ms");
        assert_eq!(micros(2_500_000), "2.50 s");
    }
}

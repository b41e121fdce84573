//! What a run came to, for people (a short table) and for programs (one JSON object).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::idle::IdleOutcome;
use super::outcome::{ErrorCounts, Outcome, Phase, Row, WarmupCounts};
use super::schedule::Arrivals;
use super::{Load, Plan};

/// How far short of the requests due in the window the verified replies may
/// fall before an open loop counts as having missed its rate.
pub const SHORTFALL_TOLERANCE: f64 = 0.05;

/// How late an open loop's 99th percentile start may be before the report
/// says the load generator, not the server, was short: a few ticks of the timer.
const GENERATOR_LAG_US: u64 = 2_000;

/// Every figure of a run; serialises to the `--json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `host:port` of the server.
    pub target: String,
    /// The transform (or chain) requested.
    pub transform: String,
    /// Bytes in each request, framing included.
    pub request_bytes: usize,
    /// Requests in flight at once (in an open loop, at most).
    pub concurrency: usize,
    /// Load threads.
    pub threads: usize,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// The open loop's rate and how it was kept (null in a closed loop).
    pub rate: Option<Rate>,
    /// Seconds of warm-up, left out of every other figure.
    pub warmup_secs: f64,
    /// Requests due in the warm-up.
    pub warmup: WarmupCounts,
    /// Seconds in the measured window.
    pub window_secs: f64,
    /// True when the run was interrupted: the figures cover what it measured until then.
    pub interrupted: bool,
    /// Measured requests finished, successful or not.
    pub requests: u64,
    /// Measured requests that got exactly the expected reply.
    pub ok: u64,
    /// Failed requests by kind, and their total.
    pub errors: Errors,
    /// Verified replies that arrived within the window, per second of it.
    pub rps: f64,
    /// Latency in microseconds, from when each request was due to its end,
    /// one row per way it ended (null where none ended so).
    pub latency_us: LatencyRows,
    /// How long each phase of a request took, in microseconds, over the
    /// requests that got through it.
    pub phases_us: Phases,
    /// Bytes moved per second of the window each way.
    pub bytes_per_sec: Throughput,
    /// Server CPU time per reply it completed in the window, in microseconds (with --server-pid).
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

/// An open loop's rate: asked, offered and achieved.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rate {
    /// Requests per second asked for.
    pub target_rps: f64,
    /// How the requests were spaced.
    pub arrivals: Arrivals,
    /// Requests due in the window (with Poisson arrivals, about the target
    /// times the window, give or take chance).
    pub due: u64,
    /// Of those, the ones that started late because every slot allowed by
    /// --concurrency was busy when they fell due.
    pub late: u64,
    /// Of those, the ones never sent: still waiting for a slot at the end.
    pub unsent: u64,
    /// Verified replies per second of the window.
    pub achieved_rps: f64,
    /// True when the verified replies fell more than 5 % short of the
    /// requests due.
    pub shortfall: bool,
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

/// Latency by how the requests ended.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyRows {
    /// Requests that got exactly the expected reply.
    pub ok: Option<Latency>,
    /// Requests that failed in any way but a timeout.
    pub failed: Option<Latency>,
    /// Requests that timed out.
    pub timed_out: Option<Latency>,
}

/// The phases of a request, each timed from the end of the one before.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Phases {
    /// From when the request was due to when it started (open loop only).
    pub wait: Option<Latency>,
    /// Establishing the connection.
    pub connect: Option<Latency>,
    /// Writing the request.
    pub request_written: Option<Latency>,
    /// From the request written to the first byte of the reply.
    pub first_reply_byte: Option<Latency>,
    /// From the first byte of the reply to the server closing the connection.
    pub close: Option<Latency>,
}

/// A distribution's summary, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// How many values.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The greatest.
    pub max: u64,
    /// The mean.
    pub mean: f64,
}

impl Latency {
    /// The summary of `h`, or `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Latency {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        })
    }
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
    pub fn new(plan: &Plan, outcome: &Outcome, idle: Option<&IdleOutcome>) -> Self {
        let secs = outcome.window.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let rate = match plan.load {
            Load::Closed => None,
            Load::Open { rate, arrivals } => {
                let open = outcome.open;
                Some(Rate {
                    target_rps: rate,
                    arrivals,
                    due: open.due,
                    late: open.late,
                    unsent: open.unsent,
                    achieved_rps: per_sec(outcome.ok_in_window),
                    shortfall: (outcome.ok_in_window as f64) < open.due as f64 * (1.0 - SHORTFALL_TOLERANCE),
                })
            }
        };
        let phase = |p: Phase| Latency::of(&outcome.phases_us[p as usize]);
        let row = |r: Row| Latency::of(&outcome.latency_us[r as usize]);
        let concurrency = plan.concurrency.max(1);
        Report {
            target: plan.addr.to_string(),
            transform: plan.transform.clone(),
            request_bytes: plan.request.len(),
            concurrency,
            threads: plan.threads.clamp(1, concurrency),
            mode: match plan.load {
                Load::Closed => "closed",
                Load::Open { .. } => "open",
            },
            rate,
            warmup_secs: plan.warmup.as_secs_f64(),
            warmup: outcome.warmup,
            window_secs: secs,
            interrupted: outcome.interrupted,
            requests: outcome.requests(),
            ok: outcome.ok,
            errors: Errors {
                counts: outcome.errors,
                total: outcome.errors.total(),
            },
            rps: per_sec(outcome.ok_in_window),
            latency_us: LatencyRows {
                ok: row(Row::Ok),
                failed: row(Row::Failed),
                timed_out: row(Row::TimedOut),
            },
            phases_us: Phases {
                wait: rate.and(phase(Phase::Wait)),
                connect: phase(Phase::Connect),
                request_written: phase(Phase::Written),
                first_reply_byte: phase(Phase::FirstByte),
                close: phase(Phase::Close),
            },
            bytes_per_sec: Throughput {
                request: per_sec(outcome.request_bytes),
                reply: per_sec(outcome.reply_bytes),
            },
            server_cpu_us_per_request: outcome
                .server_cpu
                .filter(|_| outcome.answered_in_window > 0)
                .map(|cpu| cpu.as_secs_f64() * 1e6 / outcome.answered_in_window as f64),
            server_rss_bytes: outcome.server_rss_bytes,
            idle_connections: idle.map(|i| i.opened),
            idle_accepted: idle.and_then(|i| i.accepted),
            idle_rss_bytes_per_connection: idle.and_then(IdleOutcome::bytes_per_connection),
            notes: notes(outcome, rate, idle),
        }
    }

    /// True when any measured request failed.
    pub fn has_errors(&self) -> bool {
        self.errors.total > 0
    }

    /// True when an open loop's verified replies fell short of the requests due.
    pub fn fell_short(&self) -> bool {
        self.rate.is_some_and(|r| r.shortfall)
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
                "{} `{}` ({} a request)",
                self.target,
                self.transform,
                plural(self.request_bytes as u64, "byte")
            ),
        );
        let warmup = if self.warmup_secs > 0.0 {
            format!(
                "; {:.2} s warm-up left out ({})",
                self.warmup_secs,
                plural(self.warmup.requests, "request")
            )
        } else {
            String::new()
        };
        let threads = plural(self.threads as u64, "thread");
        match &self.rate {
            None => line(
                "load",
                format!(
                    "closed loop, {} on {threads}{warmup}",
                    plural(self.concurrency as u64, "connection")
                ),
            ),
            Some(rate) => line(
                "load",
                format!(
                    "open loop at {} req/s, {} arrivals, up to {} in flight on {threads}{warmup}",
                    rate.target_rps,
                    rate.arrivals.name(),
                    self.concurrency
                ),
            ),
        }
        line(
            "requests",
            format!(
                "{} in {:.2} s: {} ok, {} failed{}",
                self.requests,
                self.window_secs,
                self.ok,
                self.errors.total,
                if self.interrupted { " (interrupted)" } else { "" }
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
        if let Some(rate) = &self.rate {
            line(
                "rate",
                format!(
                    "achieved {:.0} of {} req/s ({} due, {:.1} % answered right in the window){}",
                    rate.achieved_rps,
                    rate.target_rps,
                    rate.due,
                    if rate.due > 0 {
                        self.rps * self.window_secs / rate.due as f64 * 100.0
                    } else {
                        0.0
                    },
                    if rate.shortfall { ": SHORT" } else { "" }
                ),
            );
        }
        let rows = [
            (Row::Ok, self.latency_us.ok),
            (Row::Failed, self.latency_us.failed),
            (Row::TimedOut, self.latency_us.timed_out),
        ];
        table(&mut out, "latency", rows.map(|(row, l)| (row.label(), l)));
        let phases = [
            (Phase::Wait, self.phases_us.wait),
            (Phase::Connect, self.phases_us.connect),
            (Phase::Written, self.phases_us.request_written),
            (Phase::FirstByte, self.phases_us.first_reply_byte),
            (Phase::Close, self.phases_us.close),
        ];
        table(&mut out, "phases", phases.map(|(phase, l)| (phase.label(), l)));
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<12}{value}");
        };
        if let Some(rss) = self.server_rss_bytes {
            let cpu = self.server_cpu_us_per_request.map_or_else(
                || "no CPU figure (no reply completed in the window)".to_owned(),
                |us| format!("{us:.1} µs CPU a reply"),
            );
            line("server", format!("{cpu}, {} resident", mebibytes(rss)));
        }
        if let (Some(n), Some(bytes)) = (self.idle_connections, self.idle_rss_bytes_per_connection) {
            line(
                "idle",
                format!(
                    "{} held open: {bytes:.0} bytes of server memory each",
                    plural(n as u64, "connection")
                ),
            );
        }
        for note in &self.notes {
            line("note", note.clone());
        }
        out
    }
}

/// What qualifies the figures of a run, in words.
fn notes(outcome: &Outcome, rate: Option<Rate>, idle: Option<&IdleOutcome>) -> Vec<String> {
    let mut notes = Vec::new();
    if outcome.interrupted {
        notes.push(format!(
            "interrupted: the figures cover the {:.2} s measured before it; {} in flight then left unjudged",
            outcome.window.as_secs_f64(),
            plural(outcome.abandoned, "request")
        ));
    }
    if outcome.warmup.failed > 0 {
        notes.push(format!(
            "{} of the {} in the warm-up failed (not counted above)",
            outcome.warmup.failed,
            plural(outcome.warmup.requests, "request")
        ));
    }
    if let Some(rate) = rate.filter(|r| r.late + r.unsent > 0) {
        notes.push(format!(
            "{} of {} due could not start on time: every slot of --concurrency was busy; {} never sent. \
             Latency counts from when each was due; raise --concurrency to send them on time",
            rate.late + rate.unsent,
            rate.due,
            rate.unsent
        ));
    }
    let wait = Latency::of(&outcome.phases_us[Phase::Wait as usize]).filter(|_| rate.is_some());
    if let Some(wait) = wait.filter(|w| w.p99 >= GENERATOR_LAG_US) {
        if rate.is_some_and(|r| r.late + r.unsent == 0) {
            notes.push(format!(
                "1 % of the requests started {} or more after they were due, with slots free: this \
                 machine (its CPU, or the load threads' share of it) held them back, not the server, \
                 and their latency includes the delay",
                micros(wait.p99)
            ));
        }
    }
    if let Some(err) = &outcome.first_other {
        notes.push(format!("the first failure of kind `other` was: {err}"));
    }
    if let Some(err) = &outcome.server_error {
        notes.push(format!("the server could not be read: {err}"));
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
    notes
}

/// A table of distributions under `title`, one row for each that has values;
/// nothing when none has.
fn table<const N: usize>(out: &mut String, title: &str, rows: [(&str, Option<Latency>); N]) {
    if rows.iter().all(|(_, l)| l.is_none()) {
        return;
    }
    let _ = writeln!(
        out,
        "  {title:<20}{:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "count", "p50", "p90", "p99", "p99.9", "max"
    );
    for (label, l) in rows {
        if let Some(l) = l {
            let _ = writeln!(
                out,
                "    {label:<18}{:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
                l.count,
                micros(l.p50),
                micros(l.p90),
                micros(l.p99),
                micros(l.p999),
                micros(l.max)
            );
        }
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

/// `n` and `what`, with an `s` when `n` is not one.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
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

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(plural(1, "thread"), "1 thread");
        assert_eq!(plural(0, "thread"), "0 threads");
        assert_eq!(plural(2, "connection"), "2 connections");
    }
}

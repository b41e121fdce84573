//! What a run measured: each request's outcome and timings, recorded per
//! load thread without locks, then merged into one [`Outcome`].

use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Significant figures kept by the histograms: 0.1% resolution.
const SIGNIFICANT_FIGURES: u8 = 3;

/// Failed requests, by what went wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// Nothing listened: the connection was refused.
    pub refused: u64,
    /// The connection was reset (or the server closed it before taking the request).
    pub reset: u64,
    /// The server closed the connection without sending a byte.
    pub closed_without_reply: u64,
    /// The server closed the connection in the middle of a reply.
    pub cut_off: u64,
    /// The server sent a complete reply, but not the one the transform makes.
    pub wrong_bytes: u64,
    /// The request took longer than the timeout.
    pub timeout: u64,
    /// Any other failure (for one, running out of local ports or file descriptors).
    pub other: u64,
}

impl ErrorCounts {
    /// Every failed request.
    pub fn total(&self) -> u64 {
        self.labelled().iter().map(|(_, n)| n).sum()
    }

    /// Each kind with a label, in a fixed order.
    pub fn labelled(&self) -> [(&'static str, u64); 7] {
        [
            ("refused", self.refused),
            ("reset", self.reset),
            ("closed without a reply", self.closed_without_reply),
            ("cut off", self.cut_off),
            ("wrong bytes", self.wrong_bytes),
            ("timeout", self.timeout),
            ("other", self.other),
        ]
    }

    fn count(&mut self, failure: &Failure) {
        let slot = match failure {
            Failure::Refused => &mut self.refused,
            Failure::Reset => &mut self.reset,
            Failure::ClosedWithoutReply => &mut self.closed_without_reply,
            Failure::CutOff => &mut self.cut_off,
            Failure::WrongBytes => &mut self.wrong_bytes,
            Failure::Timeout => &mut self.timeout,
            Failure::Other(_) => &mut self.other,
        };
        *slot += 1;
    }

    fn add(&mut self, other: &ErrorCounts) {
        self.refused += other.refused;
        self.reset += other.reset;
        self.closed_without_reply += other.closed_without_reply;
        self.cut_off += other.cut_off;
        self.wrong_bytes += other.wrong_bytes;
        self.timeout += other.timeout;
        self.other += other.other;
    }
}

/// What one request came to, when it did not get the expected reply.
#[derive(Debug)]
pub(super) enum Failure {
    Refused,
    Reset,
    ClosedWithoutReply,
    CutOff,
    WrongBytes,
    Timeout,
    Other(io::Error),
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        use io::ErrorKind::*;
        match err.kind() {
            ConnectionRefused => Failure::Refused,
            // A write that meets a closed connection fails with EPIPE once the
            // peer's RST has arrived: the server dropped us, as a reset does.
            ConnectionReset | ConnectionAborted | BrokenPipe => Failure::Reset,
            TimedOut => Failure::Timeout,
            _ => Failure::Other(err),
        }
    }
}

/// The rows of the latency figures: how the requests ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// Got exactly the expected reply.
    Ok,
    /// Failed in any way but a timeout.
    Failed,
    /// Took longer than the timeout.
    TimedOut,
}

impl Row {
    /// Every row, in the order of the report.
    pub const ALL: [Row; 3] = [Row::Ok, Row::Failed, Row::TimedOut];

    /// The row's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Row::Ok => "ok",
            Row::Failed => "failed",
            Row::TimedOut => "timed out",
        }
    }
}

/// The phases of a request, each timed from the end of the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From when the request was due to when it started (open loop only).
    Wait,
    /// The TCP connection being established.
    Connect,
    /// The whole request being written.
    Written,
    /// Waiting for the first byte of the reply.
    FirstByte,
    /// The rest of the reply, until the server closed the connection.
    Close,
}

impl Phase {
    /// Every phase, in the order they happen.
    pub const ALL: [Phase; 5] = [
        Phase::Wait,
        Phase::Connect,
        Phase::Written,
        Phase::FirstByte,
        Phase::Close,
    ];

    /// The phase's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Wait => "wait to start",
            Phase::Connect => "connect",
            Phase::Written => "request written",
            Phase::FirstByte => "first reply byte",
            Phase::Close => "close",
        }
    }

    /// The phase's key in the JSON report.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Wait => "wait",
            Phase::Connect => "connect",
            Phase::Written => "request_written",
            Phase::FirstByte => "first_reply_byte",
            Phase::Close => "close",
        }
    }
}

/// Requests whose intended start fell in the warm-up: sent, then left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WarmupCounts {
    /// Requests finished.
    pub requests: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
}

/// What the schedule of an open loop came to within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpenCounts {
    /// Requests due in the window.
    pub due: u64,
    /// Of those, the ones that started late because every slot allowed by
    /// the concurrency was busy when they fell due.
    pub late: u64,
    /// Of those, the ones still waiting for a slot when the window ended (or
    /// the run was interrupted): never sent.
    pub unsent: u64,
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Measured requests (due in the window) that got exactly the expected reply.
    pub ok: u64,
    /// Measured requests that did not, by kind.
    pub errors: ErrorCounts,
    /// Latency of the measured requests in microseconds, from when each was
    /// due to its end, one histogram per [`Row`] (indexed by `Row as usize`).
    pub latency_us: [Histogram<u64>; 3],
    /// How long each [`Phase`] took, in microseconds, for the measured
    /// requests that got through it (indexed by `Phase as usize`).
    pub phases_us: [Histogram<u64>; 5],
    /// Request bytes written by the measured requests.
    pub request_bytes: u64,
    /// Reply bytes read by the measured requests.
    pub reply_bytes: u64,
    /// The first failure of kind `other`, to say what it was.
    pub first_other: Option<String>,
    /// Requests due in the warm-up.
    pub warmup: WarmupCounts,
    /// The measured window: from the end of the warm-up to the end of the
    /// duration, or to the last request that did not time out (with a
    /// number of requests), or to the interrupt.
    pub window: Duration,
    /// Verified replies that arrived within the window (whenever their
    /// requests were due): the throughput.
    pub ok_in_window: u64,
    /// Complete replies, right or wrong, that arrived within the window.
    pub answered_in_window: u64,
    /// The open loop's schedule (all zero in a closed loop).
    pub open: OpenCounts,
    /// Requests in flight when the run was interrupted, left unjudged.
    pub abandoned: u64,
    /// True when the run was interrupted before its end.
    pub interrupted: bool,
    /// CPU time the server used during the window (with a server to watch).
    pub server_cpu: Option<Duration>,
    /// The server's resident memory at the end of the run, in bytes.
    pub server_rss_bytes: Option<u64>,
    /// Why the server could not be read, if it could not.
    pub server_error: Option<String>,
}

impl Outcome {
    pub(super) fn empty(latency_bound: Duration) -> Self {
        let highest = u64::try_from(latency_bound.as_micros())
            .unwrap_or(u64::MAX)
            .max(2);
        let histogram = || {
            Histogram::new_with_bounds(1, highest, SIGNIFICANT_FIGURES)
                .expect("1 < highest and a valid precision")
        };
        Outcome {
            ok: 0,
            errors: ErrorCounts::default(),
            latency_us: std::array::from_fn(|_| histogram()),
            phases_us: std::array::from_fn(|_| histogram()),
            request_bytes: 0,
            reply_bytes: 0,
            first_other: None,
            warmup: WarmupCounts::default(),
            window: Duration::ZERO,
            ok_in_window: 0,
            answered_in_window: 0,
            open: OpenCounts::default(),
            abandoned: 0,
            interrupted: false,
            server_cpu: None,
            server_rss_bytes: None,
            server_error: None,
        }
    }

    /// Measured requests finished, successful or not.
    pub fn requests(&self) -> u64 {
        self.ok + self.errors.total()
    }

    /// The latency of every measured request, whatever its row.
    pub fn all_latency_us(&self) -> Histogram<u64> {
        let mut all = self.latency_us[0].clone();
        for row in &self.latency_us[1..] {
            add(&mut all, row);
        }
        all
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors.add(&other.errors);
        for (mine, theirs) in self.latency_us.iter_mut().zip(&other.latency_us) {
            add(mine, theirs);
        }
        for (mine, theirs) in self.phases_us.iter_mut().zip(&other.phases_us) {
            add(mine, theirs);
        }
        self.request_bytes += other.request_bytes;
        self.reply_bytes += other.reply_bytes;
        self.first_other = self.first_other.take().or(other.first_other);
        self.warmup.requests += other.warmup.requests;
        self.warmup.failed += other.warmup.failed;
        self.ok_in_window += other.ok_in_window;
        self.answered_in_window += other.answered_in_window;
        self.open.due += other.open.due;
        self.open.late += other.open.late;
        self.open.unsent += other.open.unsent;
        self.abandoned += other.abandoned;
    }
}

/// Adds `from` into `to`. Every histogram of a run has the same bounds, so
/// this cannot fail; saturate rather than lose a run to an impossible error.
fn add(to: &mut Histogram<u64>, from: &Histogram<u64>) {
    if to.add(from).is_err() {
        for v in from.iter_recorded() {
            to.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// One thread's figures, and when its last request that did not time out ended.
pub(super) struct Recorder {
    pub(super) outcome: Outcome,
    pub(super) last_end: Option<Instant>,
}

impl Recorder {
    pub(super) fn new(latency_bound: Duration) -> Self {
        Recorder {
            outcome: Outcome::empty(latency_bound),
            last_end: None,
        }
    }

    pub(super) fn merge(&mut self, other: Recorder) {
        self.outcome.merge(other.outcome);
        self.last_end = self.last_end.max(other.last_end);
    }

    /// Counts `done`: towards the throughput if its reply arrived
    /// `in_window`; in every other figure if it was due from `window_start`
    /// on; a request is `request_len` bytes.
    pub(super) fn record(&mut self, done: Done, window_start: Instant, in_window: bool, request_len: usize) {
        let out = &mut self.outcome;
        let answered = matches!(done.result, Ok(()) | Err(Failure::WrongBytes));
        if answered && in_window {
            out.answered_in_window += 1;
            out.ok_in_window += u64::from(done.result.is_ok());
        }
        if !matches!(done.result, Err(Failure::Timeout)) {
            self.last_end = self.last_end.max(Some(done.end));
        }
        if done.due < window_start {
            out.warmup.requests += 1;
            out.warmup.failed += u64::from(done.result.is_err());
            return;
        }
        if done.marks.written.is_some() {
            out.request_bytes += request_len as u64;
        }
        out.reply_bytes += done.reply_bytes as u64;
        let row = match &done.result {
            Ok(()) => Row::Ok,
            Err(Failure::Timeout) => Row::TimedOut,
            Err(_) => Row::Failed,
        };
        // A request started ahead of its time (by at most a couple of
        // milliseconds: the timer's granularity) counts from its start.
        let began = done.due.min(done.start);
        out.latency_us[row as usize].saturating_record(micros(done.end - began));
        let marks = &done.marks;
        let closed = (!matches!(done.result, Err(Failure::Timeout))).then_some(done.end);
        let phases = [
            (Phase::Wait, Some(began), Some(done.start)),
            (Phase::Connect, Some(done.start), marks.connected),
            (Phase::Written, marks.connected, marks.written),
            (Phase::FirstByte, marks.written, marks.first_byte),
            (Phase::Close, marks.first_byte, closed),
        ];
        for (phase, from, to) in phases {
            if let (Some(from), Some(to)) = (from, to) {
                out.phases_us[phase as usize].saturating_record(micros(to - from));
            }
        }
        match done.result {
            Ok(()) => out.ok += 1,
            Err(failure) => {
                out.errors.count(&failure);
                if let Failure::Other(err) = failure {
                    out.first_other.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// When each phase of a request ended, as far as it got.
#[derive(Debug, Default)]
pub(super) struct Marks {
    pub(super) connected: Option<Instant>,
    pub(super) written: Option<Instant>,
    pub(super) first_byte: Option<Instant>,
}

/// One request, over.
pub(super) struct Done {
    /// When it was meant to start (in a closed loop, when it did).
    pub(super) due: Instant,
    pub(super) start: Instant,
    pub(super) marks: Marks,
    pub(super) end: Instant,
    pub(super) reply_bytes: usize,
    pub(super) result: Result<(), Failure>,
}

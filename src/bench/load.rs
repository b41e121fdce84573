//! The traffic: T OS threads, each with its own current-thread tokio runtime
//! and its share of the connections in flight, so that one machine can press
//! a server far harder than a single event loop could, without the
//! work-stealing of a multi-thread runtime blurring per-request timings.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Plan, Stop};

/// How often the caller hears how far the run has got.
const TICK: Duration = Duration::from_millis(100);

/// Significant figures kept by the latency histograms: 0.1% resolution.
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
        self.refused
            + self.reset
            + self.closed_without_reply
            + self.cut_off
            + self.wrong_bytes
            + self.timeout
            + self.other
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
enum Failure {
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

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Requests that got exactly the expected reply.
    pub ok: u64,
    /// Requests that did not, by kind.
    pub errors: ErrorCounts,
    /// Latency of the successful requests, connect to close, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Request bytes written.
    pub request_bytes: u64,
    /// Reply bytes read.
    pub reply_bytes: u64,
    /// From the start until the last request finished.
    pub elapsed: Duration,
    /// The first failure of kind `other`, to say what it was.
    pub first_other: Option<String>,
}

impl Outcome {
    fn empty(timeout: Duration) -> Self {
        let highest = u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX).max(2);
        Outcome {
            ok: 0,
            errors: ErrorCounts::default(),
            latency_us: Histogram::new_with_bounds(1, highest, SIGNIFICANT_FIGURES)
                .expect("1 < highest and a valid precision"),
            request_bytes: 0,
            reply_bytes: 0,
            elapsed: Duration::ZERO,
            first_other: None,
        }
    }

    /// Requests finished, successful or not.
    pub fn requests(&self) -> u64 {
        self.ok + self.errors.total()
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors.add(&other.errors);
        // Every histogram of a run has the same bounds, so adding cannot fail;
        // saturate rather than lose a run to an impossible error.
        if self.latency_us.add(&other.latency_us).is_err() {
            for v in other.latency_us.iter_recorded() {
                self.latency_us
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.request_bytes += other.request_bytes;
        self.reply_bytes += other.reply_bytes;
        self.elapsed = self.elapsed.max(other.elapsed);
        self.first_other = self.first_other.take().or(other.first_other);
    }
}

/// State every task of every thread shares.
struct Shared {
    addr: SocketAddr,
    request: Vec<u8>,
    expected: Vec<u8>,
    timeout: Duration,
    /// Requests started, to stop at `Stop::Requests`.
    started: AtomicU64,
    /// Requests finished, for the progress report.
    finished: AtomicU64,
}

/// Runs `plan`, calling `tick(requests finished, time since start)` every
/// 100 ms from the calling thread while it runs.
pub fn run(plan: &Plan, mut tick: impl FnMut(u64, Duration)) -> anyhow::Result<Outcome> {
    let concurrency = plan.concurrency.max(1);
    let threads = plan.threads.clamp(1, concurrency);
    let shared = Arc::new(Shared {
        addr: plan.addr,
        request: plan.request.clone(),
        expected: plan.expected.clone(),
        timeout: plan.timeout,
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });
    // Every runtime is built before the clock starts, so the first requests
    // of all threads leave together.
    let barrier = Arc::new(Barrier::new(threads + 1));
    let (results, collected) = mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    for index in 0..threads {
        let tasks = concurrency / threads + usize::from(index < concurrency % threads);
        let (shared, barrier, results) = (Arc::clone(&shared), Arc::clone(&barrier), results.clone());
        let stop = plan.stop;
        let handle = std::thread::Builder::new()
            .name(format!("bench-{index}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                barrier.wait();
                let outcome = runtime
                    .map_err(anyhow::Error::from)
                    .map(|rt| rt.block_on(run_thread(&shared, stop, tasks)));
                let _ = results.send(outcome.map(|o| (o, Instant::now())));
            })?;
        handles.push(handle);
    }
    drop(results);
    barrier.wait();
    let start = Instant::now();

    let mut total = Outcome::empty(plan.timeout);
    let mut received = 0;
    let mut failure = None;
    while received < threads {
        match collected.recv_timeout(TICK) {
            Ok(Ok((mut outcome, finished))) => {
                received += 1;
                outcome.elapsed = finished.saturating_duration_since(start);
                total.merge(outcome);
            }
            Ok(Err(err)) => {
                received += 1;
                failure.get_or_insert(err);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tick(shared.finished.load(Ordering::Relaxed), start.elapsed());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for handle in handles {
        if handle.join().is_err() {
            failure.get_or_insert_with(|| anyhow::anyhow!("a load thread panicked"));
        }
    }
    match failure {
        Some(err) => Err(err),
        None if received < threads => Err(anyhow::anyhow!("a load thread ended without a result")),
        None => Ok(total),
    }
}

/// One thread's share: `tasks` closed loops, each one request at a time.
///
/// The loops run as one future on this thread and record into one `Outcome`
/// (a histogram is ~100 KiB: one per connection would not scale to
/// thousands), with no lock, since nothing here crosses threads.
async fn run_thread(shared: &Shared, stop: Stop, tasks: usize) -> Outcome {
    let deadline = match stop {
        Stop::After(duration) => Some(Instant::now() + duration),
        Stop::Requests(_) => None,
    };
    let budget = match stop {
        Stop::Requests(n) => Some(n),
        Stop::After(_) => None,
    };
    let outcome = RefCell::new(Outcome::empty(shared.timeout));
    let loops = (0..tasks).map(|_| closed_loop(shared, deadline, budget, &outcome));
    futures_util::future::join_all(loops).await;
    outcome.into_inner()
}

/// Sends one request after another until the deadline passes or the budget
/// of requests is spent.
async fn closed_loop(
    shared: &Shared,
    deadline: Option<Instant>,
    budget: Option<u64>,
    outcome: &RefCell<Outcome>,
) {
    // One byte more than the expected reply is enough to know it is wrong.
    let mut reply = Vec::with_capacity(shared.expected.len() + 1);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if budget.is_some_and(|n| shared.started.fetch_add(1, Ordering::Relaxed) >= n) {
            break;
        }
        let began = Instant::now();
        let mut written = false;
        let result = tokio::time::timeout(shared.timeout, one_request(shared, &mut reply, &mut written))
            .await
            .unwrap_or(Err(Failure::Timeout));
        let took = began.elapsed();
        let mut outcome = outcome.borrow_mut();
        if written {
            outcome.request_bytes += shared.request.len() as u64;
        }
        outcome.reply_bytes += reply.len() as u64;
        match result {
            Ok(()) => {
                outcome.ok += 1;
                let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                outcome.latency_us.saturating_record(micros);
            }
            Err(failure) => {
                outcome.errors.count(&failure);
                if let Failure::Other(err) = failure {
                    outcome.first_other.get_or_insert_with(|| err.to_string());
                }
            }
        }
        shared.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// Connects, sends the request, reads until the server closes, and judges the reply.
async fn one_request(shared: &Shared, reply: &mut Vec<u8>, written: &mut bool) -> Result<(), Failure> {
    reply.clear();
    let mut stream = TcpStream::connect(shared.addr).await?;
    stream.write_all(&shared.request).await?;
    *written = true;
    let limit = shared.expected.len() as u64 + 1;
    (&mut stream).take(limit).read_to_end(reply).await?;
    judge(reply, &shared.expected)
}

/// Whether `reply` (all the server sent, or one byte past the expected
/// reply) is the expected one, and if not, how it went wrong.
fn judge(reply: &[u8], expected: &[u8]) -> Result<(), Failure> {
    if reply == expected {
        Ok(())
    } else if reply.is_empty() {
        Err(Failure::ClosedWithoutReply)
    } else if reply.len() <= expected.len() && incomplete_netstring(reply) {
        Err(Failure::CutOff)
    } else {
        Err(Failure::WrongBytes)
    }
}

/// True when `bytes` are the start of a netstring that has not ended: only
/// length digits so far, or fewer payload bytes than the length declares.
fn incomplete_netstring(bytes: &[u8]) -> bool {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == bytes.len() {
        return digits > 0;
    }
    if digits == 0 || bytes[digits] != b':' {
        return false;
    }
    let declared = std::str::from_utf8(&bytes[..digits])
        .ok()
        .and_then(|text| text.parse::<usize>().ok());
    // header, payload, and the closing comma
    match declared.and_then(|len| (digits + 1).checked_add(len)?.checked_add(1)) {
        Some(whole) => bytes.len() < whole,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_judged_by_kind() {
        let expected = b"15:here is my poem,";
        assert!(judge(expected, expected).is_ok());
        assert!(matches!(judge(b"", expected), Err(Failure::ClosedWithoutReply)));
        assert!(matches!(judge(b"15:here is", expected), Err(Failure::CutOff)));
        assert!(matches!(judge(b"1", expected), Err(Failure::CutOff)));
        assert!(matches!(
            judge(b"15:HERE IS MY POEM,", expected),
            Err(Failure::WrongBytes)
        ));
        assert!(matches!(
            judge(b"15:here is my poem,,", expected),
            Err(Failure::WrongBytes)
        ));
        assert!(matches!(
            judge(b"here is my poem", expected),
            Err(Failure::WrongBytes)
        ));
        assert!(matches!(judge(b"3:abc,", expected), Err(Failure::WrongBytes)));
    }

    #[test]
    fn io_errors_map_to_kinds() {
        use io::ErrorKind::*;
        assert!(matches!(
            Failure::from(io::Error::from(ConnectionRefused)),
            Failure::Refused
        ));
        assert!(matches!(
            Failure::from(io::Error::from(BrokenPipe)),
            Failure::Reset
        ));
        assert!(matches!(
            Failure::from(io::Error::from(TimedOut)),
            Failure::Timeout
        ));
        assert!(matches!(
            Failure::from(io::Error::from(AddrNotAvailable)),
            Failure::Other(_)
        ));
    }
}

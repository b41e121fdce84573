//! The traffic: T OS threads, each with its own current-thread tokio runtime
//! and its share of the connections in flight (and, in an open loop, of the
//! rate), so that one machine can press a server far harder than a single
//! event loop could, without the work-stealing of a multi-thread runtime
//! blurring per-request timings.
//!
//! Two ways to load. A closed loop sends each connection's next request when
//! the last is answered, so a stalled server also stalls the load, and the
//! stall hides in the figures. An open loop sends requests when they are due,
//! whatever came of the earlier ones, and measures each from when it was due
//! (not from when a free slot let it start), so a stall shows in full.

use std::cell::RefCell;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder as _;
use tokio_util::sync::CancellationToken;

use super::outcome::{Done, Failure, Marks, Outcome, Recorder};
use super::procstat::Process;
use super::schedule::Schedule;
use super::{Load, Plan, Stop};
use crate::codec::{NetstringCodec, NetstringError};

/// How often the caller hears how far the run has got.
const TICK: Duration = Duration::from_millis(100);

/// How early an open loop's request may start. Tokio's timer wakes on whole
/// milliseconds, rounded up, so a wake-up aimed at the due time itself comes
/// up to two milliseconds late, and that lateness would count as latency.
const START_SLACK: Duration = Duration::from_millis(2);

/// Stops a run early (on Ctrl-C, say): no request starts after it, those in
/// flight are abandoned, and the run ends with what it measured so far.
#[derive(Debug, Default)]
pub struct Interrupt {
    token: CancellationToken,
    at: OnceLock<Instant>,
}

impl Interrupt {
    /// An interrupt not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the run now; later calls change nothing.
    pub fn trigger(&self) {
        let _ = self.at.set(Instant::now());
        self.token.cancel();
    }

    /// When it was first triggered, if it was.
    pub fn at(&self) -> Option<Instant> {
        self.at.get().copied()
    }
}

/// The run's landmarks.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// The end of the warm-up: requests due from here on are measured.
    window_start: Instant,
    /// The end of the duration: nothing is due at or after it. `None` when
    /// the run sends a number of requests instead.
    window_end: Option<Instant>,
}

/// State every task of every thread shares.
struct Shared {
    addr: SocketAddr,
    request: Vec<u8>,
    expected: Vec<u8>,
    timeout: Duration,
    clock: Clock,
    /// Measured requests to send, when the run is a number of requests.
    budget: Option<u64>,
    /// Measured requests started, to stop at the budget.
    started: AtomicU64,
    /// Requests finished, for the progress report.
    finished: AtomicU64,
    interrupt: Arc<Interrupt>,
}

impl Shared {
    /// True when a reply that arrived at `t` counts towards the throughput.
    fn in_window(&self, t: Instant) -> bool {
        t >= self.clock.window_start
            && self.clock.window_end.is_none_or(|end| t <= end)
            && self.interrupt.at().is_none_or(|at| t <= at)
    }

    /// Counts a finished request in this thread's figures.
    fn record(&self, recorder: &RefCell<Recorder>, done: Done) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        let in_window = self.in_window(done.end);
        recorder
            .borrow_mut()
            .record(done, self.clock.window_start, in_window, self.request.len());
    }
}

/// Makes one exchange with the server before any load, to fail fast when it
/// cannot be reached: only a failure to connect is an error here. The reply
/// is read and dropped; the load judges every reply after it.
pub fn probe(addr: SocketAddr, request: &[u8], reply_limit: usize, timeout: Duration) -> io::Result<()> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    let _ = stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .and_then(|()| stream.write_all(request))
        .and_then(|()| io::copy(&mut (&mut stream).take(reply_limit as u64 + 1), &mut io::sink()));
    Ok(())
}

/// Runs `plan` until its end or until `interrupt` is triggered, calling
/// `tick(requests finished, time since start)` every 100 ms from the calling
/// thread while it runs.
pub fn run(
    plan: &Plan,
    interrupt: &Arc<Interrupt>,
    mut tick: impl FnMut(u64, Duration),
) -> anyhow::Result<Outcome> {
    let concurrency = plan.concurrency.max(1);
    let threads = plan.threads.clamp(1, concurrency);
    if matches!((plan.load, plan.stop), (Load::Open { .. }, Stop::Requests(_))) {
        anyhow::bail!("an open loop runs for a duration, not a number of requests");
    }
    // Every runtime is built before the clock starts, so that building them
    // delays no request of the schedule.
    let runtimes = (0..threads)
        .map(|_| tokio::runtime::Builder::new_current_thread().enable_all().build())
        .collect::<io::Result<Vec<_>>>()?;
    let start = Instant::now();
    let window_start = start + plan.warmup;
    let window_end = match plan.stop {
        Stop::After(duration) => Some(window_start + duration),
        Stop::Requests(_) => None,
    };
    let clock = Clock {
        window_start,
        window_end,
    };
    let shared = Arc::new(Shared {
        addr: plan.addr,
        request: plan.request.clone(),
        expected: plan.expected.clone(),
        timeout: plan.timeout,
        clock,
        budget: match plan.stop {
            Stop::Requests(n) => Some(n),
            Stop::After(_) => None,
        },
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        interrupt: Arc::clone(interrupt),
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);

    let (results, collected) = mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    for (index, runtime) in runtimes.into_iter().enumerate() {
        let slots = concurrency / threads + usize::from(index < concurrency % threads);
        let schedule = match (plan.load, window_end) {
            (Load::Open { rate, arrivals }, Some(end)) => Some(Schedule::new(
                arrivals,
                rate,
                (index, threads),
                (start, end),
                seed,
            )),
            _ => None,
        };
        let (shared, results) = (Arc::clone(&shared), results.clone());
        let bound = plan.latency_bound();
        let handle = std::thread::Builder::new()
            .name(format!("bench-{index}"))
            .spawn(move || {
                let recorder = RefCell::new(Recorder::new(bound));
                runtime.block_on(async {
                    match schedule {
                        Some(schedule) => open_loop(&shared, schedule, slots, &recorder).await,
                        None => {
                            let loops = (0..slots).map(|_| closed_loop(&shared, &recorder));
                            futures_util::future::join_all(loops).await;
                        }
                    }
                });
                let _ = results.send(recorder.into_inner());
            })?;
        handles.push(handle);
    }
    drop(results);

    let mut cpu = CpuWatch::new(plan.server);
    if plan.warmup.is_zero() {
        cpu.window_starts();
    }
    let mut total = Recorder::new(plan.latency_bound());
    let mut received = 0;
    while received < threads {
        let now = Instant::now();
        let boundary = [Some(window_start).filter(|_| !cpu.started()), window_end]
            .into_iter()
            .flatten()
            .find(|&t| t > now);
        let wait = boundary.map_or(TICK, |t| (t - now).min(TICK));
        match collected.recv_timeout(wait) {
            Ok(recorder) => {
                received += 1;
                total.merge(recorder);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if now >= window_start && !cpu.started() {
            cpu.window_starts();
        }
        if interrupt.at().is_some() || window_end.is_some_and(|end| now >= end) {
            cpu.window_ends();
        }
        tick(shared.finished.load(Ordering::Relaxed), start.elapsed());
    }
    cpu.window_ends();
    let mut panicked = false;
    for handle in handles {
        panicked |= handle.join().is_err();
    }
    if panicked || received < threads {
        anyhow::bail!("a load thread ended without a result");
    }

    let Recorder {
        mut outcome,
        last_end,
    } = total;
    // With a number of requests, the window ends with the last request that
    // did not time out, so a hung request cannot stretch it.
    let natural_end = window_end.unwrap_or_else(|| last_end.unwrap_or(window_start));
    let end = interrupt.at().map_or(natural_end, |at| at.min(natural_end));
    outcome.window = end.saturating_duration_since(window_start);
    outcome.interrupted = interrupt.at().is_some();
    (outcome.server_cpu, outcome.server_rss_bytes, outcome.server_error) = cpu.finish();
    Ok(outcome)
}

/// The server's CPU time over the window, read at its two ends.
struct CpuWatch {
    server: Option<Process>,
    at_start: Option<Duration>,
    used: Option<Duration>,
    error: Option<String>,
}

impl CpuWatch {
    fn new(server: Option<Process>) -> Self {
        CpuWatch {
            server,
            at_start: None,
            used: None,
            error: None,
        }
    }

    fn started(&self) -> bool {
        self.at_start.is_some() || self.error.is_some() || self.server.is_none()
    }

    fn read(&mut self) -> Option<Duration> {
        let server = self.server?;
        match server.cpu_time() {
            Ok(cpu) => Some(cpu),
            Err(err) => {
                self.error.get_or_insert_with(|| err.to_string());
                None
            }
        }
    }

    fn window_starts(&mut self) {
        if !self.started() {
            self.at_start = self.read();
        }
    }

    fn window_ends(&mut self) {
        if let (Some(before), None) = (self.at_start, self.used) {
            self.used = self.read().map(|now| now.saturating_sub(before));
        }
    }

    fn finish(mut self) -> (Option<Duration>, Option<u64>, Option<String>) {
        let rss = self.server.and_then(|server| match server.rss_bytes() {
            Ok(rss) => Some(rss),
            Err(err) => {
                self.error.get_or_insert_with(|| err.to_string());
                None
            }
        });
        (self.used, rss, self.error)
    }
}

/// Sends one request after another until the window ends, the budget of
/// requests is spent or the run is interrupted.
async fn closed_loop(shared: &Shared, recorder: &RefCell<Recorder>) {
    loop {
        let now = Instant::now();
        if shared.interrupt.at().is_some() || shared.clock.window_end.is_some_and(|end| now >= end) {
            return;
        }
        let measured = now >= shared.clock.window_start;
        if measured
            && shared
                .budget
                .is_some_and(|n| shared.started.fetch_add(1, Ordering::Relaxed) >= n)
        {
            return;
        }
        tokio::select! {
            biased;
            () = shared.interrupt.token.cancelled() => {
                recorder.borrow_mut().outcome.abandoned += 1;
                return;
            }
            done = exchange(shared, now) => shared.record(recorder, done),
        }
    }
}

/// Starts each request when `schedule` says it is due, with at most `slots`
/// in flight, until the schedule ends and every request has finished, or the
/// run is interrupted.
async fn open_loop(shared: &Shared, mut schedule: Schedule, slots: usize, recorder: &RefCell<Recorder>) {
    let clock = shared.clock;
    let end = clock.window_end.expect("an open loop runs for a duration");
    let mut running = FuturesUnordered::new();
    let mut next = schedule.next_due();
    // When a request last finished while every slot was busy: a request due
    // before then had to wait for the slot.
    let mut freed_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        // A request due within the slack starts now rather than late.
        while let Some(due) = next.filter(|&due| due <= now + START_SLACK) {
            if running.len() >= slots {
                break;
            }
            if due >= clock.window_start {
                let open = &mut recorder.borrow_mut().outcome.open;
                open.due += 1;
                open.late += u64::from(freed_at.is_some_and(|freed| freed >= due));
            }
            running.push(exchange(shared, due));
            next = schedule.next_due();
        }
        if next.is_none() && running.is_empty() {
            return;
        }
        let full = running.len() >= slots;
        let wake = match next {
            Some(due) if !full => due.checked_sub(START_SLACK).unwrap_or(due),
            _ => end,
        };
        tokio::select! {
            biased;
            () = shared.interrupt.token.cancelled() => {
                let at = shared.interrupt.at().unwrap_or(now);
                let mut recorder = recorder.borrow_mut();
                let outcome = &mut recorder.outcome;
                outcome.abandoned += running.len() as u64;
                let unsent = unsent(next, &mut schedule, clock.window_start, at);
                outcome.open.due += unsent;
                outcome.open.unsent += unsent;
                return;
            }
            Some(done) = running.next(), if !running.is_empty() => {
                if running.len() + 1 >= slots {
                    freed_at = Some(Instant::now());
                }
                shared.record(recorder, done);
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)), if next.is_some() => {
                if full && Instant::now() >= end {
                    // The window is over and requests still wait for a slot:
                    // they will never be sent in time, so they are not sent.
                    let unsent = unsent(next.take(), &mut schedule, clock.window_start, end);
                    let open = &mut recorder.borrow_mut().outcome.open;
                    open.due += unsent;
                    open.unsent += unsent;
                }
            }
        }
    }
}

/// How many requests due in `[from, to)` were never sent: `pending` (handed
/// out by `schedule`, not yet started) and those still ahead in it.
fn unsent(pending: Option<Instant>, schedule: &mut Schedule, from: Instant, to: Instant) -> u64 {
    let Some(pending) = pending.filter(|&due| due < to) else {
        return 0;
    };
    u64::from(pending >= from) + schedule.count_ahead(from, to)
}

/// One request, timed: connect, send, read until the server closes, judge.
async fn exchange(shared: &Shared, due: Instant) -> Done {
    let start = Instant::now();
    let mut marks = Marks::default();
    let mut reply = Vec::new();
    let result = tokio::time::timeout(shared.timeout, one_request(shared, &mut reply, &mut marks))
        .await
        .unwrap_or(Err(Failure::Timeout));
    Done {
        due,
        start,
        marks,
        end: Instant::now(),
        reply_bytes: reply.len(),
        result,
    }
}

async fn one_request(shared: &Shared, reply: &mut Vec<u8>, marks: &mut Marks) -> Result<(), Failure> {
    let mut stream = TcpStream::connect(shared.addr).await?;
    marks.connected = Some(Instant::now());
    stream.write_all(&shared.request).await?;
    marks.written = Some(Instant::now());
    // One byte more than the expected reply is enough to know it is wrong.
    let limit = shared.expected.len() + 1;
    reply.reserve(limit);
    let mut limited = (&mut stream).take(limit as u64);
    if limited.read_buf(reply).await? > 0 {
        marks.first_byte = Some(Instant::now());
        limited.read_to_end(reply).await?;
    }
    judge(reply, &shared.expected)
}

/// Whether `reply` (all the server sent, or one byte past the expected
/// reply) is the expected one, and if not, how it went wrong.
fn judge(reply: &[u8], expected: &[u8]) -> Result<(), Failure> {
    if reply == expected {
        return Ok(());
    }
    if reply.is_empty() {
        return Err(Failure::ClosedWithoutReply);
    }
    // Longer than the expected reply: wrong, however it would have ended.
    if reply.len() > expected.len() {
        return Err(Failure::WrongBytes);
    }
    // The project's own decoder tells a netstring that stopped short from
    // one that is complete (but not the expected one) or malformed.
    let mut codec = NetstringCodec::new(usize::MAX);
    match codec.decode_eof(&mut BytesMut::from(reply)) {
        Err(NetstringError::Truncated { .. }) => Err(Failure::CutOff),
        _ => Err(Failure::WrongBytes),
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
        assert!(matches!(judge(b"15:", expected), Err(Failure::CutOff)));
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
        assert!(matches!(judge(b"3:abcd", expected), Err(Failure::WrongBytes)));
        assert!(matches!(judge(b":abc", expected), Err(Failure::WrongBytes)));
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

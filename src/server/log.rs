//! Rate-limited per-connection log lines: a stranger sending a flood of bad
//! requests must not turn it into a flood of log. Up to [`LINES_PER_SECOND`]
//! lines pass each second; the rest are counted, and the count is logged as
//! one "similar lines suppressed" line at most every [`SUMMARY_EVERY`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Per-connection lines allowed each second, across all connections.
pub const LINES_PER_SECOND: u64 = 20;

/// How often the suppressed lines are summed up in one line, at most.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Counts the per-connection lines of one server.
#[derive(Debug)]
pub struct LogLimit {
    created: Instant,
    /// The current one-second window (high 32 bits) and the lines it let
    /// through (low 32 bits), in one word so a check is one compare-exchange.
    window: AtomicU64,
    suppressed: AtomicU64,
}

impl Default for LogLimit {
    fn default() -> Self {
        Self {
            created: Instant::now(),
            window: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }
}

impl LogLimit {
    /// True when a line may be written now; false (and counted) when this
    /// second's allowance is spent.
    pub fn allow(&self) -> bool {
        let now = self.created.elapsed().as_secs() & 0xffff_ffff;
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window, lines) = (current >> 32, current & 0xffff_ffff);
            let next = if window != now {
                now << 32 | 1
            } else if lines < LINES_PER_SECOND {
                current + 1
            } else {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return false;
            };
            match self
                .window
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Lines suppressed since the last call.
    pub fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }

    /// Logs how many lines were suppressed since the last time, if any.
    pub fn summarize(&self, over: Duration) {
        let suppressed = self.take_suppressed();
        if suppressed > 0 {
            tracing::warn!(
                "{suppressed} similar per-connection lines suppressed in the last {} s (at most {LINES_PER_SECOND} a second are written)",
                over.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_a_second_s_allowance_through_and_counts_the_rest() {
        let limit = LogLimit::default();
        let allowed = (0..1000).filter(|_| limit.allow()).count() as u64;
        // The loop may straddle a second boundary: at most two allowances.
        assert!(
            (LINES_PER_SECOND..=2 * LINES_PER_SECOND).contains(&allowed),
            "{allowed}"
        );
        assert_eq!(limit.take_suppressed(), 1000 - allowed);
        assert_eq!(limit.take_suppressed(), 0);
    }
}

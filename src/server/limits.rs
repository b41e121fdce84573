//! Resource limits shared by every connection: how many connections are
//! served at once, and how many request bytes may be buffered in all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limit warning is repeated at most this often while the limit holds.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Requests up to this size are read without a reservation from the budget:
/// each connection may buffer this much anyway (its first read), so the budget
/// never makes a small request wait behind a large one.
pub const UNBUDGETED: usize = 16 * 1024;

/// Caps the number of connections served at once.
#[derive(Debug)]
pub struct ConnectionLimit {
    permits: Arc<Semaphore>,
    max: usize,
    /// Milliseconds after `created` of the last warning (0: never warned).
    warned_at_ms: AtomicU64,
    created: Instant,
}

impl ConnectionLimit {
    /// A limit of `max` connections at once.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
            warned_at_ms: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    /// A free slot, if there is one now.
    pub fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Waits for a free slot. While none is free, new connections stay in the
    /// kernel's accept backlog; reaching the limit is logged, at most once a minute.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        if let Some(permit) = self.try_acquire() {
            return permit;
        }
        self.warn_at_most_every(LIMIT_WARNING_INTERVAL);
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed")
    }

    /// Warns that the limit is reached, unless it did so within `interval`: a
    /// server at its limit would otherwise log once per connection.
    fn warn_at_most_every(&self, interval: Duration) {
        let now = (self.created.elapsed().as_millis() as u64).max(1);
        let last = self.warned_at_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= interval.as_millis() as u64;
        if due
            && self
                .warned_at_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                max_connections = self.max,
                "connection limit reached; new connections wait in the accept backlog"
            );
        }
    }

    /// Connections being served now.
    pub fn in_use(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// The server-wide budget of buffered request bytes.
#[derive(Debug, Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    max: usize,
}

/// Bytes reserved from the budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Budget {
    /// A budget of `max` bytes (capped to what a semaphore can count).
    pub fn new(max: usize) -> Self {
        let max = max.min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The budget's size in bytes.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.max - self.bytes.available_permits()
    }

    /// Reserves room for a request of `len` bytes, waiting (in arrival order)
    /// while the budget is spent. Small requests need no reservation.
    pub async fn reserve(&self, len: usize) -> Reservation {
        if len <= UNBUDGETED {
            return Reservation { _permit: None };
        }
        // The server refuses to start with max_length over the budget or u32::MAX,
        // so `len` fits both.
        let n = u32::try_from(len.min(self.max)).unwrap_or(u32::MAX);
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the budget semaphore is never closed");
        Reservation {
            _permit: Some(permit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn budget_waits_when_spent_and_small_requests_pass() {
        let budget = Budget::new(100_000);
        let a = budget.reserve(60_000).await;
        assert_eq!(budget.in_use(), 60_000);
        let blocked = tokio::time::timeout(Duration::from_millis(50), budget.reserve(60_000)).await;
        assert!(blocked.is_err(), "a second large reservation must wait");
        // A small request is never queued behind the large one.
        let small = tokio::time::timeout(Duration::from_millis(50), budget.reserve(UNBUDGETED)).await;
        assert!(small.is_ok());
        drop(a);
        assert_eq!(budget.in_use(), 0);
        let b = tokio::time::timeout(Duration::from_millis(50), budget.reserve(60_000)).await;
        assert!(b.is_ok());
    }

    #[tokio::test]
    async fn connection_limit_counts_and_waits() {
        let limit = ConnectionLimit::new(2);
        let a = limit.acquire().await;
        let _b = limit.acquire().await;
        assert_eq!(limit.in_use(), 2);
        assert!(tokio::time::timeout(Duration::from_millis(50), limit.acquire())
            .await
            .is_err());
        drop(a);
        assert!(tokio::time::timeout(Duration::from_millis(50), limit.acquire())
            .await
            .is_ok());
    }
}

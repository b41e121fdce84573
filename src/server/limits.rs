//! Limits every connection shares, whatever its protocol: slots (how many
//! connections are served at once, and which idle one gives way when another
//! waits), connections per client address, and the byte budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Bytes each connection may hold outside the budget: its first read, a
/// small request and its reply, or hyper's header buffer. Small exchanges
/// thus never touch the budget, and never wait behind large ones.
pub const FREE_PER_CONNECTION: usize = 16 * 1024;

/// The limit warning is repeated at most this often while the limit holds.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Connection slots: at most `max` connections are served at once. When an
/// accepted connection waits for a slot, the connection idle longest (no
/// request in flight) is asked to give its slot up, so idle connections cannot
/// hoard the server; at shutdown, every idle connection is.
#[derive(Debug)]
pub struct Slots {
    permits: Arc<Semaphore>,
    max: usize,
    /// Idle connections wait on it: `notify_one` wakes the one waiting
    /// longest, `notify_waiters` (at shutdown) all of them. One wait serves
    /// both, since every idle connection holds one.
    reclaim: Notify,
    shutting_down: AtomicBool,
    /// Connections waiting on `reclaim` now.
    idle: AtomicUsize,
    /// Accepted connections waiting for a slot now.
    waiting: AtomicUsize,
    /// Milliseconds after `created` of the last warning (0: never warned).
    warned_at_ms: AtomicU64,
    created: Instant,
}

/// Why an idle connection is asked to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The server is shutting down.
    Shutdown,
    /// Another connection waits for a slot.
    Reclaimed,
}

/// A connection's slot; given back on drop.
pub type Slot = OwnedSemaphorePermit;

impl Slots {
    /// `max` slots.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
            reclaim: Notify::new(),
            shutting_down: AtomicBool::new(false),
            idle: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            warned_at_ms: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    /// A free slot, if there is one now.
    pub fn try_acquire(&self) -> Option<Slot> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Waits for a slot, asking the connection idle longest to give its up.
    /// While none is free, later connections stay in the kernel's accept
    /// backlog; reaching the limit is logged, at most once a minute.
    pub async fn acquire(&self) -> Slot {
        if let Some(slot) = self.try_acquire() {
            return slot;
        }
        self.warn_at_most_every(LIMIT_WARNING_INTERVAL);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Decrement(&self.waiting);
        if self.idle.load(Ordering::SeqCst) > 0 {
            self.reclaim.notify_one();
        }
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed")
    }

    /// Completes when this idle connection should close: at shutdown, or
    /// when another connection waits for a slot (at once if one already
    /// does) and this is the connection that has been idle longest.
    pub async fn until_released(&self) -> Release {
        self.idle.fetch_add(1, Ordering::SeqCst);
        let _idle = Decrement(&self.idle);
        loop {
            // Created before looking: `notify_waiters` reaches it from now on.
            let notified = self.reclaim.notified();
            if self.shutting_down.load(Ordering::SeqCst) {
                return Release::Shutdown;
            }
            if self.waiting.load(Ordering::SeqCst) > 0 {
                return Release::Reclaimed;
            }
            notified.await;
            // A wake-up stored while nobody was idle may be stale: give way
            // only if a connection still waits.
            if self.shutting_down.load(Ordering::SeqCst) {
                return Release::Shutdown;
            }
            if self.waiting.load(Ordering::SeqCst) > 0 {
                return Release::Reclaimed;
            }
        }
    }

    /// Releases every idle connection, now and from now on: the server is
    /// shutting down.
    pub fn release_idle(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.reclaim.notify_waiters();
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
                "connection limit reached; idle connections give way, new ones wait in the accept backlog"
            );
        }
    }

    /// Connections being served now.
    pub fn in_use(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// Decrements a counter on drop.
struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Connections per client address (`--max-connections-per-ip`).
#[derive(Debug)]
pub struct PerIp {
    max: usize,
    /// Only addresses with a connection open are kept: at most one entry per slot.
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; uncounted on drop.
#[derive(Debug)]
pub struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// At most `max` connections from any one address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Counts a connection from `ip`, unless that address is at the cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self
            .per_ip
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The server-wide budget of buffered bytes: request bytes as they are read,
/// and replies until they are written. Cheap to clone: clones share the budget.
///
/// A request reserves as its bytes arrive, waiting (in arrival order) while
/// the budget is spent. Requests that hold part of the budget and wait for
/// more could wait on each other for ever; so one exchange at a time, the
/// first to find the budget spent, takes the *lane* and reads past it, and
/// some request always progresses. A reply is charged without waiting,
/// since it already exists. What the lane and replies take beyond the budget
/// is a debt that the next bytes given back pay off before anyone else may
/// reserve them. So the bytes held stay within the budget, plus one request
/// in the lane, plus replies charged while the budget was spent.
#[derive(Debug, Clone)]
pub struct Budget(Arc<BudgetState>);

#[derive(Debug)]
struct BudgetState {
    bytes: Semaphore,
    /// One permit: the exchange holding it never waits for the budget.
    lane: Semaphore,
    max: usize,
    debt: Mutex<Debt>,
    /// True while some debt is unpaid: the common path checks this, not the lock.
    in_debt: AtomicBool,
}

/// Bytes charged beyond the budget, and how they are being paid off.
#[derive(Debug, Default)]
struct Debt {
    /// Charged and not yet matched by bytes withheld from the semaphore.
    unpaid: usize,
    /// Permits given back while in debt, kept out of the semaphore.
    withheld: usize,
}

/// Bytes held against the budget by one exchange; given back on drop. An
/// exchange within its free share never touches the budget at all.
#[derive(Debug, Default)]
pub struct Held {
    /// Set once something is taken from the budget.
    budget: Option<Budget>,
    /// Bytes covered by permits taken from the budget.
    permits: usize,
    /// Bytes charged into debt.
    owed: usize,
    /// Holds the budget's lane.
    in_lane: bool,
}

impl Budget {
    /// A budget of `max` bytes (capped to what a semaphore can count).
    pub fn new(max: usize) -> Self {
        let max = max.min(Semaphore::MAX_PERMITS);
        Self(Arc::new(BudgetState {
            bytes: Semaphore::new(max),
            lane: Semaphore::new(1),
            max,
            debt: Mutex::new(Debt::default()),
            in_debt: AtomicBool::new(false),
        }))
    }

    /// The budget's size in bytes.
    pub fn max(&self) -> usize {
        self.0.max
    }

    /// Bytes held now, debts included.
    pub fn in_use(&self) -> usize {
        let debt = self.lock_debt();
        // Withheld permits are out of the semaphore but still owed to a reply.
        (self.0.max - debt.withheld - self.0.bytes.available_permits()) + debt.unpaid + debt.withheld
    }

    fn lock_debt(&self) -> std::sync::MutexGuard<'_, Debt> {
        self.0
            .debt
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes up to `n` permits that are free now, without waiting.
    fn take_free(&self, n: usize) -> usize {
        loop {
            let free = self.0.bytes.available_permits().min(n);
            if free == 0 {
                return 0;
            }
            let count = u32::try_from(free).unwrap_or(u32::MAX);
            if let Ok(permit) = self.0.bytes.try_acquire_many(count) {
                permit.forget();
                return count as usize;
            }
        }
    }

    /// Gives back `permits` and cancels `owed`, paying off debt first.
    fn release(&self, permits: usize, owed: usize) {
        let mut give = permits;
        if owed > 0 || self.0.in_debt.load(Ordering::Acquire) {
            let mut debt = self.lock_debt();
            // The owner's own debt: what is not yet paid is simply cancelled,
            // what was paid by withholding goes back to the semaphore.
            let cancelled = owed.min(debt.unpaid);
            debt.unpaid -= cancelled;
            let restored = owed - cancelled;
            debt.withheld -= restored;
            give += restored;
            // Others' debt is paid off from what comes back.
            let paid = give.min(debt.unpaid);
            debt.unpaid -= paid;
            debt.withheld += paid;
            give -= paid;
            self.0.in_debt.store(debt.unpaid > 0, Ordering::Release);
        }
        if give > 0 {
            self.0.bytes.add_permits(give);
        }
    }
}

impl Held {
    /// Bytes this exchange may hold now: its free share plus what it reserved.
    pub fn covered(&self) -> usize {
        FREE_PER_CONNECTION + self.permits + self.owed
    }

    /// Makes sure `total` bytes are covered, waiting (in arrival order) while
    /// `budget` is spent, unless this exchange takes (or holds) the lane.
    pub async fn cover(&mut self, budget: &Budget, total: usize) {
        let Some(more) = total.checked_sub(self.covered()).filter(|&n| n > 0) else {
            return;
        };
        self.budget.get_or_insert_with(|| budget.clone());
        if !self.in_lane {
            // The server keeps max-length within the budget and u32::MAX.
            let count = u32::try_from(more.min(budget.0.max)).unwrap_or(u32::MAX);
            tokio::select! {
                biased;
                permit = budget.0.bytes.acquire_many(count) => {
                    permit.expect("the budget semaphore is never closed").forget();
                    self.permits += count as usize;
                    return;
                }
                lane = budget.0.lane.acquire() => {
                    lane.expect("the lane semaphore is never closed").forget();
                    self.in_lane = true;
                }
            }
        }
        self.owe(budget, more);
    }

    /// Covers exactly `total` bytes at once: gives back any excess, or
    /// charges the shortfall, going into debt when `budget` is spent.
    pub fn charge(&mut self, budget: &Budget, total: usize) {
        let want = total.saturating_sub(FREE_PER_CONNECTION);
        let have = self.permits + self.owed;
        if want < have {
            let excess = have - want;
            let from_owed = excess.min(self.owed);
            self.owed -= from_owed;
            self.permits -= excess - from_owed;
            budget.release(excess - from_owed, from_owed);
        } else if want > have {
            self.budget.get_or_insert_with(|| budget.clone());
            self.owe(budget, want - have);
        }
    }

    /// Takes `more` bytes without waiting: what is free, and the rest as debt.
    fn owe(&mut self, budget: &Budget, more: usize) {
        let taken = budget.take_free(more);
        self.permits += taken;
        let short = more - taken;
        if short > 0 {
            let mut debt = budget.lock_debt();
            debt.unpaid += short;
            budget.0.in_debt.store(true, Ordering::Release);
            self.owed += short;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.release(self.permits, self.owed);
            if self.in_lane {
                budget.0.lane.add_permits(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const FREE: usize = FREE_PER_CONNECTION;

    async fn covers_soon(budget: &Budget, held: &mut Held, total: usize) -> bool {
        tokio::time::timeout(Duration::from_millis(50), held.cover(budget, total))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn requests_reserve_as_they_grow_and_wait_when_spent() {
        let budget = Budget::new(100_000);
        let mut a = Held::default();
        assert!(
            covers_soon(&budget, &mut a, FREE).await,
            "the free share needs no budget"
        );
        assert_eq!(budget.in_use(), 0);
        assert!(covers_soon(&budget, &mut a, FREE + 60_000).await);
        assert_eq!(budget.in_use(), 60_000);
        // The first to find the budget spent takes the lane and goes on...
        let mut lane = Held::default();
        assert!(covers_soon(&budget, &mut lane, FREE + 60_000).await);
        assert!(lane.in_lane);
        assert_eq!(budget.in_use(), 120_000);
        // ...the next one waits.
        let mut b = Held::default();
        assert!(
            !covers_soon(&budget, &mut b, FREE + 60_000).await,
            "must wait for room"
        );
        // A small exchange never waits behind a large one.
        let mut small = Held::default();
        assert!(covers_soon(&budget, &mut small, FREE).await);
        drop(a);
        // What `a` gave back paid the lane's debt first.
        assert_eq!(budget.in_use(), 60_000);
        assert!(
            !covers_soon(&budget, &mut b, FREE + 60_000).await,
            "the debt is paid first"
        );
        drop(lane);
        assert_eq!(budget.in_use(), 0);
        assert!(covers_soon(&budget, &mut b, FREE + 60_000).await);
        // The lane is free again for whoever finds the budget spent next.
        let mut next = Held::default();
        assert!(covers_soon(&budget, &mut next, FREE + 60_000).await);
        assert!(next.in_lane);
    }

    /// Requests that each hold part of the budget and want more cannot all
    /// wait: one reads past the budget and ends, and the rest follow.
    #[tokio::test]
    async fn partial_holders_never_wait_on_each_other_for_ever() {
        let budget = Budget::new(100_000);
        let mut holders: Vec<Held> = Vec::new();
        for _ in 0..4 {
            let mut held = Held::default();
            held.cover(&budget, FREE + 25_000).await;
            holders.push(held);
        }
        let mut stuck = 0;
        for held in &mut holders {
            if !covers_soon(&budget, held, FREE + 50_000).await {
                stuck += 1;
            }
        }
        assert_eq!(stuck, 3, "exactly one goes on, through the lane");
    }

    #[tokio::test]
    async fn replies_are_charged_into_debt_which_blocks_others_until_paid() {
        let budget = Budget::new(100_000);
        let mut a = Held::default();
        a.cover(&budget, FREE + 80_000).await;
        let mut reply = Held::default();
        // 50,000 wanted, 20,000 free: 30,000 go into debt, without waiting.
        reply.charge(&budget, FREE + 50_000);
        assert_eq!(budget.in_use(), 130_000);
        // What `a` gives back pays the debt before anyone may reserve it.
        drop(a);
        assert_eq!(budget.in_use(), 50_000);
        let mut c = Held::default();
        assert!(covers_soon(&budget, &mut c, FREE + 50_000).await);
        assert!(!c.in_lane);
        drop(reply);
        assert!(covers_soon(&budget, &mut c, FREE + 100_000).await);
        assert!(!c.in_lane, "room came back: no need for the lane");
        drop(c);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(
            budget.0.bytes.available_permits(),
            100_000,
            "every permit came back"
        );
    }

    #[tokio::test]
    async fn a_debt_cancelled_before_it_is_paid_restores_everything() {
        let budget = Budget::new(10_000);
        let mut full = Held::default();
        full.cover(&budget, FREE + 10_000).await;
        let mut reply = Held::default();
        reply.charge(&budget, FREE + 5_000);
        // Shrinking the charge gives back debt first.
        reply.charge(&budget, FREE + 2_000);
        assert_eq!(budget.in_use(), 12_000);
        drop(reply);
        drop(full);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.0.bytes.available_permits(), 10_000);
    }

    #[tokio::test]
    async fn idle_connections_give_way_oldest_first() {
        let slots = Arc::new(Slots::new(2));
        let first = slots.acquire().await;
        let second = slots.acquire().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (name, slot) in [("first", first), ("second", second)] {
            let (slots, tx) = (slots.clone(), tx.clone());
            tokio::spawn(async move {
                assert_eq!(slots.until_released().await, Release::Reclaimed);
                tx.send(name).unwrap();
                drop(slot);
            });
            // Let it register before the next one.
            tokio::task::yield_now().await;
        }
        assert!(rx.try_recv().is_err(), "nobody waits: nobody gives way");
        let third = tokio::time::timeout(Duration::from_secs(5), slots.acquire()).await;
        assert!(third.is_ok(), "an idle connection gave its slot up");
        assert_eq!(rx.recv().await, Some("first"));
        assert!(rx.try_recv().is_err(), "one slot wanted, one given");
    }

    #[tokio::test]
    async fn shutdown_releases_every_idle_connection_even_late_ones() {
        let slots = Arc::new(Slots::new(4));
        let early = tokio::spawn({
            let slots = slots.clone();
            async move { slots.until_released().await }
        });
        tokio::task::yield_now().await;
        slots.release_idle();
        let early = tokio::time::timeout(Duration::from_secs(5), early).await;
        assert_eq!(early.unwrap().unwrap(), Release::Shutdown);
        let late = tokio::time::timeout(Duration::from_secs(5), slots.until_released()).await;
        assert_eq!(late.unwrap(), Release::Shutdown);
    }

    #[test]
    fn per_ip_counts_and_forgets() {
        let per_ip = PerIp::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = per_ip.admit(ip).unwrap();
        let _b = per_ip.admit(ip).unwrap();
        assert!(per_ip.admit(ip).is_none());
        assert!(per_ip.admit("192.0.2.2".parse().unwrap()).is_some());
        drop(a);
        assert!(per_ip.admit(ip).is_some());
        assert!(per_ip.open.lock().unwrap().len() <= 2);
    }
}

//! The transform pool: CPU-heavy transforms run on at most `threads` blocking
//! threads at once (about one per core), so they never stall the async
//! workers that serve every other connection, and a flood of heavy requests
//! queues here, counted, instead of oversubscribing the machine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// Work (poem bytes times chain parts) from which a transform goes to the
/// pool: below it, the transform takes tens of microseconds and runs in place.
pub const HEAVY_WORK: usize = 64 * 1024;

/// A bounded pool of threads for heavy transforms.
#[derive(Debug)]
pub struct Pool {
    turns: Arc<Semaphore>,
    threads: usize,
    waiting: AtomicUsize,
}

impl Pool {
    /// A pool running at most `threads` transforms at once.
    pub fn new(threads: usize) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(threads)),
            threads,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Threads the pool runs at most.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Transforms waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Transforms running now.
    pub fn running(&self) -> usize {
        self.threads - self.turns.available_permits()
    }

    /// Runs `work` on a blocking thread once a turn is free. Dropping the
    /// returned future while it waits gives up the place in the queue; once
    /// started, `work` runs to its end (it checks its own deadline between
    /// steps), and the turn is held until then, even if nobody awaits it.
    pub async fn run<T, F>(&self, work: F) -> Result<T, tokio::task::JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let turn = match self.turns.clone().try_acquire_owned() {
            Ok(turn) => turn,
            Err(_) => {
                self.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&self.waiting);
                self.turns
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the pool semaphore is never closed")
            }
        };
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
    }
}

/// Counts a caller as waiting until dropped (also when its future is).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_most_its_threads_and_counts_the_queue() {
        let pool = Arc::new(Pool::new(1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || hold.recv().unwrap()).await.unwrap() }
        });
        while pool.running() == 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| 2).await.unwrap() }
        });
        while pool.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!((pool.running(), pool.waiting()), (1, 1));
        release.send(()).unwrap();
        first.await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), second).await;
        assert_eq!(second.unwrap().unwrap(), 2);
        assert_eq!((pool.running(), pool.waiting()), (0, 0));
    }
}

//! Shutdown: one signal, observed by the accept loops and by connections that
//! have not yet received a byte.
//!
//! A flag and a `Notify` rather than a watch channel: every idle connection
//! holds a wait on this signal, and a `Notified` is a fraction of the size of
//! a watch receiver's `changed()` future.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Shared {
    down: AtomicBool,
    notify: Notify,
}

/// Sends the shutdown signal to every `Shutdown` handle (also when dropped).
#[derive(Debug)]
pub struct Trigger(Arc<Shared>);

/// Listens for the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<Shared>);

/// A connected trigger and listener.
pub fn channel() -> (Trigger, Shutdown) {
    let shared = Arc::new(Shared::default());
    (Trigger(shared.clone()), Shutdown(shared))
}

impl Trigger {
    /// Signals shutdown to every listener, now and later.
    pub fn fire(&self) {
        self.0.down.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

impl Drop for Trigger {
    fn drop(&mut self) {
        self.fire();
    }
}

impl Shutdown {
    /// True once shutdown has been signalled.
    pub fn is_shutdown(&self) -> bool {
        self.0.down.load(Ordering::SeqCst)
    }

    /// Completes when shutdown is signalled (at once if it already was).
    pub async fn recv(&mut self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        // Register before looking at the flag, so a signal sent in between is not missed.
        notified.as_mut().enable();
        if self.is_shutdown() {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_listener_hears_the_signal_even_late_ones() {
        let (trigger, shutdown) = channel();
        let mut early = shutdown.clone();
        let waiting = tokio::spawn(async move { early.recv().await });
        tokio::task::yield_now().await;
        assert!(!shutdown.is_shutdown());
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        let mut late = shutdown.clone();
        tokio::time::timeout(Duration::from_secs(5), late.recv())
            .await
            .unwrap();
        assert!(late.is_shutdown());
    }

    #[tokio::test]
    async fn dropping_the_trigger_is_a_shutdown() {
        let (trigger, mut shutdown) = channel();
        drop(trigger);
        tokio::time::timeout(Duration::from_secs(5), shutdown.recv())
            .await
            .unwrap();
    }
}

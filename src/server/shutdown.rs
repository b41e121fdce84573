//! Shutdown: one signal, observed by the accept loops and by connections that
//! have not yet received a byte.

use tokio::sync::watch;

/// Sends the shutdown signal to every `Shutdown` handle.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Listens for the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger and listener.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Signals shutdown to every listener, now and later.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// True once shutdown has been signalled.
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when shutdown is signalled (at once if it already was).
    pub async fn recv(&mut self) {
        // An error means the trigger is gone, which is shutdown too.
        let _ = self.0.wait_for(|&down| down).await;
    }
}

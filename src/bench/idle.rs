//! What an idle connection costs a server: hold N connections open, each
//! with half a request sent, and watch the server's resident memory grow.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::procstat::{ProcError, Process};

/// How often the server is looked at while it settles.
const POLL: Duration = Duration::from_millis(100);
/// Readings in a row that must agree before the memory counts as settled.
const STEADY_READINGS: usize = 3;
/// The longest the server gets to accept the connections and settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// What holding the connections open did to the server.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleOutcome {
    /// Connections asked for.
    pub wanted: usize,
    /// Connections opened (fewer than wanted when opening one failed).
    pub opened: usize,
    /// Connections the server took, from its count of open files, when readable.
    pub accepted: Option<usize>,
    /// The server's RSS before the first connection, in bytes.
    pub rss_before: u64,
    /// The server's RSS once settled with every connection open, in bytes.
    pub rss_with_idle: u64,
    /// Why opening stopped early, if it did.
    pub open_error: Option<String>,
}

impl IdleOutcome {
    /// Extra resident bytes per connection opened (memory may also shrink: noise).
    pub fn bytes_per_connection(&self) -> Option<f64> {
        (self.opened > 0).then(|| (self.rss_with_idle as f64 - self.rss_before as f64) / self.opened as f64)
    }
}

/// The first part of `request`: all of its header and name, half of its
/// poem, and never the closing comma, so the server must wait for the rest.
pub fn half_request(request: &[u8], poem_len: usize) -> &[u8] {
    &request[..request.len() - 1 - poem_len / 2]
}

/// Opens `wanted` connections to `addr`, sends `half` on each, lets `server`
/// settle, measures, and closes them all.
pub fn measure(
    addr: SocketAddr,
    half: &[u8],
    wanted: usize,
    server: &Process,
    timeout: Duration,
) -> Result<IdleOutcome, ProcError> {
    let files_before = server.open_files();
    let rss_before = server.rss_bytes()?;
    let mut connections = Vec::with_capacity(wanted);
    let mut open_error = None;
    for _ in 0..wanted {
        match open_one(addr, half, timeout) {
            Ok(stream) => connections.push(stream),
            Err(err) => {
                open_error = Some(err.to_string());
                break;
            }
        }
    }
    let opened = connections.len();

    let started = Instant::now();
    let accepted = |files_now: Option<usize>| Some(files_now?.saturating_sub(files_before?));
    // Connections wait in the listen backlog until the server accepts them,
    // and cost it nothing there: wait for it to take them all first.
    while started.elapsed() < SETTLE_LIMIT
        && accepted(server.open_files()).is_some_and(|taken| taken < opened)
    {
        std::thread::sleep(POLL);
    }
    let mut readings = vec![server.rss_bytes()?];
    while started.elapsed() < SETTLE_LIMIT && !steady(&readings) {
        std::thread::sleep(POLL);
        readings.push(server.rss_bytes()?);
    }
    let outcome = IdleOutcome {
        wanted,
        opened,
        accepted: accepted(server.open_files()),
        rss_before,
        rss_with_idle: *readings.last().unwrap_or(&rss_before),
        open_error,
    };
    drop(connections);
    Ok(outcome)
}

fn open_one(addr: SocketAddr, half: &[u8], timeout: Duration) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(half)?;
    Ok(stream)
}

fn steady(readings: &[u64]) -> bool {
    readings.len() >= STEADY_READINGS
        && readings
            .windows(2)
            .rev()
            .take(STEADY_READINGS - 1)
            .all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_request_never_completes_it() {
        let request = crate::conformance::CLASSIC_REQUEST;
        assert_eq!(
            half_request(request, "HERE IS MY POEM".len()),
            b"27:cummingsify.HERE IS "
        );
        assert_eq!(half_request(b"2:x.,", 0), b"2:x.");
    }

    #[test]
    fn steadiness_needs_agreeing_readings() {
        assert!(!steady(&[5, 5]));
        assert!(steady(&[1, 5, 5, 5]));
        assert!(!steady(&[5, 5, 6]));
    }

    #[test]
    fn per_connection_cost() {
        let outcome = IdleOutcome {
            wanted: 4,
            opened: 4,
            accepted: Some(4),
            rss_before: 1000,
            rss_with_idle: 9000,
            open_error: None,
        };
        assert_eq!(outcome.bytes_per_connection(), Some(2000.0));
    }
}

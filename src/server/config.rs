//! A server's limits, each a number with a production default.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// Limits and timeouts of a server; every field has a production default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest request payload accepted (name, period and poem), in bytes.
    pub max_length: usize,
    /// Longest reply sent, in bytes; `None`: four times `max_length` (a
    /// transform may lengthen a poem: Unicode case mappings, pig latin).
    pub max_reply: Option<usize>,
    /// Most transforms one request may chain with `+`.
    pub max_chain: usize,
    /// Connections served at once; more wait in the accept backlog, and the
    /// connection idle longest gives way.
    pub max_connections: usize,
    /// Connections open at once from any one client address; `None`: no cap.
    pub max_connections_per_ip: Option<usize>,
    /// Bytes buffered across all connections at once (requests and replies).
    pub max_buffered: usize,
    /// Time for a request to arrive and be transformed (from its first
    /// byte), and again for its reply to be written.
    pub timeout: Duration,
    /// Time requests in flight get to finish after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Threads that run heavy transforms at once; 0: one per core.
    pub transform_threads: usize,
    /// Netstring connections start with a PROXY protocol header (v1 or v2)
    /// naming the client a load balancer relays.
    pub proxy_protocol: bool,
    /// Peers whose PROXY header is believed; a header from anyone else
    /// closes the connection.
    pub proxy_from: Vec<IpNet>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_length: 1024 * 1024,
            max_reply: None,
            max_chain: 8,
            max_connections: 1024,
            max_connections_per_ip: None,
            max_buffered: 256 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            transform_threads: 0,
            proxy_protocol: false,
            proxy_from: loopback(),
        }
    }
}

/// The loopback networks: a balancer on the same host.
pub fn loopback() -> Vec<IpNet> {
    vec![
        "127.0.0.0/8".parse().expect("a network"),
        "::1/128".parse().expect("a network"),
    ]
}

impl Config {
    /// Checks that the limits fit together.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_connections > 0, "--max-connections must be at least 1");
        anyhow::ensure!(self.max_length > 0, "--max-length must be at least 1 byte");
        anyhow::ensure!(self.max_chain > 0, "--max-chain must be at least 1");
        anyhow::ensure!(
            self.max_connections_per_ip != Some(0),
            "--max-connections-per-ip must be at least 1"
        );
        anyhow::ensure!(
            self.max_length <= self.max_buffered,
            "--max-length ({}) is larger than --max-buffered ({}): such a request could never be read",
            self.max_length,
            self.max_buffered
        );
        anyhow::ensure!(
            self.max_length <= u32::MAX as usize,
            "--max-length must be at most {} bytes",
            u32::MAX
        );
        anyhow::ensure!(
            self.max_reply() >= self.max_length.min(1024),
            "--max-reply ({}) is too small to answer even short requests",
            self.max_reply()
        );
        anyhow::ensure!(!self.timeout.is_zero(), "--timeout must be more than 0");
        Ok(())
    }

    /// The longest reply sent, in bytes.
    pub fn max_reply(&self) -> usize {
        self.max_reply
            .unwrap_or_else(|| self.max_length.saturating_mul(4))
    }

    /// Threads for heavy transforms: as configured, or one per core.
    pub fn transform_threads(&self) -> usize {
        match self.transform_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// True when a PROXY header from `peer` is believed.
    pub fn trusts_proxy(&self, peer: IpAddr) -> bool {
        // An IPv4 peer on an IPv6 socket arrives as ::ffff:a.b.c.d.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.proxy_from.iter().any(|net| net.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_peers_may_relay() {
        let config = Config::default();
        assert!(config.trusts_proxy("127.0.0.1".parse().unwrap()));
        assert!(config.trusts_proxy("::ffff:127.0.0.2".parse().unwrap()));
        assert!(config.trusts_proxy("::1".parse().unwrap()));
        assert!(!config.trusts_proxy("192.0.2.10".parse().unwrap()));
        let config = Config {
            proxy_from: vec!["10.0.0.0/24".parse().unwrap()],
            ..Config::default()
        };
        assert!(config.trusts_proxy("10.0.0.9".parse().unwrap()));
        assert!(!config.trusts_proxy("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn limits_that_cannot_work_are_refused() {
        let bad = [
            Config {
                max_length: 2048,
                max_buffered: 1024,
                ..Config::default()
            },
            Config {
                max_chain: 0,
                ..Config::default()
            },
            Config {
                max_connections_per_ip: Some(0),
                ..Config::default()
            },
            Config {
                max_length: 0,
                ..Config::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        assert!(Config::default().validate().is_ok());
        assert_eq!(Config::default().max_reply(), 4 * 1024 * 1024);
    }
}

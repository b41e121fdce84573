//! `poetry`: poetry transformation over the network.
//!
//! A request travels one way through these modules:
//! socket → [`codec`] (netstring framing) → [`request`] (name and poem) →
//! [`registry`] (which names may be called) → [`service`] (the pure
//! transforms) → [`codec`] → socket. [`server`] owns the sockets, limits and
//! shutdown; [`client`] is the other end; [`cli`] and `commands` are the
//! command line around them. [`bench`] loads any server of the protocol and
//! checks every reply.

pub mod bench;
pub mod cli;
pub mod client;
pub mod codec;
pub mod commands;
pub mod conformance;
pub mod registry;
pub mod request;
pub mod server;
pub mod service;
pub mod term;

//! `poetry`: poetry transformation over the network.
//!
//! A request travels one way through these modules:
//! socket → [`codec`] (netstring framing) → [`request`] (name and poem) →
//! [`registry`] (which names may be called) → [`service`] (the pure
//! transforms) → [`codec`] → socket. [`server`] owns the sockets, limits and
//! shutdown; [`client`] is the other end; [`conformance`] judges any server
//! of the protocol by its bytes; [`bench`] loads one and checks every reply.
//!
//! The command line (`src/bin/poetry/`) is a thin layer over this library,
//! which needs none of its crates (clap, colored, indicatif): build it alone
//! with `--no-default-features`.

pub mod bench;
pub mod client;
pub mod codec;
pub mod conformance;
pub mod get;
pub mod recite;
pub mod registry;
pub mod request;
pub mod server;
pub mod service;

//! Exit codes: one per class of failure, the same for every subcommand, so a
//! script can tell "no server" from "the server said no" from "too slow".

use std::process::ExitCode;

/// The classes of outcome a `poetry` command exits with.
#[allow(dead_code)] // subcommands adopt their classes one by one
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// A failure with no class of its own (a failed check, a file not written).
    Failure = 1,
    /// The command line or an environment variable is wrong.
    Usage = 2,
    /// No server could be reached.
    Connect = 3,
    /// The server refused the request: it closed the connection without a reply.
    Refused = 4,
    /// A network step took longer than its timeout.
    Timeout = 5,
    /// The reply was not a netstring, or was cut off.
    BadReply = 6,
    /// `poetry bench --rate`: the rate achieved fell short of the rate asked for.
    Shortfall = 7,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

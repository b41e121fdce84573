//! Exit codes: one per class of failure, the same for every subcommand, so a
//! script can tell "no server" from "the server said no" from "too slow".

use std::process::ExitCode;

use poetry::client::ClientError;

/// The classes of outcome a `poetry` command exits with.
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

impl Exit {
    /// The class of one failed exchange.
    pub fn of(err: &ClientError) -> Exit {
        match err {
            ClientError::Resolve { .. } | ClientError::Refused { .. } | ClientError::Connect { .. } => {
                Exit::Connect
            }
            ClientError::ConnectTimeout { .. } | ClientError::Timeout { .. } => Exit::Timeout,
            ClientError::Rejected { .. } => Exit::Refused,
            // A close without a reply that the canary did not explain is a
            // server failing, not refusing: its reply was bad.
            ClientError::NoReply { .. }
            | ClientError::CutOff { .. }
            | ClientError::ReplyTooLong { .. }
            | ClientError::Malformed { .. }
            | ClientError::Io { .. } => Exit::BadReply,
        }
    }

    /// The class of a request that failed on every server: that of the
    /// failure which got furthest (a refusal says more than a dead server
    /// tried after it).
    pub fn of_all(failures: &[ClientError]) -> Exit {
        failures
            .iter()
            .max_by_key(|err| err.progress())
            .map_or(Exit::Failure, Exit::of)
    }

    /// The class shared by every failure, or `Failure` when they differ.
    pub fn common(exits: impl IntoIterator<Item = Exit>) -> Exit {
        let mut exits = exits.into_iter();
        let Some(first) = exits.next() else {
            return Exit::Ok;
        };
        if exits.all(|exit| exit == first) {
            first
        } else {
            Exit::Failure
        }
    }
}

/// An error that ends the command with a given exit code (any other error
/// ends it with 1).
#[derive(Debug)]
pub struct Failed {
    /// The exit code.
    pub exit: Exit,
    /// What to tell the user: a first line, then indented details.
    pub message: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

/// Ends the command with `exit`, saying `message`.
pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    Failed {
        exit,
        message: message.into(),
    }
    .into()
}

/// The exit code an error ends the command with.
pub fn code_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Failed>())
        .map_or(Exit::Failure, |failed| failed.exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_failures_take_the_class_of_the_furthest() {
        let refused = ClientError::Refused {
            addr: "a:1".into(),
            tried: vec![],
        };
        let rejected = ClientError::Rejected { addr: "b:1".into() };
        assert_eq!(Exit::of_all(&[refused]), Exit::Connect);
        let refused = ClientError::Refused {
            addr: "a:1".into(),
            tried: vec![],
        };
        assert_eq!(Exit::of_all(&[rejected, refused]), Exit::Refused);
        assert_eq!(Exit::common([Exit::Timeout, Exit::Timeout]), Exit::Timeout);
        assert_eq!(Exit::common([Exit::Timeout, Exit::Connect]), Exit::Failure);
    }
}

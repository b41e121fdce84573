//! Why a poem was not transformed, in words that lead with the likely cause
//! and end with what to try, and the exit code of that cause.

use crate::exit::Exit;
use crate::term;
use poetry::client::{likely_refusal, ClientError, LikelyRefusal};
use poetry::codec::TWISTED_MAX_LENGTH;
use poetry::registry::Registry;

/// A failed request, told.
pub struct Report {
    /// The exit code of the failure that got furthest.
    pub exit: Exit,
    /// The cause on its own line, then indented details and hints.
    pub message: String,
    /// The first line of `message`, for a batch's one line per poem.
    pub headline: String,
}

/// Tells why every server failed the request for `name`, `request_len`
/// bytes long.
pub fn report(failures: &[ClientError], name: &str, request_len: usize) -> Report {
    let Some(furthest) = failures.iter().rev().max_by_key(|err| err.progress()) else {
        let text = "no server to try".to_owned();
        return Report {
            exit: Exit::Failure,
            message: text.clone(),
            headline: text,
        };
    };
    let (headline, mut details) = tell(furthest, name, request_len);
    // The other servers' failures, each once (a retry repeats them).
    let mut others: Vec<String> = Vec::new();
    for failure in failures {
        let text = failure.to_string();
        if failure.addr() != furthest.addr() && !others.contains(&text) {
            others.push(text);
        }
    }
    if !others.is_empty() {
        details.insert(0, format!("  before that: {}", others.join("; ")));
    }
    let mut message = headline.clone();
    for line in details {
        message.push('\n');
        message.push_str(&line);
    }
    Report {
        exit: Exit::of(furthest),
        message,
        headline,
    }
}

/// The cause of one failure, and what to make of it.
fn tell(failure: &ClientError, name: &str, request_len: usize) -> (String, Vec<String>) {
    match failure {
        ClientError::Rejected { addr } => {
            let why = "  it closed the connection without a reply, then answered the classic request \
                       at once: it is up, and refused this one."
                .to_owned();
            match likely_refusal(name, request_len) {
                Some(LikelyRefusal::UnknownName { name, suggestion }) => {
                    let mut headline = format!(
                        "{addr} refused the request: it most likely does not know the transform {name:?}"
                    );
                    if let Some(near) = suggestion {
                        headline.push_str(&format!("; did you mean {near:?}?"));
                    }
                    let registry = Registry::standard();
                    let known: Vec<&str> = registry.names().collect();
                    let known = format!(
                        "  this build knows: {} (see `poetry transforms`); a server of another build may know others.",
                        known.join(", ")
                    );
                    (headline, vec![known, why])
                }
                Some(LikelyRefusal::OverCommonCap { len }) => (
                    format!(
                        "{addr} refused the request, most likely for its size: {} is over the cap \
                         of Twisted's server ({TWISTED_MAX_LENGTH} bytes), which many servers keep",
                        term::size(len as u64)
                    ),
                    vec![
                        why,
                        "  the server may cap request size: send a shorter poem, or use a server with a \
                         larger cap (`poetry serve --max-length`, 1 MiB unless set)."
                            .to_owned(),
                    ],
                ),
                None => (
                    format!(
                        "{addr} refused the request: it may not know {name:?} (this build does: the server \
                         may be another build), the transform may have failed on this poem, or its cap on \
                         request size may be under this request's {}",
                        term::size(request_len as u64)
                    ),
                    vec![why],
                ),
            }
        }
        ClientError::NoReply { addr } => (
            format!(
                "{addr} closed the connection without a reply, and did not answer the classic request \
                 either: the server is failing"
            ),
            vec![
                "  its log may say why; a load balancer in front of servers that are all down does this too."
                    .to_owned(),
            ],
        ),
        ClientError::Refused { addr, .. } => (failure.to_string(), vec![start_a_server(addr)]),
        ClientError::Resolve { addr, .. } => (
            failure.to_string(),
            vec![format!(
                "  the host name in {addr} was not found (DNS, /etc/hosts): check its spelling in --host, \
                 --server or POETRY_HOST."
            )],
        ),
        ClientError::Connect { .. } => (
            failure.to_string(),
            vec!["  the network could not take the connection there; check the host and port.".to_owned()],
        ),
        ClientError::ConnectTimeout { .. } => (
            failure.to_string(),
            vec![
                "  nothing answered: the host may be down, or a firewall drops the packets \
                 (--connect-timeout sets the wait)."
                    .to_owned(),
            ],
        ),
        ClientError::Timeout { .. } => (
            failure.to_string(),
            vec!["  the server is slow or stuck; try a larger --timeout.".to_owned()],
        ),
        ClientError::CutOff {
            addr,
            received,
            declared,
        } => (
            format!(
                "reply from {addr} cut off after {}",
                if *declared < 1024 {
                    format!("{received} of {declared} bytes")
                } else {
                    format!(
                        "{} of {}",
                        term::size(*received as u64),
                        term::size(*declared as u64)
                    )
                }
            ),
            vec![
                "  the server stopped mid-reply (it may have crashed or been stopped); try again.".to_owned(),
            ],
        ),
        ClientError::ReplyTooLong { addr, max } => (
            format!(
                "reply from {addr} is longer than the {} accepted",
                term::size(*max as u64)
            ),
            vec!["  raise --max-reply if a reply that large is expected.".to_owned()],
        ),
        ClientError::Malformed { .. } => (
            failure.to_string(),
            vec!["  the server does not speak this protocol: is it the right port?".to_owned()],
        ),
        ClientError::Io { .. } => (failure.to_string(), Vec::new()),
    }
}

/// What to try when nothing listens at `addr`, naming the port and host
/// that were actually tried.
fn start_a_server(addr: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "11000"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = matches!(host, "localhost" | "::1") || host.starts_with("127.");
    if local {
        format!(
            "  is `poetry serve --port {port}` running? Start one, or point --host/--port \
             (POETRY_HOST/POETRY_PORT) or --server at a server."
        )
    } else {
        format!(
            "  is a server listening on port {port} of {host}, on an address this machine can reach \
             (`poetry serve --iface 0.0.0.0 --port {port}`)? Or point --host/--port \
             (POETRY_HOST/POETRY_PORT) or --server at another."
        )
    }
}

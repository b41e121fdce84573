//! What `poetry transform` shows of the wire: retries, `-v` (addresses,
//! bytes, the time of each phase), `--trace` (the netstrings themselves),
//! and `--print-nc` (the same request as a netcat command).

use std::io::Write;
use std::time::Duration;

use colored::Colorize;

use crate::term;
use poetry::client::Event;

/// How much of the wire to show on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing (`-q`).
    Quiet,
    /// Each retry and its reason.
    Retries,
    /// Every step, with addresses, bytes and times (`-v`).
    Verbose,
    /// And the netstrings sent and received (`--trace`, `-vv`).
    Trace,
}

/// Shows a request's events on stderr as they happen.
pub struct Shown {
    level: Level,
}

impl Shown {
    /// Shows what `level` asks for.
    pub fn new(level: Level) -> Self {
        Self { level }
    }

    /// Shows one event, if the level asks for it.
    pub fn event(&mut self, event: Event<'_>) {
        if let Event::Retry { after, next } = &event {
            if self.level >= Level::Retries {
                let again = if after.addr() == *next {
                    "trying again".to_owned()
                } else {
                    format!("trying {next}")
                };
                term::say("retry:".yellow().bold(), &format!("{after}; {again}"));
            }
            return;
        }
        if self.level < Level::Verbose {
            return;
        }
        let line = match event {
            Event::Resolved { addr, peers, took } => {
                if peers.len() == 1 && peers[0].to_string() == addr {
                    return; // an address, not a name: nothing was looked up
                }
                let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
                format!("{addr} resolved to {} in {}", peers.join(", "), ms(took))
            }
            Event::ConnectFailed { peer, error } => format!("connecting to {peer} failed: {error}"),
            Event::Connected { addr, peer, took } => {
                format!("connected to {peer} ({addr}) in {}", ms(took))
            }
            Event::Sent { request, took } => {
                self.trace('>', &netstring(request));
                format!(
                    "sent {} in {}",
                    term::plural(request.len() as u64, "byte"),
                    ms(took)
                )
            }
            Event::FirstByte { after } => format!("first byte of the reply after {}", ms(after)),
            Event::Received { reply, bytes, took } => {
                self.trace('<', &netstring_parts(bytes, reply));
                format!(
                    "received {} (a poem of {}) in {}",
                    term::plural(bytes as u64, "byte"),
                    term::plural(reply.len() as u64, "byte"),
                    ms(took)
                )
            }
            Event::Failed {
                error,
                head,
                received,
            } => {
                if received > 0 {
                    self.trace(
                        '<',
                        &format!(
                            "{} before the failure: {}",
                            term::plural(received as u64, "byte"),
                            shorten(head, received)
                        ),
                    );
                }
                format!("failed: {error}")
            }
            Event::Canary { addr, answered: true } => {
                format!("{addr} answered the classic request: it is up, and refused this one")
            }
            Event::Canary {
                addr,
                answered: false,
            } => format!("{addr} did not answer the classic request either: it is failing"),
            Event::Pause { pause } => format!("pausing {} before the next round", ms(pause)),
            Event::Retry { .. } => unreachable!("shown above"),
        };
        let _ = writeln!(std::io::stderr(), "{} {line}", "*".dimmed());
    }

    fn trace(&self, direction: char, text: &str) {
        if self.level >= Level::Trace {
            let _ = writeln!(std::io::stderr(), "{} {text}", direction.to_string().cyan());
        }
    }
}

/// A duration in milliseconds, or seconds when long.
fn ms(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{:.2} s", duration.as_secs_f64())
    } else {
        format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
    }
}

/// A netstring we built, its parts marked.
fn netstring(framed: &[u8]) -> String {
    let colon = framed.iter().position(|&b| b == b':').unwrap_or(0);
    netstring_parts(framed.len(), &framed[colon + 1..framed.len().saturating_sub(1)])
}

/// The netstring of `wire_len` bytes holding `payload`: the length, ':',
/// the payload (escaped, and shortened when long) and ',' each marked.
fn netstring_parts(wire_len: usize, payload: &[u8]) -> String {
    format!(
        "length {} ':' payload {} ',' ({} on the wire)",
        payload.len(),
        shorten(payload, payload.len()),
        term::plural(wire_len as u64, "byte")
    )
}

/// Payload shown with at most this many characters (the start and the end).
const SHOWN: usize = 60;

/// `bytes` (the first of `total`) quoted and escaped, the middle left out
/// when long.
fn shorten(bytes: &[u8], total: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let chars: Vec<char> = text.chars().collect();
    let escape = |chars: &[char]| chars.iter().flat_map(|c| c.escape_debug()).collect::<String>();
    if chars.len() <= SHOWN && bytes.len() == total {
        return format!("\"{}\"", escape(&chars));
    }
    let head = SHOWN * 2 / 3;
    if bytes.len() < total {
        return format!(
            "\"{}\"… ({} in all)",
            escape(&chars[..chars.len().min(head)]),
            term::plural(total as u64, "byte")
        );
    }
    let tail = SHOWN - head;
    format!(
        "\"{}\"…\"{}\" ({}, shortened)",
        escape(&chars[..head]),
        escape(&chars[chars.len() - tail..]),
        term::plural(total as u64, "byte")
    )
}

/// The request as a shell command that sends it with netcat, as the
/// tutorial's test does: `printf '...' | nc.traditional -q -1 HOST PORT`.
pub fn nc_command(request: &[u8], addr: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    format!(
        "printf '{}' | nc.traditional -q -1 {host} {port}",
        printf_format(request)
    )
}

/// `bytes` as a printf format inside single quotes: `%` and `\` doubled,
/// `'` closed and reopened, control characters as octal escapes, and text
/// (UTF-8 included) as it is.
fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let text = String::from_utf8_lossy(bytes);
    for c in text.chars() {
        match c {
            '%' => out.push_str("%%"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("'\\''"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("\\{byte:03o}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_netstring_parts_are_marked_and_long_payloads_shortened() {
        assert_eq!(
            netstring(b"27:cummingsify.HERE IS MY POEM,"),
            "length 27 ':' payload \"cummingsify.HERE IS MY POEM\" ',' (31 bytes on the wire)"
        );
        let long = format!("shout.{}END", "a\n".repeat(100));
        let shown = netstring_parts(long.len() + 5, long.as_bytes());
        assert!(
            shown.starts_with("length 209 ':' payload \"shout.a\\na\\n"),
            "{shown}"
        );
        assert!(
            shown.contains("a\\na\\nEND\" (209 bytes, shortened) ','"),
            "{shown}"
        );
        assert_eq!(shorten(b"15:here", 10), "\"15:here\"… (10 bytes in all)");
    }

    #[test]
    fn the_nc_command_quotes_what_the_shell_and_printf_would_take() {
        assert_eq!(
            nc_command(b"27:cummingsify.HERE IS MY POEM,", "localhost:11000"),
            "printf '27:cummingsify.HERE IS MY POEM,' | nc.traditional -q -1 localhost 11000"
        );
        assert_eq!(printf_format(b"it's 100%\\\n\x1b"), "it'\\''s 100%%\\\\\\n\\033");
        assert_eq!(printf_format("«é»".as_bytes()), "«é»");
        assert!(nc_command(b"0:,", "[::1]:5").ends_with(" ::1 5"));
    }
}

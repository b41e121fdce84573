//! What goes to the terminal: colour choice, log setup, messages fitted to
//! the terminal, and what happens when stdout goes away. Data goes to
//! stdout, talk to stderr.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use colored::{ColoredString, Colorize};

use crate::cli::ColorChoice;

/// Decides whether stderr gets colour, and tells `colored` so.
pub fn init_color(choice: ColorChoice) -> bool {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
        }
    };
    colored::control::set_override(on);
    on
}

/// Sends `tracing` events to stderr at the level `-v`/`-q` choose (default
/// info), unless `RUST_LOG` says otherwise.
pub fn init_logging(verbose: u8, quiet: u8, color: bool) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("poetry={level},{level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A server whose stderr went away (`2>&1 | head`) goes on serving:
        // a log line that cannot be written is dropped, not a panic.
        .with_writer(|| LossyStderr)
        .log_internal_errors(false)
        .with_ansi(color)
        .with_target(false)
        .init();
}

/// Stderr, where a failed write is dropped.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// True when stdout leads nowhere any more: the reader of its pipe has gone
/// (the pipe then polls as an error) or its terminal hung up. An `EPIPE`
/// from a socket leaves stdout as it was, so this tells the two apart.
pub fn stdout_is_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and a zero timeout: poll only looks.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// True when `err` comes from writing to a stdout whose reader has gone
/// (`poetry transforms | head -1`): not a failure, as for `cat` or `rg`.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }) && stdout_is_gone()
}

/// Makes `print!`/`println!` on a stdout whose reader has gone end the
/// process quietly with 0 instead of a panic, for every subcommand: the
/// standard library panics on such a write, with a message of its own.
pub fn exit_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && stdout_is_gone() {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The width to fit messages to: the terminal's, when stderr is one.
fn stderr_width() -> Option<usize> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(std::io::stderr()).map(|(width, _)| usize::from(width.0))
}

/// `text` after a `label` (`error:`), each line fitted to the terminal's
/// width when stderr is one: the first after the label, the others (which
/// the text indents itself) under their own indent. Off a terminal, lines
/// stay whole, for logs and `grep`.
pub fn fit(label: &str, text: &str) -> String {
    let Some(width) = stderr_width() else {
        return format!("{label} {text}");
    };
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let (first, rest) = if i == 0 {
            (" ".repeat(label.len() + 1), indent.to_owned() + "  ")
        } else {
            (indent.to_owned(), indent.to_owned() + "  ")
        };
        let options = textwrap::Options::new(width.max(20))
            .initial_indent(&first)
            .subsequent_indent(&rest);
        let wrapped = textwrap::fill(line.trim_start(), options);
        if i == 0 {
            out.push_str(label);
            out.push_str(&wrapped[label.len()..]);
        } else {
            out.push('\n');
            out.push_str(&wrapped);
        }
    }
    out
}

/// Says `text` on stderr after a coloured `label`, fitted to the terminal.
pub fn say(label: ColoredString, text: &str) {
    let plain = fit(&label.input, text);
    let _ = writeln!(std::io::stderr(), "{label}{}", &plain[label.input.len()..]);
}

/// `error:` in bold red.
pub fn error_label() -> ColoredString {
    "error:".red().bold()
}

/// `warning:` in bold yellow.
pub fn warning_label() -> ColoredString {
    "warning:".yellow().bold()
}

/// A byte count for people: `999 bytes`, `2.00 MiB (2097152 bytes)`.
pub fn size(bytes: u64) -> String {
    if bytes < 1024 {
        return plural(bytes, "byte");
    }
    format!("{} ({bytes} bytes)", indicatif::HumanBytes(bytes))
}

/// `1 poem`, `2 poems`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Writes a server's reply to stdout: byte for byte into a pipe or file; on
/// a terminal with control characters escaped, so that a hostile reply
/// cannot move the cursor, retitle the window or hide text.
pub fn write_reply(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if stdout.is_terminal() {
        stdout.write_all(&escape_for_terminal(bytes))?;
    } else {
        stdout.write_all(bytes)?;
    }
    stdout.flush()
}

/// `bytes` with everything a terminal would act on, rather than show,
/// written as an escape: control characters (but newlines and tabs),
/// a carriage return not ending a line, the marks that reorder text, and
/// bytes that are not UTF-8.
pub fn escape_for_terminal(bytes: &[u8]) -> Cow<'_, [u8]> {
    let harmless = |c: char, next: Option<char>| match c {
        '\n' | '\t' => true,
        '\r' => next == Some('\n'),
        c if c.is_control() => false,
        '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => false,
        _ => true,
    };
    if let Ok(text) = std::str::from_utf8(bytes) {
        let mut chars = text.chars().peekable();
        let mut clean = true;
        while let Some(c) = chars.next() {
            if !harmless(c, chars.peek().copied()) {
                clean = false;
                break;
            }
        }
        if clean {
            return Cow::Borrowed(bytes);
        }
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        let mut chars = chunk.valid().chars().peekable();
        while let Some(c) = chars.next() {
            if harmless(c, chars.peek().copied()) {
                out.push(c);
            } else {
                out.extend(c.escape_unicode());
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_plurals_read_well() {
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(999), "999 bytes");
        assert_eq!(size(2 * 1024 * 1024), "2.00 MiB (2097152 bytes)");
        assert_eq!(plural(1, "poem"), "1 poem");
        assert_eq!(plural(0, "poem"), "0 poems");
    }

    #[test]
    fn a_broken_pipe_elsewhere_than_stdout_is_still_an_error() {
        // This process's stdout is open: an EPIPE from a socket must not
        // pass for a reader of stdout that has gone.
        let err = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(!is_closed_stdout(&err.context("sending the request")));
    }

    #[test]
    fn a_terminal_sees_controls_escaped_and_text_unchanged() {
        let poem = "Ünïcödé, tabs\tand lines\r\n«ok»\n".as_bytes();
        assert!(matches!(escape_for_terminal(poem), Cow::Borrowed(_)));
        assert_eq!(
            escape_for_terminal(b"a\x1b]0;pwned\x07b\rc\xffd"),
            &b"a\\u{1b}]0;pwned\\u{7}b\\u{d}c\\xffd"[..]
        );
        assert_eq!(
            escape_for_terminal("x\u{202E}y\u{9b}z".as_bytes()),
            &b"x\\u{202e}y\\u{9b}z"[..]
        );
    }
}

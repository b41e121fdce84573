//! Bytes made readable for a person, and made pasteable for a shell: the
//! quoting behind every "sent" and "got" line and every reproduction.

use std::fmt::Write as _;

/// Longest run of bytes quoted whole; a longer one keeps its head and tail.
const SHOWN: usize = 72;
/// Bytes kept from the end of a run that is cut.
const TAIL: usize = 12;

/// `bytes` quoted in backticks: UTF-8 text as text, other bytes as `\xNN`,
/// control characters escaped; a long run is cut in the middle and its
/// length given.
pub fn quote(bytes: &[u8]) -> String {
    if bytes.len() <= SHOWN {
        return format!("`{}`", escape(bytes));
    }
    let (head, tail) = (&bytes[..SHOWN - TAIL], &bytes[bytes.len() - TAIL..]);
    format!("`{}…{}` ({} bytes)", escape(head), escape(tail), bytes.len())
}

/// `bytes` escaped on one line. A multi-byte character cut at either end of
/// the slice shows as `\xNN` bytes, like any other byte that is not UTF-8.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                '`' => out.push_str("\\`"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// `bytes` as the format of a POSIX `printf`, in single quotes: printable
/// ASCII as itself, everything else as a three-digit octal escape (the one
/// form every `printf` knows), `%` doubled.
pub fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('\'');
    for &byte in bytes {
        match byte {
            b'%' => out.push_str("%%"),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\047"),
            b'\n' => out.push_str("\\n"),
            b' '..=b'~' => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:03o}");
            }
        }
    }
    out.push('\'');
    out
}

/// `host port` as netcat takes them, from `host:port` (brackets of an IPv6
/// address dropped).
pub fn netcat_address(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            format!("{host} {port}")
        }
        None => addr.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_a_terminal_would_hide_and_keeps_text() {
        assert_eq!(quote(b"15:here is my poem,"), "`15:here is my poem,`");
        assert_eq!(quote("ΣΟΦΙΑ\n\t`".as_bytes()), "`ΣΟΦΙΑ\\n\\t\\``");
        assert_eq!(quote(b"a\xffb\x00\\"), "`a\\xffb\\u{0}\\\\`");
        // A character cut by the slice is shown as its bytes.
        assert_eq!(escape(&"é".as_bytes()[..1]), "\\xc3");
    }

    #[test]
    fn long_runs_are_cut_in_the_middle_with_their_length() {
        let long = [b'A'; 1000];
        let shown = quote(&long);
        assert!(shown.ends_with("` (1000 bytes)"), "{shown}");
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.contains('…'));
    }

    #[test]
    fn printf_formats_survive_the_shell_and_printf() {
        assert_eq!(
            printf_format(b"27:cummingsify.HERE IS MY POEM,"),
            "'27:cummingsify.HERE IS MY POEM,'"
        );
        assert_eq!(
            printf_format(b"100%\\'\n\xff\x00"),
            "'100%%\\\\\\047\\n\\377\\000'"
        );
        assert_eq!(printf_format("é".as_bytes()), "'\\303\\251'");
    }

    #[test]
    fn netcat_takes_host_and_port_apart() {
        assert_eq!(netcat_address("localhost:11000"), "localhost 11000");
        assert_eq!(netcat_address("[::1]:11000"), "::1 11000");
    }
}

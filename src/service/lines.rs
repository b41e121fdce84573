//! What a line is, and the transforms that work on whole lines.

/// One line of a poem: its text and the ending that followed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// The text; it holds no `\n` and never ends in `\r`.
    pub body: &'a str,
    /// `\n` with any `\r`s before it (so `\r\n` stays whole), empty for an
    /// unterminated last line, or the `\r`s that end the text without a `\n`.
    pub end: &'a str,
}

/// Splits `text` into lines; every body followed by its end gives `text` back.
///
/// A trailing `\r` goes to the ending, never the body, so moving a body next
/// to another line's `\n` can never turn it into a `\r\n`.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.split_inclusive('\n').map(|chunk| {
        let body = chunk.trim_end_matches(['\r', '\n']);
        Line {
            body,
            end: &chunk[body.len()..],
        }
    })
}

/// Reverses the order of the lines, last line first.
///
/// Line endings stay where they were: the poem ends with a newline exactly
/// when it did before, and a CRLF poem stays CRLF. A poem without a final
/// newline cannot end in an empty line, so empty lines at its very start stay
/// there (`"\na\nb"` becomes `"\nb\na"`). Applying it twice gives any poem back.
pub fn reverse_lines(poem: &str) -> String {
    let lines: Vec<Line<'_>> = lines(poem).collect();
    let fixed = match lines.last() {
        Some(last) if last.end.is_empty() => lines.iter().take_while(|l| l.body.is_empty()).count(),
        _ => 0,
    };
    let mut out = String::with_capacity(poem.len());
    for line in &lines[..fixed] {
        out.push_str(line.end);
    }
    for (slot, line) in lines[fixed..].iter().zip(lines[fixed..].iter().rev()) {
        out.push_str(line.body);
        out.push_str(slot.end);
    }
    out
}

/// Tidies whitespace: trims trailing whitespace from each line, collapses
/// every run of blank lines to one, and drops blank lines at the start and end.
///
/// Each kept line keeps its own ending, `\n` or `\r\n` (a collapsed run keeps
/// its first line's); stray `\r`s before it count as trailing whitespace. The result ends with a newline exactly when the poem
/// did, unless nothing is left. Applying it twice changes nothing more.
pub fn strip(poem: &str) -> String {
    let mut out = String::with_capacity(poem.len());
    // The previous kept line's ending waits until we know another line follows.
    let mut last_end = "";
    let mut blank_end: Option<&str> = None;
    for Line { body, end } in lines(poem) {
        let body = body.trim_end();
        let end = if end.ends_with("\r\n") {
            "\r\n"
        } else if end.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        if body.is_empty() {
            // Blank lines before the first kept line are dropped outright.
            if !out.is_empty() {
                blank_end.get_or_insert(end);
            }
            continue;
        }
        out.push_str(last_end);
        if let Some(blank) = blank_end.take() {
            out.push_str(blank);
        }
        out.push_str(body);
        last_end = end;
    }
    if poem.ends_with('\n') {
        out.push_str(last_end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_endings_and_reassemble() {
        let text = "a\r\nb\n\nc\r\r\nd\r";
        let got: Vec<(&str, &str)> = lines(text).map(|l| (l.body, l.end)).collect();
        assert_eq!(
            got,
            [
                ("a", "\r\n"),
                ("b", "\n"),
                ("", "\n"),
                ("c", "\r\r\n"),
                ("d", "\r")
            ]
        );
        assert_eq!(
            lines(text).map(|l| [l.body, l.end].concat()).collect::<String>(),
            text
        );
        assert_eq!(lines("").count(), 0);
        assert_eq!(lines("x").count(), "x".lines().count());
    }

    #[test]
    fn a_trailing_cr_cannot_fuse_into_crlf() {
        assert_eq!(reverse_lines("a\nb\r"), "b\na\r");
        assert_eq!(reverse_lines(&reverse_lines("a\nb\r")), "a\nb\r");
    }

    #[test]
    fn an_unterminated_poem_keeps_its_leading_empty_lines() {
        assert_eq!(reverse_lines("\na"), "\na");
        assert_eq!(reverse_lines("\r\n\na\r\nb"), "\r\n\nb\r\na");
        assert_eq!(reverse_lines("\na\n"), "a\n\n");
    }

    #[test]
    fn strip_keeps_the_final_newline_rule() {
        assert_eq!(strip("a  \n\n\n b\t\n\n"), "a\n\n b\n");
        assert_eq!(strip("\n\na\r\n \r\n\r\nb"), "a\r\n\r\nb");
        assert_eq!(strip("a\n  "), "a");
        assert_eq!(strip("a\r\r\nb\r"), "a\r\nb");
        assert_eq!(strip(" \n\t\n"), "");
        assert_eq!(strip(""), "");
    }
}

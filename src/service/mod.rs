//! The transform service: pure functions from poem to poem.
//!
//! Nothing here knows about sockets, framing or which names clients may use;
//! the registry decides what is exposed, and the protocol adapters carry bytes.
//!
//! Every transform is total: it accepts any UTF-8 (empty, lone combining
//! marks, CRLF, emoji sequences) and never panics. Anything that moves or
//! recases text works on grapheme clusters, so a letter keeps its accents.
//! Line endings follow one rule, in [`lines`]: a line ends at `\n`, any `\r`
//! just before it belongs to the ending, and each transform says what it does
//! with endings in its own doc comment.

mod case;
mod lines;
mod lowercase;
mod words;

pub use case::{alternate_case, rot13, shout, title};
pub use lines::{reverse_lines, strip};
pub use words::{pig_latin, reverse_words};

/// One transform the service offers, with what a person needs to pick it.
#[derive(Debug, Clone, Copy)]
pub struct Transform {
    /// The name it is offered under.
    pub name: &'static str,
    /// What it does, in one line.
    pub description: &'static str,
    /// The function itself.
    pub apply: fn(&str) -> String,
}

/// Every transform the service offers.
///
/// Names use only lowercase letters and `-`: `+` chains names and `.` ends the
/// name on the wire, so neither may appear in one.
pub const CATALOG: &[Transform] = &[
    Transform {
        name: "cummingsify",
        description: "lowercase every letter, as e. e. cummings might",
        apply: cummingsify,
    },
    Transform {
        name: "shout",
        description: "uppercase every letter",
        apply: shout,
    },
    Transform {
        name: "title",
        description: "capitalize the first letter of each word, lowercase the rest",
        apply: title,
    },
    Transform {
        name: "alternate-case",
        description: "aLtErNaTe lower and upper case over the letters of each line",
        apply: alternate_case,
    },
    Transform {
        name: "rot13",
        description: "rotate ASCII letters 13 places (apply twice to get the poem back)",
        apply: rot13,
    },
    Transform {
        name: "pig-latin",
        description: "move each Latin word's leading consonants to its end and add -ay",
        apply: pig_latin,
    },
    Transform {
        name: "reverse-words",
        description: "reverse the order of the words within each line",
        apply: reverse_words,
    },
    Transform {
        name: "reverse-lines",
        description: "reverse the order of the lines, last line first",
        apply: reverse_lines,
    },
    Transform {
        name: "strip",
        description: "trim trailing whitespace, collapse runs of blank lines, drop blank lines at both ends",
        apply: strip,
    },
];

/// Lowercases the poem with Unicode rules, as `str::to_lowercase` does.
///
/// Line endings and every other non-letter pass through untouched.
pub fn cummingsify(poem: &str) -> String {
    lowercase::to_lowercase(poem)
}

//! Transforms that change only the case of letters (and `rot13`, which
//! changes only ASCII letters).

use unicode_segmentation::UnicodeSegmentation;

/// Uppercases the poem with Unicode rules, as `str::to_uppercase` does
/// (`ß` becomes `SS`).
///
/// Line endings and every other non-letter pass through untouched.
pub fn shout(poem: &str) -> String {
    poem.to_uppercase()
}

/// Capitalizes each word: its first letter goes to title case and the rest of
/// the word to lowercase. A word is a run of non-whitespace; its first
/// alphanumeric character decides, so `'tis` becomes `'Tis` and `1st` stays.
///
/// Whitespace, and so every line ending, passes through untouched. A letter
/// whose capital would be other letters (`ß` to `SS`, `ﬁ` to `FI`) keeps its
/// form, so only case ever changes.
pub fn title(poem: &str) -> String {
    let mut out = String::with_capacity(poem.len());
    // Each piece is a word followed by at most one whitespace character.
    for piece in poem.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        // Lowercasing the whole word (not letter by letter) picks the right
        // Greek sigma: final `ς` at a word's end, `σ` elsewhere.
        let lower = word.to_lowercase();
        match lower.char_indices().find(|&(_, c)| c.is_alphanumeric()) {
            Some((at, first)) if first.is_alphabetic() => {
                out.push_str(&lower[..at]);
                out.push(titlecase(first));
                out.push_str(&lower[at + first.len_utf8()..]);
            }
            _ => out.push_str(&lower),
        }
        out.push_str(&piece[word.len()..]);
    }
    out
}

/// Alternates lowercase and uppercase over the letters of each line,
/// starting lowercase: `aLtErNaTe`.
///
/// Counts grapheme clusters whose base letter has case, so accents stay on
/// their letter, and scripts without case (CJK) do not skip a beat. Line
/// endings pass through untouched; each line starts over in lowercase.
pub fn alternate_case(poem: &str) -> String {
    let mut out = String::with_capacity(poem.len());
    let mut next_upper = false;
    for cluster in poem.graphemes(true) {
        let mut chars = cluster.chars();
        match chars.next() {
            Some(base) if has_case(base) => {
                out.push(if next_upper { upper(base) } else { lower(base) });
                out.push_str(chars.as_str());
                next_upper = !next_upper;
            }
            _ => {
                if cluster.contains('\n') {
                    next_upper = false;
                }
                out.push_str(cluster);
            }
        }
    }
    out
}

/// Rotates each ASCII letter 13 places along the alphabet, keeping its case;
/// everything else, line endings included, passes through. Applying it twice
/// gives the poem back.
pub fn rot13(poem: &str) -> String {
    poem.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => char::from(c as u8 + 13),
            'n'..='z' | 'N'..='Z' => char::from(c as u8 - 13),
            _ => c,
        })
        .collect()
}

/// Whether `c` has an upper and a lower form that differ.
pub(crate) fn has_case(c: char) -> bool {
    c.to_lowercase().ne(c.to_uppercase())
}

/// `c` in uppercase, if that is one character with the same letters;
/// otherwise `c` itself (`ß`, `ﬁ`, and `ı`, whose capital lowercases to `i`).
pub(crate) fn upper(c: char) -> char {
    single(c.to_uppercase())
        .filter(|u| u.to_lowercase().eq(c.to_lowercase()))
        .unwrap_or(c)
}

/// `c` in lowercase, if that is one character; otherwise `c` itself (`İ`).
pub(crate) fn lower(c: char) -> char {
    single(c.to_lowercase()).unwrap_or(c)
}

/// `c` as the first letter of a capitalized word: like [`upper`], except for
/// the four Latin digraphs with a title case of their own (`ǆ` to `ǅ`).
pub(crate) fn titlecase(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        _ => upper(c),
    }
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_helpers_never_change_letters() {
        assert_eq!(upper('é'), 'É');
        assert_eq!(upper('ß'), 'ß');
        assert_eq!(upper('ı'), 'ı');
        assert_eq!(upper('ﬁ'), 'ﬁ');
        assert_eq!(lower('İ'), 'İ');
        assert_eq!(lower('Σ'), 'σ');
        assert_eq!(titlecase('ǆ'), 'ǅ');
        assert!(has_case('ß') && has_case('ǅ') && !has_case('中') && !has_case('1'));
    }

    #[test]
    fn title_handles_greek_sigma_and_leading_punctuation() {
        assert_eq!(title("ΟΔΟΣ ΣΟΦΙΑΣ"), "Οδος Σοφιας");
        assert_eq!(title("'TIS the 1st DAY"), "'Tis The 1st Day");
        assert_eq!(title("ǆungla  straße\r\n"), "ǅungla  Straße\r\n");
    }
}

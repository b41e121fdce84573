//! Transforms that move or rewrite words.

use unicode_segmentation::UnicodeSegmentation;

use super::case::{lower, upper};
use super::lines::lines;

/// Reverses the order of the words within each line.
///
/// A word is a run of grapheme clusters between whitespace, so a letter keeps
/// its accents and an emoji sequence stays whole. The whitespace between words
/// stays where it was (only the words move), and so do line endings: the poem
/// ends with a newline exactly when it did. Applying it twice gives any poem
/// back.
pub fn reverse_words(poem: &str) -> String {
    let mut out = String::with_capacity(poem.len());
    for line in lines(poem) {
        reverse_line_words(line.body, &mut out);
        out.push_str(line.end);
    }
    out
}

fn reverse_line_words(line: &str, out: &mut String) {
    let clusters: Vec<(usize, &str)> = line.grapheme_indices(true).collect();
    let mut blank: Vec<bool> = clusters
        .iter()
        .map(|(_, c)| c.starts_with(char::is_whitespace))
        .collect();
    // A mark with no letter of its own (a combining accent after a tab or at
    // the line start, an Arabic number sign before a tab or the line end)
    // would fuse with the space a move put beside it, changing the clusters
    // and breaking the round trip; it stays put with the whitespace instead.
    let last = clusters.len().saturating_sub(1);
    for i in 0..clusters.len() {
        if !blank[i] && (i == 0 || blank[i - 1]) && fuses(" ", clusters[i].1) {
            blank[i] = true;
        }
    }
    for i in (0..clusters.len()).rev() {
        if !blank[i] && (i == last || blank[i + 1]) && fuses(clusters[i].1, " ") {
            blank[i] = true;
        }
    }
    // Runs of clusters of one kind, as byte ranges of the line.
    let mut runs: Vec<(bool, usize, usize)> = Vec::new();
    for (&(at, cluster), &is_blank) in clusters.iter().zip(&blank) {
        match runs.last_mut() {
            Some((kind, _, end)) if *kind == is_blank => *end = at + cluster.len(),
            _ => runs.push((is_blank, at, at + cluster.len())),
        }
    }
    let mut words = runs.iter().filter(|run| !run.0).rev();
    for &(is_blank, start, end) in &runs {
        let (start, end) = if is_blank {
            (start, end)
        } else {
            words.next().map_or((start, end), |&(_, s, e)| (s, e))
        };
        out.push_str(&line[start..end]);
    }
}

/// Whether `left` and `right` would share a grapheme cluster when joined.
fn fuses(left: &str, right: &str) -> bool {
    let joined = [left, right].concat();
    joined.graphemes(true).count() < left.graphemes(true).count() + right.graphemes(true).count()
}

/// Translates each Latin-script word into pig latin: leading consonants move
/// to the end and `ay` follows (`poem` to `oempay`, `queen` to `eenquay`); a
/// word that starts with a vowel gets `way` (`autumn` to `autumnway`).
///
/// Words follow Unicode word boundaries, so `don't` is one word and
/// punctuation stays put; words in other scripts and numbers pass through.
/// Letters move as grapheme clusters, keeping their accents; `y` is a vowel
/// except at the start. Capitals carry over: `Señor` becomes `Eñorsay`, `CAFÉ`
/// becomes `AFÉCAY`. Whitespace, and so every line ending, is untouched.
pub fn pig_latin(poem: &str) -> String {
    let mut out = String::with_capacity(poem.len() + poem.len() / 2);
    for segment in poem.split_word_bounds() {
        if segment.chars().next().is_some_and(is_latin_letter) {
            pig_latin_word(segment, &mut out);
        } else {
            out.push_str(segment);
        }
    }
    out
}

fn pig_latin_word(word: &str, out: &mut String) {
    let clusters: Vec<&str> = word.graphemes(true).collect();
    let base = |i: usize| clusters[i].chars().next().unwrap_or(' ');
    let is_vowel = |i: usize| {
        let c = lower(base(i));
        VOWELS.contains(c) || (c == 'y' && i > 0)
    };
    let mut split = (0..clusters.len())
        .find(|&i| is_vowel(i))
        .unwrap_or(clusters.len());
    // `qu` is one consonant sound: `queen` is `eenquay`, not `ueenqay`.
    if split > 0 && split < clusters.len() && lower(base(split - 1)) == 'q' && lower(base(split)) == 'u' {
        split += 1;
    }
    let letters = word.chars().filter(|&c| super::case::has_case(c));
    let shouting = letters.clone().count() > 1 && letters.clone().all(char::is_uppercase);
    let capitalized = !shouting && base(0).is_uppercase();
    let suffix = match (split, shouting) {
        (0, false) => "way",
        (0, true) => "WAY",
        (_, false) => "ay",
        (_, true) => "AY",
    };
    if split == 0 || split == clusters.len() {
        out.push_str(word);
    } else {
        let (head, tail) = (&clusters[..split], &clusters[split..]);
        for (i, cluster) in tail.iter().chain(head).enumerate() {
            // The capital moves with the start of the word, not with its letter.
            let recase = match (capitalized, i) {
                (true, 0) => Some(upper as fn(char) -> char),
                (true, i) if i == tail.len() => Some(lower as fn(char) -> char),
                _ => None,
            };
            match recase {
                Some(f) => {
                    let mut chars = cluster.chars();
                    out.extend(chars.next().map(f));
                    out.push_str(chars.as_str());
                }
                None => out.push_str(cluster),
            }
        }
    }
    out.push_str(suffix);
}

/// Lowercase vowels, with the accented forms Latin-script languages use.
const VOWELS: &str = "aeiouàáâãäåāăąǎèéêëēĕėęěìíîïĩīĭįǐòóôõöøōŏőǒùúûüũūŭůűųǔæœ";

/// Letters of the Latin script: ASCII, Latin-1, Latin Extended-A and -B, and
/// Latin Extended Additional.
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c, '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}') && c.is_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphan_marks_stay_put_so_the_round_trip_holds() {
        for line in [
            "\u{301}a b",
            "a\t\u{301}b",
            "a b\u{600}",
            "a\u{600}\tb c",
            " \u{301}x y ",
        ] {
            assert_eq!(reverse_words(&reverse_words(line)), line, "{line:?}");
        }
        assert_eq!(
            reverse_words("cafe\u{301} au  lait\r\n"),
            "lait au  cafe\u{301}\r\n"
        );
    }

    #[test]
    fn pig_latin_words() {
        assert_eq!(pig_latin("Hello, world"), "Ellohay, orldway");
        assert_eq!(
            pig_latin("queen apple rhythm yes"),
            "eenquay appleway ythmrhay esyay"
        );
        assert_eq!(pig_latin("Señor CAFÉ don't"), "Eñorsay AFÉCAY on'tday");
        assert_eq!(pig_latin("Москва 42 中文"), "Москва 42 中文");
        assert_eq!(pig_latin("nth"), "nthay");
    }
}

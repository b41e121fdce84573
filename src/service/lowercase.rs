//! Unicode lowercasing, byte-identical to `str::to_lowercase`, built for big poems.
//!
//! Past its first non-ASCII byte, std lowercases one char at a time, each through a
//! search of its case tables. Poems are mostly ASCII with letters from Latin-1, Greek
//! or Cyrillic scattered through them, so this engine instead:
//! - lowercases long ASCII runs in blocks the compiler vectorizes, and the short runs
//!   between letters of other scripts a machine word at a time (SWAR in a `u64`),
//! - maps every two-byte UTF-8 sequence (U+0080..U+07FF) through a table built once,
//! - hands the rest, and the few two-byte chars whose lowercase is not one two-byte
//!   char, to `char::to_lowercase`,
//! - gives 'Σ' std's Final_Sigma treatment.

use std::sync::LazyLock;

/// Bytes lowercased per step of a short ASCII run.
const WORD: usize = size_of::<u64>();
/// Bytes lowercased per step of a long ASCII run.
const BLOCK: usize = 64;
/// The two-byte UTF-8 sequences encode exactly the code points below this.
const TWO_BYTE_END: usize = 0x800;
/// Every byte's high bit: set only in bytes that are not ASCII.
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; WORD]);
/// Table entry for a char that takes the slow path. No two-byte encoding starts with 0.
const SLOW_PATH: [u8; 2] = [0, 0];

const CAPITAL_SIGMA: char = 'Σ';
const SMALL_SIGMA: char = 'σ';
const FINAL_SIGMA: char = 'ς';

/// What a char is to the Final_Sigma rule (Unicode's Case_Ignorable and Cased).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigmaContext {
    /// Case_Ignorable: skipped while looking for the neighbouring letter.
    Ignorable,
    /// Cased and not Case_Ignorable: a letter that makes 'Σ' part of a word.
    Cased,
    /// Neither: ends the search without a letter.
    Other,
}

/// The lowercase UTF-8 of every two-byte char, by code point; `SLOW_PATH` where that
/// is not exactly one two-byte char (and for 'Σ', whose lowercase depends on context).
///
/// `char::to_lowercase` is not `const`, so the table is built on first use (a few
/// microseconds) rather than at compile time; building it from std keeps it in step
/// with std's Unicode version.
static TWO_BYTE_LOWERCASE: LazyLock<[[u8; 2]; TWO_BYTE_END]> = LazyLock::new(|| {
    let mut table = [SLOW_PATH; TWO_BYTE_END];
    for (code, entry) in table.iter_mut().enumerate().skip(0x80) {
        let Some(c) = u32::try_from(code).ok().and_then(char::from_u32) else {
            continue;
        };
        let mut lower = c.to_lowercase();
        if let (Some(l), None) = (lower.next(), lower.next()) {
            if c != CAPITAL_SIGMA && l.len_utf8() == 2 {
                l.encode_utf8(entry);
            }
        }
    }
    table
});

/// [`SigmaContext`] of every char below U+0800, built only when a poem holds a 'Σ'.
static TWO_BYTE_SIGMA_CONTEXT: LazyLock<[SigmaContext; TWO_BYTE_END]> = LazyLock::new(|| {
    let mut table = [SigmaContext::Other; TWO_BYTE_END];
    for (code, entry) in table.iter_mut().enumerate() {
        if let Some(c) = u32::try_from(code).ok().and_then(char::from_u32) {
            *entry = probe_sigma_context(c);
        }
    }
    table
});

/// `poem` lowercased exactly as `str::to_lowercase` would.
pub fn to_lowercase(poem: &str) -> String {
    let bytes = poem.as_bytes();
    let two_byte = &*TWO_BYTE_LOWERCASE;
    // ASCII and table hits keep their length; the rare chars that grow make the vector
    // reallocate. The spare word lets the fast path write a whole word near the end.
    let mut out = Vec::with_capacity(bytes.len() + WORD);
    let mut i = 0;
    while i < bytes.len() {
        i += lowercase_mixed_run(&mut out, bytes, i, two_byte);
        if i == bytes.len() {
            break;
        }
        i += push_lowercase_ascii_prefix(&mut out, &bytes[i..]);
        if i == bytes.len() {
            break;
        }
        // Past the run, `bytes[i]` leads a multi-byte char.
        let lead = bytes[i];
        if lead < 0xE0 {
            // A `str` holds valid UTF-8, so a lead byte below 0xE0 has one continuation
            // byte after it. The masks keep the index below 0x800 for the compiler too.
            let code = usize::from(lead & 0x1F) << 6 | usize::from(bytes[i + 1] & 0x3F);
            let lower = two_byte[code];
            if lower != SLOW_PATH {
                out.extend_from_slice(&lower);
                i += 2;
                continue;
            }
        }
        // `i` is always at a char boundary, so there is a char here.
        let Some(c) = poem.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if c == CAPITAL_SIGMA {
            push_char(&mut out, lowercase_sigma(poem, i));
        } else {
            c.to_lowercase().for_each(|l| push_char(&mut out, l));
        }
        i += c.len_utf8();
    }
    debug_assert!(std::str::from_utf8(&out).is_ok());
    // SAFETY: `out` is the concatenation of (a) lowercased ASCII runs of the input,
    // which are ASCII, (b) table entries, each the UTF-8 encoding of one char made by
    // `char::encode_utf8`, and (c) chars encoded by `char::encode_utf8`. Each piece is
    // valid UTF-8 on its own, so the whole is. The differential tests below check it.
    unsafe { String::from_utf8_unchecked(out) }
}

/// Lowercases the text of `bytes` from `from` while it is ASCII words and
/// two-byte chars the table maps (most of a mixed-script poem), straight into
/// `out`'s spare capacity, and returns how many bytes that was. Stops before a
/// long ASCII run (blocks do those faster), a char that takes the slow path,
/// or the last bytes of the poem.
///
/// A word is read and written whole even when only its first bytes are
/// ASCII: the bytes past those are overwritten next. That needs a word of
/// capacity past what is kept, which `out` has as long as it has grown no
/// faster than the input was read (ASCII and table hits keep lengths).
fn lowercase_mixed_run(
    out: &mut Vec<u8>,
    bytes: &[u8],
    from: usize,
    two_byte: &[[u8; 2]; TWO_BYTE_END],
) -> usize {
    // Room for every byte still to read, plus the spare word.
    out.reserve(bytes.len() - from + WORD);
    let start = out.len();
    let mut written = start;
    let mut i = from;
    let spare = out.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    // SAFETY of the writes below: `written - start <= i - from` throughout (each
    // step writes as many bytes as it reads), and `i + WORD <= bytes.len()`, so
    // every write ends within `start + bytes.len() - from + WORD`, the capacity
    // reserved above.
    while let Some(word) = bytes.get(i..).and_then(<[u8]>::first_chunk::<WORD>) {
        let word = u64::from_le_bytes(*word);
        let ascii = ascii_prefix_len(word);
        if ascii == WORD {
            // A long run, perhaps: leave it to the blocks.
            break;
        }
        // SAFETY: see above; `spare` points at `out`'s spare capacity.
        unsafe {
            spare
                .add(written - start)
                .cast::<[u8; WORD]>()
                .write_unaligned(lowercase_ascii_word(word).to_le_bytes());
        }
        written += ascii;
        i += ascii;
        let lead = bytes[i];
        if lead >= 0xE0 {
            break;
        }
        // A lead byte below 0xE0 in a `str` has one continuation byte after it.
        let code = usize::from(lead & 0x1F) << 6 | usize::from(bytes[i + 1] & 0x3F);
        let lower = two_byte[code];
        if lower == SLOW_PATH {
            break;
        }
        // SAFETY: as above; the two bytes read are two bytes written.
        unsafe {
            spare
                .add(written - start)
                .cast::<[u8; 2]>()
                .write_unaligned(lower)
        };
        written += 2;
        i += 2;
    }
    // SAFETY: every byte up to `written` was written above, and `written` is
    // within the capacity reserved.
    unsafe { out.set_len(written) };
    i - from
}

/// Appends the ASCII bytes at the start of `bytes` to `out`, lowercased, and returns
/// how many there were.
fn push_lowercase_ascii_prefix(out: &mut Vec<u8>, bytes: &[u8]) -> usize {
    let mut done = 0;
    loop {
        let rest = &bytes[done..];
        let Some(word) = rest.first_chunk::<WORD>() else {
            // Less than a word left: the end of the poem.
            let ascii = rest.iter().take_while(|b| b.is_ascii()).count();
            out.extend(rest[..ascii].iter().map(u8::to_ascii_lowercase));
            return done + ascii;
        };
        let word = u64::from_le_bytes(*word);
        let ascii = ascii_prefix_len(word);
        if ascii == WORD {
            // Likely a long run: whole blocks go faster.
            let blocks = push_lowercase_ascii_blocks(out, rest);
            if blocks > 0 {
                done += blocks;
                continue;
            }
        }
        if ascii > 0 {
            // The whole word is written and the bytes past the ASCII ones taken back:
            // cheaper than writing a variable number of bytes.
            out.extend_from_slice(&lowercase_ascii_word(word).to_le_bytes());
            out.truncate(out.len() - (WORD - ascii));
        }
        done += ascii;
        if ascii < WORD {
            return done;
        }
    }
}

/// Appends the leading whole blocks of `bytes` that are all ASCII to `out`,
/// lowercased, and returns how many bytes that was.
fn push_lowercase_ascii_blocks(out: &mut Vec<u8>, bytes: &[u8]) -> usize {
    // Writing straight into the spare capacity, in fixed-size blocks, lets the
    // compiler vectorize both the check and the lowercasing: appending block by block
    // runs several times slower.
    out.reserve(bytes.len());
    let spare = out.spare_capacity_mut();
    let mut done = 0;
    while let (Some(block), Some(lower)) = (
        bytes[done..].first_chunk::<BLOCK>(),
        spare[done..].first_chunk_mut::<BLOCK>(),
    ) {
        if block.iter().fold(0, |high, byte| high | byte) >= 0x80 {
            break;
        }
        for (lower, byte) in lower.iter_mut().zip(block) {
            lower.write(byte.to_ascii_lowercase());
        }
        done += BLOCK;
    }
    let len = out.len() + done;
    // SAFETY: the loop initialized the first `done` bytes of the spare capacity, and
    // `reserve` guaranteed room for all of `bytes`, of which `done` is a part.
    unsafe { out.set_len(len) };
    done
}

/// How many bytes of `word` (in memory order) are ASCII before the first that is not.
fn ascii_prefix_len(word: u64) -> usize {
    // Bytes are in little-endian order, so the first non-ASCII byte in memory holds
    // the lowest high bit set.
    (word & HIGH_BITS).trailing_zeros() as usize / 8
}

/// `word` with every ASCII capital lowercased.
///
/// Only the bytes before the first non-ASCII byte are exact: a non-ASCII byte can
/// carry into the bytes after it, which callers discard.
fn lowercase_ascii_word(word: u64) -> u64 {
    let repeat = |byte: u8| u64::from_ne_bytes([byte; WORD]);
    // For an ASCII byte b, b + (0x80 - x) sets the high bit exactly when b >= x and
    // never carries out of the byte (at most 0x7F + 0x7F).
    let at_least_a = word.wrapping_add(repeat(0x80 - b'A'));
    let past_z = word.wrapping_add(repeat(0x80 - b'Z' - 1));
    let capitals = at_least_a & !past_z & HIGH_BITS;
    // 0x80 >> 2 is 0x20, the bit that makes a capital small.
    word | capitals >> 2
}

fn push_char(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// The lowercase of the 'Σ' at byte `at` of `poem`: 'ς' at the end of a word, as std
/// decides it (Unicode's Final_Sigma: a cased letter before it, skipping
/// case-ignorable chars, and none after it), else 'σ'.
///
/// Each search stops at the first char that is not case-ignorable, and 'Σ' is not,
/// so a run of case-ignorable chars is searched at most twice, from the 'Σ' on either
/// side of it: a poem full of 'Σ' costs linear time.
fn lowercase_sigma(poem: &str, at: usize) -> char {
    let before = poem.get(..at).unwrap_or_default();
    let after = poem.get(at + CAPITAL_SIGMA.len_utf8()..).unwrap_or_default();
    if cased_after_ignorables(before.chars().rev()) && !cased_after_ignorables(after.chars()) {
        FINAL_SIGMA
    } else {
        SMALL_SIGMA
    }
}

/// Whether the first char of `chars` that is not case-ignorable is cased.
fn cased_after_ignorables(chars: impl Iterator<Item = char>) -> bool {
    chars
        .map(sigma_context)
        .find(|&context| context != SigmaContext::Ignorable)
        == Some(SigmaContext::Cased)
}

fn sigma_context(c: char) -> SigmaContext {
    match TWO_BYTE_SIGMA_CONTEXT.get(c as usize) {
        Some(&context) => context,
        None => probe_sigma_context(c),
    }
}

/// Asks std what `c` is to the Final_Sigma rule.
///
/// std's Case_Ignorable and Cased tables are private (`core::unicode` is unstable),
/// so the only stable way to match them exactly, whatever Unicode version std has,
/// is to watch how std lowercases a 'Σ' after `c`. Outside U+0000..U+07FF this runs
/// only for the chars next to a 'Σ', which are rare.
fn probe_sigma_context(c: char) -> SigmaContext {
    let is_final = |probe: String| probe.to_lowercase().ends_with(FINAL_SIGMA);
    if is_final(format!("{c}{CAPITAL_SIGMA}")) {
        // Word-final after `c` alone: `c` is the cased letter, not skipped past.
        SigmaContext::Cased
    } else if is_final(format!("A{c}{CAPITAL_SIGMA}")) {
        // Word-final only with a letter beyond `c`: `c` was skipped.
        SigmaContext::Ignorable
    } else {
        SigmaContext::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Chars that stress the engine: every path (ASCII, table, exceptions, three- and
    /// four-byte chars) and every Final_Sigma context (cased, case-ignorable, other).
    const ALPHABET: &[char] = &[
        'A',
        'Z',
        'a',
        'z',
        '@',
        '[',
        '`',
        '{',
        'M',
        'q',
        ' ',
        '\n',
        '\'',
        '.',
        ':',
        '^',
        ',',
        '-',
        '!',
        '0',
        'À',
        'Þ',
        'à',
        'þ',
        'Ö',
        '×',
        '÷',
        'ÿ',
        '\u{AD}',
        '´',
        '·',
        'ß',
        'ẞ',
        'İ',
        'ı',
        'Ⱥ',
        'Ⱦ',
        'Σ',
        'Σ',
        'Σ',
        'σ',
        'ς',
        'ΐ',
        'Ά',
        'Ω',
        'ω',
        '\u{301}',
        '\u{345}',
        'Ж',
        'ж',
        'Ё',
        'Ѡ',
        'ǅ',
        'Ǆ',
        'ǆ',
        'ʰ',
        'Ａ',
        'ａ',
        '𐐀',
        '𐐨',
        'Ⅻ',
        'ⅻ',
        '\u{212A}',
        '😀',
        '漢',
        '\u{200D}',
        '\u{10FFFF}',
    ];

    fn assert_matches_std(poem: &str) {
        assert_eq!(to_lowercase(poem), poem.to_lowercase(), "lowercasing {poem:?}");
    }

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1024)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

        #[test]
        fn matches_std_on_any_string(poem in any::<String>()) {
            prop_assert_eq!(to_lowercase(&poem), poem.to_lowercase());
        }

        #[test]
        fn matches_std_on_tricky_chars(chars in prop::collection::vec(prop::sample::select(ALPHABET), 0..80)) {
            let poem: String = chars.into_iter().collect();
            prop_assert_eq!(to_lowercase(&poem), poem.to_lowercase());
        }

        #[test]
        fn matches_std_on_tricky_chars_in_ascii(
            padding in 0..2 * WORD,
            chars in prop::collection::vec(prop::sample::select(ALPHABET), 0..24),
            ascii in "[A-Za-z .,'\n]{0,40}",
        ) {
            // Puts the tricky chars at every offset within a word of the fast path.
            let poem = format!("{}{}{ascii}", "Q".repeat(padding), chars.into_iter().collect::<String>());
            prop_assert_eq!(to_lowercase(&poem), poem.to_lowercase());
        }
    }

    #[test]
    fn matches_std_on_every_char_alone() {
        for c in all_chars() {
            assert_matches_std(c.encode_utf8(&mut [0; 4]));
        }
    }

    #[test]
    fn matches_std_on_every_two_byte_char_in_context() {
        let templates = [
            "{}Σ", "A{}Σ", ".{}Σ", "ΑΣ{}", "ΑΣ{}Β", "ΑΣ{}.", "Σ{}", "{}{}", "x{}y", "ΑΣ'{}", "{}'Σ",
        ];
        for c in (0..TWO_BYTE_END as u32).filter_map(char::from_u32) {
            for template in templates {
                assert_matches_std(&template.replace("{}", c.encode_utf8(&mut [0; 4])));
            }
            for padding in 0..=2 * WORD {
                assert_matches_std(&format!("{}{c}HELLO WORLD", "W".repeat(padding)));
            }
        }
    }

    #[test]
    fn matches_std_on_other_chars_in_context() {
        // A spread over every plane, plus every char near the alphabet's.
        let spread = all_chars().filter(|&c| c as usize >= TWO_BYTE_END).step_by(97);
        let near_alphabet = ALPHABET.iter().flat_map(|&c| {
            let code = c as u32;
            (code.saturating_sub(3)..=code.saturating_add(3)).filter_map(char::from_u32)
        });
        for c in spread.chain(near_alphabet) {
            let c = c.encode_utf8(&mut [0; 4]).to_owned();
            for poem in [
                format!("{c}Σ"),
                format!("A{c}Σ"),
                format!("ΑΣ{c}"),
                format!("ΑΣ{c}Β"),
                format!("ΑΣ{c}{c}x"),
                format!("HELLO{c}WORLD"),
            ] {
                assert_matches_std(&poem);
            }
        }
    }

    #[test]
    fn final_sigma_follows_the_word() {
        assert_eq!(to_lowercase("ΟΔΥΣΣΕΥΣ"), "οδυσσευς");
        assert_eq!(to_lowercase("ΑΣ'"), "ας'");
        assert_eq!(to_lowercase("ΑΣ'Β"), "ασ'β");
        assert_eq!(to_lowercase("Σ"), "σ");
        assert_eq!(to_lowercase("'Σ A"), "'σ a");
        assert_eq!(to_lowercase("HERE IS MY POEM"), "here is my poem");
    }

    #[test]
    fn matches_std_on_long_sigma_runs() {
        for unit in ["Σ", "ΑΣ", "Σ'", "'Σ", "A'''Σ'''", "Σ\u{301}\u{301} "] {
            assert_matches_std(&unit.repeat(10_000));
        }
    }

    #[test]
    fn lowercases_ascii_words_exactly() {
        for byte in 0..0x80u8 {
            for position in 0..WORD {
                let mut bytes = [b'Q'; WORD];
                bytes[position] = byte;
                let lowered = lowercase_ascii_word(u64::from_le_bytes(bytes)).to_le_bytes();
                let mut expected = bytes;
                expected.make_ascii_lowercase();
                assert_eq!(lowered, expected);
            }
        }
    }

    #[test]
    fn finds_the_ascii_prefix_of_a_word() {
        assert_eq!(ascii_prefix_len(u64::from_le_bytes(*b"ABCDEFGH")), WORD);
        assert_eq!(ascii_prefix_len(u64::from_le_bytes(*b"AB\xC3\xA9EFGH")), 2);
        assert_eq!(ascii_prefix_len(u64::from_le_bytes(*b"\xCE\xA3CDEFGH")), 0);
    }

    #[test]
    fn lowercases_ascii_prefixes_of_every_length() {
        // Crosses every word and block boundary, with and without a letter after.
        for len in 0..=3 * BLOCK + WORD {
            let ascii: String = (b'A'..=b'Z')
                .chain(b" .,\n".iter().copied())
                .map(char::from)
                .cycle()
                .take(len)
                .collect();
            for tail in ["", "é", "Σ", "漢"] {
                let poem = format!("{ascii}{tail}");
                let mut out = Vec::new();
                assert_eq!(push_lowercase_ascii_prefix(&mut out, poem.as_bytes()), len);
                assert_eq!(out, ascii.to_ascii_lowercase().as_bytes());
                assert_matches_std(&poem);
            }
        }
    }
}

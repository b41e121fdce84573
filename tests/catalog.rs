//! The transform catalog: each transform on a real poem, the laws they obey
//! as property tests, and `poetry transforms` listing them all.

mod common;

use assert_cmd::Command;
use poetry::service::{self, CATALOG};
use proptest::prelude::*;
use unicode_segmentation::UnicodeSegmentation;

/// A short poem with mixed case, an accented capital and a stanza break.
const POEM: &str = "Grey Rain falls on the CAFÉ roof,\n\
                    the Señor hums a quiet tune;\n\
                    \n\
                    under the lamps, Zoë waits.\n";

fn transform(name: &str) -> fn(&str) -> String {
    CATALOG
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the catalog"))
        .apply
}

#[test]
fn the_catalog_has_well_formed_unique_names() {
    assert!(CATALOG.len() >= 8, "cummingsify and at least seven more");
    let mut names: Vec<&str> = CATALOG.iter().map(|t| t.name).collect();
    for name in &names {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
            "{name}"
        );
        assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CATALOG.len(), "duplicate names");
    assert!(CATALOG
        .iter()
        .all(|t| !t.description.is_empty() && !t.description.contains('\n')));
}

#[test]
fn cummingsify_and_shout() {
    assert_eq!(
        transform("cummingsify")(POEM),
        "grey rain falls on the café roof,\nthe señor hums a quiet tune;\n\nunder the lamps, zoë waits.\n"
    );
    assert_eq!(
        transform("shout")(POEM),
        "GREY RAIN FALLS ON THE CAFÉ ROOF,\nTHE SEÑOR HUMS A QUIET TUNE;\n\nUNDER THE LAMPS, ZOË WAITS.\n"
    );
    assert_eq!(transform("shout")("straße"), "STRASSE");
}

#[test]
fn title() {
    assert_eq!(
        transform("title")(POEM),
        "Grey Rain Falls On The Café Roof,\nThe Señor Hums A Quiet Tune;\n\nUnder The Lamps, Zoë Waits.\n"
    );
}

#[test]
fn alternate_case() {
    assert_eq!(
        transform("alternate-case")(POEM),
        "gReY rAiN fAlLs On ThE cAfÉ rOoF,\ntHe SeÑoR hUmS a QuIeT tUnE;\n\nuNdEr ThE lAmPs, ZoË wAiTs.\n"
    );
    // A decomposed accent rides on its letter, and counts as no letter itself.
    assert_eq!(
        transform("alternate-case")("Zoe\u{308}l\r\nab"),
        "zOe\u{308}L\r\naB"
    );
}

#[test]
fn rot13() {
    assert_eq!(
        transform("rot13")(POEM),
        "Terl Enva snyyf ba gur PNSÉ ebbs,\ngur Frñbe uhzf n dhvrg ghar;\n\nhaqre gur ynzcf, Mbë jnvgf.\n"
    );
}

#[test]
fn pig_latin() {
    assert_eq!(
        transform("pig-latin")(POEM),
        "Eygray Ainray allsfay onway ethay AFÉCAY oofray,\n\
         ethay Eñorsay umshay away ietquay unetay;\n\
         \n\
         underway ethay ampslay, Oëzay aitsway.\n"
    );
}

#[test]
fn reverse_words() {
    assert_eq!(
        transform("reverse-words")(POEM),
        "roof, CAFÉ the on falls Rain Grey\ntune; quiet a hums Señor the\n\nwaits. Zoë lamps, the under\n"
    );
    // Decomposed accents and an emoji ZWJ sequence move as whole clusters.
    assert_eq!(
        transform("reverse-words")("Zoe\u{308} 👩\u{200D}💻 cafe\u{301}\r\n"),
        "cafe\u{301} 👩\u{200D}💻 Zoe\u{308}\r\n"
    );
}

#[test]
fn reverse_lines() {
    assert_eq!(
        transform("reverse-lines")(POEM),
        "under the lamps, Zoë waits.\n\nthe Señor hums a quiet tune;\nGrey Rain falls on the CAFÉ roof,\n"
    );
    assert_eq!(transform("reverse-lines")("one\r\ntwo"), "two\r\none");
}

#[test]
fn strip() {
    let messy = "\n \nGrey Rain falls on the CAFÉ roof,   \nthe Señor hums a quiet tune;\t\n\n \n\n\
                 under the lamps, Zoë waits.\n\n\n";
    assert_eq!(transform("strip")(messy), POEM);
    assert_eq!(transform("strip")(POEM), POEM);
    assert_eq!(transform("strip")("a \r\n\r\n\r\nb \r\n \r\n"), "a\r\n\r\nb\r\n");
}

#[test]
fn transforms_survive_edge_cases() {
    let edges = [
        "",
        "\n",
        "\r\n",
        "\r",
        "\u{301}",
        " \u{301}\u{302}",
        "\u{200D}",
        "👩\u{200D}👩\u{200D}👧",
        "🇫🇷🇩",
        "a\r\r\nb",
        "\u{600}\t\u{600}",
        "İı ß ﬁ ǆ ΣΑΣ",
    ];
    for t in CATALOG {
        for edge in edges {
            // Fails by panicking, which would show the name and input.
            let _ = (t.apply)(edge);
        }
    }
}

#[test]
fn poetry_transforms_lists_every_name() {
    let output = Command::cargo_bin("poetry")
        .unwrap()
        .arg("transforms")
        .timeout(common::STEP)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    for t in CATALOG {
        let listed = stdout.lines().any(|line| {
            line.strip_prefix(t.name)
                .is_some_and(|rest| rest.contains(t.description))
        });
        assert!(
            listed,
            "{} is not listed with its description in:\n{stdout}",
            t.name
        );
    }
    // The list alone, so that `| cut -d' ' -f1` gets the names; the examples are in --help.
    assert_eq!(stdout.lines().count(), CATALOG.len(), "{stdout}");
    let help = Command::cargo_bin("poetry")
        .unwrap()
        .args(["transforms", "--help"])
        .timeout(common::STEP)
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains(&service::shout("Slow Rain on the Café Roof")),
        "{help}"
    );
    assert!(
        help.contains("poetry transform cummingsify+reverse-lines poem.txt"),
        "{help}"
    );
}

// ---- Laws ----

/// Characters that trip up naive text code: CR and LF, tabs, accents both
/// composed and combining, Greek (with its final sigma), Cyrillic, CJK, emoji
/// with ZWJ and skin tones, flags, letters whose case mapping changes their
/// length, Arabic number signs (which join the next character) and a Hindi
/// virama.
const ALPHABET: &[char] = &[
    'a',
    'e',
    'q',
    'u',
    'y',
    'Z',
    'R',
    ' ',
    ' ',
    ' ',
    '\n',
    '\n',
    '\r',
    '\t',
    '.',
    ',',
    '\'',
    '-',
    'é',
    'É',
    'ñ',
    '\u{301}',
    '\u{308}',
    'Σ',
    'σ',
    'ς',
    'ά',
    'Ω',
    'Ж',
    'ж',
    '中',
    '文',
    '👩',
    '💻',
    '\u{200D}',
    '\u{1F3FD}',
    '\u{1F1EB}',
    '\u{1F1F7}',
    'ß',
    'İ',
    'ı',
    'ﬁ',
    'ǆ',
    'ǅ',
    '\u{345}',
    '\u{600}',
    'क',
    '\u{94D}',
    '\u{a0}',
    '\u{2028}',
    '\u{85}',
];

/// Arbitrary strings, and strings drawn from [`ALPHABET`] (which hit the
/// interesting cases far more often than uniformly random characters do).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(ALPHABET), 0..64).prop_map(String::from_iter),
    ]
}

/// Lines of words joined by single spaces, with no space at either end.
fn tidy_text() -> impl Strategy<Value = String> {
    let word = prop::collection::vec(prop::sample::select(ALPHABET), 1..8).prop_map(|chars| {
        chars
            .into_iter()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
    });
    let line = prop::collection::vec(word, 0..6).prop_map(|words| {
        words
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    (prop::collection::vec(line, 0..6), prop::bool::ANY)
        .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }))
}

/// The letters of `text` with case erased. `to_lowercase` spells Greek sigma
/// as final `ς` or medial `σ` by its neighbours, which a case change can shift,
/// so both count as the same letter.
fn letters(text: &str) -> String {
    text.to_lowercase().replace('ς', "σ")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_transform_panics(poem in text()) {
        for t in CATALOG {
            let _ = (t.apply)(&poem);
        }
    }

    #[test]
    fn rot13_twice_is_the_identity(poem in text()) {
        prop_assert_eq!(service::rot13(&service::rot13(&poem)), poem);
    }

    #[test]
    fn reverse_lines_twice_is_the_identity(poem in text()) {
        prop_assert_eq!(service::reverse_lines(&service::reverse_lines(&poem)), poem);
    }

    /// The law the catalog promises: on tidy text, twice is the identity.
    #[test]
    fn reverse_words_twice_is_the_identity_on_tidy_text(poem in tidy_text()) {
        prop_assert_eq!(service::reverse_words(&service::reverse_words(&poem)), poem);
    }

    /// Stronger: whitespace stays in place and only words move, so the law
    /// holds for any text whatsoever.
    #[test]
    fn reverse_words_twice_is_the_identity_on_any_text(poem in text()) {
        prop_assert_eq!(service::reverse_words(&service::reverse_words(&poem)), poem);
    }

    /// Words move whole: the text keeps exactly its grapheme clusters.
    #[test]
    fn reverse_words_keeps_every_cluster(poem in text()) {
        let reversed = service::reverse_words(&poem);
        let mut before: Vec<&str> = poem.graphemes(true).collect();
        let mut after: Vec<&str> = reversed.graphemes(true).collect();
        before.sort_unstable();
        after.sort_unstable();
        prop_assert_eq!(after, before);
    }

    #[test]
    fn cummingsify_shout_and_strip_are_idempotent(poem in text()) {
        for f in [service::cummingsify, service::shout, service::strip] {
            let once = f(&poem);
            prop_assert_eq!(f(&once), once);
        }
    }

    #[test]
    fn every_transform_but_strip_keeps_the_line_count(poem in text()) {
        for t in CATALOG.iter().filter(|t| t.name != "strip") {
            prop_assert_eq!((t.apply)(&poem).lines().count(), poem.lines().count(), "{}", t.name);
        }
    }

    #[test]
    fn every_transform_but_strip_keeps_the_line_endings(poem in text()) {
        let endings = |text: &str| text.matches('\n').count();
        for t in CATALOG.iter().filter(|t| t.name != "strip") {
            let out = (t.apply)(&poem);
            prop_assert_eq!(endings(&out), endings(&poem), "{}", t.name);
            prop_assert_eq!(out.matches("\r\n").count(), poem.matches("\r\n").count(), "{}", t.name);
            prop_assert_eq!(out.ends_with('\n'), poem.ends_with('\n'), "{}", t.name);
        }
    }

    #[test]
    fn alternate_case_and_title_change_only_case(poem in text()) {
        prop_assert_eq!(letters(&service::alternate_case(&poem)), letters(&poem));
        prop_assert_eq!(letters(&service::title(&poem)), letters(&poem));
    }

    #[test]
    fn strip_leaves_no_trailing_whitespace_or_blank_runs(poem in text()) {
        let out = service::strip(&poem);
        prop_assert!(out.lines().all(|line| line == line.trim_end()), "{:?}", out);
        prop_assert!(!out.lines().next().is_some_and(str::is_empty), "{:?}", out);
        prop_assert!(!out.lines().last().is_some_and(str::is_empty), "{:?}", out);
        prop_assert!(!out.contains("\n\n\n") && !out.contains("\n\r\n\r\n"), "{:?}", out);
    }
}

//! Throughput of the transforms: every transform in the catalog, `cummingsify` beside
//! the lowercasing it must beat, and a chain through the registry.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use poetry::registry::Registry;
use poetry::service::{self, CATALOG};

const KIB_1: usize = 1024;
const MIB_8: usize = 8 * 1024 * 1024;

/// The non-ASCII letters of a mixed-script poem: Latin-1, Greek (capital sigma
/// included) and Cyrillic, capital and small.
const NON_ASCII: &[char] = &[
    'À', 'É', 'Î', 'Ö', 'Ü', 'Ç', 'Ñ', 'Ø', 'à', 'é', 'î', 'ö', 'ü', 'ç', 'ñ', 'ß', 'Α', 'Β', 'Γ', 'Δ', 'Ε',
    'Λ', 'Π', 'Σ', 'Ω', 'α', 'β', 'γ', 'δ', 'λ', 'π', 'σ', 'ω', 'А', 'Б', 'Д', 'Ж', 'И', 'Л', 'П', 'Я', 'а',
    'б', 'д', 'ж', 'и', 'л', 'п', 'я',
];

/// Which letters a generated poem uses.
#[derive(Clone, Copy)]
enum Script {
    /// ASCII only.
    Ascii,
    /// About one letter in eight from `NON_ASCII`.
    Mixed,
    /// As `Mixed`, less 'Σ': the reference lowercasing hands any poem with a 'Σ' to
    /// std, so only this poem measures its own loop.
    MixedWithoutSigma,
}

impl Script {
    fn label(self) -> &'static str {
        match self {
            Script::Ascii => "ascii",
            Script::Mixed => "mixed",
            Script::MixedWithoutSigma => "mixed-no-sigma",
        }
    }
}

/// A poem of exactly `size` bytes (or a char less): words of capital and small
/// letters, spaces, punctuation and line breaks. The same every run, so figures
/// compare across runs.
fn poem(script: Script, size: usize) -> String {
    // xorshift64: deterministic and dependency-free.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut poem = String::with_capacity(size + 8);
    while poem.len() < size {
        for _ in 0..1 + next() % 8 {
            let roll = next();
            let foreign = NON_ASCII[(roll >> 8) as usize % NON_ASCII.len()];
            match script {
                Script::Mixed if roll % 8 == 0 => poem.push(foreign),
                Script::MixedWithoutSigma if roll % 8 == 0 && foreign != 'Σ' => poem.push(foreign),
                _ => {
                    let letter = char::from(b'A' + ((roll >> 16) % 26) as u8);
                    poem.push(if roll >> 32 & 1 == 0 {
                        letter
                    } else {
                        letter.to_ascii_lowercase()
                    });
                }
            }
        }
        poem.push_str(match next() % 16 {
            0 => ",\n",
            1 => "\n",
            2 => ". ",
            _ => " ",
        });
    }
    let end = (0..=size).rev().find(|&i| poem.is_char_boundary(i)).unwrap_or(0);
    poem.truncate(end);
    poem
}

/// The bare-minimum server's lowercasing, the figure to beat: ASCII byte by byte,
/// every other char through `char::to_lowercase`, and the whole poem through
/// `str::to_lowercase` once a 'Σ' turns up, as only std knows final sigma.
fn reference_lowercase(poem: &str) -> String {
    let mut out = String::with_capacity(poem.len());
    let bytes = poem.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii() {
            out.push(char::from(bytes[i].to_ascii_lowercase()));
            i += 1;
            continue;
        }
        let Some(c) = poem[i..].chars().next() else { break };
        if c == 'Σ' {
            return poem.to_lowercase();
        }
        out.extend(c.to_lowercase());
        i += c.len_utf8();
    }
    out
}

fn size_label(size: usize) -> &'static str {
    if size >= MIB_8 {
        "8MiB"
    } else {
        "1KiB"
    }
}

/// Big inputs get the fewest samples criterion allows, to keep a full run short.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, poem: &str) {
    group.throughput(Throughput::Bytes(poem.len() as u64));
    if poem.len() >= MIB_8 {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
    } else {
        group
            .sample_size(50)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
}

fn catalog(c: &mut Criterion) {
    let mut group = c.benchmark_group("transform");
    for script in [Script::Ascii, Script::Mixed] {
        for size in [KIB_1, MIB_8] {
            let poem = poem(script, size);
            configure(&mut group, &poem);
            for transform in CATALOG {
                let id = BenchmarkId::new(transform.name, format!("{}-{}", script.label(), size_label(size)));
                group.bench_with_input(id, poem.as_str(), |b, poem| b.iter(|| (transform.apply)(poem)));
            }
        }
    }
    group.finish();
}

/// A lowercasing function under comparison.
type Lowercase = fn(&str) -> String;

fn lowercasing(c: &mut Criterion) {
    let mut group = c.benchmark_group("cummingsify");
    let contenders: [(&str, Lowercase); 3] = [
        ("ours", service::cummingsify),
        ("std", str::to_lowercase),
        ("reference", reference_lowercase),
    ];
    for script in [Script::Ascii, Script::Mixed, Script::MixedWithoutSigma] {
        for size in [KIB_1, MIB_8] {
            let poem = poem(script, size);
            assert_eq!(service::cummingsify(&poem), poem.to_lowercase());
            assert_eq!(reference_lowercase(&poem), poem.to_lowercase());
            configure(&mut group, &poem);
            for (name, lowercase) in contenders {
                let id = BenchmarkId::new(name, format!("{}-{}", script.label(), size_label(size)));
                group.bench_with_input(id, poem.as_str(), |b, poem| b.iter(|| lowercase(poem)));
            }
        }
    }
    group.finish();
}

fn registry(c: &mut Criterion) {
    let registry = Registry::standard();
    let poem = poem(Script::Mixed, KIB_1);
    let mut group = c.benchmark_group("registry");
    configure(&mut group, &poem);
    group.bench_function("cummingsify+cummingsify", |b| {
        b.iter(|| registry.apply(black_box("cummingsify+cummingsify"), black_box(&poem)))
    });
    group.finish();
}

criterion_group!(benches, catalog, lowercasing, registry);
criterion_main!(benches);

//! Property tests and a randomized run of the netstring decoder: whatever
//! bytes arrive, in whatever pieces, it never panics, never holds more than
//! the maximum length, and decodes valid frames identically however split.

use bytes::BytesMut;
use poetry::codec::{NetstringCodec, NetstringError};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Feeds `input` to a fresh decoder in pieces cut at `cuts`; returns the
/// frames decoded, or the first error. Checks the memory bound on the way.
fn feed(max: usize, input: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, NetstringError> {
    let mut codec = NetstringCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut start = 0;
    for end in points {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        while let Some(frame) = codec.decode(&mut buf)? {
            assert!(frame.len() <= max);
            frames.push(frame.to_vec());
        }
        // Waiting for more: what is held is at most one payload's worth.
        assert!(buf.len() <= max, "holding {} bytes with max {max}", buf.len());
    }
    Ok(frames)
}

fn netstring(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out.push(b',');
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn valid_frames_decode_the_same_however_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let input: Vec<u8> = payloads.iter().flat_map(|p| netstring(p)).collect();
        let frames = feed(300, &input, &cuts).unwrap();
        prop_assert_eq!(frames, payloads);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_overfill(
        input in prop::collection::vec(any::<u8>(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in 0usize..120,
    ) {
        let _ = feed(max, &input, &cuts);
    }

    #[test]
    fn netstring_shaped_noise_never_panics_nor_overfills(
        input in prop::collection::vec(
            prop_oneof![Just(b':'), Just(b','), Just(b'0'), (b'1'..=b'9'), any::<u8>()],
            0..100,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in 0usize..50,
    ) {
        let _ = feed(max, &input, &cuts);
    }

    /// The length grammar is Twisted's and the netstring definition's,
    /// `0|[1-9][0-9]*`, capped at the maximum: checked against that model
    /// for every digit string, fed whole or a byte at a time.
    #[test]
    fn lengths_follow_the_netstring_grammar(digits in "[0-9]{1,8}", max in 0usize..2_000_000, whole in any::<bool>()) {
        let header = format!("{digits}:");
        let well_formed = digits == "0" || !digits.starts_with('0');
        let value: usize = digits.parse().unwrap();
        let mut codec = NetstringCodec::new(max);
        let mut buf = BytesMut::new();
        let mut result = Ok(None);
        let pieces: Vec<&[u8]> = if whole {
            vec![header.as_bytes()]
        } else {
            header.as_bytes().chunks(1).collect()
        };
        for piece in pieces {
            buf.extend_from_slice(piece);
            result = codec.decode(&mut buf);
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(None) => {
                prop_assert!(well_formed && value <= max, "{header} accepted with max {max}");
                prop_assert_eq!(codec.declared_length(), Some(value));
            }
            Err(NetstringError::LeadingZero) => prop_assert!(!well_formed, "{header}"),
            Err(NetstringError::TooLong { .. } | NetstringError::TooManyDigits { .. }) => {
                prop_assert!(well_formed && value > max, "{header} too long with max {max}");
            }
            other => prop_assert!(false, "{header}: {other:?}"),
        }
    }

    #[test]
    fn too_long_is_refused_before_the_payload(len in 1usize..1_000_000, max in 0usize..1_000) {
        prop_assume!(len > max);
        let mut codec = NetstringCodec::new(max);
        let mut buf = BytesMut::from(format!("{len}:").as_bytes());
        prop_assert!(codec.decode(&mut buf).is_err());
    }
}

/// Millions of short inputs biased toward netstring syntax, fed whole and
/// byte by byte: a cheap fuzz pass that fits CI (the test profile is
/// optimised). `POETRY_FUZZ_INPUTS` sets the count.
#[test]
fn randomized_run_over_millions_of_inputs() {
    let count: u64 = std::env::var("POETRY_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    const ALPHABET: &[u8] = b"0123456789:,.x\xff0:,1";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut input = Vec::with_capacity(64);
    let (mut frames, mut errors) = (0u64, 0u64);
    for _ in 0..count {
        input.clear();
        let len = (next() % 24) as usize;
        let noise: Vec<u8> = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        match next() % 4 {
            // A valid frame of noise, sometimes with one byte changed.
            0 | 1 => input.extend(netstring(&noise[..len.min(12)])),
            2 => {
                input.extend(netstring(&noise[..len.min(12)]));
                let at = (next() % input.len() as u64) as usize;
                input[at] = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
            }
            _ => input.extend(noise),
        }
        let max = (next() % 16) as usize;
        let cut = next() as usize;
        match feed(max, &input, &[cut, cut / 3]) {
            Ok(f) => frames += f.len() as u64,
            Err(_) => errors += 1,
        }
    }
    // The generator must reach both sides, or the run proves little.
    assert!(
        frames > count / 10 && errors > count / 10,
        "frames {frames}, errors {errors}"
    );
}

//! Throughput of netstring framing: decoding whole frames and frames that arrive one
//! byte at a time, and encoding replies.

use std::hint::black_box;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use poetry::codec::NetstringCodec;
use tokio_util::codec::{Decoder, Encoder};

/// The request of the classic round trip.
const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";
/// Large enough for the biggest frame benched.
const MAX_LENGTH: usize = 16 * 1024 * 1024;
const KIB_64: usize = 64 * 1024;
const MIB_8: usize = 8 * 1024 * 1024;

/// A `cummingsify` request whose payload is `len` bytes.
fn request(len: usize) -> Vec<u8> {
    let name = b"cummingsify.";
    let verse = b"HERE IS MY POEM, AND IT IS LONG\n";
    let mut payload = name.to_vec();
    payload.extend(verse.iter().cycle().take(len - name.len()));
    let mut frame = format!("{len}:").into_bytes();
    frame.extend_from_slice(&payload);
    frame.push(b',');
    frame
}

fn size_label(len: usize) -> String {
    match len {
        KIB_64 => "64KiB".to_owned(),
        MIB_8 => "8MiB".to_owned(),
        _ => format!("{len}B"),
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let frames = [
        ("classic".to_owned(), CLASSIC.to_vec()),
        (size_label(KIB_64), request(KIB_64)),
        (size_label(MIB_8), request(MIB_8)),
    ];
    for (label, frame) in &frames {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole", label), frame, |b, frame| {
            b.iter_batched(
                // Copying the frame into the buffer is the socket's work, not the codec's.
                || BytesMut::from(&frame[..]),
                |mut buf| {
                    let payload = NetstringCodec::new(MAX_LENGTH).decode(&mut buf);
                    assert!(matches!(payload, Ok(Some(_))));
                    payload
                },
                BatchSize::LargeInput,
            );
        });
    }
    for (label, frame) in &frames[..2] {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_with_input(BenchmarkId::new("byte-by-byte", label), frame, |b, frame| {
            b.iter(|| {
                let mut codec = NetstringCodec::new(MAX_LENGTH);
                let mut buf = BytesMut::with_capacity(frame.len());
                let mut payload = None;
                for &byte in frame {
                    buf.put_u8(byte);
                    payload = codec.decode(&mut buf).ok().flatten().or(payload);
                }
                assert!(payload.is_some());
                payload
            });
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for len in [KIB_64, MIB_8] {
        let payload = Bytes::from(vec![b'x'; len]);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(size_label(len)),
            &payload,
            |b, payload| {
                b.iter(|| {
                    let mut dst = BytesMut::new();
                    NetstringCodec::new(MAX_LENGTH)
                        .encode(black_box(&payload[..]), &mut dst)
                        .map(|()| dst)
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);

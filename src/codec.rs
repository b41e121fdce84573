//! Netstring framing (`<length>:<payload>,`) as a `tokio_util` codec.
//!
//! The decoder is incremental: length digits are consumed as they arrive, so
//! an over-long frame is refused from its digits alone, before any payload is
//! sent, and no memory is ever reserved from a declared length. The codec knows
//! nothing of sockets or of what a payload means.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The cap Twisted's `NetstringReceiver` applies (`MAX_LENGTH`), for reference.
pub const TWISTED_MAX_LENGTH: usize = 99_999;

/// Why a byte stream is not a valid netstring (or could not be read).
#[derive(Debug, thiserror::Error)]
pub enum NetstringError {
    /// The declared length exceeds the maximum; seen from the digits alone.
    #[error("declared length exceeds the maximum of {max} bytes")]
    TooLong {
        /// The maximum payload length in force.
        max: usize,
    },
    /// More length digits than the maximum length has.
    #[error("length has more than the {allowed} digits the maximum of {max} bytes allows")]
    TooManyDigits {
        /// Digits allowed.
        allowed: usize,
        /// The maximum payload length in force.
        max: usize,
    },
    /// A byte other than a digit (or `:` after at least one digit) in the length.
    #[error("byte {byte:#04x} where a length digit or ':' was expected")]
    NotADigit {
        /// The offending byte.
        byte: u8,
    },
    /// `:` with no digits before it.
    #[error("empty length before ':'")]
    EmptyLength,
    /// A length of more than one digit that starts with `0` (only `0:` may).
    #[error("length starts with a leading zero")]
    LeadingZero,
    /// The byte after the payload is not `,`.
    #[error("byte {byte:#04x} after the payload where ',' was expected")]
    MissingComma {
        /// The offending byte.
        byte: u8,
    },
    /// The stream ended inside a frame.
    #[error("{}", truncated_message(*.received, *.declared))]
    Truncated {
        /// Payload bytes received (0 while still in the length).
        received: usize,
        /// The declared length, if the length was complete.
        declared: Option<usize>,
    },
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn truncated_message(received: usize, declared: Option<usize>) -> String {
    match declared {
        Some(n) => format!("cut off after {received} of {n} bytes"),
        None => "cut off inside the length".to_string(),
    }
}

/// Where the decoder stands inside the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading length digits: the value and digit count so far.
    Length { value: usize, digits: usize },
    /// The length is known; waiting for the payload and its `,`.
    Payload { len: usize },
}

const START: State = State::Length { value: 0, digits: 0 };

/// Netstring `Decoder` and `Encoder` with a maximum payload length.
#[derive(Debug, Clone)]
pub struct NetstringCodec {
    max_length: usize,
    max_digits: usize,
    state: State,
}

impl NetstringCodec {
    /// A codec that refuses payloads longer than `max_length` bytes.
    pub fn new(max_length: usize) -> Self {
        Self {
            max_length,
            max_digits: decimal_digits(max_length),
            state: START,
        }
    }

    /// The maximum payload length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The payload length of the frame being decoded, once its `:` has arrived.
    pub fn declared_length(&self) -> Option<usize> {
        match self.state {
            State::Payload { len } => Some(len),
            State::Length { .. } => None,
        }
    }

    /// True when no byte of a frame has been consumed yet.
    pub fn at_frame_start(&self) -> bool {
        self.state == START
    }
}

/// Number of decimal digits of `n` (1 for 0).
fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// The `<length>:` header of a netstring, on the stack: at most 20 digits
/// and the colon.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    bytes: [u8; 21],
    len: u8,
}

impl Header {
    /// The header of a netstring holding `len` bytes.
    pub fn new(len: usize) -> Self {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(len).as_bytes();
        let mut bytes = [0u8; 21];
        bytes[..digits.len()].copy_from_slice(digits);
        bytes[digits.len()] = b':';
        Self {
            bytes,
            len: digits.len() as u8 + 1,
        }
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The `<length>:` header of a netstring holding `len` bytes.
pub fn header(len: usize) -> BytesMut {
    BytesMut::from(Header::new(len).as_bytes())
}

/// `payload` framed as a netstring, as a chain of buffers: written with one
/// vectored write, without copying the payload.
pub fn frame<B: Buf>(payload: B) -> impl Buf {
    header(payload.remaining())
        .freeze()
        .chain(payload)
        .chain(&b","[..])
}

impl Decoder for NetstringCodec {
    type Item = Bytes;
    type Error = NetstringError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NetstringError> {
        if let State::Length {
            mut value,
            mut digits,
        } = self.state
        {
            let mut used = 0;
            let mut complete = false;
            for &byte in src.iter() {
                used += 1;
                match byte {
                    b'0'..=b'9' => {
                        // As in the netstring definition and Twisted (`0|[1-9][0-9]*`):
                        // accepting `027:` would let two peers disagree on a frame.
                        if digits == 1 && value == 0 {
                            return Err(NetstringError::LeadingZero);
                        }
                        digits += 1;
                        if digits > self.max_digits {
                            return Err(NetstringError::TooManyDigits {
                                allowed: self.max_digits,
                                max: self.max_length,
                            });
                        }
                        value = value
                            .checked_mul(10)
                            .and_then(|v| v.checked_add(usize::from(byte - b'0')))
                            .filter(|&v| v <= self.max_length)
                            .ok_or(NetstringError::TooLong { max: self.max_length })?;
                    }
                    b':' if digits > 0 => {
                        complete = true;
                        break;
                    }
                    b':' => return Err(NetstringError::EmptyLength),
                    byte => return Err(NetstringError::NotADigit { byte }),
                }
            }
            src.advance(used);
            self.state = if complete {
                State::Payload { len: value }
            } else {
                State::Length { value, digits }
            };
        }
        let State::Payload { len } = self.state else {
            return Ok(None);
        };
        if src.len() <= len {
            return Ok(None);
        }
        if src[len] != b',' {
            return Err(NetstringError::MissingComma { byte: src[len] });
        }
        let payload = src.split_to(len).freeze();
        src.advance(1);
        self.state = START;
        Ok(Some(payload))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NetstringError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.state {
            State::Length { digits: 0, .. } if src.is_empty() => Ok(None),
            State::Length { .. } => Err(NetstringError::Truncated {
                received: 0,
                declared: None,
            }),
            State::Payload { len } => Err(NetstringError::Truncated {
                received: src.len().min(len),
                declared: Some(len),
            }),
        }
    }
}

impl<B: AsRef<[u8]>> Encoder<B> for NetstringCodec {
    type Error = NetstringError;

    fn encode(&mut self, item: B, dst: &mut BytesMut) -> Result<(), NetstringError> {
        let payload = item.as_ref();
        if payload.len() > self.max_length {
            return Err(NetstringError::TooLong { max: self.max_length });
        }
        let head = header(payload.len());
        dst.reserve(head.len() + payload.len() + 1);
        dst.put_slice(&head);
        dst.put_slice(payload);
        dst.put_u8(b',');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIC: &[u8] = b"27:cummingsify.HERE IS MY POEM,";

    fn decode_all(codec: &mut NetstringCodec, bytes: &[u8]) -> Result<Vec<Bytes>, NetstringError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut buf)? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn decodes_the_classic_request() {
        let mut codec = NetstringCodec::new(TWISTED_MAX_LENGTH);
        let frames = decode_all(&mut codec, CLASSIC).unwrap();
        assert_eq!(frames, vec![Bytes::from_static(b"cummingsify.HERE IS MY POEM")]);
        assert!(codec.at_frame_start());
    }

    #[test]
    fn every_split_point_gives_the_same_frame() {
        for a in 0..=CLASSIC.len() {
            for b in a..=CLASSIC.len() {
                let mut codec = NetstringCodec::new(100);
                let mut buf = BytesMut::new();
                let mut got = Vec::new();
                for part in [&CLASSIC[..a], &CLASSIC[a..b], &CLASSIC[b..]] {
                    buf.extend_from_slice(part);
                    while let Some(frame) = codec.decode(&mut buf).unwrap() {
                        got.push(frame);
                    }
                }
                assert_eq!(
                    got,
                    vec![Bytes::from_static(b"cummingsify.HERE IS MY POEM")],
                    "split at {a},{b}"
                );
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut codec = NetstringCodec::new(100);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &byte in CLASSIC {
            buf.put_u8(byte);
            if let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0][..], b"cummingsify.HERE IS MY POEM");
    }

    #[test]
    fn empty_netstring() {
        let mut codec = NetstringCodec::new(10);
        assert_eq!(decode_all(&mut codec, b"0:,").unwrap(), vec![Bytes::new()]);
    }

    #[test]
    fn leading_zeros_are_malformed_and_only_the_empty_length_starts_with_zero() {
        for input in [
            &b"05:hello,"[..],
            b"00:,",
            b"00000:,",
            b"027:cummingsify.HERE IS MY POEM,",
        ] {
            let mut codec = NetstringCodec::new(99_999);
            let err = decode_all(&mut codec, input).unwrap_err();
            assert!(
                matches!(err, NetstringError::LeadingZero),
                "{:?} gave {err:?}",
                String::from_utf8_lossy(input)
            );
        }
        // Refused at the second digit, without waiting for the ':'.
        let mut codec = NetstringCodec::new(99_999);
        let mut buf = BytesMut::from(&b"0"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.put_u8(b'7');
        assert!(matches!(codec.decode(&mut buf), Err(NetstringError::LeadingZero)));
        // Even where one digit is all the maximum allows, the error names the zero.
        let mut codec = NetstringCodec::new(5);
        assert!(matches!(
            decode_all(&mut codec, b"00:,"),
            Err(NetstringError::LeadingZero)
        ));
        // Zeros inside or at the end of a length are digits like any other.
        let mut codec = NetstringCodec::new(99_999);
        let ten = decode_all(&mut codec, b"10:0123456789,100:").unwrap();
        assert_eq!(ten, vec![Bytes::from_static(b"0123456789")]);
        assert_eq!(codec.declared_length(), Some(100));
    }

    #[test]
    fn more_digits_than_the_max_allows() {
        let mut codec = NetstringCodec::new(99_999);
        let err = decode_all(&mut codec, b"100005:hello,").unwrap_err();
        assert!(
            matches!(err, NetstringError::TooManyDigits { allowed: 5, .. }),
            "{err:?}"
        );
        // Refused at the sixth digit, before any ':' or payload.
        let mut codec = NetstringCodec::new(99_999);
        let mut buf = BytesMut::from(&b"12345"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.put_u8(b'6');
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn too_long_is_refused_from_the_digits() {
        let mut codec = NetstringCodec::new(1000);
        let mut buf = BytesMut::from(&b"1001"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(err, NetstringError::TooLong { max: 1000 }), "{err:?}");
        let mut codec = NetstringCodec::new(usize::MAX);
        let err = decode_all(&mut codec, b"99999999999999999999999999:").unwrap_err();
        assert!(matches!(
            err,
            NetstringError::TooLong { .. } | NetstringError::TooManyDigits { .. }
        ));
    }

    #[test]
    fn header_only_allocates_nothing_from_the_declared_length() {
        let mut codec = NetstringCodec::new(usize::MAX / 2);
        let mut buf = BytesMut::from(&b"1000000000:"[..]);
        let cap = buf.capacity();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(codec.declared_length(), Some(1_000_000_000));
        assert!(buf.capacity() <= cap);
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        type Check = fn(&NetstringError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"x:", |e| matches!(e, NetstringError::NotADigit { byte: b'x' })),
            (b"1x", |e| matches!(e, NetstringError::NotADigit { byte: b'x' })),
            (b" 5:hello,", |e| {
                matches!(e, NetstringError::NotADigit { byte: b' ' })
            }),
            (b"+5:hello,", |e| {
                matches!(e, NetstringError::NotADigit { byte: b'+' })
            }),
            (b"-1:", |e| matches!(e, NetstringError::NotADigit { byte: b'-' })),
            (b":", |e| matches!(e, NetstringError::EmptyLength)),
            (b":hello,", |e| matches!(e, NetstringError::EmptyLength)),
            (b"5:helloX", |e| {
                matches!(e, NetstringError::MissingComma { byte: b'X' })
            }),
            (b"0:a,", |e| {
                matches!(e, NetstringError::MissingComma { byte: b'a' })
            }),
            (b"3:abcd,", |e| {
                matches!(e, NetstringError::MissingComma { byte: b'd' })
            }),
        ];
        for (input, expected) in cases {
            let mut codec = NetstringCodec::new(100);
            let err = decode_all(&mut codec, input).unwrap_err();
            assert!(
                expected(&err),
                "{:?} gave {err:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn eof_inside_a_frame_reports_what_arrived() {
        let mut codec = NetstringCodec::new(100);
        let mut buf = BytesMut::from(&b"10:abc"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        let err = codec.decode_eof(&mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                NetstringError::Truncated {
                    received: 3,
                    declared: Some(10)
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "cut off after 3 of 10 bytes");

        let mut codec = NetstringCodec::new(100);
        let mut buf = BytesMut::from(&b"1"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(NetstringError::Truncated { declared: None, .. })
        ));

        let mut codec = NetstringCodec::new(100);
        assert!(codec.decode_eof(&mut BytesMut::new()).unwrap().is_none());
    }

    #[test]
    fn pipelined_frames_decode_in_order() {
        let mut codec = NetstringCodec::new(100);
        let frames = decode_all(&mut codec, b"1:a,0:,2:bc,").unwrap();
        assert_eq!(
            frames,
            vec![Bytes::from_static(b"a"), Bytes::new(), Bytes::from_static(b"bc")]
        );
    }

    #[test]
    fn headers_hold_every_length() {
        for len in [0, 9, 10, 27, 99_999, usize::MAX] {
            assert_eq!(Header::new(len).as_bytes(), format!("{len}:").as_bytes());
        }
    }

    #[test]
    fn encode_round_trips() {
        let mut codec = NetstringCodec::new(100);
        let mut buf = BytesMut::new();
        codec.encode("here is my poem", &mut buf).unwrap();
        assert_eq!(&buf[..], b"15:here is my poem,");
        codec.encode(b"", &mut buf).unwrap();
        assert_eq!(&buf[..], b"15:here is my poem,0:,");
        assert!(codec.encode(vec![0u8; 101], &mut BytesMut::new()).is_err());
        let mut framed = frame(&b"abc"[..]);
        assert_eq!(
            framed.copy_to_bytes(framed.remaining()),
            Bytes::from_static(b"3:abc,")
        );
    }
}

//! What a server should have answered, whether it did, and what it did
//! instead, in words. Replies are compared byte for byte; when they differ,
//! our one netstring decoder ([`crate::codec`]) says what they were.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::show::quote;
use super::wire::{Ending, RawReply, Wire};
use crate::codec::NetstringCodec;

/// Bytes read beyond an expected reply before the tester stops reading: room
/// to see a second reply or some garbage, no room for a stream.
pub const SLACK: usize = 4 * 1024;

/// What a server must do with a request.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Answer exactly these bytes, then close.
    Reply(Wire),
    /// Close (or reset) without sending a byte.
    Refusal,
}

impl Expect {
    /// The expected reply, for comparison as bytes arrive.
    pub fn reply(&self) -> Option<&Wire> {
        match self {
            Expect::Reply(wire) => Some(wire),
            Expect::Refusal => None,
        }
    }

    /// How many bytes to read at most.
    pub fn cap(&self) -> usize {
        self.reply().map_or(0, Wire::len) + SLACK
    }

    /// In words, for a report.
    pub fn describe(&self) -> String {
        match self {
            Expect::Reply(wire) => format!("{}, then a close", wire.show()),
            Expect::Refusal => "the connection closed without a byte".to_owned(),
        }
    }

    /// `Ok` with a short account, or `Err` with what is wrong.
    pub fn judge(&self, reply: &RawReply) -> Result<String, String> {
        match self {
            Expect::Reply(wire) => judge_reply(reply, wire),
            Expect::Refusal => judge_refusal(reply),
        }
    }
}

fn judge_reply(reply: &RawReply, expected: &Wire) -> Result<String, String> {
    let right_bytes = reply.first_difference.is_none() && reply.len == expected.len();
    let shown = if expected.len() <= 40 {
        quote(&expected.to_vec())
    } else {
        format!("the {}-byte reply", expected.len())
    };
    match (right_bytes, reply.ending) {
        (true, Ending::Closed) => Ok(format!("got {shown}, then a close")),
        (true, Ending::TimedOut) => Err(format!(
            "got {shown}, but the server did not close the connection by the deadline"
        )),
        (true, _) => Err(format!(
            "got {shown}, but then the connection was reset instead of closed"
        )),
        (false, Ending::Closed) if reply.len == 0 => {
            Err("the server closed the connection without a reply".to_owned())
        }
        (false, Ending::Reset) if reply.len == 0 => {
            Err("the server reset the connection without a reply".to_owned())
        }
        (false, _) if reply.len == 0 => {
            Err("the server sent nothing and did not close the connection by the deadline".to_owned())
        }
        (false, _) => Err(match reply.first_difference {
            Some(at) if at < expected.len() => format!("the reply differs from byte {at} on"),
            Some(at) => format!("the reply runs on past its {at} expected bytes"),
            None => format!(
                "the reply stops after {} of its {} bytes",
                reply.len,
                expected.len()
            ),
        }),
    }
}

fn judge_refusal(reply: &RawReply) -> Result<String, String> {
    match (reply.len, reply.ending) {
        (0, Ending::Closed) => Ok("closed without a byte".to_owned()),
        (0, Ending::Reset) => Ok("reset without a byte".to_owned()),
        (0, _) => Err("the server neither answered nor closed the connection by the deadline".to_owned()),
        _ => Err("the server answered instead of closing without a byte".to_owned()),
    }
}

/// What came back, in words: the bytes (quoted, cut), what our decoder
/// makes of them, and how the connection ended.
pub fn got(reply: &RawReply) -> String {
    let ending = match reply.ending {
        Ending::Closed => "the server closed the connection",
        Ending::Reset => "the connection was reset",
        Ending::TimedOut => "the connection was still open at the deadline",
        Ending::TooLong => "the server was still sending when the tester stopped reading",
    };
    if reply.len == 0 {
        return format!("nothing; {ending}");
    }
    let bytes = if reply.is_whole() {
        quote(&reply.head)
    } else {
        format!(
            "{}… ({} bytes in all)",
            quote(&reply.head[..64.min(reply.head.len())]),
            reply.len
        )
    };
    format!("{bytes} ({}); then {ending}", netstrings_in(reply))
}

/// What the netstring decoder makes of a reply.
pub fn netstrings_in(reply: &RawReply) -> String {
    // No cap of our own: this reads what a server sent, whatever its length.
    let mut codec = NetstringCodec::new(usize::MAX >> 1);
    let mut buf = BytesMut::from(&reply.head[..]);
    let mut sizes: Vec<usize> = Vec::new();
    let ended = matches!(reply.ending, Ending::Closed | Ending::Reset) && reply.is_whole();
    let after = |sizes: &[usize]| match sizes {
        [] => String::new(),
        [one] => format!("after a netstring of {one} bytes, "),
        more => format!("after {} netstrings, ", more.len()),
    };
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => sizes.push(frame.len()),
            Err(e) => return format!("{}not a netstring: {e}", after(&sizes)),
            Ok(None) if buf.is_empty() && codec.at_frame_start() => break,
            Ok(None) if !ended => {
                let declared = codec
                    .declared_length()
                    .map_or(String::new(), |len| format!(" of {len} bytes"));
                return format!("{}a netstring{declared}, not all of it read", after(&sizes));
            }
            Ok(None) => {
                let why = match codec.decode_eof(&mut buf) {
                    Err(e) => e.to_string(),
                    Ok(_) => "cut off".to_owned(),
                };
                return format!("{}a netstring {why}", after(&sizes));
            }
        }
    }
    match sizes.as_slice() {
        [] => "no netstring".to_owned(),
        [one] => format!("a netstring of {one} bytes"),
        more => format!(
            "{} netstrings, of {} bytes",
            more.len(),
            more.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: &[u8], ending: Ending, expected: Option<&[u8]>) -> RawReply {
        let first_difference = expected.and_then(|want| {
            bytes
                .iter()
                .enumerate()
                .find(|(i, b)| want.get(*i) != Some(b))
                .map(|(i, _)| i)
        });
        RawReply {
            head: bytes.to_vec(),
            len: bytes.len(),
            ending,
            first_difference,
        }
    }

    const WANT: &[u8] = b"15:here is my poem,";

    #[test]
    fn only_the_exact_reply_then_a_close_passes() {
        let expect = Expect::Reply(Wire::bytes(WANT));
        assert!(expect.judge(&reply(WANT, Ending::Closed, Some(WANT))).is_ok());
        for (bytes, ending) in [
            (WANT, Ending::TimedOut),
            (WANT, Ending::Reset),
            (&b"15:HERE IS MY POEM,"[..], Ending::Closed),
            (&b"15:here is my poem,\n"[..], Ending::Closed),
            (&b"15:here is my"[..], Ending::Closed),
            (&b""[..], Ending::Closed),
        ] {
            let verdict = expect.judge(&reply(bytes, ending, Some(WANT)));
            assert!(verdict.is_err(), "{bytes:?} {ending:?}");
        }
        let err = expect
            .judge(&reply(b"15:here is my", Ending::Closed, Some(WANT)))
            .unwrap_err();
        assert_eq!(err, "the reply stops after 13 of its 19 bytes");
    }

    #[test]
    fn a_refusal_is_a_close_or_reset_without_a_byte() {
        assert!(Expect::Refusal.judge(&reply(b"", Ending::Closed, None)).is_ok());
        assert!(Expect::Refusal.judge(&reply(b"", Ending::Reset, None)).is_ok());
        assert!(Expect::Refusal
            .judge(&reply(b"", Ending::TimedOut, None))
            .is_err());
        assert!(Expect::Refusal
            .judge(&reply(b"0:,", Ending::Closed, None))
            .is_err());
    }

    #[test]
    fn what_came_back_is_read_by_the_netstring_decoder() {
        let said = |bytes: &[u8], ending| got(&reply(bytes, ending, None));
        assert_eq!(
            said(WANT, Ending::Closed),
            "`15:here is my poem,` (a netstring of 15 bytes); then the server closed the connection"
        );
        assert!(said(b"015:here is my poem,", Ending::Closed)
            .contains("not a netstring: length starts with a leading zero"));
        assert!(said(b"15:here is my", Ending::Closed).contains("a netstring cut off after 10 of 15 bytes"));
        assert!(
            said(b"15:here is my", Ending::TimedOut).contains("a netstring of 15 bytes, not all of it read")
        );
        assert!(said(b"15:here is my poem,0:,", Ending::Reset).contains("2 netstrings, of 15, 0 bytes"));
        assert!(said(b"15:here is my poem,xyz", Ending::Closed)
            .contains("after a netstring of 15 bytes, not a netstring: byte 0x78"));
        assert_eq!(
            said(b"", Ending::Closed),
            "nothing; the server closed the connection"
        );
    }
}

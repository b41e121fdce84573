//! A transform request: which transform, and the poem, already checked.
//!
//! Both protocol adapters build a `Request` from their own wire form (a
//! netstring payload, an HTTP path and body) and hand it to the registry, so
//! the rules of what makes a request well formed live in one place.

use bytes::Bytes;

/// Longest transform name echoed back in errors and logs.
const NAME_IN_MESSAGES: usize = 64;

/// Why a payload is not a transform request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The payload holds no `.` to separate the name from the poem.
    #[error("no '.' between transform name and poem")]
    NoPeriod,
    /// The transform name is not UTF-8.
    #[error("transform name is not UTF-8")]
    NameNotUtf8,

    /// The poem is not UTF-8.
    #[error("poem is not UTF-8 (invalid byte at offset {valid_up_to})")]
    PoemNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
}

/// A transform name (or chain of names), checked to be UTF-8. Cheap to
/// clone: on the netstring port it shares the request's buffer.
#[derive(Debug, Clone)]
pub struct Name(
    /// Invariant: valid UTF-8 (checked by every constructor).
    Bytes,
);

impl Name {
    /// The name, in a buffer of its own: a name kept past its request must
    /// not keep the whole request's buffer alive with it.
    pub fn detached(&self) -> Name {
        Name(Bytes::copy_from_slice(&self.0))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checked that the bytes are UTF-8; `Bytes`
        // is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

/// A well-formed request: a UTF-8 transform name and a UTF-8 poem.
#[derive(Debug, Clone)]
pub struct Request {
    name: Name,
    /// Invariant: valid UTF-8 (checked in `with_name`).
    poem: Bytes,
}

impl Request {
    /// Splits a netstring payload `<name>.<poem>` at its FIRST period.
    pub fn parse(payload: Bytes) -> Result<Self, RequestError> {
        let dot = memchr::memchr(b'.', &payload).ok_or(RequestError::NoPeriod)?;
        std::str::from_utf8(&payload[..dot]).map_err(|_| RequestError::NameNotUtf8)?;
        Self::with_name(Name(payload.slice(..dot)), payload.slice(dot + 1..))
    }

    /// A request from a name and a poem that arrived separately.
    pub fn new(name: &str, poem: Bytes) -> Result<Self, RequestError> {
        Self::with_name(Name(Bytes::copy_from_slice(name.as_bytes())), poem)
    }

    fn with_name(name: Name, poem: Bytes) -> Result<Self, RequestError> {
        if simdutf8::basic::from_utf8(&poem).is_err() {
            // The fast check only says yes or no; the slow one says where.
            let valid_up_to = std::str::from_utf8(&poem).map_or_else(|e| e.valid_up_to(), |s| s.len());
            return Err(RequestError::PoemNotUtf8 { valid_up_to });
        }
        Ok(Self { name, poem })
    }

    /// The transform name (or chain of names) asked for.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The name, to keep beyond the request.
    pub fn name_handle(&self) -> &Name {
        &self.name
    }

    /// The name cut to a length fit for a log line.
    pub fn name_for_log(&self) -> &str {
        shorten(self.name())
    }

    /// The poem.
    pub fn poem(&self) -> &str {
        // SAFETY: `with_name` is the only constructor and it checked that `poem` is UTF-8;
        // `Bytes` is immutable. Checking again would cost a pass over an 8 MiB poem.
        unsafe { std::str::from_utf8_unchecked(&self.poem) }
    }

    /// The poem's length in bytes.
    pub fn len(&self) -> usize {
        self.poem.len()
    }

    /// True for the empty poem.
    pub fn is_empty(&self) -> bool {
        self.poem.is_empty()
    }
}

/// `name` cut at a character boundary to at most `NAME_IN_MESSAGES` bytes.
pub fn shorten(name: &str) -> &str {
    if name.len() <= NAME_IN_MESSAGES {
        return name;
    }
    let mut end = NAME_IN_MESSAGES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_period() {
        let r = Request::parse(Bytes::from_static(b"cummingsify.A. B. C.")).unwrap();
        assert_eq!(r.name(), "cummingsify");
        assert_eq!(r.poem(), "A. B. C.");
        let r = Request::parse(Bytes::from_static(b".")).unwrap();
        assert_eq!((r.name(), r.poem()), ("", ""));
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        assert_eq!(
            Request::parse(Bytes::from_static(b"cummingsify")).unwrap_err(),
            RequestError::NoPeriod
        );
        assert_eq!(
            Request::parse(Bytes::from_static(b"x.ab\xffc")).unwrap_err(),
            RequestError::PoemNotUtf8 { valid_up_to: 2 }
        );
        assert_eq!(
            Request::parse(Bytes::from_static(b"\xff.a")).unwrap_err(),
            RequestError::NameNotUtf8
        );
    }

    #[test]
    fn long_names_are_shortened_for_logs() {
        let name = "é".repeat(100);
        let short = shorten(&name);
        assert!(short.len() <= NAME_IN_MESSAGES && name.starts_with(short));
    }
}

//! Primitive encoding: fixed-width little-endian integers, `bytes`, `string`,
//! `option<T>`, `list<T>` as defined in `design/protocol.md` ("Conventions").
//!
//! The decoder is a cursor over one frame body. Every length and count is
//! checked against the bytes left in the body before anything is allocated, so
//! hostile input costs at most the frame that carried it.

use std::fmt;

/// Why a frame body did not decode. Never a panic: bytes from the network are input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A field needed `needed` bytes, `remaining` were left in the frame.
    Truncated {
        field: &'static str,
        needed: u64,
        remaining: u64,
    },
    /// A `list<T>` count that cannot fit in the bytes left in the frame.
    CountTooLarge {
        field: &'static str,
        count: u32,
        remaining: u64,
    },
    /// A `string` that is not UTF-8.
    InvalidUtf8 { field: &'static str },
    /// A `bool` that is neither 0 nor 1.
    InvalidBool { field: &'static str, value: u8 },
    /// An `option` or enum tag with no meaning.
    InvalidTag { field: &'static str, tag: u8 },
    /// A value that decoded but breaks a protocol rule (e.g. wrong magic).
    InvalidValue { field: &'static str, detail: String },
    /// Bytes left after the last field of a body.
    TrailingBytes { remaining: u64 },
    /// The frame's opcode is not assigned.
    UnknownOpcode { opcode: u16 },
    /// Flag bits that are reserved, or a request where a response was expected.
    BadFlags { flags: u16 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                field,
                needed,
                remaining,
            } => {
                write!(f, "field {field} needs {needed} bytes, {remaining} left in frame")
            }
            DecodeError::CountTooLarge {
                field,
                count,
                remaining,
            } => {
                write!(
                    f,
                    "list {field} claims {count} elements, only {remaining} bytes left in frame"
                )
            }
            DecodeError::InvalidUtf8 { field } => write!(f, "string {field} is not valid UTF-8"),
            DecodeError::InvalidBool { field, value } => write!(f, "bool {field} is {value}, not 0 or 1"),
            DecodeError::InvalidTag { field, tag } => write!(f, "tag {tag} of {field} has no meaning"),
            DecodeError::InvalidValue { field, detail } => write!(f, "{field}: {detail}"),
            DecodeError::TrailingBytes { remaining } => write!(f, "{remaining} bytes after the last field"),
            DecodeError::UnknownOpcode { opcode } => write!(f, "unknown opcode {opcode:#06x}"),
            DecodeError::BadFlags { flags } => write!(f, "reserved or unexpected flag bits {flags:#06x}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over one frame body.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Succeeds only if every byte was consumed.
    pub fn finish(self) -> DecodeResult<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                remaining: self.bytes.len() as u64,
            })
        }
    }

    /// Take `n` raw bytes.
    pub fn take(&mut self, field: &'static str, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(DecodeError::Truncated {
                field,
                needed: n as u64,
                remaining: self.bytes.len() as u64,
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> DecodeResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub fn u8(&mut self, field: &'static str) -> DecodeResult<u8> {
        Ok(u8::from_le_bytes(self.array(field)?))
    }
    pub fn u16(&mut self, field: &'static str) -> DecodeResult<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    pub fn u32(&mut self, field: &'static str) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    pub fn u64(&mut self, field: &'static str) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    pub fn i64(&mut self, field: &'static str) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    pub fn bool(&mut self, field: &'static str) -> DecodeResult<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { field, value }),
        }
    }

    /// `bytes`: u32 length, then that many bytes (bounded by the frame).
    pub fn bytes(&mut self, field: &'static str) -> DecodeResult<Vec<u8>> {
        let len = self.u32(field)?;
        Ok(self.take(field, len as usize)?.to_vec())
    }

    /// `bytes`, borrowed from the frame instead of copied.
    pub fn bytes_borrowed(&mut self, field: &'static str) -> DecodeResult<&'a [u8]> {
        let len = self.u32(field)?;
        self.take(field, len as usize)
    }

    /// `nullable_bytes`: a `bytes` whose length [`NULL_LENGTH`] means null
    /// (a Kafka tombstone or null header value), borrowed from the frame.
    pub fn nullable_bytes_borrowed(&mut self, field: &'static str) -> DecodeResult<Option<&'a [u8]>> {
        match self.u32(field)? {
            NULL_LENGTH => Ok(None),
            len => self.take(field, len as usize).map(Some),
        }
    }

    /// `nullable_bytes`, copied.
    pub fn nullable_bytes(&mut self, field: &'static str) -> DecodeResult<Option<Vec<u8>>> {
        Ok(self.nullable_bytes_borrowed(field)?.map(<[u8]>::to_vec))
    }

    /// `string`: a `bytes` holding UTF-8.
    pub fn string(&mut self, field: &'static str) -> DecodeResult<String> {
        let len = self.u32(field)?;
        let raw = self.take(field, len as usize)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// `option<T>` tag: `Ok(true)` when a value follows.
    pub fn option_tag(&mut self, field: &'static str) -> DecodeResult<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag { field, tag }),
        }
    }

    pub fn option<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Option<T>> {
        if self.option_tag(field)? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The count of a `list<T>` whose elements take at least
    /// `element_bytes_min` bytes each, checked against the bytes left (the
    /// elements are the caller's to read).
    pub fn list_count(&mut self, field: &'static str, element_bytes_min: usize) -> DecodeResult<u32> {
        let count = self.u32(field)?;
        let remaining = self.bytes.len() as u64;
        let needed = u64::from(count).saturating_mul(element_bytes_min.max(1) as u64);
        if needed > remaining {
            return Err(DecodeError::CountTooLarge {
                field,
                count,
                remaining,
            });
        }
        Ok(count)
    }

    /// The bytes not read yet (borrowed; nothing is consumed).
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// `list<T>`: u32 count, each element at least `element_bytes_min` bytes.
    /// The count is checked against the bytes left before anything is allocated.
    pub fn list<T>(
        &mut self,
        field: &'static str,
        element_bytes_min: usize,
        mut read: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let count = self.list_count(field, element_bytes_min)?;
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            out.push(read(self)?);
        }
        Ok(out)
    }
}

/// Smallest encodings, for `Reader::list` bounds.
pub const BYTES_MIN: usize = 4;
/// The length of a `nullable_bytes` that is null (protocol.md "Conventions"):
/// no frame can hold that many bytes, so a peer that reads it as `bytes`
/// refuses the frame as malformed instead of reading an empty value.
pub const NULL_LENGTH: u32 = u32::MAX;
pub const STRING_MIN: usize = 4;
pub const OPTION_MIN: usize = 1;

/// An encoder appending onto a `Vec<u8>`.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }
    pub fn with_buf(buf: Vec<u8>) -> Self {
        Writer { buf }
    }
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    /// `bytes`. Lengths above `u32::MAX` cannot be framed; the frame limit
    /// (≤ 256 MiB) rejects such a frame long before, so saturating here only
    /// produces a frame the peer refuses.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.buf.extend_from_slice(v);
    }
    pub fn string(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    /// `nullable_bytes`: `None` as the length [`NULL_LENGTH`] alone.
    pub fn nullable_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u32(NULL_LENGTH),
            Some(v) => self.bytes(v),
        }
    }
    pub fn option<T>(&mut self, v: Option<&T>, write: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(value) => {
                self.u8(1);
                write(self, value);
            }
        }
    }
    pub fn list<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            write(self, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_roundtrip_little_endian() {
        let mut w = Writer::new();
        w.u8(1);
        w.u16(0x0203);
        w.u32(0x0405_0607);
        w.u64(0x0809_0a0b_0c0d_0e0f);
        w.i64(-2);
        w.bool(true);
        w.string("hé");
        w.option(Some(&7u32), |w, v| w.u32(*v));
        w.option::<u32>(None, |w, v| w.u32(*v));
        w.list(&[1u16, 2, 3], |w, v| w.u16(*v));
        let buf = w.into_inner();
        assert_eq!(&buf[..3], &[1, 3, 2]);
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u32("c").unwrap(), 0x0405_0607);
        assert_eq!(r.u64("d").unwrap(), 0x0809_0a0b_0c0d_0e0f);
        assert_eq!(r.i64("e").unwrap(), -2);
        assert!(r.bool("f").unwrap());
        assert_eq!(r.string("g").unwrap(), "hé");
        assert_eq!(r.option("h", |r| r.u32("h")).unwrap(), Some(7));
        assert_eq!(r.option("i", |r| r.u32("i")).unwrap(), None);
        assert_eq!(r.list("j", 2, |r| r.u16("j")).unwrap(), vec![1, 2, 3]);
        r.finish().unwrap();
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocation() {
        // bytes claiming 4 GiB - 1 inside a 10-byte frame.
        let buf = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            Reader::new(&buf).bytes("v"),
            Err(DecodeError::Truncated {
                needed: 0xffff_ffff,
                ..
            })
        ));
        // list claiming 4 billion elements.
        assert!(matches!(
            Reader::new(&buf).list("l", 1, |r| r.u8("x")),
            Err(DecodeError::CountTooLarge { count: 0xffff_ffff, .. })
        ));
        // zero-sized element bound still counts as one byte each.
        assert!(Reader::new(&buf).list("l", 0, |_| Ok(())).is_err());
    }

    #[test]
    fn bad_bool_tag_utf8_trailing() {
        assert!(matches!(
            Reader::new(&[2]).bool("b"),
            Err(DecodeError::InvalidBool { value: 2, .. })
        ));
        assert!(matches!(
            Reader::new(&[9]).option_tag("o"),
            Err(DecodeError::InvalidTag { tag: 9, .. })
        ));
        assert!(matches!(
            Reader::new(&[1, 0, 0, 0, 0xff]).string("s"),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        let mut r = Reader::new(&[1, 2]);
        r.u8("x").unwrap();
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes { remaining: 1 }));
    }
}

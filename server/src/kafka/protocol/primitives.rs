//! Kafka's primitive types (the protocol guide's "Protocol Primitive Types",
//! kafka.apache.org/protocol#protocol_types): big-endian integers, varints,
//! strings, bytes, arrays, their compact (flexible) forms, UUIDs and the
//! tagged-field section, behind one trait [`Wire`].
//!
//! Decoding borrows from the input (`&'a str`, `&'a [u8]`); every count or
//! length read off the wire is checked against the bytes remaining before
//! anything is allocated: an array of `n` elements needs `n ×`
//! [`Wire::min_bytes`] bytes left, so no input makes a decoder allocate
//! more than a small constant times its size.

use super::error::{DecodeError, DecodeErrorKind, EncodeError};

/// The version a message is read or written at, and whether it is a
/// flexible one (compact strings/bytes/arrays, tagged fields: KIP-482).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub number: i16,
    pub flexible: bool,
}

impl Version {
    #[must_use]
    pub const fn new(number: i16, flexible: bool) -> Self {
        Self { number, flexible }
    }
}

/// A cursor over a received buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    #[must_use]
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, position: 0 }
    }

    #[must_use]
    pub fn position(&self) -> usize {
        self.position
    }

    #[must_use]
    pub fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.position)
    }

    fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.position)
    }

    /// The next `count` bytes, borrowed.
    pub fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.position.checked_add(count).filter(|end| *end <= self.input.len());
        match end.and_then(|end| self.input.get(self.position..end).map(|bytes| (end, bytes))) {
            Some((end, bytes)) => {
                self.position = end;
                Ok(bytes)
            }
            None => Err(self.error(DecodeErrorKind::Truncated {
                needed: count,
                remaining: self.remaining(),
            })),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint of at most 5 bytes (32 bits).
    pub fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        let start = self.position;
        let mut value: u32 = 0;
        for index in 0..5u32 {
            let [byte] = self.array::<1>()?;
            let bits = u32::from(byte & 0x7f);
            if index == 4 && bits > 0x0f {
                return Err(DecodeError::new(DecodeErrorKind::VarintTooLong, start));
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new(DecodeErrorKind::VarintTooLong, start))
    }

    /// An unsigned LEB128 varint of at most 10 bytes (64 bits).
    pub fn unsigned_varlong(&mut self) -> Result<u64, DecodeError> {
        let start = self.position;
        let mut value: u64 = 0;
        for index in 0..10u32 {
            let [byte] = self.array::<1>()?;
            let bits = u64::from(byte & 0x7f);
            if index == 9 && bits > 0x01 {
                return Err(DecodeError::new(DecodeErrorKind::VarintTooLong, start));
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new(DecodeErrorKind::VarintTooLong, start))
    }

    /// A zigzag-encoded signed varint (record fields).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.unsigned_varint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag-encoded signed varlong.
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = self.unsigned_varlong()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A length or count: `None` for null (-1, or 0 in the compact form);
    /// refused if below -1 or larger than the bytes left can hold at
    /// `min_bytes` each (at least 1).
    fn length(&mut self, version: Version, wide: bool, min_bytes: usize) -> Result<Option<usize>, DecodeError> {
        let start = self.position;
        let length: i64 = if version.flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if length == -1 {
            return Ok(None);
        }
        let Ok(length) = usize::try_from(length) else {
            return Err(DecodeError::new(DecodeErrorKind::InvalidLength { length }, start));
        };
        if length > self.remaining() / min_bytes.max(1) {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthExceedsInput {
                    length: length as u64,
                    remaining: self.remaining(),
                },
                start,
            ));
        }
        Ok(Some(length))
    }

    fn nullable_str(&mut self, version: Version) -> Result<Option<&'a str>, DecodeError> {
        let Some(length) = self.length(version, false, 1)? else {
            return Ok(None);
        };
        let start = self.position;
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DecodeError::new(DecodeErrorKind::InvalidUtf8, start))
    }

    fn nullable_bytes(&mut self, version: Version) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.length(version, true, 1)? {
            None => Ok(None),
            Some(length) => self.take(length).map(Some),
        }
    }

    /// Reads the tagged-field section of a flexible struct and skips every
    /// field (phase 1 models no tagged field). Bounded: each field needs at
    /// least 2 bytes, each size is checked against the bytes left.
    pub fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        let start = self.position;
        let count = self.unsigned_varint()? as usize;
        if count > self.remaining() / 2 {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthExceedsInput {
                    length: count as u64,
                    remaining: self.remaining(),
                },
                start,
            ));
        }
        for _ in 0..count {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }

    /// Refuses bytes after the end of a message.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(self.error(DecodeErrorKind::TrailingBytes(extra))),
        }
    }
}

/// Appends an unsigned LEB128 varint.
pub fn write_unsigned_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends an unsigned LEB128 varlong.
pub fn write_unsigned_varlong(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a zigzag varint.
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned_varint(out, ((value << 1) ^ (value >> 31)) as u32);
}

/// Appends a zigzag varlong.
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned_varlong(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends an empty tagged-field section.
pub fn write_empty_tagged_fields(out: &mut Vec<u8>) {
    out.push(0);
}

/// Appends a length or count (`None` = null) in the form `version` uses.
fn write_length(out: &mut Vec<u8>, version: Version, wide: bool, length: Option<usize>) -> Result<(), EncodeError> {
    let limit = if wide { i32::MAX as usize } else { i16::MAX as usize };
    match length {
        Some(length) if length > limit => Err(EncodeError::TooLong {
            field: "",
            length,
            limit,
        }),
        Some(length) if version.flexible => {
            write_unsigned_varint(out, length as u32 + 1);
            Ok(())
        }
        None if version.flexible => {
            out.push(0);
            Ok(())
        }
        Some(length) if wide => {
            out.extend_from_slice(&(length as i32).to_be_bytes());
            Ok(())
        }
        Some(length) => {
            out.extend_from_slice(&(length as i16).to_be_bytes());
            Ok(())
        }
        None if wide => {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
        None => {
            out.extend_from_slice(&(-1i16).to_be_bytes());
            Ok(())
        }
    }
}

/// A value with a Kafka wire form. `'a` is the lifetime of the input a
/// decoded value borrows from.
pub trait Wire<'a>: Sized {
    /// The fewest bytes one value takes at `version` (bounds array counts;
    /// never more than the true minimum).
    fn min_bytes(version: Version) -> usize;
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError>;
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError>;
}

macro_rules! wire_integer {
    ($type:ty, $read:ident) => {
        impl<'a> Wire<'a> for $type {
            fn min_bytes(_: Version) -> usize {
                std::mem::size_of::<$type>()
            }
            fn read(reader: &mut Reader<'a>, _: Version) -> Result<Self, DecodeError> {
                reader.$read()
            }
            fn write(&self, out: &mut Vec<u8>, _: Version) -> Result<(), EncodeError> {
                out.extend_from_slice(&self.to_be_bytes());
                Ok(())
            }
        }
    };
}

wire_integer!(i8, i8);
wire_integer!(i16, i16);
wire_integer!(i32, i32);
wire_integer!(i64, i64);
wire_integer!(u32, u32);

impl<'a> Wire<'a> for bool {
    fn min_bytes(_: Version) -> usize {
        1
    }
    fn read(reader: &mut Reader<'a>, _: Version) -> Result<Self, DecodeError> {
        let start = reader.position();
        match reader.i8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::new(DecodeErrorKind::InvalidBoolean(other as u8), start)),
        }
    }
    fn write(&self, out: &mut Vec<u8>, _: Version) -> Result<(), EncodeError> {
        out.push(u8::from(*self));
        Ok(())
    }
}

/// A 16-byte UUID (topic ids of later versions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Uuid(pub [u8; 16]);

impl<'a> Wire<'a> for Uuid {
    fn min_bytes(_: Version) -> usize {
        16
    }
    fn read(reader: &mut Reader<'a>, _: Version) -> Result<Self, DecodeError> {
        reader.array().map(Uuid)
    }
    fn write(&self, out: &mut Vec<u8>, _: Version) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

/// A null (-1) where the field is not nullable.
fn null_refused(start: usize) -> DecodeError {
    DecodeError::new(DecodeErrorKind::InvalidLength { length: -1 }, start)
}

/// STRING / COMPACT_STRING.
impl<'a> Wire<'a> for &'a str {
    fn min_bytes(version: Version) -> usize {
        if version.flexible {
            1
        } else {
            2
        }
    }
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError> {
        let start = reader.position();
        reader.nullable_str(version)?.ok_or_else(|| null_refused(start))
    }
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        write_length(out, version, false, Some(self.len()))?;
        out.extend_from_slice(self.as_bytes());
        Ok(())
    }
}

/// NULLABLE_STRING / COMPACT_NULLABLE_STRING.
impl<'a> Wire<'a> for Option<&'a str> {
    fn min_bytes(version: Version) -> usize {
        <&str as Wire>::min_bytes(version)
    }
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError> {
        reader.nullable_str(version)
    }
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        write_length(out, version, false, self.map(str::len))?;
        out.extend_from_slice(self.unwrap_or_default().as_bytes());
        Ok(())
    }
}

/// BYTES / COMPACT_BYTES.
impl<'a> Wire<'a> for &'a [u8] {
    fn min_bytes(version: Version) -> usize {
        if version.flexible {
            1
        } else {
            4
        }
    }
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError> {
        let start = reader.position();
        reader.nullable_bytes(version)?.ok_or_else(|| null_refused(start))
    }
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        write_length(out, version, true, Some(self.len()))?;
        out.extend_from_slice(self);
        Ok(())
    }
}

/// NULLABLE_BYTES / COMPACT_NULLABLE_BYTES (and RECORDS: opaque here).
impl<'a> Wire<'a> for Option<&'a [u8]> {
    fn min_bytes(version: Version) -> usize {
        <&[u8] as Wire>::min_bytes(version)
    }
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError> {
        reader.nullable_bytes(version)
    }
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        write_length(out, version, true, self.map(<[u8]>::len))?;
        out.extend_from_slice(self.unwrap_or_default());
        Ok(())
    }
}

fn read_array<'a, T: Wire<'a>>(reader: &mut Reader<'a>, version: Version) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = reader.length(version, true, T::min_bytes(version))? else {
        return Ok(None);
    };
    // `count` is at most remaining / min_bytes: the capacity is bounded by
    // the input's size.
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(T::read(reader, version)?);
    }
    Ok(Some(items))
}

fn write_array<'a, T: Wire<'a>>(out: &mut Vec<u8>, version: Version, items: Option<&[T]>) -> Result<(), EncodeError> {
    write_length(out, version, true, items.map(<[T]>::len))?;
    for item in items.unwrap_or_default() {
        item.write(out, version)?;
    }
    Ok(())
}

/// ARRAY / COMPACT_ARRAY.
impl<'a, T: Wire<'a>> Wire<'a> for Vec<T> {
    fn min_bytes(version: Version) -> usize {
        if version.flexible {
            1
        } else {
            4
        }
    }
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError> {
        let start = reader.position();
        read_array(reader, version)?.ok_or_else(|| null_refused(start))
    }
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        write_array(out, version, Some(self))
    }
}

/// Nullable ARRAY / COMPACT_ARRAY.
impl<'a, T: Wire<'a>> Wire<'a> for Option<Vec<T>> {
    fn min_bytes(version: Version) -> usize {
        <Vec<T> as Wire>::min_bytes(version)
    }
    fn read(reader: &mut Reader<'a>, version: Version) -> Result<Self, DecodeError> {
        read_array(reader, version)
    }
    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        write_array(out, version, self.as_deref())
    }
}

//! A bounds-checked reader over a byte slice (big-endian fixed fields and
//! Kafka's zigzag varints), and the matching writers. Every read checks the
//! bytes left first and fails with the field name and position.

use super::RecordsError;

/// Reads fields off a borrowed slice; `position` counts from `origin` so that
/// errors name the byte in the batch, not in a sub-slice.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    read: usize,
    origin: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over `bytes`, whose first byte is at `origin` in the error positions.
    pub(crate) fn new(bytes: &'a [u8], origin: usize) -> Self {
        Cursor { bytes, read: 0, origin }
    }

    /// Position of the next byte (in the error numbering).
    pub(crate) fn position(&self) -> usize {
        self.origin + self.read
    }

    /// Bytes consumed so far.
    pub(crate) fn consumed(&self) -> usize {
        self.read
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.read.min(self.bytes.len())
    }

    /// The next `n` bytes, borrowed.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordsError> {
        let available = self.remaining();
        let taken = self
            .bytes
            .get(self.read..)
            .and_then(|rest| rest.get(..n))
            .ok_or(RecordsError::Truncated {
                field,
                position: self.position(),
                needed: n,
                available,
            })?;
        self.read += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordsError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, RecordsError> {
        Ok(i8::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, RecordsError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, RecordsError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, RecordsError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, RecordsError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// An unsigned LEB128 varint of at most `max_bytes` bytes.
    fn unsigned_varint(&mut self, max_bytes: usize, field: &'static str) -> Result<u64, RecordsError> {
        let start = self.position();
        let mut value: u64 = 0;
        for index in 0..max_bytes {
            let byte = self.take(1, field)?.first().copied().unwrap_or(0);
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordsError::BadVarint { field, position: start })
    }

    /// A zigzag varint (Kafka `varint`, 32 bits).
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<i32, RecordsError> {
        let raw = self.unsigned_varint(5, field)?;
        let raw = u32::try_from(raw).map_err(|_| RecordsError::BadVarint {
            field,
            position: self.position(),
        })?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag varlong (Kafka `varlong`, 64 bits).
    pub(crate) fn varlong(&mut self, field: &'static str) -> Result<i64, RecordsError> {
        let raw = self.unsigned_varint(10, field)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A varint length: `Some(n)` for n ≥ 0 bytes (checked against the bytes
    /// left), `None` for -1 when `nullable`, an error for anything else.
    pub(crate) fn length_prefixed(
        &mut self,
        nullable: bool,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, RecordsError> {
        let position = self.position();
        let length = self.varint(field)?;
        if length == -1 && nullable {
            return Ok(None);
        }
        let length = usize::try_from(length).map_err(|_| RecordsError::InvalidLength {
            field,
            position,
            length: i64::from(length),
        })?;
        self.take(length, field).map(Some)
    }
}

/// Append a zigzag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_unsigned_varint(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Append a zigzag varlong.
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    put_unsigned_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_unsigned_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes [`put_varint`] writes for `value`.
pub(crate) fn varint_len(value: i32) -> usize {
    unsigned_varint_len(u64::from(((value << 1) ^ (value >> 31)) as u32))
}

/// Bytes [`put_varlong`] writes for `value`.
pub(crate) fn varlong_len(value: i64) -> usize {
    unsigned_varint_len(((value << 1) ^ (value >> 63)) as u64)
}

fn unsigned_varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// A length as a Kafka varint length, or `DoesNotFit`.
pub(crate) fn length_i32(length: usize, field: &'static str) -> Result<i32, RecordsError> {
    i32::try_from(length).map_err(|_| RecordsError::DoesNotFit { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_kafka_examples() {
        // ByteUtilsTest.java: 0→00, -1→01, 1→02, -64→7f, 64→80 01.
        for (value, bytes) in [
            (0, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (i32::MAX, vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(Cursor::new(&bytes, 0).varint("v"), Ok(value));
        }
        for value in [0, -1, 1, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            assert_eq!(varlong_len(value), out.len());
            assert_eq!(Cursor::new(&out, 0).varlong("v"), Ok(value));
        }
    }

    #[test]
    fn overlong_varints_are_typed_errors() {
        let six = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            Cursor::new(&six, 7).varint("key length"),
            Err(RecordsError::BadVarint {
                field: "key length",
                position: 7
            })
        ));
        // Five bytes whose value exceeds 32 bits.
        let wide = [0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            Cursor::new(&wide, 0).varint("v"),
            Err(RecordsError::BadVarint { .. })
        ));
        let eleven = [0xff; 11];
        assert!(matches!(
            Cursor::new(&eleven, 0).varlong("v"),
            Err(RecordsError::BadVarint { .. })
        ));
        assert!(matches!(
            Cursor::new(&[0x80], 0).varint("v"),
            Err(RecordsError::Truncated { .. })
        ));
    }
}

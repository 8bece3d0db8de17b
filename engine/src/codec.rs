//! The engine's one little-endian codec (design/format.md: every integer is
//! little-endian, never `usize`):
//! - [`Encoder`] and the bounds-checked [`Decoder`] for the engine's own small
//!   files and internal-topic records (producer registry and snapshots, offset
//!   commits, reset audit, dead letters, transactions) and for record headers;
//! - [`put`] and the `le_*` readers for fixed-layout headers whose fields sit
//!   at known positions (batch header, index entry).
//!
//! Layouts are in `design/format.md` (one section each). Bytes read back are
//! input: every length is checked against the bytes left before anything is
//! allocated, and a position past the end reads as zero, never a panic (the
//! callers check the length of a fixed layout before reading its fields).

/// Appends fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    pub bytes: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder::default()
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A string of at most `u16::MAX` bytes (callers validate the bound first).
    pub fn short_str(&mut self, s: &str) -> &mut Self {
        let len = s.len().min(usize::from(u16::MAX));
        self.u16(len as u16);
        self.bytes
            .extend_from_slice(s.as_bytes().get(..len).unwrap_or_default());
        self
    }
    /// Bytes of at most `u32::MAX` length.
    pub fn long_bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.bytes.extend_from_slice(b);
        self
    }
    /// Append a CRC-32 of everything written so far.
    pub fn seal_with_crc(&mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.bytes);
        self.u32(crc);
        std::mem::take(&mut self.bytes)
    }
}

/// Reads fields; `None` means the input ended early or was malformed.
#[derive(Debug)]
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// Read `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes }
    }
    /// Check and strip a trailing CRC-32 over the rest of `bytes`.
    pub fn with_crc(bytes: &'a [u8]) -> Option<Self> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, crc) = bytes.split_at(body_len);
        let crc = u32::from_le_bytes(crc.try_into().ok()?);
        (crc32fast::hash(body) == crc).then_some(Decoder { bytes: body })
    }
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(u8::from_le_bytes(self.array()?))
    }
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    pub fn short_str(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).ok().map(str::to_string)
    }
    pub fn long_bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        self.take(len).map(<[u8]>::to_vec)
    }
}

/// Write `bytes` at `at` in `dst`; a range past the end of `dst` writes
/// nothing (callers size `dst` to the layout first).
pub(crate) fn put(dst: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(d) = at.checked_add(bytes.len()).and_then(|end| dst.get_mut(at..end)) {
        d.copy_from_slice(bytes);
    }
}

/// The `N` bytes at `at` in `src`; zeros if `src` ends before them.
fn field<const N: usize>(src: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = at.checked_add(N).and_then(|end| src.get(at..end)) {
        a.copy_from_slice(s);
    }
    a
}

/// The little-endian `u16` at `at` (0 past the end of `src`).
pub(crate) fn le_u16(src: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(field(src, at))
}

/// The little-endian `u32` at `at` (0 past the end of `src`).
pub(crate) fn le_u32(src: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(field(src, at))
}

/// The little-endian `u64` at `at` (0 past the end of `src`).
pub(crate) fn le_u64(src: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(field(src, at))
}

/// The little-endian `i64` at `at` (0 past the end of `src`).
pub(crate) fn le_i64(src: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(field(src, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_crc() {
        let mut e = Encoder::new();
        e.u8(1)
            .u16(2)
            .u32(3)
            .u64(4)
            .i64(-5)
            .short_str("name")
            .long_bytes(b"meta");
        let bytes = e.seal_with_crc();
        let mut d = Decoder::with_crc(&bytes).unwrap();
        assert_eq!(
            (d.u8(), d.u16(), d.u32(), d.u64(), d.i64()),
            (Some(1), Some(2), Some(3), Some(4), Some(-5))
        );
        assert_eq!(d.short_str().as_deref(), Some("name"));
        assert_eq!(d.long_bytes().as_deref(), Some(&b"meta"[..]));
        assert!(d.is_empty());
        let mut bad = bytes.clone();
        bad[3] ^= 1;
        assert!(Decoder::with_crc(&bad).is_none());
        assert!(Decoder {
            bytes: &[0xff, 0xff, 0xff, 0x7f]
        }
        .long_bytes()
        .is_none());
    }

    #[test]
    fn fixed_positions_roundtrip_and_read_zero_past_the_end() {
        let mut h = [0u8; 22];
        put(&mut h, 0, &7u16.to_le_bytes());
        put(&mut h, 2, &8u32.to_le_bytes());
        put(&mut h, 6, &9u64.to_le_bytes());
        put(&mut h, 14, &(-10i64).to_le_bytes());
        put(&mut h, 20, &1u64.to_le_bytes()); // past the end: ignored
        assert_eq!(
            (le_u16(&h, 0), le_u32(&h, 2), le_u64(&h, 6), le_i64(&h, 14)),
            (7, 8, 9, -10)
        );
        assert_eq!((le_u32(&h, 20), le_u64(&h, usize::MAX)), (0, 0));
    }
}

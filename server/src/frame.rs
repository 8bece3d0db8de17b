//! Frames: the length-prefixed envelope of every message. Layout in
//! `design/protocol.md` ("Frame"); offsets here are computed from the previous
//! field's offset plus its size.
//!
//! [`FrameDecoder`] turns a byte stream into frames incrementally. It never
//! allocates according to a length prefix: it buffers only bytes that actually
//! arrived, and it refuses a prefix above the configured maximum as soon as the
//! four length bytes are in, so a 4 GiB prefix costs nothing.

use std::fmt;

// Field offsets from the start of the frame.
const LENGTH_AT: usize = 0;
const OPCODE_AT: usize = LENGTH_AT + 4;
const FLAGS_AT: usize = OPCODE_AT + 2;
const REQUEST_ID_AT: usize = FLAGS_AT + 2;
/// Bytes of the fixed frame header, length field included.
pub const FRAME_HEADER_BYTES: usize = REQUEST_ID_AT + 4;
/// Bytes of the length field itself.
pub const FRAME_LENGTH_BYTES: usize = OPCODE_AT - LENGTH_AT;
/// Smallest legal `length` value: the rest of the header with an empty body.
pub const FRAME_LENGTH_MIN: u32 = (FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES) as u32;
const _: () = assert!(FRAME_HEADER_BYTES == 12);
const _: () = assert!(FRAME_LENGTH_MIN == 8);

/// Flag bit 0: the frame is a response.
pub const FLAG_RESPONSE: u16 = 1 << 0;
pub const FLAGS_KNOWN: u16 = FLAG_RESPONSE;

/// Default and bounds of the configurable `frame_bytes_max` (value of `length`).
pub const FRAME_BYTES_MAX_DEFAULT: u32 = 16 * 1024 * 1024;
pub const FRAME_BYTES_MAX_LOWEST: u32 = 4 * 1024;
pub const FRAME_BYTES_MAX_HIGHEST: u32 = 256 * 1024 * 1024;
const _: () = assert!(FRAME_BYTES_MAX_LOWEST <= FRAME_BYTES_MAX_DEFAULT);
const _: () = assert!(FRAME_BYTES_MAX_DEFAULT <= FRAME_BYTES_MAX_HIGHEST);
const _: () = assert!(FRAME_LENGTH_MIN < FRAME_BYTES_MAX_LOWEST);

/// The fixed fields after the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub opcode: u16,
    pub flags: u16,
    pub request_id: u32,
}

impl FrameHeader {
    pub fn request(opcode: u16, request_id: u32) -> Self {
        FrameHeader {
            opcode,
            flags: 0,
            request_id,
        }
    }
    pub fn response(opcode: u16, request_id: u32) -> Self {
        FrameHeader {
            opcode,
            flags: FLAG_RESPONSE,
            request_id,
        }
    }
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }
}

/// One whole frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: FrameHeader,
    pub body: Vec<u8>,
}

/// Why a byte stream is not a sequence of frames. After any of these the
/// stream cannot be resynchronised: answer with an error and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// `length` is above the maximum; nothing was allocated for it.
    TooLarge { length: u32, frame_bytes_max: u32 },
    /// `length` is below [`FRAME_LENGTH_MIN`].
    TooShort { length: u32 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge {
                length,
                frame_bytes_max,
            } => {
                write!(
                    f,
                    "frame length {length} exceeds the maximum of {frame_bytes_max} bytes"
                )
            }
            FrameError::TooShort { length } => {
                write!(f, "frame length {length} is below the minimum of {FRAME_LENGTH_MIN}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Check a length prefix against the limits.
pub fn check_length(length: u32, frame_bytes_max: u32) -> Result<(), FrameError> {
    if length < FRAME_LENGTH_MIN {
        return Err(FrameError::TooShort { length });
    }
    if length > frame_bytes_max {
        return Err(FrameError::TooLarge {
            length,
            frame_bytes_max,
        });
    }
    Ok(())
}

fn le_u16(src: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = src.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

fn le_u32(src: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = src.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// Start a frame at the end of `out`: writes the header with a zero length,
/// returns the frame's start for [`end_frame`]. The body is appended by the caller.
pub fn begin_frame(out: &mut Vec<u8>, header: FrameHeader) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&header.opcode.to_le_bytes());
    out.extend_from_slice(&header.flags.to_le_bytes());
    out.extend_from_slice(&header.request_id.to_le_bytes());
    start
}

/// Patch the length of the frame that [`begin_frame`] started at `start`.
/// Returns the length written. A body longer than `u32::MAX` saturates, which
/// every peer refuses as too large.
pub fn end_frame(out: &mut [u8], start: usize) -> u32 {
    let length = out.len().saturating_sub(start + FRAME_LENGTH_BYTES);
    let length = u32::try_from(length).unwrap_or(u32::MAX);
    if let Some(dst) = out.get_mut(start + LENGTH_AT..start + LENGTH_AT + FRAME_LENGTH_BYTES) {
        dst.copy_from_slice(&length.to_le_bytes());
    }
    length
}

/// Grow the length of the frame at `start` (already ended by [`end_frame`])
/// by `extra` body bytes that the caller sends right after it. Returns the
/// new length (saturating, which every peer refuses as too large).
pub fn extend_frame(out: &mut [u8], start: usize, extra: usize) -> u32 {
    let at = start + LENGTH_AT;
    let length = u64::from(le_u32(out, at)).saturating_add(extra as u64);
    let length = u32::try_from(length).unwrap_or(u32::MAX);
    if let Some(dst) = out.get_mut(at..at + FRAME_LENGTH_BYTES) {
        dst.copy_from_slice(&length.to_le_bytes());
    }
    length
}

/// Encode a whole frame.
pub fn encode_frame(header: FrameHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
    let start = begin_frame(&mut out, header);
    out.extend_from_slice(body);
    end_frame(&mut out, start);
    out
}

/// Incremental decoder of a byte stream into frames.
///
/// Memory bound: the buffer holds at most the bytes fed since the last
/// complete frame was taken, and `feed` callers read at most
/// [`FrameDecoder::wanted`] bytes, so it stays within one frame plus one read.
#[derive(Debug)]
pub struct FrameDecoder {
    frame_bytes_max: u32,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already handed out as frames.
    consumed: usize,
    /// Sticky: once the stream is broken, it stays broken.
    failed: Option<FrameError>,
}

impl FrameDecoder {
    pub fn new(frame_bytes_max: u32) -> Self {
        FrameDecoder {
            frame_bytes_max,
            buf: Vec::new(),
            consumed: 0,
            failed: None,
        }
    }

    pub fn frame_bytes_max(&self) -> u32 {
        self.frame_bytes_max
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// True when part of a frame has arrived (used for slow-client timeouts).
    pub fn is_mid_frame(&self) -> bool {
        self.buffered_bytes() > 0
    }

    /// How many more bytes complete the frame being received (at least 1).
    /// Lets a reader bound how much it asks the socket for.
    pub fn wanted(&self) -> usize {
        let pending = self.pending();
        match pending.get(..FRAME_LENGTH_BYTES) {
            None => FRAME_HEADER_BYTES - pending.len(),
            Some(_) => {
                let length = le_u32(pending, LENGTH_AT) as usize;
                (FRAME_LENGTH_BYTES + length).saturating_sub(pending.len()).max(1)
            }
        }
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.consumed..).unwrap_or_default()
    }

    /// Drop the bytes already handed out as frames (when that is cheap).
    fn compact(&mut self) {
        if self.consumed > 0 && self.consumed == self.buf.len() {
            self.buf.clear();
            self.consumed = 0;
        } else if self.consumed > 0 && self.consumed >= self.buf.len() / 2 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
    }

    /// Append bytes received from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The buffer to append received bytes to directly (no copy through
    /// [`FrameDecoder::feed`]), with room for at least `room` more bytes.
    /// Only append to it: bytes already in it are not yet decoded.
    pub fn read_buffer(&mut self, room: usize) -> &mut Vec<u8> {
        self.compact();
        self.buf.reserve(room);
        &mut self.buf
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or the
    /// reason the stream is broken (sticky).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let pending = self.pending();
        if pending.len() < FRAME_LENGTH_BYTES {
            return Ok(None);
        }
        let length = le_u32(pending, LENGTH_AT);
        if let Err(error) = check_length(length, self.frame_bytes_max) {
            self.failed = Some(error);
            return Err(error);
        }
        let total = FRAME_LENGTH_BYTES + length as usize;
        let Some(whole) = pending.get(..total) else {
            return Ok(None);
        };
        let header = FrameHeader {
            opcode: le_u16(whole, OPCODE_AT),
            flags: le_u16(whole, FLAGS_AT),
            request_id: le_u32(whole, REQUEST_ID_AT),
        };
        let body = whole.get(FRAME_HEADER_BYTES..).unwrap_or_default().to_vec();
        self.consumed += total;
        Ok(Some(Frame { header, body }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_byte_by_byte() {
        let a = encode_frame(FrameHeader::request(0x21, 7), b"hello");
        let b = encode_frame(FrameHeader::response(0x21, 7), b"");
        assert_eq!(&a[..4], &(8u32 + 5).to_le_bytes());
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        let mut frames = Vec::new();
        for byte in &stream {
            decoder.feed(std::slice::from_ref(byte));
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].header, FrameHeader::request(0x21, 7));
        assert_eq!(frames[0].body, b"hello");
        assert!(frames[1].header.is_response());
        assert!(frames[1].body.is_empty());
        assert_eq!(decoder.buffered_bytes(), 0);
    }

    #[test]
    fn four_gib_prefix_refused_after_four_bytes() {
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        decoder.feed(&[0xff, 0xff, 0xff]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.feed(&[0xff]);
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                length: u32::MAX,
                frame_bytes_max: FRAME_BYTES_MAX_DEFAULT
            })
        );
        // Nothing sized by the prefix was allocated.
        assert!(decoder.buf.capacity() < 64);
        // Sticky.
        decoder.feed(&encode_frame(FrameHeader::request(1, 1), b""));
        assert!(decoder.next_frame().is_err());
    }

    #[test]
    fn read_buffer_appends_like_feed() {
        let a = encode_frame(FrameHeader::response(0x30, 1), &[7u8; 5000]);
        let b = encode_frame(FrameHeader::response(0x02, 2), b"");
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        let mut frames = Vec::new();
        for chunk in stream.chunks(777) {
            let buffer = decoder.read_buffer(chunk.len());
            assert!(buffer.capacity() - buffer.len() >= chunk.len());
            buffer.extend_from_slice(chunk);
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].body, vec![7u8; 5000]);
        assert_eq!(frames[1].header, FrameHeader::response(0x02, 2));
        assert_eq!(decoder.buffered_bytes(), 0);
    }

    #[test]
    fn short_length_refused() {
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        decoder.feed(&7u32.to_le_bytes());
        assert_eq!(decoder.next_frame(), Err(FrameError::TooShort { length: 7 }));
    }

    #[test]
    fn wanted_counts_down_to_frame_end() {
        let frame = encode_frame(FrameHeader::request(2, 1), b"abc");
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        assert_eq!(decoder.wanted(), FRAME_HEADER_BYTES);
        decoder.feed(&frame[..4]);
        assert_eq!(decoder.wanted(), frame.len() - 4);
        decoder.feed(&frame[4..]);
        assert!(decoder.next_frame().unwrap().is_some());
        assert_eq!(decoder.wanted(), FRAME_HEADER_BYTES);
    }
}

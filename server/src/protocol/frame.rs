//! Frames: the length-prefixed envelope of every message. Layout in
//! `design/protocol.md` ("Frame"); offsets here are computed from the previous
//! field's offset plus its size.
//!
//! [`FrameDecoder`] turns a byte stream into frames incrementally. It refuses
//! a prefix above the configured maximum as soon as the four length bytes are
//! in, so a 4 GiB prefix costs nothing. Fed through [`FrameDecoder::feed`]
//! (the server's path) it never allocates according to a length prefix: it
//! buffers only bytes that actually arrived. Read into through
//! [`FrameDecoder::read_buffer`] (the client's path) it gives a large frame's
//! body its own buffer, sized by the checked prefix, so that the body is read
//! straight into the frame it becomes instead of being copied out of the
//! stream buffer.

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

/// Drop the bytes at the front of `buf` already handed out as frames (when
/// that is cheap).
fn compact(buf: &mut Vec<u8>, consumed: &mut usize) {
    if *consumed > 0 && *consumed == buf.len() {
        buf.clear();
        *consumed = 0;
    } else if *consumed > 0 && *consumed >= buf.len() / 2 {
        buf.drain(..*consumed);
        *consumed = 0;
    }
}

/// Incremental decoder of a byte stream into frames.
///
/// Memory bound: the buffer holds at most the bytes fed since the last
/// complete frame was taken, and `feed` callers read at most
/// [`FrameDecoder::wanted`] bytes, so it stays within one frame plus one read.
/// A direct body ([`FrameDecoder::read_buffer`]) reserves one frame's body,
/// at most `frame_bytes_max`, once that frame's header has arrived.
#[derive(Debug)]
pub struct FrameDecoder {
    frame_bytes_max: u32,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already handed out as frames.
    consumed: usize,
    /// The frame being received into its own body buffer, if any (then
    /// `buf` holds only bytes that arrived after its body).
    direct: Option<Direct>,
    /// Smallest body that [`FrameDecoder::read_buffer`] reads into its own buffer.
    direct_body_min: usize,
    /// Sticky: once the stream is broken, it stays broken.
    failed: Option<FrameError>,
}

/// A frame whose header is decoded and whose body is read straight into the
/// buffer it is returned in.
#[derive(Debug)]
struct Direct {
    header: FrameHeader,
    /// Capacity reserved for the whole body, so reads never reallocate it.
    body: Vec<u8>,
    body_len: usize,
}

/// Default [`FrameDecoder::with_direct_body_min`]: below this a body is
/// cheaper to copy out of the stream buffer than to allocate for.
pub const DIRECT_BODY_MIN_DEFAULT: usize = 64 * 1024;

impl FrameDecoder {
    pub fn new(frame_bytes_max: u32) -> Self {
        FrameDecoder {
            frame_bytes_max,
            buf: Vec::new(),
            consumed: 0,
            direct: None,
            direct_body_min: DIRECT_BODY_MIN_DEFAULT,
            failed: None,
        }
    }

    /// Read bodies of at least `bytes` into their own buffer (see
    /// [`FrameDecoder::read_buffer`]); tests and the fuzzer set it low.
    pub fn with_direct_body_min(mut self, bytes: usize) -> Self {
        self.direct_body_min = bytes.max(1);
        self
    }

    pub fn frame_bytes_max(&self) -> u32 {
        self.frame_bytes_max
    }

    /// Change the largest accepted `length` from the next frame on (the
    /// server accepts only a small frame before the handshake).
    pub fn set_frame_bytes_max(&mut self, frame_bytes_max: u32) {
        self.frame_bytes_max = frame_bytes_max;
    }

    /// Whole size (length field included) of the frame being received, once
    /// its length prefix is in and legal; `None` between frames. Lets the
    /// server reserve a frame's bytes from its memory budget before reading
    /// its body.
    pub fn frame_bytes_pending(&self) -> Option<usize> {
        if self.failed.is_some() {
            return None;
        }
        if let Some(direct) = &self.direct {
            return Some(FRAME_HEADER_BYTES + direct.body_len);
        }
        let pending = self.pending();
        pending.get(..FRAME_LENGTH_BYTES)?;
        let length = le_u32(pending, LENGTH_AT);
        check_length(length, self.frame_bytes_max).ok()?;
        Some(FRAME_LENGTH_BYTES + length as usize)
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_bytes(&self) -> usize {
        let direct = self.direct.as_ref().map_or(0, |d| FRAME_HEADER_BYTES + d.body.len());
        self.buf.len() - self.consumed + direct
    }

    /// True when part of a frame has arrived (used for slow-client timeouts).
    pub fn is_mid_frame(&self) -> bool {
        self.buffered_bytes() > 0
    }

    /// How many more bytes complete the frame being received (at least 1).
    /// Lets a reader bound how much it asks the socket for.
    pub fn wanted(&self) -> usize {
        if let Some(direct) = &self.direct {
            return direct.body_len.saturating_sub(direct.body.len()).max(1);
        }
        let pending = self.pending();
        match pending.get(..FRAME_LENGTH_BYTES) {
            None => FRAME_HEADER_BYTES - pending.len(),
            Some(_) => {
                let length = le_u32(pending, LENGTH_AT) as usize;
                (FRAME_LENGTH_BYTES + length).saturating_sub(pending.len()).max(1)
            }
        }
    }

    /// Body bytes still to come of a large frame, which from now on are
    /// read into its own buffer ([`FrameDecoder::read_buffer`]); `None`
    /// while no such frame is being received.
    pub fn large_body_remaining(&mut self) -> Option<usize> {
        if self.direct.is_none() {
            self.start_direct();
        }
        self.direct
            .as_ref()
            .map(|d| d.body_len.saturating_sub(d.body.len()))
            .filter(|&left| left > 0)
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.consumed..).unwrap_or_default()
    }

    fn compact(&mut self) {
        compact(&mut self.buf, &mut self.consumed);
    }

    /// Append bytes received from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        let mut data = data;
        if let Some(direct) = &mut self.direct {
            let (body, rest) = data.split_at(direct.body_len.saturating_sub(direct.body.len()).min(data.len()));
            direct.body.extend_from_slice(body);
            data = rest;
        }
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The buffer to append received bytes to directly (no copy through
    /// [`FrameDecoder::feed`]). Only append to it: bytes already in it are
    /// not yet decoded.
    ///
    /// Once a frame's header is in and its body is at least the
    /// direct-body minimum, this is that frame's own body buffer, with the
    /// checked length reserved: the body is read straight into the frame
    /// [`FrameDecoder::next_frame`] returns, not copied out of the stream
    /// buffer. Its free capacity is then exactly what the body still needs
    /// (read at most [`FrameDecoder::wanted`] bytes; anything more is moved
    /// back to the stream buffer). Otherwise it is the stream buffer, with
    /// room for at least `room` more bytes.
    pub fn read_buffer(&mut self, room: usize) -> &mut Vec<u8> {
        if self.direct.is_none() {
            self.start_direct();
        }
        let FrameDecoder {
            direct, buf, consumed, ..
        } = self;
        match direct {
            Some(direct) if direct.body.len() < direct.body_len => &mut direct.body,
            _ => {
                compact(buf, consumed);
                buf.reserve(room);
                buf
            }
        }
    }

    /// Move the frame at the front of the stream buffer to its own body
    /// buffer if its header is in, its length is legal, its body is large and
    /// not complete yet.
    fn start_direct(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let pending = self.pending();
        let Some(head) = pending.get(..FRAME_HEADER_BYTES) else {
            return;
        };
        let length = le_u32(head, LENGTH_AT);
        if check_length(length, self.frame_bytes_max).is_err() {
            return; // next_frame reports it
        }
        let body_len = length as usize - (FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES);
        let received = pending.get(FRAME_HEADER_BYTES..).unwrap_or_default();
        if body_len < self.direct_body_min || received.len() >= body_len {
            return;
        }
        let header = FrameHeader {
            opcode: le_u16(head, OPCODE_AT),
            flags: le_u16(head, FLAGS_AT),
            request_id: le_u32(head, REQUEST_ID_AT),
        };
        // Bounded: `length` passed `check_length` against frame_bytes_max.
        let mut body = Vec::with_capacity(body_len);
        body.extend_from_slice(received);
        self.consumed = self.buf.len();
        self.compact();
        self.direct = Some(Direct { header, body, body_len });
    }

    /// The next whole frame given to `visit` as its header and body, the
    /// body borrowed where it is (no copy out of the stream buffer, no
    /// allocation); otherwise as [`FrameDecoder::next_frame`].
    pub fn next_frame_with<T>(&mut self, visit: impl FnOnce(FrameHeader, &[u8]) -> T) -> Result<Option<T>, FrameError> {
        if self.failed.is_some() || self.direct.is_some() {
            return Ok(self.next_frame()?.map(|frame| visit(frame.header, &frame.body)));
        }
        self.next_in_buffer(visit)
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or the
    /// reason the stream is broken (sticky).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if let Some(direct) = &mut self.direct {
            if direct.body.len() < direct.body_len {
                return Ok(None);
            }
            // A reader that asked for more than `wanted()` got the start of
            // the next frame too: it goes back to the stream buffer, ahead of
            // anything fed since (which arrived after it).
            let over = direct.body.get(direct.body_len..).unwrap_or_default();
            let at = self.consumed.min(self.buf.len());
            self.buf.splice(at..at, over.iter().copied());
            direct.body.truncate(direct.body_len);
            return Ok(self.direct.take().map(|d| Frame {
                header: d.header,
                body: d.body,
            }));
        }
        self.next_in_buffer(|header, body| Frame {
            header,
            body: body.to_vec(),
        })
    }

    /// The next whole frame of the stream buffer, given to `visit` where it is.
    fn next_in_buffer<T>(&mut self, visit: impl FnOnce(FrameHeader, &[u8]) -> T) -> Result<Option<T>, FrameError> {
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
        let visited = visit(header, whole.get(FRAME_HEADER_BYTES..).unwrap_or_default());
        self.consumed += total;
        Ok(Some(visited))
    }
}

#[cfg(test)]
mod tests;

//! The four Kafka codecs (attributes bits 0–2), pure Rust. Decompression
//! writes at most `limit` bytes into the caller's buffer and fails with
//! [`RecordsError::DecompressedTooLarge`] past it: a compression bomb costs
//! the limit, never the size it claims. Working memory besides the output is
//! bounded by a constant per codec: lz4 frame buffers (≤ 3 × 4 MiB, the
//! largest block size the frame format has) and the zstd window (frames
//! declaring more than [`ZSTD_WINDOW_BYTES_MAX`] are refused before any
//! allocation).

use std::io::{Read, Write};

use super::RecordsError;

/// The largest zstd window accepted (zstd levels up to 19 stay within it;
/// Kafka clients use the default level 3, a 2 MiB window at most).
pub const ZSTD_WINDOW_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// A batch's compression codec (Kafka's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// 0.
    None,
    /// 1: gzip (RFC 1952; concatenated members are read).
    Gzip,
    /// 2: snappy, raw or in the xerial framing Kafka's Java clients write.
    Snappy,
    /// 3: the LZ4 frame format.
    Lz4,
    /// 4: zstd frames.
    Zstd,
}

impl Compression {
    /// All codecs, in code order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec of a code (the attributes' low three bits).
    pub fn from_code(code: u8) -> Result<Self, RecordsError> {
        match code {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(RecordsError::UnsupportedCompression { code }),
        }
    }

    /// Its code.
    pub fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// Append the decompression of `input` to `out`, at most `limit` bytes.
pub fn decompress(codec: Compression, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordsError> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(RecordsError::DecompressedTooLarge { codec, limit });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(input), out, limit, codec),
        Compression::Snappy => snappy_decompress(input, out, limit),
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(input), out, limit, codec),
        Compression::Zstd => zstd_decompress(input, out, limit),
    }
}

/// Append the compression of `input` to `out`.
pub fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let unavailable = RecordsError::CompressionUnavailable { codec };
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            encoder.write_all(input).map_err(|_| unavailable.clone())?;
            encoder.finish().map_err(|_| unavailable)?;
        }
        Compression::Snappy => snappy_compress_xerial(input, out)?,
        Compression::Lz4 => {
            // 64 KiB independent blocks, as Kafka's Java producer writes.
            let info = lz4_flex::frame::FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max64KB);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            encoder.write_all(input).map_err(|_| unavailable.clone())?;
            encoder.finish().map_err(|_| unavailable)?;
        }
        Compression::Zstd => {
            ruzstd::encoding::compress(input, out, ruzstd::encoding::CompressionLevel::Fastest);
        }
    }
    Ok(())
}

/// Read `reader` to its end into `out`, failing once more than `limit`
/// bytes come out (at most `limit + 1` are read; the buffer grows by
/// doubling, so its capacity stays under twice what was read).
fn read_bounded(reader: impl Read, out: &mut Vec<u8>, limit: usize, codec: Compression) -> Result<(), RecordsError> {
    let start = out.len();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(out)
        .map_err(|_| RecordsError::CompressedDataInvalid { codec })?;
    if out.len() - start > limit {
        out.truncate(start);
        return Err(RecordsError::DecompressedTooLarge { codec, limit });
    }
    Ok(())
}

/// The xerial framing's header: magic, version 1, compatible version 1.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
const XERIAL_HEADER_BYTES: usize = 16;
/// Block size the xerial writer uses (snappy-java's default).
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;

/// Raw snappy, or xerial blocks (`u32` BE length + raw snappy) after the
/// 16-byte header when the input starts with its magic (snappy-java's
/// `SnappyInputStream` decides the same way).
fn snappy_decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordsError> {
    let start = out.len();
    match input.strip_prefix(XERIAL_MAGIC.as_slice()) {
        Some(_) => {
            let mut blocks = input
                .get(XERIAL_HEADER_BYTES..)
                .ok_or(RecordsError::CompressedDataInvalid {
                    codec: Compression::Snappy,
                })?;
            while !blocks.is_empty() {
                let (length, rest) = blocks
                    .split_first_chunk::<4>()
                    .ok_or(RecordsError::CompressedDataInvalid {
                        codec: Compression::Snappy,
                    })?;
                let length = u32::from_be_bytes(*length) as usize;
                let (block, rest) = rest
                    .split_at_checked(length)
                    .ok_or(RecordsError::CompressedDataInvalid {
                        codec: Compression::Snappy,
                    })?;
                snappy_block(block, out, limit - (out.len() - start), limit)?;
                blocks = rest;
            }
            Ok(())
        }
        None => snappy_block(input, out, limit, limit),
    }
}

/// One raw snappy block: its claimed length is checked against `room` (what
/// is left of `limit`) before the output grows.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, room: usize, limit: usize) -> Result<(), RecordsError> {
    let invalid = RecordsError::CompressedDataInvalid {
        codec: Compression::Snappy,
    };
    let length = snap::raw::decompress_len(block).map_err(|_| invalid.clone())?;
    if length > room {
        return Err(RecordsError::DecompressedTooLarge {
            codec: Compression::Snappy,
            limit,
        });
    }
    let at = out.len();
    out.resize(at + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, out.get_mut(at..).unwrap_or_default())
        .map_err(|_| invalid.clone());
    match written {
        Ok(written) if written == length => Ok(()),
        _ => {
            out.truncate(at);
            Err(invalid)
        }
    }
}

fn snappy_compress_xerial(input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_BYTES) {
        let length_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let at = out.len();
        out.resize(at + snap::raw::max_compress_len(block.len()), 0);
        let written = encoder
            .compress(block, out.get_mut(at..).unwrap_or_default())
            .map_err(|_| RecordsError::CompressionUnavailable {
                codec: Compression::Snappy,
            })?;
        out.truncate(at + written);
        let length = u32::try_from(written).map_err(|_| RecordsError::DoesNotFit { field: "snappy block" })?;
        if let Some(slot) = out.get_mut(length_at..at) {
            slot.copy_from_slice(&length.to_be_bytes());
        }
    }
    Ok(())
}

const ZSTD_MAGIC: u32 = 0xFD2F_B528;
const ZSTD_SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
const ZSTD_SKIPPABLE: u32 = 0x184D_2A50;

/// zstd frames one after the other (skippable frames skipped); each frame's
/// window is checked before the decoder sees it.
fn zstd_decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordsError> {
    let codec = Compression::Zstd;
    let invalid = RecordsError::CompressedDataInvalid { codec };
    let start = out.len();
    let mut rest = input;
    if rest.is_empty() {
        return Err(invalid);
    }
    while !rest.is_empty() {
        let magic = rest
            .first_chunk::<4>()
            .map(|m| u32::from_le_bytes(*m))
            .ok_or(invalid.clone())?;
        if magic & ZSTD_SKIPPABLE_MASK == ZSTD_SKIPPABLE {
            let length = rest.get(4..8).and_then(|l| l.try_into().ok()).map(u32::from_le_bytes);
            let skip = length
                .and_then(|l| usize::try_from(l).ok())
                .and_then(|l| l.checked_add(8));
            rest = skip.and_then(|skip| rest.get(skip..)).ok_or(invalid.clone())?;
            continue;
        }
        if magic != ZSTD_MAGIC {
            return Err(invalid);
        }
        let window = zstd_window(rest).ok_or(invalid.clone())?;
        let room = limit - (out.len() - start);
        if window > ZSTD_WINDOW_BYTES_MAX {
            return Err(RecordsError::ZstdWindowTooLarge {
                window,
                max: ZSTD_WINDOW_BYTES_MAX,
            });
        }
        let mut reader = rest;
        let decoder = ruzstd::decoding::StreamingDecoder::new(&mut reader).map_err(|_| invalid.clone())?;
        read_bounded(decoder, out, room, codec).map_err(|error| match error {
            RecordsError::DecompressedTooLarge { codec, .. } => RecordsError::DecompressedTooLarge { codec, limit },
            other => other,
        })?;
        rest = reader;
    }
    Ok(())
}

/// The window a zstd frame header declares (RFC 8878 §3.1.1.1): from the
/// window descriptor, or the content size for a single-segment frame.
fn zstd_window(frame: &[u8]) -> Option<u64> {
    let descriptor = *frame.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    let dictionary_bytes = match descriptor & 0x03 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 4,
    };
    if !single_segment {
        let window_descriptor = *frame.get(5)?;
        let exponent = u32::from(window_descriptor >> 3);
        let mantissa = u64::from(window_descriptor & 0x07);
        let base = 1u64 << (10 + exponent);
        return Some(base + base / 8 * mantissa);
    }
    let at = 5 + dictionary_bytes;
    match descriptor >> 6 {
        0 => frame.get(at).map(|b| u64::from(*b)),
        1 => frame
            .get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .map(|b| u64::from(u16::from_le_bytes(b)) + 256),
        2 => frame
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(|b| u64::from(u32::from_le_bytes(b))),
        _ => frame
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes),
    }
}

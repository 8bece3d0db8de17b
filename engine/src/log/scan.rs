//! The one walk over a segment file's batches, shared by recovery at open
//! (`Segment::scan_from`), `check` and `dump` (`inspect`): from a batch
//! boundary, each batch's header is parsed, its length bounded by the file,
//! its CRC verified and its offset checked to continue the previous batch;
//! the walk stops at the first batch that fails and says where and why
//! ([`InvalidAt`]). Also the one search for valid batches *past* damage by
//! their magic ([`valid_batches_after`]), behind recovery's row 4 and the
//! repair plan. Every read goes through a [`StorageFile`] ([`ChunkReader`]).

use crate::error::{CorruptionKind, Result};
use crate::io::checked::IoContext;
use crate::io::{read_exact_at, StorageFile};
use crate::log::batch::{self, BatchHeader, BATCH_MAGIC, HEADER_SIZE};
use std::path::Path;

/// Read granularity for buffered scans.
const CHUNK_BYTES: usize = 256 * 1024;

/// Where a walk stopped and why (design/durability.md, "Recovery").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidAt {
    /// The invalid batch's position in the file.
    pub position: u64,
    /// What is wrong with it.
    pub kind: CorruptionKind,
    /// Which check it failed.
    pub reason: Invalid,
}

/// Which check of the walk a batch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Fewer bytes than a batch header remain before the end.
    Short { remaining: u64 },
    /// The header does not parse (magic, version, length field).
    Header,
    /// The header claims more bytes than remain before the end.
    Length { claimed: u64, remaining: u64 },
    /// The batch fails its CRC.
    Checksum { length: u64 },
    /// The batch's base offset does not continue the walk.
    Offset { found: u64, expected: u64 },
    /// The visitor refused a batch that verifies (its records do not parse).
    Refused,
}

/// What a walk's visitor says about a verified batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Go on with the next batch.
    Continue,
    /// Stop after this batch (it counts as valid).
    Stop,
    /// This batch is invalid after all: stop before it.
    Refuse(CorruptionKind),
}

/// The end of a walk: the valid batches end at `valid_end`, where the next
/// batch would hold `next_offset`; `invalid` if the walk stopped at a batch
/// that failed before `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalkEnd {
    pub valid_end: u64,
    pub next_offset: u64,
    pub invalid: Option<InvalidAt>,
}

/// Walk the batches of `file` from `position` (a batch boundary, where the
/// batch holding `offset` starts) to `limit`, calling `visit` with each
/// verified batch that continues the offsets (position, header, bytes).
pub(crate) fn walk(
    file: &dyn StorageFile,
    path: &Path,
    position: u64,
    offset: u64,
    limit: u64,
    mut visit: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<Visit>,
) -> Result<WalkEnd> {
    let mut end = WalkEnd {
        valid_end: position,
        next_offset: offset,
        invalid: None,
    };
    let mut reader = ChunkReader::new(file, path, limit);
    let mut at = position;
    while at < limit {
        let invalid = |kind, reason| {
            Some(InvalidAt {
                position: at,
                kind,
                reason,
            })
        };
        let remaining = limit - at;
        if remaining < HEADER_SIZE as u64 {
            end.invalid = invalid(CorruptionKind::BadLength, Invalid::Short { remaining });
            break;
        }
        let claimed = match reader.header_at(at)? {
            Ok(header) => u64::from(header.length),
            Err(kind) => {
                end.invalid = invalid(kind, Invalid::Header);
                break;
            }
        };
        let raw = match reader.batch_at(at)? {
            Ok(raw) => raw,
            Err(kind) => {
                end.invalid = invalid(kind, Invalid::Length { claimed, remaining });
                break;
            }
        };
        let header = match batch::verify(raw) {
            Ok(header) => header,
            Err(kind) => {
                end.invalid = invalid(kind, Invalid::Checksum { length: claimed });
                break;
            }
        };
        if header.base_offset != end.next_offset {
            let reason = Invalid::Offset {
                found: header.base_offset,
                expected: end.next_offset,
            };
            end.invalid = invalid(CorruptionKind::OffsetGap, reason);
            break;
        }
        let next = visit(at, &header, raw)?;
        if let Visit::Refuse(kind) = next {
            end.invalid = invalid(kind, Invalid::Refused);
            break;
        }
        end.next_offset = header.next_offset();
        at += u64::from(header.length);
        end.valid_end = at;
        if next == Visit::Stop {
            break;
        }
    }
    Ok(end)
}

/// A visitor of [`valid_batches_after`]: position, header, the batch's bytes;
/// returns false to stop.
pub(crate) type BatchVisitor<'a> = dyn FnMut(u64, &BatchHeader, &[u8]) -> Result<bool> + 'a;

/// Visit every CRC-valid batch found by its magic after `position` (in file
/// order, up to `limit`), with its position and bytes; `visit` returns false
/// to stop. Batch-shaped bytes inside another batch's payload are found too:
/// the caller judges what a batch found here proves.
pub(crate) fn valid_batches_after(
    file: &dyn StorageFile,
    path: &Path,
    position: u64,
    limit: u64,
    visit: &mut BatchVisitor<'_>,
) -> Result<()> {
    const WINDOW: u64 = 1024 * 1024;
    let magic = BATCH_MAGIC.to_le_bytes();
    let mut window_start = position + 1;
    let mut reader = ChunkReader::new(file, path, limit);
    while window_start + HEADER_SIZE as u64 <= limit {
        let len = (limit - window_start).min(WINDOW + 3);
        let mut window = vec![0u8; len as usize];
        read_exact_at(file, &mut window, window_start).at("read segment", path)?;
        for (i, w) in window.windows(4).enumerate() {
            if w != magic {
                continue;
            }
            let at = window_start + i as u64;
            if let Ok(raw) = reader.batch_at(at)? {
                if let Ok(header) = batch::verify(raw) {
                    if !visit(at, &header, raw)? {
                        return Ok(());
                    }
                }
            }
        }
        window_start += WINDOW;
    }
    Ok(())
}

/// Buffered positional reads of whole batches, bounded by `limit`.
pub(crate) struct ChunkReader<'a> {
    file: &'a dyn StorageFile,
    path: &'a Path,
    limit: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> ChunkReader<'a> {
    pub fn new(file: &'a dyn StorageFile, path: &'a Path, limit: u64) -> Self {
        ChunkReader {
            file,
            path,
            limit,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    fn ensure(&mut self, pos: u64, len: u64) -> Result<bool> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos >= self.buf_start && pos + len <= buf_end {
            return Ok(true);
        }
        if pos + len > self.limit {
            return Ok(false);
        }
        let want = len.max(CHUNK_BYTES as u64).min(self.limit - pos);
        self.buf.resize(want as usize, 0);
        read_exact_at(self.file, &mut self.buf, pos).at("read segment", self.path)?;
        self.buf_start = pos;
        Ok(true)
    }

    /// The parsed header of the batch at `pos`, or why there is none.
    fn header_at(&mut self, pos: u64) -> Result<std::result::Result<BatchHeader, CorruptionKind>> {
        if !self.ensure(pos, HEADER_SIZE as u64)? {
            return Ok(Err(CorruptionKind::BadLength));
        }
        let at = (pos - self.buf_start) as usize;
        Ok(match self.buf.get(at..).map(BatchHeader::parse) {
            Some(parsed) => parsed,
            None => Err(CorruptionKind::BadLength),
        })
    }

    /// The bytes of the batch at `pos`, or why there is no valid-looking batch.
    /// The outer error is I/O; the inner is what is wrong with the bytes.
    pub fn batch_at(&mut self, pos: u64) -> Result<std::result::Result<&[u8], CorruptionKind>> {
        let header = match self.header_at(pos)? {
            Ok(header) => header,
            Err(kind) => return Ok(Err(kind)),
        };
        let length = u64::from(header.length);
        if !self.ensure(pos, length)? {
            return Ok(Err(CorruptionKind::BadLength));
        }
        let at = (pos - self.buf_start) as usize;
        Ok(self.buf.get(at..at + length as usize).ok_or(CorruptionKind::BadLength))
    }
}

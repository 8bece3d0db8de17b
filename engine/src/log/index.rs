//! The sparse segment index: one file per segment (`<base>.index`), entries
//! appended every `index_interval_bytes` of log. Each entry serves both as the
//! offset index (relative offset → byte position) and as the time index (the
//! largest timestamp of all records *before* the entry's batch). A sealed
//! segment's index ends with an end entry whose position is the log's length.
//! The index is a cache: it is rebuildable from the log and validated against
//! it on open. Byte layout in `design/format.md` ("Index entry").

use crate::codec::{le_i64, le_u32};

/// Bytes per index entry.
pub const ENTRY_SIZE: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// One index entry (design/format.md, "Index entry").
pub struct IndexEntry {
    /// Offset of the batch at `position`, relative to the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of a batch boundary in the log file.
    pub position: u32,
    /// Largest record timestamp strictly before `position` (i64::MIN if none).
    pub max_timestamp_before_ms: i64,
}

impl IndexEntry {
    /// The entry's 16 bytes, little-endian.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[..4].copy_from_slice(&self.relative_offset.to_le_bytes());
        out[4..8].copy_from_slice(&self.position.to_le_bytes());
        out[8..16].copy_from_slice(&self.max_timestamp_before_ms.to_le_bytes());
        out
    }

    /// Parse entries; stop at the first entry that breaks monotonicity or lies
    /// beyond `log_len` (a stale or torn index tail), returning the valid prefix.
    pub fn decode_all(bytes: &[u8], log_len: u64) -> Vec<IndexEntry> {
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
        for chunk in bytes.chunks_exact(ENTRY_SIZE) {
            let entry = IndexEntry {
                relative_offset: le_u32(chunk, 0),
                position: le_u32(chunk, 4),
                max_timestamp_before_ms: le_i64(chunk, 8),
            };
            if u64::from(entry.position) > log_len {
                break;
            }
            if let Some(prev) = entries.last() {
                if entry.position <= prev.position
                    || entry.relative_offset < prev.relative_offset
                    || entry.max_timestamp_before_ms < prev.max_timestamp_before_ms
                {
                    break;
                }
            }
            entries.push(entry);
        }
        entries
    }
}

/// Index of the last entry at or before relative offset `relative`.
pub fn floor_by_offset(entries: &[IndexEntry], relative: u32) -> Option<&IndexEntry> {
    let idx = entries.partition_point(|e| e.relative_offset <= relative);
    idx.checked_sub(1).and_then(|i| entries.get(i))
}

/// The last entry before which every record's timestamp is below `timestamp_ms`.
pub fn floor_by_time(entries: &[IndexEntry], timestamp_ms: i64) -> Option<&IndexEntry> {
    let idx = entries.partition_point(|e| e.max_timestamp_before_ms < timestamp_ms);
    idx.checked_sub(1).and_then(|i| entries.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_stops_at_invalid_tail() {
        let a = IndexEntry {
            relative_offset: 0,
            position: 0,
            max_timestamp_before_ms: i64::MIN,
        };
        let b = IndexEntry {
            relative_offset: 5,
            position: 4096,
            max_timestamp_before_ms: 10,
        };
        let c = IndexEntry {
            relative_offset: 3,
            position: 8192,
            max_timestamp_before_ms: 11,
        };
        let mut bytes = Vec::new();
        for e in [a, b, c] {
            bytes.extend_from_slice(&e.encode());
        }
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(IndexEntry::decode_all(&bytes, 10_000), vec![a, b]);
        assert_eq!(IndexEntry::decode_all(&bytes, 100), vec![a]);
        assert_eq!(floor_by_offset(&[a, b], 4), Some(&a));
        assert_eq!(floor_by_offset(&[a, b], 5), Some(&b));
        assert_eq!(floor_by_time(&[a, b], 10), Some(&a));
        assert_eq!(floor_by_time(&[a, b], 11), Some(&b));
    }
}

//! Fetching: a long poll over the engine's scan, records handed to the
//! front's [`FetchSink`], and the sizes that keep every record fetchable.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use millrace::batch::RecordView;
use millrace::{Isolation, ReadOptions, Record, ScanMarks, Scanner, Store};

use super::{invalid, Service, ServiceResult, Session, FETCH_RESPONSE_OVERHEAD_BYTES, LONG_POLL_SLICE};

/// Where a fetch starts.
#[derive(Debug, Clone, Copy)]
pub enum FetchFrom {
    Offset(u64),
    /// The first record at or after this time (ms since epoch); the end of
    /// the partition when there is none yet.
    Time(i64),
}

/// A fetch, in the service's terms.
#[derive(Debug, Clone)]
pub struct FetchQuery<'a> {
    pub topic: &'a str,
    pub partition: u32,
    pub from: FetchFrom,
    /// 1..= the frame's room for records.
    pub max_bytes: u32,
    /// 0: no limit.
    pub max_records: u32,
    /// At most the server's `fetch_wait_max_ms`.
    pub max_wait_ms: u32,
    pub isolation: millrace::Isolation,
}

/// A front's encoding of the records a fetch returns.
pub trait FetchSink {
    /// No record taken yet.
    fn is_empty(&self) -> bool;
    /// The sink's size once `record` is added.
    fn bytes_with(&self, record: &RecordView<'_>) -> usize;
    fn push(&mut self, record: &RecordView<'_>);
    /// Add `record` unless the sink holds a record already and would then
    /// take more than `cap` bytes ([`FetchSink::bytes_with`]); false when it
    /// was not added. A sink that can measure a record while it encodes it
    /// overrides this to walk the record once.
    fn push_within(&mut self, record: &RecordView<'_>, cap: usize) -> bool {
        if !self.is_empty() && self.bytes_with(record) > cap {
            return false;
        }
        self.push(record);
        true
    }
}

/// Most partitions a connection keeps a scanner for (the least recently
/// used one is dropped past it). Each scanner may hold one sealed segment
/// (its mapping) until it reads on or is dropped.
const FETCH_SCANNERS_MAX: usize = 16;

/// A connection's [`Scanner`]s, one per (topic, partition, isolation) it
/// fetches, most recently used last. A fetch at the offset where the
/// scanner stopped continues inside the batch it stopped in (a long-poll
/// consumer's next fetch neither finds that batch through the index nor
/// checks its CRC again); a fetch anywhere else moves the scanner there.
#[derive(Debug, Default)]
pub struct FetchScanners {
    scanners: Vec<Scanner>,
}

impl FetchScanners {
    /// The scanner for `topic`/`partition` under `isolation`, at `offset`
    /// (taken out; [`FetchScanners::keep`] puts it back).
    fn take(
        &mut self,
        store: &Store,
        topic: &str,
        partition: u32,
        isolation: Isolation,
        offset: u64,
    ) -> millrace::Result<Scanner> {
        match self.scanners.iter().position(|s| s.reads(topic, partition, isolation)) {
            Some(i) => {
                let mut scanner = self.scanners.remove(i);
                if scanner.offset() != offset {
                    scanner.seek(offset);
                }
                Ok(scanner)
            }
            None => store.scanner(topic, partition, offset, isolation),
        }
    }

    /// Keep `scanner` as the most recently used one.
    fn keep(&mut self, scanner: Scanner) {
        if self.scanners.len() >= FETCH_SCANNERS_MAX {
            self.scanners.remove(0);
        }
        self.scanners.push(scanner);
    }
}

impl Service {
    /// Read records into `sink`, long-polling up to `query.max_wait_ms` when
    /// there are none. `None` when nothing is available yet and the fetch
    /// would have to wait but `may_wait` is false (the caller retries it
    /// where blocking is allowed).
    ///
    /// The sink stops before the record that would take it past
    /// `records_cap` or past what fits in a response frame (the engine's
    /// `max_bytes` counts neither headers nor per-record framing, and lets
    /// the last record cross it); the first record is always taken, and fits
    /// (every topic's `record_bytes_max` fits in a fetch response, checked at
    /// topic creation and server start). `next_offset` of the marks is then
    /// the offset after the last record taken.
    ///
    /// The records are read through the session's scanner of the
    /// partition ([`FetchScanners`]).
    pub fn fetch(
        &self,
        session: &mut Session,
        query: &FetchQuery<'_>,
        may_wait: bool,
        records_cap: usize,
        sink: &mut impl FetchSink,
    ) -> Option<ServiceResult<ScanMarks>> {
        let started = Instant::now();
        let store = &self.store;
        if let Err(error) = session.check_read(query.topic) {
            return Some(Err(error));
        }
        let max_bytes_allowed = self.frame_bytes_max.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES);
        if query.max_bytes == 0 || query.max_bytes > max_bytes_allowed {
            return Some(Err(invalid(format!(
                "fetch max_bytes {} must be in 1..={max_bytes_allowed} (frame_bytes_max - {FETCH_RESPONSE_OVERHEAD_BYTES})",
                query.max_bytes
            ))));
        }
        if query.max_wait_ms > self.fetch_wait_max_ms {
            return Some(Err(invalid(format!(
                "fetch max_wait_ms {} is above the server's fetch_wait_max_ms {}",
                query.max_wait_ms, self.fetch_wait_max_ms
            ))));
        }
        let offset = match query.from {
            FetchFrom::Offset(offset) => offset,
            FetchFrom::Time(timestamp_ms) => match store.offset_for_time(query.topic, query.partition, timestamp_ms) {
                Ok(Some(offset)) => offset,
                // No record at or after that time yet: wait at the end.
                Ok(None) => match store.offsets(query.topic, query.partition) {
                    Ok((_, end)) => end,
                    Err(error) => return Some(Err(error.into())),
                },
                Err(error) => return Some(Err(error.into())),
            },
        };
        let options = ReadOptions {
            max_bytes: query.max_bytes as usize,
            max_records: if query.max_records == 0 {
                usize::MAX
            } else {
                query.max_records as usize
            },
        };
        let deadline = started + Duration::from_millis(u64::from(query.max_wait_ms));
        let records_cap = records_cap.min(max_bytes_allowed as usize);
        loop {
            // Read the generation before the data, then wait on it: no lost
            // wake-up, and no spinning while the high watermark is ahead of a
            // read-committed reader held at the last stable offset.
            let generation = store.generation();
            // Offset after the last record taken, once one did not fit.
            let mut capped_at: Option<u64> = None;
            let mut last_offset = offset;
            let mut scanner =
                match session
                    .fetch_scanners
                    .take(store, query.topic, query.partition, query.isolation, offset)
                {
                    Ok(scanner) => scanner,
                    Err(error) => return Some(Err(error.into())),
                };
            let scanned = scanner.scan_with_marks(options, |view| {
                if capped_at.is_some() {
                    return;
                }
                if !sink.push_within(&view, records_cap) {
                    capped_at = Some(last_offset + 1);
                    return;
                }
                last_offset = view.offset;
            });
            let mut marks = match scanned {
                Ok(marks) => marks,
                Err(error) => return Some(Err(error.into())),
            };
            if let Some(capped_at) = capped_at {
                // The scanner went past records the sink did not take: the
                // next fetch starts at the first of them.
                scanner.seek(capped_at);
            }
            session.fetch_scanners.keep(scanner);
            let now = Instant::now();
            if !sink.is_empty() || now >= deadline || self.shutting_down.load(Ordering::Relaxed) {
                marks.next_offset = capped_at.unwrap_or(marks.next_offset);
                return Some(Ok(marks));
            }
            if !may_wait {
                return None;
            }
            let slice = (deadline - now).min(LONG_POLL_SLICE);
            store.wait_any(generation, now + slice);
        }
    }
}

/// The most bytes a record the engine accepts under `record_bytes_max` takes
/// in a fetch response (`StoredRecord`). The engine measures a record by
/// [`Record::encoded_len`]; the wire adds a key-presence tag and length, a
/// timestamp and offset in place of the engine's fixed fields, and 2 bytes
/// per header (u32 instead of u16 name lengths), at most `u16::MAX` headers,
/// each taking at least the size of an empty one.
pub fn stored_record_bytes_max(record_bytes_max: u32) -> u64 {
    let empty = Record::new(Vec::new());
    let fixed = empty.encoded_len() as u64;
    let per_header = empty.with_header("", Vec::new()).encoded_len() as u64 - fixed;
    let headers = (u64::from(record_bytes_max).saturating_sub(fixed) / per_header).min(u64::from(u16::MAX));
    // offset 8 + timestamp 8 + key tag 1 + key length 4 + value length 4 +
    // header count 4, against the engine's fixed fields.
    let wire_fixed: u64 = 8 + 8 + 1 + 4 + 4 + 4;
    let header_extra: u64 = 2;
    u64::from(record_bytes_max) + wire_fixed.saturating_sub(fixed) + headers * header_extra
}

/// The largest `record_bytes_max` whose records all fit in one fetch
/// response under `frame_bytes_max` (with [`FETCH_RESPONSE_OVERHEAD_BYTES`]).
pub fn record_bytes_fetchable_max(frame_bytes_max: u32) -> u32 {
    let room = u64::from(frame_bytes_max.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES));
    // stored_record_bytes_max is monotonic: the largest value within room.
    let (mut low, mut high) = (0u32, frame_bytes_max);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if stored_record_bytes_max(middle) <= room {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    low
}

/// Bytes of a fetch response whose records take `records_bytes`, at most.
pub fn fetch_response_bytes(records_bytes: usize) -> usize {
    records_bytes + FETCH_RESPONSE_OVERHEAD_BYTES as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetchable_record_size_matches_protocol_md_and_fits() {
        // design/protocol.md, "Limits": the figure for the default frame.
        assert_eq!(record_bytes_fetchable_max(16 * 1024 * 1024), 16_645_115);
        for frame in [
            4096, // the lowest frame_bytes_max
            65_536,
            1 << 20,
            16 << 20,
            256 << 20,
        ] {
            let fetchable = record_bytes_fetchable_max(frame);
            let room = u64::from(frame - FETCH_RESPONSE_OVERHEAD_BYTES);
            assert!(stored_record_bytes_max(fetchable) <= room, "{frame}");
            assert!(stored_record_bytes_max(fetchable + 1) > room, "{frame}");
        }
    }
}

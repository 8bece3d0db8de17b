// Over 600 lines: a segment's file pair, state, seal and mapping are one unit (the walkers are in log/scan.rs).
//! One segment: `<base>.log` (batches back to back) and `<base>.index`.
//! A segment is *active* (appended to) or *sealed* (never written again;
//! may be memory-mapped). Byte layout in `design/format.md`.

use crate::error::{CorruptionKind, Error, Result};
use crate::io::checked::{CheckedFile, FailureSink, IoContext};
use crate::io::{mmap::ReadOnlyMap, read_exact_at, OpenMode, Storage, StorageFile};
use crate::log::batch::{self, BatchHeader, HEADER_SIZE};
use crate::log::index::{self, IndexEntry, ENTRY_SIZE};
use crate::log::scan::{walk, ChunkReader, InvalidAt, Visit};
use crate::sync::{Mutex, MutexGuard};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How far behind the durable end of the log the oldest durable index entry
/// not yet in the index file may lie before the append path writes the
/// entries out (see `Segment::persist_lagging_entries`): one index `pwrite`
/// per 256 KiB of log instead of one per fsync group.
pub(crate) const INDEX_PERSIST_LAG_BYTES: u64 = 256 * 1024;

pub fn log_name(base_offset: u64) -> String {
    format!("{base_offset:020}.log")
}
pub fn index_name(base_offset: u64) -> String {
    format!("{base_offset:020}.index")
}
/// `<base:020>.hole`: the offsets between the previous segment's end and
/// `base` were handed out once and are gone for good (a hole, not a gap:
/// design/format.md). Written before the segment at `base` is created.
pub fn hole_name(base_offset: u64) -> String {
    format!("{base_offset:020}.hole")
}
/// Parse `<20 digits>.log`.
pub fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[derive(Debug)]
pub(crate) struct SegmentState {
    pub entries: Vec<IndexEntry>,
    /// Bytes of whole batches appended: the position of the next batch.
    pub written_len: u64,
    /// Bytes of those batches already in the file. Smaller than `written_len`
    /// only in an `Always` partition, by batches encoded but not yet written
    /// (the group-commit leader writes them just before its fsync; see
    /// `Partition::write_pending`). Readers stop here: they never see those
    /// batches anyway (they are past the high watermark), but must not read
    /// their headers from the file.
    pub flushed_len: u64,
    /// Length of the file: `written_len` plus zeros written ahead of the
    /// data (see [`Segment::note_preallocated`]); equal to `written_len` once sealed.
    pub file_len: u64,
    /// Offset just past the last batch.
    pub next_offset: u64,
    /// Largest record timestamp in the segment (i64::MIN if empty).
    pub max_timestamp_ms: i64,
    /// Log position of the last index entry (or 0).
    pub last_entry_position: u64,
    /// How many of `entries` are in the index file. An entry is written to
    /// the file only once the log before it is fdatasync'd, so recovery may
    /// trust the bytes before any entry it finds after a power cut.
    pub persisted_entries: usize,
    pub sealed: bool,
    /// A sealed segment's `entries` were dropped from memory
    /// ([`Segment::release_index`]); [`Segment::state_with_index`] reads them
    /// back from the index file.
    pub index_released: bool,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: u64,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    /// The log file; its failed writes and fsyncs poison once armed ([`Segment::arm`]).
    pub log: CheckedFile,
    /// The index file, likewise.
    pub index: CheckedFile,
    pub state: Mutex<SegmentState>,
    pub created_ms: i64,
    map: OnceLock<Option<ReadOnlyMap>>,
}

impl Segment {
    /// Create a new, empty, active segment. The caller fsyncs the directory.
    pub fn create(storage: &dyn Storage, dir: &Path, base_offset: u64, now_ms: i64) -> Result<Segment> {
        let log_path = dir.join(log_name(base_offset));
        let index_path = dir.join(index_name(base_offset));
        let log = storage
            .open(&log_path, OpenMode::CreateNew)
            .at("create segment", &log_path)?;
        let index = storage
            .open(&index_path, OpenMode::Truncate)
            .at("create index", &index_path)?;
        Ok(Segment::from_recovered(
            base_offset,
            log_path,
            index_path,
            log,
            index,
            now_ms,
            Vec::new(),
        ))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the segment it assembles"
    )]
    fn from_parts(
        base_offset: u64,
        log_path: PathBuf,
        index_path: PathBuf,
        log: Arc<dyn StorageFile>,
        index: Arc<dyn StorageFile>,
        created_ms: i64,
        entries: Vec<IndexEntry>,
        written_len: u64,
        next_offset: u64,
        max_timestamp_ms: i64,
        sealed: bool,
    ) -> Segment {
        let last_entry_position = entries.last().map_or(0, |e| u64::from(e.position));
        let entries_len = entries.len();
        Segment {
            base_offset,
            log: CheckedFile::new(log, log_path.clone()),
            index: CheckedFile::new(index, index_path.clone()),
            log_path,
            index_path,
            state: Mutex::new(SegmentState {
                entries,
                written_len,
                flushed_len: written_len,
                file_len: written_len,
                next_offset,
                max_timestamp_ms,
                last_entry_position,
                persisted_entries: entries_len,
                sealed,
                index_released: false,
            }),
            created_ms,
            map: OnceLock::new(),
        }
    }

    /// An active segment with no batches accounted for yet (new, or being
    /// recovered with the index entries kept so far).
    pub fn from_recovered(
        base_offset: u64,
        log_path: PathBuf,
        index_path: PathBuf,
        log: Arc<dyn StorageFile>,
        index: Arc<dyn StorageFile>,
        now_ms: i64,
        entries: Vec<IndexEntry>,
    ) -> Segment {
        Segment::from_parts(
            base_offset,
            log_path,
            index_path,
            log,
            index,
            now_ms,
            entries,
            0,
            base_offset,
            i64::MIN,
            false,
        )
    }

    /// Open the files of an existing segment, without validating them.
    pub fn open_files(storage: &dyn Storage, dir: &Path, base_offset: u64) -> Result<SegmentFiles> {
        let log_path = dir.join(log_name(base_offset));
        let index_path = dir.join(index_name(base_offset));
        let log = storage
            .open(&log_path, OpenMode::Existing)
            .at("open segment", &log_path)?;
        let index = match storage.open(&index_path, OpenMode::Existing) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => storage
                .open(&index_path, OpenMode::Truncate)
                .at("create index", &index_path)?,
            Err(e) => return Err(e).at("open index", &index_path),
        };
        Ok((log_path, index_path, log, index))
    }

    /// Open a sealed (not last) segment, followed by the segment of base
    /// `next_base`. Trusts a complete index (one ending in an end entry at the
    /// log's length whose offset is `next_base`, or below it when a hole is
    /// recorded at `next_base`: the log's next segment agrees); otherwise rebuilds it by a strict scan, where any invalid
    /// batch is corruption (sealed segments were fsync'd). An end entry at
    /// the log's length with another offset is dropped, warned and counted
    /// in `derived_metadata_rejected`.
    pub fn open_sealed(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: u64,
        next_base: u64,
        index_interval: u32,
        now_ms: i64,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Segment> {
        let (log_path, index_path, log, index) = Segment::open_files(storage, dir, base_offset)?;
        let log_len = log.len().at("stat segment", &log_path)?;
        let entries = read_index(index.as_ref(), &index_path, log_len)?;
        // An end entry whose offset would pass u64::MAX is not trusted: rescan.
        let complete_end = entries
            .last()
            .filter(|e| u64::from(e.position) == log_len && log_len > 0)
            .and_then(|e| {
                Some((
                    base_offset.checked_add(u64::from(e.relative_offset))?,
                    e.max_timestamp_before_ms,
                ))
            });
        // The next segment continues this one's end, or starts above it
        // after a recorded hole (`hole_name`): then the end entry is below
        // `next_base`, and right.
        let hole_after = storage.exists(&dir.join(hole_name(next_base)));
        let agrees = |next_offset: u64| next_offset == next_base || (hole_after && next_offset < next_base);
        if let Some((next_offset, _)) = complete_end.filter(|(next_offset, _)| !agrees(*next_offset)) {
            tracing::warn!(
                index = %index_path.display(),
                end_entry_offset = next_offset,
                next_segment = next_base,
                "index end entry disagrees with the next segment: rebuilding the index from the log"
            );
            metrics
                .derived_metadata_rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some((next_offset, max_ts)) = complete_end.filter(|(next_offset, _)| agrees(*next_offset)) {
            return Ok(Segment::from_parts(
                base_offset,
                log_path,
                index_path,
                log,
                index,
                now_ms,
                entries,
                log_len,
                next_offset,
                max_ts,
                true,
            ));
        }
        let segment = Segment::from_recovered(base_offset, log_path, index_path, log, index, now_ms, Vec::new());
        let scan = segment.scan_from(0, base_offset, i64::MIN, log_len, index_interval)?;
        if let Some(bad) = scan.invalid {
            return Err(Error::corruption(&segment.log_path, bad.position, bad.kind));
        }
        segment.apply_scan(&scan);
        // Replace whatever the index file held (nothing, garbage, a prefix)
        // before `seal` appends the end entry after the entries in memory.
        segment.rewrite_index()?;
        segment.seal()?;
        Ok(segment)
    }

    /// Scan batches from `position` (a batch boundary holding `offset`) towards
    /// `log_len`, stopping at the first invalid batch. Collects index entries.
    pub fn scan_from(
        &self,
        position: u64,
        offset: u64,
        max_ts: i64,
        log_len: u64,
        index_interval: u32,
    ) -> Result<ScanResult> {
        let mut result = ScanResult {
            valid_end: position,
            next_offset: offset,
            max_timestamp_ms: max_ts,
            new_entries: Vec::new(),
            invalid: None,
            last_entry_position: self.state.lock().last_entry_position,
        };
        let segment_base = self.base_offset;
        let walked = walk(
            self.log.raw(),
            &self.log_path,
            position,
            offset,
            log_len,
            |pos, header, _| {
                if pos > 0 && pos - result.last_entry_position >= u64::from(index_interval) {
                    result.new_entries.push(IndexEntry {
                        relative_offset: (header.base_offset - segment_base) as u32,
                        position: pos as u32,
                        max_timestamp_before_ms: result.max_timestamp_ms,
                    });
                    result.last_entry_position = pos;
                }
                result.max_timestamp_ms = result.max_timestamp_ms.max(header.max_timestamp_ms);
                Ok(Visit::Continue)
            },
        )?;
        result.valid_end = walked.valid_end;
        result.next_offset = walked.next_offset;
        result.invalid = walked.invalid;
        Ok(result)
    }

    pub fn apply_scan(&self, scan: &ScanResult) {
        let mut state = self.state.lock();
        state.entries.extend_from_slice(&scan.new_entries);
        state.written_len = scan.valid_end;
        state.flushed_len = scan.valid_end;
        state.file_len = scan.valid_end;
        state.next_offset = scan.next_offset;
        state.max_timestamp_ms = scan.max_timestamp_ms;
        state.last_entry_position = scan.last_entry_position;
    }

    /// Rewrite the index file from memory (after recovery).
    pub fn rewrite_index(&self) -> Result<()> {
        let mut state = self.state.lock();
        if state.index_released {
            // Released entries are exactly what the file holds.
            return Ok(());
        }
        state.persisted_entries = state.entries.len();
        let mut bytes = Vec::with_capacity(state.entries.len() * ENTRY_SIZE);
        for e in &state.entries {
            bytes.extend_from_slice(&e.encode());
        }
        self.index.set_len("write index", 0)?;
        self.index.write_all_at("write index", &bytes, 0)
    }

    /// From now on every failed write, fsync or truncation of the segment's
    /// files reports to `sink` (its live partition's: io/checked.rs).
    pub fn arm(&self, sink: &Arc<dyn FailureSink>) {
        self.log.arm(sink);
        self.index.arm(sink);
    }

    /// Seal: cut the zeros written ahead, fsync the log, append the end
    /// entry to the index and fsync it. A sealed file ends at its last batch.
    pub fn seal(&self) -> Result<()> {
        self.trim_preallocated()?;
        self.log.sync_data("fsync segment")?;
        let mut state = self.state.lock();
        let written_len = state.written_len;
        self.persist_entries(&mut state, written_len)?;
        let end = IndexEntry {
            relative_offset: (state.next_offset - self.base_offset) as u32,
            position: state.written_len as u32,
            max_timestamp_before_ms: state.max_timestamp_ms,
        };
        if state.entries.last() != Some(&end) {
            let at = (state.entries.len() * ENTRY_SIZE) as u64;
            self.index.write_all_at("write index", &end.encode(), at)?;
            state.entries.push(end);
            state.persisted_entries = state.entries.len();
        }
        self.index.sync_data("fsync index")?;
        state.sealed = true;
        Ok(())
    }

    /// The file now holds zeros up to `file_end` after its data: written by
    /// the append path of an `Always` partition together with a batch (one
    /// write), so that the next appends overwrite blocks that already exist
    /// and are part of the file's durable size. Their fdatasync then writes
    /// data only, without a filesystem journal commit for a new size (on
    /// ext4 about half the cost of an appending fdatasync). The zeros become
    /// durable with that batch's fsync; recovery cuts them.
    pub fn note_preallocated(&self, file_end: u64) {
        let mut state = self.state.lock();
        state.file_len = state.file_len.max(file_end);
    }

    /// Cut the zeros written ahead of the data (at seal and at close).
    pub fn trim_preallocated(&self) -> Result<()> {
        let mut state = self.state.lock();
        debug_assert_eq!(
            state.flushed_len, state.written_len,
            "pending batches are written first"
        );
        if state.file_len > state.written_len {
            self.log.set_len("trim segment", state.written_len)?;
        }
        state.file_len = state.written_len;
        Ok(())
    }

    /// Record a batch appended at `position` (called by the single writer),
    /// already in the file if `flushed` (else see [`Segment::note_flushed`]).
    /// `synced_position` is how far this segment's log is known fdatasync'd:
    /// index entries up to it are written to the index file (see `persisted_entries`).
    pub fn note_written(
        &self,
        header: &BatchHeader,
        position: u64,
        index_interval: u32,
        synced_position: u64,
        flushed: bool,
    ) -> Result<()> {
        let mut state = self.state.lock();
        if position > 0 && position - state.last_entry_position >= u64::from(index_interval) {
            let entry = IndexEntry {
                relative_offset: (header.base_offset - self.base_offset) as u32,
                position: position as u32,
                max_timestamp_before_ms: state.max_timestamp_ms,
            };
            state.entries.push(entry);
            state.last_entry_position = position;
        }
        self.persist_lagging_entries(&mut state, synced_position)?;
        state.written_len = position + u64::from(header.length);
        if flushed {
            state.flushed_len = state.written_len;
        }
        state.file_len = state.file_len.max(state.written_len);
        state.next_offset = header.next_offset();
        state.max_timestamp_ms = state.max_timestamp_ms.max(header.max_timestamp_ms);
        Ok(())
    }

    /// Appended batches up to `end` are now in the file.
    pub fn note_flushed(&self, end: u64) {
        let mut state = self.state.lock();
        state.flushed_len = state.flushed_len.max(end);
    }

    /// Write index entries at or before `durable_position` to the index file.
    pub fn persist_index_upto(&self, durable_position: u64) -> Result<()> {
        let mut state = self.state.lock();
        self.persist_entries(&mut state, durable_position)
    }

    /// On the append path: write the durable entries not yet in the index
    /// file only once the oldest of them lies [`INDEX_PERSIST_LAG_BYTES`]
    /// behind `durable_position`, so that a durable producer's fsync group
    /// does not pay an index `pwrite` of its own (issue 26). Readers use the
    /// entries in memory; an open after a crash scans the tail from the last
    /// entry in the file, at most that lag plus the unsynced bytes longer.
    /// Flush, seal and close write them all ([`Segment::persist_index_upto`]).
    fn persist_lagging_entries(&self, state: &mut SegmentState, durable_position: u64) -> Result<()> {
        let lagging = state
            .entries
            .get(state.persisted_entries)
            .is_some_and(|e| u64::from(e.position).saturating_add(INDEX_PERSIST_LAG_BYTES) <= durable_position);
        if lagging {
            self.persist_entries(state, durable_position)?;
        }
        Ok(())
    }

    /// Write the in-memory entries not yet in the index file whose position
    /// is at most `durable_position` (one write).
    fn persist_entries(&self, state: &mut SegmentState, durable_position: u64) -> Result<()> {
        let start = state.persisted_entries;
        let ready = state
            .entries
            .iter()
            .skip(start)
            .take_while(|e| u64::from(e.position) <= durable_position)
            .count();
        if ready == 0 {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(ready * ENTRY_SIZE);
        for e in state.entries.iter().skip(start).take(ready) {
            bytes.extend_from_slice(&e.encode());
        }
        self.index
            .write_all_at("write index", &bytes, (start * ENTRY_SIZE) as u64)?;
        state.persisted_entries = start + ready;
        Ok(())
    }

    /// Memory map, only once sealed.
    fn map(&self) -> Option<&ReadOnlyMap> {
        if !self.state.lock().sealed {
            return None;
        }
        self.map.get_or_init(|| self.log.raw().map_readonly()).as_ref()
    }

    /// The mapped bytes of a sealed segment (the same mapping for the
    /// segment's whole life), or `None` while it is active.
    pub fn mapped(&self) -> Option<&[u8]> {
        self.map().map(|m| &**m)
    }

    /// The segment's state with its index entries in memory: a lookup's
    /// entry point. A sealed segment whose entries were released reads them
    /// back from its index file (the valid prefix, as at open: a shorter
    /// index only makes a lookup start earlier in the log).
    pub fn state_with_index(&self) -> Result<MutexGuard<'_, SegmentState>> {
        let mut state = self.state.lock();
        if state.index_released {
            state.entries = load_index(self.index.raw(), &self.index_path, state.written_len)?;
            state.index_released = false;
        }
        Ok(state)
    }

    /// Drop `entry` from the entries in memory: the batch at its position
    /// is not there or has another offset (a lookup found out). The index
    /// file is left as it is (readers never write it); an entry already in
    /// it stays there, and the next entry persisted takes the place of the
    /// file's last one, so the file stays a valid index. A released index
    /// read back brings the entry again, and the next lookup drops it again.
    pub fn reject_index_entry(&self, entry: &IndexEntry) {
        let mut state = self.state.lock();
        if let Some(i) = state.entries.iter().position(|e| e == entry) {
            state.entries.remove(i);
            if i < state.persisted_entries {
                state.persisted_entries -= 1;
            }
        }
    }

    /// Drop a sealed segment's index entries from memory (all of them are
    /// in its index file, fsync'd at seal); the next lookup reads them back.
    /// Returns the bytes freed (0 if active, already released, or not all in
    /// the file).
    pub fn release_index(&self) -> u64 {
        let mut state = self.state.lock();
        if !state.sealed || state.index_released || state.persisted_entries != state.entries.len() {
            return 0;
        }
        let bytes = (state.entries.capacity() * std::mem::size_of::<IndexEntry>()) as u64;
        state.entries = Vec::new();
        state.index_released = true;
        bytes
    }

    /// Take the pages of this segment's map, if it was mapped, out of the
    /// process's resident set (they stay in the page cache). Returns the bytes
    /// mapped.
    pub fn release_mapped_pages(&self) -> u64 {
        match self.map.get() {
            Some(Some(map)) => match map.release_pages() {
                Ok(()) => map.len() as u64,
                Err(error) => {
                    tracing::debug!(segment = %self.log_path.display(), %error, "madvise(DONTNEED) failed");
                    0
                }
            },
            _ => 0,
        }
    }

    /// Visit verified batches from `position` until `end_position`, or until
    /// `visit` returns false. Invalid bytes here are corruption (the region was
    /// validated on open or written by us).
    pub fn for_each_batch(
        &self,
        position: u64,
        end_position: u64,
        mut visit: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        self.for_each_batch_from(position, end_position, |pos, header, raw, _| visit(pos, header, raw))
    }

    /// [`Segment::for_each_batch`], also telling `visit` whether the batch's
    /// bytes are in the segment's mapping (`Some`: they stay at that address,
    /// unchanged, while the segment lives; with the mapped bytes after the
    /// batch up to `end_position`, for a read-ahead) or in a read buffer (`None`).
    pub fn for_each_batch_from(
        &self,
        position: u64,
        end_position: u64,
        mut visit: impl FnMut(u64, &BatchHeader, &[u8], Option<&[u8]>) -> Result<bool>,
    ) -> Result<()> {
        let corrupt = |pos, kind| Error::corruption(&self.log_path, pos, kind);
        if let Some(map) = self.map() {
            let bytes = map.get(..end_position as usize).unwrap_or(map);
            let mut pos = position;
            while pos < end_position {
                let rest = bytes
                    .get(pos as usize..)
                    .ok_or(corrupt(pos, CorruptionKind::BadLength))?;
                let header = BatchHeader::parse(rest).map_err(|k| corrupt(pos, k))?;
                let batch = rest
                    .get(..header.length as usize)
                    .ok_or(corrupt(pos, CorruptionKind::BadLength))?;
                let header = batch::verify(batch).map_err(|k| corrupt(pos, k))?;
                let after = rest.get(header.length as usize..).unwrap_or_default();
                if !visit(pos, &header, batch, Some(after))? {
                    return Ok(());
                }
                pos += u64::from(header.length);
            }
            return Ok(());
        }
        let mut reader = ChunkReader::new(self.log.raw(), &self.log_path, end_position);
        let mut pos = position;
        while pos < end_position {
            let batch = reader.batch_at(pos)?.map_err(|k| corrupt(pos, k))?;
            let header = batch::verify(batch).map_err(|k| corrupt(pos, k))?;
            let length = header.length;
            if !visit(pos, &header, batch, None)? {
                return Ok(());
            }
            pos += u64::from(length);
        }
        Ok(())
    }
}

pub(crate) type SegmentFiles = (PathBuf, PathBuf, Arc<dyn StorageFile>, Arc<dyn StorageFile>);

/// Read the index file and keep its valid prefix.
fn read_index(index: &dyn StorageFile, path: &Path, log_len: u64) -> Result<Vec<IndexEntry>> {
    let len = index.len().at("stat index", path)?;
    // An index has at most one entry per batch; a batch is at least a header.
    let max_len = (log_len / HEADER_SIZE as u64 + 2) * ENTRY_SIZE as u64;
    let len = len.min(max_len) - len.min(max_len) % ENTRY_SIZE as u64;
    let mut bytes = vec![0u8; len as usize];
    read_exact_at(index, &mut bytes, 0).at("read index", path)?;
    Ok(IndexEntry::decode_all(&bytes, log_len))
}

pub(crate) fn load_index(index: &dyn StorageFile, path: &Path, log_len: u64) -> Result<Vec<IndexEntry>> {
    read_index(index, path, log_len)
}

pub(crate) use index::{floor_by_offset, floor_by_time};

#[derive(Debug)]
pub(crate) struct ScanResult {
    pub valid_end: u64,
    pub next_offset: u64,
    pub max_timestamp_ms: i64,
    pub new_entries: Vec<IndexEntry>,
    pub invalid: Option<InvalidAt>,
    pub last_entry_position: u64,
}

//! Retention: deleting whole sealed segments, and moving the log start.

use super::*;

/// `Partition::retention_floor` when no mirror holds the partition.
pub(crate) const NO_RETENTION_FLOOR: u64 = u64::MAX;

impl Partition {
    /// Set the retention floor (`None`: no mirror holds the partition).
    pub(crate) fn set_retention_floor(&self, floor: Option<u64>) {
        self.retention_floor
            .store(floor.unwrap_or(NO_RETENTION_FLOOR), Ordering::Release);
    }

    /// The retention floor, if a mirror holds the partition.
    pub(crate) fn retention_floor(&self) -> Option<u64> {
        Some(self.retention_floor.load(Ordering::Acquire)).filter(|f| *f != NO_RETENTION_FLOOR)
    }

    /// Delete whole sealed segments past the retention limits or wholly below
    /// the start offset. Returns the number of segments deleted. The limits
    /// delete no segment holding a record at or above the retention floor
    /// (an unmirrored record); only the start offset does.
    pub fn enforce_retention(&self, now: i64) -> Result<usize> {
        let segments = self.segments_snapshot();
        let config = self.config();
        let mut total: u64 = segments.iter().map(|s| s.state.lock().written_len).sum();
        let start = self.start_offset();
        let floor = self.retention_floor.load(Ordering::Acquire);
        let mut delete = 0usize;
        for segment in segments.iter().take(segments.len().saturating_sub(1)) {
            let (len, max_ts, next) = {
                let state = segment.state.lock();
                (state.written_len, state.max_timestamp_ms, state.next_offset)
            };
            let by_time = config
                .retention_ms
                .is_some_and(|ms| max_ts < now.saturating_sub(ms as i64));
            let by_size = config.retention_bytes.is_some_and(|limit| total > limit);
            let below_start = next <= start;
            let unmirrored = next > floor;
            if !(below_start || ((by_time || by_size) && !unmirrored)) {
                break;
            }
            total -= len;
            delete += 1;
        }
        if delete > 0 {
            self.delete_front(delete)?;
        }
        Ok(delete)
    }

    fn delete_front(&self, count: usize) -> Result<()> {
        let _writer = self.writer.lock();
        if self.context.is_closed() {
            return Err(Error::Closed);
        }
        let removed: Vec<Arc<Segment>> = {
            let mut segments = self.segments.lock();
            let count = count.min(segments.len().saturating_sub(1));
            let list: Vec<Arc<Segment>> = segments.as_ref().clone();
            let (removed, kept) = list.split_at(count);
            let removed = removed.to_vec();
            *segments = Arc::new(kept.to_vec());
            if let Some(first) = kept.first() {
                self.start_offset.fetch_max(first.base_offset, Ordering::AcqRel);
            }
            removed
        };
        for segment in &removed {
            let len = segment.state.lock().written_len;
            for path in [&segment.log_path, &segment.index_path] {
                self.storage.remove_file(path).at("delete segment", path)?;
            }
            self.release_bytes(len);
            self.context.metrics.segments_deleted.fetch_add(1, Ordering::Relaxed);
        }
        self.storage.sync_dir(&self.dir).at("fsync dir", &self.dir)
    }

    /// Move the log start offset forward to `offset` (records below become
    /// unreadable; whole segments below it are deleted). Durable on return.
    pub fn truncate_prefix(&self, offset: u64) -> Result<u64> {
        let high_watermark = self.high_watermark();
        if offset > high_watermark {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start: self.start_offset(),
                end: high_watermark,
            });
        }
        if offset <= self.start_offset() {
            return Ok(self.start_offset());
        }
        let path = self.dir.join(START_OFFSET_FILE);
        {
            // Under the writer lock, which `Store::close` takes after it
            // sets `closed`: no file is written once the lock is released.
            let _writer = self.writer.lock();
            if self.context.is_closed() {
                return Err(Error::Closed);
            }
            write_atomic(self.storage.as_ref(), &path, format!("{offset}\n").as_bytes())
                .at("write start offset", &path)?;
        }
        self.start_offset.fetch_max(offset, Ordering::AcqRel);
        self.enforce_retention(now_ms())?;
        Ok(self.start_offset())
    }
}

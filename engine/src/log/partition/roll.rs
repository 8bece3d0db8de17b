//! Segment rolls (size, age, on request), producer snapshots, and cutting
//! the preallocated zeros at close.

use super::*;

impl Partition {
    /// Cut the active segment's preallocated zeros and fsync (clean close), so
    /// that the files of a closed store end at their last batch.
    pub fn trim_preallocated(&self) -> Result<()> {
        let mut w = self.writer.lock();
        self.write_pending(&mut w)?;
        let preallocated = {
            let state = w.active.state.lock();
            state.file_len > state.written_len
        };
        if !preallocated {
            return Ok(());
        }
        w.active.trim_preallocated()?;
        w.active.log.sync_data("fsync segment")
    }

    pub(super) fn maybe_roll(&self, w: &mut Writer, incoming: u64, now: i64) -> Result<()> {
        let written = w.active.state.lock().written_len;
        if written == 0 {
            return Ok(());
        }
        let config = self.config();
        let too_big = written + incoming > config.segment_bytes;
        let too_old = config
            .segment_age_ms
            .is_some_and(|age| now.saturating_sub(w.active.created_ms) >= age as i64);
        if too_big || too_old {
            self.roll(w, now)?;
        }
        Ok(())
    }

    /// Seal the active segment and start a new one. See design/durability.md, "Segment roll".
    pub(super) fn roll(&self, w: &mut Writer, now: i64) -> Result<()> {
        // A poisoned store writes nothing more: sealing would fsync again after
        // a failed fsync and publish batches that were never acknowledged.
        // A closed one no longer owns the directory.
        self.context.check_writable()?;
        let result = (|| {
            self.write_pending(w)?;
            w.active.seal()?;
            let sealed_len = w.active.state.lock().written_len;
            self.gate.record_synced(Mark {
                offset: w.next_offset,
                segment_base: w.active.base_offset,
                position: sealed_len,
            });
            self.publish(w.next_offset);
            // The producer snapshot is written before the new segment exists,
            // so the newest snapshot never lies past the durable log end.
            // Expired producers whose batches are gone from the log are
            // forgotten first (`DedupTable::forget_gone`).
            w.producers.forget_gone(self.start_offset(), now);
            let snapshot = w.producers.encode_snapshot(w.next_offset);
            self.context
                .dedup
                .write_snapshot(self.storage.as_ref(), &self.dir, w.next_offset, &snapshot)?;
            w.snapshot_offset = w.next_offset;
            w.snapshot_at = Instant::now();
            let segment = Arc::new(Segment::create(self.storage.as_ref(), &self.dir, w.next_offset, now)?);
            segment.arm(&self.failure);
            self.storage.sync_dir(&self.dir).at("fsync dir", &self.dir)?;
            Ok(segment)
        })();
        let segment = match result {
            Ok(s) => s,
            Err(e) => {
                self.poison(&e);
                self.redirty_unsynced(&w.active);
                return Err(e);
            }
        };
        let mut segments = self.segments.lock();
        let mut list: Vec<Arc<Segment>> = segments.as_ref().clone();
        list.push(segment.clone());
        *segments = Arc::new(list);
        drop(segments);
        w.active = segment;
        self.context.metrics.segments_rolled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Snapshot the producer state at the log end if it moved since the last
    /// snapshot and (unless `force`) `SNAPSHOT_INTERVAL` has passed. Only a
    /// fully durable log end is snapshotted (else this waits for a later call),
    /// so a snapshot never lies past what recovery will find. The state is
    /// encoded under the writer lock; the file is written after releasing it.
    pub fn snapshot_producers(&self, force: bool) -> Result<()> {
        let (offset, bytes) = {
            let mut w = self.writer.lock();
            let due = force || w.snapshot_at.elapsed() >= SNAPSHOT_INTERVAL;
            if self.context.is_poisoned() || w.next_offset == w.snapshot_offset || !due {
                return Ok(());
            }
            if self.gate.synced().offset < w.next_offset {
                return Ok(());
            }
            w.snapshot_offset = w.next_offset;
            w.snapshot_at = Instant::now();
            (w.next_offset, w.producers.encode_snapshot(w.next_offset))
        };
        self.context
            .dedup
            .write_snapshot(self.storage.as_ref(), &self.dir, offset, &bytes)
    }

    /// Roll now if the active segment is not empty (tests, admin).
    pub fn roll_now(&self) -> Result<()> {
        let mut guard = self.writer.lock();
        if guard.active.state.lock().written_len == 0 {
            return Ok(());
        }
        self.roll(&mut guard, now_ms())
    }

    /// Age-based roll from the maintenance thread.
    pub fn roll_if_old(&self, now: i64) -> Result<()> {
        if self.config().segment_age_ms.is_none() {
            return Ok(());
        }
        let mut guard = self.writer.lock();
        self.maybe_roll(&mut guard, 0, now)
    }
}

//! Appending one batch: validation, producer admission, the preallocated
//! zeros of `Always`, and the write (or, for small `Always` batches, the
//! pending buffer the group-commit leader writes).

use super::*;
use crate::log::batch::{AppendRecord, EncodedSlice};
use crate::log::record::validate_topic_record_of;

impl Partition {
    /// The zeros an `Always` partition writes ahead of a batch failed to
    /// write. They lie past every batch (written or pending), so no byte of
    /// any batch changed: a full device (ENOSPC, EDQUOT) refuses this batch
    /// with `NoSpace` and leaves the store writable, to go on once space is
    /// freed. Any other error poisons, as a failed append does.
    fn preallocation_failed(&self, path: &Path, requested_bytes: u64, source: std::io::Error) -> Error {
        if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) {
            self.context.metrics.no_space_rejections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(segment = %path.display(), requested_bytes, error = %source, "no space for the batch: refused, nothing written, store still writable");
            return Error::NoSpace {
                path: path.to_path_buf(),
                requested_bytes,
            };
        }
        let error = Error::io("preallocate", path, source);
        self.poison(&error);
        error
    }

    /// Append one batch. Returns once the batch is acknowledged under the
    /// partition's durability mode.
    pub fn append(&self, records: &[Record], producer: Option<ProducerStamp>, flags: u16) -> Result<AppendInfo> {
        self.append_checked(records, producer, flags, |_| Ok(()))
    }

    /// Append one batch; `check` runs under the writer lock with the offset the
    /// batch would get, and may refuse it (used for producer sequencing).
    pub fn append_checked(
        &self,
        records: &[Record],
        producer: Option<ProducerStamp>,
        flags: u16,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<AppendInfo> {
        self.append_inner(records, producer, flags, false, check)
            .map(|(info, _)| info)
    }

    /// Append one batch from a registered producer: the epoch and sequence
    /// are checked and the producer state updated under the writer lock.
    /// Returns the offsets and whether the batch was a retry (not written again).
    pub fn append_sequenced(&self, records: &[Record], stamp: ProducerStamp, flags: u16) -> Result<(AppendInfo, bool)> {
        self.append_inner(records, Some(stamp), flags, true, |_| Ok(()))
    }

    /// Whether a sequenced batch of `record_count` records would be appended
    /// or is a retry, without writing anything (the split path, where the
    /// batch is written by a transaction and remembered by
    /// [`Partition::claim_sequence`]). Errors as for a sequenced append.
    pub(crate) fn admit_sequence(&self, stamp: ProducerStamp, record_count: u32) -> Result<Admission> {
        let w = self.writer.lock();
        self.context.check_writable()?;
        w.producers.admit(stamp, record_count, now_ms())
    }

    /// The offsets of the batch `stamp` retries, if this partition
    /// remembers it ([`DedupTable::remembered`](crate::log::dedup::DedupTable::remembered)):
    /// read under the writer lock, nothing decided or written.
    pub(crate) fn remembered_batch<R>(&self, stamp: ProducerStamp, records: &[R]) -> Option<AppendInfo> {
        let count = u32::try_from(records.len()).ok()?;
        let w = self.writer.lock();
        w.producers
            .remembered(stamp, count)
            .map(|(base_offset, next_offset)| AppendInfo {
                base_offset,
                next_offset,
                log_append_time_ms: None,
            })
    }

    /// Remember a producer's batch of `record_count` sequences of which
    /// `appended` records are in the log at `base_offset..` (the others went
    /// to the topic's DLQ), durably: the log is fsync'd up to its end and a
    /// producer snapshot written, under the writer lock (no later batch goes
    /// in between), so the claim survives a crash whatever the topic's
    /// durability mode. Remembered already: nothing changes. A failed write
    /// poisons the store (the claim would be lost at the next commit).
    pub(crate) fn claim_sequence(
        &self,
        stamp: ProducerStamp,
        record_count: u32,
        base_offset: u64,
        appended: u32,
    ) -> Result<()> {
        let result = (|| {
            for _ in 0..8 {
                self.flush()?;
                let mut guard = self.writer.lock();
                let w = &mut *guard;
                self.context.check_writable()?;
                if self.gate.synced().offset < w.next_offset {
                    // Appended meanwhile: fsync again.
                    continue;
                }
                w.producers
                    .record_split(stamp, base_offset, record_count, appended, now_ms());
                let offset = w.next_offset;
                let bytes = w.producers.encode_snapshot(offset);
                self.context
                    .dedup
                    .write_snapshot(self.storage.as_ref(), &self.dir, offset, &bytes)?;
                w.snapshot_offset = offset;
                w.snapshot_at = Instant::now();
                return Ok(());
            }
            // Appends keep coming: a roll seals the segment and snapshots
            // under the writer lock.
            let mut guard = self.writer.lock();
            guard
                .producers
                .record_split(stamp, base_offset, record_count, appended, now_ms());
            self.roll(&mut guard, now_ms())
        })();
        if let Err(e) = &result {
            if !matches!(e, Error::Poisoned | Error::Closed) {
                self.poison(e);
            }
        }
        result
    }

    /// The producer's last sequence here, read under the writer lock so that
    /// it orders with appends (see the fencing argument in producer_state.rs).
    pub fn producer_last_sequence(&self, producer_id: u64) -> Option<u32> {
        self.writer.lock().producers.last_sequence(producer_id)
    }

    /// The last sequence a batch of the producer's `epoch` continues from
    /// here (an anonymous producer's sequences restart with each epoch).
    pub fn producer_last_sequence_at(&self, producer_id: u64, epoch: u16) -> Option<u32> {
        self.writer.lock().producers.last_sequence_at(producer_id, epoch)
    }

    /// Last append time of every producer with state here.
    pub fn producer_activity(&self) -> Vec<(u64, i64)> {
        self.writer.lock().producers.activity()
    }

    fn append_inner(
        &self,
        records: &[Record],
        producer: Option<ProducerStamp>,
        flags: u16,
        sequenced: bool,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<(AppendInfo, bool)> {
        let (info, duplicate) = self.write_inner(records, producer, flags, sequenced, check)?;
        if self.owes_sync(info.next_offset) {
            // A thread that appends and waits comes straight back with its
            // next batch: worth gathering (see `settle`).
            self.sync_to(info.next_offset, true)?;
        }
        Ok((info, duplicate))
    }

    /// Write one batch (or recognise a producer's retry) without waiting for
    /// its acknowledgement: under `Always` the caller must call
    /// [`Partition::wait_durable`] with `next_offset` before acknowledging
    /// (the batch is not visible to readers until then); under the other modes
    /// it is acknowledged on return. A retry's offsets are the original's,
    /// which may still be waiting for its fsync: the same wait covers it.
    pub(crate) fn append_deferred<R: AppendRecord>(
        &self,
        records: &[R],
        producer: Option<ProducerStamp>,
    ) -> Result<(AppendInfo, bool)> {
        self.write_inner(records, producer, 0, producer.is_some(), |_| Ok(()))
    }

    /// Whether the acknowledgement of a batch ending at `next_offset` waits
    /// for an fsync: the partition is `Always` now, or the batch was written
    /// under `Always` before a switch away from it (`set_durability`), whose
    /// promise it keeps.
    pub(crate) fn owes_sync(&self, next_offset: u64) -> bool {
        self.durability() == Durability::Always || next_offset <= self.always_upto.load(Ordering::Acquire)
    }

    /// Under `Always`, block until everything up to `offset` is durable
    /// (leading or joining a group fsync); otherwise return at once. A
    /// leader here does not wait for the appenders the last sync acknowledged
    /// (the server's, after a network round trip, come back too late to be
    /// worth it, and the spinning wait takes the CPU they need).
    pub(crate) fn wait_durable(&self, offset: u64) -> Result<()> {
        if self.owes_sync(offset) {
            self.sync_to(offset, false)?;
        }
        Ok(())
    }

    /// Validate, admit, roll if due, encode, place (`place_batch`), account, publish.
    fn write_inner<R: AppendRecord>(
        &self,
        records: &[R],
        producer: Option<ProducerStamp>,
        flags: u16,
        sequenced: bool,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<(AppendInfo, bool)> {
        self.write_payload(Payload::Records(records), producer, flags, sequenced, check)
    }

    /// Write a batch of records already encoded (a transaction's part,
    /// checked against this partition's record limits by the transaction)
    /// without waiting for its acknowledgement: under `Always` the caller
    /// calls [`Partition::wait_durable`] with its `next_offset` (the batch
    /// is not visible to readers until then). `check` runs under the writer
    /// lock with the offset the batch gets, as for [`Partition::append_checked`].
    pub(crate) fn append_encoded_deferred(
        &self,
        records: EncodedSlice<'_>,
        producer: Option<ProducerStamp>,
        flags: u16,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<AppendInfo> {
        self.write_payload(Payload::<Record>::Encoded(records), producer, flags, false, check)
            .map(|(info, _)| info)
    }

    fn write_payload<R: AppendRecord>(
        &self,
        payload: Payload<'_, R>,
        producer: Option<ProducerStamp>,
        flags: u16,
        sequenced: bool,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<(AppendInfo, bool)> {
        let total = match payload {
            Payload::Records(records) => self.batch_bytes(records)?,
            Payload::Encoded(encoded) => self.encoded_batch_bytes(&encoded)?,
        };
        let now = now_ms();
        // `Always`: small batches are encoded now and written by the
        // group-commit leader together, just before its fsync (one write for
        // the group, none under the writer lock); a leader waits for their
        // appenders to come back (`settle`). Not large batches: their write
        // costs far more than the call, and copying megabytes that left the
        // cache since they were encoded costs more again (16 appenders of
        // 1 MiB batches ran 4 × slower deferred); and their fsync is long
        // enough that writing during it beats waiting for each other.
        let small = total as u64 <= DEFER_BYTES_MAX;
        let in_flight = InFlight::enter(&self.appending);
        if small && self.durability() == Durability::Always {
            self.entered.fetch_add(1, Ordering::AcqRel);
        }
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.context.check_writable()?;
        // The mode this batch is written and acknowledged under: read under
        // the writer lock, which a switch (`set_durability`) takes.
        let durability = self.durability();
        let defer = small && durability == Durability::Always;
        if payload.holds_nulls() {
            // Under the writer lock: `close` cannot release the directory meanwhile.
            self.context.allow_nulls()?;
        }
        check(w.next_offset)?;
        let record_count = payload.count();
        if let (true, Some(stamp)) = (sequenced, producer) {
            let admission = w.producers.admit(stamp, record_count, now)?;
            if let Admission::Duplicate {
                base_offset,
                next_offset,
            } = admission
            {
                drop(guard);
                drop(in_flight);
                // The original may still be waiting for its fsync: a retry is
                // acknowledged under the same durability as the original
                // (the caller's `wait_durable` with these offsets).
                let info = AppendInfo {
                    base_offset,
                    next_offset,
                    log_append_time_ms: None,
                };
                return Ok((info, true));
            }
        }
        self.maybe_roll(w, total as u64, now)?;
        let synced = self.gate.synced();
        let synced_before = if synced.segment_base == w.active.base_offset {
            synced.position as u32
        } else {
            0
        };
        // A batch written now goes after the pending ones.
        if !defer && durability == Durability::Always {
            self.write_pending(w)?;
        }
        w.scratch.clear();
        // A transaction's records were stamped when they were staged
        // (`Transaction::append`): their commit keeps those times, which
        // the producer was answered.
        let time = batch::AppendTime {
            ms: now,
            overrides: self.config().timestamp_type == TimestampType::LogAppend
                && flags & batch::FLAG_TRANSACTIONAL == 0,
        };
        let header = payload.encode(&mut w.scratch, w.next_offset, time, producer, flags, synced_before);
        let length = u64::from(header.length);
        self.reserve_bytes(length, flags)?;
        let position = self.place_batch(w, length, defer)?;
        w.active.note_written(
            &header,
            position,
            self.config().index_interval_bytes,
            u64::from(synced_before),
            !defer,
        )?;
        w.next_offset = header.next_offset();
        // Same rule as the rebuild at open (`ProducerDedup::open_table`).
        if let Some(stamp) = producer.filter(|_| !header.is_control() && !header.is_transactional()) {
            w.producers.record(stamp, header.base_offset, record_count, now);
        }
        let next_offset = w.next_offset;
        let mark = Mark {
            offset: next_offset,
            segment_base: w.active.base_offset,
            position: position + length,
        };
        self.gate.record_written(mark);
        self.count_append(record_count as usize, length);
        match durability {
            Durability::Os => self.publish(next_offset),
            Durability::Always => {
                self.always_upto.fetch_max(next_offset, Ordering::AcqRel);
            }
            Durability::Interval { .. } => {}
        }
        drop(guard);
        drop(in_flight);
        let info = AppendInfo {
            base_offset: header.base_offset,
            next_offset,
            log_append_time_ms: time.overrides.then_some(now),
        };
        Ok((info, false))
    }

    /// Reserve `length` bytes of the store's quota and of the topic's
    /// (`quota_bytes`) for the batch about to be written; refused with
    /// `QuotaExceeded`, nothing reserved, when either would be passed.
    /// `names::quota_exempt` topics are counted, never refused; so are a
    /// committing transaction's batches and control batches against the
    /// topic's quota (a commit is never half applied: the transaction's
    /// records were checked against it when staged, `Transaction::append`,
    /// `Partition::topic_quota_check`).
    fn reserve_bytes(&self, length: u64, flags: u16) -> Result<()> {
        if crate::names::quota_exempt(&self.topic) {
            self.context.charge(length);
        } else {
            self.context.reserve(length)?;
        }
        let used = self.topic_bytes.fetch_add(length, Ordering::AcqRel);
        let applying = flags & (batch::FLAG_TRANSACTIONAL | batch::FLAG_CONTROL) != 0;
        if let Some(quota) = self.config().quota_bytes.filter(|_| !applying) {
            if used + length > quota {
                self.release_bytes(length);
                self.context.metrics.quota_rejections.fetch_add(1, Ordering::Relaxed);
                return Err(Error::QuotaExceeded {
                    quota_bytes: quota,
                    used_bytes: used,
                    requested_bytes: length,
                    topic: Some(self.topic.clone()),
                });
            }
        }
        Ok(())
    }

    /// Give back what [`Partition::reserve_bytes`] took (a failed write) or
    /// what deleted segments held (retention): store and topic.
    pub(super) fn release_bytes(&self, length: u64) {
        self.context.release(length);
        self.topic_bytes.fetch_sub(length, Ordering::AcqRel);
    }

    /// Whether `requested` more bytes would pass the topic's quota as it
    /// stands now: a transaction's records are refused when staged then
    /// (nothing is reserved: their commit, which may come after other
    /// appends, is never refused).
    pub(crate) fn topic_quota_check(&self, requested: u64) -> Result<()> {
        let used = self.topic_bytes.load(Ordering::Acquire);
        match self.config().quota_bytes {
            Some(quota) if used + requested > quota => Err(Error::QuotaExceeded {
                quota_bytes: quota,
                used_bytes: used,
                requested_bytes: requested,
                topic: Some(self.topic.clone()),
            }),
            _ => Ok(()),
        }
    }

    /// The encoded size of a batch of `records`, refused (never clamped)
    /// when empty, when a record is invalid or over the topic's
    /// `record_bytes_max`, or when the batch is over `BATCH_BYTES_MAX` or
    /// the topic's segment size.
    fn batch_bytes<R: AppendRecord>(&self, records: &[R]) -> Result<usize> {
        if records.is_empty() {
            return Err(Error::invalid("records", "a batch needs at least one record"));
        }
        let config = self.config();
        let mut total = HEADER_SIZE;
        for record in records {
            total += validate_topic_record_of(record, config.record_bytes_max as usize, &self.topic)
                .map_err(|detail| Error::invalid("record", detail))?;
        }
        within_batch_limit(total, config.segment_bytes)
    }

    /// [`Partition::batch_bytes`] for records already encoded: empty, or
    /// over `BATCH_BYTES_MAX` or the segment size, is refused (each record
    /// was checked against the topic's limits when it was encoded).
    fn encoded_batch_bytes(&self, encoded: &EncodedSlice<'_>) -> Result<usize> {
        if encoded.count == 0 {
            return Err(Error::invalid("records", "a batch needs at least one record"));
        }
        within_batch_limit(encoded.batch_len(), self.config().segment_bytes)
    }

    /// Place the batch encoded in the writer's scratch buffer (`length`
    /// bytes, quota reserved) at the end of the active segment: the zeros
    /// ahead of it first (`zeros_ahead`), then the batch itself, written now
    /// or (`defer`) left pending for the group-commit leader. Returns its
    /// position. On failure the quota is released.
    fn place_batch(&self, w: &mut Writer, length: u64, defer: bool) -> Result<u64> {
        let (position, file_len) = {
            let state = w.active.state.lock();
            (state.written_len, state.file_len)
        };
        let zeros = self.zeros_ahead(position, file_len, length);
        if zeros > 0 {
            // Zeros first (over the batch's place too), then the batch: a
            // failed write leaves nothing of the batch behind.
            // (The pending batches before it are below `position`.)
            let zeroed = vec![0u8; (length + zeros) as usize];
            // Judged here, not by the checked file: a full device refuses
            // the batch without poisoning (`preallocation_failed`).
            if let Err(e) = w.active.log.raw().write_all_at(&zeroed, position) {
                self.release_bytes(length);
                // Whatever part of the zeros reached the file lies past every
                // batch: cut at seal or close like any preallocated tail.
                w.active.note_preallocated(position + length + zeros);
                return Err(self.preallocation_failed(&w.active.log_path, length + zeros, e));
            }
            w.active.note_preallocated(position + length + zeros);
        }
        if defer {
            let mut pending = self.pending.lock();
            if pending.bytes.is_empty() {
                pending.position = position;
                pending.segment = Some(w.active.clone());
            }
            pending.bytes.extend_from_slice(&w.scratch);
        } else if let Err(e) = w.active.log.write_all_at("append", &w.scratch, position) {
            // Poisoned by the checked file.
            self.release_bytes(length);
            return Err(e);
        }
        Ok(position)
    }

    /// `Always`: the zeros to write ahead of a batch of `length` bytes at
    /// `position` in a file of `file_len` bytes, so that durable appends
    /// overwrite instead of growing the file. Written a step at a time: when
    /// fewer than an eighth of a step lie ahead, the next step, capped at the
    /// segment's end. Once the zeros reach that end nothing more is written
    /// (the last step's appends must not each rewrite the zeros up to the end).
    fn zeros_ahead(&self, position: u64, file_len: u64, length: u64) -> u64 {
        // Under the writer lock (the caller's): the mode cannot switch meanwhile.
        if self.durability() != Durability::Always || length > PREALLOCATE_BYTES / 4 {
            return 0;
        }
        let end = position + length;
        let segment_end = self.config().segment_bytes;
        if file_len < (end + PREALLOCATE_BYTES / 8).min(segment_end) {
            (end + PREALLOCATE_BYTES).min(segment_end).saturating_sub(end)
        } else {
            0
        }
    }

    fn count_append(&self, records: usize, length: u64) {
        let metrics = &self.context.metrics;
        metrics.append_batches.fetch_add(1, Ordering::Relaxed);
        metrics.append_records.fetch_add(records as u64, Ordering::Relaxed);
        metrics.append_bytes.fetch_add(length, Ordering::Relaxed);
    }

    /// Write the batches still pending (the caller holds the writer lock, so
    /// no more arrive): before a batch written directly, before a roll seals
    /// the segment, and before the zeros are cut at close. A failed write
    /// poisons (checked file); on a store poisoned meanwhile they are dropped
    /// unwritten, and this partition's waiters fail with it.
    pub(super) fn write_pending(&self, _writer: &mut Writer) -> Result<()> {
        let _writing = self.pending_write.lock();
        let mut pending = self.pending.lock();
        let Some(segment) = pending.segment.take() else {
            return Ok(());
        };
        let result = if self.context.is_poisoned() {
            self.poison(&Error::Poisoned);
            Err(Error::Poisoned)
        } else {
            write_batches(&segment, &pending.bytes, pending.position)
        };
        pending.bytes.clear();
        result
    }
}

/// What an append writes: records (owned or borrowed), or records already encoded.
enum Payload<'a, R> {
    Records(&'a [R]),
    Encoded(EncodedSlice<'a>),
}

// Copy whatever `R` is: the payload holds references only.
impl<R> Clone for Payload<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Payload<'_, R> {}

impl<R: AppendRecord> Payload<'_, R> {
    fn count(&self) -> u32 {
        match self {
            Payload::Records(records) => records.len() as u32,
            Payload::Encoded(encoded) => encoded.count,
        }
    }

    fn holds_nulls(&self) -> bool {
        match self {
            Payload::Records(records) => batch::holds_nulls(records),
            Payload::Encoded(encoded) => encoded.nulls,
        }
    }

    /// Encode the batch onto the end of `out`.
    fn encode(
        self,
        out: &mut Vec<u8>,
        base_offset: u64,
        time: batch::AppendTime,
        producer: Option<ProducerStamp>,
        flags: u16,
        synced_before: u32,
    ) -> batch::BatchHeader {
        match self {
            Payload::Records(records) => {
                batch::encode_at(out, base_offset, records, time, producer, flags, synced_before)
            }
            // A transaction's part: its records keep the times they were
            // staged with (the commit stamped those without one).
            Payload::Encoded(encoded) => {
                batch::encode_encoded(out, base_offset, &encoded, producer, flags, synced_before)
            }
        }
    }
}

/// Write consecutive batches appended at `position` and note them in the file.
pub(super) fn write_batches(segment: &Segment, bytes: &[u8], position: u64) -> Result<()> {
    segment.log.write_all_at("append", bytes, position)?;
    segment.note_flushed(position + bytes.len() as u64);
    Ok(())
}

/// `total` bytes of batch, refused when over `BATCH_BYTES_MAX` or the
/// topic's segment size.
fn within_batch_limit(total: usize, segment_bytes: u64) -> Result<usize> {
    if total > BATCH_BYTES_MAX as usize || total as u64 > segment_bytes {
        return Err(Error::invalid(
            "batch",
            format!(
                "{total} bytes; at most {} per batch for this topic",
                BATCH_BYTES_MAX.min(segment_bytes as u32)
            ),
        ));
    }
    Ok(total)
}

//! Reading: visiting records from an offset through the sparse index,
//! resuming inside a mapped batch, and finding an offset by time.

use super::*;

/// What `Store::scan_with_marks` and `Scanner::scan_with_marks` return
/// besides the visited records: the same offsets as the fields of
/// [`ReadResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanMarks {
    /// Where to read next (past any control batches that were skipped).
    pub next_offset: u64,
    /// Offset just past the last visible record.
    pub high_watermark: u64,
    /// Offset below which no transaction is open.
    pub last_stable_offset: u64,
    /// The partition's first offset.
    pub log_start_offset: u64,
}

impl Partition {
    /// Visit records from `offset` below `end` (exclusive; at most the high
    /// watermark) within the budgets, without copying: each record is a view
    /// into the batch's bytes (a mapped sealed segment or a read buffer).
    /// Records of control batches are visited too but not counted. Returns
    /// the offset to continue from. Damage (a corrupt batch, an offset gap)
    /// after at least one visited record ends the read there without an
    /// error: the error is returned by the read that starts at the damage.
    pub fn visit_records(
        &self,
        offset: u64,
        options: ReadOptions,
        end: Option<u64>,
        visit: impl FnMut(&BatchHeader, RecordView<'_>),
    ) -> Result<u64> {
        self.visit_records_resuming(offset, options, end, &mut None, visit)
    }

    /// [`Partition::visit_records`] for a reader that comes back for more:
    /// `resume` is what the previous call of the same reader left (taken
    /// here, and set again when this call stops inside a batch of a mapped
    /// segment). It is used only if it is for exactly `offset` and its
    /// segment is still this partition's: then the batch it points into,
    /// verified by that call and unchanged in the mapping since, is continued
    /// at the record where that call stopped, without checking its CRC or
    /// parsing the records before again. Every byte visited is still covered
    /// by a CRC this reader verified.
    pub(crate) fn visit_records_resuming(
        &self,
        offset: u64,
        options: ReadOptions,
        end: Option<u64>,
        resume: &mut Option<ScanResume>,
        visit: impl FnMut(&BatchHeader, RecordView<'_>),
    ) -> Result<u64> {
        let previous = resume.take();
        let high_watermark = self.high_watermark();
        let end = end.map_or(high_watermark, |e| e.min(high_watermark));
        let start = self.start_offset();
        if offset < start || offset > high_watermark {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start,
                end: high_watermark,
            });
        }
        if offset >= end {
            return Ok(offset);
        }
        let segments = self.segments_snapshot();
        let first = segments.partition_point(|s| s.base_offset <= offset).saturating_sub(1);
        let mut state = VisitState {
            next: offset,
            end,
            options,
            bytes: 0,
            count: 0,
            full: false,
            resume: None,
            visit,
        };
        // Continue inside the batch the previous call stopped in.
        let mut outcome = Ok(());
        let mut continue_at: Option<(usize, u64)> = None;
        if let Some(r) = previous.filter(|r| r.offset == offset) {
            let i = segments
                .partition_point(|s| s.base_offset <= r.segment.base_offset)
                .saturating_sub(1);
            let same_segment = segments.get(i).is_some_and(|s| Arc::ptr_eq(s, &r.segment)) && i == first;
            let raw = r
                .segment
                .mapped()
                .and_then(|m| m.get(r.batch_position as usize..))
                .and_then(|b| b.get(..r.header.length as usize));
            if let (true, Some(raw)) = (same_segment, raw) {
                self.context
                    .metrics
                    .read_batches_resumed
                    .fetch_add(1, Ordering::Relaxed);
                outcome = state
                    .batch(&r.segment, r.batch_position, &r.header, raw, Some(&[]), r.cursor)
                    .map(drop);
                continue_at = Some((i, r.batch_position + u64::from(r.header.length)));
            }
        }
        if outcome.is_ok() {
            outcome = self.visit_segments(&segments, first, continue_at, &mut state);
        }
        let metrics = &self.context.metrics;
        metrics.fetch_records.fetch_add(state.count as u64, Ordering::Relaxed);
        metrics.fetch_bytes.fetch_add(state.bytes as u64, Ordering::Relaxed);
        if let Err(error) = outcome {
            // Damage after the records visited so far: answer them (they
            // were verified), and the error to the read that reaches it
            // (the next one, which starts at the damage: design/durability.md,
            // "Reads before damage").
            if state.next == offset {
                return Err(error);
            }
            tracing::warn!(
                topic = %self.topic,
                partition = self.id,
                from = offset,
                to = state.next,
                %error,
                "read stopped at damage: returning the records before it"
            );
        }
        *resume = state.resume;
        Ok(state.next)
    }

    /// The segment loop of [`Partition::visit_records_resuming`], from
    /// segment `first` (at `continue_at`'s position in its segment, if set,
    /// else at the index entry for `state.next`). Every batch visited must
    /// continue the offsets visited so far (a batch past `state.next` would
    /// skip records: `OffsetGap` at its position).
    ///
    /// The index is a cache, believed only where the log agrees: the batch
    /// an entry points at must be valid and have the entry's offset. An
    /// entry whose batch has another offset is dropped (counted in
    /// `derived_metadata_rejected`) and the lookup retried. An entry where no
    /// valid batch starts is avoided: the lookup is retried from the entry
    /// before it (at worst the segment's start), and the entry is dropped
    /// (and counted) if that scan passes its position without a batch
    /// boundary there or finds another offset there; if the scan finds the
    /// damage at that position, the entry was right and the damage is
    /// reported. Each pass drops an entry or moves to an earlier one.
    fn visit_segments<F: FnMut(&BatchHeader, RecordView<'_>)>(
        &self,
        segments: &[Arc<Segment>],
        first: usize,
        continue_at: Option<(usize, u64)>,
        state: &mut VisitState<F>,
    ) -> Result<()> {
        for (i, segment) in segments.iter().enumerate().skip(first) {
            if state.full {
                break;
            }
            if segment.base_offset > state.next
                && segment.base_offset <= state.end
                && self
                    .storage
                    .exists(&self.dir.join(segment::hole_name(segment.base_offset)))
            {
                // A recorded hole (design/format.md, `<base>.hole`): step
                // over it, also when nothing follows it yet (a hole at the
                // end: the read ends there instead of making no progress).
                state.next = segment.base_offset;
            }
            if segment.base_offset >= state.end {
                break;
            }
            let mut avoid: Option<IndexEntry> = None;
            loop {
                let (position, entry, end_position) = {
                    let seg = segment.state_with_index()?;
                    let (position, entry) = match continue_at {
                        Some((at, position)) if at == i => (position, None),
                        _ => {
                            let relative =
                                state.next.saturating_sub(segment.base_offset).min(u64::from(u32::MAX)) as u32;
                            let usable = avoid.map_or(seg.entries.len(), |a| {
                                seg.entries.partition_point(|e| e.position < a.position)
                            });
                            match segment::floor_by_offset(seg.entries.get(..usable).unwrap_or_default(), relative) {
                                Some(e) => (u64::from(e.position), Some(*e)),
                                None => (0, None),
                            }
                        }
                    };
                    (position, entry, seg.flushed_len)
                };
                let offset_of = |e: &IndexEntry| segment.base_offset.saturating_add(u64::from(e.relative_offset));
                let entry_offset = entry.as_ref().map(offset_of);
                let avoided_at = avoid.map(|a| u64::from(a.position));
                let mut disagrees = false;
                // What this pass found at the avoided entry's position: the
                // offset of a batch there, or that it went past it.
                let mut at_avoided: Option<u64> = None;
                let mut past_avoided = false;
                let mut verified = 0u64;
                let result =
                    segment.for_each_batch_from(position, end_position, |batch_position, header, raw, ahead| {
                        verified += 1;
                        if batch_position == position && entry_offset.is_some_and(|o| o != header.base_offset) {
                            disagrees = true;
                            return Ok(false);
                        }
                        match avoided_at {
                            Some(a) if a == batch_position => at_avoided = Some(header.base_offset),
                            Some(a) if a < batch_position + u64::from(header.length) && a > batch_position => {
                                past_avoided = true;
                            }
                            _ => {}
                        }
                        if header.base_offset > state.next {
                            return Err(Error::corruption(
                                &segment.log_path,
                                batch_position,
                                CorruptionKind::OffsetGap,
                            ));
                        }
                        state.batch(segment, batch_position, header, raw, ahead, RecordCursor::START)
                    });
                self.context
                    .metrics
                    .read_batches_verified
                    .fetch_add(verified, Ordering::Relaxed);
                if let Some(a) = avoid {
                    let wrong = match at_avoided {
                        Some(base_offset) => base_offset != offset_of(&a),
                        None => past_avoided,
                    };
                    if wrong {
                        self.reject_index_entry(segment, &a);
                        avoid = None;
                    }
                }
                // No valid batch where the entry points: the entry or the
                // log is wrong; a scan from the entry before finds out which.
                let unreadable = matches!(
                    &result,
                    Err(Error::Corruption { position: p, kind, .. }) if *p == position && *kind != CorruptionKind::BadRecord
                );
                match entry {
                    Some(entry) if disagrees => self.reject_index_entry(segment, &entry),
                    Some(entry) if unreadable => avoid = Some(entry),
                    _ => {
                        result?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Drop an index entry a lookup found to disagree with the log (warned,
    /// counted in `derived_metadata_rejected`).
    pub(super) fn reject_index_entry(&self, segment: &Segment, entry: &IndexEntry) {
        tracing::warn!(
            index = %segment.index_path.display(),
            relative_offset = entry.relative_offset,
            position = entry.position,
            "index entry disagrees with the log: dropped"
        );
        segment.reject_index_entry(entry);
        self.context
            .metrics
            .derived_metadata_rejected
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Read batches from `offset` up to `end` (exclusive, at most the high
    /// watermark), as owned records grouped by batch (control batches included).
    /// Records before `offset` in the first batch are dropped.
    pub fn read_batches(&self, offset: u64, options: ReadOptions, end: Option<u64>) -> Result<(Vec<ReadBatch>, u64)> {
        let mut batches: Vec<ReadBatch> = Vec::new();
        let next = self.visit_records(offset, options, end, |header, view| match batches.last_mut() {
            Some(batch) if batch.header.base_offset == header.base_offset => batch.records.push(view.to_owned()),
            _ => batches.push(ReadBatch {
                header: *header,
                records: vec![view.to_owned()],
            }),
        })?;
        Ok((batches, next))
    }

    /// Visit data records (control batches skipped) from `offset` without
    /// copying them; see [`Partition::visit_records`].
    pub fn scan(
        &self,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        visit: impl FnMut(RecordView<'_>),
    ) -> Result<u64> {
        self.scan_resuming(offset, options, isolation, &mut None, visit)
    }

    /// [`Partition::scan`] continuing where the same reader stopped; see
    /// [`Partition::visit_records_resuming`].
    pub(crate) fn scan_resuming(
        &self,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        resume: &mut Option<ScanResume>,
        mut visit: impl FnMut(RecordView<'_>),
    ) -> Result<u64> {
        let end = match isolation {
            Isolation::ReadCommitted => Some(self.last_stable_offset()),
            Isolation::ReadUncommitted => None,
        };
        self.visit_records_resuming(offset, options, end, resume, |header, view| {
            if !header.is_control() {
                visit(view);
            }
        })
    }

    /// Read data records (control batches skipped) from `offset`.
    pub fn read(&self, offset: u64, options: ReadOptions, isolation: Isolation) -> Result<ReadResult> {
        let end = match isolation {
            Isolation::ReadCommitted => Some(self.last_stable_offset()),
            Isolation::ReadUncommitted => None,
        };
        let mut records = Vec::with_capacity(options.max_records.min(1024));
        let next_offset = self.visit_records(offset, options, end, |header, view| {
            if !header.is_control() {
                records.push(view.to_owned());
            }
        })?;
        Ok(ReadResult {
            records,
            next_offset,
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.start_offset(),
        })
    }

    /// Earliest visible offset whose record timestamp is >= `timestamp_ms`.
    pub fn offset_for_time(&self, timestamp_ms: i64) -> Result<Option<u64>> {
        let high_watermark = self.high_watermark();
        let start = self.start_offset();
        for segment in self.segments_snapshot().iter() {
            let (position, end_position, max_ts) = {
                let state = segment.state_with_index()?;
                let position =
                    segment::floor_by_time(&state.entries, timestamp_ms).map_or(0, |e| u64::from(e.position));
                (position, state.flushed_len, state.max_timestamp_ms)
            };
            if max_ts < timestamp_ms {
                continue;
            }
            let mut found = None;
            segment.for_each_batch(position, end_position, |_, header, raw| {
                if header.base_offset >= high_watermark {
                    return Ok(false);
                }
                if header.max_timestamp_ms < timestamp_ms || header.is_control() {
                    return Ok(true);
                }
                let records =
                    batch::decode_records(raw, header).map_err(|kind| Error::corruption(&segment.log_path, 0, kind))?;
                found = records
                    .iter()
                    .find(|r| r.timestamp_ms >= timestamp_ms && r.offset >= start && r.offset < high_watermark)
                    .map(|r| r.offset);
                Ok(found.is_none())
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// Where a sequential reader stopped inside a batch of a mapped (sealed)
/// segment: the batch at `batch_position` was verified (CRC) by that reader
/// and its records parsed up to `cursor`, the record of `offset`.
#[derive(Debug, Clone)]
pub(crate) struct ScanResume {
    segment: Arc<Segment>,
    batch_position: u64,
    header: BatchHeader,
    cursor: RecordCursor,
    offset: u64,
}

/// The running state of one [`Partition::visit_records_resuming`] call.
struct VisitState<F> {
    /// Offset of the next record to visit.
    next: u64,
    end: u64,
    options: ReadOptions,
    bytes: usize,
    count: usize,
    /// A budget or `end` was reached: visit nothing more.
    full: bool,
    resume: Option<ScanResume>,
    visit: F,
}

impl<F: FnMut(&BatchHeader, RecordView<'_>)> VisitState<F> {
    fn budget_spent(&self) -> bool {
        self.count >= self.options.max_records || (self.bytes >= self.options.max_bytes && self.count > 0)
    }

    /// Visit the records of one verified batch from `from`, those at or
    /// after `next`, within the budgets. Returns whether to go on with the
    /// next batch. `ahead`: `raw` is in the segment's mapping, followed
    /// there by these bytes (`Segment::for_each_batch_from`).
    fn batch(
        &mut self,
        segment: &Arc<Segment>,
        batch_position: u64,
        header: &BatchHeader,
        raw: &[u8],
        ahead: Option<&[u8]>,
        from: RecordCursor,
    ) -> Result<bool> {
        if header.base_offset >= self.end {
            self.full = true;
            return Ok(false);
        }
        if header.next_offset() <= self.next {
            return Ok(true);
        }
        if self.budget_spent() {
            self.full = true;
            return Ok(false);
        }
        let control = header.is_control();
        // A read that starts inside the batch hops over the records before
        // its offset instead of parsing them.
        let from = batch::cursor_of(raw, header, from, self.next)
            .map_err(|kind| Error::corruption(&segment.log_path, batch_position, kind))?
            .unwrap_or(from);
        let stopped = batch::visit_records_from(raw, header, from, ahead.unwrap_or_default(), |view| {
            if view.offset < self.next {
                return true;
            }
            if !control {
                if self.budget_spent() {
                    return false;
                }
                self.bytes += view.payload_len() + 24;
                self.count += 1;
            }
            self.next = view.offset + 1;
            (self.visit)(header, view);
            true
        })
        .map_err(|kind| Error::corruption(&segment.log_path, batch_position, kind))?;
        match stopped {
            None => {
                self.next = header.next_offset();
                Ok(true)
            }
            Some(cursor) => {
                self.full = true;
                if ahead.is_some() {
                    self.resume = Some(ScanResume {
                        segment: segment.clone(),
                        batch_position,
                        header: *header,
                        cursor,
                        offset: self.next,
                    });
                }
                Ok(false)
            }
        }
    }
}

//! Redrive: each dead letter appended again to its source topic (or a
//! target), exactly once: its mark in `__redriven` and the run's progress are
//! committed in the transaction that re-appends it. Also what a deleted
//! topic's DLQ leaves behind (marks, counts) is forgotten here.

use super::attempts::encode_attempt;
use super::*;

/// Where and when a DLQ record was redriven. Written to `__redriven` in the
/// redrive's transaction (with the re-appended record and the progress), so
/// it is durable exactly when the redriven copy is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveMark {
    /// Topic it was appended to.
    pub topic: String,
    /// Partition it was appended to.
    pub partition: u32,
    /// When (ms since the Unix epoch).
    pub redriven_at_ms: i64,
}

#[derive(Debug, Clone)]
/// How [`Store::dlq_redrive`](crate::Store::dlq_redrive) runs.
pub struct RedriveOptions {
    /// Re-append to this topic instead of each record's source topic.
    pub target_topic: Option<String>,
    /// Plan only: report what would be redriven, append nothing.
    pub dry_run: bool,
    /// At most this many records per second.
    pub rate_per_second: Option<u32>,
    /// Stop after this many records (resume later from where it stopped).
    pub max_records: Option<u64>,
    /// A record already redriven this many times stays in the DLQ.
    pub redrive_cap: u32,
    /// Records per transaction.
    pub batch_records: usize,
    /// Start at this DLQ offset (clamped up to the DLQ's start) instead of
    /// the durable progress of earlier runs: `Some(0)` goes over the whole
    /// DLQ again, e.g. after raising the cap. Records already redriven are
    /// skipped by their marks, so no start offset redrives one twice.
    pub from_offset: Option<u64>,
}

impl Default for RedriveOptions {
    fn default() -> Self {
        RedriveOptions {
            target_topic: None,
            dry_run: false,
            rate_per_second: None,
            max_records: None,
            redrive_cap: 3,
            batch_records: 100,
            from_offset: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
/// What a redrive did (or would do, on a dry run).
pub struct RedriveReport {
    /// DLQ offset the run started from (the durable progress of earlier runs,
    /// or `RedriveOptions::from_offset`).
    pub resumed_from: u64,
    /// DLQ offset to resume from next time.
    pub next_offset: u64,
    /// (dlq offset, target topic, target partition) redriven (or planned on dry run).
    pub redriven: Vec<(u64, String, u32)>,
    /// DLQ offsets left in place because they hit the redrive cap.
    pub capped: Vec<u64>,
    /// (DLQ offset, why) of records left in place, unmarked, because the
    /// target topic's contract today refuses them (a `reject` or `dlq`
    /// verdict): a later run tries them again.
    pub refused: Vec<(u64, String)>,
}

const MARK_VERSION: u8 = 1;

fn encode_mark(source_topic: &str, dlq_offset: u64, mark: &RedriveMark) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(MARK_VERSION).short_str(source_topic).u64(dlq_offset);
    e.short_str(&mark.topic).u32(mark.partition).i64(mark.redriven_at_ms);
    e.seal_with_crc()
}

fn decode_mark(bytes: &[u8]) -> Option<(String, u64, RedriveMark)> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u8()? != MARK_VERSION {
        return None;
    }
    let (source_topic, dlq_offset) = (d.short_str()?, d.u64()?);
    let mark = RedriveMark {
        topic: d.short_str()?,
        partition: d.u32()?,
        redriven_at_ms: d.i64()?,
    };
    d.is_empty().then_some((source_topic, dlq_offset, mark))
}

impl Pipeline {
    /// `f` of the redrive marks, loaded from `__redriven` on first use.
    pub(super) fn redrive_marks<T>(&self, f: impl FnOnce(&mut MarkMap) -> T) -> Result<T> {
        let table = self.attempt_table();
        let mut loaded = table.redriven.lock();
        if loaded.is_none() {
            let mut map = MarkMap::new();
            if let Ok(p) = self.partition(REDRIVEN_TOPIC, 0) {
                let mut offset = p.start_offset();
                // Marks are written only by committed transactions (their
                // commit point is passed before any part is written).
                while offset < p.high_watermark() {
                    let r = p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
                    for rec in &r.records {
                        let (source_topic, dlq_offset, mark) = decode_mark(&rec.value).ok_or_else(|| {
                            Error::corruption(&p.dir, rec.offset, crate::error::CorruptionKind::BadRecord)
                        })?;
                        map.entry(source_topic).or_default().insert(dlq_offset, mark);
                    }
                    if r.next_offset <= offset {
                        break;
                    }
                    offset = r.next_offset;
                }
            }
            *loaded = Some(map);
        }
        Ok(f(loaded.get_or_insert_with(MarkMap::new)))
    }

    /// The mark of DLQ record `dlq_offset` of `topic`, if it was redriven.
    pub(super) fn redrive_mark(&self, topic: &str, dlq_offset: u64) -> Result<Option<RedriveMark>> {
        self.redrive_marks(|m| m.get(topic).and_then(|marks| marks.get(&dlq_offset)).cloned())
    }

    /// Durably forget the DLQ bookkeeping of a deleted topic: the redrive
    /// marks of its DLQ (`__redriven`), its records' failure counts
    /// (`__attempts`) and the in-memory index of its DLQ. Marks and counts
    /// are keyed by topic name and offset, and a topic created again under
    /// the name restarts its DLQ and its offsets at 0: an old mark would hide
    /// a new dead letter from the depth and from redrive, an old count would
    /// dead-letter a record early. Called once the DLQ itself is gone (never
    /// before: a mark dropped while its DLQ record exists would let it be
    /// redriven twice) by `delete_topic`, and again by `create_topic` before
    /// the new topic exists, so that a delete interrupted before this step
    /// is finished first. Each log is rewritten with the entries it keeps,
    /// then its prefix dropped (`rewrite_internal_log`): a crash in between
    /// keeps every entry (the forgotten ones too, until the next call).
    pub(crate) fn forget_dlq_bookkeeping(&self, topic: &str) -> Result<()> {
        self.forget_dlq_bookkeeping_of(&[topic], true).map(|_| ())
    }

    /// [`Pipeline::forget_dlq_bookkeeping`] of several deleted topics at
    /// once, each log rewritten at most once (nothing written when none of
    /// them has marks or counts). Not `durable` (a read-only open): dropped
    /// from this view only, the next writable open forgets them durably.
    /// Returns how many marks and counts were forgotten.
    pub(crate) fn forget_dlq_bookkeeping_of(&self, topics: &[&str], durable: bool) -> Result<usize> {
        let table = self.attempt_table();
        {
            let mut indexes = table.dead_lettered.lock();
            for topic in topics {
                indexes.remove(*topic);
            }
        }
        let mut forgotten = 0;
        {
            let _running = table.redrive_running.lock();
            let kept = self.redrive_marks(|m| {
                topics.iter().any(|topic| m.contains_key(*topic)).then(|| {
                    m.iter()
                        .filter(|(source, _)| !topics.contains(&source.as_str()))
                        .flat_map(|(source, marks)| {
                            marks
                                .iter()
                                .map(|(offset, mark)| Record::new(encode_mark(source, *offset, mark)))
                        })
                        .collect::<Vec<Record>>()
                })
            })?;
            if let Some(kept) = kept {
                if durable {
                    self.rewrite_internal_log(REDRIVEN_TOPIC, &kept)?;
                }
                let marks = self.redrive_marks(|m| {
                    topics
                        .iter()
                        .filter_map(|topic| m.remove(*topic))
                        .map(|marks| marks.len())
                        .sum::<usize>()
                })?;
                tracing::info!(
                    ?topics,
                    forgotten = marks,
                    durable,
                    "forgot the redrive marks of deleted topics' DLQs"
                );
                forgotten += marks;
            }
        }
        let _writing = table.attempts_writing.write();
        let kept = self.attempts_map(|m| {
            m.keys().any(|key| topics.contains(&key.1.as_str())).then(|| {
                m.iter()
                    .filter(|(key, _)| !topics.contains(&key.1.as_str()))
                    .map(|(key, attempts)| Record::new(encode_attempt(key, attempts)))
                    .collect::<Vec<Record>>()
            })
        })?;
        if let Some(kept) = kept {
            if durable {
                self.rewrite_internal_log(ATTEMPTS_TOPIC, &kept)?;
            }
            let counts = self.attempts_map(|m| {
                let before = m.len();
                m.retain(|key, _| !topics.contains(&key.1.as_str()));
                before - m.len()
            })?;
            tracing::info!(
                ?topics,
                forgotten = counts,
                durable,
                "forgot the failure counts of deleted topics"
            );
            forgotten += counts;
        }
        Ok(forgotten)
    }

    /// Replace what internal log `topic` holds by `records`: append them
    /// after a roll, then move the start past everything before them. A
    /// crash before the start moves keeps the old entries in front of the
    /// new ones (a reader applies both, later wins); the caller keeps writers
    /// of the log out meanwhile.
    fn rewrite_internal_log(&self, topic: &str, records: &[Record]) -> Result<()> {
        let p = self.partition(topic, 0)?;
        let end = p.high_watermark();
        // Seal the segment holding the old entries so that moving the start
        // past them deletes them from disk, not only from view.
        p.roll_now()?;
        for chunk in records.chunks(1000) {
            p.append(chunk, None, 0)?;
        }
        p.truncate_prefix(end)?;
        Ok(())
    }

    /// [`DeadLetterQueue::redrive`](super::DeadLetterQueue::redrive) of `topic`.
    #[expect(
        clippy::too_many_lines,
        reason = "debt: one redrive pass, read, mark and commit in one transaction"
    )]
    pub fn dlq_redrive(&self, topic: &str, options: &RedriveOptions) -> Result<RedriveReport> {
        crate::names::refuse_internal_topic(topic)?;
        self.topic(topic)?;
        if options.batch_records == 0 {
            return Err(Error::invalid("batch_records", "must be at least 1"));
        }
        if let Some(target) = &options.target_topic {
            // Records are redriven into user topics only (each record's
            // target is also checked by the transaction's `append`).
            crate::names::refuse_internal_topic(target)?;
            self.topic(target)?;
        }
        let dlq = dlq_topic_name(topic);
        let group = format!(
            "{}{}",
            crate::names::REDRIVE_PREFIX,
            options.target_topic.as_deref().unwrap_or(topic)
        );
        let Some(p) = self.internal_log(&dlq)? else {
            return Ok(RedriveReport::default());
        };
        let start = match options.from_offset {
            Some(from) => from,
            None => self.groups().committed_offset(&group, &dlq, 0)?.unwrap_or(0),
        }
        .max(p.start_offset());
        let mut report = RedriveReport {
            resumed_from: start,
            next_offset: start,
            ..RedriveReport::default()
        };
        let _running = (!options.dry_run).then(|| self.attempt_table().redrive_running.lock());
        let producer = if options.dry_run {
            None
        } else {
            self.catalog().ensure_internal_topic(REDRIVEN_TOPIC)?;
            let session = self.producers().init_producer_internal(&group)?;
            Some(session.id())
        };
        let started = Instant::now();
        let mut done: u64 = 0;
        let mut offset = start;
        let end = p.last_stable_offset();
        while offset < end && options.max_records.is_none_or(|m| done < m) {
            let want = options
                .batch_records
                .min(options.max_records.map_or(usize::MAX, |m| (m - done) as usize));
            let r = p.read(
                offset,
                ReadOptions {
                    max_bytes: 4 * 1024 * 1024,
                    max_records: want,
                },
                Isolation::ReadCommitted,
            )?;
            if r.records.is_empty() {
                break;
            }
            let mut txn = match producer {
                Some(producer) => Some(self.begin_transaction(producer)?),
                None => None,
            };
            let mut next = offset;
            let mut marks = Vec::new();
            for rec in &r.records {
                next = rec.offset + 1;
                if self.redrive_mark(topic, rec.offset)?.is_some() {
                    continue;
                }
                done += 1;
                let Some(letter) = DeadLetter::from_stored(rec) else {
                    report.capped.push(rec.offset);
                    continue;
                };
                if letter.redrive_count >= options.redrive_cap {
                    report.capped.push(rec.offset);
                    continue;
                }
                let target = options
                    .target_topic
                    .clone()
                    .unwrap_or_else(|| letter.source_topic.clone());
                let partitions = self.partition_count(&target)?;
                let target_partition = letter.source_partition % partitions.max(1);
                let mut record = letter.record.clone();
                record.headers.push((
                    header::REDRIVE_COUNT.to_string(),
                    (letter.redrive_count + 1).to_string().into_bytes(),
                ));
                // Checked against the target's contract of today: a record it
                // refuses or would dead-letter again stays here, unmarked.
                let record = [record];
                match super::route::judge_request(self.checks(), &target, target_partition, &record, "redrive") {
                    Ok(routing) if routing.letters.is_empty() => {}
                    Ok(routing) => {
                        let why = routing.first_letter().map_or_else(
                            || "the contract sends it to the DLQ".to_string(),
                            |e| format!("{e} (the rule's action is dlq)"),
                        );
                        report.refused.push((rec.offset, why));
                        continue;
                    }
                    Err(e @ Error::ContractViolation { .. }) => {
                        report.refused.push((rec.offset, e.to_string()));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                if let Some(txn) = txn.as_mut() {
                    let mark = RedriveMark {
                        topic: target.clone(),
                        partition: target_partition,
                        redriven_at_ms: now_ms(),
                    };
                    // Judged above: staged as it is.
                    txn.append_internal(&target, target_partition, &record)?;
                    txn.append_internal(REDRIVEN_TOPIC, 0, &[Record::new(encode_mark(topic, rec.offset, &mark))])?;
                    marks.push((rec.offset, mark));
                }
                report.redriven.push((rec.offset, target, target_partition));
            }
            if let Some(mut txn) = txn {
                txn.commit_offset_internal(&group, &dlq, 0, next)?;
                txn.commit()?;
                self.redrive_marks(|m| m.entry(topic.to_string()).or_default().extend(marks))?;
            }
            offset = next;
            report.next_offset = next;
            if let Some(rate) = options.rate_per_second.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(done as f64 / f64::from(rate));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        Ok(report)
    }
}

//! Failure counts: `__attempts` holds one durable count per (group, topic,
//! partition, offset) a stage failed, so that `fail_record` retries a record
//! up to its limit and then dead-letters it, across restarts.

use super::*;

pub(super) fn encode_attempt(key: &AttemptKey, attempts: &Attempts) -> Vec<u8> {
    let mut e = Encoder::new();
    e.short_str(&key.0).short_str(&key.1).u32(key.2).u64(key.3);
    e.u32(attempts.count)
        .i64(attempts.first_failure_ms)
        .i64(attempts.last_failure_ms);
    e.seal_with_crc()
}

fn decode_attempt(bytes: &[u8]) -> Option<(AttemptKey, Attempts)> {
    let mut d = Decoder::with_crc(bytes)?;
    let key = (d.short_str()?, d.short_str()?, d.u32()?, d.u64()?);
    let attempts = Attempts {
        count: d.u32()?,
        first_failure_ms: d.i64()?,
        last_failure_ms: d.i64()?,
    };
    d.is_empty().then_some((key, attempts))
}

impl Pipeline {
    pub(super) fn attempts_map<T>(&self, f: impl FnOnce(&mut HashMap<AttemptKey, Attempts>) -> T) -> Result<T> {
        let table = self.attempt_table();
        let mut loaded = table.loaded.lock();
        if loaded.is_none() {
            let mut map = HashMap::new();
            if let Some(p) = self.internal_log(ATTEMPTS_TOPIC)? {
                let mut offset = p.start_offset();
                while offset < p.high_watermark() {
                    let r = p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
                    for rec in &r.records {
                        let (key, attempts) = decode_attempt(&rec.value).ok_or_else(|| {
                            Error::corruption(&p.dir, rec.offset, crate::error::CorruptionKind::BadRecord)
                        })?;
                        map.insert(key, attempts);
                    }
                    if r.next_offset <= offset {
                        break;
                    }
                    offset = r.next_offset;
                }
            }
            *loaded = Some(map);
        }
        Ok(f(loaded.get_or_insert_with(HashMap::new)))
    }

    /// Durably count one failed attempt at processing a record.
    pub fn record_failure(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<Attempts> {
        crate::consumer::offsets::check_client_commit(group, topic)?;
        self.partition(topic, partition)?;
        self.catalog().ensure_internal_topic(ATTEMPTS_TOPIC)?;
        let _writing = self.attempt_table().attempts_writing.read();
        let key: AttemptKey = (group.to_string(), topic.to_string(), partition, offset);
        let now = now_ms();
        let attempts = self.attempts_map(|m| {
            m.get(&key).map_or(
                Attempts {
                    count: 1,
                    first_failure_ms: now,
                    last_failure_ms: now,
                },
                |a| Attempts {
                    count: a.count + 1,
                    first_failure_ms: a.first_failure_ms,
                    last_failure_ms: now,
                },
            )
        })?;
        self.partition(ATTEMPTS_TOPIC, 0)?
            .append(&[Record::new(encode_attempt(&key, &attempts))], None, 0)?;
        self.attempts_map(|m| m.insert(key, attempts))?;
        Ok(attempts)
    }

    /// Failures counted so far for a record.
    pub fn attempts(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<Option<Attempts>> {
        let key: AttemptKey = (group.to_string(), topic.to_string(), partition, offset);
        self.attempts_map(|m| m.get(&key).copied())
    }

    /// The DLQ offset of `group`'s dead letter of `topic`/`partition` at
    /// `offset`, if the group dead-lettered that record (and it was not
    /// purged). Only a record with counted failures can have one: others
    /// are answered without reading the DLQ. The index of a DLQ (one entry
    /// per record) is built on first need and kept up to date from there.
    pub(crate) fn dead_lettered_at(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<Option<u64>> {
        if self.attempts(group, topic, partition, offset)?.is_none() {
            return Ok(None);
        }
        let Some(p) = self.internal_log(&dlq_topic_name(topic))? else {
            return Ok(None);
        };
        let mut indexes = self.attempt_table().dead_lettered.lock();
        let index = indexes.entry(topic.to_string()).or_default();
        let mut from = index.indexed_upto.max(p.start_offset());
        let end = p.last_stable_offset();
        while from < end {
            let r = p.read(from, ReadOptions::default(), Isolation::ReadCommitted)?;
            for rec in &r.records {
                if let Some(letter) = DeadLetter::from_stored(rec) {
                    if letter.source_offset != NO_SOURCE_OFFSET {
                        index
                            .letters
                            .entry((letter.group, letter.source_partition, letter.source_offset))
                            .or_insert(rec.offset);
                    }
                }
            }
            if r.next_offset <= from {
                break;
            }
            from = r.next_offset;
        }
        index.indexed_upto = from;
        let start = p.start_offset();
        Ok(index
            .letters
            .get(&(group.to_string(), partition, offset))
            .copied()
            .filter(|dlq_offset| *dlq_offset >= start))
    }

    /// [`DeadLetterQueue::fail_record`](super::DeadLetterQueue::fail_record) of `topic`, with the failure's fields.
    #[expect(
        clippy::too_many_arguments,
        reason = "debt: the record's coordinates and the failure, to become a parameter struct"
    )]
    pub fn fail_record(
        &self,
        producer: crate::ProducerId,
        group: &str,
        topic: &str,
        partition: u32,
        record: &StoredRecord,
        stage: &str,
        error_class: &str,
        error_message: &str,
        max_attempts: u32,
    ) -> Result<FailOutcome> {
        if max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        crate::consumer::offsets::check_client_commit(group, topic)?;
        if let Some(dlq_offset) = self.dead_lettered_at(group, topic, partition, record.offset)? {
            let attempts = self
                .attempts(group, topic, partition, record.offset)?
                .unwrap_or_else(Attempts::first_now);
            return Ok(FailOutcome::DeadLettered { dlq_offset, attempts });
        }
        let attempts = self.record_failure(group, topic, partition, record.offset)?;
        if attempts.count < max_attempts {
            return Ok(FailOutcome::Retry(attempts));
        }
        let consumed = crate::ConsumedRecord {
            topic: topic.to_string(),
            partition,
            record: record.clone(),
        };
        let mut txn = self.begin_transaction(producer)?;
        txn.stage_dead_letter(
            group,
            &consumed,
            &Failure::new(stage, error_class, error_message),
            attempts,
        )?;
        let next_record = match self.groups().committed_offset(group, topic, partition)? {
            Some(committed) => committed == record.offset,
            None => record.offset <= self.offsets(topic, partition)?.0,
        };
        if next_record {
            // Past the record, never back: a commit made since is kept.
            txn.advance_offset(group, topic, partition, record.offset + 1)?;
        }
        let info = txn.commit()?;
        let dlq = dlq_topic_name(topic);
        let dlq_offset = info.parts.iter().find(|p| p.topic == dlq).map_or(0, |p| p.base_offset);
        Ok(FailOutcome::DeadLettered { dlq_offset, attempts })
    }
}

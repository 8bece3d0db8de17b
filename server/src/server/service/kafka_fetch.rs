//! The long poll of a fetch over several partitions (the Kafka front's
//! Fetch): rounds of reads, each through [`Service::fetch`] without a wait,
//! until a round gathered enough or the wait is over. The waiting itself
//! (the store's change generation, the shutdown flag, the server's
//! `fetch_wait_max_ms`) stays here, as for the native front's fetch. Also
//! the marks and one record's timestamp ListOffsets answers with.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use millrace::{Isolation, ReadOptions, ScanMarks};

use super::{Service, ServiceResult, Session, LONG_POLL_SLICE};

impl Service {
    /// Run `round` until it returns true (it gathered enough), or until
    /// `max_wait_ms` (at most the server's `fetch_wait_max_ms`: a longer
    /// wait asked by a client is shortened, not refused) passed since the
    /// call, or the server shuts down. Between rounds, waits for records to
    /// become visible anywhere in the store. `round` runs at least once and
    /// should read with `max_wait_ms` 0; its last run is the answer.
    pub fn long_poll(&self, max_wait_ms: u32, mut round: impl FnMut() -> bool) {
        let started = Instant::now();
        let wait = Duration::from_millis(u64::from(max_wait_ms.min(self.fetch_wait_max_ms)));
        let deadline = started + wait;
        loop {
            // The generation before the data: no lost wake-up.
            let generation = self.store.generation();
            if round() {
                return;
            }
            let now = Instant::now();
            if now >= deadline || self.shutting_down.load(Ordering::Relaxed) {
                return;
            }
            self.store.wait_any(generation, deadline.min(now + LONG_POLL_SLICE));
        }
    }
}

impl Service {
    /// Whether `topic` stamps its records with the append time (Kafka's
    /// `LogAppendTime`); false for an unknown topic (its read fails anyway).
    pub fn log_append_time(&self, topic: &str) -> bool {
        matches!(self.store.timestamp_type(topic), Ok(millrace::TimestampType::LogAppend))
    }

    /// A partition's offsets (log start, high watermark, last stable
    /// offset) and, when `at` is given, the timestamp of the record at that
    /// offset (`None`: no record there).
    pub fn partition_marks(
        &self,
        session: &Session,
        topic: &str,
        partition: u32,
        at: Option<u64>,
    ) -> ServiceResult<(ScanMarks, Option<i64>)> {
        session.check_read(topic)?;
        let offset = match at {
            Some(offset) => offset,
            None => self.store.offsets(topic, partition)?.1,
        };
        let one = ReadOptions {
            max_bytes: 1,
            max_records: 1,
        };
        let mut timestamp = None;
        let marks = self
            .store
            .scan_with_marks(topic, partition, offset, one, Isolation::ReadUncommitted, |view| {
                timestamp = Some(view.timestamp_ms);
            })?;
        Ok((marks, timestamp))
    }
}

//! Records on either side: append, read (with a wait for the first
//! record), the offset of a timestamp, and waiting for anything new.

use super::{ReadOutcome, Target};
use crate::error::CliResult;
use millrace::{ReadOptions, Record};
use millrace_server::messages::{Fetch, Isolation, Position};
use std::time::{Duration, Instant};

impl Target {
    /// Append one batch; returns `(base_offset, next_offset)`.
    pub fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> CliResult<(u64, u64)> {
        match self {
            Target::Local(store) => {
                let info = store.append(topic, partition, &records)?;
                Ok((info.base_offset, info.next_offset))
            }
            Target::Remote(r) => {
                let produced = r.call(r.client.produce(topic, partition, records))?;
                Ok((produced.base_offset, produced.next_offset))
            }
        }
    }

    /// Earliest offset with a timestamp at or after `timestamp_ms`.
    pub fn offset_for_time(&self, topic: &str, partition: u32, timestamp_ms: i64) -> CliResult<Option<u64>> {
        match self {
            Target::Local(store) => Ok(store.offset_for_time(topic, partition, timestamp_ms)?),
            Target::Remote(r) => {
                let fetched = r.call(r.client.fetch_with(Fetch {
                    topic: topic.to_string(),
                    partition,
                    position: Position::Time(timestamp_ms),
                    max_bytes: 64 * 1024,
                    max_records: 1,
                    isolation: Isolation::ReadCommitted,
                    max_wait_ms: 0,
                }))?;
                Ok(fetched.records.first().map(|r| r.offset))
            }
        }
    }

    /// Read from `offset`; with `wait`, block up to that long for a first record.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
        wait: Option<Duration>,
    ) -> CliResult<ReadOutcome> {
        match self {
            Target::Local(store) => {
                if let Some(wait) = wait {
                    store.wait_for(topic, partition, offset, wait)?;
                }
                let options = ReadOptions {
                    max_records,
                    ..ReadOptions::default()
                };
                let result = store.read(topic, partition, offset, options)?;
                Ok(ReadOutcome {
                    records: result.records,
                    next_offset: result.next_offset,
                })
            }
            Target::Remote(r) => {
                let fetched = r.call(r.client.fetch_with(Fetch {
                    topic: topic.to_string(),
                    partition,
                    position: Position::Offset(offset),
                    max_bytes: 1024 * 1024,
                    max_records: u32::try_from(max_records).unwrap_or(u32::MAX),
                    isolation: Isolation::ReadCommitted,
                    max_wait_ms: wait.map_or(0, |w| u32::try_from(w.as_millis()).unwrap_or(u32::MAX)),
                }))?;
                Ok(ReadOutcome {
                    records: fetched.records,
                    next_offset: fetched.next_offset,
                })
            }
        }
    }

    /// Wait until something new may be readable anywhere (offline: the
    /// store's notifier; online: callers long-poll in `read` instead).
    pub fn wait_any(&self, generation: u64, deadline: Instant) {
        if let Target::Local(store) = self {
            store.wait_any(generation, deadline);
        }
    }

    pub fn generation(&self) -> u64 {
        match self {
            Target::Local(store) => store.generation(),
            Target::Remote(_) => 0,
        }
    }
}

//! The record scheme of the kill -9 harness, shared by the child appender
//! (`src/bin/crash_appender.rs`) and the parent test (`tests/kill9.rs`).
//!
//! Every record carries a unique id `r<run>-t<thread>-s<sequence>` as its key;
//! its value is a pseudo-random payload derived from the id and its header
//! `fnv` is the payload's hash, so any record found in the log can be checked
//! byte for byte without the parent having seen it acknowledged, and a
//! duplicated record shows up as a repeated id.
//!
//! The child prints one line per acknowledged batch:
//! `ACK <partition> <base_offset> <record_count> <checksum:016x> <id>,<id>,...`
//! where the checksum is [`batch_checksum`] over the batch's records.

use millrace::{Durability, Record, StoreOptions, TopicConfig};
use std::fmt;

pub const TOPIC: &str = "crash";
pub const PARTITIONS: u32 = 3;
/// Small segments, so that rolls happen many times per run.
pub const SEGMENT_BYTES: u64 = 32 * 1024;
/// Largest value the child writes; five of them fit one segment.
pub const VALUE_BYTES_MAX: usize = 4000;
pub const RECORDS_PER_BATCH_MAX: usize = 5;
const _: () = assert!(RECORDS_PER_BATCH_MAX * (VALUE_BYTES_MAX + 128) + 64 < SEGMENT_BYTES as usize);

pub fn topic_config() -> TopicConfig {
    TopicConfig {
        partitions: PARTITIONS,
        durability: Some(Durability::Always),
        segment_bytes: SEGMENT_BYTES,
        index_interval_bytes: 1024,
        ..TopicConfig::default()
    }
}

/// Both the child and the parent open the store like this.
pub fn store_options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        // Let group-commit waiters spin whatever this disk's fsync time, so
        // that the many-thread kill -9 run crashes them mid-spin.
        group_commit_spin: millrace::GROUP_COMMIT_SPIN_MAX,
        ..StoreOptions::default()
    }
}

/// splitmix64: a small deterministic generator (no `rand` dependency).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..bound` (`bound` > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// 64-bit FNV-1a, streaming.
#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xCBF2_9CE4_8422_2325)
    }
}

impl Fnv64 {
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::default();
    h.update(bytes);
    h.finish()
}

/// The unique id of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordId {
    pub run: u32,
    pub thread: u32,
    pub sequence: u64,
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}-t{}-s{}", self.run, self.thread, self.sequence)
    }
}

impl RecordId {
    pub fn parse(text: &str) -> Option<RecordId> {
        let mut parts = text.split('-');
        let run = parts.next()?.strip_prefix('r')?.parse().ok()?;
        let thread = parts.next()?.strip_prefix('t')?.parse().ok()?;
        let sequence = parts.next()?.strip_prefix('s')?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(RecordId { run, thread, sequence })
    }
}

/// The payload of record `id`: `len` bytes from a generator seeded by the id.
pub fn payload(id: &RecordId, len: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(fnv64(id.to_string().as_bytes()));
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

pub const PAYLOAD_HASH_HEADER: &str = "fnv";

pub fn make_record(id: &RecordId, value_len: usize) -> Record {
    let value = payload(id, value_len);
    let hash = fnv64(&value);
    Record::new(value)
        .with_key(id.to_string().into_bytes())
        .with_header(PAYLOAD_HASH_HEADER, hash.to_le_bytes().to_vec())
}

/// Checksum of the content (key, value, headers) of a sequence of records.
/// Lengths are hashed too, so moving bytes between fields changes it.
pub fn batch_checksum<'a>(
    records: impl IntoIterator<Item = (Option<&'a [u8]>, &'a [u8], &'a [(String, Vec<u8>)])>,
) -> u64 {
    let mut h = Fnv64::default();
    for (key, value, headers) in records {
        match key {
            Some(key) => {
                h.update(&(key.len() as u64).to_le_bytes());
                h.update(key);
            }
            None => h.update(&u64::MAX.to_le_bytes()),
        }
        h.update(&(value.len() as u64).to_le_bytes());
        h.update(value);
        h.update(&(headers.len() as u64).to_le_bytes());
        for (name, value) in headers {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&(value.len() as u64).to_le_bytes());
            h.update(value);
        }
    }
    h.finish()
}

/// One acknowledged batch, as printed by the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub partition: u32,
    pub base_offset: u64,
    pub record_count: u32,
    pub checksum: u64,
    pub ids: Vec<RecordId>,
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ACK {} {} {} {:016x} ",
            self.partition, self.base_offset, self.record_count, self.checksum
        )?;
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

impl Ack {
    /// Parse a line printed by the child (without its newline).
    pub fn parse(line: &str) -> Option<Ack> {
        let mut fields = line.split(' ');
        if fields.next()? != "ACK" {
            return None;
        }
        let partition = fields.next()?.parse().ok()?;
        let base_offset = fields.next()?.parse().ok()?;
        let record_count = fields.next()?.parse().ok()?;
        let checksum = u64::from_str_radix(fields.next()?, 16).ok()?;
        let ids = fields
            .next()?
            .split(',')
            .map(RecordId::parse)
            .collect::<Option<Vec<_>>>()?;
        if fields.next().is_some() || ids.len() != record_count as usize {
            return None;
        }
        Some(Ack {
            partition,
            base_offset,
            record_count,
            checksum,
            ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_line_roundtrip() {
        let ack = Ack {
            partition: 2,
            base_offset: 17,
            record_count: 2,
            checksum: 0xdead_beef,
            ids: vec![
                RecordId {
                    run: 3,
                    thread: 1,
                    sequence: 9,
                },
                RecordId {
                    run: 3,
                    thread: 1,
                    sequence: 10,
                },
            ],
        };
        assert_eq!(Ack::parse(&ack.to_string()), Some(ack));
        assert_eq!(Ack::parse("ACK 1 2"), None);
    }

    #[test]
    fn payload_is_deterministic() {
        let id = RecordId {
            run: 1,
            thread: 2,
            sequence: 3,
        };
        assert_eq!(payload(&id, 13), payload(&id, 13));
        assert_eq!(payload(&id, 13).len(), 13);
        assert_ne!(payload(&id, 16), payload(&RecordId { sequence: 4, ..id }, 16));
    }
}

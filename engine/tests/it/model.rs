//! Proves the store behaves like a plain in-memory log: proptest generates random
//! sequences of Append / Read (offset + byte and record budget) / TimeLookup /
//! Roll / Retention / ReleaseMemory (maps and sealed indexes) / TruncatePrefix /
//! Reopen / Crash on a two-partition topic
//! with small segments (Always mode, no background thread) and checks every
//! answer against a model (per partition: start offset and the records). A crash
//! is modelled on the real file system as: close the store (everything
//! acknowledged is fdatasync'd in Always mode), append one or two in-flight
//! batches encoded as a concurrent appender would have written them, cut the
//! file at a random byte at or after the durable end, reopen; whole in-flight
//! batches that survived the cut join the model, torn ones must vanish.
//! Cases: 128 by default, `PROPTEST_CASES` overrides.

use crate::common;

use common::{log_path, read_partition, scratch_dir, segment_bases};
use millrace::batch;
use millrace::{Durability, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use proptest::prelude::*;
use std::path::Path;

const TOPIC: &str = "m";
const PARTITIONS: u32 = 2;
const RETENTION_BYTES: u64 = 6000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    timestamp_ms: i64,
}

impl Rec {
    fn to_record(&self) -> Record {
        Record {
            key: self.key.clone(),
            value: self.value.clone(),
            headers: Vec::new(),
            timestamp_ms: Some(self.timestamp_ms),
            nulls: millrace::Nulls::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        partition: u32,
        records: Vec<Rec>,
    },
    Read {
        partition: u32,
        offset_pick: u64,
        max_bytes: usize,
        max_records: usize,
    },
    TimeLookup {
        partition: u32,
        timestamp_ms: i64,
    },
    Roll {
        partition: u32,
    },
    Retention,
    /// Give memory back: sealed segments' mapped pages and index entries.
    ReleaseMemory,
    TruncatePrefix {
        partition: u32,
        offset_pick: u64,
    },
    Reopen,
    Crash {
        partition: u32,
        in_flight: Vec<Vec<Rec>>,
        cut_pick: u64,
    },
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::collection::vec(any::<u8>(), 0..400),
        0i64..40,
    )
        .prop_map(|(key, value, timestamp_ms)| Rec {
            key,
            value,
            timestamp_ms,
        })
}

fn records() -> impl Strategy<Value = Vec<Rec>> {
    proptest::collection::vec(rec(), 1..4)
}

fn op() -> impl Strategy<Value = Op> {
    let partition = 0..PARTITIONS;
    prop_oneof![
        12 => (partition.clone(), records()).prop_map(|(partition, records)| Op::Append { partition, records }),
        4 => (partition.clone(), any::<u64>(), 1usize..2000, 1usize..20).prop_map(
            |(partition, offset_pick, max_bytes, max_records)| Op::Read {
                partition,
                offset_pick,
                max_bytes,
                max_records,
            }
        ),
        2 => (partition.clone(), -1i64..42).prop_map(|(partition, timestamp_ms)| Op::TimeLookup {
            partition,
            timestamp_ms
        }),
        1 => partition.clone().prop_map(|partition| Op::Roll { partition }),
        1 => Just(Op::Retention),
        1 => Just(Op::ReleaseMemory),
        1 => (partition.clone(), any::<u64>()).prop_map(|(partition, offset_pick)| Op::TruncatePrefix {
            partition,
            offset_pick
        }),
        1 => Just(Op::Reopen),
        2 => (partition, proptest::collection::vec(records(), 1..3), any::<u64>()).prop_map(
            |(partition, in_flight, cut_pick)| Op::Crash {
                partition,
                in_flight,
                cut_pick,
            }
        ),
    ]
}

#[derive(Debug, Default, Clone)]
struct PartitionModel {
    start: u64,
    /// Record at offset i is `records[i]` (including ones below `start`).
    records: Vec<Rec>,
}

impl PartitionModel {
    fn end(&self) -> u64 {
        self.records.len() as u64
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn open(path: &Path) -> Store {
    Store::open(path, options()).unwrap_or_else(|e| panic!("open: {e}"))
}

fn check_everything(store: &Store, model: &[PartitionModel]) {
    for (p, m) in model.iter().enumerate() {
        let p = p as u32;
        assert_eq!(store.offsets(TOPIC, p).unwrap(), (m.start, m.end()), "offsets of {p}");
        let got = read_partition(store, TOPIC, p);
        let want = &m.records[m.start as usize..];
        assert_eq!(got.len(), want.len(), "records of {p}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                (&g.key, &g.value, g.timestamp_ms),
                (&w.key, &w.value, w.timestamp_ms),
                "record {} of {p}",
                g.offset
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let dir = scratch_dir();
    let mut store = open(dir.path());
    store
        .create_topic(
            TOPIC,
            TopicConfig {
                partitions: PARTITIONS,
                segment_bytes: 4096,
                index_interval_bytes: 256,
                retention_bytes: Some(RETENTION_BYTES),
                ..TopicConfig::default()
            },
        )
        .unwrap();
    let mut model = vec![PartitionModel::default(); PARTITIONS as usize];
    for op in ops {
        match op {
            Op::Append { partition, records } => {
                let m = &mut model[partition as usize];
                let batch: Vec<Record> = records.iter().map(Rec::to_record).collect();
                let info = store.append(TOPIC, partition, &batch).unwrap();
                assert_eq!(info.base_offset, m.end());
                assert_eq!(info.next_offset, m.end() + records.len() as u64);
                m.records.extend(records);
            }
            Op::Read {
                partition,
                offset_pick,
                max_bytes,
                max_records,
            } => {
                let m = &model[partition as usize];
                let offset = offset_pick % (m.end() + 3);
                let result = store.read(TOPIC, partition, offset, ReadOptions { max_bytes, max_records });
                if offset < m.start || offset > m.end() {
                    assert!(
                        matches!(result, Err(Error::OffsetOutOfRange { requested, .. }) if requested == offset),
                        "read at {offset} outside [{}, {}]: {result:?}",
                        m.start,
                        m.end()
                    );
                    continue;
                }
                let r = result.unwrap();
                assert_eq!((r.log_start_offset, r.high_watermark), (m.start, m.end()));
                let available = &m.records[offset as usize..];
                let n = r.records.len();
                assert_eq!(r.next_offset, offset + n as u64);
                assert!(n <= max_records, "{n} records > budget {max_records}");
                assert_eq!(
                    n == 0,
                    available.is_empty(),
                    "at least one record when any is available"
                );
                for (i, (g, w)) in r.records.iter().zip(available).enumerate() {
                    assert_eq!(g.offset, offset + i as u64);
                    assert_eq!((&g.key, &g.value, g.timestamp_ms), (&w.key, &w.value, w.timestamp_ms));
                }
                let size = |recs: &[Rec], overhead: usize| -> usize {
                    recs.iter()
                        .map(|r| r.value.len() + r.key.as_ref().map_or(0, Vec::len) + overhead)
                        .sum()
                };
                // Not over budget: everything before the last record fits.
                assert!(size(&available[..n.saturating_sub(1)], 0) < max_bytes.max(1));
                // Not stopped early without reason.
                if n < available.len() && n < max_records {
                    assert!(
                        size(&available[..n], 64) >= max_bytes,
                        "stopped at {n} records, under budget"
                    );
                }
            }
            Op::TimeLookup {
                partition,
                timestamp_ms,
            } => {
                let m = &model[partition as usize];
                let expected = (m.start..m.end()).find(|o| m.records[*o as usize].timestamp_ms >= timestamp_ms);
                assert_eq!(
                    store.offset_for_time(TOPIC, partition, timestamp_ms).unwrap(),
                    expected,
                    "offset_for_time({timestamp_ms}) on {partition}"
                );
            }
            Op::Roll { partition } => store.roll(TOPIC, partition).unwrap(),
            Op::ReleaseMemory => {
                store.release_mapped_pages();
                store.release_sealed_indexes();
            }
            Op::Retention => {
                store.enforce_retention().unwrap();
                let description = store.describe_topic(TOPIC).unwrap();
                for (p, m) in model.iter_mut().enumerate() {
                    let (start, end) = store.offsets(TOPIC, p as u32).unwrap();
                    assert_eq!(end, m.end());
                    assert!(
                        start >= m.start && start <= end,
                        "start {start} in [{}, {end}]",
                        m.start
                    );
                    m.start = start;
                    let info = &description.partitions[p];
                    assert!(
                        info.bytes <= RETENTION_BYTES || info.segments == 1,
                        "retention by size left {info:?}"
                    );
                }
            }
            Op::TruncatePrefix { partition, offset_pick } => {
                let m = &mut model[partition as usize];
                let offset = offset_pick % (m.end() + 1);
                let start = store.truncate_prefix(TOPIC, partition, offset).unwrap();
                // Size retention runs as part of it, so the start may move further.
                assert!(
                    start >= m.start.max(offset) && start <= m.end(),
                    "truncate_prefix({offset}) -> {start}, model start {} end {}",
                    m.start,
                    m.end()
                );
                m.start = start;
                assert_eq!(store.offsets(TOPIC, partition).unwrap(), (m.start, m.end()));
            }
            Op::Reopen => {
                drop(store);
                store = open(dir.path());
                check_everything(&store, &model);
            }
            Op::Crash {
                partition,
                in_flight,
                cut_pick,
            } => {
                drop(store);
                let m = &mut model[partition as usize];
                let base = *segment_bases(dir.path(), TOPIC, partition).last().unwrap();
                let path = log_path(dir.path(), TOPIC, partition, base);
                let mut bytes = std::fs::read(&path).unwrap();
                let durable = bytes.len();
                // Batches written by concurrent appenders before their shared
                // fdatasync: each knew the log durable up to `durable`.
                let mut ends = Vec::new();
                let mut next = m.end();
                for records in &in_flight {
                    let batch: Vec<Record> = records.iter().map(Rec::to_record).collect();
                    batch::encode(&mut bytes, next, &batch, 0, None, 0, durable as u32);
                    next += records.len() as u64;
                    ends.push(bytes.len());
                }
                let cut = durable + (cut_pick % (bytes.len() - durable + 1) as u64) as usize;
                bytes.truncate(cut);
                std::fs::write(&path, &bytes).unwrap();
                for (records, end) in in_flight.into_iter().zip(ends) {
                    if end <= cut {
                        m.records.extend(records);
                    }
                }
                store = open(dir.path());
                check_everything(&store, &model);
            }
        }
    }
    check_everything(&store, &model);
    drop(store);
    let store = open(dir.path());
    check_everything(&store, &model);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

//! Reads of damaged partitions, through the engine's API (`Store::read`,
//! `Store::scan`, `Store::read_batches`, `Scanner`): the records before a
//! corrupt batch are returned and the error goes to the read that starts at
//! the damage (in a sealed, memory-mapped segment and in the active one); and
//! derived metadata that disagrees with the log (an index entry pointing at
//! another batch, inside a batch or with an understated offset; a sealed
//! segment's end entry; the end entry of a last segment) is dropped, counted
//! in `derived_metadata_rejected`, and never makes a read skip records or an
//! append reuse offsets. Each test writes real segments through the engine,
//! closes the store, damages one file, and reopens.

use crate::common;

use common::{batch_layout, index_path, log_path, read_partition, scratch_dir, segment_bases};
use millrace::index::{IndexEntry, ENTRY_SIZE};
use millrace::{Durability, Error, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;

const TOPIC: &str = "t";
const RECORDS: u64 = 120;

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

/// 120 records `record-NNN` in batches of 4 (each batch 192 bytes), an
/// index entry every 256 bytes; `segment_bytes` 4096 seals the first
/// segment at offset 84, a large one keeps everything in the active segment.
fn store_with_records(data: &Path, segment_bytes: u64) {
    let store = Store::open(data, options()).unwrap();
    let config = TopicConfig {
        partitions: 1,
        segment_bytes,
        index_interval_bytes: 256,
        ..TopicConfig::default()
    };
    store.create_topic(TOPIC, config).unwrap();
    for batch in 0..RECORDS / 4 {
        let records: Vec<Record> = (batch * 4..batch * 4 + 4)
            .map(|i| Record::new(format!("record-{i:03}").into_bytes()).with_timestamp(1_000 + i as i64))
            .collect();
        store.append(TOPIC, 0, &records).unwrap();
    }
    store.close().unwrap();
}

/// Byte position of the batch holding `offset` in segment 0.
fn batch_position(data: &Path, offset: u64) -> u64 {
    let bytes = std::fs::read(log_path(data, TOPIC, 0, 0)).unwrap();
    let (position, _) = batch_layout(&bytes)
        .into_iter()
        .find(|(_, h)| h.base_offset <= offset && offset < h.base_offset + u64::from(h.record_count))
        .unwrap();
    position as u64
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn values(records: &[millrace::StoredRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone()).unwrap())
        .collect()
}

fn expected(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| format!("record-{i:03}")).collect()
}

fn assert_corruption_at(error: Error, data: &Path, at: u64) {
    match error {
        Error::Corruption { segment, position, .. } => {
            assert_eq!(segment, log_path(data, TOPIC, 0, 0));
            assert_eq!(position, at);
        }
        other => panic!("expected corruption at {at}, got {other:?}"),
    }
}

fn reads_stop_at_the_damage(segment_bytes: u64) {
    let tmp = scratch_dir();
    let data = tmp.path();
    store_with_records(data, segment_bytes);
    let damaged_at = batch_position(data, 24);
    flip_byte(&log_path(data, TOPIC, 0, 0), damaged_at + 100);
    let store = Store::open(data, options()).unwrap();

    let read = store.read(TOPIC, 0, 0, ReadOptions::default()).unwrap();
    assert_eq!(values(&read.records), expected(0..24));
    assert_eq!(read.next_offset, 24);
    assert_corruption_at(
        store.read(TOPIC, 0, 24, ReadOptions::default()).unwrap_err(),
        data,
        damaged_at,
    );

    let mut scanned = Vec::new();
    let next = store
        .scan(TOPIC, 0, 10, ReadOptions::default(), Isolation::ReadCommitted, |r| {
            scanned.push(r.offset)
        })
        .unwrap();
    assert_eq!((scanned, next), ((10..24).collect::<Vec<u64>>(), 24));
    let (batches, next) = store.read_batches(TOPIC, 0, 0, ReadOptions::default(), None).unwrap();
    assert_eq!((batches.len(), next), (6, 24));

    let mut scanner = store.scanner(TOPIC, 0, 0, Isolation::ReadCommitted).unwrap();
    let mut count = 0;
    let small = ReadOptions {
        max_records: 10,
        ..ReadOptions::default()
    };
    assert_eq!(scanner.scan(small, |_| count += 1).unwrap(), 10);
    assert_eq!(scanner.scan(small, |_| count += 1).unwrap(), 20);
    assert_eq!(scanner.scan(small, |_| count += 1).unwrap(), 24);
    assert_corruption_at(scanner.scan(small, |_| count += 1).unwrap_err(), data, damaged_at);
    assert_eq!((count, scanner.offset()), (24, 24));
    store.close().unwrap();
}

#[test]
fn reads_return_the_records_before_a_corrupt_batch_in_a_sealed_segment() {
    reads_stop_at_the_damage(4096);
}

#[test]
fn reads_return_the_records_before_a_corrupt_batch_in_the_active_segment() {
    reads_stop_at_the_damage(1024 * 1024);
}

fn entries(path: &Path) -> Vec<IndexEntry> {
    let bytes = std::fs::read(path).unwrap();
    IndexEntry::decode_all(&bytes, u64::MAX)
}

fn write_entries(path: &Path, entries: &[IndexEntry]) {
    let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
    assert_eq!(bytes.len(), entries.len() * ENTRY_SIZE);
    std::fs::write(path, bytes).unwrap();
}

/// Replace the index entry of segment 0 for relative offset 24 with `wrong`
/// (given the original), keeping the file a valid-looking index.
fn rewrite_entry_24(data: &Path, wrong: impl Fn(IndexEntry) -> IndexEntry) {
    let path = index_path(data, TOPIC, 0, 0);
    let mut list = entries(&path);
    let i = list.iter().position(|e| e.relative_offset == 24).unwrap();
    list[i] = wrong(list[i]);
    write_entries(&path, &list);
    assert_eq!(entries(&path), list, "still a well-formed index");
}

fn wrong_entry_is_dropped(segment_bytes: u64, read_from: u64, wrong: impl Fn(IndexEntry) -> IndexEntry) {
    let tmp = scratch_dir();
    let data = tmp.path();
    store_with_records(data, segment_bytes);
    rewrite_entry_24(data, wrong);
    let store = Store::open(data, options()).unwrap();
    let options = ReadOptions {
        max_records: 8,
        ..ReadOptions::default()
    };
    let read = store.read(TOPIC, 0, read_from, options).unwrap();
    assert_eq!(values(&read.records), expected(read_from..read_from + 8));
    assert_eq!(store.metrics().derived_metadata_rejected, 1);
    // Dropped for good: the same read again rejects nothing more.
    let again = store.read(TOPIC, 0, read_from, options).unwrap();
    assert_eq!(values(&again.records), expected(read_from..read_from + 8));
    assert_eq!(store.metrics().derived_metadata_rejected, 1);
    assert_eq!(values(&read_partition(&store, TOPIC, 0)), expected(0..RECORDS));
    store.close().unwrap();
}

#[test]
fn an_index_entry_pointing_at_the_next_batch_is_dropped() {
    for segment_bytes in [4096, 1024 * 1024] {
        wrong_entry_is_dropped(segment_bytes, 24, |e| IndexEntry {
            position: e.position + 192,
            ..e
        });
    }
}

#[test]
fn an_index_entry_with_an_understated_offset_is_dropped() {
    for segment_bytes in [4096, 1024 * 1024] {
        wrong_entry_is_dropped(segment_bytes, 22, |e| IndexEntry {
            relative_offset: 20,
            ..e
        });
    }
}

#[test]
fn an_index_entry_inside_a_batch_is_dropped() {
    for segment_bytes in [4096, 1024 * 1024] {
        wrong_entry_is_dropped(segment_bytes, 24, |e| IndexEntry {
            position: e.position + 64,
            ..e
        });
    }
}

#[test]
fn a_sealed_segments_wrong_end_entry_is_rebuilt_from_the_log() {
    let tmp = scratch_dir();
    let data = tmp.path();
    store_with_records(data, 4096);
    assert_eq!(segment_bases(data, TOPIC, 0), vec![0, 84]);
    let path = index_path(data, TOPIC, 0, 0);
    let mut list = entries(&path);
    let end = list.last_mut().unwrap();
    assert_eq!(end.relative_offset, 84);
    end.relative_offset = 80;
    write_entries(&path, &list);
    let store = Store::open(data, options()).unwrap();
    assert_eq!(store.metrics().derived_metadata_rejected, 1);
    assert_eq!(store.offsets(TOPIC, 0).unwrap(), (0, RECORDS));
    assert_eq!(values(&read_partition(&store, TOPIC, 0)), expected(0..RECORDS));
    store.close().unwrap();
}

/// A segment whose end entry was written and whose successor is gone (a
/// crash between roll steps 2 and 5) is the last again: its end entry's
/// offset is not taken on trust, the log end comes from the batches, and
/// appends continue after the last record instead of reusing offsets.
#[test]
fn a_last_segments_end_entry_never_sets_the_log_end() {
    let tmp = scratch_dir();
    let data = tmp.path();
    store_with_records(data, 1024 * 1024);
    let store = Store::open(data, options()).unwrap();
    store.roll(TOPIC, 0).unwrap();
    store.close().unwrap();
    assert_eq!(segment_bases(data, TOPIC, 0), vec![0, RECORDS]);
    std::fs::remove_file(log_path(data, TOPIC, 0, RECORDS)).unwrap();
    std::fs::remove_file(index_path(data, TOPIC, 0, RECORDS)).unwrap();
    let path = index_path(data, TOPIC, 0, 0);
    let mut list = entries(&path);
    // Understated, but not below the entry before it (still well-formed).
    let before_end = list[list.len() - 2].relative_offset;
    let end = list.last_mut().unwrap();
    assert_eq!(end.relative_offset as u64, RECORDS);
    end.relative_offset = before_end + 1;
    assert!(u64::from(end.relative_offset) < RECORDS);
    write_entries(&path, &list);
    assert_eq!(entries(&path), list);

    let store = Store::open(data, options()).unwrap();
    assert_eq!(store.offsets(TOPIC, 0).unwrap(), (0, RECORDS));
    let at = store.append(TOPIC, 0, &[Record::new(b"next".to_vec())]).unwrap();
    assert_eq!(at.base_offset, RECORDS);
    let all = read_partition(&store, TOPIC, 0);
    assert_eq!(all.len() as u64, RECORDS + 1);
    store.close().unwrap();
}

/// `start.offset` past the log end of an `Always` partition: the high
/// watermark was durable when the start was written, so only damage puts
/// it there. It is not believed (the log starts at its first segment, the
/// file says so again), instead of hiding every record.
#[test]
fn a_start_offset_past_the_log_end_hides_no_record() {
    let tmp = scratch_dir();
    let data = tmp.path();
    store_with_records(data, 4096);
    let start_file = common::partition_dir(data, TOPIC, 0).join("start.offset");
    std::fs::write(&start_file, "200\n").unwrap();
    let store = Store::open(data, options()).unwrap();
    assert_eq!(store.offsets(TOPIC, 0).unwrap(), (0, RECORDS));
    assert_eq!(store.metrics().derived_metadata_rejected, 1);
    assert_eq!(values(&read_partition(&store, TOPIC, 0)), expected(0..RECORDS));
    store.close().unwrap();
    assert_eq!(std::fs::read_to_string(&start_file).unwrap().trim(), "0");
}

/// A producer snapshot with a valid CRC that remembers a batch at its own
/// offset (past the log it describes) is ignored and the state replayed
/// from the log: the producer resumes after its real last sequence, and its
/// next batch is written, not answered as a "duplicate" of a batch that
/// does not exist.
#[test]
fn a_producer_snapshot_past_its_offset_is_replaced_by_the_log() {
    use millrace::ProducerStamp;
    let tmp = scratch_dir();
    let data = tmp.path();
    let producer_id = {
        let store = Store::open(data, options()).unwrap();
        store.create_topic(TOPIC, TopicConfig::default()).unwrap();
        let id = store.init_producer("p").unwrap().producer_id;
        for i in 0..10u32 {
            let stamp = ProducerStamp {
                producer_id: id,
                epoch: 0,
                base_sequence: i * 2,
            };
            let records = [Record::new(vec![1]), Record::new(vec![2])];
            store.append_sequenced(TOPIC, 0, &records, stamp).unwrap();
        }
        store.close().unwrap();
        id
    };
    let dir = common::partition_dir(data, TOPIC, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "producers") {
            std::fs::remove_file(path).unwrap();
        }
    }
    // Layout: design/format.md, "Producer snapshot".
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"MRPS");
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&20u64.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&producer_id.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&0i64.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&20u32.to_le_bytes()); // base_sequence: the next one
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(&20u64.to_le_bytes()); // base_offset: the log end
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.join(format!("{:020}.producers", 20)), bytes).unwrap();

    let store = Store::open(data, options()).unwrap();
    let session = store.init_producer("p").unwrap();
    assert_eq!(session.last_sequences.get(&(TOPIC.to_string(), 0)), Some(&19));
    let stamp = ProducerStamp {
        producer_id,
        epoch: session.epoch,
        base_sequence: 20,
    };
    let next = store
        .append_sequenced(TOPIC, 0, &[Record::new(vec![3]), Record::new(vec![4])], stamp)
        .unwrap();
    assert_eq!((next.base_offset, next.duplicate), (20, false));
    assert_eq!(store.offsets(TOPIC, 0).unwrap(), (0, 22));
    assert_eq!(store.metrics().derived_metadata_rejected, 1);
    store.close().unwrap();
}

/// A `Consumer` over two partitions, one damaged at offset 24: every record
/// of the other partition and every record before the damage is delivered
/// exactly once (a poll that meets the damage after taking records from the
/// other partition returns them; the error comes with a later poll), and the
/// group commits up to the damage.
#[test]
fn a_consumer_gets_everything_before_the_damage() {
    use millrace::{Consumer, ConsumerOptions};
    let tmp = scratch_dir();
    let data = tmp.path();
    {
        let store = Store::open(data, options()).unwrap();
        let config = TopicConfig {
            partitions: 2,
            segment_bytes: 4096,
            index_interval_bytes: 256,
            ..TopicConfig::default()
        };
        store.create_topic(TOPIC, config).unwrap();
        for partition in 0..2 {
            for batch in 0..RECORDS / 4 {
                let records: Vec<Record> = (batch * 4..batch * 4 + 4)
                    .map(|i| Record::new(format!("record-{i:03}").into_bytes()))
                    .collect();
                store.append(TOPIC, partition, &records).unwrap();
            }
        }
        store.close().unwrap();
    }
    let damaged_log = common::partition_dir(data, TOPIC, 1).join(format!("{:020}.log", 0));
    flip_byte(&damaged_log, 6 * 192 + 100);

    let store = Store::open(data, options()).unwrap();
    let mut consumer = Consumer::new(
        &store,
        "g",
        ConsumerOptions {
            poll_records_max: 50,
            ..ConsumerOptions::default()
        },
    )
    .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut seen: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    let mut errors = 0;
    for _ in 0..20 {
        match consumer.poll(std::time::Duration::ZERO) {
            Ok(records) => {
                for r in records {
                    seen[r.partition as usize].push(r.record.offset);
                }
            }
            Err(Error::Corruption { segment, .. }) => {
                assert_eq!(segment, damaged_log);
                errors += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(errors > 0);
    assert_eq!(seen[0], (0..RECORDS).collect::<Vec<u64>>());
    assert_eq!(seen[1], (0..24).collect::<Vec<u64>>());
    consumer.commit().unwrap();
    assert_eq!(consumer.committed(TOPIC, 0).unwrap(), Some(RECORDS));
    assert_eq!(consumer.committed(TOPIC, 1).unwrap(), Some(24));
    drop(consumer);
    store.close().unwrap();
}

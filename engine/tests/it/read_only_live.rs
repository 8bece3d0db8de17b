//! `Store::open_read_only` inspects a store that a writer holds open (issue
//! 25 item 6), through the public API only: while a writer appends from
//! several threads, read-only opens succeed (they do not exclude each other),
//! report a live view, serve every record acknowledged before they opened,
//! in order and once, and none acknowledged after (the view is the store at
//! the open). Without a writer, a read-only open holds the lock shared: a
//! writer is refused until it closes.

use millrace::{Durability, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn read_all(store: &Store, topic: &str, partition: u32) -> Vec<Vec<u8>> {
    let (start, end) = store.offsets(topic, partition).unwrap();
    let mut values = Vec::new();
    let mut offset = start;
    while offset < end {
        let read = store.read(topic, partition, offset, ReadOptions::default()).unwrap();
        values.extend(read.records.into_iter().map(|r| r.value));
        offset = read.next_offset;
    }
    values
}

#[test]
fn read_only_opens_inspect_a_store_a_writer_holds_and_appends_to() {
    for durability in [Durability::Always, Durability::Os] {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            durability,
            ..StoreOptions::default()
        };
        let writer = Store::open(dir.path(), options.clone()).unwrap();
        writer.create_topic("t", TopicConfig::with_partitions(2)).unwrap();
        for i in 0..20u32 {
            writer
                .append("t", i % 2, &[Record::new(format!("before-{i}"))])
                .unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let appenders: Vec<_> = (0..2u32)
            .map(|partition| {
                let (writer, stop) = (writer.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) && n < 3000 {
                        writer
                            .append("t", partition, &[Record::new(format!("during-{partition}-{n}"))])
                            .unwrap();
                        n += 1;
                    }
                })
            })
            .collect();
        for _ in 0..5 {
            let acknowledged: Vec<(u64, u64)> = (0..2).map(|p| writer.offsets("t", p).unwrap()).collect();
            let view = Store::open_read_only(dir.path(), options.clone()).unwrap();
            let second = Store::open_read_only(dir.path(), options.clone()).unwrap();
            assert!(view.is_live_view() && second.is_live_view());
            for p in 0..2u32 {
                let values = read_all(&view, "t", p);
                // Everything acknowledged before the open, in order, once.
                let (_, end) = acknowledged[p as usize];
                assert!(values.len() as u64 >= end, "partition {p}: {} < {end}", values.len());
                let before: Vec<Vec<u8>> = (0..20u32)
                    .filter(|i| i % 2 == p)
                    .map(|i| format!("before-{i}").into_bytes())
                    .collect();
                assert_eq!(values[..10], before[..]);
                let during: Vec<String> = values[10..]
                    .iter()
                    .map(|v| String::from_utf8(v.clone()).unwrap())
                    .collect();
                for (n, value) in during.iter().enumerate() {
                    assert_eq!(value, &format!("during-{p}-{n}"));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for appender in appenders {
            appender.join().unwrap();
        }
        writer.close().unwrap();

        // No writer: the read-only open holds the lock shared.
        let view = Store::open_read_only(dir.path(), options.clone()).unwrap();
        assert!(!view.is_live_view());
        assert!(matches!(
            Store::open(dir.path(), options.clone()),
            Err(Error::Locked { .. })
        ));
        drop(view);
        Store::open(dir.path(), options).unwrap().close().unwrap();
    }
}

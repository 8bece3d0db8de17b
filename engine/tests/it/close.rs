//! `Store::close` never lets a second writer in: clones of the store used on
//! several threads (plain appends, a `Producer`, a `Consumer` committing)
//! answer `Error::Closed` to every call that starts after `close` returned,
//! a second `Store::open` of the directory then writes alone, and every
//! append acknowledged before the close is in the log exactly once after a
//! reopen.
use millrace::{
    Consumer, ConsumerOptions, Durability, Error, Producer, ReadOptions, Record, Store, StoreOptions, TopicConfig,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        ..StoreOptions::default()
    }
}

/// What one writer thread saw: acknowledged (offset, value) pairs, calls that
/// started after `close` returned and still succeeded, and the error it
/// stopped on.
#[derive(Debug, Default)]
struct Seen {
    acknowledged: Vec<(u64, Vec<u8>)>,
    succeeded_after_close: u64,
    stopped_on: Option<String>,
}

fn writer(kind: usize, store: Store, closed: Arc<AtomicBool>, appends: Arc<AtomicU64>) -> Seen {
    let mut seen = Seen::default();
    let mut producer = (kind == 1).then(|| Producer::init(&store, "writer").unwrap());
    let mut consumer = (kind == 3).then(|| {
        let mut c = Consumer::new(&store, "g", ConsumerOptions::default()).unwrap();
        c.subscribe(&["t"]).unwrap();
        c
    });
    let mut after_close = 0u64;
    for n in 0..1_000_000u64 {
        let started_after_close = closed.load(Ordering::Acquire);
        if started_after_close {
            after_close += 1;
            if after_close > 200 {
                break;
            }
        }
        let value = format!("w{kind}-{n}").into_bytes();
        let result = match (&mut producer, &mut consumer) {
            (Some(p), _) => p
                .send("t", 0, &[Record::new(value.clone())])
                .map(|a| Some(a.base_offset)),
            (_, Some(c)) => c.poll(Duration::ZERO).and_then(|_| c.commit()).map(|()| None),
            _ => store
                .append("t", 0, &[Record::new(value.clone())])
                .map(|a| Some(a.base_offset)),
        };
        match result {
            Ok(offset) => {
                if started_after_close {
                    seen.succeeded_after_close += 1;
                }
                if let Some(offset) = offset {
                    seen.acknowledged.push((offset, value));
                    appends.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                seen.stopped_on = Some(format!("{e:?}"));
                assert!(matches!(e, Error::Closed), "writer {kind} stopped on {e:?}, not Closed");
                break;
            }
        }
    }
    seen
}

#[test]
fn close_closes_every_clone_and_no_second_writer_loses_an_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let closed = Arc::new(AtomicBool::new(false));
    let appends = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|kind| {
            let (store, closed, appends) = (store.clone(), closed.clone(), appends.clone());
            std::thread::spawn(move || writer(kind, store, closed, appends))
        })
        .collect();
    while appends.load(Ordering::Relaxed) < 200 {
        std::thread::yield_now();
    }
    let scanner_store = store.clone();
    let mut scanner = scanner_store
        .scanner("t", 0, 0, millrace::Isolation::ReadCommitted)
        .unwrap();
    store.close().unwrap();
    closed.store(true, Ordering::Release);
    assert!(scanner_store.is_closed());
    assert!(matches!(
        scanner.scan(ReadOptions::default(), |_| {}),
        Err(Error::Closed)
    ));
    assert!(matches!(scanner_store.init_producer("late"), Err(Error::Closed)));
    assert!(matches!(
        scanner_store.create_topic("late", TopicConfig::default()),
        Err(Error::Closed)
    ));

    // The lock is released: a second writer opens and writes.
    let second = Store::open(dir.path(), options()).unwrap();
    let (_, end) = second.offsets("t", 0).unwrap();
    let extra = second.append("t", 0, &[Record::new(b"second".to_vec())]).unwrap();
    assert_eq!(extra.base_offset, end);

    let mut acknowledged = Vec::new();
    for (kind, thread) in threads.into_iter().enumerate() {
        let seen = thread.join().unwrap();
        assert_eq!(
            seen.succeeded_after_close, 0,
            "writer {kind}: calls after close succeeded ({:?})",
            seen.stopped_on
        );
        assert!(seen.stopped_on.is_some(), "writer {kind} never got Closed");
        acknowledged.extend(seen.acknowledged);
    }
    assert!(!acknowledged.is_empty());
    drop(scanner);
    drop(scanner_store);
    second.close().unwrap();

    let store = Store::open(dir.path(), options()).unwrap();
    let (_, end) = store.offsets("t", 0).unwrap();
    let read = store
        .read(
            "t",
            0,
            0,
            ReadOptions {
                max_bytes: 64 << 20,
                max_records: 1_000_000,
            },
        )
        .unwrap();
    assert_eq!(read.records.len() as u64, end, "offsets are dense");
    for (offset, value) in &acknowledged {
        let record = read.records.get(*offset as usize).unwrap();
        assert_eq!(
            &record.value, value,
            "acknowledged append at {offset} lost or overwritten"
        );
    }
    assert_eq!(read.records.last().unwrap().value, b"second");
    let mut values: Vec<&Vec<u8>> = read.records.iter().map(|r| &r.value).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), read.records.len(), "no record twice");
}

#[test]
fn a_clone_after_close_writes_nothing_not_even_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.append("t", 0, &[Record::new(b"a".to_vec())]).unwrap();
    let clone = store.clone();
    store.close().unwrap();
    let second = Store::open(dir.path(), options()).unwrap();
    second.append("t", 0, &[Record::new(b"b".to_vec())]).unwrap();
    // The clone writes nothing into the second store's files.
    assert!(matches!(
        clone.append("t", 0, &[Record::new(b"stale".to_vec())]),
        Err(Error::Closed)
    ));
    assert!(matches!(clone.flush(), Err(Error::Closed)));
    // The last handle of the first store goes: it must not flush, snapshot
    // or trim files the second store now owns.
    drop(clone);
    second.append("t", 0, &[Record::new(b"c".to_vec())]).unwrap();
    second.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let read = store.read("t", 0, 0, ReadOptions::default()).unwrap();
    let values: Vec<&[u8]> = read.records.iter().map(|r| r.value.as_slice()).collect();
    assert_eq!(values, vec![b"a".as_slice(), b"b", b"c"]);
}

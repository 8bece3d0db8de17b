//! A torn last batch whose payload itself contains a well-formed batch (a
//! record whose value is batch bytes, e.g. a segment shipped as data) is still
//! a torn tail: the embedded batch claims durability past the tear, but its
//! offsets do not continue the log, so recovery truncates instead of refusing
//! to open with `Corruption`.
use crate::common;

use millrace::batch::{self, Record};
use millrace::{ReadOptions, Store, StoreOptions, TopicConfig};

#[test]
fn embedded_batch_in_torn_payload_is_not_corruption() {
    let dir = common::scratch_dir();
    let options = StoreOptions {
        background: false,
        ..StoreOptions::default()
    };
    {
        let store = Store::open(dir.path(), options.clone()).unwrap();
        store.create_topic("t", TopicConfig::default()).unwrap();
        for i in 0..10u32 {
            store.append("t", 0, &[Record::new(i.to_le_bytes().to_vec())]).unwrap();
        }
        // A valid batch with low offsets that claims a large durable position.
        let mut embedded = Vec::new();
        batch::encode(&mut embedded, 0, &[Record::new(b"inner".to_vec())], 1, None, 0, 1 << 30);
        let mut value = vec![0u8; 100];
        value.extend_from_slice(&embedded);
        value.extend_from_slice(&[0u8; 100]);
        store.append("t", 0, &[Record::new(value)]).unwrap();
        store.close().unwrap();
    }
    let log = common::log_path(dir.path(), "t", 0, 0);
    let len = std::fs::metadata(&log).unwrap().len();
    // Tear the last batch: its CRC no longer matches, the embedded batch survives.
    let file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    file.set_len(len - 20).unwrap();
    drop(file);
    // A crash, not the clean close above: no close snapshot (which would
    // prove the last batch acknowledged, recovery row 4b).
    common::remove_producer_snapshots(dir.path(), "t", 0);
    let store = Store::open(dir.path(), options).unwrap();
    assert_eq!(
        store.offsets("t", 0).unwrap(),
        (0, 10),
        "the torn batch is cut, the rest kept"
    );
    let read = store.read("t", 0, 0, ReadOptions::default()).unwrap();
    assert_eq!(read.records.len(), 10);
    assert_eq!(store.metrics().torn_tails_truncated, 1);
}
